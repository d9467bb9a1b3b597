#!/usr/bin/env python3
"""Per-request instruction counts from two callgrind runs (used by instructions.sh).

    callgrind_diff.py SMALL.txt LARGE.txt EXTRA_REQUESTS TOP

SMALL.txt and LARGE.txt are `callgrind_annotate` outputs (self cost) of the same server
answering N and N + EXTRA_REQUESTS requests. Start-up costs the same in both, so a
difference divided by EXTRA_REQUESTS is a cost per request. Prints one line: the whole
process's instructions per request, a tab, then the TOP functions with the highest self
cost per request as "`name` count; …" (a function inlined from several source files is
one entry).
"""

import re
import sys

TOTAL_LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+PROGRAM TOTALS")
# "  12,345 ( 1.23%)  file.rs:crate::f [/path/to/object]"; the object is optional.
FUNCTION_LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+\S*?:(.+?)(?: \[[^]]*\])?$")


def self_costs(path):
    """(program total, {function name: self cost summed over its source files})."""
    total, costs = None, {}
    with open(path) as text:
        for line in text:
            if total is None:
                match = TOTAL_LINE.match(line)
                if match:
                    total = int(match.group(1).replace(",", ""))
                continue
            match = FUNCTION_LINE.match(line)
            if match:
                name = match.group(2)
                costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
            elif line.startswith("-- Auto-annotated source"):
                break
    if total is None:
        sys.exit(f"no PROGRAM TOTALS in {path}")
    return total, costs


def short(name):
    """`availability_server::runtime::serve::<impl …Worker<H,S>>::drive` -> `runtime::serve::Worker::drive`."""
    name = re.sub(r"<impl [^>]*?(Worker)<H,S>>", r"\1", name)
    name = re.sub(r"<impl ([\w:]+::)?(\w+)>", r"\2", name)
    return name.replace("availability_server::", "")


def main():
    (small_total, small), (large_total, large) = self_costs(sys.argv[1]), self_costs(sys.argv[2])
    extra, top = int(sys.argv[3]), int(sys.argv[4])
    per_request = {name: (cost - small.get(name, 0)) / extra for name, cost in large.items()}
    heaviest = sorted(((v, short(name)) for name, v in per_request.items() if v >= 1), reverse=True)
    listed = "; ".join(f"`{name}` {v:.0f}" for v, name in heaviest[:top])
    print(f"{(large_total - small_total) / extra:.0f}\t{listed}")


if __name__ == "__main__":
    main()

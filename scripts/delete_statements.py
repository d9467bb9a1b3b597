#!/usr/bin/env python3
"""Statement deletion: the mutation cargo-mutants does not make.

cargo-mutants replaces operators, conditions and whole function bodies, but never
deletes one statement — a `send_close_notify()`, a counter's `+= 1`, a
`c.read_pending = true` — so a side effect no test observes survives it unseen.
This script deletes each one-line statement of the given files in turn, builds the
given test targets, and runs them: a deletion that still compiles and passes every
test is a "missed" statement, either without observable effect (say why in the
README) or a behaviour no test pins (write the test).

Settings (environment):
  FILES="src/runtime/linger.rs"   the files to mutate (required)
  TESTS="sim linger"              integration test targets run with the lib's unit
                                  tests (required; as for scripts/mutants.sh)
  TIMEOUT_S=120                   per mutant's test run; a hang counts as caught
  ONLY_LINES=                     only these line numbers (e.g. "44 350"), to recheck
  OUT=target/delete-statements    one report per file: caught, missed, unviable

Bounded: each mutant's build and test run have their own timeout; the file is
restored after each mutant (and on Ctrl-C or SIGTERM). Not part of `make test`:
30-80 s per statement on 2 cores, depending on TESTS.
"""

import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Lines that start a statement a deletion can keep compiling: calls, assignments,
# compound assignments. Declarations, control flow and expressions whose value is
# used are left alone (deleting them rarely compiles, and cargo-mutants covers
# their operators).
SKIP_START = re.compile(
    r"^(let|return|use|pub|fn|const|static|type|mod|impl|struct|enum|match|if|else|"
    r"while|for|loop|break|continue|unsafe|debug_assert|assert|#|//|\}|\)|\]|\.|&&|\|\|)"
)


def candidates(lines):
    """Line numbers (1-based) of one-line statements outside the test module."""
    out = []
    prev = ""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("#[cfg(test)]"):
            break
        starts_statement = prev.endswith((";", "{", "}")) or prev == ""
        code = text.split("//")[0].rstrip()
        if (
            starts_statement
            and code.endswith(";")
            and (code.startswith("let _ =") or not SKIP_START.match(code))
            and code.count("(") == code.count(")")
            and code.count("{") == code.count("}")
            and code.count("[") == code.count("]")
        ):
            out.append(number)
        if text and not text.startswith("//"):
            prev = code
    return out


def run(cmd, timeout_s):
    """The command's exit code, or None if it ran past `timeout_s` (then it and the
    test binaries it started, in a session of their own, are killed)."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a hung test binary, or a leftover
        except ProcessLookupError:
            pass
        proc.wait()


def main():
    # A SIGTERM unwinds like Ctrl-C, so `finally` restores the file being mutated.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    files = os.environ.get("FILES", "").split()
    tests = os.environ.get("TESTS", "").split()
    if not files or not tests:
        sys.exit("FILES and TESTS are required (see the comment at the top)")
    timeout_s = int(os.environ.get("TIMEOUT_S", "120"))
    only = {int(n) for n in os.environ.get("ONLY_LINES", "").split()}
    out_dir = os.path.join(ROOT, os.environ.get("OUT", "target/delete-statements"))
    os.makedirs(out_dir, exist_ok=True)
    targets = ["--lib"] + [arg for t in tests for arg in ("--test", t)]
    build = ["cargo", "test", "-q", "--no-run"] + targets
    test = ["cargo", "test", "-q"] + targets

    if run(build, 1200) != 0:
        sys.exit("the unmutated tree does not build")
    if run(test, 1200) != 0:
        sys.exit("the unmutated tests fail: fix them first")

    status = 0
    for path in files:
        full = os.path.join(ROOT, path)
        with open(full) as f:
            original = f.read()
        lines = original.split("\n")
        numbers = [n for n in candidates(lines) if not only or n in only]
        report = os.path.join(out_dir, path.replace("/", "_") + ".txt")
        print(f"== {path}: {len(numbers)} statements against {' '.join(targets)}", flush=True)
        results = []
        try:
            for number in numbers:
                mutated = list(lines)
                mutated[number - 1] = ""
                with open(full, "w") as f:
                    f.write("\n".join(mutated))
                started = time.time()
                if run(build, 1200) != 0:
                    outcome = "unviable"
                else:
                    code = run(test, timeout_s)
                    outcome = "caught" if code != 0 else "missed"
                    if code is None:
                        outcome = "timeout"
                line = f"{outcome:8} {path}:{number}: {lines[number - 1].strip()}"
                print(f"{line}  ({time.time() - started:.0f} s)", flush=True)
                results.append(line)
        finally:
            with open(full, "w") as f:
                f.write(original)
        with open(report, "w") as f:
            f.write("\n".join(results) + "\n")
        missed = [r for r in results if r.startswith("missed")]
        counts = {k: sum(r.startswith(k) for r in results)
                  for k in ("caught", "timeout", "unviable", "missed")}
        print(f"   {counts}", flush=True)
        if missed:
            status = 2
    sys.exit(status)


if __name__ == "__main__":
    main()

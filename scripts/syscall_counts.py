#!/usr/bin/env python3
"""Syscalls per request, read from `strace -c` or `perf stat -x,` output.

usage: syscall_counts.py strace|perf FILE REQUESTS

Prints one Markdown row tail: the groups issue 3 names, then what a connection's
start and end cost (which a new connection per request pays every time):
"total | reads | sends | epoll_wait | setsockopt | accept | epoll_ctl | shutdown |
close | other | failed | EAGAIN reads" (per request, except the last two: counts for
the whole run, rare enough to round to 0.00 per request). strace -c does not tell the errno, so its last column is "n/a";
perf counts failed calls as raw_syscalls:sys_exit filtered on "ret < 0", and EAGAIN
reads as the read syscalls' sys_exit tracepoints filtered on "ret == -11" (see
scripts/syscalls.sh).
"""

import sys

READS = {"read", "readv", "recvfrom", "recvmsg"}
SENDS = {"write", "writev", "sendto", "sendmsg", "sendfile", "sendfile64", "splice"}
EPOLL = {"epoll_wait", "epoll_pwait", "epoll_pwait2"}
ACCEPT = {"accept", "accept4"}


def from_strace(text):
    """(calls by name, failed calls) from strace -c's table."""
    calls, failed = {}, 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[0][0].isdigit() or fields[-1] == "total":
            continue
        # "% time, seconds, usecs/call, calls, [errors,] syscall": errors may be blank.
        name, numbers = fields[-1], fields[:-1]
        calls[name] = calls.get(name, 0) + int(numbers[3])
        if len(numbers) >= 5:
            failed += int(numbers[4])
    return calls, failed, None


def from_perf(text):
    """(calls by name, failed, EAGAIN reads) from perf stat -x, CSV of tracepoints."""
    calls, failed, eagain_reads, total = {}, None, 0, None
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3 or not fields[0].strip().isdigit():
            continue
        count, event = int(fields[0]), fields[2]
        if event == "raw_syscalls:sys_enter":
            total = count
        elif event == "raw_syscalls:sys_exit":
            failed = count
        elif event.startswith("syscalls:sys_enter_"):
            calls[event.removeprefix("syscalls:sys_enter_")] = count
        elif event.startswith("syscalls:sys_exit_"):
            eagain_reads += count
    if total is None or failed is None:
        sys.exit(f"syscall_counts.py: perf output lacks raw_syscalls counts:\n{text}")
    # Everything not counted by name is "other".
    calls["(unnamed)"] = total - sum(calls.values())
    return calls, failed, eagain_reads


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("strace", "perf"):
        sys.exit(__doc__)
    with open(sys.argv[2], encoding="utf-8") as file:
        text = file.read()
    requests = max(int(sys.argv[3]), 1)
    calls, failed, eagain = (from_strace if sys.argv[1] == "strace" else from_perf)(text)

    def group(names):
        return sum(count for name, count in calls.items() if name in names)

    total = sum(calls.values())
    groups = [READS, SENDS, EPOLL, {"setsockopt"}, ACCEPT, {"epoll_ctl"}, {"shutdown"}, {"close"}]
    cells = [total] + [group(names) for names in groups]
    cells.append(total - group(set().union(*groups)))
    row = [f"{count / requests:.2f}" for count in cells]
    row.append(str(failed))
    row.append("n/a" if eagain is None else str(eagain))
    print(" | ".join(row))


if __name__ == "__main__":
    main()

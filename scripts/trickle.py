#!/usr/bin/env python3
"""Server CPU spent on a request that arrives one byte per TCP segment.

A client may legally send its request a byte at a time. The server should then spend
CPU in proportion to the bytes (one wake-up and one read each), not to the square of
the request's size, which is what re-parsing everything buffered on every read costs.

Starts the release server (one worker, plain HTTP on 127.0.0.1, rate limits off), and
for each case sends one request a byte at a time, one byte every GAP_US µs (busy-wait,
TCP_NODELAY), then reads the answer. It prints the bytes sent, the wall time and the
server's CPU time (utime + stime from /proc/PID/stat) for each case:

    head     GET /health with an 8,000-byte header field
    length   PATCH with a 16,000-byte body framed by Content-Length
    chunked  PATCH with 510 chunks of one byte, each with a 40-byte extension:
             ~24,000 bytes on the wire, under the 25,600-byte read buffer

Both PATCHes carry no key: framing happens before the key check, so each is answered
401 once complete. Everything is bounded: a 10 s socket timeout, and the server's own
10 s body timeout. The server is stopped by PID.

    scripts/trickle.py [BIN]        # BIN: target/release/availability-server
    GAP_US=200 CASES="head length chunked" scripts/trickle.py
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GAP_US = int(os.environ.get("GAP_US", "200"))
CASES = os.environ.get("CASES", "head length chunked").split()
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def request(case):
    if case == "head":
        return b"GET /health HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n"
    if case == "length":
        body = b" " * 16000
        return (b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body
    if case == "chunked":
        chunk = b"1;" + b"e" * 40 + b"\r\n \r\n"
        body = chunk * (24000 // len(chunk)) + b"0\r\n\r\n"
        return (b"PATCH /availability HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n") + body
    sys.exit(f"unknown case {case}")


def trickle(port, pid, case):
    data = request(case)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(10)
    started_cpu, started = cpu_s(pid), time.perf_counter()
    gap_s = GAP_US / 1e6
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        deadline = time.perf_counter() + gap_s
        while time.perf_counter() < deadline:
            pass
    answer = sock.recv(4096)
    wall_s = time.perf_counter() - started
    time.sleep(0.1)  # the server's last wake-up
    used_s = cpu_s(pid) - started_cpu
    sock.close()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"| {case} | {len(data):,} | {wall_s:.2f} | {used_s:.2f} | {status} |")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "target/release/availability-server")
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="trickle-")
    server = subprocess.Popen(
        [binary, "--data-dir", data_dir, "--workers", "1", "--no-tls",
         "--http-listen", f"127.0.0.1:{port}", "--rate-limit-burst", "0",
         "--bcrypt-cost", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, API_KEY="trickle-bench-key-0123456789"))
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        print(f"{os.path.basename(binary)}, one byte every {GAP_US} µs:\n")
        print("| case | bytes | wall s | server CPU s | answer |")
        print("|---|---:|---:|---:|---|")
        for case in CASES:
            trickle(port, server.pid, case)
    finally:
        server.terminate()
        server.wait(timeout=15)
        subprocess.run(["rm", "-rf", data_dir], check=False)


if __name__ == "__main__":
    main()

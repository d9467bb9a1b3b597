#!/usr/bin/env python3
"""Slowloris against one worker: how long a newcomer waits when every I/O buffer is held.

Starts the release server (one worker, plain HTTP on 127.0.0.1, --max-connections 1100,
so the worker has its full 1,024 I/O buffers), opens HOLDERS connections that each send
a partial request head and then nothing, waits 0.3 s, and times a newcomer's whole
GET /health. It then reports how many holders were cut off with a 408 and the server's
availability_buffer_reclaims_total. The server is stopped by PID; everything is bounded
(a 15 s socket timeout, a 10 s head timeout on the server).

    scripts/slowloris.py [BIN]        # BIN: target/release/availability-server

Expected with buffer reclaiming: the newcomer is answered about 1 s after the holders'
heads began (the holder stalled longest is cut off once it has stalled for 1 s).
Without it, the newcomer waits for the 10 s head timeout.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HOLDERS = 1024
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_all(sock):
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "target/release/availability-server")
    # Both ends of 1,024+ connections live in this process and the server.
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    port, admin = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="slowloris-")
    server = subprocess.Popen(
        [binary, "--data-dir", data, "--workers", "1", "--no-tls",
         "--http-listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
         "--max-connections", "1100", "--rate-limit-burst", "0", "--bcrypt-cost", "4"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, API_KEY="slowloris-bench-key-0123456789"))
    held = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        started = time.monotonic()
        for _ in range(HOLDERS):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        time.sleep(0.3)
        asked = time.monotonic()
        newcomer = socket.create_connection(("127.0.0.1", port), timeout=15)
        newcomer.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = newcomer.recv(4096)
        answered = time.monotonic()
        cut_off = 0
        for s in held:
            s.setblocking(False)
            try:
                cut_off += s.recv(100).startswith(b"HTTP/1.1 408")
            except BlockingIOError:
                pass
        metrics = socket.create_connection(("127.0.0.1", admin), timeout=5)
        metrics.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reclaims = [line for line in read_all(metrics).decode().splitlines()
                    if line.startswith("availability_buffer_reclaims_total{")]
        print(f"{HOLDERS} connections holding partial heads; newcomer: "
              f"{answer.split(b' ', 2)[1].decode() if answer else 'no answer'} after "
              f"{answered - asked:.2f} s ({answered - started:.2f} s after the first held head)")
        print(f"holders cut off with a 408 so far: {cut_off}; {' '.join(reclaims) or 'no reclaim metric'}")
    finally:
        for s in held:
            s.close()
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()

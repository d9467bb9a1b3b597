#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start to ready: how long the release server takes from exec until it prints "ready"
# (every worker polling, the snapshot of every zone built) and until a first GET
# /health on its plain-HTTP listener answers 200 (issue 3: "start to ready < 1 s").
#
# Two cases, $RUNS starts each, with the default settings of `make run` except that
# every listener is on 127.0.0.1:0 (so runs cannot collide with anything):
#   first    a new data directory: creates the data file, generates the API key and
#            hashes it with bcrypt at the default cost (12), generates the self-signed
#            ECDSA certificate — what the very first `make run` does;
#   restart  the same data directory again: loads the file, key hash and certificate.
# Prints the median and the maximum of each, in milliseconds.
#
# Settings (environment): RUNS=10 SKIP_BUILD=1 KEEP=1
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

RUNS="${RUNS:-10}"
need python3:python3
build_release
init_workdir
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$SERVER_BIN" "$WORKDIR" "$RUNS" <<'PY'
import os, socket, statistics, subprocess, sys, time

server_bin, workdir, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def get_health(addr):
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200 ")

def one_start(data_dir):
    args = [server_bin, "--data-dir", data_dir, "--listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_KEY", "AVAILABILITY_"))}
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    http_addr, ready_s = None, None
    try:
        for line in p.stdout:
            if line.startswith("http listening on "):
                http_addr = line.split()[-1]
            if line.rstrip().endswith("; ready"):
                ready_s = time.monotonic() - t0
                break
        if ready_s is None or http_addr is None:
            sys.exit(f"the server exited before 'ready' (exit {p.wait()})")
        if not get_health(http_addr):
            sys.exit("GET /health did not answer 200")
        served_s = time.monotonic() - t0
    finally:
        p.terminate()
        p.wait(timeout=15)
    return ready_s * 1000, served_s * 1000

results = {"first": [], "restart": []}
for i in range(runs):
    data_dir = os.path.join(workdir, f"data-{i}")
    results["first"].append(one_start(data_dir))
    results["restart"].append(one_start(data_dir))

print(f"\nStart to ready, {runs} starts per case (ms; median / max):\n")
print("| case | to \"ready\" | to first 200 |")
print("|---|---:|---:|")
for case, rows in results.items():
    ready = [r for r, _ in rows]
    served = [s for _, s in rows]
    print(f"| {case} | {statistics.median(ready):.0f} / {max(ready):.0f} "
          f"| {statistics.median(served):.0f} / {max(served):.0f} |")
PY
machine_line

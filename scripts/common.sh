# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file
# Shared helpers for the benchmark scripts (compare.sh, idle.sh, loadtest.sh).
# Source it; it defines functions and a few variables and starts nothing by itself.
#
# Every process a script starts is recorded with `track_pid` and killed by PID in
# `cleanup` (installed as the EXIT trap by `init_workdir`); nothing is killed by name.
# Everything listens on 127.0.0.1 only.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/availability-server}"
LOADGEN_BIN="${LOADGEN_BIN:-$ROOT/target/release/loadgen}"
CLK_TCK="$(getconf CLK_TCK)"
TRACKED_PIDS=()
WORKDIR=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Creates a private temporary directory ($WORKDIR) and the EXIT trap that stops
# every tracked process and removes the directory (kept when KEEP=1).
init_workdir() {
    WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/availability-bench.XXXXXX")"
    # nginx workers run as an unprivileged user and must read the served files.
    chmod 755 "$WORKDIR"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

track_pid() { TRACKED_PIDS+=("$1"); }

cleanup() {
    local pid
    for pid in "${TRACKED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${TRACKED_PIDS[@]}"; do
        # Bounded wait, then force.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$WORKDIR" && -d "$WORKDIR" ]]; then
        if [[ "${KEEP:-0}" == 1 ]]; then
            log "kept $WORKDIR"
        else
            rm -rf "$WORKDIR"
        fi
    fi
}

# Installs the given Debian packages when their command is missing: `need cmd:pkg ...`.
need() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        if ! { apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
            die "could not install ${missing[*]}"
        fi
    fi
}

# A TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Release build of the server (and loadgen when it builds); SKIP_BUILD=1 skips it.
build_release() {
    [[ "${SKIP_BUILD:-0}" == 1 ]] && return 0
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --workspace -q) \
        || (cd "$ROOT" && cargo build --release -p availability-server -q) \
        || die "release build failed"
}

# utime+stime of a process, all threads included, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name, which may hold spaces).
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # word splitting is the point
    set -- $stat
    echo $((${12} + ${13}))
}

# Sum of cpu_ticks over several PIDs.
cpu_ticks_sum() {
    local total=0 pid
    for pid in "$@"; do total=$((total + $(cpu_ticks "$pid"))); done
    echo "$total"
}

# Busy (non-idle, non-iowait) ticks of one CPU from /proc/stat, all processes included.
cpu_busy_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# Waits until `curl URL` answers 200 or the deadline passes.
wait_http_ok() {
    local url="$1" deadline=$((SECONDS + ${2:-10}))
    until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
        ((SECONDS < deadline)) || die "no 200 from $url"
        sleep 0.05
    done
}

# Starts the release server on 127.0.0.1 with one worker, TLS, admin and the rate
# limiter off, pinned with `taskset -c $1`; extra flags follow. Sets SERVER_PID and
# SERVER_URL (http://127.0.0.1:PORT). The port is chosen by the kernel and read back
# from the server's "http listening on ADDR" line.
start_server() {
    local cpus="$1"
    shift
    [[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN is missing: run 'make release' first"
    local data="$WORKDIR/server-data" out="$WORKDIR/server.out"
    mkdir -p "$data"
    : >"$out" # exists before the background start opens it, for the polling below
    # A fixed key and the cheapest bcrypt cost: start-up is not what is measured here.
    API_KEY="bench-key-not-secret-0123456789" AVAILABILITY_RATE_LIMIT_BURST=0 \
        taskset -c "$cpus" "$SERVER_BIN" --data-dir "$data" --workers 1 --no-tls \
        --http-listen 127.0.0.1:0 --admin-listen off --rate-limit-burst 0 \
        --rate-limit-per-s 0 --bcrypt-cost 4 --home-tz America/New_York "$@" \
        >"$out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    local addr="" deadline=$((SECONDS + 15))
    while [[ -z "$addr" ]]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$out")"
        ((SECONDS < deadline)) || die "server did not report its address: $(cat "$out")"
        addr="$(sed -n 's/^http listening on //p' "$out")"
        [[ -n "$addr" ]] || sleep 0.05
    done
    SERVER_URL="http://$addr"
    wait_http_ok "$SERVER_URL/health"
}

# Starts nginx serving directory $2 on 127.0.0.1:$3, pinned with `taskset -c $1`:
# one worker, sendfile, open_file_cache, no access log, reuseport, huge keepalive_requests.
# Its own prefix and config under $WORKDIR; the system nginx config is never read.
# Requests for /availability and /availability/slot (any query) get week.json and
# slot.json, so both servers see the very same request bytes.
# Sets NGINX_PID (master, a child of this shell) and NGINX_PIDS (master and worker).
start_nginx() {
    local cpus="$1" www="$2" port="$3" prefix="$WORKDIR/nginx"
    mkdir -p "$prefix/logs" "$prefix/tmp"
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;
http {
    access_log off;
    sendfile on;
    # tcp_nopush would cork/uncork around every response: two setsockopt calls per
    # request for answers that fit one segment anyway (measured: 5 syscalls/request).
    tcp_nopush off;
    tcp_nodelay on;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server_tokens off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        default_type application/json;
        location = /availability { alias $www/week.json; }
        location = /availability/slot { alias $www/slot.json; }
        location = /health { alias $www/health.json; }
    }
}
EOF
    taskset -c "$cpus" nginx -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
    NGINX_PID=$!
    track_pid "$NGINX_PID"
    wait_http_ok "http://127.0.0.1:$port/health"
    local worker
    worker="$(pgrep -P "$NGINX_PID" | head -n1)"
    [[ -n "$worker" ]] || die "nginx worker not found"
    NGINX_PIDS=("$NGINX_PID" "$worker")
}

# Which client to use: $CLIENT if set, else loadgen when built, else wrk.
pick_client() {
    if [[ -n "${CLIENT:-}" ]]; then
        echo "$CLIENT"
    elif [[ -x "$LOADGEN_BIN" ]]; then
        echo loadgen
    else
        echo wrk
    fi
}

# Whether CLIENT ($1) can run MODE ($2): keepalive, close or pipeline.
client_supports() {
    [[ "$1" == loadgen || "$2" != close ]]
}

# Runs one bounded load test and prints one line "rps p50_us p99_us requests errors".
#   run_client CLIENT MODE CPUS CONNECTIONS DURATION_S URL
# MODE is keepalive, close (new connection per request) or pipeline (depth $PIPELINE,
# default 16). The client runs one thread, pinned with `taskset -c CPUS`. The raw
# output is kept in $WORKDIR/client-*.out (KEEP=1 keeps it).
run_client() {
    local client="$1" mode="$2" cpus="$3" conns="$4" secs="$5" url="$6"
    local depth="${PIPELINE:-16}" out
    out="$(mktemp "$WORKDIR/client-$client-$mode-XXXX.out")"
    case "$client" in
    wrk)
        local args=(-t1 -c"$conns" -d"${secs}s" --latency --timeout 5s) script_args=()
        case "$mode" in
        keepalive) ;;
        pipeline)
            args+=(-s "$(wrk_pipeline_script)")
            script_args=(-- "$depth")
            ;;
        *) die "wrk cannot run mode $mode (it has no new-connection-per-request mode)" ;;
        esac
        taskset -c "$cpus" wrk "${args[@]}" "$url" "${script_args[@]}" >"$out" 2>&1 \
            || die "wrk failed: $(cat "$out")"
        parse_wrk "$out"
        ;;
    loadgen)
        [[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN is missing (cargo build --release -p loadgen)"
        local args=(-t1 -c"$conns" -d"${secs}s" --json -q --cpus "$cpus")
        case "$mode" in
        keepalive) ;;
        close) args+=(--close) ;;
        pipeline) args+=(--pipeline "$depth") ;;
        *) die "unknown mode $mode" ;;
        esac
        taskset -c "$cpus" "$LOADGEN_BIN" "${args[@]}" "$url" >"$out" 2>"$out.err" \
            || die "loadgen failed: $(cat "$out" "$out.err")"
        parse_loadgen "$out"
        ;;
    *) die "CLIENT must be wrk or loadgen, not $client" ;;
    esac
}

# wrk has no pipelining flag; this script sends DEPTH copies of the request at once.
wrk_pipeline_script() {
    local script="$WORKDIR/pipeline.lua"
    [[ -f "$script" ]] || cat >"$script" <<'EOF'
-- Sends `depth` requests back to back per connection (wrk counts each response).
init = function(args)
    local depth = tonumber(args[1]) or 16
    local batch = {}
    for i = 1, depth do batch[i] = wrk.format() end
    request_batch = table.concat(batch)
end
request = function() return request_batch end
EOF
    echo "$script"
}

# "rps p50_us p99_us requests errors" from wrk --latency output.
parse_wrk() {
    python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def us(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
def pct(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
    return us(*m.groups()) if m else float("nan")
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
errors = 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m: errors += int(m.group(1))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m: errors += sum(int(x) for x in m.groups())
p50, p99 = pct(50), pct(99)
# With a pipelining script wrk sometimes reports a 0 µs p99: show such a value as
# unknown rather than as a number.
def fmt(v): return "n/a" if v != v or v <= 0 else f"{v:.0f}"
print(f"{rps:.0f} {fmt(p50)} {fmt(p99 if p99 >= p50 else float('nan'))} {requests} {errors}")
EOF
}

# The same line from loadgen --json.
parse_loadgen() {
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r.get("latency_us", {})
errors = sum(v for k, v in r.get("errors", {}).items() if isinstance(v, int))
def num(v): return float("nan") if v is None else v
print(f"{r['rps']:.0f} {num(lat.get('p50')):.0f} {num(lat.get('p99')):.0f} {r['requests']} {errors}")
EOF
}

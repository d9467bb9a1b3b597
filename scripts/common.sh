# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file
# Shared helpers for the benchmark scripts (compare.sh, idle.sh, loadtest.sh, openloop.sh,
# tls.sh).
# Source it; it defines functions and a few variables and starts nothing by itself.
#
# Every process a script starts is recorded with `track_pid` and killed by PID in
# `cleanup` (installed as the EXIT trap by `init_workdir`); nothing is killed by name.
# Everything listens on 127.0.0.1 only.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/availability-server}"
LOADGEN_BIN="${LOADGEN_BIN:-$ROOT/target/release/loadgen}"
# The floor: loadgen's example `fixed_server`, a bare mio loop (see start_floor).
FLOOR_BIN="${FLOOR_BIN:-$ROOT/target/release/examples/fixed_server}"
CLK_TCK="$(getconf CLK_TCK)"
TRACKED_PIDS=()
WORKDIR=""
OURS_FLAGS=()
declare -A PIDS=() # server name -> "PID…" (start_ours_and_nginx fills ours and nginx)

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

# Busy ticks of one CPU from /proc/stat, all processes included: user, nice, system,
# irq, softirq and steal (time the CPU was not idle for us).
cpu_busy_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# Ticks of work this machine did on CPU $1 (user, nice, system, irq, softirq; no steal);
# with "" for $1, summed over all CPUs.
cpu_work_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# Ticks the hypervisor gave to someone else while CPU $1 wanted to run (steal, /proc/stat);
# with "" for $1, summed over all CPUs.
cpu_steal_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $9 }' /proc/stat
}

rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# Waits until `curl URL` answers 200 or the deadline passes.
#   wait_http_ok URL [SECONDS] [PID [LOG]]: with PID, stops at once (showing the end of
#   LOG) if that process exits before answering.
wait_http_ok() {
    local url="$1" deadline=$((SECONDS + ${2:-10})) pid="${3:-}" log="${4:-}"
    until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            [[ -n "$log" && -s "$log" ]] && tail -n 20 "$log" >&2
            die "the process for $url (pid $pid) exited before answering"
        fi
        ((SECONDS < deadline)) || die "no 200 from $url"
        sleep 0.05
    done
}

# Starts the release server on 127.0.0.1 with one worker ($SERVER_WORKERS), TLS, admin and the rate
# limiter off, pinned with `taskset -c $1`; extra flags follow. Sets SERVER_PID and
# SERVER_URL (http://127.0.0.1:PORT). The port is chosen by the kernel and read back
# from the server's "http listening on ADDR" line.
# When the extra flags include --tls-cert (and --tls-key), TLS stays on instead: the
# HTTPS listener is 127.0.0.1:0 too, read back from "https listening on ADDR" into
# SERVER_HTTPS_URL (https://127.0.0.1:PORT); the plain listener is still there.
start_server() {
    local cpus="$1"
    shift
    [[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN is missing: run 'make release' first"
    # SERVER_WORKDIR: where this server keeps its data and output ($WORKDIR by default;
    # a script running two servers gives each its own).
    local data="${SERVER_WORKDIR:-$WORKDIR}/server-data" out="${SERVER_WORKDIR:-$WORKDIR}/server.out"
    mkdir -p "${SERVER_WORKDIR:-$WORKDIR}"
    mkdir -p "$data"
    : >"$out" # exists before the background start opens it, for the polling below
    local tls_flags=(--no-tls) arg
    for arg in "$@"; do
        [[ "$arg" == --tls-cert || "$arg" == --tls-cert=* ]] && tls_flags=(--listen 127.0.0.1:0)
    done
    # A fixed key and the cheapest bcrypt cost: start-up is not what is measured here.
    API_KEY="bench-key-not-secret-0123456789" AVAILABILITY_RATE_LIMIT_BURST=0 \
        taskset -c "$cpus" "$SERVER_BIN" --data-dir "$data" --workers "${SERVER_WORKERS:-1}" "${tls_flags[@]}" \
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
    SERVER_HTTPS_URL=""
    if [[ "${tls_flags[0]}" != --no-tls ]]; then
        # "https listening on" is printed before the http line, so it is there by now.
        addr="$(sed -n 's/^https listening on //p' "$out")"
        [[ -n "$addr" ]] || die "server did not report its https address: $(cat "$out")"
        SERVER_HTTPS_URL="https://$addr"
    fi
    wait_http_ok "$SERVER_URL/health"
}

# Starts the floor (FLOOR_BIN: a bare mio loop answering every request head with fixed
# bytes) pinned with `taskset -c $1`, its whole response ($2 bytes: head + body) as long
# as ours, so that it pays the same kernel path. Sets FLOOR_PORT and FLOOR_PID.
#   start_floor CPUS TOTAL_BYTES [LOG_NAME]
start_floor() {
    local cpus="$1" total="$2" name="${3:-floor}" body
    [[ -x "$FLOOR_BIN" ]] || die "$FLOOR_BIN is missing (cargo build --release -p loadgen --example fixed_server)"
    body="$(python3 -c "
for body in range($total, 0, -1):
    head = f'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\n\r\n'
    if len(head) + body <= $total:
        print(body); break")"
    FLOOR_PORT="$(free_port)"
    taskset -c "$cpus" "$FLOOR_BIN" "127.0.0.1:$FLOOR_PORT" "$body" 2>"$WORKDIR/$name.err" &
    FLOOR_PID=$!
    track_pid "$FLOOR_PID"
    wait_http_ok "http://127.0.0.1:$FLOOR_PORT/"
}

# Starts nginx serving directory $2 on 127.0.0.1:$3, pinned with `taskset -c $1`:
# one worker, sendfile, open_file_cache, no access log, reuseport, huge keepalive_requests.
# Its own prefix and config under $WORKDIR; the system nginx config is never read.
# Requests for /availability and /availability/slot (any query) get week.json and
# slot.json, so both servers see the very same request bytes.
# Sets NGINX_PID (master, a child of this shell) and NGINX_PIDS (master and worker).
#   start_nginx CPUS WWW PORT [TLS_PORT CERT KEY [SESSION_DIRECTIVES]]
# With TLS_PORT the same server also listens with ssl on 127.0.0.1:TLS_PORT, with CERT
# and KEY, TLS 1.2 and 1.3, the suites and groups rustls' ring provider offers, client
# order, and SESSION_DIRECTIVES (default: "ssl_session_cache shared:SSL:1m;
# ssl_session_tickets off;", a stateful cache like availability-server's). GET /tlsinfo
# on that server answers 204 and logs "$ssl_protocol $ssl_cipher $ssl_curve" of the
# connection to $NGINX_TLSINFO_LOG.
start_nginx() {
    local cpus="$1" www="$2" port="$3" prefix="$WORKDIR/nginx"
    local tls_port="${4:-}" tls_http="" tls_server=""
    mkdir -p "$prefix/logs" "$prefix/tmp"
    NGINX_TLSINFO_LOG="$prefix/logs/tlsinfo.log"
    if [[ -n "$tls_port" ]]; then
        local cert="${5:?start_nginx: TLS_PORT needs CERT}" key="${6:?start_nginx: TLS_PORT needs KEY}"
        local session="${7:-ssl_session_cache shared:SSL:1m; ssl_session_tickets off;}"
        tls_http="log_format tlsinfo '\$ssl_protocol \$ssl_cipher \$ssl_curve';"
        tls_server="listen 127.0.0.1:$tls_port ssl reuseport backlog=4096;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
        $session
        location = /tlsinfo { access_log $NGINX_TLSINFO_LOG tlsinfo; return 204; }"
    fi
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;
http {
    access_log off;
    sendfile ${NGINX_SENDFILE:-on};
    # Whichever of nginx's own choices is cheaper where it runs, so that the comparison
    # is against its best: tcp_nopush corks around each response (two setsockopt calls,
    # one segment per week answer instead of two). On the Intel VM of BENCHMARKS.md it
    # saves nginx about 1 µs per request (slot and week); on the earlier AMD VM "off" was
    # cheaper. But "on" stalls nginx on pipelined requests (21k req/s, 27 ms p50 here),
    # so pipelined rows are fair only with NGINX_TCP_NOPUSH=off. NGINX_SENDFILE=off
    # measures nginx without sendfile.
    tcp_nopush ${NGINX_TCP_NOPUSH:-on};
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
    $tls_http
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        $tls_server
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
    wait_http_ok "http://127.0.0.1:$port/health" 10 "$NGINX_PID" "$prefix/logs/error.log"
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

# Runs one bounded load test and prints one line
# "rps p50_us p99_us requests errors client_cpu_percent" (the client's own user+sys time
# as % of its wall time, for flag_client_core).
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
        local TIMEFORMAT='%3R %3U %3S'
        { time taskset -c "$cpus" wrk "${args[@]}" "$url" "${script_args[@]}" >"$out" 2>&1; } \
            2>"$out.time" || die "wrk failed: $(cat "$out")"
        echo "$(parse_wrk "$out") $(client_cpu_percent "$out.time")"
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
        local TIMEFORMAT='%3R %3U %3S'
        { time taskset -c "$cpus" "$LOADGEN_BIN" "${args[@]}" "$url" >"$out" 2>"$out.err"; } \
            2>"$out.time" || die "loadgen failed: $(cat "$out" "$out.err")"
        echo "$(parse_loadgen "$out") $(client_cpu_percent "$out.time")"
        ;;
    *) die "CLIENT must be wrk or loadgen, not $client" ;;
    esac
}

# "wall user sys" seconds (bash `time`, TIMEFORMAT='%3R %3U %3S') → user+sys as % of wall.
client_cpu_percent() {
    awk '{ printf "%d", ($1 > 0 ? ($2 + $3) * 100 / $1 : 0) }' "$1"
}

# After measure_end: also flags the run (MEASURED_FLAG " ⚠") when the client's core was
# busier than the client by > 15 points: something else ran there, so the client ran
# slower, and fewer requests per wake-up make each cost the server more.
#   flag_client_core CLIENT_CPU_PERCENT
flag_client_core() {
    if ((MEASURED_BUSY_CLIENT - $1 > 15)); then
        MEASURED_FLAG=" ⚠"
    fi
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

# --- shared by openloop.sh and tls.sh (and free for any script) ----------------------

# The URLs every comparison uses: sets ZONE and the associative array PATHS (slot: one
# slot, week: the full week, both converted to $ZONE).
define_bench_paths() {
    ZONE="Asia/Kolkata"
    declare -gA PATHS=(
        [slot]="/availability/slot?tz=$ZONE&day=2&time=14:00"
        [week]="/availability?tz=$ZONE"
    )
}

# Saves our server's answers as the static files start_nginx serves:
#   save_answers DIR BASE_URL SLOT_PATH WEEK_PATH
# writes DIR/slot.json, DIR/week.json and DIR/health.json, readable by nginx's workers.
save_answers() {
    local www="$1" base="$2" slot="$3" week="$4"
    mkdir -p "$www"
    curl -fsS --max-time 10 "$base$week" -o "$www/week.json"
    curl -fsS --max-time 10 "$base$slot" -o "$www/slot.json"
    printf '{"status":"ok"}' >"$www/health.json"
    chmod -R a+rX "$www"
}

# Dies unless `curl URL` (extra curl flags after FILE, e.g. -k) returns FILE's bytes.
check_same_body() {
    local url="$1" file="$2"
    shift 2
    curl -fsS --max-time 10 "$@" "$url" -o "$WORKDIR/check.body" || die "GET $url failed"
    cmp -s "$WORKDIR/check.body" "$file" || die "$url serves a different body than $file"
}

# A measurement window around one run:
#   measure_begin SERVER_CPU CLIENT_CPU PID...   (PIDs: the server's processes)
#   ... run the client ...
#   measure_end
# measure_end sets MEASURED_CPU_US (utime+stime of the PIDs, µs), MEASURED_WALL_NS,
# MEASURED_UTIL (that CPU time as % of one core), MEASURED_BUSY_SERVER and
# MEASURED_BUSY_CLIENT (non-idle % of each core, every process, from /proc/stat),
# MEASURED_STEAL_SERVER (% of the window the hypervisor took from the server core) and
# MEASURED_FLAG (" ⚠" when the server core was busier than the server by > 15 points —
# something else ran there — or steal on it was over 3 %: on a shared host a run with
# steal is slower for reasons outside the machine, and worth rerunning; run_client's
# callers add the client core's check with flag_client_core).
measure_begin() {
    MEASURE_CPUS=("$1" "$2")
    shift 2
    MEASURE_PIDS=("$@")
    MEASURE_TICKS="$(cpu_ticks_sum "$@")"
    MEASURE_BUSY=("$(cpu_busy_ticks "${MEASURE_CPUS[0]}")" "$(cpu_busy_ticks "${MEASURE_CPUS[1]}")")
    MEASURE_STEAL="$(cpu_steal_ticks "${MEASURE_CPUS[0]}")"
    MEASURE_START_NS="$(date +%s%N)"
}

measure_end() {
    MEASURED_WALL_NS=$(($(date +%s%N) - MEASURE_START_NS))
    local ticks
    ticks="$(cpu_ticks_sum "${MEASURE_PIDS[@]}")"
    MEASURED_CPU_US=$(((ticks - MEASURE_TICKS) * 1000000 / CLK_TCK))
    MEASURED_UTIL=$((MEASURED_CPU_US * 100000 / MEASURED_WALL_NS))
    MEASURED_BUSY_SERVER=$((($(cpu_busy_ticks "${MEASURE_CPUS[0]}") - MEASURE_BUSY[0]) * 100000000000 / CLK_TCK / MEASURED_WALL_NS))
    MEASURED_BUSY_CLIENT=$((($(cpu_busy_ticks "${MEASURE_CPUS[1]}") - MEASURE_BUSY[1]) * 100000000000 / CLK_TCK / MEASURED_WALL_NS))
    MEASURED_STEAL_SERVER=$((($(cpu_steal_ticks "${MEASURE_CPUS[0]}") - MEASURE_STEAL) * 100000000000 / CLK_TCK / MEASURED_WALL_NS))
    MEASURED_FLAG=""
    if ((MEASURED_BUSY_SERVER - MEASURED_UTIL > 15 || MEASURED_STEAL_SERVER > 3)); then
        MEASURED_FLAG=" ⚠"
    fi
}

# Runs loadgen once (one thread pinned to CPUS, --json -q), its flags after CPUS:
#   run_loadgen_json OUT CPUS FLAG... URL
# OUT gets the JSON, OUT.err its stderr, OUT.time "wall user sys" seconds of loadgen.
run_loadgen_json() {
    local out="$1" cpus="$2"
    shift 2
    [[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN is missing (cargo build --release -p loadgen)"
    local TIMEFORMAT='%3R %3U %3S'
    { time taskset -c "$cpus" "$LOADGEN_BIN" -t1 --json -q --cpus "$cpus" "$@" \
        >"$out" 2>"$out.err"; } 2>"$out.time" \
        || die "loadgen $* failed: $(cat "$out" "$out.err")"
}

# One measured loadgen run (measure_begin/end around run_loadgen_json):
#   measured_loadgen SERVER_CPU CLIENT_CPU "SERVER_PIDS" URL FLAG...
# prints one line (flag: "!" when measure_end flagged the run — something else ran on the
# server core, or the hypervisor stole from it — else "-"):
#   "rps offered p50 p90 p99 p999 max requests errors unsent client% util busy0 busy1 flag per_req lag99"
# (loadgen_stats' first eleven fields, the measure_end figures, server CPU µs per request,
# then loadgen_stats' send-lag p99).
measured_loadgen() {
    local server_cpu="$1" client_cpu="$2" url="$4" pids out
    read -r -a pids <<<"$3"
    shift 4
    out="$(mktemp "$WORKDIR/loadgen-XXXXXX.json")"
    measure_begin "$server_cpu" "$client_cpu" "${pids[@]}"
    run_loadgen_json "$out" "$client_cpu" "$@" "$url"
    measure_end
    local stats flag="-"
    read -r -a stats <<<"$(loadgen_stats "$out")"
    flag_client_core "$(client_cpu_percent "$out.time")"
    [[ -n "$MEASURED_FLAG" ]] && flag="!"
    echo "${stats[*]:0:11} $MEASURED_UTIL $MEASURED_BUSY_SERVER $MEASURED_BUSY_CLIENT $flag" \
        "$(awk -v c="$MEASURED_CPU_US" -v n="${stats[7]}" 'BEGIN { printf "%.2f", c / (n > 0 ? n : 1) }')" \
        "${stats[11]}"
}

# One line from a run_loadgen_json result:
#   "rps offered p50 p90 p99 p999 max requests errors unsent client_cpu_pct lag99"
# (latency in µs; offered, unsent and lag99 are "-" in closed loop; client_cpu_pct is
# loadgen's user+sys time as % of its wall time; lag99 is the p99 of loadgen's own send
# lag, µs: from when a request was due and a connection free, to its write).
loadgen_stats() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall, user, sys_ = (float(x) for x in open(sys.argv[1] + ".time").read().split())
lat = r.get("latency_us", {})
errors = sum(v for v in r.get("errors", {}).values() if isinstance(v, int))
def num(v): return "n/a" if v is None else f"{v:.0f}"
offered = r.get("offered_rps")
unsent = r.get("unsent")
print(f"{r['rps']:.0f}", "-" if offered is None else f"{offered:.0f}",
      *(num(lat.get(k)) for k in ("p50", "p90", "p99", "p999", "max")),
      r["requests"], errors, "-" if unsent is None else unsent,
      f"{100 * (user + sys_) / max(wall, 1e-9):.0f}",
      num((r.get("send_lag_us") or {}).get("p99")) if offered is not None else "-")
PY
}

# Median of repeated runs: reads lines "KEY|rest" (KEY numeric) on stdin and prints
# "LOW|HIGH|LINE": the smallest and largest KEY and the whole line with the median KEY.
median_run() {
    sort -t'|' -k1,1g | awk -F'|' '
        { v[NR] = $1; line[NR] = $0 }
        END { if (NR == 0) exit 1; print v[1] "|" v[NR] "|" line[int((NR + 1) / 2)] }'
}

# A / B with two decimals, "<0.01" below that ("n/a" when either is not a positive number).
fmt_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 <= 0) print "n/a"
        else if (a / b < 0.005) print "<0.01"
        else printf "%.2f\n", a / b }'
}

# Starts availability-server (start_server with the flags in the OURS_FLAGS array, if
# set) and an nginx serving its slot and week answers as static files from
# $WORKDIR/www, both pinned to CPU $1; further arguments go to start_nginx after
# "CPU WWW PORT". Sets WWW, NGINX_PORT, PIDS[ours] and PIDS[nginx] (the caller declares
# `-A PIDS`), and SERVER_URL / SERVER_HTTPS_URL as start_server does.
start_ours_and_nginx() {
    local cpu="$1"
    shift
    start_server "$cpu" "${OURS_FLAGS[@]}"
    PIDS[ours]="$SERVER_PID"
    WWW="$WORKDIR/www"
    save_answers "$WWW" "$SERVER_URL" "${PATHS[slot]}" "${PATHS[week]}"
    NGINX_PORT="$(free_port)"
    start_nginx "$cpu" "$WWW" "$NGINX_PORT" "$@"
    PIDS[nginx]="${NGINX_PIDS[*]}"
}

# One line about the machine and its load right now (and at start, when $LOAD_AT_START is set).
machine_line() {
    echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)," \
        "Linux $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)${LOAD_AT_START:+ (at start: $LOAD_AT_START)}."
    if command -v nginx >/dev/null 2>&1; then
        echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') ($(nginx -V 2>&1 | sed -n 's/.*running with \(OpenSSL [^ ]*\).*/\1/p;s/^built with \(OpenSSL [^ ]*\)[^(]*$/\1/p' | head -n1))."
    fi
}

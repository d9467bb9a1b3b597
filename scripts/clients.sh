# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source common.sh
# shellcheck disable=SC2153,SC2154 # globals (SERVER_BIN, PIDS, ...) are common.sh's
# Running and reading the load clients (loadgen, wrk) and the measurement window around
# a run. Sourced by common.sh.

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

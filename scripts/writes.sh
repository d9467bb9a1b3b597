#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# PATCH latency (durable commit + every zone rebuilt + reply) against a freshly
# started release server: one worker, plain HTTP on 127.0.0.1, rate limiter off,
# the data directory on the file system of $TMPDIR (fsync is real there unless it is
# a tmpfs: the script says which). Server pinned to CPU 0, loadgen to CPU 1.
#
# Scenarios (a fresh server each, so every one starts at generation 0):
#   patch  PATCH only, open loop at $RATE req/s over $PATCH_CONNS connections
#          (latency from the intended send time: queueing behind earlier writes counts)
#   mix    90 % GET week / 10 % PATCH, closed loop over $MIX_CONNS connections
#          (loadgen reports one latency distribution for both)
#   probe  reads open loop at $READ_RATE req/s over $MIX_CONNS connections and, at
#          the same time, PATCH open loop at $PROBE_RATE req/s from a second loadgen:
#          PATCH latency under read load. Open loop so that both clients keep CPU to
#          spare (on 2 cores a saturating read client would starve the PATCH client,
#          and the PATCH latency would mostly measure the client's wake-ups).
# After each run the server's /metrics must show generation == PATCH 200 count
# (every acknowledged write is exactly one generation).
#
# Settings (environment): DURATION=5 (seconds per scenario, at most 10),
# SCENARIOS="patch mix probe", RATE=200, PATCH_CONNS=4, MIX_CONNS=16, PROBE_RATE=50,
# READ_RATE=10000, SKIP_BUILD=1, KEEP=1, JSON_OUT=FILE (appends one JSON line per
# scenario), SERVER_BIN (another build, e.g. a saved copy of the previous one, for A/B),
# TMPDIR (where the data directories go).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-5}"
SCENARIOS="${SCENARIOS:-patch mix probe}"
RATE="${RATE:-200}"
PATCH_CONNS="${PATCH_CONNS:-4}"
MIX_CONNS="${MIX_CONNS:-16}"
PROBE_RATE="${PROBE_RATE:-50}"
READ_RATE="${READ_RATE:-10000}"
JSON_OUT="${JSON_OUT:-}"
READ_PATH="/availability?tz=Asia/Tokyo"
export BENCH_API_KEY="bench-key-not-secret-0123456789"

if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || ((DURATION < 1 || DURATION > 10)); then
    die "DURATION must be 1..10 seconds (the machine is shared)"
fi

need curl:curl taskset:util-linux python3:python3
build_release
[[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN is missing (cargo build --release -p loadgen)"
init_workdir

SERVER_CPUS=0 CLIENT_CPUS=0
(($(nproc) > 1)) && CLIENT_CPUS=1

# Like common.sh's start_server, but with the admin listener on (for /metrics).
# Sets SERVER_PID, SERVER_URL and ADMIN_URL.
start_write_server() {
    local data="$WORKDIR/data-$1" out="$WORKDIR/server-$1.out"
    mkdir -p "$data"
    : >"$out"
    API_KEY="$BENCH_API_KEY" taskset -c "$SERVER_CPUS" "$SERVER_BIN" --data-dir "$data" \
        --workers 1 --no-tls --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --rate-limit-burst 0 --rate-limit-per-s 0 --bcrypt-cost 4 \
        --home-tz America/New_York >"$out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_listening "$out" "$SERVER_PID" http admin
    SERVER_URL="http://$(listening_addr "$out" http)"
    ADMIN_URL="http://$(listening_addr "$out" admin)"
    wait_http_ok "$SERVER_URL/health"
}

# Stops the server started last (by its PID) and waits for it.
stop_write_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
}

# Runs loadgen (bounded: -d, plus `timeout` as a backstop), JSON report to $1.
run_loadgen() {
    local out="$1"
    shift
    timeout -k 2 $((DURATION + 15)) taskset -c "$CLIENT_CPUS" "$LOADGEN_BIN" -t1 \
        -d"${DURATION}s" --json -q --cpus "$CLIENT_CPUS" --bearer-env BENCH_API_KEY "$@" \
        >"$out" 2>"$out.err" || die "loadgen failed: $(cat "$out" "$out.err")"
}

# One row: scenario, what, rps, latency percentiles, statuses; plus the server's
# view (generation, PATCH 200s, commits, last commit and rebuild times). Appends to
# JSON_OUT. `only_patches` = 1 when every request of this client was a PATCH: the
# server's 200s must then be the client's, plus at most the PATCHes still in flight
# when loadgen stopped at its deadline (committed, their answers never read).
report() {
    local scenario="$1" what="$2" client="$3" metrics="$4" only_patches="${5:-0}"
    python3 - "$scenario" "$what" "$client" "$metrics" "$JSON_OUT" "$only_patches" <<'EOF'
import json, re, sys
scenario, what, client, metrics, json_out, only_patches = sys.argv[1:7]
r = json.load(open(client))
lat = r["latency_us"]
text = open(metrics).read()
def metric(name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else float("nan")
generation = int(metric("availability_generation"))
ok_writes = int(metric('availability_writes_total{status="200"}'))
commits = int(metric("availability_commits_total"))
errors = {k: v for k, v in r["errors"].items() if v}
row = {
    "scenario": scenario, "what": what, "rps": round(r["rps"], 1),
    "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"],
    "p999_us": lat["p999"], "max_us": lat["max"], "status": r["status"],
    "errors": errors, "unsent": r["unsent"], "generation": generation,
    "writes_200": ok_writes, "commits": commits,
    "last_commit_ms": metric("availability_commit_seconds") * 1e3,
    "last_rebuild_ms": metric("availability_snapshot_build_seconds") * 1e3,
}
ms = lambda us: "-" if us is None else f"{us / 1000:.2f}"
print(f"{scenario:<6} {what:<22} {row['rps']:>8.0f} {ms(lat['p50']):>7} {ms(lat['p90']):>7} "
      f"{ms(lat['p99']):>7} {ms(lat['p999']):>7} {ms(lat['max']):>7}  "
      f"{json.dumps(r['status'], separators=(',', ':'))} unsent={r['unsent']} "
      f"errors={json.dumps(errors, separators=(',', ':'))} | server: generation {generation}, "
      f"{commits} commits, last commit {row['last_commit_ms']:.2f} ms, last rebuild {row['last_rebuild_ms']:.2f} ms")
if json_out:
    with open(json_out, "a") as f:
        f.write(json.dumps(row) + "\n")
if generation != ok_writes:
    print(f"MISMATCH: generation {generation} but {ok_writes} PATCH 200s", file=sys.stderr)
    sys.exit(1)
client_ok = r["status"].get("200", 0)
# Issued, neither answered nor given up (non-2xx answers are among the requests).
given_up = sum(v for k, v in r["errors"].items() if k not in ("non_2xx", "connect"))
in_flight = max(r["issued"] - r["requests"] - given_up, 0)
if only_patches == "1" and not client_ok <= ok_writes <= client_ok + in_flight:
    print(f"MISMATCH: the client saw {client_ok} PATCH 200s ({in_flight} still in flight "
          f"at its deadline), the server sent {ok_writes}", file=sys.stderr)
    sys.exit(1)
EOF
}

scenario_patch() {
    run_loadgen "$WORKDIR/patch.json" -c"$PATCH_CONNS" -R"$RATE" \
        --request "1 PATCH $SERVER_URL/availability @$WORKDIR/body.json"
    curl -fsS --max-time 10 "$ADMIN_URL/metrics" -o "$WORKDIR/patch.metrics"
    report patch "PATCH -R$RATE -c$PATCH_CONNS" "$WORKDIR/patch.json" "$WORKDIR/patch.metrics" 1
}

scenario_mix() {
    run_loadgen "$WORKDIR/mix.json" -c"$MIX_CONNS" \
        --request "90 GET $SERVER_URL$READ_PATH" \
        --request "10 PATCH $SERVER_URL/availability @$WORKDIR/body.json"
    curl -fsS --max-time 10 "$ADMIN_URL/metrics" -o "$WORKDIR/mix.metrics"
    report mix "90GET/10PATCH -c$MIX_CONNS" "$WORKDIR/mix.json" "$WORKDIR/mix.metrics"
}

scenario_probe() {
    run_loadgen "$WORKDIR/probe-reads.json" -c"$MIX_CONNS" -R"$READ_RATE" \
        "$SERVER_URL$READ_PATH" &
    local readers=$!
    track_pid "$readers"
    run_loadgen "$WORKDIR/probe-patch.json" -c2 -R"$PROBE_RATE" \
        --request "1 PATCH $SERVER_URL/availability @$WORKDIR/body.json"
    wait "$readers" || die "the read load failed"
    curl -fsS --max-time 10 "$ADMIN_URL/metrics" -o "$WORKDIR/probe.metrics"
    report probe "GET -R$READ_RATE (reads)" "$WORKDIR/probe-reads.json" "$WORKDIR/probe.metrics"
    report probe "PATCH -R$PROBE_RATE (writes)" "$WORKDIR/probe-patch.json" "$WORKDIR/probe.metrics" 1
}

# Four cells in the home zone: a typical small edit.
cat >"$WORKDIR/body.json" <<'EOF'
{"slots":[{"day":2,"time":"14:00","status":"available"},{"day":2,"time":"14:30","status":"maybe"},{"day":4,"slot":20,"status":"available"},{"day":6,"slot":47,"status":"unavailable"}]}
EOF

fs_type="$(findmnt -n -o FSTYPE,OPTIONS -T "$WORKDIR" 2>/dev/null || stat -f -c %T "$WORKDIR")"
log "data directories under $WORKDIR ($fs_type); server on CPU $SERVER_CPUS, loadgen on CPU $CLIENT_CPUS"
[[ "$fs_type" == tmpfs* ]] && log "warning: $WORKDIR is a tmpfs, fsync costs nothing there (set TMPDIR)"
log "before: $(uptime)"
printf '%-6s %-22s %8s %7s %7s %7s %7s %7s  %s\n' scen what rps p50ms p90ms p99ms p999ms maxms \
    "statuses"
for scenario in $SCENARIOS; do
    case "$scenario" in
    patch | mix | probe) ;;
    *) die "unknown scenario $scenario (patch, mix, probe)" ;;
    esac
    start_write_server "$scenario"
    "scenario_$scenario"
    stop_write_server
done
log "after: $(uptime)"

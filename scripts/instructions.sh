#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# User-space instructions per request, counted by callgrind: the one speed figure on a
# shared VM that host steal, frequency and the other core cannot move (the same binary
# and requests give the same count, give or take the batching of events).
#
# For each target, the release server (one worker, plain HTTP, rate limiter off) runs
# under `valgrind --tool=callgrind` twice: once answering $REQUESTS keep-alive requests
# from loadgen (-c$CONNECTIONS, pipelining off), once answering 3 × $REQUESTS. The
# difference of the two runs' instruction counts, divided by 2 × $REQUESTS, is the
# cost per request with start-up (the zone tables, the first connections) cancelled
# out (scripts/callgrind_diff.py). The functions listed are those with the highest self
# cost per request, differenced the same way, libc and dependencies included. Kernel
# time is not counted: see profile.sh for that.
#
# The target "mix" sends the slot request with eight different cache-busting parameters
# at random, so that the worker's one-entry memos of the last head and query (see
# src/http/memo.rs) mostly miss: the cost of a request parsed in full.
#
# The target "floor" counts the bare mio loop instead (FLOOR_BIN, loadgen's example
# fixed_server: read, find the blank line, write fixed bytes), sent the slot request:
# the user space a server needs at the least, to hold ours against.
#
#   ./scripts/instructions.sh                    # slot, week and csv
#   TARGETS="slot floor" ./scripts/instructions.sh
#   TARGETS=slot BIN=/tmp/old/availability-server ./scripts/instructions.sh
#
# Settings (environment):
#   TARGETS="slot week csv" (and mix, floor)  REQUESTS=10000  CONNECTIONS=4  TOP=12 (functions listed)
#   BIN (server binary) [target/release/availability-server]  SKIP_BUILD=1  KEEP=1
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TARGETS="${TARGETS:-slot week csv}"
REQUESTS="${REQUESTS:-10000}"
CONNECTIONS="${CONNECTIONS:-4}"
TOP="${TOP:-12}"
SERVER_BIN="${BIN:-$SERVER_BIN}"
define_bench_paths # sets ZONE and PATHS (slot, week)
PATHS[csv]="/availability/csv?tz=$ZONE"

need valgrind:valgrind callgrind_annotate:valgrind curl:curl
build_release
if [[ " $TARGETS " == *" floor "* && "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -q -p loadgen --example fixed_server)
fi
[[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN is missing: build the workspace first"
init_workdir

# Runs the server (or, with $4 = floor, the bare loop) under callgrind for $2 requests
# to $1; leaves the output in $3.
run_under_callgrind() {
    local path="$1" requests="$2" out="$3" kind="${4:-server}" dir
    dir="$(mktemp -d "$WORKDIR/run.XXXXXX")"
    : >"$dir/server.out" # exists before the background start opens it, for the polling below
    local addr="" deadline=$((SECONDS + 120)) pid ready_path=/health stop_signal=INT
    if [[ "$kind" == floor ]]; then
        addr="127.0.0.1:$(free_port)"
        # The floor answers any path, and has no signal handler: a background job of a
        # script ignores SIGINT, so it is stopped with SIGTERM.
        ready_path=/ stop_signal=TERM
        # A body of the slot answer's usual length; the count hardly depends on it.
        valgrind --tool=callgrind --callgrind-out-file="$out" "$FLOOR_BIN" "$addr" 170 \
            >"$dir/server.out" 2>&1 &
    else
        API_KEY="bench-key-not-secret-0123456789" valgrind --tool=callgrind \
            --callgrind-out-file="$out" "$SERVER_BIN" --data-dir "$dir/data" --workers 1 \
            --no-tls --http-listen 127.0.0.1:0 --admin-listen off --rate-limit-burst 0 \
            --bcrypt-cost 4 --home-tz America/New_York >"$dir/server.out" 2>&1 &
    fi
    pid=$!
    track_pid "$pid"
    while [[ -z "$addr" ]]; do
        kill -0 "$pid" 2>/dev/null || die "server exited: $(cat "$dir/server.out")"
        ((SECONDS < deadline)) || die "server did not start under valgrind"
        addr="$(sed -n 's/^http listening on //p' "$dir/server.out")"
        [[ -n "$addr" ]] || sleep 0.2
    done
    wait_http_ok "http://$addr$ready_path" 120
    local targets=("http://$addr$path")
    if [[ "$kind" == mix ]]; then
        # Eight targets that differ only in a cache-busting parameter, drawn at random:
        # the worker's memos of the last head and query mostly miss.
        targets=()
        for i in 1 2 3 4 5 6 7 8; do targets+=(--request "1 GET http://$addr$path&_=$i"); done
    fi
    "$LOADGEN_BIN" -q --json --no-pin -c "$CONNECTIONS" -d 600s --max-requests "$requests" \
        "${targets[@]}" >"$dir/loadgen.json"
    python3 - "$dir/loadgen.json" "$requests" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
ok = report["requests"] == int(sys.argv[2]) and not any(report["errors"].values())
sys.exit(0 if ok else f"loadgen: {report['requests']} requests, errors {report['errors']}")
EOF
    kill -"$stop_signal" "$pid"
    wait "$pid" || true
}

printf '| target | path | instructions per request | heaviest functions, self cost per request |\n'
printf '|---|---|---:|---|\n'
for target in $TARGETS; do
    kind=server
    if [[ "$target" == floor ]]; then
        kind=floor
        [[ -x "$FLOOR_BIN" ]] || die "$FLOOR_BIN is missing (cargo build --release -p loadgen --example fixed_server)"
        path="${PATHS[slot]}"
    elif [[ "$target" == mix ]]; then
        kind=mix
        path="${PATHS[slot]}"
    else
        path="${PATHS[$target]:-}"
    fi
    [[ -n "$path" ]] || die "unknown target $target (slot, week, csv, mix, floor)"
    log "$target: $REQUESTS and $((3 * REQUESTS)) requests under callgrind"
    run_under_callgrind "$path" "$REQUESTS" "$WORKDIR/$target.small" "$kind"
    run_under_callgrind "$path" "$((3 * REQUESTS))" "$WORKDIR/$target.large" "$kind"
    for run in small large; do
        callgrind_annotate --threshold=100 "$WORKDIR/$target.$run" \
            >"$WORKDIR/$target.$run.txt" 2>/dev/null
    done
    IFS=$'\t' read -r per_request functions < <(python3 "$ROOT/scripts/callgrind_diff.py" \
        "$WORKDIR/$target.small.txt" "$WORKDIR/$target.large.txt" "$((2 * REQUESTS))" "$TOP")
    [[ -n "$per_request" ]] || die "could not read the callgrind outputs of $target"
    # shellcheck disable=SC2016 # the backquotes are Markdown, not a command
    printf '| %s | `%s` | %s | %s |\n' "$target" "$path" "$per_request" "$functions"
done
log "callgrind $(valgrind --version), $(machine_line 2>/dev/null || uname -m)"

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A/B of two builds (or two flag sets) of availability-server under compare.sh's load:
# is a change faster, by server CPU per request?
#
#   BIN_A=/tmp/before/availability-server BIN_B=target/release/availability-server ./scripts/ab.sh
#   FLAGS_B="--pin-cores" ./scripts/ab.sh             # same binary, other flags
#
# Both servers run at once (one worker, --no-tls, rate limiter off, as in compare.sh),
# each pinned to CPU $SERVER_CPU; an idle one costs nothing. The client runs one
# thread pinned to CPU $CLIENT_CPU. Runs alternate A, B, A, B… ($REPEAT each, with the
# first of each pair alternating too), so drifting outside load hits both alike. Per
# target and mode it prints the median run by CPU per request, the range of all runs,
# and B / A. Only CPU per request is a verdict: req/s follows the client.
#
# Settings (environment):
#   BIN_A BIN_B          server binaries [both: target/release/availability-server]
#   FLAGS_A FLAGS_B      extra server flags (word-split)
#   CLIENT=wrk|loadgen   [wrk]   DURATION=4   REPEAT=5   CONNECTIONS=64   PIPELINE=16
#   TARGETS="slot week"  MODES="keepalive"   SERVER_CPU=0 CLIENT_CPU=1 KEEP=1
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BIN_A="${BIN_A:-$SERVER_BIN}"
BIN_B="${BIN_B:-$SERVER_BIN}"
CLIENT="${CLIENT:-wrk}"
DURATION="${DURATION:-4}"
REPEAT="${REPEAT:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
TARGETS="${TARGETS:-slot week}"
MODES="${MODES:-keepalive}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
define_bench_paths # sets ZONE and PATHS (slot, week)

need curl:curl taskset:util-linux python3:python3
[[ "$CLIENT" == wrk ]] && need wrk:wrk
for bin in "$BIN_A" "$BIN_B"; do [[ -x "$bin" ]] || die "$bin is not an executable"; done
[[ "$BIN_A" != "$BIN_B" || "${FLAGS_A:-}" != "${FLAGS_B:-}" ]] \
    || log "warning: A and B are the same binary with the same flags (an A/A run)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
init_workdir

declare -A URL=() PID=()
for side in A B; do
    bin_var="BIN_$side" flags_var="FLAGS_$side"
    read -r -a flags <<<"${!flags_var:-}"
    # One data directory per side.
    SERVER_WORKDIR="$WORKDIR/$side" SERVER_BIN="${!bin_var}" start_server "$SERVER_CPU" "${flags[@]}"
    URL[$side]="$SERVER_URL"
    PID[$side]="$SERVER_PID"
done
for target in $TARGETS; do
    curl -fsS --max-time 10 "${URL[A]}${PATHS[$target]}" -o "$WORKDIR/a.body"
    check_same_body "${URL[B]}${PATHS[$target]}" "$WORKDIR/a.body"
done

ROWS=()
for target in $TARGETS; do
    for mode in $MODES; do
        declare -A RUNS=()
        for rep in $(seq "$REPEAT"); do
            order="A B"
            ((rep % 2 == 0)) && order="B A"
            for side in $order; do
                log "$target $mode $side ($rep/$REPEAT): $CLIENT -c$CONNECTIONS ${DURATION}s"
                measure_begin "$SERVER_CPU" "$CLIENT_CPU" "${PID[$side]}"
                line="$(run_client "$CLIENT" "$mode" "$CLIENT_CPU" "$CONNECTIONS" "$DURATION" \
                    "${URL[$side]}${PATHS[$target]}")"
                measure_end
                read -r rps p50 p99 requests errors client_cpu <<<"$line"
                flag_client_core "$client_cpu"
                per_req="$(awk -v c="$MEASURED_CPU_US" -v n="$requests" \
                    'BEGIN { printf "%.2f", c / (n > 0 ? n : 1) }')"
                RUNS[$side]+="$per_req|$rps | $p50 | $p99 | $errors | $MEASURED_UTIL | $MEASURED_BUSY_SERVER / $MEASURED_BUSY_CLIENT$MEASURED_FLAG"$'\n'
            done
        done
        declare -A MEDIAN=()
        for side in A B; do
            IFS='|' read -r low high line < <(printf '%s' "${RUNS[$side]}" | median_run)
            MEDIAN[$side]="${line%%|*}"
            ROWS+=("| $target | $mode | $side | ${line#*|} | ${MEDIAN[$side]} ($low–$high) |")
        done
        ROWS+=("| $target | $mode | **B / A** | | | | | | | **$(fmt_ratio "${MEDIAN[B]}" "${MEDIAN[A]}")** |")
        unset RUNS MEDIAN
    done
done

echo
echo "A: $BIN_A ${FLAGS_A:-}"
echo "B: $BIN_B ${FLAGS_B:-}"
echo "Both on CPU $SERVER_CPU, $CLIENT -t1 -c$CONNECTIONS on CPU $CLIENT_CPU; ${DURATION} s per run," \
    "median of $REPEAT interleaved runs by server CPU per request; zone $ZONE."
machine_line
echo
echo "| target | mode | side | req/s | p50 µs | p99 µs | errors | server CPU % | CPU busy % (server/client core) | server CPU µs/req (range) |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A/B test of core pinning: availability-server with its workers pinned to cores
# (`--pin-cores`) against unpinned workers (the default), everything else equal.
#
# Unlike compare.sh, the server is NOT confined with taskset here (that would pin it
# whatever the flag says): it may use both cores, like in production. The client
# (loadgen, one thread) is pinned to CPU $CLIENT_CPU, so on this 2-core machine it
# competes with whichever worker shares that core — the situation pinning is meant to
# help or hurt. Two configurations:
#   w1: --workers 1 (one event loop; pinned, it stays on core 0, away from the client)
#   w2: --workers 2 (one loop per core, the default; pinned, one shares the client's core)
# For each, $REPEAT runs per variant, interleaved (pinned, unpinned, pinned, …), each on
# a freshly started server, $DURATION s of closed-loop keep-alive GETs of the slot answer
# with -c$CONNECTIONS. Prints requests/s, p50/p99, server CPU µs per request (utime +
# stime of the server process, all threads), the client's, and their sum, of the median
# run by that sum, with the ranges of req/s and of the sum in brackets. The sum is what
# to judge by: an unpinned worker that shares the client's core can spend less per
# request itself while the two together spend more (and serve fewer requests), so the
# server's own figure alone would favour the placement that slows the client.
#
# With RATE=N the runs are open loop instead (loadgen -R N, latency from each request's
# intended send time), and the median run is the one by p99: the tail is where a
# migrating worker would show when neither placement runs out of CPU. SPIN=1 adds
# loadgen --spin (a busy client: it then takes all of its core, which a worker pinned
# there must share).
#
# Settings (environment): DURATION=5 REPEAT=9 CONNECTIONS=64 CONFIGS="w1 w2"
#   CLIENT_CPU=1 RATE (open loop) SPIN=0 SKIP_BUILD=1 KEEP=1
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-5}"
REPEAT="${REPEAT:-9}"
CONNECTIONS="${CONNECTIONS:-64}"
CONFIGS="${CONFIGS:-w1 w2}"
CLIENT_CPU="${CLIENT_CPU:-1}"
ALL_CPUS="0-$(($(nproc) - 1))"
RATE="${RATE:-}"
LOAD_FLAGS=()
[[ -n "$RATE" ]] && LOAD_FLAGS+=(-R "$RATE")
[[ "${SPIN:-0}" == 1 ]] && LOAD_FLAGS+=(--spin)
define_bench_paths # sets PATHS (slot, week)

need curl:curl taskset:util-linux python3:python3
build_release
init_workdir
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

declare -A LINES=() RPS=()
for rep in $(seq "$REPEAT"); do
    for config in $CONFIGS; do
        workers="${config#w}"
        for variant in pinned unpinned; do
            flags=()
            [[ "$variant" == pinned ]] && flags+=(--pin-cores)
            SERVER_WORKERS="$workers" start_server "$ALL_CPUS" "${flags[@]}"
            url="$SERVER_URL${PATHS[slot]}"
            wait_http_ok "$url"
            log "$config $variant ($rep/$REPEAT): loadgen -c$CONNECTIONS ${LOAD_FLAGS[*]} ${DURATION}s"
            # The first argument only names the core whose busy % measured_loadgen
            # reports (not printed here): the server is unconfined.
            line="$(measured_loadgen 0 "$CLIENT_CPU" "$SERVER_PID" "$url" \
                -c "$CONNECTIONS" -d "${DURATION}s" "${LOAD_FLAGS[@]}")"
            read -r rps _ _ _ p99 _ _ _ _ _ client _ _ _ _ per_req _ <<<"$line"
            # loadgen's CPU % of one core over the run, per request answered.
            client_per_req="$(awk -v c="$client" -v r="$rps" \
                'BEGIN { printf "%.2f", (r > 0 ? c * 1e4 / r : 0) }')"
            both="$(awk -v a="$per_req" -v b="$client_per_req" 'BEGIN { printf "%.2f", a + b }')"
            key="$both"
            [[ -n "$RATE" ]] && key="$p99"
            LINES[$config.$variant]+="$key|$both $client_per_req $line"$'\n'
            RPS[$config.$variant]+="$rps"$'\n'
            kill "$SERVER_PID"
            wait "$SERVER_PID" 2>/dev/null || true
        done
    done
done

echo
if [[ -n "$RATE" ]]; then
    echo "Core pinning A/B: slot answer, keep-alive, open loop loadgen -t1 -c$CONNECTIONS" \
        "${LOAD_FLAGS[*]} pinned to CPU $CLIENT_CPU, server unconfined; median of $REPEAT runs" \
        "of ${DURATION}s by p99."
else
    echo "Core pinning A/B: slot answer, keep-alive, loadgen -t1 -c$CONNECTIONS pinned to CPU $CLIENT_CPU," \
        "server unconfined; median of $REPEAT runs of ${DURATION}s by server + client CPU per request."
fi
machine_line
echo
if [[ -n "$RATE" ]]; then
    echo "| workers | pinning | req/s (offered) | p50 µs | p99 µs (range) | p99.9 µs | errors | unsent | server CPU µs/req | server + client µs/req |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
else
    echo "| workers | pinning | req/s (range) | p50 µs | p99 µs | errors | server CPU µs/req | client CPU µs/req | server + client µs/req (range) |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
fi
for config in $CONFIGS; do
    for variant in pinned unpinned; do
        IFS="|" read -r low high _ line < <(printf "%s" "${LINES[$config.$variant]}" | median_run)
        read -r both client_per_req rps offered p50 _ p99 p999 _ _ errors unsent _ _ _ _ _ per_req _ <<<"$line"
        read -r rps_low rps_high < <(printf '%s' "${RPS[$config.$variant]}" | sort -g |
            awk 'NR == 1 { low = $1 } { high = $1 } END { print low, high }')
        label="--pin-cores"
        [[ "$variant" == unpinned ]] && label="default (unpinned)"
        if [[ -n "$RATE" ]]; then
            echo "| ${config#w} | $label | $rps ($offered) | $p50 | $p99 ($low–$high) | $p999 | $errors | $unsent | $per_req | $both |"
        else
            echo "| ${config#w} | $label | $rps ($rps_low–$rps_high) | $p50 | $p99 | $errors | $per_req | $client_per_req | $both ($low–$high) |"
        fi
    done
done

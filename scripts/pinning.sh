#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A/B test of core pinning: availability-server with its workers pinned to cores (the
# default) against `--no-pin-cores`, everything else equal.
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
# Settings (environment): DURATION=5 REPEAT=9 CONNECTIONS=64 CONFIGS="w1 w2"
#   CLIENT_CPU=1 SKIP_BUILD=1 KEEP=1
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-5}"
REPEAT="${REPEAT:-9}"
CONNECTIONS="${CONNECTIONS:-64}"
CONFIGS="${CONFIGS:-w1 w2}"
CLIENT_CPU="${CLIENT_CPU:-1}"
ALL_CPUS="0-$(($(nproc) - 1))"
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
            [[ "$variant" == unpinned ]] && flags+=(--no-pin-cores)
            SERVER_WORKERS="$workers" start_server "$ALL_CPUS" "${flags[@]}"
            url="$SERVER_URL${PATHS[slot]}"
            wait_http_ok "$url"
            log "$config $variant ($rep/$REPEAT): loadgen -c$CONNECTIONS ${DURATION}s"
            # The first argument only names the core whose busy % measured_loadgen
            # reports (not printed here): the server is unconfined.
            line="$(measured_loadgen 0 "$CLIENT_CPU" "$SERVER_PID" "$url" \
                -c "$CONNECTIONS" -d "${DURATION}s")"
            read -r rps _ _ _ _ _ _ _ _ _ client _ _ _ _ per_req _ <<<"$line"
            # loadgen's CPU % of one core over the run, per request answered.
            client_per_req="$(awk -v c="$client" -v r="$rps" \
                'BEGIN { printf "%.2f", (r > 0 ? c * 1e4 / r : 0) }')"
            both="$(awk -v a="$per_req" -v b="$client_per_req" 'BEGIN { printf "%.2f", a + b }')"
            LINES[$config.$variant]+="$both|$client_per_req $line"$'\n'
            RPS[$config.$variant]+="$rps"$'\n'
            kill "$SERVER_PID"
            wait "$SERVER_PID" 2>/dev/null || true
        done
    done
done

echo
echo "Core pinning A/B: slot answer, keep-alive, loadgen -t1 -c$CONNECTIONS pinned to CPU $CLIENT_CPU," \
    "server unconfined; median of $REPEAT runs of ${DURATION}s by server + client CPU per request."
machine_line
echo
echo "| workers | pinning | req/s (range) | p50 µs | p99 µs | errors | server CPU µs/req | client CPU µs/req | server + client µs/req (range) |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for config in $CONFIGS; do
    for variant in pinned unpinned; do
        IFS='|' read -r low high both line < <(printf '%s' "${LINES[$config.$variant]}" | median_run)
        read -r client_per_req rps _ p50 _ p99 _ _ _ errors _ _ _ _ _ _ per_req _ <<<"$line"
        read -r rps_low rps_high < <(printf '%s' "${RPS[$config.$variant]}" | sort -g |
            awk 'NR == 1 { low = $1 } { high = $1 } END { print low, high }')
        label="default (pinned)"
        [[ "$variant" == unpinned ]] && label="--no-pin-cores"
        echo "| ${config#w} | $label | $rps ($rps_low–$rps_high) | $p50 | $p99 | $errors | $per_req | $client_per_req | $both ($low–$high) |"
    done
done

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# availability-server vs nginx serving the server's own answers as static files.
#
# Both servers run one worker pinned to CPU $SERVER_CPU (0), the client one thread pinned
# to CPU $CLIENT_CPU (1). For each target (slot, week) and mode (keepalive, close,
# pipeline) it runs a bounded test against each server in turn and prints a Markdown
# table: requests/s, p50/p99 latency, and server CPU time per request (utime+stime from
# /proc/PID/stat before and after; nginx counts master + worker) — the figure that stays
# meaningful when the client saturates first. "CPU busy %" is each core's non-idle time
# from /proc/stat (every process): when it is well above "server CPU %" on the server
# core, something else ran there; such rows are marked with ⚠ and worth rerunning, as are
# rows where the hypervisor stole over 3 % of the server core (steal in /proc/stat), and
# rows where the client's core was busier than the client (timed with bash `time`) by over
# 15 points: a slowed client lowers the rate, and fewer requests per wake-up cost the
# server more each.
#
# When loadgen's example `fixed_server` is built (a bare mio loop answering every request
# head with fixed bytes of the same length), it is measured too, as the floor.
#
# Settings (environment):
#   CLIENT=wrk|loadgen   client for keepalive and pipeline runs [wrk]
#   DURATION=10          seconds per run
#   REPEAT=1             runs per server and row, interleaved; the median is shown
#   SYSCALLS=1           also count the server's syscalls per request (perf stat on the
#                        raw_syscalls:sys_enter tracepoint; needs perf, adds a little CPU)
#   CONNECTIONS=64       connections for keepalive and pipeline runs
#   CLOSE_CONNECTIONS=16 concurrent connections in close mode
#   PIPELINE=16          pipeline depth
#   TARGETS="slot week"  MODES="keepalive close pipeline"  FLOOR=1 (0: skip the floor)
#   SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1 KEEP=1 (keep the work directory)
# `close` (a new connection per request) needs loadgen: wrk cannot do it, so with
# CLIENT=wrk that row uses loadgen when it is built and is skipped otherwise.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CLIENT="${CLIENT:-wrk}"
DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-1}"
SYSCALLS="${SYSCALLS:-0}"
CONNECTIONS="${CONNECTIONS:-64}"
CLOSE_CONNECTIONS="${CLOSE_CONNECTIONS:-16}"
TARGETS="${TARGETS:-slot week}"
MODES="${MODES:-keepalive close pipeline}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
define_bench_paths # sets ZONE and PATHS (slot, week)

need nginx:nginx wrk:wrk curl:curl taskset:util-linux python3:python3
[[ "$SYSCALLS" == 1 ]] && need perf:linux-perf
build_release
if [[ "${FLOOR:-1}" == 1 && "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -q -p loadgen --example fixed_server 2>/dev/null) \
        || log "loadgen's fixed_server example does not build: no floor row"
fi
init_workdir
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- servers -----------------------------------------------------------------------
declare -A PORT=() PIDS=()
start_ours_and_nginx "$SERVER_CPU"
PORT[ours]="${SERVER_URL##*:}"
PORT[nginx]="$NGINX_PORT"

declare -A RESPONSE_BYTES=()
for target in $TARGETS; do
    for server in ours nginx; do
        url="http://127.0.0.1:${PORT[$server]}${PATHS[$target]}"
        curl -fsS --max-time 10 "$url" -o "$WORKDIR/check.body" || die "$server: GET $url failed"
        cmp -s "$WORKDIR/check.body" "$WWW/$target.json" || die "$server serves a different $target body"
        RESPONSE_BYTES[$server.$target]="$(curl -fsS --max-time 10 -i "$url" | wc -c)"
    done
done

# One floor instance per target, its whole response as long as ours.
SERVERS="ours nginx"
if [[ "${FLOOR:-1}" == 1 && -x "$FLOOR_BIN" ]]; then
    SERVERS="ours nginx floor"
    for target in $TARGETS; do
        start_floor "$SERVER_CPU" "${RESPONSE_BYTES[ours.$target]}" "floor-$target"
        PORT[floor.$target]="$FLOOR_PORT"
        PIDS[floor.$target]="$FLOOR_PID"
        RESPONSE_BYTES[floor.$target]="$(curl -fsS --max-time 10 -i "http://127.0.0.1:$FLOOR_PORT/" | wc -c)"
    done
fi

client_for() {
    local mode="$1"
    if client_supports "$CLIENT" "$mode"; then
        echo "$CLIENT"
    elif [[ -x "$LOADGEN_BIN" ]]; then
        echo loadgen
    fi
}

# --- runs --------------------------------------------------------------------------
ROWS=()
for target in $TARGETS; do
    for mode in $MODES; do
        client="$(client_for "$mode")"
        if [[ -z "$client" ]]; then
            log "skipping $target/$mode: needs loadgen ($LOADGEN_BIN not built)"
            continue
        fi
        conns="$CONNECTIONS"
        [[ "$mode" == close ]] && conns="$CLOSE_CONNECTIONS"
        declare -A RUNS=() RESULT=() PER_REQ=()
        # Servers take turns, so a burst of outside load hits them alike (the order
        # reverses every other round, so none always runs first); with REPEAT > 1
        # each row is the run with the median CPU per request.
        for rep in $(seq "$REPEAT"); do
            order="$SERVERS"
            ((rep % 2 == 0)) && order="$(tr ' ' '\n' <<<"$SERVERS" | tac | xargs)"
            for server in $order; do
                key="$server"
                [[ "$server" == floor ]] && key="floor.$target"
                read -r -a pids <<<"${PIDS[$key]}"
                url="http://127.0.0.1:${PORT[$key]}${PATHS[$target]}"
                log "$target $mode $server ($rep/$REPEAT): $client -c$conns ${DURATION}s"
                if [[ "$SYSCALLS" == 1 ]]; then
                    perf stat -x, -e raw_syscalls:sys_enter -p "$(IFS=,; echo "${pids[*]}")" \
                        -o "$WORKDIR/perf.csv" &
                    perf_pid=$!
                    track_pid "$perf_pid"
                    sleep 0.2
                fi
                measure_begin "$SERVER_CPU" "$CLIENT_CPU" "${pids[@]}"
                line="$(run_client "$client" "$mode" "$CLIENT_CPU" "$conns" "$DURATION" "$url")"
                measure_end
                read -r rps p50 p99 requests errors client_cpu <<<"$line"
                flag_client_core "$client_cpu"
                syscalls=""
                if [[ "$SYSCALLS" == 1 ]]; then
                    kill -INT "$perf_pid"
                    wait "$perf_pid" || true
                    syscalls=" | $(awk -F, -v n="$requests" '/raw_syscalls/ { printf "%.2f", $1 / n }' "$WORKDIR/perf.csv")"
                fi
                per_req="$(python3 -c "print(f'{$MEASURED_CPU_US / max($requests, 1):.2f}')")"
                RUNS[$server]+="$per_req|$client -c$conns | $rps | $p50 | $p99 | $errors | $MEASURED_UTIL | $MEASURED_BUSY_SERVER / $MEASURED_BUSY_CLIENT$MEASURED_FLAG$syscalls"$'\n'
            done
        done
        for server in $SERVERS; do
            # Median run by CPU per request, and the range over all runs.
            read -r median low high < <(printf '%s' "${RUNS[$server]}" | sort -t'|' -k1,1g |
                awk -F'|' '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print m, v[1], v[NR] }')
            row="$(printf '%s' "${RUNS[$server]}" | sort -t'|' -k1,1g | sed -n "${median}p")"
            PER_REQ[$server]="${row%%|*}"
            range=""
            ((REPEAT > 1)) && range=" ($low–$high)"
            RESULT[$server]="${row#*|} | ${PER_REQ[$server]}$range"
        done
        ratio="$(python3 -c "print(f'{${PER_REQ[ours]} / max(${PER_REQ[nginx]}, 1e-9):.2f}')")"
        ROWS+=("| $target | $mode | ours | ${RESULT[ours]} | **$ratio** |")
        nopush_note=""
        if [[ "$mode" == pipeline && "${NGINX_TCP_NOPUSH:-on}" != off ]]; then
            nopush_note=" ¹"
            NOPUSH_PIPELINED=1
        fi
        ROWS+=("| $target | $mode | nginx$nopush_note | ${RESULT[nginx]} | |")
        if [[ -n "${RESULT[floor]:-}" ]]; then
            ratio="$(python3 -c "print(f'{${PER_REQ[floor]} / max(${PER_REQ[nginx]}, 1e-9):.2f}')")"
            ROWS+=("| $target | $mode | floor | ${RESULT[floor]} | $ratio |")
        fi
        unset RUNS RESULT PER_REQ
    done
done

# --- report ------------------------------------------------------------------------
sizes=""
for target in $TARGETS; do
    sizes="$sizes $target:"
    for server in $SERVERS; do
        key="$server.$target"
        sizes="$sizes $server ${RESPONSE_BYTES[$key]:-?}"
    done
    sizes="$sizes;"
done
echo
machine_line
echo "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')."
echo "Servers on CPU $SERVER_CPU, client on CPU $CLIENT_CPU; ${DURATION} s per run, median of $REPEAT;" \
    "pipeline depth ${PIPELINE:-16}; zone $ZONE."
echo "Response sizes (head + body, bytes):${sizes%;}."
echo
syscalls_head="" syscalls_rule=""
[[ "$SYSCALLS" == 1 ]] && syscalls_head=" syscalls/req |" syscalls_rule="---:|"
echo "| target | mode | server | client | req/s | p50 µs | p99 µs | errors | server CPU % | CPU busy % (server/client core) |$syscalls_head server CPU µs/req (range) | CPU vs nginx |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|$syscalls_rule---:|---:|"
printf '%s\n' "${ROWS[@]}"
if [[ -n "${NOPUSH_PIPELINED:-}" ]]; then
    echo
    echo "¹ nginx ran with tcp_nopush on, its cheaper keep-alive setting, which stalls it on" \
        "pipelined requests: not its fair pipelined figure. For that, run" \
        "NGINX_TCP_NOPUSH=off MODES=pipeline ./scripts/compare.sh."
fi

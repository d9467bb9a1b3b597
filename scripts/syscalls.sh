#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Syscalls per request, checked the way issue 3 asks: `strace -c` on the
# server while `wrk -t1 -c64` runs against it, next to the same count taken without a
# tracer slowing the server down (`perf stat` on the syscall tracepoints).
#
# For each target (slot, week) and server (ours; nginx, serving our answers as static
# files; the floor, the bare mio loop of compare.sh) it prints one row per tracer:
# syscalls per request in all and by the groups the issue names — reads, sends,
# `epoll_wait`, `setsockopt` — then those of a connection's start and end (`accept`,
# `epoll_ctl`, `shutdown`, `close`), and the run's failed calls; perf also counts the
# reads that failed with EAGAIN (strace -c cannot tell errnos apart). Servers on CPU
# $SERVER_CPU (0), the client on CPU $CLIENT_CPU (1); the tracer attaches for the
# client's run only, so start-up and shutdown are not counted.
#
# The last column shows what the kernel sent: TCP segments per request, both directions,
# from the host's TcpOutSegs (/proc/net/snmp) over the client's run. 2.00 is one segment
# for the request and one for the answer, ACKs riding on them: the least a keep-alive
# exchange can cost; more means answers split across segments or bare ACKs. It counts
# the whole host: run nothing else that talks TCP meanwhile.
#
# Why both tracers: a server answers a keep-alive request with one read and one send,
# plus its share of the `epoll_wait` that found the request. That share is one call per
# wake-up, so it depends on how many requests wait at each wake-up — few when the server
# outruns the client and sleeps between them (perf, untraced), many when it is the
# slower side (strace makes every syscall cost tens of µs, so the traced server is).
#
# Settings (environment):
#   DURATION=4           seconds per run
#   TARGETS="slot week"  SERVERS="ours nginx floor"  TRACERS="strace perf"
#   MODES="keepalive"    add `close` for a new connection per request (loadgen, which
#                        opens CLOSE_CONNECTIONS=16 at a time; the floor ignores
#                        `Connection: close`, so its close rows count the client's close)
#   CLIENT=wrk|loadgen   CONNECTIONS=64
#   SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1 KEEP=1 (keep the work directory)
# nginx runs with tcp_nopush as compare.sh sets it (NGINX_TCP_NOPUSH, default on: two
# setsockopt calls per answer; off: none).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-4}"
TARGETS="${TARGETS:-slot week}"
SERVERS="${SERVERS:-ours nginx floor}"
TRACERS="${TRACERS:-strace perf}"
MODES="${MODES:-keepalive}"
CLIENT="${CLIENT:-wrk}"
CONNECTIONS="${CONNECTIONS:-64}"
CLOSE_CONNECTIONS="${CLOSE_CONNECTIONS:-16}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
define_bench_paths # sets ZONE and PATHS (slot, week)

need nginx:nginx wrk:wrk curl:curl taskset:util-linux python3:python3 strace:strace perf:linux-perf
build_release
if [[ " $SERVERS " == *" floor "* && "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -q -p loadgen --example fixed_server) \
        || die "loadgen's fixed_server example does not build (SERVERS=\"ours nginx\" skips the floor)"
fi
init_workdir
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# The syscall tracepoints perf counts by name: the groups above, where this kernel has them.
PERF_NAMES=(read readv recvfrom recvmsg write writev sendto sendmsg sendfile64 splice
    epoll_wait epoll_pwait epoll_pwait2 setsockopt accept accept4 epoll_ctl shutdown close)
available="$(perf list tracepoint 2>/dev/null)"
PERF_EVENTS=(-e raw_syscalls:sys_enter -e raw_syscalls:sys_exit --filter 'ret < 0')
for name in "${PERF_NAMES[@]}"; do
    grep -q "syscalls:sys_enter_$name\b" <<<"$available" && PERF_EVENTS+=(-e "syscalls:sys_enter_$name")
done
# A read that finds nothing: -11 is EAGAIN.
for name in read readv recvfrom recvmsg; do
    grep -q "syscalls:sys_exit_$name\b" <<<"$available" &&
        PERF_EVENTS+=(-e "syscalls:sys_exit_$name" --filter 'ret == -11')
done

# --- servers -----------------------------------------------------------------------
declare -A PORT=() PIDS=()
start_ours_and_nginx "$SERVER_CPU"
PORT[ours]="${SERVER_URL##*:}"
PORT[nginx]="$NGINX_PORT"
for target in $TARGETS; do
    for server in ours nginx; do
        check_same_body "http://127.0.0.1:${PORT[$server]}${PATHS[$target]}" "$WWW/$target.json"
    done
    if [[ " $SERVERS " == *" floor "* ]]; then
        bytes="$(curl -fsS --max-time 10 -i "http://127.0.0.1:${PORT[ours]}${PATHS[$target]}" | wc -c)"
        start_floor "$SERVER_CPU" "$bytes" "floor-$target"
        PORT[floor.$target]="$FLOOR_PORT"
        PIDS[floor.$target]="$FLOOR_PID"
    fi
done

# Starts TRACER ($1) on the PIDs ($2, space-separated) writing to FILE ($3); sets
# TRACER_PID. strace -f -p attaches every thread of each process.
start_tracer() {
    local tracer="$1" pid_list="$2" file="$3" args=() pid
    case "$tracer" in
    strace)
        for pid in $pid_list; do args+=(-p "$pid"); done
        strace -c -f -o "$file" "${args[@]}" 2>"$file.err" &
        ;;
    perf)
        perf stat -x, -o "$file" "${PERF_EVENTS[@]}" -p "${pid_list// /,}" 2>"$file.err" &
        ;;
    *) die "TRACERS holds strace and perf, not $tracer" ;;
    esac
    TRACER_PID=$!
    track_pid "$TRACER_PID"
    # Both attach asynchronously; give them time to reach every thread.
    sleep 0.5
}

# --- runs --------------------------------------------------------------------------
ROWS=()
for target in $TARGETS; do
    for mode in $MODES; do
        client="$CLIENT" conns="$CONNECTIONS"
        if [[ "$mode" == close ]]; then
            client=loadgen conns="$CLOSE_CONNECTIONS"
        fi
        for server in $SERVERS; do
            key="$server"
            [[ "$server" == floor ]] && key="floor.$target"
            url="http://127.0.0.1:${PORT[$key]}${PATHS[$target]}"
            for tracer in $TRACERS; do
                log "$target $mode $server under $tracer: $client -c$conns ${DURATION}s"
                file="$WORKDIR/$tracer-$target-$mode-$server.out"
                start_tracer "$tracer" "${PIDS[$key]}" "$file"
                segs_before="$(tcp_counter OutSegs)"
                line="$(run_client "$client" "$mode" "$CLIENT_CPU" "$conns" "$DURATION" "$url")"
                segs=$(($(tcp_counter OutSegs) - segs_before))
                # SIGINT makes both detach and write their summary.
                kill -INT "$TRACER_PID"
                wait "$TRACER_PID" || true
                read -r rps _ _ requests errors _ <<<"$line"
                ((errors == 0)) || log "warning: $errors client errors in $target $mode $server under $tracer"
                counts="$(python3 "$ROOT/scripts/syscall_counts.py" "$tracer" "$file" "$requests")" \
                    || die "could not read $tracer's counts: $(cat "$file" "$file.err")"
                ROWS+=("| $target | $mode | $server | $client -c$conns | $tracer | $rps | $counts | $(fmt_ratio "$segs" "$requests") |")
            done
        done
    done
done

# --- report ------------------------------------------------------------------------
echo
machine_line
echo "$(strace -V | head -n1); perf $(perf version | awk '{print $3}'); clients with one thread;" \
    "${DURATION} s per run; servers on CPU $SERVER_CPU, client on CPU $CLIENT_CPU; zone $ZONE;" \
    "nginx tcp_nopush ${NGINX_TCP_NOPUSH:-on}."
echo
echo "| target | mode | server | client | tracer | req/s | syscalls/req | reads | sends | epoll_wait | setsockopt | accept | epoll_ctl | shutdown | close | other | failed (run) | EAGAIN reads (run) | TCP segments/req |"
echo "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A short load run (`make loadtest`) against a freshly started release server: one
# worker, plain HTTP on 127.0.0.1, rate limiter off. Uses loadgen when it is built,
# else wrk; prints the client's own report and the server's CPU time per request.
#
# Settings (environment): CLIENT=wrk|loadgen, DURATION=5, CONNECTIONS=64,
# TARGET_PATH (default a single-slot read), SKIP_BUILD=1, KEEP=1.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-64}"
TARGET_PATH="${TARGET_PATH:-/availability/slot?tz=Asia/Tokyo&day=2&time=14:00}"
CLIENT="$(pick_client)"

need curl:curl taskset:util-linux python3:python3
[[ "$CLIENT" == wrk ]] && need wrk:wrk
build_release
init_workdir

# Server and client on different cores when there are two.
SERVER_CPUS=0 CLIENT_CPUS=0
(($(nproc) > 1)) && CLIENT_CPUS=1
start_server "$SERVER_CPUS"
url="$SERVER_URL$TARGET_PATH"
curl -fsS --max-time 10 "$url" -o /dev/null || die "GET $url failed"

log "$CLIENT -t1 -c$CONNECTIONS -d${DURATION}s $url"
before="$(cpu_ticks "$SERVER_PID")"
case "$CLIENT" in
loadgen)
    taskset -c "$CLIENT_CPUS" "$LOADGEN_BIN" -t1 -c"$CONNECTIONS" -d"${DURATION}s" \
        --cpus "$CLIENT_CPUS" "$url" | tee "$WORKDIR/client.out"
    ;;
wrk)
    taskset -c "$CLIENT_CPUS" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$url" \
        | tee "$WORKDIR/client.out"
    ;;
*) die "CLIENT must be wrk or loadgen, not $CLIENT" ;;
esac
after="$(cpu_ticks "$SERVER_PID")"

# The request count from either report.
if [[ "$CLIENT" == wrk ]]; then
    requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORKDIR/client.out")"
else
    requests="$(python3 -c '
import re, sys
m = re.search(r"([0-9]+) requests", open(sys.argv[1]).read())
print(m.group(1) if m else "")' "$WORKDIR/client.out")"
fi
cpu_us=$(((after - before) * 1000000 / CLK_TCK))
echo
if [[ -n "$requests" && "$requests" -gt 0 ]]; then
    echo "server CPU: $((cpu_us / 1000)) ms for $requests requests =" \
        "$(python3 -c "print(f'{$cpu_us / $requests:.2f}')") µs/request (utime+stime, /proc/$SERVER_PID/stat)"
else
    echo "server CPU: $((cpu_us / 1000)) ms (request count not found in the client report)"
fi

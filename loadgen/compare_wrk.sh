#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of wrk vs loadgen against examples/fixed_server: server pinned to core 0,
# client to core 1, rounds alternate which client goes first so background noise hits
# both alike. Also prints
# each client's CPU time per request (user+sys from /usr/bin/time), which is far less
# sensitive to a busy machine than req/s.
# Usage: [LOADGEN_B=other/loadgen] [PORT=18080] loadgen/compare_wrk.sh [SECONDS] [ROUNDS] [CONNECTIONS]
# Installs wrk, curl and /usr/bin/time with apt when missing (as scripts/ do); needs
# release builds in ${CARGO_TARGET_DIR:-target} of the repository (any working directory):
#   cargo build --release -p loadgen --bin loadgen --example fixed_server
set -euo pipefail
# shellcheck source=../scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
cd "$ROOT"
need wrk:wrk curl:curl /usr/bin/time:time
secs=${1:-5}
rounds=${2:-3}
conns=${3:-64}
bin=${CARGO_TARGET_DIR:-target}/release
port=${PORT:-18080}
url=http://127.0.0.1:$port/
ratios=()

taskset -c 0 "$bin/examples/fixed_server" "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null && wait "$server" 2>/dev/null' EXIT
# Ready when it answers (a port already taken, or a missing build, fails here).
for _ in $(seq 50); do
    curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "fixed_server did not start (port $port taken?)" >&2; exit 1; }
    sleep 0.1
done
curl -fsS --max-time 1 -o /dev/null "$url" || { echo "fixed_server does not answer on $url" >&2; exit 1; }
# Whatever answered, it must be ours: a fixed_server that lost the port has exited.
sleep 0.2
kill -0 "$server" 2>/dev/null || { echo "fixed_server exited (port $port taken by another program?)" >&2; exit 1; }

# Runs a client under /usr/bin/time; prints "<req/s> <client CPU µs per request>".
measure() {
    local out cpu rps total
    out=$(/usr/bin/time -f 'CPU %U %S' "$@" 2>&1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    cpu=$(awk '/^CPU/ {print $2 + $3}' <<<"$out")
    total=$(awk -v r="$rps" -v s="$secs" 'BEGIN {print r * s}')
    awk -v r="$rps" -v c="$cpu" -v n="$total" 'BEGIN {printf "%10.0f req/s %6.2f µs CPU/req", r, (n > 0 ? c * 1e6 / n : 0)}'
}

echo "nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) kernel=$(uname -r)"
run_wrk() { measure taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" "$url"; }
run_loadgen() { measure taskset -c 1 "$1" -t1 -c"$conns" -d"${secs}s" --no-pin -q "$url"; }
# LOADGEN_B=path/to/another/loadgen adds a third client to each round (an A/B of two
# loadgen builds against the same server and wrk).
for round in $(seq "$rounds"); do
    if ((round % 2 == 1)); then
        w=$(run_wrk)
        l=$(run_loadgen "$bin/loadgen")
        [ -z "${LOADGEN_B:-}" ] || b=$(run_loadgen "$LOADGEN_B")
    else
        [ -z "${LOADGEN_B:-}" ] || b=$(run_loadgen "$LOADGEN_B")
        l=$(run_loadgen "$bin/loadgen")
        w=$(run_wrk)
    fi
    echo "round $round: wrk $w | loadgen $l${LOADGEN_B:+ | B $b} | load $(cut -d' ' -f1 /proc/loadavg)"
    # loadgen / wrk for this round: req/s, then client CPU per request.
    ratios+=("$(awk -v w="$w" -v l="$l" 'BEGIN {
        split(w, a, " "); split(l, b, " ");
        printf "%.4f %.4f", (a[1] > 0 ? b[1] / a[1] : 0), (a[3] > 0 ? b[3] / a[3] : 0) }')")
done
# The verdict (issue 3: loadgen within 10 % of wrk's throughput, or better): medians of
# the per-round ratios, so one noisy round cannot decide it.
printf '%s\n' "${ratios[@]}" | awk '
    { rps[NR] = $1; cpu[NR] = $2 }
    function median(v, n,   i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    END {
        printf "median of %d rounds, loadgen vs wrk: %+.0f %% req/s, %+.0f %% client CPU per request\n",
            NR, (median(rps, NR) - 1) * 100, (median(cpu, NR) - 1) * 100
    }'

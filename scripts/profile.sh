#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Where a server's CPU goes, in µs per request: perf samples of the server's core
# during a keep-alive load, grouped by syscall and by user-space symbol.
#
# The setting is compare.sh's keep-alive row: one server pinned to CPU $SERVER_CPU (0),
# `wrk -t1 -c$CONNECTIONS` pinned to CPU $CLIENT_CPU (1), 127.0.0.1 only. After one
# second of load, `perf record -e cpu-clock -C $SERVER_CPU -g` samples the server's
# core for $DURATION s (the VM has no hardware counters, so cpu-clock at $FREQ Hz).
# Each sample stands for 1/$FREQ s of CPU; divided by the requests answered in the
# same window it gives µs per request, so two servers can be compared term by term
# (`SERVER=floor` is loadgen's fixed_server: the kernel's TCP path alone).
#
# Settings (environment):
#   SERVER=ours|floor|nginx  TARGET=slot|week  DURATION=8  FREQ=2999  CONNECTIONS=64
#   TOP=25 (symbols listed)  SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1 KEEP=1 (keep perf.data)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVER="${SERVER:-ours}"
TARGET="${TARGET:-slot}"
DURATION="${DURATION:-8}"
FREQ="${FREQ:-2999}"
CONNECTIONS="${CONNECTIONS:-64}"
TOP="${TOP:-25}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
define_bench_paths # sets ZONE and PATHS (slot, week)
[[ -n "${PATHS[$TARGET]:-}" ]] || die "TARGET must be slot or week"

need wrk:wrk perf:linux-perf curl:curl taskset:util-linux python3:python3
[[ "$SERVER" == nginx ]] && need nginx:nginx
build_release
if [[ "$SERVER" == floor && "${SKIP_BUILD:-0}" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -q -p loadgen --example fixed_server)
fi
init_workdir

declare -A PIDS=()
case "$SERVER" in
ours)
    start_server "$SERVER_CPU"
    url="$SERVER_URL${PATHS[$TARGET]}"
    ;;
nginx)
    start_ours_and_nginx "$SERVER_CPU"
    # Only nginx may run on the sampled core during the window.
    kill -TERM "${PIDS[ours]}"
    wait "${PIDS[ours]}" 2>/dev/null || true
    url="http://127.0.0.1:$NGINX_PORT${PATHS[$TARGET]}"
    ;;
floor)
    # The floor's response is as long as ours: measure ours once, then stop it.
    start_server "$SERVER_CPU"
    total="$(curl -fsS --max-time 10 -i "$SERVER_URL${PATHS[$TARGET]}" | wc -c)"
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    start_floor "$SERVER_CPU" "$total"
    url="http://127.0.0.1:$FLOOR_PORT${PATHS[$TARGET]}"
    ;;
*) die "SERVER must be ours, floor or nginx" ;;
esac

log "$SERVER $TARGET: wrk -c$CONNECTIONS for $((DURATION + 2)) s, perf on CPU $SERVER_CPU for $DURATION s"
wrk_out="$WORKDIR/wrk.out"
taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$((DURATION + 2))s" "$url" >"$wrk_out" 2>&1 &
wrk_pid=$!
track_pid "$wrk_pid"
sleep 1
perf record -q -e cpu-clock -F "$FREQ" -g -C "$SERVER_CPU" -o "$WORKDIR/perf.data" \
    -- sleep "$DURATION" 2>"$WORKDIR/perf.err" || die "perf record failed: $(cat "$WORKDIR/perf.err")"
wait "$wrk_pid" || die "wrk failed: $(cat "$wrk_out")"
rps="$(sed -n 's/^Requests\/sec:\s*//p' "$wrk_out")"
[[ -n "$rps" ]] || die "no rate in wrk's output: $(cat "$wrk_out")"

perf script -i "$WORKDIR/perf.data" -F comm,ip,sym,dso 2>/dev/null >"$WORKDIR/samples.txt"
python3 - "$WORKDIR/samples.txt" "$FREQ" "$rps" "$DURATION" "$TOP" "$SERVER_CPU" <<'PY'
import collections, re, sys
path, freq, rps, secs, top, cpu = sys.argv[1], *map(float, sys.argv[2:5]), int(sys.argv[5]), sys.argv[6]
requests = rps * secs
def us(n):  # samples -> µs of CPU per request
    return 1e6 * n / freq / requests
frame = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)$")
by_place, by_user = collections.Counter(), collections.Counter()
samples = []
comm, stack = None, []
for line in open(path):
    if not line.strip():
        if comm is not None and stack:
            samples.append((comm, stack))
        comm, stack = None, []
    elif m := frame.match(line):
        stack.append((re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)), m.group(2)))
    else:
        comm = line.split()[0]
if comm is not None and stack:
    samples.append((comm, stack))
for comm, stack in samples:
    leaf_sym, leaf_dso = stack[0]
    if comm == "swapper":
        by_place["idle (swapper)"] += 1
    elif not leaf_dso.startswith("[kernel"):
        by_place["user: " + leaf_dso.rsplit("/", 1)[-1]] += 1
        by_user[leaf_sym] += 1
    else:
        # The frame just below do_syscall_64 names the syscall (do_writev, __sys_recvfrom…).
        names = [s for s, _ in stack]
        call = names[names.index("do_syscall_64") - 1] if "do_syscall_64" in names[1:] else None
        by_place["kernel: " + (call or "not in a syscall (irq, softirq, scheduler)")] += 1
idle = by_place.pop("idle (swapper)", 0)
busy = max(len(samples) - idle, 1)
print(f"{requests:.0f} requests in the {secs:.0f} s window ({rps:.0f}/s); {len(samples)} samples at {freq:.0f} Hz")
print(f"CPU {cpu}: {us(len(samples)):.2f} µs per request, {us(busy):.2f} µs of it busy (not idle)\n")
print("| where | µs/request | % of busy |\n|---|---:|---:|")
for k, n in by_place.most_common():
    print(f"| {k} | {us(n):.3f} | {100 * n / busy:.1f} |")
print(f"\nTop {top} user-space symbols:\n\n| symbol | µs/request |\n|---|---:|")
for k, n in by_user.most_common(top):
    print(f"| `{k[:100]}` | {us(n):.3f} |")
PY
echo
machine_line
echo "SERVER=$SERVER TARGET=$TARGET DURATION=$DURATION FREQ=$FREQ CONNECTIONS=$CONNECTIONS ./scripts/profile.sh"
[[ "${KEEP:-0}" == 1 ]] && log "perf data: $WORKDIR/perf.data"
true

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Slow HTTP attacks with slowhttptest against a freshly started release server (plain
# HTTP and the admin listener on 127.0.0.1, a fresh data directory, rate limiter off):
#   headers  slowhttptest -H (slowloris): request heads that never end (head timeout)
#   body     slowhttptest -B (R-U-Dead-Yet): PATCH /availability whose 8 KiB body
#            trickles in (body timeout; every refusal, 401 included, comes only after
#            the body, so the server really waits for it)
#   read     slowhttptest -X (slow read): 3 pipelined GET /availability (~23 KB each)
#            read through a 512-1024 byte receive window (write path)
#            (on loopback the 69 KB fit in the kernel's send queue: the server's write
#            ends at once and the connection idles, closed by the 60 s idle timeout)
# During each attack a separate client opens a new connection every 0.5 s for
# GET /availability/slot?day=0&slot=0 (2 s deadline) and records its latency and answer.
# Prints per mode: slowhttptest's verdict, the probes (count, failures, median and max
# latency) and the server's /metrics counters (timeouts by phase, buffer reclaims,
# open connections) before and after. Exits 1 if a probe failed or the server died.
#
#   usage: scripts/slowhttp.sh
# Settings (environment): DURATION=30 (seconds per attack, slowhttptest -l),
# CONNECTIONS=3000 (per attack: above the 2 x 1,024 I/O buffers of two workers, far
# below --max-connections 16384), RATE=300 (new connections per second),
# MODES="headers body read", RATE_LIMIT=1 (keep the default rate limiter on),
# SERVER_WORKERS (default: the server's, one per CPU), MAX_CONNECTIONS (the server's
# --max-connections, default 16384; below CONNECTIONS the attacks fill the cap, and
# the probe needs a newcomer to take a quiet or stalled connection's slot),
# SKIP_BUILD=1, KEEP=1.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-30}"
CONNECTIONS="${CONNECTIONS:-3000}"
RATE="${RATE:-300}"
MODES="${MODES:-headers body read}"
RATE_LIMIT="${RATE_LIMIT:-0}"
PROBE_PATH="/availability/slot?day=0&slot=0"

need slowhttptest:slowhttptest curl:curl python3:python3
build_release
[[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN is missing"
init_workdir
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= CONNECTIONS + 256)) || die "ulimit -n $(ulimit -Hn) is too low for $CONNECTIONS connections"

# Starts the server; sets SERVER_PID, SERVER_URL and ADMIN_URL.
start_target() {
    local data="$WORKDIR/server-data" out="$WORKDIR/server.out" limit=(--rate-limit-burst 0 --rate-limit-per-s 0)
    local workers=() cap=()
    [[ "$RATE_LIMIT" == 1 ]] && limit=()
    [[ -n "${SERVER_WORKERS:-}" ]] && workers=(--workers "$SERVER_WORKERS")
    [[ -n "${MAX_CONNECTIONS:-}" ]] && cap=(--max-connections "$MAX_CONNECTIONS")
    mkdir -p "$data"
    : >"$out"
    API_KEY="slowhttp-key-not-secret-0123456789" "$SERVER_BIN" --data-dir "$data" --no-tls \
        --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --bcrypt-cost 4 \
        "${limit[@]}" "${workers[@]}" "${cap[@]}" >"$out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_listening "$out" "$SERVER_PID" http admin
    SERVER_URL="http://$(listening_addr "$out" http)"
    ADMIN_URL="http://$(listening_addr "$out" admin)"
    wait_http_ok "$SERVER_URL$PROBE_PATH" 10 "$SERVER_PID" "$out"
}

# The probe: a new connection every 0.5 s until SIGTERM, one line per probe
# "elapsed_s latency_ms ok|FAIL detail"; every second also the open connections from
# /metrics ("open N"), for the peak.
cat >"$WORKDIR/probe.py" <<'EOF'
import signal, socket, sys, time
host, port, path, admin_port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

def get(port, path, limit_s):
    deadline = time.monotonic() + limit_s
    with socket.create_connection((host, port), timeout=limit_s) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no full answer within {limit_s} s ({len(data)} bytes)")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk

start = time.monotonic()
next_at = start
with open(out, "w", buffering=1) as f:
    n = 0
    while True:
        t0 = time.monotonic()
        try:
            answer = get(port, path, 2.0)
            ok = answer.startswith(b"HTTP/1.1 200") and b'"status"' in answer
            detail = "" if ok else repr(answer[:40])
        except Exception as e:
            ok, detail = False, f"{type(e).__name__}: {e}"
        ms = (time.monotonic() - t0) * 1000
        f.write(f"{t0 - start:.2f} {ms:.1f} {'ok' if ok else 'FAIL'} {detail}\n")
        n += 1
        if n % 2 == 0:
            try:
                text = get(admin_port, "/metrics", 1.0).decode(errors="replace")
                total = sum(int(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                            if l.startswith("availability_connections_open{"))
                f.write(f"open {total}\n")
            except Exception:
                pass
        next_at += 0.5
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at, time.monotonic() - 0.5)
EOF

# msum FILE REGEX: the sum of the values of the metric lines matching REGEX.
msum() { awk -v re="$2" '$0 ~ re { s += $NF } END { printf "%d\n", s }' "$1"; }

# Open connections on the server, from /metrics.
open_now() {
    curl -fsS --max-time 2 "$ADMIN_URL/metrics" -o "$WORKDIR/now.prom" 2>/dev/null || { echo -1; return; }
    msum "$WORKDIR/now.prom" '^availability_connections_open[{]'
}

PHASES=(fresh idle head body write awaiting)
ROWS=()
DETAILS=()
FAILED=0

# run_mode NAME SLOWHTTPTEST_ARGS...
run_mode() {
    local name="$1"
    shift
    local before="$WORKDIR/$name.before.prom" after="$WORKDIR/$name.after.prom"
    local probes="$WORKDIR/$name.probes" sout="$WORKDIR/$name.slowhttptest"
    # Start from a quiet server: the previous attack's connections gone.
    local deadline=$((SECONDS + 20))
    while (($(open_now) > 1)) && ((SECONDS < deadline)); do sleep 0.5; done
    curl -fsS --max-time 5 "$ADMIN_URL/metrics" -o "$before" || die "$name: no /metrics before"
    local port="${SERVER_URL##*:}" admin_port="${ADMIN_URL##*:}"
    python3 "$WORKDIR/probe.py" 127.0.0.1 "$port" "$PROBE_PATH" "$admin_port" "$probes" &
    local probe=$!
    track_pid "$probe"
    log "$name: slowhttptest $*"
    timeout --kill-after=5 $((DURATION + 30)) slowhttptest "$@" -c "$CONNECTIONS" -r "$RATE" \
        -l "$DURATION" -p 2 >"$sout" 2>&1 &
    local attack=$! rc=0
    track_pid "$attack"
    wait "$attack" || rc=$?
    sleep 1 # the closes of the attack's connections reach the server
    kill -TERM "$probe" 2>/dev/null || true
    wait "$probe" 2>/dev/null || true
    local alive=yes
    kill -0 "$SERVER_PID" 2>/dev/null || alive=NO
    if [[ "$alive" == yes ]]; then
        curl -fsS --max-time 5 "$ADMIN_URL/metrics" -o "$after" || : >"$after"
    else
        : >"$after"
        FAILED=1
    fi

    # slowhttptest's verdict: its periodic "service available" lines and the exit status.
    local plain="$WORKDIR/$name.plain" yes no status peak_conn
    sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$sout" >"$plain"
    yes="$(grep -c 'service available:.*YES' "$plain" || true)"
    no="$(grep -c 'service available:.*NO' "$plain" || true)"
    status="$(sed -n 's/^Exit status: *//p' "$plain" | tail -n1)"
    [[ -n "$status" ]] || status="(none; rc $rc)"
    peak_conn="$(awk '/^connected:/ { if ($2 > m) m = $2 } END { print m + 0 }' "$plain")"

    # The probes.
    local stats
    stats="$(python3 - "$probes" <<'EOF'
import statistics, sys
lat, fails, opens, first_fail = [], 0, [], ""
for line in open(sys.argv[1]):
    parts = line.split(" ", 3)
    if parts[0] == "open":
        opens.append(int(parts[1])); continue
    lat.append(float(parts[1]))
    if parts[2].strip() != "ok":
        fails += 1
        first_fail = first_fail or line.strip()
print(len(lat), fails, f"{statistics.median(lat):.1f}" if lat else "n/a",
      f"{max(lat):.1f}" if lat else "n/a", max(opens) if opens else "n/a", first_fail)
EOF
)"
    local n fails med max peak_open first_fail
    read -r n fails med max peak_open first_fail <<<"$stats"
    ((n > 0 && fails == 0)) || FAILED=1

    local phases="" phase d
    for phase in "${PHASES[@]}"; do
        d=$(($(msum "$after" "^availability_timeouts_total[{].*phase=\"$phase\"") -
            $(msum "$before" "^availability_timeouts_total[{].*phase=\"$phase\"")))
        ((d == 0)) || phases+="${phases:+ }$phase +$d"
    done
    [[ -n "$phases" ]] || phases="none"
    local reclaims reuses r408 open_b open_a
    reclaims=$(($(msum "$after" '^availability_buffer_reclaims_total[{]') - $(msum "$before" '^availability_buffer_reclaims_total[{]')))
    reuses=$(($(msum "$after" '^availability_slot_reuses_total[{]') - $(msum "$before" '^availability_slot_reuses_total[{]')))
    r408=$(($(msum "$after" '^availability_responses_total[{].*status="408"') - $(msum "$before" '^availability_responses_total[{].*status="408"')))
    open_b="$(msum "$before" '^availability_connections_open[{]')"
    open_a="$(msum "$after" '^availability_connections_open[{]')"
    ROWS+=("| $name | YES $yes / NO $no; $status | $peak_conn | $n | $fails | $med | $max | $open_b -> $peak_open -> $open_a | $phases | $r408 | $reclaims | $reuses | $alive |")
    [[ -z "$first_fail" ]] || DETAILS+=("$name: first failed probe: $first_fail")
    log "$name: done (probes $n, failures $fails, max ${max} ms)"
}

start_target
log "server pid $SERVER_PID, $SERVER_URL, admin $ADMIN_URL, rate limiter $([[ "$RATE_LIMIT" == 1 ]] && echo on || echo off)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $MODES; do
    kill -0 "$SERVER_PID" 2>/dev/null || { FAILED=1; break; }
    case "$mode" in
    headers) run_mode headers -H -i 2 -x 24 -u "$SERVER_URL/availability" ;;
    body) run_mode body -B -t PATCH -s 8192 -i 2 -x 10 -f application/json -u "$SERVER_URL/availability" ;;
    read) run_mode read -X -k 3 -w 512 -y 1024 -n 3 -z 32 -u "$SERVER_URL/availability" ;;
    *) die "unknown mode $mode (headers, body, read)" ;;
    esac
done

echo
echo "Slow HTTP attacks (slowhttptest -c $CONNECTIONS -r $RATE -l $DURATION) on availability-server," \
    "$(nproc) CPUs, rate limiter $([[ "$RATE_LIMIT" == 1 ]] && echo on || echo off)," \
    "--max-connections ${MAX_CONNECTIONS:-16384 (default)};" \
    "probe: GET $PROBE_PATH every 0.5 s, new connection, 2 s deadline."
echo
echo "| mode | slowhttptest verdict | peak connected | probes | failed | median ms | max ms | open conns before -> peak -> after | timeouts (phase +N) | 408s | buffer reclaims | slot reuses | server alive |"
echo "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
((${#DETAILS[@]} == 0)) || printf '%s\n' "${DETAILS[@]}"
machine_line
if kill -0 "$SERVER_PID" 2>/dev/null; then
    grep -i 'panic' "$WORKDIR/server.out" && FAILED=1
else
    echo "server process died:"
    tail -n 20 "$WORKDIR/server.out"
    FAILED=1
fi
if ((FAILED)); then
    echo "FAILED: a probe failed or the server died"
    exit 1
fi
echo "OK: every probe answered 200 within 2 s and the server survived"

#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Memory cost of idle keep-alive connections: opens $CONNECTIONS (10,000) connections,
# sends one request on each and reads its answer (so every connection sits in the
# keep-alive idle state, not the header-timeout one), then compares the server's RSS
# (VmRSS) with its RSS before. Then does the same against nginx (IDLE_NGINX=0 skips it).
#
# Settings (environment): CONNECTIONS=10000, SETTLE_S=2 (pause before reading RSS),
# SKIP_BUILD=1, KEEP=1.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONNECTIONS="${CONNECTIONS:-10000}"
SETTLE_S="${SETTLE_S:-2}"
IDLE_NGINX="${IDLE_NGINX:-1}"

need curl:curl taskset:util-linux python3:python3
[[ "$IDLE_NGINX" == 1 ]] && need nginx:nginx
build_release
init_workdir

# Each side needs one descriptor per connection plus a few.
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= CONNECTIONS + 64)) || die "ulimit -n $(ulimit -Hn) is too low for $CONNECTIONS connections"

# Opens the connections, one GET each, reads every answer, prints "ready N" and holds
# them until killed (at most 300 s).
cat >"$WORKDIR/idle_client.py" <<'EOF'
import resource, selectors, socket, sys, time
host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
sel = selectors.DefaultSelector()
socks, pending = [], {}
for _ in range(count):
    s = socket.create_connection((host, port))
    s.sendall(request)
    socks.append(s)
    s.setblocking(False)
    pending[s] = b""
    sel.register(s, selectors.EVENT_READ)
deadline = time.monotonic() + 60
while pending and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        s = key.fileobj
        data = s.recv(65536)
        if not data:
            sys.exit(f"connection closed early after {len(socks) - len(pending)} answers")
        buf = pending[s] + data
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            length = 0
            for line in buf[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(buf) >= head_end + 4 + length:
                if not buf.startswith(b"HTTP/1.1 200"):
                    sys.exit(f"unexpected answer: {buf[:40]!r}")
                sel.unregister(s)
                del pending[s]
                continue
        pending[s] = buf
if pending:
    sys.exit(f"{len(pending)} answers missing")
print("ready", len(socks), flush=True)
time.sleep(300)
EOF

# measure LABEL PORT PID... : appends one Markdown table row to ROWS.
measure() {
    local label="$1" port="$2"
    shift 2
    local pids=("$@") out="$WORKDIR/idle-$label.out" before after pid
    sleep "$SETTLE_S"
    before=0
    for pid in "${pids[@]}"; do before=$((before + $(rss_bytes "$pid"))); done
    : >"$out"
    taskset -c 1 python3 "$WORKDIR/idle_client.py" 127.0.0.1 "$port" /health "$CONNECTIONS" >"$out" 2>&1 &
    local client=$!
    track_pid "$client"
    local deadline=$((SECONDS + 90))
    until grep -q '^ready' "$out"; do
        kill -0 "$client" 2>/dev/null || die "$label client failed: $(cat "$out")"
        ((SECONDS < deadline)) || die "$label client not ready after 90 s"
        sleep 0.2
    done
    sleep "$SETTLE_S"
    after=0
    for pid in "${pids[@]}"; do after=$((after + $(rss_bytes "$pid"))); done
    kill "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    local per=$(((after - before) / CONNECTIONS))
    log "$label: RSS $before -> $after bytes"
    ROWS+=("$(printf '| %s | %d | %.1f | %.1f | %.2f | %d |' "$label" "$CONNECTIONS" \
        "$(python3 -c "print($before / 1048576)")" "$(python3 -c "print($after / 1048576)")" \
        "$(python3 -c "print(($after - $before) / 1048576)")" "$per")")
}

ROWS=()
# The connection table is allocated (and touched) at start, so it costs RSS before any
# connection arrives: compare the start-up RSS for two table sizes to show that part.
start_server 0 --max-connections 1000
sleep "$SETTLE_S"
small_rss="$(rss_bytes "$SERVER_PID")"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
start_server 0 --max-connections 20000 --idle-timeout-ms 600000 --header-timeout-ms 600000
measure availability-server "${SERVER_URL##*:}" "$SERVER_PID"
big_rss="$(rss_bytes "$SERVER_PID")"
if [[ "$IDLE_NGINX" == 1 ]]; then
    mkdir -p "$WORKDIR/www"
    printf '{"status":"ok"}' >"$WORKDIR/www/health.json"
    chmod -R a+rX "$WORKDIR/www"
    port="$(free_port)"
    start_nginx 0 "$WORKDIR/www" "$port"
    measure "nginx (master+worker)" "$port" "${NGINX_PIDS[@]}"
fi

echo
echo "Idle keep-alive connections, one GET /health answered on each first; RSS = VmRSS."
echo
echo "| server | connections | RSS before MiB | RSS after MiB | added MiB | bytes/connection |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "availability-server start-up RSS (idle, after the test for 20000): --max-connections 1000:" \
    "$((small_rss / 1024)) KiB, 20000: $((big_rss / 1024)) KiB ->" \
    "$(((big_rss - small_rss) / 19000)) bytes per preallocated connection slot."

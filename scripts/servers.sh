# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the scripts that source common.sh
# shellcheck disable=SC2153,SC2154 # globals (SERVER_BIN, PIDS, ...) are common.sh's
# Starting the servers a benchmark compares: ours (start_server), the floor
# (start_floor), nginx (start_nginx), and the answers they serve. Sourced by common.sh.

# Starts the release server on 127.0.0.1 with one worker ($SERVER_WORKERS), TLS, admin and the rate
# limiter off, pinned with `taskset -c $1`; extra flags follow. Sets SERVER_PID and
# SERVER_URL (http://127.0.0.1:PORT). The port is chosen by the kernel and read back
# from the server's "http listening on ADDR" line.
# When the extra flags include --tls-cert (and --tls-key), TLS stays on instead: the
# HTTPS listener is 127.0.0.1:0 too, read back from "https listening on ADDR" into
# SERVER_HTTPS_URL (https://127.0.0.1:PORT); the plain listener is still there.
start_server() {
    local cpus="$1"
    shift
    [[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN is missing: run 'make release' first"
    # SERVER_WORKDIR: where this server keeps its data and output ($WORKDIR by default;
    # a script running two servers gives each its own).
    local data="${SERVER_WORKDIR:-$WORKDIR}/server-data" out="${SERVER_WORKDIR:-$WORKDIR}/server.out"
    mkdir -p "${SERVER_WORKDIR:-$WORKDIR}"
    mkdir -p "$data"
    : >"$out" # exists before the background start opens it, for the polling below
    local tls_flags=(--no-tls) arg
    for arg in "$@"; do
        [[ "$arg" == --tls-cert || "$arg" == --tls-cert=* ]] && tls_flags=(--listen 127.0.0.1:0)
    done
    # A fixed key and the cheapest bcrypt cost: start-up is not what is measured here.
    API_KEY="bench-key-not-secret-0123456789" AVAILABILITY_RATE_LIMIT_BURST=0 \
        taskset -c "$cpus" "$SERVER_BIN" --data-dir "$data" --workers "${SERVER_WORKERS:-1}" "${tls_flags[@]}" \
        --http-listen 127.0.0.1:0 --admin-listen off --rate-limit-burst 0 \
        --rate-limit-per-s 0 --bcrypt-cost 4 --home-tz America/New_York "$@" \
        >"$out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    local addr="" deadline=$((SECONDS + 15))
    while [[ -z "$addr" ]]; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited: $(cat "$out")"
        ((SECONDS < deadline)) || die "server did not report its address: $(cat "$out")"
        addr="$(sed -n 's/^http listening on //p' "$out")"
        [[ -n "$addr" ]] || sleep 0.05
    done
    SERVER_URL="http://$addr"
    SERVER_HTTPS_URL=""
    if [[ "${tls_flags[0]}" != --no-tls ]]; then
        # "https listening on" is printed before the http line, so it is there by now.
        addr="$(sed -n 's/^https listening on //p' "$out")"
        [[ -n "$addr" ]] || die "server did not report its https address: $(cat "$out")"
        SERVER_HTTPS_URL="https://$addr"
    fi
    wait_http_ok "$SERVER_URL/health"
}

# Starts the floor (FLOOR_BIN: a bare mio loop answering every request head with fixed
# bytes) pinned with `taskset -c $1`, its whole response ($2 bytes: head + body) as long
# as ours, so that it pays the same kernel path. Sets FLOOR_PORT and FLOOR_PID.
#   start_floor CPUS TOTAL_BYTES [LOG_NAME]
start_floor() {
    local cpus="$1" total="$2" name="${3:-floor}" body
    [[ -x "$FLOOR_BIN" ]] || die "$FLOOR_BIN is missing (cargo build --release -p loadgen --example fixed_server)"
    body="$(python3 -c "
for body in range($total, 0, -1):
    head = f'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\n\r\n'
    if len(head) + body <= $total:
        print(body); break")"
    FLOOR_PORT="$(free_port)"
    taskset -c "$cpus" "$FLOOR_BIN" "127.0.0.1:$FLOOR_PORT" "$body" 2>"$WORKDIR/$name.err" &
    FLOOR_PID=$!
    track_pid "$FLOOR_PID"
    wait_http_ok "http://127.0.0.1:$FLOOR_PORT/"
}

# Starts nginx serving directory $2 on 127.0.0.1:$3, pinned with `taskset -c $1`:
# one worker, sendfile, open_file_cache, no access log, reuseport, huge keepalive_requests.
# Its own prefix and config under $WORKDIR; the system nginx config is never read.
# Requests for /availability and /availability/slot (any query) get week.json and
# slot.json, so both servers see the very same request bytes.
# Sets NGINX_PID (master, a child of this shell) and NGINX_PIDS (master and worker).
#   start_nginx CPUS WWW PORT [TLS_PORT CERT KEY [SESSION_DIRECTIVES]]
# With TLS_PORT the same server also listens with ssl on 127.0.0.1:TLS_PORT, with CERT
# and KEY, TLS 1.2 and 1.3, the suites and classical groups rustls offers, client
# order, and SESSION_DIRECTIVES (default: "ssl_session_cache shared:SSL:1m;
# ssl_session_tickets off;", a stateful cache like availability-server's). GET /tlsinfo
# on that server answers 204 and logs "$ssl_protocol $ssl_cipher $ssl_curve" of the
# connection to $NGINX_TLSINFO_LOG.
start_nginx() {
    local cpus="$1" www="$2" port="$3" prefix="$WORKDIR/nginx"
    local tls_port="${4:-}" tls_http="" tls_server=""
    mkdir -p "$prefix/logs" "$prefix/tmp"
    NGINX_TLSINFO_LOG="$prefix/logs/tlsinfo.log"
    if [[ -n "$tls_port" ]]; then
        local cert="${5:?start_nginx: TLS_PORT needs CERT}" key="${6:?start_nginx: TLS_PORT needs KEY}"
        local session="${7:-ssl_session_cache shared:SSL:1m; ssl_session_tickets off;}"
        tls_http="log_format tlsinfo '\$ssl_protocol \$ssl_cipher \$ssl_curve';"
        tls_server="listen 127.0.0.1:$tls_port ssl reuseport backlog=4096;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
        $session
        location = /tlsinfo { access_log $NGINX_TLSINFO_LOG tlsinfo; return 204; }"
    fi
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 20000; }
worker_rlimit_nofile 20000;
http {
    access_log off;
    sendfile ${NGINX_SENDFILE:-on};
    # Whichever of nginx's own choices is cheaper where it runs, so that the comparison
    # is against its best: tcp_nopush corks around each response (two setsockopt calls,
    # one segment per week answer instead of two). On the Intel VM of BENCHMARKS.md it
    # saves nginx about 1 µs per request (slot and week); on the earlier AMD VM "off" was
    # cheaper. But "on" stalls nginx on pipelined requests (21k req/s, 27 ms p50 here),
    # so pipelined rows are fair only with NGINX_TCP_NOPUSH=off. NGINX_SENDFILE=off
    # measures nginx without sendfile.
    tcp_nopush ${NGINX_TCP_NOPUSH:-on};
    tcp_nodelay on;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    server_tokens off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    $tls_http
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        $tls_server
        default_type application/json;
        location = /availability { alias $www/week.json; }
        location = /availability/slot { alias $www/slot.json; }
        location = /health { alias $www/health.json; }
    }
}
EOF
    taskset -c "$cpus" nginx -p "$prefix/" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" &
    NGINX_PID=$!
    track_pid "$NGINX_PID"
    wait_http_ok "http://127.0.0.1:$port/health" 10 "$NGINX_PID" "$prefix/logs/error.log"
    local worker
    worker="$(pgrep -P "$NGINX_PID" | head -n1)"
    [[ -n "$worker" ]] || die "nginx worker not found"
    NGINX_PIDS=("$NGINX_PID" "$worker")
}

# The URLs every comparison uses: sets ZONE and the associative array PATHS (slot: one
# slot, week: the full week, both converted to $ZONE).
define_bench_paths() {
    ZONE="Asia/Kolkata"
    declare -gA PATHS=(
        [slot]="/availability/slot?tz=$ZONE&day=2&time=14:00"
        [week]="/availability?tz=$ZONE"
    )
}

# Saves our server's answers as the static files start_nginx serves:
#   save_answers DIR BASE_URL SLOT_PATH WEEK_PATH
# writes DIR/slot.json, DIR/week.json and DIR/health.json, readable by nginx's workers.
save_answers() {
    local www="$1" base="$2" slot="$3" week="$4"
    mkdir -p "$www"
    curl -fsS --max-time 10 "$base$week" -o "$www/week.json"
    curl -fsS --max-time 10 "$base$slot" -o "$www/slot.json"
    printf '{"status":"ok"}' >"$www/health.json"
    chmod -R a+rX "$www"
}

# Dies unless `curl URL` (extra curl flags after FILE, e.g. -k) returns FILE's bytes.
check_same_body() {
    local url="$1" file="$2"
    shift 2
    curl -fsS --max-time 10 "$@" "$url" -o "$WORKDIR/check.body" || die "GET $url failed"
    cmp -s "$WORKDIR/check.body" "$file" || die "$url serves a different body than $file"
}

# Starts availability-server (start_server with the flags in the OURS_FLAGS array, if
# set) and an nginx serving its slot and week answers as static files from
# $WORKDIR/www, both pinned to CPU $1; further arguments go to start_nginx after
# "CPU WWW PORT". Sets WWW, NGINX_PORT, PIDS[ours] and PIDS[nginx] (the caller declares
# `-A PIDS`), and SERVER_URL / SERVER_HTTPS_URL as start_server does.
start_ours_and_nginx() {
    local cpu="$1"
    shift
    start_server "$cpu" "${OURS_FLAGS[@]}"
    PIDS[ours]="$SERVER_PID"
    WWW="$WORKDIR/www"
    save_answers "$WWW" "$SERVER_URL" "${PATHS[slot]}" "${PATHS[week]}"
    NGINX_PORT="$(free_port)"
    start_nginx "$cpu" "$WWW" "$NGINX_PORT" "$@"
    PIDS[nginx]="${NGINX_PIDS[*]}"
}

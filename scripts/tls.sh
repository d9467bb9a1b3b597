#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Server CPU per request over TLS: availability-server (rustls, aws-lc-rs) vs nginx (OpenSSL).
#
# What it measures (issue 3: "over TLS, both with an ECDSA P-256 certificate, nginx with
# its OpenSSL, server CPU per request ≤ nginx's"). One self-signed ECDSA P-256
# certificate and key (openssl ecparam -name prime256v1 + openssl req -x509, SAN
# localhost and 127.0.0.1) are generated in the work directory and given to both:
# ours via --tls-cert/--tls-key (HTTPS on 127.0.0.1, one worker, rate limiter off), nginx
# with `listen … ssl reuseport`, TLS 1.2 and 1.3, the suites and groups rustls offers,
# client order, no kTLS, $NGINX_SESSION (default: a shared stateful session cache and
# no stateless tickets, like ours, whose rustls keeps a 4096-entry in-memory cache) and
# otherwise compare.sh's settings (one worker, our answers as static files, keep-alive).
# Both pinned to CPU $SERVER_CPU, loadgen (one thread, rustls/aws-lc-rs, --insecure, which
# still checks handshake signatures) to CPU $CLIENT_CPU; 127.0.0.1 only.
# Modes ($MODES):
#   keepalive  -c$CONNECTIONS, handshakes amortised over the whole run: the goal's figure
#   close      a new TLS connection per request (--close --no-tls-resume, -c$CLOSE_CONNECTIONS):
#              every request pays a full handshake (ECDHE + an ECDSA P-256 signature)
#   resume     (not run by default) like close but loadgen resumes sessions
#              (TLS 1.3 PSK), so it measures the abbreviated handshake
# For each target (slot, week; compare.sh's URLs) and mode, $REPEAT runs per server,
# interleaved (the first server alternates), $DURATION s each; the row is the run with
# the median server CPU per request (range of all runs in brackets).
# Before the runs it prints what each side negotiates: `openssl s_client` once against
# each, offering what rustls offers (TLS 1.3 suites in rustls' order, X25519 first), and
# what loadgen itself negotiated with nginx (nginx logs it for GET /tlsinfo).
#
# How to read it: "server CPU µs/req" (utime+stime from /proc/PID/stat before and after,
# nginx counting master + worker) is the figure to quote; "CPU vs nginx" is ours/nginx,
# and the goal is ≤ 1.00 on the keepalive rows. req/s and latency depend on the client:
# when "client CPU %" (loadgen's own user+sys time over the run) is near 100, loadgen's
# TLS is the bottleneck and both servers are partly idle — CPU per request still
# compares them. ⚠ marks runs where the server core was busier than the server by more
# than 15 points (something else ran there): rerun those on a quieter machine.
#
# Settings (environment):
#   DURATION=10          seconds per run
#   REPEAT=3             runs per server and row, interleaved; the median is shown
#   MODES="keepalive close"   (also: resume)
#   TARGETS="slot week"  CONNECTIONS=64  CLOSE_CONNECTIONS=16
#   NGINX_SESSION="ssl_session_cache shared:SSL:1m; ssl_session_tickets off;"
#                        nginx's session directives (e.g. "ssl_session_cache off;" to
#                        keep no sessions at all)
#   WARMUP=1             seconds of unmeasured keep-alive load per server before the runs (0: none)
#   TLS_GROUPS=X25519    key exchange groups loadgen offers (its --tls-groups). X25519
#                        by default, so both servers do the same key exchange: nginx's
#                        OpenSSL 3.0 has no post-quantum group, and ours would pick the
#                        X25519MLKEM768 hybrid that loadgen (like a browser) offers first.
#                        "default": loadgen's own list — ours then does the hybrid,
#                        nginx X25519, which is what such clients get from each.
#   SERVER_CPU=0 CLIENT_CPU=1 SKIP_BUILD=1 KEEP=1 (keep the work dir, with the certificate)
# Bounded: about TARGETS × MODES × 2 × REPEAT × DURATION seconds plus start-up; loadgen's
# -d bounds each run, every process started is stopped by PID on exit.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
MODES="${MODES:-keepalive close}"
TARGETS="${TARGETS:-slot week}"
CONNECTIONS="${CONNECTIONS:-64}"
CLOSE_CONNECTIONS="${CLOSE_CONNECTIONS:-16}"
NGINX_SESSION="${NGINX_SESSION:-ssl_session_cache shared:SSL:1m; ssl_session_tickets off;}"
WARMUP="${WARMUP:-1}"
TLS_GROUPS="${TLS_GROUPS:-X25519}"
GROUP_FLAGS=()
[[ "$TLS_GROUPS" == default ]] || GROUP_FLAGS=(--tls-groups "$TLS_GROUPS")
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"

need nginx:nginx curl:curl taskset:util-linux python3:python3 openssl:openssl
build_release
[[ -x "$LOADGEN_BIN" ]] || die "$LOADGEN_BIN is missing (cargo build --release -p loadgen)"
for mode in $MODES; do
    [[ "$mode" =~ ^(keepalive|close|resume)$ ]] || die "unknown mode $mode (keepalive, close, resume)"
done
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
init_workdir
define_bench_paths # sets ZONE and PATHS (slot, week)

# --- certificate -------------------------------------------------------------------
TLS_DIR="$WORKDIR/tls"
mkdir -p "$TLS_DIR"
CERT="$TLS_DIR/cert.pem"
KEY="$TLS_DIR/key.pem"
openssl ecparam -name prime256v1 -genkey -noout -out "$KEY" 2>"$TLS_DIR/openssl.err" \
    || die "openssl ecparam failed: $(cat "$TLS_DIR/openssl.err")"
openssl req -x509 -new -key "$KEY" -out "$CERT" -days 7 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>"$TLS_DIR/openssl.err" \
    || die "openssl req failed: $(cat "$TLS_DIR/openssl.err")"

# --- servers -----------------------------------------------------------------------
declare -A URL_BASE=() PIDS=()
nginx_tls_port="$(free_port)"
OURS_FLAGS=(--tls-cert "$CERT" --tls-key "$KEY")
start_ours_and_nginx "$SERVER_CPU" "$nginx_tls_port" "$CERT" "$KEY" "$NGINX_SESSION"
[[ -n "$SERVER_HTTPS_URL" ]] || die "the server did not start an HTTPS listener"
URL_BASE[ours]="$SERVER_HTTPS_URL"
URL_BASE[nginx]="https://127.0.0.1:$nginx_tls_port"
for target in $TARGETS; do
    [[ -n "${PATHS[$target]:-}" ]] || die "unknown target $target (slot or week)"
    for server in ours nginx; do
        # --cacert: both must present the generated certificate, valid for 127.0.0.1.
        check_same_body "${URL_BASE[$server]}${PATHS[$target]}" "$WWW/$target.json" --cacert "$CERT"
    done
done

# --- what is negotiated ------------------------------------------------------------
# s_client offering rustls' classical groups (OpenSSL 3.0 has no X25519MLKEM768) and
# TLS 1.3 suites, in rustls' order, and ALPN http/1.1.
negotiated() {
    timeout 10 openssl s_client -connect "${1#https://}" -servername localhost \
        -ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256 \
        -groups X25519:P-256:P-384 -alpn http/1.1 </dev/null 2>/dev/null | awk '
            /^New, / { sub(/^New, /, ""); sub(/, Cipher is /, " "); proto = $0 }
            /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); kx = $0 }
            /^Peer signature type:/ { sub(/^Peer signature type: /, ""); sig = $0 }
            /^ALPN protocol:/ { sub(/^ALPN protocol: /, ""); alpn = $0 }
            END { printf "%s; key exchange %s; signature %s; ALPN %s\n", proto, kx, sig, alpn ? alpn : "none" }'
}
declare -A TLS_INFO=()
for server in ours nginx; do
    TLS_INFO[$server]="$(negotiated "${URL_BASE[$server]}")"
done
run_loadgen_json "$WORKDIR/tlsinfo.json" "$CLIENT_CPU" --insecure "${GROUP_FLAGS[@]}" -c1 -d5s --max-requests 1 \
    "${URL_BASE[nginx]}/tlsinfo"
LOADGEN_NGINX_TLS="$(tail -n1 "$NGINX_TLSINFO_LOG" 2>/dev/null || true)"

# --- runs --------------------------------------------------------------------------
# One measured loadgen run of MODE against SERVER for TARGET, its line into $WORKDIR/run.line.
run_target() {
    local server="$1" target="$2" mode="$3" flags=(--insecure "${GROUP_FLAGS[@]}" -d"${DURATION}s")
    case "$mode" in
    keepalive) flags+=(-c"$CONNECTIONS") ;;
    close) flags+=(-c"$CLOSE_CONNECTIONS" --close --no-tls-resume) ;;
    resume) flags+=(-c"$CLOSE_CONNECTIONS" --close) ;;
    esac
    measured_loadgen "$SERVER_CPU" "$CLIENT_CPU" "${PIDS[$server]}" \
        "${URL_BASE[$server]}${PATHS[$target]}" "${flags[@]}" >"$WORKDIR/run.line"
}

if [[ "$WARMUP" != 0 ]]; then
    for server in ours nginx; do
        log "$server: warm-up, keep-alive ${WARMUP}s (not measured)"
        run_loadgen_json "$WORKDIR/warmup.json" "$CLIENT_CPU" --insecure "${GROUP_FLAGS[@]}" -c"$CONNECTIONS" \
            -d"${WARMUP}s" "${URL_BASE[$server]}${PATHS[slot]}"
    done
fi

ROWS=() GOALS=()
for target in $TARGETS; do
    for mode in $MODES; do
        conns="$CONNECTIONS"
        [[ "$mode" != keepalive ]] && conns="$CLOSE_CONNECTIONS"
        declare -A RUNS=() RESULT=() PER_REQ=()
        for rep in $(seq "$REPEAT"); do
            order="ours nginx"
            ((rep % 2 == 0)) && order="nginx ours"
            for server in $order; do
                log "$target $mode $server ($rep/$REPEAT): loadgen --tls -c$conns ${DURATION}s"
                run_target "$server" "$target" "$mode"
                read -r rps _ p50 _ p99 _ _ _ errors _ client util busy0 busy1 flag per_req _ \
                    <"$WORKDIR/run.line"
                [[ "$flag" == "!" ]] && flag=" ⚠" || flag=""
                RUNS[$server]+="$per_req|loadgen -c$conns | $rps | $p50 | $p99 | $errors | $util | $busy0 / $busy1$flag | $client"$'\n'
            done
        done
        for server in ours nginx; do
            IFS='|' read -r low high per_req row < <(printf '%s' "${RUNS[$server]}" | median_run)
            PER_REQ[$server]="$per_req"
            range=""
            ((REPEAT > 1)) && range=" ($low–$high)"
            RESULT[$server]="$row | $per_req$range"
        done
        ratio="$(fmt_ratio "${PER_REQ[ours]}" "${PER_REQ[nginx]}")"
        ROWS+=("| $target | $mode | ours | ${RESULT[ours]} | **$ratio** |")
        ROWS+=("| $target | $mode | nginx | ${RESULT[nginx]} | |")
        if [[ "$mode" == keepalive ]]; then
            verdict="not met"
            [[ "$ratio" != n/a ]] && awk -v a="${PER_REQ[ours]}" -v b="${PER_REQ[nginx]}" \
                'BEGIN { exit !(a <= b) }' && verdict="met"
            GOALS+=("| $target | ${PER_REQ[ours]} / ${PER_REQ[nginx]} µs = **$ratio** | $verdict |")
        fi
        unset RUNS RESULT PER_REQ
    done
done

# --- report ------------------------------------------------------------------------
echo
machine_line
echo "loadgen $("$LOADGEN_BIN" --version | awk '{ print $2 }') (rustls, aws-lc-rs), one thread, --insecure," \
    "offering key exchange groups: $TLS_GROUPS;" \
    "servers on CPU $SERVER_CPU (one worker each), client on CPU $CLIENT_CPU; ${DURATION} s per run," \
    "$REPEAT run(s) per server interleaved, median by server CPU per request; zone $ZONE."
echo "Certificate: self-signed ECDSA P-256 (prime256v1, ecdsa-with-SHA256), the same file and key for both."
echo "nginx TLS: ssl_protocols TLSv1.2 TLSv1.3; ssl_prefer_server_ciphers off; ssl_ecdh_curve X25519:prime256v1:secp384r1;" \
    "$NGINX_SESSION no kTLS (sendfile does not apply to TLS)."
echo "Negotiated (openssl s_client offering rustls' list): ours: ${TLS_INFO[ours]}; nginx: ${TLS_INFO[nginx]}."
echo "Negotiated by loadgen with nginx (nginx's \$ssl_protocol \$ssl_cipher \$ssl_curve): ${LOADGEN_NGINX_TLS:-unknown}."
echo "Modes: keepalive -c$CONNECTIONS; close = new connection and full handshake per request" \
    "(--close --no-tls-resume) -c$CLOSE_CONNECTIONS; resume = --close with session resumption."
for target in $TARGETS; do echo "$target: GET ${PATHS[$target]}"; done
echo
echo "| target | mode | server | client | req/s | p50 µs | p99 µs | errors | server CPU % | CPU busy % (server/client core) | client CPU % | server CPU µs/req (range) | CPU vs nginx |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
if ((${#GOALS[@]})); then
    echo
    echo "Goal (issue 3): over TLS, keep-alive, server CPU per request ≤ nginx's."
    echo
    echo "| target | CPU µs/req ours / nginx | goal ≤ 1.00 |"
    echo "|---|---:|---|"
    printf '%s\n' "${GOALS[@]}"
fi

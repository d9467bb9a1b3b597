#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# TLS configuration scan of availability-server with testssl.sh (Debian's package
# `testssl.sh`, command `testssl`; installed with apt-get when missing).
#
# For each certificate in $CERTS, a release server is started on 127.0.0.1 (HTTPS, plain
# HTTP and admin listeners on ports the kernel picks, read back from its "… listening on"
# lines), in a fresh data directory under $WORKDIR, with the default TLS settings of
# src/tls/mod.rs (rustls, aws-lc-rs provider, safe default protocol versions, ALPN http/1.1):
#   generated  the self-signed ECDSA P-256 certificate the server creates on first start
#   ecdsa      a self-signed ECDSA P-256 certificate made by openssl (as scripts/tls.sh
#              does; 90 days, SAN localhost and 127.0.0.1), given with --tls-cert/--tls-key
# testssl then scans https://127.0.0.1:PORT/availability with $TESTSSL_CHECKS, bounded by
# `timeout` ($TESTSSL_TIMEOUT s), --warnings batch, --color 0, no DNS look-ups, its flat
# JSON in $WORKDIR/<cert>/testssl.json (and its text output next to it). Afterwards the
# server must still answer GET /health over plain HTTP and over HTTPS (checked against the
# certificate), must not have logged a panic, and must exit 0 on SIGTERM.
#
# Printed per certificate: protocols offered (expected: TLS 1.2 and 1.3 only), cipher
# suites offered per protocol, forward secrecy, every MEDIUM/HIGH/CRITICAL finding with its
# id and text, the ones expected for a self-signed certificate (no chain of trust, no
# CRL/OCSP, no stapling, CA/B Forum lifetime limits, no CAA record) listed apart, LOW
# ids, testssl's own scan problems (WARN/FATAL), and the server's state afterwards.
#
# Exit status: 0 when every scan completed and found nothing HIGH/CRITICAL outside the
# expected self-signed class, offered exactly TLS 1.2 and 1.3, and the server survived;
# 1 otherwise.
#
# Settings (environment):
#   CERTS="generated ecdsa"     certificates to scan, in order
#   TESTSSL_CHECKS="-p -s -f -E -S -h -U -g"   testssl's checks: protocols, cipher categories,
#                               forward secrecy, ciphers per protocol, server defaults and
#                               certificate, HTTP headers, vulnerabilities, implementation
#                               bugs (e.g. "--fast" instead, or add -P -c; note that testssl
#                               3.0's -P rates "no server cipher order" HIGH even when every
#                               suite is AEAD with ECDHE, as here: rustls follows the client's order)
#   TESTSSL_TIMEOUT=240         seconds per scan (about 40-70 s each on 2 busy cores)
#   SKIP_BUILD=1                use the existing target/release/availability-server
#   KEEP=1                      keep $WORKDIR (testssl's JSON and text output, server logs)
# Usage: scripts/testssl.sh            (about 2-3 minutes with both certificates)
#        CERTS=generated KEEP=1 SKIP_BUILD=1 scripts/testssl.sh
# Targets 127.0.0.1 only; every process started is stopped by PID (EXIT trap).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CERTS="${CERTS:-generated ecdsa}"
TESTSSL_CHECKS="${TESTSSL_CHECKS:--p -s -f -E -S -h -U -g}"
TESTSSL_TIMEOUT="${TESTSSL_TIMEOUT:-240}"
for cert in $CERTS; do
    [[ "$cert" =~ ^(generated|ecdsa)$ ]] || die "unknown certificate kind $cert (generated, ecdsa)"
done

# --- tools -------------------------------------------------------------------------
# testssl.sh from Debian (command `testssl`), unless one is already on the PATH.
command -v testssl.sh >/dev/null 2>&1 || need testssl:testssl.sh
TESTSSL="$(command -v testssl || command -v testssl.sh)"
need curl:curl python3:python3 openssl:openssl timeout:coreutils
# Its banner (`--version` exits 1 after printing it), escape codes removed.
TESTSSL_BANNER="$("$TESTSSL" --version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' || true)"
TESTSSL_VERSION="$(sed -n 's/^ *testssl\(\.sh\)\? *\([0-9][^ ]*\).*/\2/p' <<<"$TESTSSL_BANNER" | head -n1)"
TESTSSL_OPENSSL="$(sed -n 's/^ *Using "\([^"(]*[^"( ]\).*/\1/p' <<<"$TESTSSL_BANNER" | head -n1)"
if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W testssl.sh >/dev/null 2>&1; then
    TESTSSL_VERSION+=" (Debian package $(dpkg-query -W -f='${Version}' testssl.sh))"
fi

build_release
[[ -x "$SERVER_BIN" ]] || die "$SERVER_BIN is missing (build it, or drop SKIP_BUILD=1)"
LOAD_AT_START="$(cut -d' ' -f1-3 /proc/loadavg)"
init_workdir

# --- server ------------------------------------------------------------------------
# Starts the server with its data in $1/data and the further flags; sets SERVER_PID,
# HTTPS_ADDR, HTTP_ADDR and ADMIN_ADDR (host:port, all on 127.0.0.1).
start_tls_server() {
    local dir="$1" out="$1/server.out"
    shift
    mkdir -p "$dir"
    : >"$out"
    # A fixed key and the cheapest bcrypt cost: no generated key is printed.
    API_KEY="testssl-key-not-secret-0123456789" "$SERVER_BIN" --data-dir "$dir/data" \
        --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
        --bcrypt-cost 4 "$@" >"$out" 2>&1 &
    SERVER_PID=$!
    track_pid "$SERVER_PID"
    wait_listening "$out" "$SERVER_PID" https http admin
    HTTPS_ADDR="$(listening_addr "$out" https)"
    HTTP_ADDR="$(listening_addr "$out" http)"
    ADMIN_ADDR="$(listening_addr "$out" admin)"
    [[ "$HTTPS_ADDR" == 127.0.0.1:* && "$HTTP_ADDR" == 127.0.0.1:* && "$ADMIN_ADDR" == 127.0.0.1:* ]] \
        || die "unexpected listener addresses: $(cat "$out")"
    wait_http_ok "http://$HTTP_ADDR/health" 10 "$SERVER_PID" "$out"
}

# Sum over workers of a per-worker counter in the admin listener's /metrics ($1: metric).
metric_sum() {
    curl -fsS --max-time 5 "http://$ADMIN_ADDR/metrics" 2>/dev/null |
        awk -v m="$1" 'index($0, m "{") == 1 { s += $NF; n++ } END { if (n) print s; else print "?" }'
}

# SIGTERM to SERVER_PID; sets EXIT_RC to its exit status within 15 s ("none" if it did
# not exit; the EXIT trap then kills it). A reaped PID is dropped from TRACKED_PIDS, so
# that the trap never signals a PID the system may have reused. Not in a subshell: the
# server is this shell's child.
stop_server() {
    local rc=none pid="$SERVER_PID" kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$pid" 2>/dev/null; then
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        for p in "${TRACKED_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
        TRACKED_PIDS=("${kept[@]}")
    fi
    EXIT_RC="$rc"
}

# --- summary of testssl's JSON -----------------------------------------------------
# summarize JSON: prints the summary; exits 1 on a HIGH/CRITICAL finding outside the
# self-signed class, on protocols other than exactly TLS 1.2 + 1.3, or on an incomplete
# scan (no JSON, a FATAL entry, no scanTime).
summarize() {
    python3 - "$1" <<'PY'
import json, re, sys

path = sys.argv[1]
try:
    with open(path) as f:
        findings = json.load(f)
    assert isinstance(findings, list)
except Exception as e:  # noqa: BLE001 - any unreadable file is the same failure
    print(f"  scan incomplete: no usable JSON ({e})")
    sys.exit(1)

# Findings every self-signed certificate earns (ids without the " <cert#N>" suffix):
# no chain of trust, no revocation information, no OCSP stapling or must-staple, no CT,
# no CAA record (not looked up), and validity periods the CA/Browser Forum sets for
# publicly trusted certificates.
SELF_SIGNED = {
    "cert_chain_of_trust", "cert_revocation", "cert_ocspURL", "cert_crlDistributionPoints",
    "cert_caIssuers", "OCSP_stapling", "cert_mustStapleExtension", "certificate_transparency",
    "cert_validityPeriod", "DNS_CAArecord",
}
RANK = {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 2}
failed = []

def base(i):
    return re.sub(r"\s*<cert#\d+>$", "", i)

by_id = {}
for f in findings:
    by_id.setdefault(f.get("id", ""), f)

def text(i, default="?"):
    f = by_id.get(i)
    return f["finding"] if f else default

# Protocols.
protos = [("SSLv2", "SSLv2"), ("SSLv3", "SSLv3"), ("TLS1", "TLS 1.0"), ("TLS1_1", "TLS 1.1"),
          ("TLS1_2", "TLS 1.2"), ("TLS1_3", "TLS 1.3")]
if any(i in by_id for i, _ in protos):
    offered = [n for i, n in protos if text(i, "").startswith("offered")]
    unknown = [n for i, n in protos if i not in by_id]
    ok = offered == ["TLS 1.2", "TLS 1.3"] and not unknown
    line = ", ".join(offered) or "none"
    if unknown:
        line += f" (not tested: {', '.join(unknown)})"
    print(f"  Protocols offered: {line}" + ("  [as expected]" if ok else "  [EXPECTED TLS 1.2 + 1.3 ONLY]"))
    if not ok:
        failed.append("protocols")
    if "ALPN" in by_id:
        print(f"  ALPN: {text('ALPN')}")

# Cipher suites, from -E (per protocol) or else the forward-secrecy list.
suites = {}
for f in findings:
    m = re.match(r"cipher-(tls1(?:_\d)?|ssl\d)_x", f.get("id", ""))
    if m:
        tok = f["finding"].split()
        proto = " ".join(tok[:2]) if tok and tok[0] == "TLS" else tok[0]
        # "TLS 1.2 xc02c ECDHE-ECDSA-AES256-GCM-SHA384 ECDH 253 AESGCM 256 TLS_ECDHE_…":
        # the IANA name last, the key exchange and encryption in between.
        kx = " ".join(tok[4:6]) if len(tok) >= 9 else tok[4] if len(tok) > 4 else "?"
        suites.setdefault(proto, []).append(f"{tok[-1]} ({kx}, {' '.join(tok[-3:-1])})")
if suites:
    print("  Cipher suites offered (-E, in testssl's order):")
    for proto, names in suites.items():
        print(f"    {proto}: " + "; ".join(names))
else:
    fs = text("FS_ciphers", text("PFS_ciphers", ""))
    print(f"  Cipher suites offered: {'(per protocol not tested) FS suites: ' + fs if fs else 'not tested'}")
cats = [(i[len("cipherlist_"):], f["finding"]) for i, f in by_id.items() if i.startswith("cipherlist_")]
if cats:
    print("  Cipher categories: " + ", ".join(f"{c} {v}" for c, v in cats))

# Forward secrecy (testssl 3.0 names it PFS, 3.1+ FS).
fs_id = "FS" if "FS" in by_id else "PFS"
if fs_id in by_id:
    curves = text(fs_id + "_ECDHE_curves", "?")
    fs_suites = text(fs_id + "_ciphers", "").split()
    print(f"  Forward secrecy: {text(fs_id)} ({by_id[fs_id]['severity']}); "
          f"{len(fs_suites)} FS suites; ECDHE curves: {curves}")
if "cert_keySize" in by_id:
    print(f"  Certificate: {text('cert_keySize')}, {text('cert_signatureAlgorithm')}, "
          f"SAN {text('cert_subjectAltName')}, {text('cert_notBefore')} -> {text('cert_notAfter')}, "
          f"hostname trust: {text('cert_trust')}")

# Findings by severity.
serious = sorted((f for f in findings if f.get("severity") in RANK),
                 key=lambda f: RANK[f["severity"]])
unexpected = [f for f in serious if base(f["id"]) not in SELF_SIGNED]
expected = [f for f in serious if base(f["id"]) in SELF_SIGNED]
print("  Findings MEDIUM/HIGH/CRITICAL:" + ("" if unexpected else " none"))
for f in unexpected:
    print(f"    {f['severity']} {f['id']}: {f['finding']}")
    if f["severity"] in ("HIGH", "CRITICAL"):
        failed.append(f["id"])
print("  Expected for a self-signed certificate:" + ("" if expected else " none"))
for f in expected:
    print(f"    {f['severity']} {f['id']}: {f['finding']}")
low = [f"{f['id']} ({f['finding']})" for f in findings if f.get("severity") == "LOW"]
print("  LOW: " + ("; ".join(low) if low else "none"))
vulns = [i for i in ("heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
                     "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN",
                     "LOGJAM", "BEAST", "LUCKY13", "RC4") if i in by_id]
if vulns:
    bad = [i for i in vulns if by_id[i]["severity"] not in ("OK", "INFO")]
    print(f"  Vulnerability checks (-U): {len(vulns) - len(bad)} of {len(vulns)} OK"
          + (f"; not OK: {', '.join(bad)}" if bad else ""))

# testssl's own problems, and whether it finished.
problems = [f for f in findings if f.get("severity") in ("WARN", "FATAL")]
for f in problems:
    print(f"  Scan problem: {f['severity']} {f['id']}: {f['finding']}")
if any(f["severity"] == "FATAL" for f in problems):
    failed.append("scan FATAL")
if "scanTime" in by_id:
    print(f"  Scan time: {text('scanTime')} s")
else:
    print("  Scan incomplete: no scanTime entry (timed out or aborted)")
    failed.append("scan incomplete")

if failed:
    print("  => FAIL: " + ", ".join(failed))
    sys.exit(1)
print("  => OK")
PY
}

# --- scans -------------------------------------------------------------------------
# scan_one KIND: starts a server with that certificate, scans it, checks it survived,
# stops it. Prints its section of the report; returns 1 on failure.
scan_one() {
    local kind="$1" dir="$WORKDIR/$1" flags=() cert status=0
    mkdir -p "$dir"
    case "$kind" in
    generated) cert="$dir/data/tls-cert.pem" ;;
    ecdsa)
        cert="$dir/cert.pem"
        openssl ecparam -name prime256v1 -genkey -noout -out "$dir/key.pem" 2>"$dir/openssl.err" \
            || die "openssl ecparam failed: $(cat "$dir/openssl.err")"
        openssl req -x509 -new -key "$dir/key.pem" -out "$cert" -days 90 -subj /CN=localhost \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>"$dir/openssl.err" \
            || die "openssl req failed: $(cat "$dir/openssl.err")"
        flags=(--tls-cert "$cert" --tls-key "$dir/key.pem")
        ;;
    esac
    start_tls_server "$dir" "${flags[@]}"
    local tls_errors_before
    tls_errors_before="$(metric_sum availability_tls_errors_total)"
    log "$kind: testssl $TESTSSL_CHECKS https://$HTTPS_ADDR/availability (timeout ${TESTSSL_TIMEOUT}s)"
    local rc=0 started=$SECONDS
    # shellcheck disable=SC2086 # TESTSSL_CHECKS is a list of flags
    timeout -k 10 "$TESTSSL_TIMEOUT" "$TESTSSL" --quiet --warnings batch --color 0 -n none \
        --connect-timeout 5 --openssl-timeout 10 --jsonfile "$dir/testssl.json" \
        $TESTSSL_CHECKS "https://$HTTPS_ADDR/availability" >"$dir/testssl.txt" 2>&1 || rc=$?
    local took=$((SECONDS - started))

    # Did the server survive?
    local alive=alive http_health https_health panics tls_errors accepted open timed_out=""
    kill -0 "$SERVER_PID" 2>/dev/null || alive=gone
    http_health="$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$HTTP_ADDR/health" 2>&1 || true)"
    https_health="$(curl -sS --max-time 5 --cacert "$cert" -o /dev/null -w '%{http_code}' \
        "https://$HTTPS_ADDR/health" 2>&1 || true)"
    tls_errors="$(metric_sum availability_tls_errors_total)"
    accepted="$(metric_sum availability_connections_accepted_total)"
    open="$(metric_sum availability_connections_open)"
    panics="$(grep -c -i 'panick' "$dir/server.out" || true)"
    stop_server
    ((rc == 124 || rc == 137)) && timed_out=" (TIMED OUT)"

    echo
    echo "== $kind certificate: $(openssl x509 -in "$cert" -noout -subject 2>/dev/null | sed 's/^subject= *//')," \
        "$(openssl x509 -in "$cert" -noout -text 2>/dev/null | sed -n 's/^ *\(ASN1 OID\|Public Key Algorithm\): //p' | paste -sd' ' -)"
    echo "  testssl exit status $rc after ${took}s$timed_out"
    summarize "$dir/testssl.json" || status=1
    echo "  Server after the scan: process $alive; GET /health plain HTTP $http_health, HTTPS $https_health;" \
        "panics logged: $panics; TLS connections refused as protocol errors: $((tls_errors - tls_errors_before)) of" \
        "$accepted accepted; open now: $open (the /metrics request itself included); exit on SIGTERM: $EXIT_RC"
    if [[ "$alive" != alive || "$http_health" != 200 || "$https_health" != 200 || "$panics" != 0 || "$EXIT_RC" != 0 ]]; then
        echo "  => FAIL: the server did not survive the scan intact (log: $dir/server.out)"
        tail -n 20 "$dir/server.out" | sed 's/^/    | /'
        status=1
    fi
    return "$status"
}

RESULT=0
for cert in $CERTS; do
    scan_one "$cert" || RESULT=1
done

echo
machine_line
echo "testssl $TESTSSL_VERSION ($TESTSSL), with ${TESTSSL_OPENSSL:-its OpenSSL}; checks: $TESTSSL_CHECKS;" \
    "--warnings batch --color 0 -n none, timeout ${TESTSSL_TIMEOUT}s per scan."
echo "Server: $("$SERVER_BIN" --version 2>/dev/null || echo availability-server), default TLS settings (src/tls/mod.rs);" \
    "JSON and text output in $WORKDIR/<certificate>/ $([[ "${KEEP:-0}" == 1 ]] && echo "(kept)" || echo "(removed on exit; KEEP=1 keeps them)")."
if ((RESULT == 0)); then
    echo "Result: PASS"
else
    echo "Result: FAIL (see the => FAIL lines above)"
fi
exit "$RESULT"

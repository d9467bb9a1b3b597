# shellcheck shell=bash source-path=SCRIPTDIR
# shellcheck disable=SC2034 # variables here are used by the scripts that source this file
# Shared helpers for the benchmark scripts (compare.sh, idle.sh, loadtest.sh, openloop.sh,
# tls.sh, ...): processes, CPU and memory readings, small formatting helpers. It sources
# servers.sh (starting ours, the floor and nginx) and clients.sh (running loadgen and wrk,
# the measurement window), so a script sources this file alone.
# Source it; it defines functions and a few variables and starts nothing by itself.
#
# Every process a script starts is recorded with `track_pid` and killed by PID in
# `cleanup` (installed as the EXIT trap by `init_workdir`); nothing is killed by name.
# Everything listens on 127.0.0.1 only.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_BIN="${SERVER_BIN:-$ROOT/target/release/availability-server}"
LOADGEN_BIN="${LOADGEN_BIN:-$ROOT/target/release/loadgen}"
# The floor: loadgen's example `fixed_server`, a bare mio loop (see start_floor).
FLOOR_BIN="${FLOOR_BIN:-$ROOT/target/release/examples/fixed_server}"
CLK_TCK="$(getconf CLK_TCK)"
TRACKED_PIDS=()
WORKDIR=""
OURS_FLAGS=()
declare -A PIDS=() # server name -> "PID…" (start_ours_and_nginx fills ours and nginx)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Creates a private temporary directory ($WORKDIR) and the EXIT trap that stops
# every tracked process and removes the directory (kept when KEEP=1).
init_workdir() {
    WORKDIR="$(mktemp -d "${TMPDIR:-/tmp}/availability-bench.XXXXXX")"
    # nginx workers run as an unprivileged user and must read the served files.
    chmod 755 "$WORKDIR"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

track_pid() { TRACKED_PIDS+=("$1"); }

cleanup() {
    local pid ours=()
    # Only the tracked processes still this shell's children: one already waited for
    # has given up its PID, which the kernel may have handed to someone else's
    # process by now (PIDs wrap within minutes under a benchmark's churn).
    for pid in "${TRACKED_PIDS[@]}"; do
        if [[ "$(ps -o ppid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$$" ]]; then
            ours+=("$pid")
        fi
    done
    for pid in "${ours[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${ours[@]}"; do
        # Bounded wait, then force.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$WORKDIR" && -d "$WORKDIR" ]]; then
        if [[ "${KEEP:-0}" == 1 ]]; then
            log "kept $WORKDIR"
        else
            rm -rf "$WORKDIR"
        fi
    fi
}

# Installs the given Debian packages when their command is missing: `need cmd:pkg ...`.
need() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        if ! { apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
            die "could not install ${missing[*]}"
        fi
    fi
}

# A TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Release build of the server (and loadgen when it builds); SKIP_BUILD=1 skips it.
build_release() {
    [[ "${SKIP_BUILD:-0}" == 1 ]] && return 0
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --workspace -q) \
        || (cd "$ROOT" && cargo build --release -p availability-server -q) \
        || die "release build failed"
}

# utime+stime of a process, all threads included, in clock ticks (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name, which may hold spaces).
cpu_ticks() {
    local stat
    stat="$(cat "/proc/$1/stat")"
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # word splitting is the point
    set -- $stat
    echo $((${12} + ${13}))
}

# Sum of cpu_ticks over several PIDs.
cpu_ticks_sum() {
    local total=0 pid
    for pid in "$@"; do total=$((total + $(cpu_ticks "$pid"))); done
    echo "$total"
}

# Busy ticks of one CPU from /proc/stat, all processes included: user, nice, system,
# irq, softirq and steal (time the CPU was not idle for us).
cpu_busy_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# Ticks of work this machine did on CPU $1 (user, nice, system, irq, softirq; no steal);
# with "" for $1, summed over all CPUs.
cpu_work_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
}

# Ticks the hypervisor gave to someone else while CPU $1 wanted to run (steal, /proc/stat);
# with "" for $1, summed over all CPUs.
cpu_steal_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $9 }' /proc/stat
}

# A TCP counter of this network namespace, by name: a column of the "Tcp:" lines of
# /proc/net/snmp (OutSegs, RetransSegs, …), a header line and then a values line.
tcp_counter() {
    awk -v name="$1" '
        $1 == "Tcp:" && !seen { seen = 1; for (i = 2; i <= NF; i++) column[$i] = i; next }
        $1 == "Tcp:" && (name in column) { print $column[name]; found = 1 }
        END { if (!found) exit 1 }
    ' /proc/net/snmp
}

rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"; }

# Waits (15 s at most) until the server PID, whose output goes to OUT, has printed a
# "LABEL listening on ADDR" line for each LABEL (http, https, admin); dies showing
# that output if the server exits first. Then `listening_addr OUT LABEL` reads one.
#   wait_listening OUT PID LABEL...
wait_listening() {
    local out="$1" pid="$2" label deadline=$((SECONDS + 15))
    shift 2
    for label in "$@"; do
        until grep -q "^$label listening on " "$out"; do
            kill -0 "$pid" 2>/dev/null || die "server exited: $(cat "$out")"
            ((SECONDS < deadline)) || die "server did not report its $label address: $(cat "$out")"
            sleep 0.05
        done
    done
}

# The address (host:port) a server printed for LABEL in OUT: listening_addr OUT LABEL.
listening_addr() { sed -n "s/^$2 listening on //p" "$1"; }

# Waits until `curl URL` answers 200 or the deadline passes.
#   wait_http_ok URL [SECONDS] [PID [LOG]]: with PID, stops at once (showing the end of
#   LOG) if that process exits before answering.
wait_http_ok() {
    local url="$1" deadline=$((SECONDS + ${2:-10})) pid="${3:-}" log="${4:-}"
    until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            [[ -n "$log" && -s "$log" ]] && tail -n 20 "$log" >&2
            die "the process for $url (pid $pid) exited before answering"
        fi
        ((SECONDS < deadline)) || die "no 200 from $url"
        sleep 0.05
    done
}

# Median of repeated runs: reads lines "KEY|rest" (KEY numeric) on stdin and prints
# "LOW|HIGH|LINE": the smallest and largest KEY and the whole line with the median KEY.
# A run, not an average, so that its other columns belong together: with an even
# count that is the lower of the two middle runs (every REPEAT quoted is odd).
median_run() {
    sort -t'|' -k1,1g | awk -F'|' '
        { v[NR] = $1; line[NR] = $0 }
        END { if (NR == 0) exit 1; print v[1] "|" v[NR] "|" line[int((NR + 1) / 2)] }'
}

# A / B with two decimals, "<0.01" below that ("n/a" when either is not a positive number).
fmt_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 <= 0) print "n/a"
        else if (a / b < 0.005) print "<0.01"
        else printf "%.2f\n", a / b }'
}

# One line about the machine and its load right now (and at start, when $LOAD_AT_START is set).
machine_line() {
    echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)," \
        "Linux $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)${LOAD_AT_START:+ (at start: $LOAD_AT_START)}."
    if command -v nginx >/dev/null 2>&1; then
        echo "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') ($(nginx -V 2>&1 | sed -n 's/.*running with \(OpenSSL [^ ]*\).*/\1/p;s/^built with \(OpenSSL [^ ]*\)[^(]*$/\1/p' | head -n1))."
    fi
}

# The rest of the toolkit, split by subject.
# shellcheck source=servers.sh
source "$(dirname "${BASH_SOURCE[0]}")/servers.sh"
# shellcheck source=clients.sh
source "$(dirname "${BASH_SOURCE[0]}")/clients.sh"

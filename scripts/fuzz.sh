#!/usr/bin/env bash
# Fuzzes every parser of untrusted input (fuzz/, cargo-fuzz + libFuzzer), one target at a
# time under `nice -n 10`.
#
#   FUZZ_SECONDS=N    seconds per target (default 60)
#   FUZZ_SMOKE=1      build every target, then run each for 10 s (what CI runs)
#   FUZZ_TARGETS="a b" only these targets (default: all of them)
#   FUZZ_TOOLCHAIN=t  rustup toolchain for the build (default: nightly)
#   FUZZ_JOBS=N       N fuzzing processes per target (libFuzzer -fork=N; default 1)
#   FUZZ_FAST=1       long campaigns: no AddressSanitizer and no comparison tracing
#                     (`-s none --no-trace-compares`, own target directory). About 4x
#                     the executions per second on the connection target, whose time
#                     otherwise goes to ASan and to tracing the writer's snapshot
#                     rebuild; debug assertions and Rust's own checks stay on.
#
# Each run starts from the committed seeds (fuzz/corpus/<target>/, read only) plus a
# working corpus kept in fuzz/target/corpus/<target>/ between runs. A crash leaves its
# input in fuzz/artifacts/<target>/; the script goes on with the other targets and exits
# non-zero at the end. Logs: fuzz/target/logs/<target>.log.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-60}
if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
    seconds=10
fi
toolchain=${FUZZ_TOOLCHAIN:-nightly}
all_targets="request_head query patch_body data_file connection connection_cap"
targets=${FUZZ_TARGETS:-$all_targets}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    echo "fuzz.sh: the rustup toolchain '$toolchain' is missing (cargo-fuzz needs nightly;" >&2
    echo "         set FUZZ_TOOLCHAIN to an installed nightly)" >&2
    exit 2
fi

# Sanitizer instrumentation needs nightly; debug assertions (-a) make overflows crash.
# The smoke run trades ~20% of run speed for a ~25% faster build (16 codegen units),
# in its own target directory so the two builds do not undo each other.
build_flags=(-a)
if [ "${FUZZ_SMOKE:-0}" = 1 ]; then
    build_flags+=(--codegen-units 16 --target-dir "$root/fuzz/target/smoke")
elif [ "${FUZZ_FAST:-0}" = 1 ]; then
    build_flags+=(-s none --no-trace-compares --target-dir "$root/fuzz/target/fast")
fi
jobs=${FUZZ_JOBS:-1}
fork=()
if [ "$jobs" -gt 1 ]; then
    fork=(-fork="$jobs")
fi
fuzz() {
    local command=$1
    shift
    nice -n 10 cargo "+$toolchain" fuzz "$command" "${build_flags[@]}" "$@"
}

echo "== building all fuzz targets ($toolchain)"
start=$(date +%s)
fuzz build
echo "== built in $(($(date +%s) - start)) s"

# The connection target's server keeps its data directory here; removed on exit.
# The connection target commits PATCHes durably; on tmpfs an fsync costs nothing, so
# the fuzzer measures the server rather than the disk.
scratch_parent=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    scratch_parent=/dev/shm
fi
scratch=$(mktemp -d "$scratch_parent/availability-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=""
mkdir -p fuzz/target/logs
for target in $targets; do
    case $target in
        request_head) extra=(-max_len=12000 -dict="$root/fuzz/http.dict" -timeout=10) ;;
        query) extra=(-max_len=1024 -dict="$root/fuzz/http.dict" -timeout=10) ;;
        patch_body) extra=(-max_len=8192 -dict="$root/fuzz/json.dict" -timeout=10) ;;
        data_file) extra=(-max_len=400 -timeout=10) ;;
        # Each run is in memory (the writer's commit is the only real wait); a run
        # stuck for 30 s is a finding.
        connection) extra=(-max_len=2048 -dict="$root/fuzz/http.dict" -timeout=30) ;;
        # Scripts of at most 40 actions of at most 4 bytes; no dictionary (the requests
        # come from the menu).
        connection_cap) extra=(-max_len=256 -timeout=30) ;;
        *) echo "unknown target $target" >&2; exit 2 ;;
    esac
    work="fuzz/target/corpus/$target"
    mkdir -p "$work"
    log="fuzz/target/logs/$target.log"
    echo "== $target for $seconds s (log: $log)"
    if AVAILABILITY_FUZZ_DIR="$scratch" fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${fork[@]}" "${extra[@]}" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed="$failed $target"
        grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -n 20 || true
    fi
    runs=$(grep -Eo "stat::number_of_executed_units: *[0-9]+" "$log" | grep -Eo "[0-9]+$" || true)
    if [ -z "$runs" ]; then
        # Fork mode prints no final stats; its last progress line has the total.
        runs=$(grep -Eo "^#[0-9]+" "$log" | tail -n 1 | tr -d '#')
    fi
    cov=$(grep -Eo "cov: [0-9]+" "$log" | tail -n 1 || echo "cov: ?")
    echo "   $status: ${runs:-?} executions, $cov"
done

if [ -n "$failed" ]; then
    echo "fuzz.sh: failing targets:$failed (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: all targets ran clean"

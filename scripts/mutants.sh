#!/usr/bin/env bash
# Mutation testing: cargo-mutants changes one operator, condition or return value at a
# time in the modules that decide correctness, and each change ("mutant") must make a
# test fail. A mutant that survives is either equivalent (no observable difference; say
# why in the README) or a behaviour no test pins (write the test).
#
# Each module runs against the lib's unit tests plus the integration tests that drive
# it (the map below), so a mutant costs a few seconds, not a full `cargo test`; a
# survivor here may still be caught elsewhere in `make test` — check before writing a
# test. Not part of `make test` (it takes from 15 minutes per module on 2 cores).
#
# Settings (environment):
#   MODULES="week store snapshot auth"   which modules (keys of the map below; also api,
#                 writer, http, runtime)
#   FILES=        only these files of the module (e.g. "src/http/request.rs"), for a
#                 large module taken a part at a time
#   TESTS=        these integration test targets instead of the module's in the map
#                 (e.g. "sim" for a file the lib's unit tests cover), to save minutes
#   JOBS=1        parallel builds (each needs its own copy of the tree and target dir)
#   TIMEOUT_S=60  per mutant's test run; a mutant that loops forever counts as caught
#   OUT=target/mutants   one directory per module, with cargo-mutants' missed.txt etc.
# Bounded: cargo-mutants stops each test run at TIMEOUT_S; the whole is
# (mutants × (build + test)), printed as it goes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

MODULES="${MODULES:-week store snapshot auth}"
JOBS="${JOBS:-1}"
TIMEOUT_S="${TIMEOUT_S:-60}"
OUT="${OUT:-target/mutants}"

# module -> the test targets that exercise it (besides the lib's own unit tests).
tests_for() {
    case "$1" in
        week) echo "timezone_rule" ;;
        store) echo "store_file store_dir torn" ;;
        snapshot) echo "api conditional timezone_rule" ;;
        auth) echo "api_auth auth_bootstrap reload_key" ;;
        api) echo "api api_write api_headers conditional metrics forwarded drain" ;;
        writer) echo "write_batch writer_turns api_write writer_rollover" ;;
        http) echo "http_parse protocol protocol_fields protocol_misc fuzz_regressions conditional api_write_encoding api_headers" ;;
        # The lib's unit tests hold the deterministic simulation (sim.rs, slot_tests.rs);
        # the sockets-and-threads tests below cover what it cannot (timers in real time,
        # lingering close, the connection cap, draining).
        runtime) echo "sim protocol protocol_misc protocol_timeouts unread_answers linger connection_cap drain" ;;
        *) echo "unknown module '$1' (known: week store snapshot auth api writer http runtime)" >&2; return 1 ;;
    esac
}

command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants

mkdir -p "$OUT" # cargo-mutants makes $OUT/<module> but not its parents
status=0
for module in $MODULES; do
    targets_line="${TESTS:-$(tests_for "$module")}" || exit 2
    read -ra targets <<<"$targets_line"
    args=(-C=--lib)
    for t in "${targets[@]}"; do args+=("-C=--test=$t"); done
    echo "== $module: ${FILES:-src/$module/**} against --lib$(printf -- ' --test %s' "${targets[@]}") (timeout ${TIMEOUT_S}s)"
    # cargo-mutants exits 2 when mutants were missed, 3 on timeouts: report, go on.
    files=(-f "src/$module/**" -f "src/$module.rs")
    if [[ -n "${FILES:-}" ]]; then
        files=()
        for f in $FILES; do files+=(-f "$f"); done
    fi
    cargo mutants -j "$JOBS" --timeout "$TIMEOUT_S" -o "$OUT/$module" \
        "${files[@]}" "${args[@]}" || status=$?
    for kind in caught missed timeout unviable; do
        file="$OUT/$module/mutants.out/$kind.txt"
        printf '   %-9s %s\n' "$kind" "$( [[ -f $file ]] && wc -l <"$file" || echo 0)"
    done
    if [[ -s "$OUT/$module/mutants.out/missed.txt" ]]; then
        sed 's/^/   missed: /' "$OUT/$module/mutants.out/missed.txt"
    fi
done
exit "$status"

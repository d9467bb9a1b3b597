#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Waits until the host is quiet, then runs a command: `scripts/quiet.sh CMD [ARG…]`.
#
# On a shared VM the hypervisor sometimes runs other guests on our vCPUs ("steal" in
# /proc/stat); runs taken then are slower and their tails longer for reasons outside
# the machine (on the VM of BENCHMARKS.md steal came and went in minutes, 0–12 %).
# This samples steal over $QUIET_SAMPLE_S seconds (10) until it is under 1 % of all
# CPUs and this machine's own work (a build, a fuzzer: anything left running would share
# the measured cores) is under 10 %, at most $QUIET_MAX_WAIT_S seconds (900), then execs
# the command either way, saying on stderr what it saw. The measuring scripts also flag single runs with steal
# (⚠), so a run that steal hit later is still visible.
#
#   scripts/quiet.sh env REPEAT=5 MODES=keepalive ./scripts/compare.sh
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
(($# > 0)) || {
    echo "usage: $0 CMD [ARG…]" >&2
    exit 2
}
sample_s="${QUIET_SAMPLE_S:-10}"
max_wait_s="${QUIET_MAX_WAIT_S:-900}"
# Every CPU of the machine (the /proc/stat totals are over all of them, whatever
# affinity this script runs with).
cpus="$(grep -c '^cpu[0-9]' /proc/stat)"

waited_s=0
while :; do
    before="$(cpu_steal_ticks "")"
    worked_before="$(cpu_work_ticks "")"
    sleep "$sample_s"
    waited_s=$((waited_s + sample_s))
    stolen=$(($(cpu_steal_ticks "") - before))
    worked=$(($(cpu_work_ticks "") - worked_before))
    # Under 1 %: stolen / (sample × ticks/s × CPUs) < 1/100; our own work under 10 %.
    if ((stolen * 100 < sample_s * CLK_TCK * cpus && worked * 10 < sample_s * CLK_TCK * cpus)); then
        echo "[quiet.sh] steal $stolen, other work $worked ticks in ${sample_s}s (< 1 %, < 10 %): running" >&2
        break
    fi
    echo "[quiet.sh] steal $stolen, other work $worked ticks in ${sample_s}s: waiting" >&2
    if ((waited_s >= max_wait_s)); then
        echo "[quiet.sh] still not quiet after ${waited_s}s: running anyway" >&2
        break
    fi
done
exec "$@"

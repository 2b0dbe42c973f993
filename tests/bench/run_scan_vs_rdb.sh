#!/usr/bin/env bash
# rmig.source.scan of a live source (SCAN + pipelined DUMP/PTTL) against rmig.source.rdb
# of the RDB that source was loaded from, both into one empty target, interleaved pair
# by pair (issue 6's benchmark): the ratio scan/rdb and the source's CPU during the
# scan.  See scan_bench.py for the details.
#
#   tests/bench/run_scan_vs_rdb.sh [DATA_DIR] [DATASET] [PAIRS]
#   e.g. RMIG=build-bench/rmig tests/bench/run_scan_vs_rdb.sh /work/bench/data a 3
#        tests/bench/run_scan_vs_rdb.sh /work/bench/data b 2        # quicker
#
# Defaults: DATA_DIR=/work/bench/data DATASET=a PAIRS=3.  A pair is one scan run and one
# rdb run, odd pairs scan first, even pairs rdb first; FLUSHALL of the target before each.
# Each run is checked: exit status 0, target DBSIZE = the source's (DATASET.rdb.keys) and
# DEBUG DIGEST = the source's (= DATASET.rdb.digest); a mismatch is printed as FAILED and
# the exit status is 1.  Prints a line per run and per pair, a table of medians (wall,
# keys/s, rmig CPU and peak RSS, source and target CPU) and a RESULT line with the
# median scan/rdb ratio, its range, and the source's CPU during the scan.
# Environment: RMIG (default build/rmig), PORT_BASE (7300: source +1, target +2),
# SCAN_OPTS (more rmig.source.scan options, Lua, e.g. 'count = 500'), VERIFY=0 (key
# counts only), RMIG_TIMEOUT (time box of one run, default 1800 s), BENCH_DIR
# (/work/bench; logs in $BENCH_DIR/scan-vs-rdb/), BENCH_WAIT_QUIET (0.3) and
# BENCH_WAIT_MAX (120 s): before each run, wait that long at most for a quiet machine.
# rmig's Lua library (lua/ of the tree named by the binary's CMakeCache.txt, else of
# this tree) is copied into the logs at the start and used from there (RMIG_LUA_PATH),
# so that edits of lua/ during the run do not reach it; an RMIG_LUA_PATH already set
# is kept.  Every server is stopped at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/bench_common.sh"
data=${1:-/work/bench/data} ds=${2:-a} pairs=${3:-3}
export BENCH_TOOLS=${BENCH_TOOLS:-$root/../shared/bench}
export BENCH_DIR=${BENCH_DIR:-/work/bench}
export BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0.3}
export BENCH_WAIT_MAX=${BENCH_WAIT_MAX:-120}
rmig=${RMIG:-$root/build/rmig}
[ -x "$rmig" ] || { echo "no rmig binary at $rmig (set RMIG)" >&2; exit 2; }
[ -f "$data/$ds.rdb" ] || { echo "no $data/$ds.rdb" >&2; exit 2; }
[[ "$pairs" =~ ^[1-9][0-9]*$ ]] || { echo "PAIRS must be a positive number, not '$pairs'" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "no redis-server in PATH" >&2; exit 2; }

logs=$BENCH_DIR/scan-vs-rdb/$ds-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
if [ -z "${RMIG_LUA_PATH:-}" ]; then
    # the tree the binary was built from (its CMakeCache.txt), else this one
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$(dirname "$rmig")/CMakeCache.txt" 2>/dev/null || true)
    [ -n "$src" ] && [ -d "$src/lua/rmig" ] || src=$root
    mkdir -p "$logs/lib"
    cp -r "$src/lua" "$logs/lib/"
    [ -d "$src/filters" ] && cp -r "$src/filters" "$logs/lib/"
    export RMIG_LUA_PATH=$logs/lib/lua
    echo "rmig's Lua library: a copy of $src/lua" > "$logs/lib/FROM"
fi

args=(--data "$data" --dataset "$ds" --pairs "$pairs" --rmig "$rmig" --logs "$logs"
      --port-base "${PORT_BASE:-7300}" --timeout "${RMIG_TIMEOUT:-1800}")
[ -n "${SCAN_OPTS:-}" ] && args+=(--scan-opts "$SCAN_OPTS")
[ "${VERIFY:-1}" = 0 ] && args+=(--no-verify)

# scan_bench.py stops its servers itself; the trap covers a bench killed hard: every
# server it started is listed ("pid port") and stopped here, by pid, if still ours.
export SBENCH_PID_FILE=$logs/servers.pids
: > "$SBENCH_PID_FILE"
py=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    bench_stop "$py" "$SBENCH_PID_FILE"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# scan_bench.py copies its output to $logs/bench.txt itself (no pipe: a trapped signal
# must reach the wait below)
python3 "$here/scan_bench.py" "${args[@]}" &
py=$!
# polled rather than one `wait "$py"`: bash 5.2 was seen to hold a SIGTERM back until
# python had exited, leaving the servers up; a trap runs here within a second
while kill -0 "$py" 2>/dev/null; do
    sleep 1
done
wait "$py"

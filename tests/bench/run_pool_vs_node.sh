#!/usr/bin/env bash
# rmig from a 4-backend Twemproxy pool (rmig.source.twemproxy, mode = "scan") into a
# 3-master Redis Cluster against rmig from one standalone server (rmig.source.scan) into
# the same cluster, the same data set split over the pool's backends, interleaved round
# by round: the ratio pool/standalone.  See pool_bench.py for the details.
#
#   tests/bench/run_pool_vs_node.sh [DATA_DIR] [DATASET] [ROUNDS]
#   e.g. RMIG=build-bench/rmig tests/bench/run_pool_vs_node.sh /work/bench/data a 3
#        PSYNC=1 tests/bench/run_pool_vs_node.sh /work/bench/data a 3   # the psync sources too
#
# Defaults: DATA_DIR=/work/bench/data DATASET=a ROUNDS=3.  Needs DATASET.rdb (the
# standalone source is loaded from a copy) and DATASET.resp (the pool is filled with it
# through nutcracker), nutcracker and redis-server.  Each run is checked: exit status 0,
# the masters' DBSIZE = DATASET.rdb.keys and their DEBUG DIGESTs XORed = the RDB's
# (DATASET.rdb.digest); a mismatch is printed as FAILED and the exit status is 1.
# Prints a table per round (wall, keys/s, rmig CPU and peak RSS, source and target CPU)
# and a RESULT line per mode with the median pool/standalone ratio and its range.
# Environment: RMIG (default build/rmig), PORT_BASE (7700: backends +1..+4, nutcracker
# +5 and stats +6, standalone +7, masters +11..+13, cluster bus +21..+23), PSYNC=1 (the
# psync sources too, timed until rmig caught up with every source, then SIGINTed),
# VERIFY=0 (key counts only), RMIG_TIMEOUT (time box of one run, default 1800 s),
# BENCH_DIR (/work/bench; logs in $BENCH_DIR/pool-vs-node/), BENCH_WAIT_QUIET (0.3) and
# BENCH_WAIT_MAX (120 s): before each run, wait that long at most for a quiet machine.
# rmig's Lua library is copied into the logs and used from there (RMIG_LUA_PATH), as in
# run_scan_vs_rdb.sh.  Every server and the nutcracker are stopped at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/bench_common.sh"
data=${1:-/work/bench/data} ds=${2:-a} rounds=${3:-3}
export BENCH_TOOLS=${BENCH_TOOLS:-$root/../shared/bench}
export BENCH_DIR=${BENCH_DIR:-/work/bench}
export BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0.3}
export BENCH_WAIT_MAX=${BENCH_WAIT_MAX:-120}
rmig=${RMIG:-$root/build/rmig}
[ -x "$rmig" ] || { echo "no rmig binary at $rmig (set RMIG)" >&2; exit 2; }
[ -f "$data/$ds.rdb" ] || { echo "no $data/$ds.rdb" >&2; exit 2; }
[ -f "$data/$ds.resp" ] || { echo "no $data/$ds.resp" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number, not '$rounds'" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "no redis-server in PATH" >&2; exit 2; }
command -v nutcracker >/dev/null || [ -x /usr/sbin/nutcracker ] || { echo "no nutcracker" >&2; exit 2; }

logs=$BENCH_DIR/pool-vs-node/$ds-$(date +%Y%m%d-%H%M%S)
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

args=(--data "$data" --dataset "$ds" --rounds "$rounds" --rmig "$rmig" --logs "$logs"
      --port-base "${PORT_BASE:-7700}" --timeout "${RMIG_TIMEOUT:-1800}")
[ "${PSYNC:-0}" = 1 ] && args+=(--psync)
[ "${VERIFY:-1}" = 0 ] && args+=(--no-verify)

# pool_bench.py stops its servers and its nutcracker itself; the trap covers a bench
# killed hard: every server it started is listed ("pid port"), the nutcracker too ("pid
# conf"), and stopped here, by pid, if still ours.
export PBENCH_PID_FILE=$logs/servers.pids NC_PID_FILE=$logs/nutcracker.pids
: > "$PBENCH_PID_FILE"
: > "$NC_PID_FILE"
py=
cleanup() {
    local rc=$? pid conf
    trap - EXIT INT TERM
    bench_stop "$py" "$PBENCH_PID_FILE"
    while read -r pid conf; do
        [ -r "/proc/$pid/cmdline" ] || continue
        tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "nutcracker.*-c $conf " || continue
        echo "stopping leftover nutcracker pid $pid" >&2
        kill "$pid" 2>/dev/null || true
    done < "$NC_PID_FILE"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# pool_bench.py copies its output to $logs/bench.txt itself (no pipe: a trapped signal
# must reach the wait below)
python3 "$here/pool_bench.py" "${args[@]}" &
py=$!
# polled rather than one `wait "$py"` (as run_scan_vs_rdb.sh: bash 5.2 was seen to hold
# a SIGTERM back until python had exited); a trap runs here within a second
while kill -0 "$py" 2>/dev/null; do
    sleep 1
done
wait "$py"

#!/usr/bin/env bash
# The highest write rate on a source at which rmig, live (pipelines/live.lua),
# keeps the target under a second behind: psync_write_rate.py's steps of
# redis-benchmark -t set -r 100000 --threads 1 at rising -c/-P, ~10 s each,
# with an end-to-end probe for the lag. Repeated ROUNDS times (noisy machine);
# NATIVE=1 adds a round with a native replica in rmig's place, for reference.
#
#   tests/bench/run_psync_write_rate.sh [ROUNDS] [STEPS] [SECONDS] [VALUE_BYTES]
#   e.g. RMIG=/tmp/build-bench/rmig tests/bench/run_psync_write_rate.sh 3 1x1,4x4,16x16,50x32 10 3
#
# Ports: source 7110, target 7111. Logs: $BENCH_DIR/psync-write-rate/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3} steps=${2:-1x1,2x2,4x4,8x8,16x16,50x32,50x64,50x128} secs=${3:-10} size=${4:-3}
rmig=${RMIG:-$root/build/rmig}
export BENCH_DIR=${BENCH_DIR:-/work/bench}
export BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0.3}
logs=$BENCH_DIR/psync-write-rate/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
echo "rmig $rmig ($(stat -c %y "$rmig" | cut -d. -f1)); logs in $logs"
for i in $(seq "$rounds"); do
    echo "== round $i: rmig"
    python3 "$here/psync_write_rate.py" "$rmig" --steps "$steps" --seconds "$secs" --size "$size" 2>&1 | tee "$logs/rmig-$i.txt"
    cp "$BENCH_DIR/run/write-rate/rmig.log" "$logs/rmig-$i.log"
    cp "$BENCH_DIR/run/write-rate/samples-rmig.tsv" "$logs/samples-rmig-$i.tsv"
    if [ "${NATIVE:-0}" = 1 ]; then
        echo "== round $i: native replica"
        python3 "$here/psync_write_rate.py" "$rmig" --native --steps "$steps" --seconds "$secs" --size "$size" 2>&1 | tee "$logs/native-$i.txt"
        cp "$BENCH_DIR/run/write-rate/samples-native.tsv" "$logs/samples-native-$i.tsv"
    fi
done

#!/usr/bin/env bash
# rmig as a live replica (rmig.source.psync, pipelines/live.lua) against a native
# redis replica doing the same full sync, interleaved pair by pair under the
# shared harness (../shared/bench), since these machines are noisy: compare
# the pairs, not runs from different times.
#
#   tests/bench/run_psync_vs_replica.sh DATA_DIR DATASET [PAIRS]
#   e.g. RMIG=/tmp/build-bench/rmig tests/bench/run_psync_vs_replica.sh /work/bench/data a 3
#
# A pair is
#  native: bench_replica.py DATASET.rdb --runs 1 (diskless, delay 0): seconds from
#          REPLICAOF until the replica's link is up and it has loaded;
#  rmig:   bench_tool.py with a source loaded from the same RDB (repl-diskless-sync
#          yes, delay 0) and an empty target, `rmig run live.lua`: seconds from
#          rmig's start until the target holds every key and is quiet (rmig then
#          gets SIGINT); also rmig's own "snapshot applied ... in X s", its CPU
#          and peak RSS, and the target's CPU.
# Prints one "pair N:" line each with the ratio rmig/native and a RESULT line
# with the medians (goal: ratio <= 1.5). VERIFY=0 skips the DEBUG DIGEST check
# of the target after each rmig run. Logs: $BENCH_DIR/psync-vs-replica/.
# Ports: source 7106, target/replica 7107, digest reference 7108.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${BENCH_TOOLS:-$root/../shared/bench}
data=$1 ds=$2 pairs=${3:-3}
rmig=${RMIG:-$root/build/rmig}
export BENCH_DIR=${BENCH_DIR:-/work/bench}
export BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-0.3}
logs=$BENCH_DIR/psync-vs-replica/$ds-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
verify=()
[ "${VERIFY:-1}" = 0 ] || verify=(--verify)
echo "rmig $rmig ($(stat -c %y "$rmig" | cut -d. -f1)); logs in $logs"

for i in $(seq "$pairs"); do
    python3 "$bench/bench_replica.py" "$data/$ds.rdb" --runs 1 --port 7106 --replica-port 7107 \
        > "$logs/native-$i.txt" 2>&1
    python3 "$bench/bench_tool.py" --source-rdb "$data/$ds.rdb" --source-port 7106 --target-port 7107 \
        --source-conf 'repl-diskless-sync yes' --runs 1 --label rmig-psync "${verify[@]}" \
        -- "$rmig" run "$here/pipelines/live.lua" \
        -s 'source.addr=127.0.0.1:{src_port}' -s 'sink.addr=127.0.0.1:{tgt_port}' \
        > "$logs/rmig-$i.txt" 2>&1
    cp "$BENCH_DIR/run/tool/tool-1.log" "$logs/rmig-$i.log"
    cp "$BENCH_DIR/run/tool/time-1.txt" "$logs/rmig-$i.time"
    # native: "run 1: 3.210 s"; rmig: "run 1: 4.321 s  keys N/N ... tool cpu ... digest match"
    nat=$(sed -n 's/^run 1: \([0-9.]*\) s$/\1/p' "$logs/native-$i.txt")
    line=$(grep -E '^run 1: ([0-9.]+|-) s ' "$logs/rmig-$i.txt" || true)
    rm_s=$(sed -n 's/^run 1: \([0-9.]*\) s .*/\1/p' <<<"$line")
    own=$(sed -n 's/.*the snapshot was applied in \([0-9.]*\) s.*/\1/p' "$logs/rmig-$i.log")
    grep -E 'INCOMPLETE|TIMEOUT|MISMATCH|killed leftover' "$logs/rmig-$i.txt" || true
    if [ -z "$nat" ] || [ -z "$rm_s" ]; then
        echo "pair $i: FAILED (native '${nat}', rmig '${rm_s}'): see $logs"
        cat "$logs/rmig-$i.txt"
        exit 1
    fi
    ratio=$(awk -v a="$rm_s" -v b="$nat" 'BEGIN { printf "%.2f", a / b }')
    detail=$(sed -E 's/^run 1: [0-9.]+ s +//' <<<"$line")
    echo "pair $i: native $nat s | rmig $rm_s s (own snapshot figure ${own:--} s) | ratio $ratio | $detail"
    echo "$nat $rm_s ${own:-nan} $ratio" >> "$logs/pairs.txt"
done

python3 - "$logs/pairs.txt" "$ds" <<'EOF'
import statistics, sys
rows = [[float(x) for x in ln.split()] for ln in open(sys.argv[1])]
col = lambda k: [r[k] for r in rows if r[k] == r[k]]
med = lambda k: statistics.median(col(k)) if col(k) else float("nan")
ratios = col(3)
print("RESULT psync vs native replica, dataset %s, %d pairs: native median %.3f s | rmig median %.3f s "
      "(own snapshot figure %.3f s) | ratio median %.2f (min %.2f, max %.2f) | goal <= 1.5: %s"
      % (sys.argv[2], len(rows), med(0), med(1), med(2), med(3), min(ratios), max(ratios),
         "met" if med(3) <= 1.5 else "NOT met"))
EOF

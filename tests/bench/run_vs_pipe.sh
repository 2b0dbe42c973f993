#!/usr/bin/env bash
# rmig run against redis-cli --pipe of the prepared RESTORE file, interleaved
# in one session under the same harness (../shared/bench/bench_tool.py), since
# these machines are noisy: compare the pairs, not runs from different times.
#
#   tests/bench/run_vs_pipe.sh DATA_DIR DATASET [PIPELINE] [PAIRS]
#   e.g. tests/bench/run_vs_pipe.sh /work/bench/data b plain 3
#
# DATA_DIR holds DATASET.rdb (make_datasets.py) and DATASET.restore.resp
# (dump_restore.py --port P against a server that loaded DATASET.rdb).
# PIPELINE is one of tests/bench/pipelines/*.lua (plain, prefix, lua_names);
# "none" runs rmig only with every pipeline, for node costs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${BENCH_TOOLS:-$root/../shared/bench}
data=$1 ds=$2 pipe=${3:-plain} pairs=${4:-3}
rmig=${RMIG:-$root/build/rmig}
one() { # label command...
    local label=$1; shift
    python3 "$bench/bench_tool.py" --source-rdb "$data/$ds.rdb" --target-port 7107 --runs 1 --wait-exit \
        --label "$label" -- "$@" 2>&1 | grep RESULT | sed 's/RESULT //'
}
for _ in $(seq "$pairs"); do
    if [ "$pipe" = none ]; then
        for p in plain prefix lua_names; do
            one "rmig-$p" "$rmig" run "$here/pipelines/$p.lua" -s 'source.path={rdb}' -s 'sink.addr=127.0.0.1:{tgt_port}'
        done
    else
        one pipe sh -c "redis-cli -p {tgt_port} --pipe < $data/$ds.restore.resp"
        one "rmig-$pipe" "$rmig" run "$here/pipelines/$pipe.lua" -s 'source.path={rdb}' -s 'sink.addr=127.0.0.1:{tgt_port}'
    fi
done

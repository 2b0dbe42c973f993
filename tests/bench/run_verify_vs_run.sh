#!/usr/bin/env bash
# rmig verify against the migration it checks (issue 7's benchmark): for each round,
# FLUSHALL an empty target, `rmig run` DATASET.rdb into it (timed), then `rmig verify`
# of the same pipeline (timed, full mode unless MODE=outline), and report the ratio
# verify/run and both runs' CPU and peak RSS. Goal: verify <= 2x the migration, peak
# RSS under 64 MiB.
#
#   tests/bench/run_verify_vs_run.sh [DATA_DIR] [DATASET] [ROUNDS]
#   e.g. RMIG=build/rmig tests/bench/run_verify_vs_run.sh /work/bench/data a 3
#
# Environment: RMIG (default build/rmig), PORT (7340, the target), MODE (full|outline).
# Each verify must exit 0 (no difference); the target's DBSIZE is checked against
# DATASET.rdb.keys when that file is there. The target is stopped at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${1:-/work/bench/data} ds=${2:-a} rounds=${3:-3}
rmig=${RMIG:-$root/build/rmig}
port=${PORT:-7340}
mode=${MODE:-full}
[ -x "$rmig" ] || { echo "no rmig binary at $rmig (set RMIG)" >&2; exit 2; }
[ -f "$data/$ds.rdb" ] || { echo "no $data/$ds.rdb" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a positive number, not '$rounds'" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

dir=$(mktemp -d /tmp/rmig-verify-bench.XXXXXX)
cleanup() {
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --enable-debug-command yes --daemonize yes --logfile "$dir/target.log" >/dev/null
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
cat > "$dir/p.lua" <<EOF
local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "$data/$ds.rdb" },
  sink = rmig.sink.redis { addr = "127.0.0.1:$port" },
}
EOF
want=$(cat "$data/$ds.rdb.keys" 2>/dev/null || echo "")

# one timed command: "wall_s cpu_s maxrss_kb exit"
timed() {
    local out=$1; shift
    /usr/bin/time -f "%e %U %S %M %x" -o "$dir/time" "$@" >"$out" 2>&1 || true
    awk '{printf "%s %.2f %s %s\n", $1, $2 + $3, $4, $5}' "$dir/time"
}

echo "dataset $ds: $(du -h "$data/$ds.rdb" | cut -f1) RDB${want:+, $want keys}; rmig $rmig; verify --mode $mode"
ratios=() runs=() verifies=() rss=()
fail=0
for i in $(seq "$rounds"); do
    redis-cli -p "$port" flushall >/dev/null
    read -r rw rc rm rx < <(timed "$dir/run.out" "$rmig" run "$dir/p.lua")
    n=$(redis-cli -p "$port" dbsize)
    if [ "$rx" != 0 ] || { [ -n "$want" ] && [ "$n" != "$want" ]; }; then
        echo "round $i: FAILED: rmig run exit $rx, $n keys (want ${want:-?})"; tail -5 "$dir/run.out"; fail=1; continue
    fi
    read -r vw vc vm vx < <(timed "$dir/verify.out" "$rmig" verify "$dir/p.lua" --mode "$mode")
    if [ "$vx" != 0 ]; then
        echo "round $i: FAILED: rmig verify exit $vx"; tail -8 "$dir/verify.out"; fail=1; continue
    fi
    ratio=$(awk -v a="$vw" -v b="$rw" 'BEGIN { printf "%.2f", a / b }')
    printf 'round %d: run %6.2f s (cpu %5.2f s, %3d MiB) | verify %6.2f s (cpu %5.2f s, %3d MiB) | verify/run %s | %s\n' \
        "$i" "$rw" "$rc" $((rm / 1024)) "$vw" "$vc" $((vm / 1024)) "$ratio" "$(grep -m1 'keys checked' "$dir/verify.out")"
    ratios+=("$ratio") runs+=("$rw") verifies+=("$vw") rss+=($((vm / 1024)))
done
[ ${#ratios[@]} -gt 0 ] || exit 1
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
echo "RESULT verify vs run, dataset $ds, $mode, ${#ratios[@]} rounds: run median $(median "${runs[@]}") s | verify median $(median "${verifies[@]}") s | verify/run median $(median "${ratios[@]}") ($(range "${ratios[@]}")) | verify peak RSS max $(printf '%s\n' "${rss[@]}" | sort -n | tail -1) MiB | goals: <= 2x, < 64 MiB"
exit $fail

# shellcheck shell=bash
# Shell helpers shared by the benchmark wrappers run_cluster_vs_node.sh and
# run_scan_vs_rdb.sh; sourced, not run:  . "$here/bench_common.sh"

# bench_stop PY PID_FILE: the cleanup of a wrapper's exit trap.  Sends SIGTERM to the
# bench's python (pid PY, if set and still running) and waits for it; then every
# redis-server the bench listed in PID_FILE ("pid port" lines) that is still up is
# shut down, by pid, and only if that pid still is a redis-server on that port.
bench_stop() {
    local py=$1 pid_file=$2 pid port
    if [ -n "$py" ] && kill -0 "$py" 2>/dev/null; then
        kill -TERM "$py" 2>/dev/null || true
        wait "$py" 2>/dev/null || true
    fi
    while read -r pid port; do
        [ -r "/proc/$pid/cmdline" ] || continue
        # (a running redis-server shows itself as "redis-server 127.0.0.1:PORT")
        tr '\0' ' ' < "/proc/$pid/cmdline" | grep -Eq -- "redis-server.*(--port $port |:$port( |\$))" || continue
        echo "stopping leftover redis-server pid $pid (port $port)" >&2
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    done < "$pid_file"
}

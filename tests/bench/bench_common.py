"""Helpers shared by the session benchmarks cluster_bench.py and scan_bench.py:
logging, the servers they start (checked ports, listed in PID_FILE for the shell
wrapper's trap), signals, the timed client's process group, key counts, log tails
and number formatting.

Importing it puts the shared bench tools (BENCH_TOOLS, default ROOT/../shared/bench)
on sys.path, so that the scripts can import benchlib and bench_tool after it.

Module state, set by the script before use:
  PID_FILE  where start_server() appends "pid port" of every server it starts
  LOG       an open file that log() copies its output to, or None (stdout only)
"""
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED_BENCH = os.environ.get("BENCH_TOOLS", os.path.normpath(os.path.join(ROOT, "..", "shared", "bench")))
sys.path.insert(0, SHARED_BENCH)
from benchlib import BENCH_DIR, Server, check_port, sidecar_keys  # noqa: E402

PID_FILE = None  # "pid port" of every server started, for the shell's trap
LOG = None  # a copy of the output (scan_bench: LOGS/bench.txt), or None


class Stop(Exception):
    pass


def on_signal(sig, _frame):
    raise Stop("signal %d" % sig)


def catch_signals():
    """SIGTERM and SIGHUP raise Stop, so that the servers are stopped on the way out."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def log(msg):
    print(msg, flush=True)
    if LOG:
        LOG.write(msg + "\n")
        LOG.flush()


def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def port_free(port):
    import socket
    with socket.socket() as so:
        so.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            so.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_server(port, name, **kw):
    check_port(port)
    if not port_free(port):
        raise RuntimeError("port %d is in use (another benchmark?): choose --port-base" % port)
    srv = Server(port, name=name, **kw)
    srv.start(wait=False)
    with open(PID_FILE, "a") as f:
        f.write("%d %d\n" % (srv.proc.pid, port))
    srv.wait_ready()
    return srv


def stop_servers(servers):
    """Stop the servers, the last started first; a failure is logged, the others still stopped."""
    for srv in reversed(servers):
        try:
            srv.stop()
        except Exception as e:
            log("stopping %d: %s" % (srv.port, e))


def run_paths(a, kind):
    """From the parsed arguments (--data, --dataset, --rmig, --logs): DATA/DATASET.rdb
    (exit if missing), rmig's absolute path and the logs directory, created
    (--logs, else BENCH_DIR/KIND/DATASET-YYYYmmdd-HHMMSS)."""
    rdb = os.path.abspath(os.path.join(a.data, a.dataset + ".rdb"))
    if not os.path.exists(rdb):
        sys.exit("no %s" % rdb)
    rmig = os.path.abspath(a.rmig)
    logs = a.logs or os.path.join(BENCH_DIR, kind, "%s-%s" % (a.dataset, time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(logs, exist_ok=True)
    return rdb, rmig, logs


def log_start(rmig, dataset, expect, rdb, logs):
    """The first line: which rmig (and its build time), the dataset, the logs."""
    log("rmig %s (%s); dataset %s: %d keys, %.1f MB; logs in %s"
        % (rmig, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(rmig))), dataset,
           expect, os.path.getsize(rdb) / 1e6, logs))


def expected_keys(rmig, rdb):
    n = sidecar_keys(rdb)
    if n:
        return n
    out = subprocess.run([rmig, "inspect", "--count", rdb], stdout=subprocess.PIPE, check=True).stdout.decode()
    m = re.match(r"\s*(\d+) keys", out)
    if not m:
        raise RuntimeError("cannot read the key count of %s: %r" % (rdb, out))
    return int(m.group(1))


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join("      | " + ln for ln in lines[-n:])
    except OSError:
        return ""


def spawn(argv, logpath):
    """Start argv in its own session, stdout and stderr to logpath: (Popen, start time)."""
    with open(logpath, "wb") as logf:
        t0 = time.monotonic()
        # SIGINT back to default: a shell's background job inherits it ignored
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return p, t0


def kill_group(pid):
    """The timed client runs in its own session: its process group id is its pid."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                return
            time.sleep(0.05)


def fmt(x, f="%.2f"):
    return "-" if x is None else f % x

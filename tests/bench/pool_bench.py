#!/usr/bin/env python3
"""rmig from a 4-backend Twemproxy pool into a 3-master Redis Cluster against rmig from
one standalone server into the same cluster, the same data set in both, interleaved
round by round in one session (these machines are noisy: compare the figures of one
run, as ratios).

  python3 tests/bench/pool_bench.py [--data DIR] [--dataset a] [--rounds 3] [--rmig PATH]
        [--port-base 7700] [--psync] [--timeout 1800] [--no-verify] [--logs DIR]

Servers (all loopback, ports in 7700-7799 by default, `--save '' --appendonly no`):
  BASE+1..4    the pool's backends (redis_db 0), behind
  BASE+5       nutcracker (stats on BASE+6): pool "bench", ketama, fnv1a_64, named servers
  BASE+7       the standalone source, loaded from a copy of DATASET.rdb
  BASE+9       DEBUG DIGEST reference, only if DATASET.rdb.digest is missing or stale
  BASE+11..13  the cluster's masters, no replicas; cluster bus ports BASE+21..23
The backends are filled THROUGH the proxy, not by rmig: DATASET.resp (the data set as
RESP commands) is streamed into nutcracker's port and every reply read back and counted
(`redis-cli --pipe` cannot be used: its closing ECHO is a command nutcracker 0.5.0
refuses by closing the connection, and the last SETs in flight are lost with it).
Then the backends must hold DATASET.rdb.keys keys whose DEBUG DIGESTs XOR to the RDB's.
Every round (odd rounds pool first, even rounds standalone first), FLUSHALL of the
masters before each run:
  pool:        rmig run  rmig.source.twemproxy { config, pool, mode = "scan" } -> rmig.sink.cluster
  standalone:  rmig run  rmig.source.scan { addr = standalone }               -> rmig.sink.cluster
and with --psync, the same two with psync sources (rmig.source.twemproxy { mode = "psync" },
rmig.source.psync): such a run does not end by itself, so it is timed until rmig's
stderr says it caught up with every backend (the source), then SIGINTed and its exit
waited for (its CPU and RSS are up to its exit). A pool has no "rdb-per-node" mode
that ends after the snapshots, as rmig.source.cluster has.
After each run: exit status 0, DBSIZE summed over the masters = DATASET.rdb.keys, and
unless --no-verify the masters' DEBUG DIGESTs XORed = DATASET.rdb.digest.  Timed: wall
seconds from start to exit (psync: to caught up); rmig's CPU (user+sys) and peak RSS
from wait4; CPU of the source servers (the 4 backends, or the standalone; with psync
not the forks that write their snapshots) and of the masters over the run.  Prints a table per round and RESULT lines: the median ratio
pool/standalone of the wall times, per mode.  A failed or hung run (--timeout) is
reported and the others go on; exit status 1 if any run failed.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # bench_common, whatever the cwd
import bench_common  # noqa: E402  (puts the shared bench tools on sys.path)
from bench_common import (ROOT, Stop, catch_signals, expected_keys, fmt, kill_group, log,  # noqa: E402
                          log_start, port_free, run_paths, spawn, start_server, stop_servers, tail)
from benchlib import Conn, check_port, median, pre_run_load  # noqa: E402
from bench_tool import rdb_digest  # noqa: E402
from cluster_bench import check, digest_of, dbsizes, flushall, srv_cpu, start_cluster, timed  # noqa: E402

POOL = "bench"
# a psync source: the snapshot at once (7.0 waits 5 s for more replicas to join a diskless sync)
SOURCE_EXTRA = ["--repl-diskless-sync-delay", "0"]


def load_through_proxy(resp, port, expect):
    """Streams the RESP file into the proxy from a thread while this one reads the
    replies: (seconds, replies, whether every reply was +OK).  Every command of the
    file is a SET, whose reply is +OK (5 bytes): any other reply changes the byte
    count."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    failure = []

    def send():
        try:
            with open(resp, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    sock.sendall(chunk)
        except OSError as e:
            failure.append(e)
    t0 = time.monotonic()
    th = threading.Thread(target=send, daemon=True)
    th.start()
    got, lines = 0, 0
    sock.settimeout(60)
    # (one buffer for every read: a fresh 1 MiB bytes per recv() is an mmap and page
    # faults each time, which costs more than the few replies a read may bring)
    buf = bytearray(1 << 20)
    while lines < expect:
        try:
            n = sock.recv_into(buf)
        except socket.timeout:
            break
        if not n:
            break
        got += n
        lines += buf.count(b"\n", 0, n)
    th.join(60)
    sock.close()
    if failure:
        raise RuntimeError("sending %s to the proxy: %s" % (resp, failure[0]))
    return time.monotonic() - t0, lines, got == 5 * lines


# -- a live run, timed until caught up ------------------------------------------------------

def timed_live(argv, logpath, names, timeout, sources, targets):
    """rmig run of a psync source, in its own session: the wall time until its output
    says "caught up with NAME" for every one of names, then SIGINT and the exit waited
    for (rusage to the exit).  On timeout the group is stopped and the run failed."""
    cpu_s0, cpu_t0 = srv_cpu(sources), srv_cpu(targets)
    p, t0 = spawn(argv, logpath)
    rc, ru, caught, timed_out = None, None, None, False
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            now = time.monotonic()
            if pid == p.pid:
                rc = os.waitstatus_to_exitcode(status)
                p.returncode = rc
                break
            if caught is None:
                with open(logpath, "rb") as f:
                    text = f.read().decode(errors="replace")
                if all(("caught up with %s" % n) in text for n in names):
                    caught = now - t0
                    cpu_s1, cpu_t1 = srv_cpu(sources), srv_cpu(targets)
                    os.killpg(p.pid, signal.SIGINT)
            if now - t0 > timeout:
                timed_out = True
                break
            time.sleep(0.02)
    finally:
        if rc is None:
            kill_group(p.pid)
            p.returncode = -1
    if caught is None:
        cpu_s1, cpu_t1 = srv_cpu(sources), srv_cpu(targets)
    if caught is None and rc == 0:
        rc = "0 before it caught up"
    r = dict(wall=caught if caught is not None else time.monotonic() - t0, rc=rc, timed_out=timed_out, done=None,
             srv_cpu=cpu_t1 - cpu_t0, src_cpu=cpu_s1 - cpu_s0, cpu=None, rss=None, exit_wall=time.monotonic() - t0)
    if rc is not None and ru is not None:
        r["cpu"] = ru.ru_utime + ru.ru_stime
        r["rss"] = ru.ru_maxrss / 1024.0
    return r


# -- pipelines -----------------------------------------------------------------------------

def write_pipeline(logs, name, source, m1):
    path = os.path.join(logs, name + ".lua")
    with open(path, "w") as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n  source = %s,\n'
                '  sink = rmig.sink.cluster { addr = "127.0.0.1:%d" },\n}\n' % (source, m1))
    return path


def row(part, r):
    if r is None:
        return "  %-16s  %s" % (part, "not run")
    status = "ok" + (", digest match" if r.get("digest") else "") if r["ok"] else "FAILED: " + r["why"]
    return "  %-16s %9.3f %10.0f %9s %9s %9s %9s  %-22s %s" % (
        part, r["wall"], (r["keys"] / r["wall"]) if r["wall"] and r["ok"] else 0, fmt(r["cpu"]),
        fmt(r["rss"], "%.0f"), fmt(r.get("src_cpu")), fmt(r["srv_cpu"]), "/".join(str(x) for x in r["dist"]), status)


HEADER = "  %-16s %9s %10s %9s %9s %9s %9s  %-22s %s" % (
    "part", "wall s", "keys/s", "cpu s", "rss MiB", "src cpu", "tgt cpu", "keys per master", "check")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/bench/data")
    ap.add_argument("--dataset", default="a")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rmig", default=os.environ.get("RMIG", os.path.join(ROOT, "build", "rmig")))
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("PORT_BASE", "7700")))
    ap.add_argument("--psync", action="store_true", help="also the psync sources, timed until caught up")
    ap.add_argument("--timeout", type=float, default=1800, help="time box of one run, s")
    ap.add_argument("--no-verify", action="store_true", help="key counts only, no DEBUG DIGEST")
    ap.add_argument("--logs")
    a = ap.parse_args()

    rdb, rmig, logs = run_paths(a, "pool-vs-node")
    bench_common.LOG = open(os.path.join(logs, "bench.txt"), "a")
    resp = rdb[:-len(".rdb")] + ".resp"
    if not os.path.exists(resp):
        sys.exit("no %s (the data set as RESP commands, to fill the pool through the proxy)" % resp)
    bench_common.PID_FILE = os.environ.get("PBENCH_PID_FILE") or os.path.join(logs, "servers.pids")
    B = a.port_base
    bports = [B + 1, B + 2, B + 3, B + 4]
    nc_port, nc_stats, src_port, ref_port = B + 5, B + 6, B + 7, B + 9
    mports = [B + 11, B + 12, B + 13]
    busports = [B + 21, B + 22, B + 23]
    for p in bports + [nc_port, nc_stats, src_port, ref_port] + mports + busports:
        check_port(p)
    expect = expected_keys(rmig, rdb)
    log_start(rmig, a.dataset, expect, rdb, logs)
    ref_digest = None if a.no_verify else rdb_digest(rdb, ref_port)

    catch_signals()
    servers, proxy = [], None
    rounds = []
    failed = False
    try:
        backends = [start_server(p, "pbench-b%d" % (i + 1), extra=SOURCE_EXTRA) for i, p in enumerate(bports)]
        servers += backends
        proxy = Proxy(logs, nc_port, nc_stats, backends)
        log("pool %r: backends %s behind nutcracker on %d; filling it through the proxy from %s"
            % (POOL, ",".join(map(str, bports)), nc_port, resp))
        secs, replies, all_ok = load_through_proxy(resp, nc_port, expect)
        sizes = dbsizes(backends)
        log("  %d replies (%s) in %.1f s (%.0f SET/s through the proxy); keys per backend %s"
            % (replies, "all +OK" if all_ok else "NOT all +OK", secs, replies / secs if secs else 0,
               "/".join(map(str, sizes))))
        if not all_ok or replies != expect or sum(sizes) != expect:
            raise RuntimeError("the pool holds %d keys, not %d (%d replies)" % (sum(sizes), expect, replies))
        if ref_digest:
            d = digest_of(backends)
            if d != ref_digest:
                raise RuntimeError("the pool's backends' DEBUG DIGESTs XOR to %s, not %s" % (d, ref_digest))
            log("  the backends' DEBUG DIGESTs XOR to the RDB's (%s)" % d)
        log("standalone source on %d: loading a copy of %s" % (src_port, rdb))
        node = start_server(src_port, "pbench-source", rdb=rdb, copy_rdb=True, extra=SOURCE_EXTRA)
        servers.append(node)
        if dbsizes([node])[0] != expect:
            raise RuntimeError("the standalone source holds %d keys, not %d" % (dbsizes([node])[0], expect))
        masters = start_cluster(mports, busports, servers)
        log("cluster masters %s (bus %s), cluster_state:ok"
            % (",".join(map(str, mports)), ",".join(map(str, busports))))

        pool_src = 'rmig.source.twemproxy { config = "%s", pool = "%s", mode = "%%s"%%s }' % (proxy.conf, POOL)
        parts = [("pool scan", write_pipeline(logs, "pool-scan", pool_src % ("scan", ""), mports[0]), backends, None),
                 ("standalone scan", write_pipeline(logs, "standalone-scan",
                                                    'rmig.source.scan { addr = "127.0.0.1:%d" }' % src_port,
                                                    mports[0]), [node], None)]
        if a.psync:
            st = os.path.join(logs, "spool")
            parts += [("pool psync", write_pipeline(logs, "pool-psync",
                                                    pool_src % ("psync", ', spool_dir = "%s-pool"' % st), mports[0]),
                       backends, ["127.0.0.1:%d" % p for p in bports]),
                      ("standalone psync", write_pipeline(logs, "standalone-psync",
                                                          'rmig.source.psync { addr = "127.0.0.1:%d", spool_dir = '
                                                          '"%s-node" }' % (src_port, st), mports[0]),
                       [node], ["127.0.0.1:%d" % src_port])]
        for i in range(1, a.rounds + 1):
            log("round %d" % i)
            res = {}
            # odd rounds the pool first, even rounds the standalone first (per mode)
            order = []
            for k in range(0, len(parts), 2):
                pair = parts[k:k + 2]
                order += pair if i % 2 else pair[::-1]
            for name, lua, sources, live in order:
                flushall(masters)
                load = pre_run_load()
                lp = os.path.join(logs, "%s-%d.log" % (name.replace(" ", "-"), i))
                if live:
                    r = timed_live([rmig, "run", lua], lp, live, a.timeout, sources, masters)
                else:
                    cs0 = srv_cpu(sources)
                    r = timed([rmig, "run", lua], lp, a.timeout, masters,
                              progress=lambda: "%d keys in the cluster" % sum(dbsizes(masters)),
                              count=lambda: sum(dbsizes(masters)))
                    r["src_cpu"] = srv_cpu(sources) - cs0
                r["load"] = load
                check(name, r, masters, expect, ref_digest, lp)
                res[name] = r
                failed |= not r["ok"]
            flushall(masters)
            ratios = {}
            for mode in ("scan", "psync"):
                p_, n_ = res.get("pool " + mode), res.get("standalone " + mode)
                if p_ and n_:
                    ratios[mode] = p_["wall"] / n_["wall"] if p_["ok"] and n_["ok"] else None
            rounds.append((res, ratios))
            log("  (background load before each, busy cores: %s)"
                % ", ".join("%s %.2f" % (n, res[n]["load"]) for n, _, _, _ in order))
            log(HEADER)
            for name, _, _, _ in parts:
                log(row(name, res[name]))
            log("  " + " | ".join("pool/standalone %s %s" % (m, fmt(x)) for m, x in ratios.items()))
    except (Stop, KeyboardInterrupt) as e:
        log("interrupted (%s): stopping the servers" % e)
        failed = True
    except Exception as e:  # a server that would not start, a pool that would not fill
        log("ERROR: %s" % e)
        failed = True
    finally:
        if proxy:
            proxy.stop()
        stop_servers(servers)

    # -- results ---------------------------------------------------------------
    for mode in ("scan", "psync"):
        if not rounds or ("pool " + mode) not in rounds[0][0]:
            continue
        pw = [res["pool " + mode]["wall"] for res, _ in rounds if res["pool " + mode]["ok"]]
        nw = [res["standalone " + mode]["wall"] for res, _ in rounds if res["standalone " + mode]["ok"]]
        ratios = [r[mode] for _, r in rounds if r.get(mode)]
        how = "wall to exit" if mode == "scan" else "wall until caught up with every source"
        if ratios:
            mp, mn = median(pw), median(nw)
            log("RESULT pool vs standalone -> 3-master cluster, %s, dataset %s, %d rounds (%s): pool median %.3f s "
                "(%.0f keys/s) | standalone median %.3f s (%.0f keys/s) | pool/standalone median %.2f (min %.2f, "
                "max %.2f)" % (mode, a.dataset, len(rounds), how, mp, expect / mp, mn, expect / mn, median(ratios),
                               min(ratios), max(ratios)))
        else:
            log("RESULT pool vs standalone -> 3-master cluster, %s, dataset %s: no round with both runs ok"
                % (mode, a.dataset))
    log("logs: %s" % logs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

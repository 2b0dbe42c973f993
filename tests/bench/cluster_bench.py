#!/usr/bin/env python3
"""rmig into a 3-master Redis Cluster against rmig into one node, and against
`redis-cli --cluster import`, interleaved in one session (these machines are
noisy: compare the figures of one run, not figures from different times).

  python3 tests/bench/cluster_bench.py [--data DIR] [--dataset a] [--rounds 3] [--rmig PATH]
        [--port-base 7200] [--import-timeout 1200] [--no-import] [--no-verify] [--logs DIR]

Servers (all loopback, all ports in 7000-7999, `--save '' --appendonly no`):
  BASE+1       standalone target ("node")
  BASE+2       standalone source loaded from a copy of DATASET.rdb (import only, round 1)
  BASE+4       DEBUG DIGEST reference, only if DATASET.rdb.digest is missing or stale
  BASE+11..13  cluster masters, no replicas; cluster bus ports BASE+21..23 (cluster-port)
Every round:
  1. node:    FLUSHALL the node, time `rmig run` rmig.source.rdb -> rmig.sink.redis{node};
  2. cluster: FLUSHALL every master, time `rmig run` rmig.source.rdb -> rmig.sink.cluster{addr=first master};
  3. import (round 1 only, time-boxed by --import-timeout): FLUSHALL the masters, time
     `redis-cli --cluster import 127.0.0.1:M1 --cluster-from 127.0.0.1:SRC --cluster-copy --cluster-replace`;
     on timeout the rate of the keys done gives a projected time (marked "~").
After each part: key count (DBSIZE, summed over the masters) against DATASET.rdb.keys
(or `rmig inspect --count`), and unless --no-verify DEBUG DIGEST against DATASET.rdb.digest
(for the cluster, the masters' digests XORed: Redis XORs per-key digests, so the sum over
the masters equals the one-node digest).  Timed: wall seconds from start to exit; CPU
(user+sys) and peak RSS of the timed client (rmig / redis-cli) from wait4; CPU of the
target redis-server(s).  Prints a table per round and RESULT lines: median cluster/node
(goal <= 1.25) and import/cluster (goal >= 5).  A failed or hung part (--rmig-timeout,
default max(120 s, 10x the node time)) is reported and the other parts go on; exit
status 1 if any part failed, else 0 (goals are reported, not enforced).
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # bench_common, whatever the cwd
import bench_common  # noqa: E402  (puts the shared bench tools on sys.path)
from bench_common import (ROOT, Stop, catch_signals, expected_keys, fmt, kill_group, log,  # noqa: E402
                          log_start, port_free, run_paths, s, spawn, start_server, stop_servers, tail)
from benchlib import BENCH_DIR, REDIS_CLI, check_port, median, pre_run_load, proc_cpu  # noqa: E402
from bench_tool import rdb_digest  # noqa: E402


# -- the cluster ------------------------------------------------------------------------

def start_cluster(ports, bus_ports, servers):
    """3 cluster-enabled servers, joined by `redis-cli --cluster create`; returns them
    once every master reports cluster_state:ok and knows every node."""
    masters = []
    for p, bp in zip(ports, bus_ports):
        check_port(bp)
        if not port_free(bp):
            raise RuntimeError("cluster bus port %d is in use: choose --port-base" % bp)
        name = "cbench-m%d" % p
        conf = os.path.join(BENCH_DIR, "run", name, "nodes-%d.conf" % p)
        if os.path.exists(conf):
            os.unlink(conf)
        srv = start_server(p, name, extra=["--cluster-enabled", "yes", "--cluster-config-file", conf,
                                           "--cluster-port", str(bp), "--cluster-node-timeout", "5000"])
        servers.append(srv)
        masters.append(srv)
    cmd = [REDIS_CLI, "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports] + \
          ["--cluster-replicas", "0", "--cluster-yes"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("redis-cli --cluster create failed:\n" + r.stdout.decode(errors="replace"))
    deadline = time.monotonic() + 60
    while True:
        ok = True
        for m in masters:
            info = s(m.conn().call("CLUSTER", "INFO"))
            d = dict(ln.split(":", 1) for ln in info.split("\r\n") if ":" in ln)
            if d.get("cluster_state") != "ok" or d.get("cluster_known_nodes") != str(len(ports)) \
                    or d.get("cluster_slots_ok") != "16384":
                ok = False
        if ok:
            return masters
        if time.monotonic() > deadline:
            raise RuntimeError("cluster not ok after 60 s:\n" + info)
        time.sleep(0.1)


# -- helpers ----------------------------------------------------------------------------

def flushall(servers):
    for srv in servers:
        c = srv.conn()
        c.call("FLUSHALL")
        c.close()


def dbsizes(servers):
    out = []
    for srv in servers:
        c = srv.conn()
        out.append(int(c.call("DBSIZE")))
        c.close()
    return out


def digest_of(servers):
    """XOR of DEBUG DIGEST over servers holding db 0 only: each is C ^ (xor of the key
    digests), C = SHA1(SHA1(4 zero bytes)) (debug.c's mixDigest of the db id 0: the
    id's SHA1 xored into the zero digest, then hashed again), all-zero when empty."""
    c0 = hashlib.sha1(hashlib.sha1(b"\0" * 4).digest()).digest()
    acc, nonempty = bytes(20), 0
    for srv in servers:
        c = srv.conn()
        d = bytes.fromhex(s(c.call("DEBUG", "DIGEST")))
        c.close()
        if d != bytes(20):
            nonempty += 1
            acc = bytes(x ^ y for x, y in zip(acc, d))
    if nonempty % 2 == 0 and nonempty:
        acc = bytes(x ^ y for x, y in zip(acc, c0))
    return acc.hex()


def srv_cpu(servers):
    return sum(proc_cpu(x.proc.pid) or 0 for x in servers)


def timed(argv, logpath, timeout, targets, progress=None, count=None):
    """Run argv (own session), wall time to its exit, its rusage from wait4 and the
    targets' CPU.  On timeout the wall time is the time box, count() (keys so far) is
    taken, then the group gets SIGINT/SIGTERM/SIGKILL, by id.
    progress(): called every 10 s when set (e.g. keys so far), printed."""
    cpu0 = srv_cpu(targets)
    p, t0 = spawn(argv, logpath)
    timed_out, rc, ru = False, None, None
    next_note = t0 + 10
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            now = time.monotonic()
            if pid == p.pid:
                rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
                p.returncode = rc
                break
            if now - t0 > timeout:
                timed_out = True
                wall = now - t0
                done = count() if count else None
                break
            if progress and now >= next_note:
                log("      %.0f s: %s" % (now - t0, progress()))
                next_note = now + 10
            time.sleep(0.005)
    finally:
        if rc is None:
            cpu1 = srv_cpu(targets)
            kill_group(p.pid)
            p.returncode = -1
    if not timed_out:
        wall, done, cpu1 = time.monotonic() - t0, None, srv_cpu(targets)
    r = dict(wall=wall, rc=rc, timed_out=timed_out, done=done, srv_cpu=cpu1 - cpu0, cpu=None, rss=None)
    if not timed_out and ru is not None:
        r["cpu"] = ru.ru_utime + ru.ru_stime
        r["rss"] = ru.ru_maxrss / 1024.0
    return r


# -- the parts --------------------------------------------------------------------------

def write_pipelines(logs, rdb, node_port, m1):
    node = os.path.join(logs, "node.lua")
    clus = os.path.join(logs, "cluster.lua")
    with open(node, "w") as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                '  source = rmig.source.rdb { path = %r },\n'
                '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n' % (rdb, node_port))
    with open(clus, "w") as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                '  source = rmig.source.rdb { path = %r },\n'
                '  sink = rmig.sink.cluster { addr = "127.0.0.1:%d" },\n}\n' % (rdb, m1))
    return node, clus


def check(part, r, targets, expect, ref_digest, logpath):
    sizes = dbsizes(targets)
    r["keys"] = sum(sizes) if r.get("done") is None else r["done"]
    r["dist"] = sizes
    r["digest"] = None
    problems = []
    if r["timed_out"]:
        problems.append("TIMEOUT after %.0f s" % r["wall"])
    elif r["rc"] != 0:
        problems.append("exit status %s" % r["rc"])
    if r["keys"] != expect:
        problems.append("%d of %d keys" % (r["keys"], expect))
    if ref_digest and not problems:
        r["digest"] = digest_of(targets) == ref_digest
        if not r["digest"]:
            problems.append("DEBUG DIGEST MISMATCH")
    r["ok"] = not problems
    r["why"] = "; ".join(problems)
    if problems:
        log("    %s FAILED: %s (log %s), last lines:\n%s" % (part, r["why"], logpath, tail(logpath)))
    return r


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def summarize_import_log(path):
    """redis-cli --cluster import logs one line per key: keep a count and the ends."""
    ok = bad = 0
    head, last, errs = [], [], []
    try:
        with open(path, "rb") as f:
            for ln in f:
                t = ANSI.sub("", ln.decode(errors="replace")).strip()
                if t.startswith("Migrating "):
                    if t.endswith("OK"):
                        ok += 1
                    else:
                        bad += 1
                        if len(errs) < 20:
                            errs.append(t)
                elif len(head) < 30:
                    head.append(t)
                last = (last + [t])[-20:]
    except OSError:
        return
    with open(path, "w") as f:
        f.write("# summarized: %d keys migrated OK, %d other Migrating lines\n" % (ok, bad))
        f.write("\n".join(head + ["# ... errors:"] + errs + ["# ... last lines:"] + last) + "\n")


def row(part, r, expect):
    if r is None:
        return "  %-8s  %s" % (part, "not run")
    wall = r.get("proj") or r["wall"]
    mark = "~" if r.get("proj") else " "
    if r.get("proj"):
        status = "time box reached: %d keys done, time projected" % r["keys"]
    elif r["ok"]:
        status = "ok" + (", digest match" if r["digest"] else "")
    else:
        status = "FAILED: " + r["why"]
    return "  %-8s %s%9.3f %10.0f %9s %9s %9s  %-22s %s" % (
        part, mark, wall, (r["keys"] / r["wall"]) if r["wall"] else 0, fmt(r["cpu"]), fmt(r["rss"], "%.0f"),
        fmt(r["srv_cpu"]), "/".join(str(x) for x in r["dist"]), status)


HEADER = "  %-8s  %9s %10s %9s %9s %9s  %-22s %s" % (
    "part", "wall s", "keys/s", "cpu s", "rss MiB", "srv cpu", "keys per server", "check")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/bench/data")
    ap.add_argument("--dataset", default="a")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rmig", default=os.environ.get("RMIG", os.path.join(ROOT, "build", "rmig")))
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("PORT_BASE", "7200")))
    ap.add_argument("--import-timeout", type=float, default=1200)
    ap.add_argument("--node-timeout", type=float, default=1800, help="time box of a node run, s")
    ap.add_argument("--rmig-timeout", type=float, help="time box of a cluster run, s (default max(120, 10x node))")
    ap.add_argument("--no-import", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="key counts only, no DEBUG DIGEST")
    ap.add_argument("--logs")
    a = ap.parse_args()

    rdb, rmig, logs = run_paths(a, "cluster-vs-node")
    bench_common.PID_FILE = os.environ.get("CBENCH_PID_FILE") or os.path.join(logs, "servers.pids")
    B = a.port_base
    node_port, src_port, ref_port = B + 1, B + 2, B + 4
    mports = [B + 11, B + 12, B + 13]
    bports = [B + 21, B + 22, B + 23]
    for p in [node_port, src_port, ref_port] + mports + bports:
        check_port(p)
    expect = expected_keys(rmig, rdb)
    log_start(rmig, a.dataset, expect, rdb, logs)
    ref_digest = None if a.no_verify else rdb_digest(rdb, ref_port)
    node_lua, clus_lua = write_pipelines(logs, rdb, node_port, mports[0])

    catch_signals()
    servers = []
    rounds = []
    imp = None
    failed = False
    try:
        node = start_server(node_port, "cbench-node")
        servers.append(node)
        masters = start_cluster(mports, bports, servers)
        log("node 127.0.0.1:%d; cluster masters %s (bus %s), cluster_state:ok"
            % (node_port, ",".join(map(str, mports)), ",".join(map(str, bports))))
        for i in range(1, a.rounds + 1):
            log("round %d" % i)
            # 1. one node
            flushall([node])
            load = pre_run_load()
            lp = os.path.join(logs, "node-%d.log" % i)
            rn = timed([rmig, "run", node_lua], lp, a.node_timeout, [node])
            rn["load"] = load
            check("node", rn, [node], expect, ref_digest, lp)
            flushall([node])  # free its memory before the cluster run
            # 2. the cluster
            flushall(masters)
            load = pre_run_load()
            lp = os.path.join(logs, "cluster-%d.log" % i)
            tmo = a.rmig_timeout or max(120.0, 10 * rn["wall"])
            rc = timed([rmig, "run", clus_lua], lp, tmo, masters,
                       progress=lambda: "%d keys in the cluster" % sum(dbsizes(masters)),
                       count=lambda: sum(dbsizes(masters)))
            rc["load"] = load
            check("cluster", rc, masters, expect, ref_digest, lp)
            flushall(masters)
            # 3. redis-cli --cluster import, round 1 only
            if i == 1 and not a.no_import:
                log("    import: loading the source server on %d from a copy of %s" % (src_port, rdb))
                src = start_server(src_port, "cbench-source", rdb=rdb, copy_rdb=True)
                servers.append(src)
                load = pre_run_load()
                lp = os.path.join(logs, "import-1.log")
                imp = timed([REDIS_CLI, "--cluster", "import", "127.0.0.1:%d" % mports[0],
                             "--cluster-from", "127.0.0.1:%d" % src_port, "--cluster-copy", "--cluster-replace"],
                            lp, a.import_timeout, masters + [src],
                            progress=lambda: "%d keys in the cluster" % sum(dbsizes(masters)),
                            count=lambda: sum(dbsizes(masters)))
                imp["load"] = load
                summarize_import_log(lp)
                if imp["timed_out"]:
                    done = imp["done"]
                    imp["proj"] = expect / (done / imp["wall"]) if done else None
                    log("    import: time box of %.0f s reached with %d of %d keys: %.0f keys/s, projected %s s"
                        % (a.import_timeout, done, expect, done / imp["wall"], fmt(imp["proj"], "%.0f")))
                    imp.update(keys=done, dist=dbsizes(masters), digest=None, ok=bool(done),
                               why="" if done else "no key imported")
                else:
                    check("import", imp, masters, expect, ref_digest, lp)
                src.stop()
                servers.remove(src)
                flushall(masters)
            ratio = rc["wall"] / rn["wall"] if rn["ok"] and rc["ok"] else None
            rounds.append((rn, rc, ratio))
            failed |= not rn["ok"] or not rc["ok"] or (imp is not None and i == 1 and not imp["ok"])
            log("  (background load before each: node %.2f, cluster %.2f%s busy cores)"
                % (rn["load"], rc["load"], ", import %.2f" % imp["load"] if imp and i == 1 else ""))
            log(HEADER)
            log(row("node", rn, expect))
            log(row("cluster", rc, expect))
            if i == 1 and imp:
                log(row("import", imp, expect) + ("  (~ = projected from the keys done)" if imp.get("proj") else ""))
            log("  cluster/node %s%s" % (fmt(ratio), "" if ratio else " (a part failed)"))
    except (Stop, KeyboardInterrupt) as e:
        log("interrupted (%s): stopping the servers" % e)
        failed = True
    except Exception as e:  # a server that would not start, a cluster that would not form
        log("ERROR: %s" % e)
        failed = True
    finally:
        stop_servers(servers)

    # -- results ---------------------------------------------------------------
    if rounds:
        nodes = [rn["wall"] for rn, _, _ in rounds if rn["ok"]]
        clus = [rc["wall"] for _, rc, _ in rounds if rc["ok"]]
        ratios = [x for _, _, x in rounds if x]
        mn, mc = median(nodes), median(clus)
        if ratios:
            mr = median(ratios)
            log("RESULT cluster vs node, dataset %s, %d rounds: node median %.3f s | cluster median %.3f s | "
                "cluster/node median %.2f (min %.2f, max %.2f) | goal <= 1.25: %s"
                % (a.dataset, len(rounds), mn, mc, mr, min(ratios), max(ratios), "met" if mr <= 1.25 else "NOT met"))
        else:
            log("RESULT cluster vs node, dataset %s: no round with both parts ok (node median %s s, cluster: %s)"
                % (a.dataset, fmt(mn, "%.3f"), rounds[0][1]["why"] or "failed"))
        if imp and imp["ok"]:
            ti = imp.get("proj") or imp["wall"]
            how = "projected from %d keys in %.0f s" % (imp["keys"], imp["wall"]) if imp.get("proj") else "complete"
            if mc:
                r = ti / mc
                log("RESULT import vs cluster, dataset %s: redis-cli --cluster import %.3f s (%s) | rmig cluster median "
                    "%.3f s | import/cluster %.2f | goal >= 5: %s" % (a.dataset, ti, how, mc, r, "met" if r >= 5 else "NOT met"))
            else:
                log("RESULT import vs cluster, dataset %s: redis-cli --cluster import %.3f s (%s) | rmig cluster: failed, "
                    "no ratio (import/node %.2f, for reference only)" % (a.dataset, ti, how, ti / mn if mn else float("nan")))
        elif imp:
            log("RESULT import vs cluster, dataset %s: import FAILED: %s" % (a.dataset, imp["why"]))
    log("logs: %s" % logs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

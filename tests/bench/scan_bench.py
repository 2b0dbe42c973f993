#!/usr/bin/env python3
"""rmig.source.scan of a live source server against rmig.source.rdb of the RDB that
server was loaded from, both into the same empty target, interleaved pair by pair in
one session (these machines are noisy: compare the figures of one run, as ratios).

  python3 tests/bench/scan_bench.py [--data DIR] [--dataset a] [--pairs 3] [--rmig PATH]
        [--port-base 7300] [--timeout 1800] [--scan-opts 'count = 1000'] [--no-verify] [--logs DIR]

Servers (loopback, ports in 7000-7999, `--save '' --appendonly no`, DEBUG enabled):
  BASE+1  source: loaded from a copy of DATASET.rdb (its dbfilename, in its own dir)
  BASE+2  target: empty
Every pair (odd pairs scan first, even pairs rdb first):
  scan: FLUSHALL the target, time `rmig run` of
        rmig.source.scan { addr = source [, SCAN_OPTS] } -> rmig.sink.redis { addr = target }
  rdb:  FLUSHALL the target, time `rmig run` of
        rmig.source.rdb { path = DATA/DATASET.rdb } -> rmig.sink.redis { addr = target }
Timed: wall seconds from start to exit; rmig's CPU (user+sys) and peak RSS from wait4
(what /usr/bin/time -v reports); the source's and the target's CPU (utime+stime of
every thread, /proc/PID/stat) over the run; the commands the source served (INFO stats
total_commands_processed, less the bench's own).  The source's CPU during the rdb run
is the control (idle: ~0).  After each run: exit status 0, target DBSIZE = the source's
(= DATASET.rdb.keys), and unless --no-verify the target's DEBUG DIGEST = the source's
(itself checked against DATASET.rdb.digest, written when missing).  A mismatch fails
the run loudly; the ratio of a pair needs both runs ok.  Prints one line per run, one
per pair, a table of medians and a RESULT line; exit status 1 if any run failed.
"""
import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # bench_common, whatever the cwd
import bench_common  # noqa: E402  (puts the shared bench tools on sys.path)
from bench_common import (ROOT, Stop, catch_signals, expected_keys, fmt, kill_group, log,  # noqa: E402
                          log_start, run_paths, s, spawn, start_server, stop_servers, tail)
from benchlib import check_port, median, pre_run_load, proc_cpu  # noqa: E402


def call(srv, *args):
    c = srv.conn()
    try:
        return c.call(*args)
    finally:
        c.close()


def dbsize(srv):
    return int(call(srv, "DBSIZE"))


def digest(srv):
    return s(call(srv, "DEBUG", "DIGEST"))


def commands(srv):
    """total_commands_processed (the INFO itself included: the caller subtracts its own)
    and the calls per command (INFO commandstats, as of before this INFO)."""
    c = srv.conn()
    try:
        n = int(c.info("stats")["total_commands_processed"])
        per = {}
        for k, v in c.info("commandstats").items():
            m = re.match(r"calls=(\d+)", v)
            if k.startswith("cmdstat_") and m:
                per[k[8:]] = int(m.group(1))
        return n, per
    finally:
        c.close()


def per_command(a, b):
    """'dump 2000000, pttl 2000000, scan 2000' from two commandstats (the bench's own INFO
    calls left out)."""
    d = {k: v - a.get(k, 0) for k, v in b.items() if k != "info" and v - a.get(k, 0) > 0}
    return ", ".join("%s %d" % (k, v) for k, v in sorted(d.items(), key=lambda kv: -kv[1]))


def timed(argv, logpath, timeout, src, tgt):
    """Run argv (own session) to its exit: wall time, its rusage from wait4, the source's
    and the target's CPU and the source's command count over the run."""
    n0, per0 = commands(src)
    s0, t0cpu = proc_cpu(src.proc.pid), proc_cpu(tgt.proc.pid)
    p, t0 = spawn(argv, logpath)
    rc, ru, timed_out = None, None, False
    try:
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                wall = time.monotonic() - t0
                rc = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
                p.returncode = rc
                break
            if time.monotonic() - t0 > timeout:
                timed_out, wall = True, time.monotonic() - t0
                break
            time.sleep(0.005)
    finally:
        if rc is None:
            kill_group(p.pid)
            p.returncode = -1
    s1, t1cpu = proc_cpu(src.proc.pid), proc_cpu(tgt.proc.pid)
    n1, per1 = commands(src)
    r = dict(wall=wall, rc=rc, timed_out=timed_out, cpu=None, rss=None,
             src_cpu=s1 - s0, tgt_cpu=t1cpu - t0cpu, src_cmds=n1 - n0 - 2,  # -2: the first INFOs
             src_per=per_command(per0, per1))
    if ru is not None and not timed_out:
        r["cpu"] = ru.ru_utime + ru.ru_stime
        r["rss"] = ru.ru_maxrss / 1024.0
    return r


def write_pipelines(logs, rdb, src_port, tgt_port, scan_opts):
    scan = os.path.join(logs, "scan.lua")
    rdbp = os.path.join(logs, "rdb.lua")
    extra = (", " + scan_opts) if scan_opts else ""
    with open(scan, "w") as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                '  source = rmig.source.scan { addr = "127.0.0.1:%d"%s },\n'
                '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n' % (src_port, extra, tgt_port))
    with open(rdbp, "w") as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                '  source = rmig.source.rdb { path = "%s" },\n'
                '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n' % (rdb.replace("\\", "\\\\").replace('"', '\\"'), tgt_port))
    return {"scan": scan, "rdb": rdbp}


SUMMARY = re.compile(r"read (\d+) keys, wrote (\d+), dropped (\d+), skipped (\d+) \(existing\), failed (\d+), in ([0-9.]+) s")
GONE = re.compile(r"(\d+) gone before their DUMP")


def own_summary(logpath):
    """rmig's own last lines: "read N keys, wrote N, ..., failed F, in X s" and the
    scan's "G gone before their DUMP"."""
    out = {}
    try:
        with open(logpath, errors="replace") as f:
            text = f.read()
    except OSError:
        return out
    m = SUMMARY.findall(text)
    if m:
        rd, wr, dr, sk, fa, sec = m[-1]
        out.update(read=int(rd), wrote=int(wr), dropped=int(dr), skipped=int(sk), failed=int(fa), secs=float(sec))
    g = GONE.findall(text)
    if g:
        out["gone"] = int(g[-1])
    return out


def check(part, r, tgt, expect, ref_digest, logpath):
    problems = []
    if r["timed_out"]:
        problems.append("TIMEOUT after %.0f s" % r["wall"])
    elif r["rc"] != 0:
        problems.append("exit status %s" % r["rc"])
    r["own"] = own_summary(logpath)
    if r["own"].get("failed"):
        problems.append("rmig says %d keys failed" % r["own"]["failed"])
    r["keys"] = dbsize(tgt)
    if r["keys"] != expect:
        problems.append("%d of %d keys" % (r["keys"], expect))
    r["digest"] = None
    if ref_digest and not r["timed_out"]:
        d = digest(tgt)
        r["digest"] = d == ref_digest
        if not r["digest"]:
            problems.append("DEBUG DIGEST MISMATCH (target %s, source %s)" % (d, ref_digest))
    r["ok"] = not problems
    r["why"] = "; ".join(problems)
    if problems:
        log("    %s FAILED: %s (log %s), last lines:\n%s" % (part, r["why"], logpath, tail(logpath)))
    return r


def run_line(part, r):
    st = ("ok" + (", digest match" if r["digest"] else ", keys only")) if r["ok"] else "FAILED: " + r["why"]
    own = r.get("own") or {}
    gone = (", %d gone" % own["gone"]) if own.get("gone") else ""
    return ("    %-4s %8.3f s (own %s s%s) %9.0f keys/s | rmig cpu %s s rss %s MiB | source cpu %s s (%s cores)"
            " %d cmds | target cpu %s s | load %.2f%s | %s"
            % (part, r["wall"], fmt(own.get("secs")), gone, r["keys"] / r["wall"] if r["wall"] else 0,
               fmt(r["cpu"]), fmt(r["rss"], "%.0f"),
               fmt(r["src_cpu"]), fmt(r["src_cpu"] / r["wall"] if r["wall"] else None), r["src_cmds"],
               fmt(r["tgt_cpu"]), r["load"], (" after %.0f s" % r["waited"]) if r["waited"] >= 2 else "", st)
            + ("\n           source commands: " + r["src_per"] if r["src_per"] else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/bench/data")
    ap.add_argument("--dataset", default="a")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rmig", default=os.environ.get("RMIG", os.path.join(ROOT, "build", "rmig")))
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("PORT_BASE", "7300")))
    ap.add_argument("--timeout", type=float, default=1800, help="time box of one rmig run, s")
    ap.add_argument("--scan-opts", default="", help="more options of rmig.source.scan, Lua: 'count = 500'")
    ap.add_argument("--no-verify", action="store_true", help="key counts only, no DEBUG DIGEST")
    ap.add_argument("--logs")
    a = ap.parse_args()
    if a.pairs < 1:
        sys.exit("--pairs must be >= 1")

    rdb, rmig, logs = run_paths(a, "scan-vs-rdb")
    bench_common.LOG = open(os.path.join(logs, "bench.txt"), "a")
    bench_common.PID_FILE = os.environ.get("SBENCH_PID_FILE") or os.path.join(logs, "servers.pids")
    src_port, tgt_port = a.port_base + 1, a.port_base + 2
    for p in (src_port, tgt_port):
        check_port(p)
    expect = expected_keys(rmig, rdb)
    log_start(rmig, a.dataset, expect, rdb, logs)
    lua = os.environ.get("RMIG_LUA_PATH")
    if lua:
        try:
            src = " (" + open(os.path.join(os.path.dirname(lua.rstrip("/")), "FROM")).read().strip() + ")"
        except OSError:
            src = ""
        log("rmig's Lua library: %s, RMIG_LUA_PATH%s" % (lua, src))
    pipes = write_pipelines(logs, rdb, src_port, tgt_port, a.scan_opts)

    catch_signals()
    servers, pairs, failed = [], [], False
    try:
        t = time.monotonic()
        src = start_server(src_port, "sbench-source", rdb=rdb, copy_rdb=True)
        servers.append(src)
        n = dbsize(src)
        log("source 127.0.0.1:%d loaded a copy of %s in %.1f s: %d keys"
            % (src_port, os.path.basename(rdb), time.monotonic() - t, n))
        if n != expect:
            raise RuntimeError("the source holds %d keys, %s.keys says %d" % (n, rdb, expect))
        tgt = start_server(tgt_port, "sbench-target")
        servers.append(tgt)
        if dbsize(tgt):
            raise RuntimeError("the target on %d is not empty" % tgt_port)
        ref_digest = None
        if not a.no_verify:
            ref_digest = digest(src)
            side = rdb + ".digest"
            if os.path.exists(side) and os.path.getmtime(side) >= os.path.getmtime(rdb):
                want = open(side).read().strip()
                if want != ref_digest:
                    raise RuntimeError("DEBUG DIGEST MISMATCH: the source loaded from %s says %s, %s says %s"
                                       % (rdb, ref_digest, side, want))
                log("source digest %s = %s" % (ref_digest, os.path.basename(side)))
            else:
                with open(side, "w") as f:
                    f.write(ref_digest + "\n")
                log("source digest %s (written to %s)" % (ref_digest, side))
        log("target 127.0.0.1:%d empty; pipelines %s, %s" % (tgt_port, pipes["scan"], pipes["rdb"]))
        for i in range(1, a.pairs + 1):
            order = ["scan", "rdb"] if i % 2 else ["rdb", "scan"]
            log("pair %d (%s first)" % (i, order[0]))
            res = {}
            for part in order:
                call(tgt, "FLUSHALL")
                w0 = time.monotonic()
                load = pre_run_load()
                waited = time.monotonic() - w0
                lp = os.path.join(logs, "%s-%d.log" % (part, i))
                r = timed([rmig, "run", pipes[part]], lp, a.timeout, src, tgt)
                r["load"], r["waited"] = load, waited
                check(part, r, tgt, expect, ref_digest, lp)
                res[part] = r
                log(run_line(part, r))
                failed |= not r["ok"]
            call(tgt, "FLUSHALL")
            # the scan must leave the source as it was
            if dbsize(src) != expect:
                log("    SOURCE CHANGED: it now holds %d keys, not %d" % (dbsize(src), expect))
                failed = True
            sc, rd = res["scan"], res["rdb"]
            ratio = sc["wall"] / rd["wall"] if sc["ok"] and rd["ok"] else None
            pairs.append((sc, rd, ratio))
            log("  pair %d: scan %.3f s | rdb %.3f s | scan/rdb %s | source cpu during the scan %s s (%s cores), "
                "during the rdb run %s s" % (i, sc["wall"], rd["wall"], fmt(ratio) if ratio else "- (a run failed)",
                                              fmt(sc["src_cpu"]), fmt(sc["src_cpu"] / sc["wall"]), fmt(rd["src_cpu"])))
    except (Stop, KeyboardInterrupt) as e:
        log("interrupted (%s): stopping the servers" % e)
        failed = True
    except Exception as e:  # a server that would not start, a source digest that does not match
        log("ERROR: %s" % e)
        failed = True
    finally:
        stop_servers(servers)

    # -- results -----------------------------------------------------------------
    if pairs:
        def med(part, key, scale=1.0):
            xs = [r[key] * scale for sc, rd, _ in pairs for r in ((sc,) if part == "scan" else (rd,))
                  if r["ok"] and r[key] is not None]
            return median(xs)

        ratios = [x for _, _, x in pairs if x]
        log("")
        log("dataset %s (%d keys), %d pairs; medians over the runs that passed" % (a.dataset, expect, len(pairs)))
        log("  %-5s %9s %19s %10s %9s %10s %10s %11s %10s" % (
            "part", "wall s", "range s", "keys/s", "rmig cpu", "rmig MiB", "src cpu s", "src cores", "tgt cpu s"))
        for part in ("scan", "rdb"):
            walls = [r["wall"] for sc, rd, _ in pairs for r in ((sc,) if part == "scan" else (rd,)) if r["ok"]]
            mw = median(walls)
            cores = [r["src_cpu"] / r["wall"] for sc, rd, _ in pairs for r in ((sc,) if part == "scan" else (rd,))
                     if r["ok"] and r["wall"]]
            log("  %-5s %9s %19s %10s %9s %10s %10s %11s %10s" % (
                part, fmt(mw, "%.3f"),
                ("%.3f-%.3f" % (min(walls), max(walls))) if walls else "-",
                fmt(expect / mw if mw else None, "%.0f"), fmt(med(part, "cpu")), fmt(med(part, "rss"), "%.0f"),
                fmt(med(part, "src_cpu")), fmt(median(cores)), fmt(med(part, "tgt_cpu"))))
        if ratios:
            mr = median(ratios)
            log("  scan/rdb %.2f (min %.2f, max %.2f, %d pairs)" % (mr, min(ratios), max(ratios), len(ratios)))
            log("RESULT scan vs rdb, dataset %s, %d pairs: scan median %.3f s | rdb median %.3f s | scan/rdb median "
                "%.2f (min %.2f, max %.2f) | source cpu during the scan median %s s (%s cores), rdb %s s"
                % (a.dataset, len(pairs), med("scan", "wall"), med("rdb", "wall"), mr, min(ratios), max(ratios),
                   fmt(med("scan", "src_cpu")),
                   fmt(median([sc["src_cpu"] / sc["wall"] for sc, _, _ in pairs if sc["ok"]])),
                   fmt(med("rdb", "src_cpu"))))
        else:
            log("RESULT scan vs rdb, dataset %s: no pair with both runs ok" % a.dataset)
    log("logs: %s" % logs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

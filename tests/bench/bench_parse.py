#!/usr/bin/env python3
"""Parse-only speed of rmig against redis-server loading the same RDB file.

For each RDB file, alternates in every run: redis-server starting with the
file until it answers PING (shared/bench's Server, the "physical limit" of
loading), then `rmig inspect --count` and `rmig inspect --stats` on it. The
figure of merit is the ratio of redis-server's load wall time to rmig's, in
the same run, so machine noise mostly cancels. Also prints rmig's CPU and
peak RSS (from wait4). A benchmark, not a test: it never fails on a time.

  python3 tests/bench/bench_parse.py RMIG FILE.rdb [FILE.rdb...] [--runs 3] [--port 7102]

Needs ../shared/bench (benchlib.py) beside the repository, redis-server, and
datasets made by ../shared/bench/make_datasets.py (a.rdb, b.rdb)."""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_BENCH = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'bench'))
sys.path.insert(0, os.environ.get('RMIG_SHARED_BENCH', SHARED_BENCH))
from benchlib import Server, median, pre_run_load, spread  # noqa: E402


def run_rmig(rmig, mode, rdb):
    t = time.monotonic()
    p = subprocess.Popen([rmig, 'inspect', mode, rdb], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t
    err = p.stderr.read().decode()
    p.stderr.close()
    if status != 0:
        sys.exit('rmig inspect %s %s failed: %s' % (mode, rdb, err))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('rmig')
    ap.add_argument('rdb', nargs='+')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--port', type=int, default=7102)
    a = ap.parse_args()
    for rdb in a.rdb:
        size = os.path.getsize(rdb)
        rows = []
        for r in range(a.runs):
            load = pre_run_load()
            srv = Server(a.port, name='load', rdb=rdb)
            srv.start(wait=False)
            try:
                redis_wall = srv.wait_ready()
                redis_cpu = srv.cpu()
            finally:
                srv.stop()
            cnt = run_rmig(a.rmig, '--count', rdb)
            sts = run_rmig(a.rmig, '--stats', rdb)
            rows.append((redis_wall, redis_cpu, cnt[0], cnt[1], cnt[2], sts[0], sts[1], sts[2]))
            print('run %d (background load %.2f cores): redis-server load %.3f s (cpu %.2f s) | '
                  'rmig --count %.3f s (cpu %.2f s, rss %.1f MiB) ratio %.1fx | '
                  'rmig --stats %.3f s (cpu %.2f s, rss %.1f MiB) ratio %.1fx'
                  % (r + 1, load, redis_wall, redis_cpu, cnt[0], cnt[1], cnt[2], redis_wall / cnt[0],
                     sts[0], sts[1], sts[2], redis_wall / sts[0]), flush=True)
        c = list(zip(*rows))
        ratios_count = [x / y for x, y in zip(c[0], c[2])]
        ratios_stats = [x / y for x, y in zip(c[0], c[5])]
        print('RESULT parse %s: %.1f MB | redis-server load %.3f s (spread %.0f%%) | '
              'rmig --count %.3f s = %.0f MB/s, ratio %.1fx (min %.1fx), peak rss %.1f MiB | '
              'rmig --stats %.3f s, ratio %.1fx (min %.1fx), peak rss %.1f MiB'
              % (os.path.basename(rdb), size / 1e6, median(c[0]), spread(c[0]), median(c[2]),
                 size / 1e6 / median(c[2]), median(ratios_count), min(ratios_count), max(c[4]),
                 median(c[5]), median(ratios_stats), min(ratios_stats), max(c[7])), flush=True)


if __name__ == '__main__':
    main()

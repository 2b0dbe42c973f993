#!/usr/bin/env python3
"""How fast a source may be written while rmig, as its live replica (rmig.source.psync),
keeps the target less than a second behind.

An empty source and an empty target (shared/bench's Server: loopback, no save), `rmig run
live.lua` between them (SRC_PORT, TGT_PORT, STATE in its environment; its stderr, with a
status line every 5 s, goes to the log). Then, step by step, `redis-benchmark -t set -r KEYS
-c C -P P --threads 1` on the source for --seconds, stopped by SIGINT, and a drain until the
target has caught up before the next step.

The lag is measured end to end: every --probe s the sampler SETs rmig:probe to its
monotonic clock on the source and GETs it on the target; the lag at a moment is the age of
the oldest probe written but not yet on the target (0 when the newest is there; the
resolution is the probe interval). Beside it: the byte lag, the source's master_repl_offset
less the offset of rmig's state file (which rmig writes once a second, so it runs up to a
second behind), and rmig's own status lines (lag, cmds/s, spool).

Per step: the background load before it (busy cores) and during it (machine-wide CPU less that
of the servers, rmig, redis-benchmark and this script), the source's SET rate (INFO
commandstats) and redis-benchmark's "overall" rps, the largest and the 95th-percentile lag
during the load, the drain time after it, the target's SET rate and the largest cmds/s in
rmig's status lines, rmig's RSS and spool, the CPU of rmig (or of the native replica), of the
source and of the target.
At the end the DEBUG DIGEST of source and target must match. --native runs the same steps
with a native redis replica in rmig's place (for reference).

  python3 tests/bench/psync_write_rate.py RMIG [--steps 1x1,4x4,16x16,50x32] [--seconds 10]
      [--src-port 7110] [--tgt-port 7111] [--keys 100000] [--size 3] [-s KEY=VALUE] [--native]
"""
import argparse
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_BENCH = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'bench'))
sys.path.insert(0, os.environ.get('BENCH_TOOLS', SHARED_BENCH))
from benchlib import BENCH_DIR, Conn, Server, pre_run_load, proc_cpu, proc_hwm_kb  # noqa: E402

REDIS_BENCHMARK = os.environ.get('REDIS_BENCHMARK', 'redis-benchmark')
PROBE_KEY = 'rmig:probe'
STATUS_RE = re.compile(r'rmig: live: lag (\S+ \S+) / ([0-9.]+) s, (\S+) cmds/s, (\d+) commands applied, '
                       r'spool (\S+ \S+), (\d+) failed')


def vm_rss_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for ln in f:
                if ln.startswith('VmRSS:'):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def count(s):
    """'12.3k' -> 12300.0 (rmig_progress_count)."""
    m = re.match(r'([0-9.]+)([kMG]?)$', s)
    return float(m.group(1)) * {'': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9}[m.group(2)] if m else None


def busy_s():
    """CPU seconds spent machine-wide (all but idle and iowait) since boot."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf('SC_CLK_TCK')


def ours_s(pids):
    """CPU seconds of the given processes, of this process and of its reaped children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(proc_cpu(p) or 0 for p in pids) + s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def cmdstat_set(conn):
    v = conn.info('commandstats').get('cmdstat_set', '')
    m = re.search(r'calls=(\d+)', v)
    return int(m.group(1)) if m else 0


class Sampler(threading.Thread):
    """Writes a probe to the source and reads it back from the target every `interval` s;
    every 4th round also the source's replication offset, the state file and rmig's RSS."""

    def __init__(self, src_port, tgt_port, interval, state=None, pid=None):
        super().__init__(daemon=True)
        self.src, self.tgt = Conn(src_port), Conn(tgt_port)
        self.interval, self.state, self.pid = interval, state, pid
        self.written = []        # monotonic stamps written, oldest first
        self.samples = []        # (t, lag_s)
        self.offsets = []        # (t, byte lag)
        self.rss = []            # (t, kB)
        self.stop_ev = threading.Event()
        self.error = None

    def state_offset(self):
        try:
            with open(self.state) as f:
                m = re.search(r'"offset":\s*(\d+)', f.read())
                return int(m.group(1)) if m else None
        except OSError:
            return None

    def run(self):
        n = 0
        try:
            while not self.stop_ev.is_set():
                now = time.monotonic()
                v = self.tgt.call('GET', PROBE_KEY)
                seen = int(v) if v else 0
                # the oldest probe written (a round or more ago) and not yet applied: its age is the lag
                newer = [w for w in self.written if w > seen]
                t = time.monotonic()
                lag = (t - newer[0] / 1e9) if newer else 0.0
                self.samples.append((t, lag))
                stamp = time.monotonic_ns()
                self.src.call('SET', PROBE_KEY, str(stamp))
                self.written.append(stamp)
                # keep the list short: the applied ones are no longer needed
                if seen and len(self.written) > 64:
                    self.written = newer or self.written[-1:]
                if n % 4 == 0:
                    if self.state:
                        off = self.state_offset()
                        rep = self.src.info('replication')
                        if off is not None:
                            self.offsets.append((t, int(rep['master_repl_offset']) - off))
                    if self.pid:
                        kb = vm_rss_kb(self.pid)
                        if kb:
                            self.rss.append((t, kb))
                n += 1
                time.sleep(max(0.0, self.interval - (time.monotonic() - now)))
        except Exception as e:  # reported by the main thread
            self.error = e

    def lag_now(self):
        return self.samples[-1][1] if self.samples else None

    def window(self, series, t0, t1):
        return [v for t, v in series if t0 <= t <= t1]


class Status(threading.Thread):
    """Copies rmig's stderr to a log and keeps its status lines with their times."""

    def __init__(self, stream, log):
        super().__init__(daemon=True)
        self.stream, self.log = stream, log
        self.lines = []   # (t, dict)
        self.all = []     # (t, text)

    def run(self):
        for raw in self.stream:
            ln = raw.decode(errors='replace').rstrip('\n')
            t = time.monotonic()
            self.all.append((t, ln))
            self.log.write('%.3f %s\n' % (t, ln))
            self.log.flush()
            m = STATUS_RE.search(ln)
            if m:
                self.lines.append((t, dict(lag_bytes=m.group(1), lag_s=float(m.group(2)), rate=count(m.group(3)),
                                           applied=int(m.group(4)), spool=m.group(5), failed=int(m.group(6)))))

    def seen(self, text):
        return any(text in ln for _, ln in self.all)


def run_benchmark(port, clients, pipeline, keys, seconds, size=3):
    """redis-benchmark for `seconds`, stopped by SIGINT (it has no rate or time limit);
    returns its last 'overall' rps from the -q progress line, or None."""
    p = subprocess.Popen([REDIS_BENCHMARK, '-p', str(port), '-t', 'set', '-c', str(clients), '-P', str(pipeline),
                          '-r', str(keys), '-d', str(size), '-n', '2000000000', '--threads', '1', '-q'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = bytearray()

    def reader():
        for chunk in iter(lambda: p.stdout.read1(65536), b''):
            out.extend(chunk)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    th.join(5)
    m = re.findall(rb'rps=[0-9.]+ \(overall: ([0-9.]+)\)', bytes(out))
    return float(m[-1]) if m else None


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('rmig')
    ap.add_argument('--pipeline', default=os.path.join(HERE, 'pipelines', 'live.lua'))
    ap.add_argument('--steps', default='1x1,4x4,16x16,50x32', help='CLIENTSxPIPELINE, comma separated')
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--keys', type=int, default=100000, help='redis-benchmark -r')
    ap.add_argument('--size', type=int, default=3, help='redis-benchmark -d (value bytes)')
    ap.add_argument('--src-port', type=int, default=7110)
    ap.add_argument('--tgt-port', type=int, default=7111)
    ap.add_argument('--probe', type=float, default=0.05, help='probe interval, s')
    ap.add_argument('--drain-max', type=float, default=300, help='longest wait for the target to catch up, s')
    ap.add_argument('-s', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                    help="passed to rmig run as -s KEY=VALUE (e.g. source.spool_memory=1073741824)")
    ap.add_argument('--native', action='store_true', help='a native replica in place of rmig (reference)')
    a = ap.parse_args()
    steps = [tuple(int(x) for x in s.split('x')) for s in a.steps.split(',')]
    run_dir = os.path.join(BENCH_DIR, 'run', 'write-rate')
    os.makedirs(run_dir, exist_ok=True)
    state = os.path.join(run_dir, 'state.json')
    for f in (state,):
        if os.path.exists(f):
            os.unlink(f)
    conf = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']
    src = Server(a.src_port, name='wr-source', extra=conf).start()
    tgt = Server(a.tgt_port, name='wr-target').start()
    proc = status = logf = outf = None
    rows = []
    rc = 0
    try:
        if a.native:
            Conn(a.tgt_port).call('REPLICAOF', '127.0.0.1', str(a.src_port))
            who = 'native replica'
            deadline = time.monotonic() + 60
            while 'master_link_status:up' not in subprocess.run(
                    ['redis-cli', '-p', str(a.tgt_port), 'info', 'replication'],
                    capture_output=True, text=True).stdout:
                if time.monotonic() > deadline:
                    sys.exit('the native replica did not link up')
                time.sleep(0.05)
        else:
            who = 'rmig'
            env = dict(os.environ, SRC_PORT=str(a.src_port), TGT_PORT=str(a.tgt_port), STATE=state)
            logf = open(os.path.join(run_dir, 'rmig.log'), 'w')
            outf = open(os.path.join(run_dir, 'rmig.out'), 'w+')
            over = [x for kv in a.overrides for x in ('-s', kv)]
            proc = subprocess.Popen([a.rmig, 'run', a.pipeline] + over, env=env, cwd=run_dir,
                                    stdout=outf, stderr=subprocess.PIPE)
            status = Status(proc.stderr, logf)
            status.start()
            deadline = time.monotonic() + 60
            while not status.seen('now applying the stream'):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit('rmig did not reach the stream: rc %s, see %s' % (proc.poll(), logf.name))
                time.sleep(0.05)
        smp = Sampler(a.src_port, a.tgt_port, a.probe, state=None if a.native else state,
                      pid=proc.pid if proc else tgt.proc.pid)
        smp.start()
        time.sleep(1.0)
        sc, tc = Conn(a.src_port), Conn(a.tgt_port)
        cpu0 = proc_cpu(proc.pid) if proc else None
        print('%s live from %d to %d; steps of %.0f s; redis-benchmark -t set -r %d -d %d --threads 1'
              % (who, a.src_port, a.tgt_port, a.seconds, a.keys, a.size), flush=True)
        for clients, pipeline in steps:
            load = pre_run_load()
            s0, g0 = cmdstat_set(sc), cmdstat_set(tc)
            c0 = proc_cpu(proc.pid) if proc else proc_cpu(tgt.proc.pid)
            pids = [src.proc.pid, tgt.proc.pid] + ([proc.pid] if proc else [])
            b0, o0 = busy_s(), ours_s(pids)
            sc0, tc0 = proc_cpu(src.proc.pid), proc_cpu(tgt.proc.pid)
            t0 = time.monotonic()
            rps = run_benchmark(a.src_port, clients, pipeline, a.keys, a.seconds, a.size)
            t1 = time.monotonic()
            others = max(0.0, (busy_s() - b0) - (ours_s(pids) - o0)) / (t1 - t0)
            srv = ((proc_cpu(src.proc.pid) - sc0) / (t1 - t0) * 100, (proc_cpu(tgt.proc.pid) - tc0) / (t1 - t0) * 100)
            s1, g1 = cmdstat_set(sc), cmdstat_set(tc)
            c1 = proc_cpu(proc.pid) if proc else proc_cpu(tgt.proc.pid)
            # drain: the newest probe must reach the target
            while smp.lag_now() is None or smp.lag_now() > 0:
                if smp.error or (proc and proc.poll() is not None) or time.monotonic() - t1 > a.drain_max:
                    break
                time.sleep(a.probe)
            t2 = time.monotonic()
            lags = smp.window(smp.samples, t0, t1)
            blags = smp.window(smp.offsets, t0, t1)
            st = [d for t, d in (status.lines if status else []) if t0 < t <= t1 + 0.1]
            rss = smp.window(smp.rss, t0, t2)
            row = dict(step='-c %d -P %d' % (clients, pipeline), load=load, others=others, rps=rps, src=(s1 - s0) / (t1 - t0),
                       tgt=(g1 - g0) / (t1 - t0), lag_max=max(lags) if lags else None, lag_p95=pct(lags, 0.95),
                       blag=max(blags) if blags else None, rate=max((d['rate'] for d in st), default=None),
                       rlag=max((d['lag_s'] for d in st), default=None),
                       spool=st[-1]['spool'] if st else '-', drain=t2 - t1,
                       cpu=(c1 - c0) / (t1 - t0) * 100 if c0 is not None and c1 is not None else None,
                       rss=max(rss) / 1024 if rss else None, failed=st[-1]['failed'] if st else 0, srv=srv)
            rows.append(row)
            print('step %-13s load %.2f, others during %.2f | redis-benchmark %s ops/s | source %.0f SET/s | target %.0f SET/s | '
                  'lag max %.2f s p95 %.2f s | byte lag max %s | status: lag max %s s, max %s cmds/s, spool %s | '
                  'drain %.2f s | %s cpu %s%% rss %s MiB | cpu source %.0f%% target %.0f%%'
                  % (row['step'], load, others, '%.0f' % rps if rps else '-', row['src'], row['tgt'], row['lag_max'] or 0,
                     row['lag_p95'] or 0, row['blag'] if row['blag'] is not None else '-',
                     row['rlag'] if row['rlag'] is not None else '-',
                     '%.0f' % row['rate'] if row['rate'] is not None else '-', row['spool'], row['drain'],
                     'rmig' if proc else 'replica', '%.0f' % row['cpu'] if row['cpu'] is not None else '-',
                     '%.0f' % row['rss'] if row['rss'] else '-', srv[0], srv[1]), flush=True)
            if smp.error:
                print('sampler failed: %r' % smp.error)
                rc = 1
                break
            if proc and proc.poll() is not None:
                print('rmig EXITED during the step: rc %s, see %s' % (proc.returncode, logf.name))
                rc = 1
                break
            if row['drain'] > a.drain_max:
                print('the target did not catch up within %.0f s: stopping' % a.drain_max)
                rc = 1
                break
        smp.stop_ev.set()
        smp.join(5)
        with open(os.path.join(run_dir, 'samples-%s.tsv' % ('native' if a.native else 'rmig')), 'w') as f:
            f.write('# t lag_s (probe), then t byte_lag (state file)\n')
            f.writelines('%.3f\t%.3f\n' % x for x in smp.samples)
            f.writelines('%.3f\tB%d\n' % x for x in smp.offsets)
        time.sleep(1.5)
        ds, dt = sc.call('DBSIZE'), tc.call('DBSIZE')
        gs, gt = sc.call('DEBUG', 'DIGEST'), tc.call('DEBUG', 'DIGEST')
        print('end: source %d keys, target %d keys, digest %s' % (ds, dt, 'match' if gs == gt else 'MISMATCH'))
        if gs != gt:
            rc = 1
        if proc:
            print('rmig cpu over the steps %.2f s, peak RSS %.0f MiB'
                  % ((proc_cpu(proc.pid) or 0) - (cpu0 or 0), (proc_hwm_kb(proc.pid) or 0) / 1024))
        ok = [r for r in rows if r['lag_max'] is not None and r['lag_max'] < 1.0]
        best = max(ok, key=lambda r: r['src']) if ok else None
        print('RESULT write rate with %s live: highest source rate with lag < 1 s: %s'
              % (who, '%.0f SET/s (%s, redis-benchmark %s ops/s, lag max %.2f s)'
                 % (best['src'], best['step'], '%.0f' % best['rps'] if best['rps'] else '-', best['lag_max'])
                 if best else 'none'))
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                print('rmig did not stop within 30 s of SIGINT: killed')
                rc = 1
            print('rmig rc %s' % proc.returncode)
        if proc:
            outf.seek(0)
            sys.stdout.write(outf.read())
            outf.close()
        if logf:
            if status:
                status.join(5)
            logf.close()
        tgt.stop()
        src.stop()
    return rc


if __name__ == '__main__':
    sys.exit(main())

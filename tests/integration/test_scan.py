#!/usr/bin/env python3
"""`rmig run` with rmig.source.scan: a live server read by SCAN + pipelined
DUMP/PTTL (big keys in chunks), followed by keyspace notifications with
live = true, as managed services allow. Sources emulate one (MANAGED: SYNC,
PSYNC and CONFIG renamed away); the live ones get notify-keyspace-events
from their command line, as a service's console would set it. Every
comparison is by DEBUG DIGEST / DEBUG DIGEST-VALUE. Scenarios:

  basic       every type in 3 dbs, expiries: the target ends equal to the
              source (DEBUG DIGEST per db); match and dbs select keys; rate
              spaces the reads; keys deleted during the scan are skipped and
              counted; an unreachable source exits 1
  live        live = true over ~150k keys of every type in dbs 0 and 3 while
              a writer changes them (strings, counters, hashes, lists, sets,
              zsets, streams, DEL/UNLINK, RENAME, short EXPIREs that expire
              during the run, PERSIST, MOVE between the dbs) during the scan
              and after it; the target converges, SIGINT exits 0, every key
              equal (type, DEBUG DIGEST-VALUE, expire time within 2 s)
  big         live = true, big_bytes = 1 MiB: a 1M-field hash, a 1M-element
              list and a 1M-member zset changed while they are copied in
              chunks; after the writer stops their digests are equal
  big_static  live = false, big_bytes = 64 KiB: big hashes, sets (intset and
              hashtable), zsets, a list, a 3 MB string and a 20k-entry stream
              with consumer groups copied in chunks: digests equal (streams:
              XRANGE, last id and the groups' last-delivered-id), TTLs kept;
              then again through nodes (db map, key deny, TTL shift), which
              apply to big keys too
  big_gone    big keys deleted, expired or replaced by a string on the
              source while the target holds part of them: live follows;
              without live none stays half-copied
  live_select live with match and without dbs: dbs empty at the start are
              followed, keys outside match are not; dbs = { 0 }: keys MOVEd
              out are deleted, MOVEd in arrive
  notify      notifications off (or some classes missing) on a source whose
              CONFIG is renamed: a live run stops naming
              notify-keyspace-events; with CONFIG, notify = "require" stops
              likewise, notify = "set" turns them on and puts the old value
              back at the end (SIGINT, SIGTERM, a failed run)
  resume      state = FILE: SIGINT mid-scan, the rerun scans the rest; a
              SIGKILL after a save (every 5 s), the rerun ends equal; the
              file is removed once complete; a live run given a state scans
              everything; a SIGKILL during a chunked copy, the rerun ends
              equal
  cluster     a 3-master cluster source (live, every master scanned and
              subscribed) into db 5 of a standalone target (rmig.filter.db)
              while a cluster-aware writer changes keys and a slot moves
              between masters: every key equal
  errors      live with sink mode "skip-existing": exit 2; an unreachable
              live source: exit 1 naming it; cluster = true at a server that
              is not a cluster node fails

usage: python3 test_scan.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and writers' seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, slot_of  # noqa: E402
from redis_harness import (Conn, RedisError, Server, free_port, run_rmig, run_scenarios, short, write)  # noqa: E402
from test_psync import Rmig, converge, kill_running, lua_string, stream_groups, wait_for  # noqa: E402

# what a managed service refuses (rmig must not need any of it)
MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '',
           '--rename-command', 'CONFIG', '', '--enable-debug-command', 'yes']
# what a live scan needs, set as a service's console would (CONFIG is renamed)
NOTIFY = ['--notify-keyspace-events', 'KEA']

SOON_MS = 3500   # keys expiring within this are left out of key-by-key comparisons (each side's own clock)


def now_ms():
    return int(time.time() * 1000)


def pipeline(port, tport, src_extra='', nodes='', sink_extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.scan { addr = "127.0.0.1:%d"%s },\n'
            '  nodes = { %s },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d"%s },\n}\n') % (port, src_extra, nodes, tport, sink_extra)


def tail(text, n=800):
    return text[-n:].replace('\n', ' | ')


# --- data and comparisons ------------------------------------------------------------

def digests_by_db(c, dbs):
    """{db: (DBSIZE, DEBUG DIGEST)}: the digest is the whole server's (every
    db), the sizes tell the dbs apart."""
    out = {}
    for db in dbs:
        c.call('SELECT', db)
        out[db] = (c.call('DBSIZE'), c.call('DEBUG', 'DIGEST'))
    c.call('SELECT', 0)
    return out


def dbsizes(c):
    """{db: keys} from INFO keyspace (dbs with keys only)."""
    out = {}
    for line in c.call('INFO', 'keyspace').decode().splitlines():
        if line.startswith('db'):
            db, rest = line.split(':', 1)
            out[int(db[2:])] = int(rest.split(',')[0].split('=')[1])
    return out


def scan_keys(c, match=None):
    cur, keys = b'0', []
    while True:
        args = ['SCAN', cur, 'COUNT', 2000] + (['MATCH', match] if match else [])
        cur, part = c.call(*args)
        keys.extend(part)
        if cur == b'0':
            return keys


def key_table(c, dbs, keys_of=None):
    """{(db, key): (TYPE, PEXPIRETIME, DEBUG DIGEST-VALUE)} over `dbs`,
    pipelined; the expire time is absolute so that two servers read seconds
    apart compare (-1: no TTL)."""
    out = {}
    for db in dbs:
        c.call('SELECT', db)
        keys = keys_of(db) if keys_of else scan_keys(c)
        cmds = []
        for k in keys:
            cmds += [['TYPE', k], ['PEXPIRETIME', k], ['DEBUG', 'DIGEST-VALUE', k]]
        r = c.pipeline(cmds, window=3000)
        for i, k in enumerate(keys):
            typ, exp, dv = r[3 * i], r[3 * i + 1], r[3 * i + 2]
            if typ == 'none' or exp == -2:
                continue
            out[(db, k)] = (typ, exp, dv)
    c.call('SELECT', 0)
    return out


def table_diff(want, got, tol=2000, limit=8):
    """The differences between two key tables as a list of texts: keys on one
    side only, another type or digest, an expire time more than `tol` ms
    apart or on one side only. Keys expiring within SOON_MS on either side
    are left out."""
    soon = now_ms() + SOON_MS
    diffs = []
    for k in sorted(set(want) | set(got)):
        a, b = want.get(k), got.get(k)
        if (a and 0 < a[1] < soon) or (b and 0 < b[1] < soon):
            continue
        what = 'db %d %s' % (k[0], short(k[1], 40))
        if a is None:
            diffs.append('%s: only on the target (%s)' % (what, b[0]))
        elif b is None:
            diffs.append('%s: missing on the target (%s)' % (what, a[0]))
        elif a[0] != b[0] or a[2] != b[2]:
            diffs.append('%s: source %s %r, target %s %r' % (what, a[0], a[2], b[0], b[2]))
        elif (a[1] < 0) != (b[1] < 0) or (a[1] >= 0 and abs(a[1] - b[1]) > tol):
            diffs.append('%s: expires at %d on the source, %d on the target' % (what, a[1], b[1]))
    return diffs


def check_tables(rep, what, want, got, tol=2000):
    d = table_diff(want, got, tol)
    return rep.check(not d, '%s: every key equal (type, DEBUG DIGEST-VALUE, expire time within %d ms; %d keys)'
                     % (what, tol, len(want)), '%d differ: %s' % (len(d), '; '.join(d[:8])))


def check_groups(rep, what, src, dst, keys):
    """Consumer groups (with consumers and pending entries) of streams copied
    whole, by DUMP."""
    bad = []
    for db, k in keys:
        src.call('SELECT', db)
        dst.call('SELECT', db)
        a, b = stream_groups(src, k), (stream_groups(dst, k) if dst.call('TYPE', k) == 'stream' else None)
        if a != b:
            bad.append('db %d %s: %r != %r' % (db, short(k), b, a))
    src.call('SELECT', 0)
    dst.call('SELECT', 0)
    return rep.check(not bad, '%s: stream consumer groups equal (%d streams)' % (what, len(keys)), '; '.join(bad[:4]))


def stream_view(c, key):
    """A stream as a chunked copy keeps it: entries, last id and each group's
    name and last-delivered-id (not its pending entries list)."""
    if c.call('TYPE', key) != 'stream':
        return None
    entries = c.call('XRANGE', key, '-', '+')
    info = c.call('XINFO', 'STREAM', key)
    f = dict(zip((x.decode() for x in info[0::2]), info[1::2]))
    groups = []
    for g in c.call('XINFO', 'GROUPS', key) or []:
        gf = dict(zip((x.decode() for x in g[0::2]), g[1::2]))
        groups.append((gf['name'], gf['last-delivered-id']))
    return entries, f.get('last-generated-id'), f.get('length'), sorted(groups)


def scanned(out):
    """Keys scanned by the summary's scan line(s) (added up), or None."""
    if isinstance(out, bytes):
        out = out.decode('utf-8', 'replace')
    lines = [l for l in out.splitlines() if l.lstrip().startswith('scan:')]
    if not lines:
        return None
    total = 0
    for l in lines:
        m = re.search(r'(\d+) keys scanned', l) or re.search(r'scan:\D*(\d+)', l)
        if not m:
            return None
        total += int(m.group(1))
    return total


def scan_lines(out):
    if isinstance(out, bytes):
        out = out.decode('utf-8', 'replace')
    return [l.strip() for l in out.splitlines() if l.lstrip().startswith('scan:')]


BIN_NAME = b'b\x00in:\xff\r\n %d'


def fill_types(c, rng, dbs, per_db, moving=0):
    """About per_db keys of every type in each of `dbs` (the same names in
    each db): strings (some with long TTLs), counters, hashes (small and
    >128 fields), lists, sets, intsets, zsets, streams (some with consumer
    groups and pending entries); plus `moving` strings mv:N in the first db
    only (the writer MOVEs them). Returns the families and their sizes."""
    u = per_db // 50
    fam = {'s': 26 * u, 'n': 2 * u, 'h': 6 * u, 'l': 5 * u, 'set': 4 * u, 'iset': 2 * u, 'z': 4 * u, 'x': u}
    for db in dbs:
        cmds = [['SELECT', db]]
        for i in range(fam['s']):
            v = rng.randbytes(rng.randint(4, 60)) if i % 4 else 'v%d' % i
            cmds.append(['SET', 's:%d' % i, v])
            if i % 5 == 0:
                cmds.append(['PEXPIRE', 's:%d' % i, 3600000 + i])
        for i in range(fam['n']):
            cmds.append(['SET', 'n:%d' % i, i])
        for i in range(fam['h']):
            nf = 200 if i % 97 == 0 else i % 12 + 1
            cmds.append(['HSET', 'h:%d' % i] + sum((['f%d' % j, 'v%d' % (i + j)] for j in range(nf)), []))
            if i % 7 == 0:
                cmds.append(['EXPIRE', 'h:%d' % i, 7200])
        for i in range(fam['l']):
            cmds.append(['RPUSH', 'l:%d' % i] + ['e%d' % j for j in range(i % 9 + 1)])
        for i in range(fam['set']):
            cmds.append(['SADD', 'set:%d' % i] + ['m%d' % j for j in range(i % 8 + 1)])
        for i in range(fam['iset']):
            cmds.append(['SADD', 'iset:%d' % i] + [str(j * 3) for j in range(i % 10 + 1)])
        for i in range(fam['z']):
            cmds.append(['ZADD', 'z:%d' % i] + sum(([str(j * 0.5 - 1), 'm%d' % j] for j in range(i % 8 + 1)), []))
        for i in range(fam['x']):
            cmds.append(['XADD', 'x:%d' % i, '*', 'a', str(i), 'b', 'c'])
            if i % 10 == 0:
                cmds.append(['XADD', 'x:%d' % i, '*', 'a', 'second'])
                cmds.append(['XGROUP', 'CREATE', 'x:%d' % i, 'g', '0'])
                cmds.append(['XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', 'x:%d' % i, '>'])
        if moving and db == dbs[0]:
            for i in range(moving):
                cmds.append(['SET', 'mv:%d' % i, 'moving-%d' % i])
        cmds.append(['SET', b'bin:\xff\x00\xe9', b'\x00\x01\xfe'])
        for i in range(200):   # names with NUL, CR LF, spaces and bytes that are not UTF-8
            cmds.append(['SET', BIN_NAME % i, b'\x00%d' % i])
        c.pipeline(cmds)
    c.call('SELECT', 0)
    if moving:
        fam['mv'] = moving
    return fam


# --- writers -------------------------------------------------------------------------

class Writer(threading.Thread):
    """Changes a standalone source in a thread until stop(): ops(db) makes
    one command for db; `dbs` the dbs it writes; `rate` ops per second."""

    def __init__(self, port, dbs, ops, seed, rate=4000, batch=40):
        super().__init__(daemon=True)
        self.port = port
        self.dbs = list(dbs)
        self.make = ops
        self.rng = random.Random(seed)
        self.rate = rate
        self.batch = batch
        self.ops = 0
        self.errors = []      # error replies other than the expected ones
        self.failure = None   # an exception that ended the thread
        self._halt = threading.Event()

    def run(self):
        try:
            c = Conn(self.port, timeout=30)
            t0 = time.time()
            while not self._halt.is_set():
                db = self.rng.choice(self.dbs)
                cmds = [['SELECT', db]] + [self.make(self.rng, db) for _ in range(self.batch)]
                for cmd, r in zip(cmds, c.pipeline(cmds)):
                    if isinstance(r, RedisError) and not any(e in str(r) for e in ('no such key', 'BUSYGROUP')):
                        if len(self.errors) < 5:
                            self.errors.append('%s: %s' % (' '.join(str(a) for a in cmd)[:60], r))
                self.ops += self.batch
                ahead = t0 + self.ops / float(self.rate) - time.time()
                if ahead > 0:
                    time.sleep(min(ahead, 0.2))
            c.close()
        except Exception as e:   # reported by stop()
            self.failure = e

    def stop(self):
        self._halt.set()
        self.join(30)
        return self.ops


def family_key(rng, fam, name, hot=500):
    n = fam[name]
    i = rng.randrange(min(hot, n)) if rng.random() < 0.5 else rng.randrange(n)
    return '%s:%d' % (name, i)


def live_op(fam):
    """The live scenario's changes over fill_types's families."""
    def op(r, db):
        x = r.random()
        k = lambda name: family_key(r, fam, name)   # noqa: E731
        if x < 0.15:
            y = r.random()
            if y < 0.6:
                return ['SET', k('s'), 'w%d' % r.randrange(10 ** 6)]
            if y < 0.8:
                return ['APPEND', k('s'), 'a']
            return ['INCR', k('n')]
        if x < 0.25:
            return ['HSET', k('h'), 'f%d' % r.randrange(30), 'w%d' % r.randrange(1000)] if r.random() < 0.7 \
                else ['HDEL', k('h'), 'f%d' % r.randrange(12)]
        if x < 0.35:
            return ['LPUSH', k('l'), 'w%d' % r.randrange(1000)] if r.random() < 0.6 else ['RPOP', k('l')]
        if x < 0.45:
            name = r.choice(('set', 'iset'))
            m = str(r.randrange(40)) if name == 'iset' else 'm%d' % r.randrange(12)
            return ['SADD' if r.random() < 0.6 else 'SREM', k(name), m]
        if x < 0.55:
            return ['ZADD', k('z'), r.randrange(-100, 100) / 4.0, 'm%d' % r.randrange(12)] if r.random() < 0.6 \
                else ['ZREM', k('z'), 'm%d' % r.randrange(12)]
        if x < 0.60:
            return ['XADD', k('x'), 'MAXLEN', 50, '*', 'w', str(r.randrange(1000))]
        if x < 0.66:
            return [r.choice(('DEL', 'UNLINK')), k(r.choice(('s', 'h', 'l', 'set', 'z', 'x', 'n')))]
        if x < 0.72:
            name = r.choice(('s', 'h', 'l', 'z'))
            return ['RENAME', k(name), k(name)]
        if x < 0.82:
            return ['PEXPIRE', k(r.choice(('s', 'h', 'l', 'set', 'z', 'n'))), r.randint(100, 1500)]
        if x < 0.86:
            return ['PERSIST', k(r.choice(('s', 'h')))]
        if x < 0.88:
            b = BIN_NAME % r.randrange(200)
            y = r.random()
            return ['SET', b, b'\xff\x00'] if y < 0.5 else (['DEL', b] if y < 0.7 else ['PEXPIRE', b, 500])
        return ['MOVE', 'mv:%d' % r.randrange(fam['mv']), 3 if db == 0 else 0]
    return op


def wait_written(tgt, src, dbs, timeout, frac=0.99):
    """Until the target holds `frac` of the source's keys in `dbs` (the scan
    is about done) or timeout; the seconds waited."""
    t0 = time.time()

    def done():
        want = sum(v for db, v in dbsizes(src).items() if db in dbs)
        got = sum(v for db, v in dbsizes(tgt).items() if db in dbs)
        return got >= frac * want
    wait_for(done, timeout, step=0.1)
    return time.time() - t0


# --- scenarios -------------------------------------------------------------------------

class Ctx:
    pass


def server(ctx, d, name, config):
    s = Server(os.path.join(d, name), config=config, name=name).start()
    ctx.servers.append(s)
    return s


def rmig_bg(ctx, d, text, name):
    p = write(d, name + '.lua', text)
    return Rmig(ctx.rmig, p, d, name)


def reaped(c, dbs):
    """digests_by_db after a SCAN over `dbs`: SCAN deletes the keys whose
    TTL has passed, which Redis's active expiry may leave in memory (and in
    DBSIZE and DEBUG DIGEST) for long when they are few among many."""
    for db in dbs:
        c.call('SELECT', db)
        cur = b'0'
        while True:
            cur, _ = c.call('SCAN', cur, 'COUNT', 10000)
            if cur == b'0':
                break
    c.call('SELECT', 0)
    return digests_by_db(c, dbs)


def converge_digests(src, dst, dbs, proc, timeout=60):
    """Until DBSIZE per db and DEBUG DIGEST are equal (expired keys
    reaped on both sides first): '' or the last difference."""
    return converge(lambda: reaped(src, dbs), lambda: reaped(dst, dbs),
                    lambda a, b: '' if a == b else 'source %r, target %r' % (a, b), proc, timeout)


def stop_sigint(rep, what, proc, sig=signal.SIGINT, timeout=30):
    t0 = time.time()
    rc = proc.stop(sig, timeout)
    return rep.check(rc == 0, '%s: %s ends it with exit 0 (%.1f s)' % (what, signal.Signals(sig).name,
                                                                       time.time() - t0),
                     'rc %r; %s' % (rc, proc.tail()))


def scenario_basic(ctx, d):
    rep = ctx.rep
    src = server(ctx, d, 'src', MANAGED)
    dst = server(ctx, d, 'dst', ['--enable-debug-command', 'yes'])
    s, t = src.conn(), dst.conn()
    cmds = []
    for db in (0, 3, 9):
        cmds.append(['SELECT', db])
        for i in range(3000):
            cmds.append(['SET', 's:%d' % i, 'v%d' % i])
            if i % 3 == 0:
                cmds.append(['PEXPIRE', 's:%d' % i, 600000 + i])
        for i in range(200):
            cmds.append(['RPUSH', 'l:%d' % i] + ['e%d' % j for j in range(i % 300 + 1)])
            cmds.append(['HSET', 'h:%d' % i] + sum([['f%d' % j, 'v%d' % j] for j in range(i % 200 + 1)], []))
            cmds.append(['SADD', 'set:%d' % i] + [str(j) for j in range(i % 150 + 1)])
            cmds.append(['SADD', 'sset:%d' % i] + ['m%d' % j for j in range(i % 150 + 1)])
            cmds.append(['ZADD', 'z:%d' % i] + sum([[str(j * 1.5), 'm%d' % j] for j in range(i % 200 + 1)], []))
            cmds.append(['XADD', 'x:%d' % i, '*', 'a', str(i), 'b', 'c'])
        cmds.append(['XGROUP', 'CREATE', 'x:1', 'g', '0'])
        cmds.append(['SET', b'bin:\xff\x00\xe9', b'\x00\x01\xfe'])
        cmds.append(['SET', 'user:7', 'kept'])
    t_set = time.time()
    s.pipeline(cmds)
    rep.check(isinstance(s.pipeline([['PSYNC', '?', '-1']])[0], Exception),
              'the source refuses PSYNC, as a managed service does')
    p = write(d, 'all.lua', pipeline(src.port, dst.port))
    rc, out, err = run_rmig(ctx.rmig, ['run', p])
    rep.check(rc == 0, 'scan of every type in 3 dbs: exit 0', 'rc %d; %s' % (rc, err[-800:]))
    want, got = digests_by_db(s, (0, 3, 9)), digests_by_db(t, (0, 3, 9))
    rep.check(want == got, 'the target equals the source, db by db (DBSIZE, DEBUG DIGEST)', '%r != %r' % (got, want))
    rep.check(b'scan: ' in out and b'gone before their DUMP' in out, 'the summary counts what the scan read',
              out[-400:])
    pt = t.call('PTTL', 's:3')
    since = (time.time() - t_set) * 1000   # (the expiry is an instant: the time since it was set has passed)
    rep.check(600003 - since - 2000 < pt <= 600003, 'an expiry arrives as it was (PTTL %d, %d ms after it was set)'
              % (pt, since))

    # match and dbs: only user:* of db 3
    t.call('FLUSHALL')
    p = write(d, 'match.lua', pipeline(src.port, dst.port, ', match = "user:*", dbs = { 3 }, count = 10'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p])
    t.call('SELECT', 3)
    keys3 = t.call('KEYS', '*')
    t.call('SELECT', 0)
    rep.check(rc == 0 and keys3 == [b'user:7'] and t.call('DBSIZE') == 0,
              'source.match and source.dbs: only user:7 of db 3 arrives', 'rc %d, db3 %r; %s' % (rc, keys3, err[-400:]))

    # rate: 4000 keys/s over the ~4200 keys of db 0 takes about 1 s
    t.call('FLUSHALL')
    p = write(d, 'rate.lua', pipeline(src.port, dst.port, ', dbs = { 0 }, rate = 4000, count = 100'))
    t0 = time.time()
    rc, out, err = run_rmig(ctx.rmig, ['run', p])
    took = time.time() - t0
    n = s.call('DBSIZE')
    rep.check(rc == 0 and took >= n / 4000.0 * 0.8, 'source.rate = 4000: %d keys in %.1f s' % (n, took),
              'rc %d; %s' % (rc, err[-300:]))

    # a key gone between SCAN and DUMP is skipped (many deleted while scanning)
    t.call('FLUSHALL')
    p = write(d, 'gone.lua', pipeline(src.port, dst.port, ', dbs = { 9 }, count = 5'))
    proc = subprocess.Popen([ctx.rmig, 'run', p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    s.call('SELECT', 9)
    s.pipeline([['DEL', 's:%d' % i] for i in range(3000)])
    s.call('SELECT', 0)
    o, e = proc.communicate(timeout=60)
    rep.check(proc.returncode == 0, 'keys deleted during the scan: exit 0', e.decode()[-400:])
    t.call('SELECT', 9)
    extra = [k for k in t.call('KEYS', 's:*')]
    t.call('SELECT', 0)
    rep.check(b'gone before their DUMP' in o, 'the summary says how many were gone (%s)'
              % o.split(b'scan: ')[-1].strip()[:80].decode(), o[-300:])
    rep.check(len(extra) < 3000, 'keys deleted before they were read do not arrive (%d of 3000 did)' % len(extra))

    # unreachable source
    dead = free_port()
    p = write(d, 'bad.lua', pipeline(dead, dst.port))
    rc, out, err = run_rmig(ctx.rmig, ['run', p])
    rep.check(rc == 1 and ('127.0.0.1:%d' % dead) in err, 'an unreachable source: exit 1 naming it',
              'rc %d; %s' % (rc, err))
    s.close()
    t.close()


def scenario_live(ctx, d):
    rep = ctx.rep
    what = 'live'
    dbs = (0, 3)
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    rng = random.Random(ctx.seed)
    t0 = time.time()
    fam = fill_types(s, rng, dbs, 74000, moving=2000)
    n = sum(dbsizes(s).values())
    print('# live: %d keys in dbs 0 and 3 written in %.1f s' % (n, time.time() - t0), flush=True)
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', dbs = { 0, 3 }, live = true'), 'live')
    w = Writer(src.port, dbs, live_op(fam), ctx.seed + 1, rate=4000)
    w.start()
    scan_s = wait_written(t, s, dbs, 90)
    time.sleep(3)
    ops = w.stop()
    rep.check(w.failure is None and proc.alive(),
              '%s: a writer changed the source during the scan (%.1f s) and 3 s after it: %d ops%s'
              % (what, scan_s, ops, ' (errors e.g. %s)' % w.errors[0] if w.errors else ''),
              'writer %r, rmig %s' % (w.failure, 'running' if proc.alive() else 'exited: ' + proc.tail()))
    time.sleep(1.6)   # every short TTL the writer gave has passed
    t1 = time.time()
    diff = converge_digests(s, t, dbs, proc, timeout=60)
    rep.check(not diff, '%s: the target converges to the source (DBSIZE per db, DEBUG DIGEST) in %.1f s'
              % (what, time.time() - t1), diff)
    ok = stop_sigint(rep, what, proc)
    out = proc.stdout()
    rep.check(ok and scan_lines(out) and 're-read' in out,
              '%s: the summary has the scan line and counts the keys read again (%s)'
              % (what, '; '.join(scan_lines(out))[:200]), out[-600:])
    want, got = key_table(s, dbs), key_table(t, dbs)
    check_tables(rep, what, want, got)
    probes = [k for k in list(want) + list(got) if k[1].startswith(b'rmig:notify-probe')]
    rep.check(not probes, '%s: no probe key is left on the source or copied to the target' % what, '%r' % probes)
    grouped = sorted(k for k, v in want.items() if v[0] == 'stream' and int(k[1].split(b':')[1]) % 10 == 0)
    check_groups(rep, what, s, t, grouped[:60])
    rep.check(not [db for db in dbsizes(t) if db not in dbs], '%s: nothing arrives in other dbs' % what,
              '%r' % dbsizes(t))
    s.close()
    t.close()


BIG_FILL = """
local n = tonumber(ARGV[1])
for i = 0, n - 1, 1000 do
  local h, l, z = {}, {}, {}
  for j = i, math.min(i + 1000, n) - 1 do
    h[#h + 1] = 'field:' .. j; h[#h + 1] = 'value-' .. j
    l[#l + 1] = 'element-' .. j
    z[#z + 1] = j * 0.5; z[#z + 1] = 'member:' .. j
  end
  redis.call('HSET', KEYS[1], unpack(h))
  redis.call('RPUSH', KEYS[2], unpack(l))
  redis.call('ZADD', KEYS[3], unpack(z))
end
return redis.call('HLEN', KEYS[1])
"""

BIG_KEYS = ('big:h', 'big:l', 'big:z')


def big_op(n):
    def op(r, db):
        x = r.random()
        if db != 0 or x < 0.05:
            return ['SET', 'small:%d' % r.randrange(3000), 'w%d' % r.randrange(1000)]
        if x < 0.25:
            return ['HSET', 'big:h', 'field:%d' % r.randrange(n + 1000), 'w%d' % r.randrange(1000)]
        if x < 0.35:
            return ['HDEL', 'big:h', 'field:%d' % r.randrange(n)]
        if x < 0.50:
            return ['LPUSH', 'big:l', 'w%d' % r.randrange(1000)]
        if x < 0.60:
            return ['RPOP', 'big:l']
        if x < 0.70:
            return ['LSET', 'big:l', r.randrange(n // 2), 'set%d' % r.randrange(1000)]
        if x < 0.88:
            return ['ZADD', 'big:z', r.randrange(n) / 3.0, 'member:%d' % r.randrange(n + 1000)]
        return ['ZREM', 'big:z', 'member:%d' % r.randrange(n)]
    return op


def big_sizes(c):
    c.call('SELECT', 0)
    return [c.call('HLEN', 'big:h'), c.call('LLEN', 'big:l'), c.call('ZCARD', 'big:z'), dbsizes(c)]


def big_digests(conns):
    """DEBUG DIGEST-VALUE of the big keys on each connection (db 0), the
    servers at once: a 1M-member zset takes seconds."""
    out = [None] * len(conns)

    def one(i):
        conns[i].call('SELECT', 0)
        out[i] = [conns[i].call('DEBUG', 'DIGEST-VALUE', k) for k in BIG_KEYS]
    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(conns))]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    return out


def small_keys(c, db):
    return [k for k in scan_keys(c) if k not in [b.encode() for b in BIG_KEYS]]


def converge_big(s, t, proc, timeout):
    """Until the big keys' sizes, then their digests and every other key,
    are equal: '' or the last difference. (Digests of 1M-element keys take
    a while: they are asked only once the sizes agree.)"""
    deadline = time.time() + timeout
    while True:
        a, b = big_sizes(s), big_sizes(t)
        if a == b:
            a, b = big_digests([s, t])
            if a == b:
                a = table_diff(key_table(s, (0, 3), lambda db: small_keys(s, db)),
                               key_table(t, (0, 3), lambda db: small_keys(t, db)))
                b = []
                if not a:
                    return ''
        if time.time() > deadline or not proc.alive():
            return 'source %r, target %r%s' % (a, b, '' if proc.alive() else ' (rmig exited)')
        time.sleep(0.5)


def scenario_big(ctx, d):
    rep = ctx.rep
    what = 'big keys live'
    n = 1000000
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    t0 = time.time()
    s.call('EVAL', BIG_FILL, 3, *(BIG_KEYS + (n,)))
    for db in (0, 3):
        s.call('SELECT', db)
        s.pipeline([['SET', 'small:%d' % i, 'v%d' % i] for i in range(3000)] +
                   [['HSET', 'sh:%d' % i, 'a', i, 'b', 'x'] for i in range(500)])
    s.call('SELECT', 0)
    s.call('PEXPIRE', 'big:h', 7200000)
    usage = [s.call('MEMORY', 'USAGE', k) for k in BIG_KEYS]
    print('# big: 3 keys of %d elements (MEMORY USAGE %s) in %.1f s' % (n, usage, time.time() - t0), flush=True)
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', dbs = { 0, 3 }, live = true, big_bytes = 1048576'), 'big')
    w = Writer(src.port, (0, 0, 0, 3), big_op(n), ctx.seed + 2, rate=2000)
    w.start()
    # the writer goes on until the big keys are all on the target, and 2 s more
    waited = wait_for(lambda: all(t.call('EXISTS', k) for k in BIG_KEYS) and
                      sum(dbsizes(t).values()) >= sum(dbsizes(s).values()), 60, proc, 0.2)
    time.sleep(2)
    ops = w.stop()
    rep.check(waited and w.failure is None,
              '%s: a writer changed the 3 big keys while they were copied: %d ops%s' % (
                  what, ops, ' (errors e.g. %s)' % w.errors[0] if w.errors else ''),
              'writer %r, target dbsizes %r, rmig: %s' % (w.failure, dbsizes(t), proc.tail()))
    t1 = time.time()
    diff = converge_big(s, t, proc, 90)
    rep.check(not diff, '%s: the big keys\' DEBUG DIGEST-VALUE, and every other key, converge (%.1f s)'
              % (what, time.time() - t1), diff)
    pt = t.call('PTTL', 'big:h')
    rep.check(7100000 < pt <= 7200000, '%s: the hash copied in chunks keeps its TTL (PTTL %d)' % (what, pt))
    stop_sigint(rep, what, proc)
    out = proc.stdout()
    rep.check('copied in chunks' in out and 're-read' in out,
              '%s: the summary says keys were copied in chunks and read again' % what, out[-600:])
    s.close()
    t.close()


def scenario_big_static(ctx, d):
    rep = ctx.rep
    what = 'big keys'
    cfg = MANAGED + ['--set-max-intset-entries', '100000', '--hash-max-listpack-entries', '4096',
                     '--hash-max-listpack-value', '256', '--zset-max-listpack-entries', '4096',
                     '--zset-max-listpack-value', '256']
    src = server(ctx, d, 'src', cfg)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    rng = random.Random(ctx.seed)
    c = []
    # a hashtable hash with binary fields, a listpack hash > 64 KiB
    for i in range(0, 60000, 1000):
        c.append(['HSET', 'bh:ht'] + sum(([b'f\x00%d' % j, rng.randbytes(8 + j % 40)] for j in range(i, i + 1000)), []))
    c.append(['HSET', 'bh:lp'] + sum((['lpf%d' % j, 'v' * 40 + str(j)] for j in range(3000)), []))
    # an intset of 30k 64-bit ints, a hashtable set
    for i in range(0, 30000, 1000):
        c.append(['SADD', 'bs:int'] + [str(j * 10 ** 12 + j) for j in range(i, i + 1000)])
    for i in range(0, 50000, 1000):
        c.append(['SADD', 'bs:ht'] + ['member:%d' % j for j in range(i, i + 1000)])
    # a skiplist zset with awkward scores, a listpack zset > 64 KiB
    for i in range(0, 50000, 1000):
        c.append(['ZADD', 'bz:sk'] + sum(([repr(j / 7.0), 'zm%d' % j] for j in range(i, i + 1000)), []))
    c.append(['ZADD', 'bz:sk', 'inf', 'plus-inf', '-inf', 'minus-inf', '1e-300', 'tiny', '-0.1', 'neg'])
    c.append(['ZADD', 'bz:lp'] + sum(([str(j), 'l' * 40 + str(j)] for j in range(3000)), []))
    # a list of 100k elements (some binary), a 3 MB string
    for i in range(0, 100000, 1000):
        c.append(['RPUSH', 'bl'] + [b'\x00\xff%d' % j if j % 100 == 0 else b'e%d' % j for j in range(i, i + 1000)])
    c.append(['SET', 'bstr', rng.randbytes(3 * 1024 * 1024 + 17)])
    c.append(['SET', 'small:int', 12345])
    s.pipeline(c, window=20)
    # a 20k-entry stream with two groups (one part way through), no pending entries
    s.pipeline([['XADD', 'bx', '%d-%d' % (1000 + j // 3, j % 3), 'n', str(j), 'pad', 'p' * (j % 50)]
                for j in range(20000)])
    mid = s.call('XRANGE', 'bx', '-', '+', 'COUNT', 10001)[-1][0]
    s.call('XGROUP', 'CREATE', 'bx', 'g-mid', mid)
    s.call('XGROUP', 'CREATE', 'bx', 'g-end', '$')
    s.call('XDEL', 'bx', mid)   # a deleted entry, so the last id is not simply the last entry's
    s.call('XADD', 'bx', '999999-0', 'last', 'one')
    s.call('XDEL', 'bx', '999999-0')
    # TTLs, and keys in db 3 too
    s.pipeline([['PEXPIRE', 'bh:ht', 3600000], ['EXPIRE', 'bl', 7200], ['PEXPIRE', 'bstr', 5000000],
                ['EXPIRE', 'bx', 9000], ['EXPIRE', 'bs:int', 8000], ['MOVE', 'bz:sk', 3], ['MOVE', 'bs:ht', 3],
                ['SELECT', 3], ['EXPIRE', 'bz:sk', 6000], ['SET', 'small:3', 'x'], ['SELECT', 0]])
    s.pipeline([['SET', 'small:%d' % i, 'v%d' % i] for i in range(2000)])
    enc = {k: s.call('OBJECT', 'ENCODING', k).decode() for k in ('bh:ht', 'bh:lp', 'bs:int', 'bz:lp', 'bl', 'bx')}
    usage = {k: s.call('MEMORY', 'USAGE', k) for k in ('bh:ht', 'bh:lp', 'bs:int', 'bz:lp', 'bl', 'bstr', 'bx')}
    rep.check(enc['bh:lp'] == 'listpack' and enc['bs:int'] == 'intset' and enc['bz:lp'] == 'listpack'
              and all(u > 65536 for u in usage.values()),
              '%s: the source holds big keys of every encoding (%s)' % (what, ', '.join(
                  '%s %s' % (k, v) for k, v in enc.items())), '%r %r' % (enc, usage))
    p = write(d, 'big.lua', pipeline(src.port, dst.port, ', big_bytes = 65536'))
    t0 = time.time()
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    out = out.decode('utf-8', 'replace')
    rep.check(rc == 0, '%s: exit 0 (%.1f s)' % (what, time.time() - t0), 'rc %d; %s' % (rc, tail(err)))
    m = re.search(r'(\d+) keys? [^\n]*copied in chunks|copied in chunks[^\n]*?(\d+)', out)
    rep.check('copied in chunks' in out, '%s: the summary counts keys copied in chunks (%s)' % (
        what, m.group(0) if m else ''), out[-600:])
    want, got = key_table(s, (0, 3)), key_table(t, (0, 3))
    streams = [k for k, v in want.items() if v[0] == 'stream']
    for k in streams:   # compared below by their contents
        if k in got and got[k][0] == 'stream':
            got[k] = (got[k][0], got[k][1], want[k][2])
    check_tables(rep, what, want, got)
    sv_s, sv_t = stream_view(s, 'bx'), stream_view(t, 'bx')
    rep.check(sv_s == sv_t, '%s: the stream copied in chunks has the same entries (XRANGE), last id and groups\' '
              'last-delivered-id (%d entries)' % (what, len(sv_s[0])),
              'source %r, target %r' % (sv_s and sv_s[1:], sv_t and sv_t[1:]))
    rep.check(dbsizes(s) == dbsizes(t), '%s: as many keys in each db' % what, '%r %r' % (dbsizes(s), dbsizes(t)))

    # the pipeline's nodes apply to big keys too: db 3 -> 6, bh:* dropped, expiries 1000 s later
    what = 'big keys through nodes'
    t.call('FLUSHALL')
    nodes = ('rmig.filter.db { map = { [3] = 6 } }, rmig.filter.keys { deny = { "bh:*" } }, '
             'rmig.filter.ttl { shift_ms = 1000000 }')
    p = write(d, 'nodes.lua', pipeline(src.port, dst.port, ', big_bytes = 65536', nodes=nodes))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    rep.check(rc == 0, '%s: exit 0' % what, 'rc %d; %s' % (rc, tail(err)))
    want_n = {}
    for (db, k), v in want.items():
        if not k.startswith(b'bh:'):
            want_n[(6 if db == 3 else db, k)] = (v[0], v[1] + 1000000 if v[1] > 0 else v[1], v[2])
    got_n = key_table(t, range(16))
    for k in streams:
        k2 = (6 if k[0] == 3 else k[0], k[1])
        if k2 in got_n and got_n[k2][0] == 'stream':
            got_n[k2] = (got_n[k2][0], got_n[k2][1], want_n[k2][2])
    check_tables(rep, what, want_n, got_n)
    s.close()
    t.close()


def scenario_live_select(ctx, d):
    """live with match and without dbs: every db is followed, those empty
    when the scan started too; keys outside match are not."""
    rep = ctx.rep
    what = 'live, match = "a:*", every db'
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    s.pipeline([['SET', 'a:%d' % i, i] for i in range(2000)] + [['SET', 'b:%d' % i, i] for i in range(2000)] +
               [['SELECT', 2], ['HSET', 'a:h', 'f', 'v'], ['SET', 'b:x', 1], ['SELECT', 0]])
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', live = true, match = "a:*"'), 'select')
    wait_for(lambda: dbsizes(t) == {0: 2000, 2: 1}, 20, proc, 0.05)
    s.pipeline([['SET', 'a:1', 'changed'], ['SET', 'b:1', 'changed'], ['DEL', 'a:2'], ['SET', 'a:new', 'x'],
                ['SELECT', 7], ['SET', 'a:seven', 'x'], ['SET', 'b:seven', 'x'], ['SET', b'a:\x00\r\n\xff', 'bin'],
                ['SELECT', 15], ['RPUSH', 'a:l15', 'x', 'y'], ['SELECT', 2], ['HSET', 'a:h', 'g', 'w'],
                ['RENAME', 'b:x', 'a:from-b'], ['SELECT', 0]])

    def want():
        out = {}
        for db in (0, 2, 7, 15):
            s.call('SELECT', db)
            out.update(key_table(s, (db,), lambda _db: scan_keys(s, 'a:*')))
        return out
    diff = converge(want, lambda: key_table(t, range(16)), lambda a, b: '; '.join(table_diff(a, b)[:6]), proc, 20)
    rep.check(not diff, '%s: changes after the scan arrive in dbs that were empty when it started (7, 15), a '
              'key renamed into match arrives, nothing outside match does' % what, diff)
    stop_sigint(rep, what, proc)

    what = 'live, dbs = { 0 }'
    t.call('FLUSHALL')
    s.pipeline([['SELECT', 9], ['SET', 'in:9', 'x'], ['SET', 'stay:9', 'x'], ['SELECT', 0]])
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', live = true, dbs = { 0 }'), 'dbs0')
    wait_for(lambda: t.call('DBSIZE') == s.call('DBSIZE'), 20, proc, 0.05)
    s.pipeline([['MOVE', 'a:5', 9], ['SELECT', 9], ['MOVE', 'in:9', 0], ['SET', 'stay:9', 'y'], ['SELECT', 2],
                ['SET', 'a:two', 'x'], ['SELECT', 0], ['SWAPDB', 5, 6]])
    diff = converge(lambda: key_table(s, (0,)), lambda: key_table(t, range(16)),
                    lambda a, b: '; '.join(table_diff(a, b)[:6]), proc, 20)
    rep.check(not diff, '%s: a key MOVEd out of db 0 is deleted on the target, one MOVEd in arrives, other dbs '
              'stay away' % what, diff)
    stop_sigint(rep, what, proc)
    s.close()
    t.close()


def big_partial(t, n):
    """The big keys the target holds only part of: [(key, elements)]."""
    out = []
    for k, typ, cmd in (('big:h', 'hash', 'HLEN'), ('big:l', 'list', 'LLEN'), ('big:z', 'zset', 'ZCARD')):
        if t.call('TYPE', k) == typ:
            m = t.call(cmd, k)
            if 0 < m < n * 0.99:
                out.append((k, m))
    return out


def scenario_big_gone(ctx, d):
    """Big keys deleted or expired on the source while they are copied in
    chunks: a live run deletes them on the target; a run without live may
    copy a key as it was, but never leaves part of one."""
    rep = ctx.rep
    n = 400000
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    for live in (False, True):
        what = 'big keys gone mid-copy (%s)' % ('live' if live else 'not live')
        s.call('FLUSHALL')
        t.call('FLUSHALL')
        s.call('EVAL', BIG_FILL, 3, *(BIG_KEYS + (n,)))
        s.pipeline([['SET', 'small:%d' % i, i] for i in range(100)])
        proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', big_bytes = 65536, count = 500%s'
                                        % (', live = true' if live else '')), 'gone-%s' % live)
        removed = {}
        t0 = time.time()
        while len(removed) < 3 and time.time() - t0 < 30 and proc.alive():
            for k, m in big_partial(t, n):
                if k not in removed:
                    # the hash deleted, the list given a TTL that ends at once, the zset replaced by a string
                    if k == 'big:z':
                        s.pipeline([['DEL', k], ['SET', k, 'now a string']])
                    else:
                        s.call(*(['PEXPIRE', k, 1] if k == 'big:l' else ['DEL', k]))
                    removed[k] = m
            time.sleep(0.02)
        if live:
            diff = converge(lambda: (s.call('DBSIZE'), s.call('DEBUG', 'DIGEST')),
                            lambda: (t.call('DBSIZE'), t.call('DEBUG', 'DIGEST')),
                            lambda a, b: '' if a == b else 'source %r, target %r' % (a, b), proc, 30)
            rep.check(not diff and len(removed) == 3,
                      '%s: the 3 keys removed or replaced while the target held part of them (%s) are so there too'
                      % (what, ', '.join('%s at %d' % kv for kv in sorted(removed.items()))),
                      '%s; removed %r; target %r' % (diff, removed, big_partial(t, n)))
            stop_sigint(rep, what, proc)
        else:
            rc = proc.wait(60)
            left = big_partial(t, n)
            rep.check(rc == 0 and not left,
                      '%s: exit 0, and no key removed or replaced mid-copy (%s) stays half-copied on the target'
                      % (what, ', '.join('%s at %d' % kv for kv in sorted(removed.items()))),
                      'rc %r; on the target: %s; %s' % (rc, ', '.join('%s with %d of %d elements, PTTL %d' % (
                          k, m, n, t.call('PTTL', k)) for k, m in left), tail(proc.stdout(), 300)))
    s.close()
    t.close()


def notify_value(c):
    return c.call('CONFIG', 'GET', 'notify-keyspace-events')[1].decode()


def notify_enough(v):
    return 'E' in v and ('A' in v or all(f in v for f in 'g$lshzxet'))


def scenario_notify(ctx, d):
    rep = ctx.rep
    # (a) CONFIG renamed, notifications off: the probe finds no notification
    src = server(ctx, d, 'managed', MANAGED)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    s.pipeline([['SET', 'k%d' % i, i] for i in range(1000)])
    p = write(d, 'a.lua', pipeline(src.port, dst.port, ', live = true'))
    t0 = time.time()
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    took = time.time() - t0
    rep.check(rc not in (0, None) and 'notify-keyspace-events' in err and took < 30,
              'notify: CONFIG renamed and notifications off: a live run stops naming notify-keyspace-events '
              '(exit %d in %.1f s)' % (rc, took), 'rc %r in %.1f s: %s' % (rc, took, tail(err)))
    rep.check(not dbsizes(t), 'notify: and the target got nothing', '%r' % dbsizes(t))
    extra = [(k, s.call('PTTL', k)) for k in scan_keys(s) if not re.match(rb'k\d+$', k)]
    rep.check(len(extra) <= 1 and all(0 < ttl <= 60000 for _k, ttl in extra),
              'notify: the source is left with its own keys, and at most a probe key about to expire (%s)'
              % ', '.join('%s PTTL %d' % (short(k), ttl) for k, ttl in extra), '%r' % extra)

    # (a') CONFIG renamed and only some classes on: the probe checks every class a live scan needs
    for flags in ('E$', 'KEg$lshz'):
        part = server(ctx, d, 'partial-%s' % flags.replace('$', 'S'), MANAGED + ['--notify-keyspace-events', flags])
        p = write(d, 'partial.lua', pipeline(part.port, dst.port, ', live = true'))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
        rep.check(rc not in (0, None) and 'notify-keyspace-events' in err,
                  'notify: CONFIG renamed and notify-keyspace-events %r (classes missing): a live run stops naming it '
                  '(exit %r)' % (flags, rc), 'rc %r: %s' % (rc, tail(err)))
        part.stop()
    rep.check(not dbsizes(t), 'notify: and the target got nothing', '%r' % dbsizes(t))

    # (b) CONFIG available, notifications off, notify = "require"
    plain = server(ctx, d, 'plain', [])
    pc = plain.conn()
    pc.pipeline([['SET', 'k%d' % i, i] for i in range(1000)])
    before = notify_value(pc)
    p = write(d, 'b.lua', pipeline(plain.port, dst.port, ', live = true, notify = "require"'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc in (1, 2) and 'notify-keyspace-events' in err,
              'notify: notify = "require" with notifications off stops naming notify-keyspace-events (exit %r)' % rc,
              'rc %r: %s' % (rc, tail(err)))
    rep.check(notify_value(pc) == before == '' and not dbsizes(t),
              'notify: and changes nothing, on the source or the target',
              'notify-keyspace-events %r, target %r' % (notify_value(pc), dbsizes(t)))

    # (c) notify = "set" (the default): turned on for the run, put back at the end; SIGINT and SIGTERM
    for sig, original in ((signal.SIGINT, ''), (signal.SIGTERM, 'Kl')):
        what = 'notify = "set" (%s, was %r)' % (sig.name, original)
        t.call('FLUSHALL')
        pc.call('CONFIG', 'SET', 'notify-keyspace-events', original)
        before = notify_value(pc)
        proc = rmig_bg(ctx, d, pipeline(plain.port, dst.port, ', live = true'), 'set-%s' % sig.name)
        on = wait_for(lambda: notify_enough(notify_value(pc)), 20, proc, 0.05)
        rep.check(on, '%s: the flags a live scan needs are on while it runs (%r)' % (what, notify_value(pc)),
                  proc.tail())
        wait_for(lambda: t.call('DBSIZE') >= pc.call('DBSIZE'), 20, proc, 0.1)
        pc.pipeline([['SET', 'k%d' % i, 'changed'] for i in range(0, 1000, 7)] +
                    [['DEL', 'k%d' % i] for i in range(1, 1000, 11)] +
                    [['HSET', 'new:h', 'a', 1], ['RPUSH', 'new:l', 'x', 'y'], ['PEXPIRE', 'k2', 100000]])
        diff = converge_digests(pc, t, (0,), proc, timeout=30)
        rep.check(not diff, '%s: the writes after the scan arrive' % what, diff)
        stop_sigint(rep, what, proc, sig)
        after = notify_value(pc)
        rep.check(after == before, '%s: notify-keyspace-events is back to %r' % (what, before), 'it is %r' % after)

    # a run that fails (its target is gone) puts the old value back too
    what = 'notify = "set", the target gone'
    pc.call('CONFIG', 'SET', 'notify-keyspace-events', 'Kz')
    before = notify_value(pc)
    dead = free_port()
    p = write(d, 'deadsink.lua', pipeline(plain.port, dead, ', live = true', sink_extra=', retry_deadline_s = 1'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc not in (0, None) and notify_value(pc) == before,
              '%s: the run fails (exit %r) and notify-keyspace-events is back to %r' % (what, rc, before),
              'rc %r, notify-keyspace-events %r: %s' % (rc, notify_value(pc), tail(err)))
    pc.close()
    s.close()
    t.close()


def scenario_resume(ctx, d):
    rep = ctx.rep
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    rng = random.Random(ctx.seed)
    cmds = []
    for i in range(40000):   # db 0: strings (some with TTLs) and hashes
        if i % 1000 == 1:
            cmds.append(['HSET', 'h:%d' % i, 'a', i, 'b', rng.randbytes(10)])
        else:
            cmds.append(['SET', 's:%d' % i, 'v%d' % i])
            if i % 10 == 0:
                cmds.append(['EXPIRE', 's:%d' % i, 5000 + i])
    cmds.append(['SELECT', 2])
    for i in range(20000):   # db 2: binary values
        cmds.append(['SET', 'b:%d' % i, rng.randbytes(20)])
    cmds.append(['SELECT', 0])
    s.pipeline(cmds)
    n = sum(dbsizes(s).values())
    dbs = sorted(dbsizes(s))

    for sig, after, rate in ((signal.SIGINT, 2.5, 10000), (signal.SIGKILL, 6.0, 8000)):
        what = 'resume after %s' % sig.name
        t.call('FLUSHALL')
        state = os.path.join(d, 'state-%s' % sig.name)
        text = pipeline(src.port, dst.port, ', rate = %d, count = 100, state = %s' % (rate, lua_string(state)))
        proc = rmig_bg(ctx, d, text, 'first-%s' % sig.name)
        time.sleep(after)
        first_rc = proc.stop(sig, 30)
        got_first = sum(dbsizes(t).values())
        if sig == signal.SIGINT:
            # an incomplete copy is not a success: exit 1, saying to run again
            rep.check(first_rc == 1 and os.path.exists(state) and os.path.getsize(state) > 0 and
                      'run again with the same source.state' in proc.stderr(),
                      '%s: the run stopped mid-scan exits 1 saying to run again, and leaves its state file '
                      '(%d of %d keys copied)' % (what, got_first, n),
                      'rc %r, state %s; %s' % (rc_text(first_rc), os.path.exists(state), proc.tail()))
        else:
            rep.check(os.path.exists(state) and 0 < got_first < n,
                      '%s: a state file was saved before the kill (%d of %d keys copied)' % (what, got_first, n),
                      'state %s; %s' % (os.path.exists(state), proc.tail()))
        if sig == signal.SIGINT:
            other = pipeline(src.port, dst.port, ', dbs = { 0 }, count = 100, state = %s' % lua_string(state))
            rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'other.lua', other)], timeout=60)
            rep.check(rc == 2 and state in err and sum(dbsizes(t).values()) == got_first,
                      '%s: a rerun with other dbs than the state was saved with stops (exit 2 naming the file)' % what,
                      'rc %r: %s' % (rc, tail(err)))
        t0 = time.time()
        rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'again-%s.lua' % sig.name, text)], timeout=60)
        k = scanned(out)
        rep.check(rc == 0, '%s: the rerun exits 0 (%.1f s)' % (what, time.time() - t0), 'rc %d: %s' % (rc, tail(err)))
        rep.check(digests_by_db(s, dbs) == digests_by_db(t, dbs),
                  '%s: the target equals the source (DBSIZE per db, DEBUG DIGEST)' % what,
                  '%r != %r' % (digests_by_db(t, dbs), digests_by_db(s, dbs)))
        rep.check(k is not None and k < n, '%s: the rerun scanned the rest only (%r of %d keys)' % (what, k, n),
                  out[-400:])
        rep.check(not os.path.exists(state), '%s: the state file is removed once the scan is complete' % what)

    # a live run given the state of a stopped one scans everything again
    what = 'live with the state of a stopped scan'
    t.call('FLUSHALL')
    state = os.path.join(d, 'state-live')
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', rate = 10000, count = 100, state = %s' % lua_string(state)),
                   'before-live')
    time.sleep(2)
    first_rc = proc.stop(signal.SIGINT, 30)
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', live = true, state = %s' % lua_string(state)), 'live')
    diff = converge_digests(s, t, dbs, proc, 30)
    ok = stop_sigint(rep, what, proc)
    k = scanned(proc.stdout())
    rep.check(os.path.exists(state) and not diff and ok and k is not None and k >= n,
              '%s: scans from the start again (%r of %d keys) and ends equal' % (what, k, n),
              'first run: rc %r, state %s; %s; %s' % (first_rc, os.path.exists(state), diff, proc.tail()))

    # SIGKILL while a big key is copied in chunks (a save waits for what was read before it to be answered:
    # the big keys are in db 2, read after db 0)
    what = 'resume after SIGKILL during a chunked copy'
    t.call('FLUSHALL')
    m = 150000
    s.call('SELECT', 2)
    s.call('EVAL', BIG_FILL, 3, *(BIG_KEYS + (m,)))
    s.call('SELECT', 0)
    state = os.path.join(d, 'state-big')
    text = pipeline(src.port, dst.port, ', big_bytes = 65536, count = 200, state = %s' % lua_string(state))
    proc = rmig_bg(ctx, d, text, 'big-first')

    def partial():
        t.call('SELECT', 2)
        try:
            return big_partial(t, m)
        finally:
            t.call('SELECT', 0)
    part = wait_for(partial, 20, proc, 0.01)
    proc.stop(signal.SIGKILL, 10)
    saved = os.path.exists(state)
    rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'big-again.lua', text)], timeout=90)
    a, b = digests_by_db(s, dbs), digests_by_db(t, dbs)
    rep.check(rc == 0 and a == b, '%s (%s on the target, state %s): the rerun ends equal' % (
        what, ', '.join('%s at %d' % kv for kv in part) if part else 'no key half-copied',
        'saved' if saved else 'not saved yet'), 'rc %d; %r != %r; %s' % (rc, b, a, tail(err)))
    s.close()
    t.close()


def rc_text(rc):
    return 'still running (killed)' if rc is None else str(rc)


# --- cluster ---------------------------------------------------------------------------

TAGS = 600


def ckey(fam, i):
    return '{t%d}:%s:%d' % (i % TAGS, fam, i)


class ClusterWriter(threading.Thread):
    """Changes a cluster's keys from a thread, each command sent to the
    master owning its key's slot."""

    def __init__(self, cl, fam, seed, rate=3000):
        super().__init__(daemon=True)
        self.owners = cl.slot_map()
        self.fam = fam
        self.rng = random.Random(seed)
        self.rate = rate
        self.ops = 0
        self.errors = []
        self.failure = None
        self._halt = threading.Event()

    def op(self):
        r, fam = self.rng, self.fam

        def k(name):
            n = fam[name]
            i = r.randrange(min(300, n)) if r.random() < 0.5 else r.randrange(n)
            return i, ckey(name, i)
        x = r.random()
        if x < 0.2:
            return ['SET', k('s')[1], 'w%d' % r.randrange(10 ** 6)]
        if x < 0.27:
            return ['INCR', k('n')[1]]
        if x < 0.4:
            return ['HSET', k('h')[1], 'f%d' % r.randrange(20), 'w%d' % r.randrange(99)] if r.random() < 0.7 \
                else ['HDEL', k('h')[1], 'f%d' % r.randrange(8)]
        if x < 0.5:
            return ['LPUSH', k('l')[1], 'w'] if r.random() < 0.6 else ['RPOP', k('l')[1]]
        if x < 0.58:
            return ['SADD' if r.random() < 0.6 else 'SREM', k('set')[1], 'm%d' % r.randrange(10)]
        if x < 0.66:
            return ['ZADD', k('z')[1], r.randrange(100), 'm%d' % r.randrange(10)]
        if x < 0.72:
            return ['XADD', k('x')[1], 'MAXLEN', 20, '*', 'w', '1']
        if x < 0.8:
            return ['DEL', k(r.choice(('s', 'h', 'l', 'set', 'z')))[1]]
        if x < 0.87:
            i, a = k('s')
            j = i % TAGS + TAGS * r.randrange(fam['s'] // TAGS)   # the same hash tag: the same slot
            return ['RENAME', a, ckey('s', j)]
        if x < 0.94:
            return ['PEXPIRE', k(r.choice(('s', 'h', 'z')))[1], r.randint(100, 1500)]
        return ['PERSIST', k('s')[1]]

    def run(self):
        try:
            conns = {}
            t0 = time.time()
            while not self._halt.is_set():
                by = {}
                for _ in range(60):
                    cmd = self.op()
                    by.setdefault(self.owners[slot_of(cmd[1])][1], []).append(cmd)
                for port, cmds in by.items():
                    c = conns.get(port) or conns.setdefault(port, Conn(port, timeout=30))
                    for cmd, rr in zip(cmds, c.pipeline(cmds)):
                        if isinstance(rr, RedisError) and 'no such key' not in str(rr) and len(self.errors) < 5:
                            self.errors.append('%s: %s' % (' '.join(str(a) for a in cmd)[:60], rr))
                self.ops += 60
                ahead = t0 + self.ops / float(self.rate) - time.time()
                if ahead > 0:
                    time.sleep(min(ahead, 0.2))
            for c in conns.values():
                c.close()
        except Exception as e:
            self.failure = e

    def stop(self):
        self._halt.set()
        self.join(30)
        return self.ops


def db_term(db):
    """What a non-empty db adds to DEBUG DIGEST besides its keys: the digest
    starts as SHA1(SHA1(the db number as 4 big-endian bytes))."""
    return int(hashlib.sha1(hashlib.sha1(db.to_bytes(4, 'big')).digest()).hexdigest(), 16)


def cluster_as_db(cl, db):
    """The DEBUG DIGEST a standalone server holding the masters' keys in db
    `db` (and nothing else) has: the cluster's combined digest (db 0's)
    with db 0's term swapped for db's."""
    dg = cl.digest()
    if int(dg, 16) == 0:
        return dg
    return '%040x' % (int(dg, 16) ^ db_term(0) ^ db_term(db))


def scenario_cluster(ctx, d):
    rep = ctx.rep
    what = 'cluster'
    cl = Cluster(os.path.join(d, 'cluster'), masters=3, replicas=0, config=NOTIFY)
    ctx.clusters.append(cl)
    dst = server(ctx, d, 'dst', [])
    t = dst.conn()
    fam = {'s': 15000, 'n': 1000, 'h': 4000, 'l': 3000, 'set': 3000, 'z': 3000, 'x': 300}
    rng = random.Random(ctx.seed)
    owners = cl.slot_map()
    by = {}
    for name, count in fam.items():
        for i in range(count):
            k = ckey(name, i)
            if name == 's':
                cmd = [['SET', k, rng.randbytes(rng.randint(3, 40))]]
                if i % 9 == 0:
                    cmd.append(['PEXPIRE', k, 3600000 + i])
            elif name == 'n':
                cmd = [['SET', k, i]]
            elif name == 'h':
                cmd = [['HSET', k] + sum((['f%d' % j, 'v%d' % j] for j in range(i % 6 + 1)), [])]
            elif name == 'l':
                cmd = [['RPUSH', k] + ['e%d' % j for j in range(i % 5 + 1)]]
            elif name == 'set':
                cmd = [['SADD', k] + ['m%d' % j for j in range(i % 5 + 1)]]
            elif name == 'z':
                cmd = [['ZADD', k] + sum(([j, 'm%d' % j] for j in range(i % 5 + 1)), [])]
            else:
                cmd = [['XADD', k, '*', 'a', i]]
            by.setdefault(owners[slot_of(k)][1], []).extend(cmd)
    for port, cmds in by.items():
        c = cl.conn(port)
        c.pipeline(cmds)
        c.close()
    per = {p: len(ks) for p, ks in cl.keys_by_master().items()}
    n = sum(per.values())
    rep.check(len(per) == 3 and all(v > n / 5 for v in per.values()),
              '%s: %d keys spread over the 3 masters (%s)' % (what, n, ', '.join(map(str, per.values()))), '%r' % per)
    port0 = cl.masters()[1][1]
    # rate: about 3 s of scan per master, for the writer to write during it
    text = pipeline(port0, dst.port, ', live = true, rate = 3500', nodes='rmig.filter.db { map = { [0] = 5 } }')
    proc = rmig_bg(ctx, d, text, 'cluster')
    w = ClusterWriter(cl, fam, ctx.seed + 3, rate=3000)
    w.start()
    t0 = time.time()
    # during the scan a slot the writer writes to moves to another master (MIGRATE: del on one, restore on the other)
    time.sleep(1)
    slot = slot_of(ckey('s', 0))
    a = cl.node_for_slot(slot)[1]
    b = [p for _h, p in cl.masters() if p != a][0]
    moved = cl.migrate_slot(slot, a, b, batch=10, pause_between_batches=0.05)
    wait_for(lambda: t.call('INFO', 'keyspace') and sum(dbsizes(t).values()) >= 0.99 * cl.dbsize(), 90, proc, 0.1)
    scan_s = time.time() - t0
    time.sleep(3)
    ops = w.stop()
    rep.check(w.failure is None and proc.alive(),
              '%s: a cluster-aware writer changed keys during the scan (%.1f s) and 3 s after, slot %d moved from %d '
              'to %d with its %d keys meanwhile: %d ops' % (what, scan_s, slot, a, b, moved, ops),
              'writer %r; rmig %s' % (w.failure, 'running' if proc.alive() else 'exited: ' + proc.tail()))
    time.sleep(1.6)

    def want():
        return cl.dbsize(), cluster_as_db(cl, 5)

    def got():
        t.call('SELECT', 5)
        r = t.call('DBSIZE'), t.call('DEBUG', 'DIGEST')
        t.call('SELECT', 0)
        return r
    t1 = time.time()
    diff = converge(want, got, lambda a, b: '' if a == b else 'masters %r, target db 5 %r' % (a, b), proc, 60)
    rep.check(not diff, '%s: the target\'s db 5 converges to the masters\' keys (DBSIZE, DEBUG DIGEST) in %.1f s'
              % (what, time.time() - t1), diff)
    stop_sigint(rep, what, proc)
    out = proc.stdout()
    lines = scan_lines(out)
    three = any(re.search(r'\b3 (masters|servers|nodes)', l) for l in lines) or \
        len(set(re.findall(r'127\.0\.0\.1:\d+', ' '.join(lines)))) == 3
    rep.check(three, '%s: the summary\'s scan line counts 3 masters (%s)' % (what, ' | '.join(lines)[:300]),
              out[-600:])
    rep.check(set(dbsizes(t)) == {5}, '%s: every key lands in db 5' % what, '%r' % dbsizes(t))
    # key by key: the union over the masters against db 5
    want_t = {}
    for port, keys in cl.keys_by_master().items():
        c = cl.conn(port)
        for (_db, k), v in key_table(c, (0,), keys_of=lambda _db, ks=keys: ks).items():
            want_t[(5, k)] = v
        c.close()
    check_tables(rep, what, want_t, key_table(t, (5,)))

    # without live: every master, or (cluster = false) the node given alone
    by = cl.keys_by_master()
    for extra, want_keys, said in (('', sorted(k for ks in by.values() for k in ks), 'every master'),
                                   (', cluster = false', sorted(by[port0]), 'only the node given')):
        what = 'cluster, not live%s' % extra
        t.call('FLUSHALL')
        rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'static.lua', pipeline(port0, dst.port, extra))], timeout=60)
        got_keys = sorted(scan_keys(t))
        rep.check(rc == 0 and got_keys == want_keys and set(dbsizes(t)) <= {0},
                  '%s: exit 0, %s read (%d keys)' % (what, said, len(want_keys)),
                  'rc %d, %d keys on the target; %s' % (rc, len(got_keys), tail(err)))
    t.close()


# --- errors ----------------------------------------------------------------------------

def scenario_errors(ctx, d):
    rep = ctx.rep
    src = server(ctx, d, 'src', MANAGED + NOTIFY)
    dst = server(ctx, d, 'dst', [])
    s, t = src.conn(), dst.conn()
    s.pipeline([['SET', 'k%d' % i, i] for i in range(100)])
    p = write(d, 'skip.lua', pipeline(src.port, dst.port, ', live = true', sink_extra=', mode = "skip-existing"'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=30)
    rep.check(rc == 2 and re.search(r'skip-existing|sink\.mode|mode', err) and 'unknown option' not in err,
              'errors: live with sink mode "skip-existing": exit 2 saying live needs another sink.mode',
              'rc %r: %s' % (rc, tail(err)))
    dead = free_port()
    p = write(d, 'dead.lua', pipeline(dead, dst.port, ', live = true'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    rep.check(rc == 1 and ('127.0.0.1:%d' % dead) in err, 'errors: an unreachable live source: exit 1 naming it',
              'rc %r: %s' % (rc, tail(err)))
    # live: the reading connection killed goes on; the notification one killed stops the run
    what = 'errors: live, the source\'s connections killed'
    t.call('FLUSHALL')
    proc = rmig_bg(ctx, d, pipeline(src.port, dst.port, ', live = true'), 'killed')
    wait_for(lambda: t.call('DBSIZE') >= 100, 20, proc, 0.05)
    s.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
    s.pipeline([['SET', 'after-kill:%d' % i, i] for i in range(50)] + [['DEL', 'k1']])
    diff = converge_digests(s, t, (0,), proc, 20)
    rep.check(not diff, '%s: the reading connection killed, changes still arrive' % what, diff)
    s.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    rc = proc.wait(20)
    rep.check(rc == 1 and 'notification' in proc.stderr(),
              '%s: the notification connection killed, the run stops with exit 1 saying so' % what,
              'rc %r; %s' % (rc, proc.tail()))

    p = write(d, 'notcluster.lua', pipeline(src.port, dst.port, ', cluster = true'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=30)
    rep.check(rc in (1, 2) and 'cluster' in err.lower() and 'unknown option' not in err,
              'errors: cluster = true at a server that is not a cluster node fails saying so (exit %r)' % rc,
              'rc %r: %s' % (rc, tail(err)))
    s.close()
    t.close()


SCENARIOS = [
    ('basic', scenario_basic),
    ('live', scenario_live),
    ('big', scenario_big),
    ('big_static', scenario_big_static),
    ('big_gone', scenario_big_gone),
    ('live_select', scenario_live_select),
    ('notify', scenario_notify),
    ('resume', scenario_resume),
    ('cluster', scenario_cluster),
    ('errors', scenario_errors),
]


def main():
    ctx = Ctx()
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-scan-', ctx, on_end=kill_running,
                         seed_note="the data and the writers' commands",
                         skip=lambda name: name == 'cluster' and not shutil.which('redis-cli') and 'redis-cli is not installed')


if __name__ == '__main__':
    sys.exit(main())

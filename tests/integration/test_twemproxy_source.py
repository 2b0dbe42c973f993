#!/usr/bin/env python3
"""`rmig run` and `rmig verify` with rmig.source.twemproxy: every backend of
a nutcracker pool read in parallel as one source (a real nutcracker 0.5.0 in
front of redis-servers; keys are written THROUGH the proxy, junk straight
into other dbs of the backends). A pool is what its clients see: the union
of its redis_db on every backend, which must arrive as db 0, and nothing
else. Every comparison is per key: type, DEBUG DIGEST-VALUE, expire time,
and the consumer groups of streams. Scenarios:

  scan      4 backends (ketama fnv1a_64, hash_tag "{}", redis_db 3,
            weights 1/3/2/1, one server named) of a file with two pools; ~4k keys of every
            type through the proxy (binary, UTF-8 and empty names, big
            values, streams with groups by EVAL, TTLs), junk in dbs 0 and 5
            (some with pool key names): mode = "scan" into a standalone
            target exits 0, its db 0 (and no other db) is exactly the pool
            (expire times within 2 s), the report says "pool db 3 as db 0";
            rmig verify: no difference, every key checked; a value changed
            and a key deleted on the target: exit 1 naming each
  psync     4 backends, redis_db 2, into a 3-master Redis Cluster
            (rmig.sink.cluster); a writer through the proxy from the start
            (SET, APPEND, INCR, HSET, RPUSH, LPOP, ZADD, SADD, DEL and
            UNLINK, EXPIRE, PERSIST, short TTLs that run out during the
            run, MSET and DEL over hash tags and backends, SMOVE,
            SUNIONSTORE, LMOVE, XADD by EVAL: nutcracker 0.5.0 has no XADD,
            RENAME or MULTI), junk into
            dbs 0 and 5 during the run: caught up with each backend, the
            cluster converges to the pool (expire times exact, each key on
            its slot's master), SIGINT exits 0, a state file per backend,
            the report counts exactly the junk as dropped; then a run
            SIGINTed while the writer writes, more written while stopped,
            and a third run: each resumes every backend by partial resync
            ("0 full and 1 partial syncs"; the backends' sync_full stays 1),
            equal again (INCR and RPUSH exact: nothing applied twice);
            rmig verify of the psync pipeline: no difference
  scan_live mode = "scan", live = true into a standalone target while a
            writer writes through the proxy during the scan and after it
            (and junk goes to db 0): the target converges, SIGINT exits 0,
            every key equal (expire times within 2 s), no junk
  auth      backends with requirepass behind pools with redis_auth: psync
            and scan authenticate with it when no password is given (a
            writer through the proxy; equal key by key, the password never
            printed; verify: no difference). A pool with redis_auth and
            redis_db 2: nutcracker 0.5.0 sends no SELECT then (twemproxy
            issues #457, #491), so its clients' keys are in db 0 of the
            backends: rmig must move them, or refuse the pool, never exit 0
            having moved none (scan, psync, verify)
  unix      a pool whose 3 backends nutcracker reaches by unix sockets
            (two named, one not: its path is its ketama name): mode = "scan"
            into a standalone target, then psync with a state file while
            a writer writes through the proxy (caught up with each socket,
            converged, SIGINT exits 0, a state file per socket named after
            its path), a second psync run resumes each by partial resync;
            every key equal; rmig check lists each socket; an RDB file into
            the pool direct (by the sockets): every key found through the
            proxy. nutcracker 0.5.0 selects no db on a unix socket, so the
            pool's redis_db 1 is db 0 there, where rmig reads and writes;
            a pool of TCP and unix-socket backends with redis_db: exit 2
  errors    a missing nutcracker.yml (exit 2 naming it), YAML syntax errors
            and a bad setting (exit 2 naming file:line), an unknown pool and
            a two-pool file without pool (exit 2 listing the pools), a
            unix-socket backend nothing listens on (exit 1 naming it), a memcached pool
            (redis: false, or no redis: at all: exit 2), an unknown mode and
            sink.exactly_once (exit 2); a one-pool file without pool; an
            unreachable backend (exit 1 naming host:port: scan, psync,
            verify); a wrong redis_auth (exit 1, never printed) and
            source.password overriding it

usage: python3 test_twemproxy_source.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and writers' seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 nutcracker or redis-server
is missing."""
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster  # noqa: E402
from redis_harness import Conn, RedisError, Server, closed_port, run_rmig, run_scenarios, short, write  # noqa: E402
from test_psync import Rmig, converge, info, lua_string, wait_for  # noqa: E402
from test_scan import Writer  # noqa: E402
from test_verify import check_clean, verify  # noqa: E402
from twemproxy_harness import (BACKEND, Ctx, backends, bconn, caught_up, cluster_sink, cluster_table, dbs_of,  # noqa: E402
                               dump_of, fill_pool, junk, key_table, names_of, on_end, pconn, per_backend, pool,
                               pool_report, pool_size, pool_table, proxy, redis_sink, require_nutcracker,
                               sync_counts, table_diff, twem_pipeline)

# the writers' commands (pools, backends, key tables and data: twemproxy_harness.py)
W = 1200                      # keys per family the writers touch
TAGS = 60                     # hash tags the writers' multi-key commands use
XADD = "return redis.call('XADD', KEYS[1], 'MAXLEN', '50', '*', 'w', ARGV[1])"


def tail(text, n=800):
    return text[-n:].replace('\n', ' | ')


# --- writers through the proxy --------------------------------------------------------

class ProxyWriter(Writer):
    """test_scan.Writer through nutcracker: no SELECT (the proxy has one
    db), AUTH first when the pool has redis_auth."""

    def __init__(self, port, ops, seed, rate=2000, password=None, batch=40):
        super().__init__(port, (0,), ops, seed, rate, batch)
        self.password = password

    def run(self):
        try:
            c = Conn(self.port, timeout=30)
            if self.password:
                c.call('AUTH', self.password)
            t0 = time.time()
            while not self._halt.is_set():
                cmds = [self.make(self.rng, 0) for _ in range(self.batch)]
                for cmd, r in zip(cmds, c.pipeline(cmds)):
                    if isinstance(r, RedisError) and len(self.errors) < 5:
                        self.errors.append('%s: %s' % (' '.join(str(a) for a in cmd)[:60], r))
                self.ops += self.batch
                ahead = t0 + self.ops / float(self.rate) - time.time()
                if ahead > 0:
                    time.sleep(min(ahead, 0.2))
            c.close()
        except Exception as e:   # reported by the checks
            self.failure = e


def writer_op(r, _db):
    """One command through the proxy. Each key name keeps one type; the
    multi-key commands use hash tags, so nutcracker sends them to one
    backend (MSET and DEL of several tags it splits by backend itself)."""
    i = r.randrange(W)
    t = r.randrange(TAGS)
    x = r.random()
    if x < 0.12:
        return ['SET', 'w:s:%d' % i, 'w%d' % r.randrange(10 ** 6)]
    if x < 0.16:
        return ['APPEND', 'w:s:%d' % i, 'a']
    if x < 0.24:
        return ['INCR', 'w:n:%d' % i] if r.random() < 0.7 else ['INCRBY', 'w:n:%d' % i, r.randrange(-5, 50)]
    if x < 0.33:
        y = r.random()
        if y < 0.6:
            return ['HSET', 'w:h:%d' % i, 'f%d' % r.randrange(20), r.randrange(1000)]
        return ['HDEL', 'w:h:%d' % i, 'f%d' % r.randrange(20)] if y < 0.8 else ['HINCRBY', 'w:h:%d' % i, 'n', 1]
    if x < 0.41:
        return ['RPUSH', 'w:l:%d' % i, 'e%d' % r.randrange(1000)] if r.random() < 0.7 else ['LPOP', 'w:l:%d' % i]
    if x < 0.48:
        y = r.random()
        if y < 0.6:
            return ['ZADD', 'w:z:%d' % i, r.randrange(-100, 100) / 4.0, 'm%d' % r.randrange(12)]
        return ['ZINCRBY', 'w:z:%d' % i, 1.5, 'm%d' % r.randrange(12)] if y < 0.8 else ['ZREM', 'w:z:%d' % i, 'm1']
    if x < 0.53:
        return ['SADD' if r.random() < 0.7 else 'SREM', 'w:set:%d' % i, 'm%d' % r.randrange(10)]
    if x < 0.59:
        fam = r.choice(('s', 'n', 'h', 'l', 'z', 'set'))
        if r.random() < 0.5:
            return [r.choice(('DEL', 'UNLINK')), 'w:%s:%d' % (fam, i)]
        return ['DEL', 'w:%s:%d' % (fam, i), 'w:s:%d' % r.randrange(W), '{t%d}:a' % t]   # spread over backends
    if x < 0.64:
        k = 'w:%s:%d' % (r.choice(('s', 'n', 'h', 'l', 'z', 'set')), i)
        return ['EXPIRE', k, r.randrange(60, 900)] if r.random() < 0.6 else ['PERSIST', k]
    if x < 0.68:
        # Keys that expire during the run: only ever SET (with or without a
        # TTL) or given another short TTL. The target expires keys by itself,
        # so a PERSIST or APPEND applied there just after the key expired
        # there, but before it expired on the source (rmig stopped, or
        # behind), would leave them different for good (as live_writer.py).
        k = 'w:tmp:%d' % (i % 300)
        y = r.random()
        if y < 0.5:
            return ['SET', k, 'w%d' % r.randrange(1000), 'PX', r.randrange(300, 2000)]
        return ['SET', k, 'plain'] if y < 0.7 else ['PEXPIRE', k, r.randrange(300, 2000)]
    if x < 0.70:
        return ['SET', 'w:s:%d' % i, 'ttl', 'EX', r.randrange(60, 900)]
    if x < 0.76:
        return ['MSET', '{t%d}:a' % t, r.randrange(1000), '{t%d}:b' % t, 'b%d' % r.randrange(1000)]
    if x < 0.80:
        u = r.randrange(TAGS)
        return ['MSET', '{t%d}:a' % t, 'x', '{t%d}:b' % u, 'y', 'w:s:%d' % i, 'z']   # several tags, several backends
    if x < 0.85:
        if r.random() < 0.5:
            return ['SADD', '{t%d}:set' % t, 'm%d' % r.randrange(20)]
        return ['SMOVE', '{t%d}:set' % t, '{t%d}:set2' % t, 'm%d' % r.randrange(20)]
    if x < 0.88:
        return ['SUNIONSTORE', '{t%d}:u' % t, '{t%d}:set' % t, '{t%d}:set2' % t]
    if x < 0.93:
        if r.random() < 0.5:
            return ['RPUSH', '{t%d}:l' % t, 'e%d' % r.randrange(100)]
        return ['LMOVE', '{t%d}:l' % t, '{t%d}:l2' % t, 'LEFT', 'RIGHT']
    return ['EVAL', XADD, 1, 'w:x:%d' % (i % 100), str(r.randrange(1000))]


def writer_started(port, seed, password=None, rate=2000):
    w = ProxyWriter(port, writer_op, seed, rate=rate, password=password)
    w.start()
    return w


def writer_stopped(rep, what, w):
    ops = w.stop()
    rep.check(w.failure is None and not w.errors and ops > 500,
              '%s: the writer wrote %d commands through the proxy, no error' % (what, ops),
              'failure %r; errors %r' % (w.failure, w.errors))
    return ops


# --- scenarios ------------------------------------------------------------------------

def shown(key):
    """A key as verify's stdout shows it: printable bytes as they are, '"'
    and backslash escaped with a backslash, the others as \\xNN."""
    return ''.join('\\' + chr(b) if b in (0x22, 0x5c) else chr(b) if 0x20 <= b < 0x7f else '\\x%02x' % b
                   for b in key)


def check_named(rep, what, v, kind, key):
    """Exit 1, exactly one difference, of kind, naming db 0 key in the
    report and on stdout (test_verify.check_only shows a backslash as it
    is; rmig escapes it)."""
    ok = v.rc == 1 and v.nonzero() == {kind: 1} and (v.report or {}).get('ok') is False
    ok = ok and (0, key) in v.named(kind) and ('    db 0 "%s": ' % shown(key)) in v.out
    return rep.check(ok, '%s: exit 1, %s 1 naming db 0 %s' % (what, kind, short(key, 30)), v.details())




def scenario_scan(ctx, d):
    rep = ctx.rep
    what = 'scan'
    bs = backends(ctx, d)
    others = backends(ctx, os.path.join(d, 'other'), n=1)
    dst = Server(os.path.join(d, 'dst'), name='dst').start()
    ctx.servers.append(dst)
    t = dst.conn()
    nc = proxy(ctx, d, {'other': {'hash': 'md5', 'redis': True, 'servers': ['127.0.0.1:%d:1' % others[0].port]},
                        'alpha': pool(bs, 3)})
    c = pconn(nc, 'alpha')
    n = fill_pool(c, random.Random(ctx.seed))
    c.close()
    oc = pconn(nc, 'other')
    oc.pipeline([['SET', 'other:%d' % i, i] for i in range(100)])
    oc.close()
    per = per_backend(bs, 3)
    rep.check(sum(per) == n and min(per) > 0, '%s: %d keys written through nutcracker, on every backend\'s db 3 %r'
              % (what, n, per), 'per backend %r, %d written' % (per, n))
    want, where = pool_table(bs, 3)
    twice = [short(k) for k, w in where.items() if len(w) > 1]
    rep.check(not twice, '%s: no key is on two backends' % what, twice[:5])
    some = sorted(want)[:50]
    nj = junk(bs, names=some)
    conf = nc.conf
    text = twem_pipeline(conf, 'scan', redis_sink(dst.port))
    p = write(d, 'scan.lua', text)
    t0 = time.time()
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    out = out.decode('utf-8', 'replace')
    rep.check(rc == 0, '%s: rmig run exits 0 (%.1f s)' % (what, time.time() - t0), 'rc %d; %s; %s' % (
        rc, tail(out), tail(err)))
    got, _ = key_table([(t, 0)])
    diff = table_diff(want, got, 2000)
    rep.check(not diff and len(got) == len(want),
              '%s: the target\'s db 0 holds exactly the pool\'s %d keys (type, DEBUG DIGEST-VALUE, consumer groups, '
              'expire time within 2 s)' % (what, len(want)), diff)
    dbs = dbs_of(t)
    rep.check(list(dbs) == [0] and dbs[0] == len(want),
              '%s: no junk: the target has db 0 only, with the pool\'s keys (%d junk keys in dbs 0 and 5 of the '
              'backends, the other pool\'s keys)' % (what, nj), 'target keyspace %r' % dbs)
    rep.check(t.call('EXISTS', 'junk:pre:0:0') == 0 and t.call('EXISTS', 'other:1') == 0,
              '%s: a junk key and a key of the other pool are not on the target' % what)
    rep.check(pool_report(out, 3) == (len(want), 0, len(want)),
              '%s: the report says "pool db 3 as db 0: saw %d, dropped 0, changed %d"' % (what, len(want), len(want)),
              tail(out))

    v = verify(ctx, d, p, '--extra')
    check_clean(rep, '%s: rmig verify of the pipeline' % what, v, checked=len(want))
    skey = next(k for k in sorted(want) if want[k][0] == 'string' and want[k][1] < 0 and b'\xc3\xa9' in k)
    t.call('SET', skey, 'changed on the target')
    v = verify(ctx, d, p)
    check_named(rep, '%s: a value with a UTF-8 name changed on the target' % what, v, 'value', skey)
    t.call('RESTORE', skey, 0, dump_of(bs[where[skey][0]], 3, skey), 'REPLACE')
    bkey = next(k for k in sorted(want) if b'\x00' in k and want[k][1] < 0)
    t.call('DEL', bkey)
    v = verify(ctx, d, p)
    check_named(rep, '%s: a key with a binary name deleted on the target' % what, v, 'missing', bkey)
    t.close()



def fnv1a32(b):
    h = 2166136261
    for x in b:
        h = ((h ^ x) * 16777619) & 0xffffffff
    return h


def scenario_unix(ctx, d):
    rep = ctx.rep
    what = 'unix'
    socks = [os.path.join(d, 'u%d.sock' % i) for i in range(3)]
    bs = [backends(ctx, os.path.join(d, 'u%d' % i), n=1, config=BACKEND + ['--unixsocket', socks[i],
                                                                         '--unixsocketperm', '700'])[0]
          for i in range(3)]
    lines = ['%s:1 one' % socks[0], '%s:2' % socks[1], '%s:1 three' % socks[2]]
    nc = proxy(ctx, d, {'alpha': {'hash': 'fnv1a_64', 'hash_tag': '{}', 'distribution': 'ketama', 'redis': True,
                                  'redis_db': 1, 'servers': lines}})
    c = pconn(nc, 'alpha')
    fill_pool(c, random.Random(ctx.seed + 7))
    c.close()
    # (redis_db 1, but nutcracker 0.5.0 selects no db on a unix socket: the keys are in db 0)
    per = per_backend(bs, 0)
    want, _ = pool_table(bs, 0)
    rep.check(min(per) > 0 and sum(per_backend(bs, 1)) == 0, '%s: %d keys written through nutcracker (redis_db 1) '
              'to backends on unix sockets, on each %r, all in db 0' % (what, len(want), per), 'per backend %r' % per)
    dst = Server(os.path.join(d, 'dst'), name='dst').start()
    ctx.servers.append(dst)
    t = dst.conn()
    p = write(d, 'scan.lua', twem_pipeline(nc.conf, 'scan', redis_sink(dst.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    got, _ = key_table([(t, 0)])
    diff = table_diff(want, got, 2000)
    rep.check(rc == 0 and not diff and len(got) == len(want) and pool_report(out.decode('utf-8', 'replace'), 0),
              '%s: scan by the sockets: exit 0, "pool db 0 as db 0", the target holds '
              'the pool\'s %d keys, each equal' % (what, len(want)), 'rc %d; %s; %s; %s' % (
                  rc, diff, tail(out.decode('utf-8', 'replace')), tail(err)))
    rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
    out = out.decode('utf-8', 'replace')
    listed = [s for s in socks if re.search(r'%s \(\S+, weight \d\): Redis' % re.escape(s), out)]
    rep.check(rc == 0 and len(listed) == 3 and 'its backends are unix sockets' in out,
              '%s: rmig check lists each backend by its socket, and notes the pool\'s keys are in db 0' % what,
              'rc %d; %s' % (rc, tail(out, 1200)))
    # psync by the sockets with a state, a writer through the proxy
    t.call('FLUSHALL')
    state = os.path.join(d, 'state')
    p = write(d, 'psync.lua', twem_pipeline(nc.conf, 'psync', redis_sink(dst.port),
                                            extra=', state = %s' % lua_string(state)))
    for run in (1, 2):
        r = Rmig(ctx.rmig, p, d, 'unix%d' % run)
        w = writer_started(nc.port('alpha'), ctx.seed + 10 + run)
        up = wait_all_caught_up(r, socks)
        time.sleep(1)
        w.stop()
        diff = converge(lambda: pool_table(bs, 0)[0], lambda: key_table([(t, 0)])[0],
                        lambda a, b: table_diff(a, b, 2000), r, timeout=40)
        rc = r.stop(signal.SIGINT)
        counts = sync_counts(r, socks)
        want_counts = (1, 0) if run == 1 else (0, 1)
        rep.check(up and not diff and rc == 0 and all(v == want_counts for v in counts.values()),
                  '%s: psync run %d by the sockets: caught up with each, converged, SIGINT exits 0, %d full and %d '
                  'partial syncs each' % (what, run, want_counts[0], want_counts[1]),
                  'up %r, diff %s, rc %r, syncs %r; %s' % (up, diff, rc, counts, r.tail()))
    files = sorted(f for f in os.listdir(d) if f.startswith('state.') and not f.endswith('.spool'))
    named = ['state.%s-%08x' % (s[1:].replace('/', '_'), fnv1a32(s.encode())) for s in socks]
    rep.check(sorted(named) == files, '%s: a state file per socket, named after its path (its slashes as _, the '
              'path\'s FNV-1a after it)' % what,
              'files %r, want %r' % (files, named))
    # an RDB file into the pool, direct, by the sockets
    t.call('SAVE')
    rdb = os.path.join(dst.dir, dst.dbfilename)
    for s in bs:
        c = bconn(s)
        c.call('FLUSHALL')
        c.close()
    p = write(d, 'direct.lua', 'local rmig = require "rmig"\nreturn rmig.pipeline {\n  source = rmig.source.rdb { '
              'path = %s },\n  sink = rmig.sink.twemproxy { config = %s, pool = "alpha", direct = true },\n}\n'
              % (lua_string(rdb), lua_string(nc.conf)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    src, _ = key_table([(t, 0)])
    c = pconn(nc, 'alpha')
    types = c.pipeline([['TYPE', k] for k in sorted(src)])
    c.close()
    lost = [short(k) for k, y in zip(sorted(src), types) if y != src[k][0]]
    rep.check(rc == 0 and not lost and len(src) > 100, '%s: an RDB file into the pool direct by the sockets: exit 0, '
              'each of its %d keys found through the proxy' % (what, len(src)),
              'rc %d; lost %r; %s' % (rc, lost[:5], tail(err)))
    # a pool of TCP and unix-socket backends with redis_db: its keys are in two dbs
    mixed = write(d, 'mixed.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_db: 2\n  servers:\n'
                  '   - %s:1\n   - 127.0.0.1:%d:1\n' % (socks[0], bs[1].port))
    for mode in ('scan', 'psync'):
        rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'mixed.lua', twem_pipeline(mixed, mode,
                                                                                    redis_sink(dst.port)))], timeout=30)
        rep.check(rc == 2 and 'TCP and unix-socket backends and redis_db 2' in err,
                  '%s: %s of a pool of TCP and unix-socket backends with redis_db 2: exit 2 saying its keys are in '
                  'two dbs' % (what, mode), 'rc %d; %s' % (rc, tail(err)))
    t.close()


def check_count(rep, what, v, lo, hi):
    """verify checked (and counted as expired at the source) between lo
    (the pool's keys after it, less the ones about to expire) and hi (its
    DBSIZE before): the writers' short TTLs run out meanwhile."""
    r = v.report or {}
    n = r.get('checked', -1) + r.get('expired', 0)
    return rep.check(lo <= n <= hi, '%s: verify checked every key of the pool (%s checked, %s expired at the source; '
                     'the pool held %d to %d)' % (what, r.get('checked'), r.get('expired'), lo, hi), v.details())


def wait_all_caught_up(r, names, timeout=40):
    return wait_for(lambda: len(caught_up(r, names)) == len(names), timeout, r, 0.1)


def converge_cluster(bs, db, cl, r, tol_ms, timeout=60):
    """Until the cluster holds the pool key by key, each on its slot's
    master: '' or the last difference."""
    def got():
        table, misplaced = cluster_table(cl)
        return table, misplaced

    def diff(want, g):
        table, misplaced = g
        d = table_diff(want, table, tol_ms)
        if misplaced:
            d += '; not on their slot\'s master: %r' % [(short(k), p) for k, p in misplaced[:5]]
        return d
    return converge(lambda: pool_table(bs, db)[0], got, diff, r, timeout)


def scenario_psync(ctx, d):
    rep = ctx.rep
    what = 'psync'
    # (no redis_auth here: nutcracker 0.5.0 ignores redis_db when it is set; see the auth scenario)
    bs = backends(ctx, d)
    cl = Cluster(os.path.join(d, 'cluster'), masters=3, replicas=0)
    ctx.clusters.append(cl)
    nc = proxy(ctx, d, {'alpha': pool(bs, 2)})
    c = pconn(nc, 'alpha')
    n = fill_pool(c, random.Random(ctx.seed + 1), prefix='p:')
    c.close()
    per = per_backend(bs, 2)
    rep.check(sum(per) == n and min(per) > 0, '%s: %d keys written through nutcracker, on every backend\'s db 2 %r'
              % (what, n, per), 'per backend %r' % per)
    want0, _ = pool_table(bs, 2)
    nj = junk(bs, dbs=(0, 5), n=100, names=sorted(want0)[:20])
    state = os.path.join(d, 'state')
    names = names_of(bs)
    p = write(d, 'psync.lua', twem_pipeline(nc.conf, 'psync', cluster_sink(cl.masters()[0][1]),
                                            extra=', state = %s' % lua_string(state)))
    r = Rmig(ctx.rmig, p, d, 'run1')
    w = writer_started(nc.port('alpha'), ctx.seed + 2)
    t0 = time.time()
    up = wait_all_caught_up(r, names)
    rep.check(up, '%s: stderr says rmig caught up with each of the 4 backends (%.1f s, the writer writing from the '
              'start)' % (what, time.time() - t0), 'caught up with %r; %s' % (caught_up(r, names), r.tail()))
    # junk into other dbs while the stream runs: each SET is dropped
    nj += junk(bs, dbs=(0, 5), n=50, tag='live')
    time.sleep(max(0.0, t0 + 4 - time.time()))
    writer_stopped(rep, what, w)
    diff = converge_cluster(bs, 2, cl, r, 0)
    rep.check(not diff, '%s: the cluster converges to the pool\'s %d keys key by key (type, DEBUG DIGEST-VALUE, '
              'groups, the same expire time), each key on its slot\'s master' % (what, pool_size(bs, 2)),
              diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    out = r.stdout()
    rep.check(rc == 0, '%s: SIGINT: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    counts = sync_counts(r, names)
    rep.check(all(v == (1, 0) for v in counts.values()),
              '%s: the summary has "1 full and 0 partial syncs" for each backend' % what, '%r; %s' % (counts, tail(out)))
    rep.check(re.search(r'live: \d+ commands applied from 4 source masters', out),
              '%s: the summary says the commands came from 4 sources' % what, tail(out))
    rp = pool_report(out, 2)
    rep.check(rp is not None and rp[1] == nj,
              '%s: the report says "pool db 2 as db 0: ... dropped %d": exactly the junk of dbs 0 and 5 (snapshot '
              'keys and commands)' % (what, nj), 'got %r; %s' % (rp, tail(out)))
    files = ['%s.127.0.0.1_%d' % (state, s.port) for s in bs]
    rep.check(all(os.path.isfile(f) and os.path.getsize(f) > 0 for f in files),
              '%s: a state file per backend (state.127.0.0.1_PORT)' % what, sorted(os.listdir(d)))
    rep.check(not [k for k in cluster_table(cl)[0] if k.startswith(b'junk:')],
              '%s: no junk key on the cluster' % what)

    # stopped mid-stream: SIGINT while the writer writes
    r = Rmig(ctx.rmig, p, d, 'run2')
    w = writer_started(nc.port('alpha'), ctx.seed + 3)
    up = wait_all_caught_up(r, names)
    time.sleep(1.5)
    rc = r.stop(signal.SIGINT, 30)
    time.sleep(1)
    writer_stopped(rep, what + ' (second run)', w)
    rep.check(up and rc == 0, '%s: a second run with the same state catches up, SIGINT while the writer writes: exit '
              '0' % what, 'caught up %r; rc %r; %s' % (up, rc, r.tail()))
    counts = sync_counts(r, names)
    rep.check(all(v == (0, 1) for v in counts.values()),
              '%s: the second run resumed every backend: "0 full and 1 partial syncs"' % what,
              '%r; %s' % (counts, r.tail()))
    # written while rmig is stopped: only the backlogs have it
    c = pconn(nc, 'alpha')
    rng = random.Random(ctx.seed + 4)
    c.pipeline([writer_op(rng, 0) for _ in range(3000)])
    c.close()
    r = Rmig(ctx.rmig, p, d, 'run3')
    up = wait_all_caught_up(r, names)
    err = r.stderr()
    resumed = [nm for nm in names if re.search(r'%s: resuming after offset \d+' % re.escape(nm), err)]
    rep.check(up and len(resumed) == 4, '%s: a third run says it resumes each backend after its saved offset' % what,
              'resumed %r; %s' % (resumed, r.tail()))
    diff = converge_cluster(bs, 2, cl, r, 0)
    rep.check(not diff, '%s: after the stop mid-stream and the writes while stopped, the cluster equals the pool key '
              'by key (counters and lists exact: nothing applied twice or lost)' % what, diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    counts = sync_counts(r, names)
    rep.check(rc == 0 and all(v == (0, 1) for v in counts.values()),
              '%s: the third run: "0 full and 1 partial syncs" for every backend, SIGINT exit 0' % what,
              'rc %r; %r; %s' % (rc, counts, r.tail()))
    full = []
    for s in bs:
        c = bconn(s)
        st = info(c, 'stats')
        full.append((int(st['sync_full']), int(st['sync_partial_ok'])))
        c.close()
    rep.check(all(f == (1, 2) for f in full), '%s: each backend saw 1 full sync and 2 partial ones (INFO stats)' % what,
              repr(full))
    hi = pool_size(bs, 2)
    v = verify(ctx, d, p, '--extra')
    check_clean(rep, '%s: rmig verify of the psync pipeline (backends by SCAN) against the cluster' % what, v)
    check_count(rep, what, v, len(pool_table(bs, 2)[0]), hi)


def scenario_scan_live(ctx, d):
    rep = ctx.rep
    what = 'scan_live'
    bs = backends(ctx, d)
    dst = Server(os.path.join(d, 'dst'), name='dst').start()
    ctx.servers.append(dst)
    t = dst.conn()
    nc = proxy(ctx, d, {'alpha': pool(bs, 3)})
    c = pconn(nc, 'alpha')
    fill_pool(c, random.Random(ctx.seed + 5), prefix='sl:')
    c.close()
    junk(bs, n=100)
    p = write(d, 'live.lua', twem_pipeline(nc.conf, 'scan', redis_sink(dst.port), extra=', live = true'))
    r = Rmig(ctx.rmig, p, d, 'live')
    w = writer_started(nc.port('alpha'), ctx.seed + 6)
    t0 = time.time()
    done = wait_for(lambda: 'scan complete' in r.stderr(), 40, r, 0.1)
    rep.check(done, '%s: the scan of the 4 backends completes while the writer writes (%.1f s)' % (
        what, time.time() - t0), r.tail())
    junk(bs, dbs=(0,), n=100, tag='live')
    time.sleep(max(0.0, t0 + 5 - time.time()))
    writer_stopped(rep, what, w)
    diff = converge(lambda: pool_table(bs, 3)[0], lambda: key_table([(t, 0)])[0],
                    lambda a, b: table_diff(a, b, 2000), r, 60)
    rep.check(not diff, '%s: the target converges to the pool\'s %d keys key by key (type, DEBUG DIGEST-VALUE, '
              'groups, expire time within 2 s)' % (what, pool_size(bs, 3)), diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    rep.check(rc == 0, '%s: SIGINT: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    dbs = dbs_of(t)
    rep.check(list(dbs) == [0] and t.call('EXISTS', 'junk:live:0:1') == 0 and t.call('EXISTS', 'junk:pre:1:1') == 0,
              '%s: no junk on the target (db 0 only)' % what, 'target keyspace %r' % dbs)
    rp = pool_report(r.stdout(), 3)
    rep.check(rp is not None and rp[1] == 0, '%s: the report has "pool db 3 as db 0", nothing dropped' % what,
              'got %r; %s' % (rp, r.tail()))
    t.close()


def scenario_auth(ctx, d):
    rep = ctx.rep
    what = 'auth'
    pw = 'pool-secret-3306'
    bs = backends(ctx, os.path.join(d, 'alpha'), n=2, password=pw)
    cs = backends(ctx, os.path.join(d, 'beta'), n=2, password=pw)
    dst = Server(os.path.join(d, 'dst'), name='dst').start()
    ctx.servers.append(dst)
    t = dst.conn()
    nc = proxy(ctx, d, {'alpha': pool(bs, 0, redis_auth=pw), 'beta': pool(cs, 2, redis_auth=pw)})
    c = pconn(nc, 'alpha', pw)
    n = fill_pool(c, random.Random(ctx.seed + 7), prefix='a:')
    c.close()
    nj = junk(bs, dbs=(2, 5), n=100)
    names = names_of(bs)

    # psync: the backends' password is the pool's redis_auth
    p = write(d, 'psync.lua', twem_pipeline(nc.conf, 'psync', redis_sink(dst.port),
                                            extra=', state = %s' % lua_string(os.path.join(d, 'state'))))
    r = Rmig(ctx.rmig, p, d, 'psync')
    w = writer_started(nc.port('alpha'), ctx.seed + 8, pw)
    t0 = time.time()
    up = wait_all_caught_up(r, names)
    rep.check(up, '%s: psync with no password given: rmig authenticates to both backends with the pool\'s '
              'redis_auth and catches up' % what, r.tail())
    time.sleep(max(0.0, t0 + 3 - time.time()))
    writer_stopped(rep, what, w)
    diff = converge(lambda: pool_table(bs, 0)[0], lambda: key_table([(t, 0)])[0],
                    lambda a, b: table_diff(a, b, 0), r, 60)
    rep.check(not diff, '%s: psync: the target converges to the pool (db 0 of the backends) key by key' % what,
              diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    rp = pool_report(r.stdout(), 0)
    said = r.stdout() + r.stderr()
    rep.check(rc == 0 and rp is not None and rp[1] == nj and pw not in said,
              '%s: psync: SIGINT exit 0, "pool db 0 as db 0: ... dropped %d" (the junk of dbs 2 and 5), the password '
              'never printed' % (what, nj), 'rc %r; report %r; %s' % (rc, rp, r.tail()))
    hi = pool_size(bs, 0)
    v = verify(ctx, d, p)
    check_clean(rep, '%s: rmig verify of the psync pipeline (redis_auth)' % what, v)
    check_count(rep, what, v, len(pool_table(bs, 0)[0]), hi)
    t.call('FLUSHALL')
    rc, out, err = run_rmig(ctx.rmig, ['run', write(d, 'scan.lua', twem_pipeline(nc.conf, 'scan', redis_sink(dst.port)))])
    diff = table_diff(pool_table(bs, 0)[0], key_table([(t, 0)])[0], 2000)
    rep.check(rc == 0 and not diff and list(dbs_of(t)) == [0],
              '%s: scan with the pool\'s redis_auth: exit 0, the target equals the pool (%d keys written)' % (what, n),
              'rc %d; %s; %s' % (rc, diff, tail(out.decode('utf-8', 'replace') + err)))

    # redis_db with redis_auth: nutcracker 0.5.0 sends no SELECT then (twemproxy
    # issues #457, #491): the keys its clients write are in db 0 of the backends
    c = pconn(nc, 'beta', pw)
    keys = ['b:%d' % i for i in range(300)]
    c.pipeline([['SET', k, 'v%d' % i] for i, k in enumerate(keys)])
    c.close()
    at = {}
    for s in cs:
        b = bconn(s)
        for db, nkeys in dbs_of(b).items():
            at[db] = at.get(db, 0) + nkeys
        b.close()
    print('# auth: a pool with redis_auth and redis_db 2: the keys its clients wrote are in db(s) %r of the backends'
          % at, flush=True)
    client_db = next(iter(at)) if len(at) == 1 and sum(at.values()) == len(keys) else None
    if client_db is None:
        rep.fail('%s: the keys written through pool beta are in one db of the backends' % what, at)
        return
    if client_db == 2:
        rep.ok('%s: this nutcracker honours redis_db with redis_auth (keys in db 2): nothing more to check' % what)
        return
    want = pool_table(cs, client_db)[0]
    for mode in ('scan', 'psync'):
        t.call('FLUSHALL')
        pb = write(d, 'beta-%s.lua' % mode, twem_pipeline(
            nc.conf, mode, redis_sink(dst.port), pool_name='beta',
            extra=', state = %s' % lua_string(os.path.join(d, 'beta-state')) if mode == 'psync' else ''))
        if mode == 'scan':
            rc, out, err = run_rmig(ctx.rmig, ['run', pb])
            said = out.decode('utf-8', 'replace') + err
        else:
            r = Rmig(ctx.rmig, pb, d, 'beta-psync')
            wait_all_caught_up(r, names_of(cs), 20)
            wait_for(lambda: t.call('DBSIZE') >= len(keys), 5, r, 0.1)
            rc = r.stop(signal.SIGINT, 30) if r.alive() else r.proc.returncode
            said = r.stdout() + r.stderr()
        got = key_table([(t, 0)])[0]
        moved = rc == 0 and not table_diff(want, got, 0)
        refused = rc == 2 and 'redis_auth' in said and 'redis_db' in said
        rep.check(moved or refused,
                  '%s: %s of a pool with redis_auth and redis_db 2, whose clients\' %d keys nutcracker 0.5.0 put in db '
                  '%d of the backends: they arrive, or rmig refuses the pool (exit 2 naming redis_auth and redis_db); '
                  'never an exit 0 that moved none of them' % (what, mode, len(keys), client_db),
                  'exit %r, %d of the %d keys on the target; %s' % (rc, len(got), len(want), tail(said, 600)))
    v = verify(ctx, d, pb)
    checked = (v.report or {}).get('checked')
    rep.check(v.rc == 2 or (v.rc == 0 and checked == len(want)) or (v.rc == 1 and v.diffs().get('missing')),
              '%s: rmig verify of that pool does not say "no difference" without checking the clients\' keys' % what,
              'exit %r, %r keys checked (the clients wrote %d); %s' % (v.rc, checked, len(want), v.details()))
    t.close()


def run_quick(ctx, d, name, text, timeout=30):
    """rmig run of a pipeline text: (exit code, stdout + stderr, seconds);
    exit code None when it was still running after timeout (killed)."""
    t0 = time.time()
    try:
        rc, out, err = run_rmig(ctx.rmig, ['run', write(d, name, text)], timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, 'still running after %d s (killed)' % timeout, time.time() - t0
    return rc, out.decode('utf-8', 'replace') + err, time.time() - t0


def scenario_errors(ctx, d):
    rep = ctx.rep
    bs = backends(ctx, d, n=1)
    dst = Server(os.path.join(d, 'dst'), name='dst').start()
    ctx.servers.append(dst)
    sink = redis_sink(dst.port)
    good = '   - 127.0.0.1:%d:1\n' % bs[0].port

    missing = os.path.join(d, 'no', 'nutcracker.yml')
    rc, said, _ = run_quick(ctx, d, 'missing.lua', twem_pipeline(missing, 'scan', sink))
    rep.check(rc == 2 and missing in said and 'cannot open' in said,
              'errors: a nutcracker.yml that does not exist: exit 2 naming it', 'rc %r; %s' % (rc, tail(said)))
    rc, out, err = run_rmig(ctx.rmig, ['verify', write(d, 'missing.lua', twem_pipeline(missing, 'scan', sink))])
    rep.check(rc == 2 and missing in err, 'errors: ... and rmig verify of it: exit 2 naming it',
              'rc %d; %s' % (rc, tail(err)))

    bad = write(d, 'bad.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: md6\n  servers:\n' + good)
    rc, said, _ = run_quick(ctx, d, 'bad.lua', twem_pipeline(bad, 'scan', sink))
    rep.check(rc == 2 and ('%s:4:' % bad) in said and 'md6' in said,
              'errors: a bad setting on line 4 of the file: exit 2 naming bad.yml:4', 'rc %r; %s' % (rc, tail(said)))
    head = 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n'
    for what, line4 in (('a mapping inside a value', '  hash: md5: x\n'),
                        ('a tab in the indentation', ' \thash: md5\n'),
                        ('an unclosed quote (libyaml finds the end of the file first)', '  hash_tag: "{}\n')):
        syn = write(d, 'syntax.yml', head + line4 + '  servers:\n' + good)
        rc, said, _ = run_quick(ctx, d, 'syntax.lua', twem_pipeline(syn, 'psync', sink))
        rep.check(rc == 2 and ('%s:4:' % syn) in said and 'YAML' in said,
                  'errors: YAML syntax, %s on line 4: exit 2 naming syntax.yml:4' % what, 'rc %r; %s' % (rc, tail(said)))
    two = write(d, 'two.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n' + good +
                'beta:\n  listen: 127.0.0.1:22122\n  redis: true\n  servers:\n' + good)
    rc, said, _ = run_quick(ctx, d, 'gamma.lua', twem_pipeline(two, 'scan', sink, pool_name='gamma'))
    rep.check(rc == 2 and "no pool 'gamma'" in said and "'alpha', 'beta'" in said,
              'errors: a pool the file does not have: exit 2 listing the pools', 'rc %r; %s' % (rc, tail(said)))
    rc, said, _ = run_quick(ctx, d, 'nopool.lua', twem_pipeline(two, 'scan', sink, pool_name=None))
    rep.check(rc == 2 and "'alpha', 'beta'" in said,
              'errors: no pool given for a file of two pools: exit 2 listing them', 'rc %r; %s' % (rc, tail(said)))

    sock = write(d, 'sock.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n' + good +
                 '   - %s/redis.sock:1\n' % d)
    for mode in ('scan', 'psync'):
        rc, said, _ = run_quick(ctx, d, 'sock.lua', twem_pipeline(sock, mode, sink))
        rep.check(rc == 1 and ('%s/redis.sock' % d) in said and 'no such file' in said.lower(),
                  'errors: %s: a unix-socket backend no server listens on: exit 1 naming the socket' % mode,
                  'rc %r; %s' % (rc, tail(said)))

    mc = write(d, 'mc.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: false\n  servers:\n' + good)
    # without redis: at all a pool is memcached too (nutcracker's default)
    mc2 = write(d, 'mc2.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n' + good)
    for f, how in ((mc, 'redis: false'), (mc2, 'no redis: setting, nutcracker\'s default')):
        for mode in ('scan', 'psync'):
            rc, said, _ = run_quick(ctx, d, 'mc.lua', twem_pipeline(f, mode, sink), timeout=8)
            rep.check(rc == 2 and 'memcached' in said, 'errors: %s: a memcached pool (%s): exit 2' % (mode, how),
                      'rc %r; %s' % (rc, tail(said)))

    one = write(d, 'one.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n' + good)
    rc, said, _ = run_quick(ctx, d, 'mode.lua', twem_pipeline(one, 'pull', sink))
    rep.check(rc == 2 and 'mode' in said, 'errors: mode = "pull": exit 2 naming the option',
              'rc %r; %s' % (rc, tail(said)))
    rc, said, _ = run_quick(ctx, d, 'eo.lua', twem_pipeline(
        one, 'psync', 'rmig.sink.redis { addr = "127.0.0.1:%d", exactly_once = true }' % dst.port,
        extra=', state = %s' % lua_string(os.path.join(d, 'eo'))))
    rep.check(rc == 2 and 'exactly_once' in said, 'errors: psync with sink.exactly_once: exit 2 naming it',
              'rc %r; %s' % (rc, tail(said)))
    b = bconn(bs[0])
    b.pipeline([['SELECT', 1], ['SET', 'k1', 'v'], ['SELECT', 0], ['SET', 'k0', 'v']])
    rc, said, _ = run_quick(ctx, d, 'one.lua', twem_pipeline(one, 'scan', sink, pool_name=None))
    tc = dst.conn()
    rep.check(rc == 0 and dbs_of(tc) == {0: 1} and tc.call('GET', 'k0') == b'v',
              'errors: a one-pool file without pool: that pool is read (its db 0 only)', 'rc %d; %s; target %r' % (
                  rc, tail(said), dbs_of(tc)))

    hold, dead = closed_port()   # refuses connections until closed: no other test's server can take it
    deadf = write(d, 'dead.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n' + good +
                  '   - 127.0.0.1:%d:1\n' % dead)
    for mode in ('scan', 'psync'):
        extra = ', state = %s' % lua_string(os.path.join(d, 'dead-st')) if mode == 'psync' else ''
        rc, said, secs = run_quick(ctx, d, 'dead.lua', twem_pipeline(deadf, mode, sink, extra=extra))
        rep.check(rc == 1 and ('127.0.0.1:%d' % dead) in said and secs < 20,
                  'errors: %s: an unreachable backend: exit 1 naming it (%.1f s)' % (mode, secs),
                  'rc %r; %s' % (rc, tail(said)))
    v = verify(ctx, d, write(d, 'dead.lua', twem_pipeline(deadf, 'psync', sink)))
    rep.check(v.rc == 1 and ('127.0.0.1:%d' % dead) in (v.out + v.err),
              'errors: rmig verify with an unreachable backend: exit 1 naming it', v.details())
    hold.close()

    pw, wrong = 'backend-pass-4410', 'not-the-pass-7781'
    b.call('CONFIG', 'SET', 'requirepass', pw)
    ctx.locked.append((bs[0], pw))
    bs[0].password = pw
    b.call('AUTH', pw)
    authf = write(d, 'auth.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: %s\n  servers:\n'
                  % wrong + good)
    rc, said, _ = run_quick(ctx, d, 'auth.lua', twem_pipeline(authf, 'scan', sink))
    rep.check(rc == 1 and ('auth' in said.lower() or 'WRONGPASS' in said) and wrong not in said,
              'errors: a wrong redis_auth: exit 1 saying authentication failed, the password never printed',
              'rc %r; %s' % (rc, tail(said)))
    rc, said, _ = run_quick(ctx, d, 'auth2.lua', twem_pipeline(authf, 'scan', sink, extra=', password = "%s"' % pw))
    rep.check(rc == 0 and pw not in said, 'errors: source.password overrides the pool\'s redis_auth: exit 0',
              'rc %r; %s' % (rc, tail(said)))
    b.close()
    tc.close()


SCENARIOS = [
    ('scan', scenario_scan),
    ('psync', scenario_psync),
    ('scan_live', scenario_scan_live),
    ('auth', scenario_auth),
    ('unix', scenario_unix),
    ('errors', scenario_errors),
]


def main():
    require_nutcracker()
    ctx = Ctx()
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-twem-src-', ctx, on_end=on_end(ctx),
                         seed_note="the data and the writers' commands")


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""`rmig run`, `rmig verify` and `rmig check` with rmig.sink.codis { proxy =
... }: writing through a codis-proxy. There is no codis-proxy package, so
the proxy is codis_proxy.CodisProxy (a socket playing codis-proxy 3.2: the
Codis slot rule, RESTORE/MULTI/... refused, SLOTSRESTORE, session_auth) in
front of three real redis-servers as group masters; it counts what it is
sent. Every comparison is per key: type, DEBUG DIGEST-VALUE and expire time
(PEXPIRETIME, within 2 s), and each key must be on the master of its slot's
group and nowhere else. Scenarios:

  rdb       an RDB file of every type (strings, hashes small and over
            chunk_bytes = 4096, lists, sets, zsets, streams, TTLs, tagged
            and empty-tagged names) through the proxy with its password:
            exit 0, "SLOTSRESTORE payloads" on stderr, the proxy was sent
            SLOTSRESTOREs (one key each) and refused nothing but CONFIG, every
            key on its group's master and equal; a second run over the same
            keys (replacing) and one after a key was changed on its master:
            equal again; rmig verify with only proxy: exit 2 asking for the
            topology; with topology too: no difference; rmig check names the
            proxy and its masters' version
  old       the proxy playing codis-server 3.2 behind it (INFO says 3.2.8,
            HSET takes one field, SET no PXAT): the RDB file goes as native
            commands (HMSET, no multi-field HSET), then a SCAN source with a
            hash over big_bytes (its pieces by HMSET): every key equal; a
            live source's HSET of three fields arrives as one HMSET
  live      a psync source master with a writer (MULTI/EXEC blocks, RESTORE
            ... ABSTTL, TTLs) through the proxy: the masters converge to the
            source, the proxy saw no MULTI, stderr counts the blocks sent
            command by command, the restored key keeps its TTL; SIGINT exits 0
  errors    a wrong password (exit 1 naming the proxy's answer), no proxy
            listening (exit 1), rmig run --verify with only proxy (exit 2
            before writing), mode = "skip-existing" with proxy, neither
            proxy nor topology (exit 2 each, saying what to give), a key of
            source db 3 (exit 2 naming the rmig.filter.db way), with dbs =
            "prefix" it arrives as db3:KEY

usage: python3 test_codis_proxy.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and topologies; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import random
import re
import shutil
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from codis_proxy import CodisProxy  # noqa: E402
from redis_harness import RedisError, run_rmig, run_scenarios, short, write  # noqa: E402
from test_cluster import scan_keys, values  # noqa: E402
from codis_harness import (Farm, Ctx, One, combined_digest, fill, masters, pipeline, rdb_source, server,  # noqa: E402
                        tail, MASTER)
from test_psync import Rmig, kill_running, lua_string, wait_for  # noqa: E402
from test_verify import check_clean, verify  # noqa: E402

PASSWORD = 'open sesame'


def txt(b):
    return b.decode('utf-8', 'replace') if isinstance(b, bytes) else b


def proxy_for(ctx, topo, **kw):
    px = CodisProxy(lambda slot: topo.groups[topo.slot_group[slot]], **kw)
    ctx.proxies.append(px)
    return px


def proxy_sink(px, extra='', password=PASSWORD):
    pw = ', password = %s' % lua_string(password) if password else ''
    return 'rmig.sink.codis { proxy = "%s"%s%s }' % (px.addr, pw, extra)


def placed(rep, what, topo, farm, keys):
    """Every key on exactly the master of its group."""
    by = farm.keys_by_master()
    want = {}
    for k in keys:
        want.setdefault(topo.port_of(k), set()).add(k)
    wrong = []
    for port, ks in by.items():
        wrong += ['%s on %d, want %d' % (short(k), port, topo.port_of(k)) for k in set(ks) - want.get(port, set())]
        wrong += ['%s missing on %d' % (short(k), port) for k in want.get(port, set()) - set(ks)]
    return rep.check(not wrong, '%s: every key on exactly the master of its group (%s)' % (
        what, ', '.join('%d' % len(by[p]) for p in topo.ports())), '%d wrong: %s; the last run: %s' % (
            len(wrong), '; '.join(wrong[:6]), getattr(rep, 'last_run', '')))


def equal(rep, what, src, topo, farm, keys):
    a = values(src, keys)
    diff = []
    for port in topo.ports():
        ks = [k for k in keys if topo.port_of(k) == port]
        b = values(farm.conns[port], ks)
        for k in ks:
            (da, ta, ya), (db_, tb, yb) = a[k], b[k]
            if da != db_ or ya != yb or (ta < 0) != (tb < 0) or abs(ta - tb) > 2000:
                diff.append('%s: %s %s %d, on its master %s %s %d' % (short(k), ya, str(da)[:10], ta, yb,
                                                                      str(db_)[:10], tb))
    return rep.check(not diff, '%s: type, DEBUG DIGEST-VALUE and expire time equal for all %d keys' % (
        what, len(keys)), '%d differ: %s' % (len(diff), '; '.join(diff[:6])))


def source_file(ctx, d, rng, n=1500, streams=True):
    """A source server filled with every type (and a few big values), saved:
    (its Conn, the RDB file's path, its port)."""
    src = server(ctx, d, 'source')
    s = src.conn()
    fill(One(s), rng, n=n)
    if not streams:
        gone = [k for k, (_d, _t, y) in values(s, scan_keys(s)).items() if y == 'stream']
        if gone:
            s.call('DEL', *gone)
    s.call('HSET', 'big:hash', *[x for i in range(3000) for x in ('field:%d' % i, 'v' * 20)])
    s.call('RPUSH', '{big}:list', *['element %d' % i for i in range(3000)])
    s.call('PEXPIRE', '{big}:list', 600000)
    s.call('SAVE')
    rdb = os.path.join(d, 'source.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb)
    return s, rdb, src.port


def run_ok(ctx, what, p, want_err='', px=None):
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    out, err = txt(out), txt(err)
    ctx.rep.last_run = 'stdout: %s; stderr: %s' % (tail(out, 1500), tail(err, 1500))
    ok = ctx.rep.check(rc == 0 and want_err in err and ' failed 0' in out and not (px and px.errors),
                       '%s: rmig run exits 0%s, nothing failed' % (what, ', "%s"' % want_err if want_err else ''),
                       'rc %d; stand-in errors %r; %s; %s' % (rc, px and px.errors, tail(out), tail(err)))
    return ok, out, err


# --- rdb ---------------------------------------------------------------------------

def scenario_rdb(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed)
    s, rdb, _ = source_file(ctx, d, rng)
    keys = scan_keys(s)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    px = proxy_for(ctx, topo, password=PASSWORD)
    p = write(d, 'rdb.lua', pipeline(rdb_source(rdb), proxy_sink(px, ', chunk_bytes = 4096')))
    ok, out, err = run_ok(ctx, 'rdb', p, 'SLOTSRESTORE payloads (a codis-proxy)', px)
    n_sr = px.count('SLOTSRESTORE')
    rep.check(ok and n_sr > 100 and px.count('RESTORE') == 0 and set(px.refused) <= {'CONFIG'},
              'rdb: the proxy was sent %d SLOTSRESTOREs (every value that is not a plain string) and refused '
              'nothing but CONFIG' % n_sr, 'counts %r, refused %r' % (px.counts, sorted(set(px.refused))))
    placed(rep, 'rdb', topo, farm, keys)
    equal(rep, 'rdb', s, topo, farm, keys)
    # again over the same keys: SLOTSRESTORE replaces them
    before = px.count('SLOTSRESTORE')
    ok, out, err = run_ok(ctx, 'rdb, again over the same keys', p)
    rep.check(px.count('SLOTSRESTORE') - before == n_sr, 'rdb, again: %d SLOTSRESTOREs again' % n_sr,
              'counts %r' % px.counts)
    victim = next(k for k, (_d, _t, y) in values(s, keys).items() if y == 'hash')
    farm.conns[topo.port_of(victim)].call('HSET', victim, 'intruder', 'x')
    run_ok(ctx, 'rdb, after a hash was changed on its master', p)
    equal(rep, 'rdb, after a hash was changed on its master and a third run', s, topo, farm, keys)
    # verify reads the masters: the topology is needed
    v = verify(ctx, d, p)
    rep.check(v.rc == 2 and 'give the sink topology = FILE as well as proxy' in txt(v.err),
              'rdb: rmig verify with only proxy exits 2 asking for the topology',
              'rc %d; %s' % (v.rc, tail(txt(v.err))))
    yml = write(d, 'topo.yml', topo.yaml())
    p2 = write(d, 'rdb-topo.lua', pipeline(rdb_source(rdb), proxy_sink(px, ', topology = %s' % lua_string(yml))))
    check_clean(rep, 'rdb: rmig verify with proxy and topology', verify(ctx, d, p2), checked=len(keys))
    rc, out, err = run_rmig(ctx.rmig, ['check', p2], timeout=60)
    out = txt(out)
    rep.check(rc == 0 and 'through the codis-proxy at %s' % px.addr in out and
              re.search(r'proxy %s \(INFO of the group master of slot 0\): Redis 7\.' % re.escape(px.addr), out)
              and len(re.findall(r'group \d+, 127\.0\.0\.1:\d+: Redis', out)) == 3,
              'rdb: rmig check names the proxy, its masters\' version, and the 3 group masters',
              'rc %d; %s' % (rc, tail(out, 1500)))
    farm.close()


# --- old -----------------------------------------------------------------------------

def scenario_old(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 10)
    # (Redis 3.2 has no streams)
    s, rdb, sport = source_file(ctx, d, rng, n=1000, streams=False)
    keys = scan_keys(s)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    px = proxy_for(ctx, topo, password=PASSWORD, version='3.2.8')
    p = write(d, 'old.lua', pipeline(rdb_source(rdb), proxy_sink(px, ', chunk_bytes = 4096')))
    ok, out, err = run_ok(ctx, 'old', p, 'as native commands (file RDB 10, target RDB 7)', px)
    rep.check(px.count('HMSET') > 10 and px.count('SLOTSRESTORE') == 0 and set(px.refused) <= {'CONFIG'},
              'old: %d HMSETs, no SLOTSRESTORE (codis-server 3.2 reads RDB 7), nothing refused but CONFIG' %
              px.count('HMSET'), 'counts %r, refused %r' % (px.counts, sorted(set(px.refused))))
    placed(rep, 'old', topo, farm, keys)
    equal(rep, 'old', s, topo, farm, keys)
    for c in farm.conns.values():
        c.call('FLUSHALL')
    # a SCAN source: big hashes in pieces, each piece an HMSET
    before = px.count('HMSET')
    p = write(d, 'old-scan.lua', pipeline('rmig.source.scan { addr = "127.0.0.1:%d", big_bytes = 8192 }' % sport,
                                          proxy_sink(px)))
    ok, out, err = run_ok(ctx, 'old, a SCAN source', p, px=px)
    rep.check(px.count('HMSET') - before > 10, 'old, a SCAN source: %d HMSETs' % (px.count('HMSET') - before),
              'counts %r' % px.counts)
    placed(rep, 'old, a SCAN source', topo, farm, keys)
    equal(rep, 'old, a SCAN source', s, topo, farm, keys)
    # a live source's HSET of several fields (Redis 4.0+) goes as HMSET
    src = server(ctx, d, 'live-source', MASTER)
    lc = src.conn()
    lc.call('SET', 'first', '1')
    p = write(d, 'old-live.lua', pipeline('rmig.source.psync { addr = "127.0.0.1:%d" }' % src.port, proxy_sink(px)))
    r = Rmig(ctx.rmig, p, d, 'old-live')
    up = wait_for(lambda: 'caught up with' in r.stderr(), 60, r, 0.1)
    before = px.count('HMSET')
    lc.call('HSET', 'live:h', 'a', '1', 'b', '2', 'c', '3')
    lc.call('SET', 'live:done', '1')
    port = topo.port_of(b'live:done')
    got = wait_for(lambda: farm.conns[port].call('GET', 'live:done') == b'1', 30, r, 0.1)
    h = farm.conns[topo.port_of(b'live:h')].call('HGETALL', 'live:h')
    rc = r.stop(signal.SIGINT)
    rep.check(up and got and rc == 0 and h == [b'a', b'1', b'b', b'2', b'c', b'3'] and
              px.count('HMSET') - before == 1 and ' failed 0' in r.stdout(),
              'old, a live source: its HSET of three fields arrives as one HMSET; SIGINT exits 0, nothing failed',
              'rc %r, hash %r, counts %r; %s' % (rc, h, px.counts, r.tail()))
    lc.close()
    farm.close()


# --- live ----------------------------------------------------------------------------

class Writer:
    """MULTI/EXEC blocks and RESTOREs on the source, until stopped."""

    def __init__(self, port, seed):
        from redis_harness import Conn
        self.c, self.rng, self.ops, self.errors = Conn(port), random.Random(seed), 0, []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        self.c.call('HSET', 'payload:src', 'f', 'v', 'g', 'w')
        payload = self.c.call('DUMP', 'payload:src')
        i = 0
        while not self.stop_ev.is_set():
            i += 1
            t = '{t%d}' % self.rng.randrange(50)
            cmds = [['MULTI'], ['INCR', t + ':n'], ['HSET', t + ':h', 'f%d' % i, i], ['RPUSH', t + ':l', i],
                    ['EXEC']]
            if i % 7 == 0:
                cmds.append(['SET', 'ttl:%d' % i, i, 'PX', 60000 + i])
            if i % 50 == 0:
                cmds.append(['RESTORE', 'restored:%d' % i, int(time.time() * 1000) + 120000, payload, 'REPLACE',
                             'ABSTTL'])
            for c, r in zip(cmds, self.c.pipeline(cmds)):
                if isinstance(r, RedisError):
                    self.errors.append('%s: %s' % (c[0], r))
            self.ops += len(cmds)
            time.sleep(0.002)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        return self.ops


def scenario_live(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 20)
    src = server(ctx, d, 'source', MASTER)
    s = src.conn()
    fill(One(s), rng, n=800)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    px = proxy_for(ctx, topo)
    w = Writer(src.port, ctx.seed)
    w.thread.start()
    p = write(d, 'live.lua', pipeline('rmig.source.psync { addr = "127.0.0.1:%d" }' % src.port,
                                      proxy_sink(px, password=None)))
    r = Rmig(ctx.rmig, p, d, 'live')
    up = wait_for(lambda: 'caught up with' in r.stderr(), 60, r, 0.1)
    time.sleep(3)
    ops = w.stop()
    rep.check(up and ops > 500 and not w.errors, 'live: rmig caught up while the writer wrote %d ops' % ops,
              'errors %r; %s' % (w.errors[:3], r.tail()))
    deadline, got, want = time.time() + 40, None, None
    while time.time() < deadline:
        want, got = s.call('DEBUG', 'DIGEST'), combined_digest(farm.conns.values())
        if (want.decode() if isinstance(want, bytes) else want) == got:
            break
        time.sleep(0.3)
    want = want.decode() if isinstance(want, bytes) else want
    rep.check(want == got, 'live: the group masters converge to the source (combined DEBUG DIGEST)',
              'source %s, masters %s; %s' % (want, got, r.tail()))
    rc = r.stop(signal.SIGINT)
    err = r.stderr()
    m = re.search(r'(\d+) MULTI/EXEC blocks of the source went command by command', err)
    rep.check(rc == 0 and m and int(m.group(1)) > 100 and px.count('MULTI') == 0 and px.count('EXEC') == 0,
              'live: SIGINT exits 0; stderr counts %s MULTI/EXEC blocks sent command by command; the proxy saw '
              'no MULTI or EXEC' % (m.group(1) if m else '?'), 'rc %r, counts %r; %s' % (rc, px.counts, r.tail()))
    keys = scan_keys(s)
    placed(rep, 'live', topo, farm, keys)
    equal(rep, 'live', s, topo, farm, keys)
    restored = [k for k in keys if k.startswith(b'restored:')]
    rep.check(restored and px.count('SLOTSRESTORE') >= len(restored) and px.count('RESTORE') == 0,
              'live: the source\'s %d RESTORE ... ABSTTL went as SLOTSRESTORE (TTLs equal above)' % len(restored),
              'counts %r' % px.counts)
    farm.close()


# --- errors --------------------------------------------------------------------------

def scenario_errors(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 30)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    px = proxy_for(ctx, topo, password=PASSWORD)
    src = server(ctx, d, 'source')
    s = src.conn()
    s.call('SET', 'k0', 'v')
    s.call('SELECT', 3)
    s.call('SET', 'k3', 'v3')
    s.call('SELECT', 0)
    s.call('SAVE')
    rdb = os.path.join(src.dir, src.dbfilename)

    def run(name, sink):
        p = write(d, name + '.lua', pipeline(rdb_source(rdb), sink))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
        return rc, txt(out) + txt(err)

    rc, text = run('badpw', proxy_sink(px, password='wrong'))
    rep.check(rc == 1 and 'invalid password' in text and px.addr in text,
              'errors: a wrong password: exit 1 naming the proxy and its answer', 'rc %d; %s' % (rc, tail(text)))
    gone = CodisProxy(lambda slot: 1)
    gone.stop()
    rc, text = run('noproxy', proxy_sink(gone))
    rep.check(rc == 1 and gone.addr in text, 'errors: no proxy listening: exit 1 naming its address',
              'rc %d; %s' % (rc, tail(text)))
    rc, text = run('skip', proxy_sink(px, ', mode = "skip-existing"'))
    rep.check(rc == 2 and 'use mode = "replace" with proxy' in text,
              'errors: mode = "skip-existing" with proxy: exit 2 saying SLOTSRESTORE replaces',
              'rc %d; %s' % (rc, tail(text)))
    p = write(d, 'verify-after.lua', pipeline(rdb_source(rdb), proxy_sink(px)))
    rc, out, err = run_rmig(ctx.rmig, ['run', '--verify', p], timeout=60)
    rep.check(rc == 2 and 'give the sink topology = FILE as well as proxy' in txt(err) and px.count('SET') == 0,
              'errors: rmig run --verify with only proxy: exit 2 before writing anything, asking for the topology',
              'rc %d; %s; counts %r' % (rc, tail(txt(err)), px.counts))
    rc, text = run('neither', 'rmig.sink.codis { }')
    rep.check(rc == 2 and 'give topology = FILE' in text and 'proxy = ' in text,
              'errors: neither proxy nor topology: exit 2 naming both', 'rc %d; %s' % (rc, tail(text)))
    rc, text = run('db3', proxy_sink(px))
    rep.check(rc == 2 and 'rmig.filter.db' in text and 'k3' in text,
              'errors: a key of source db 3: exit 2 naming it and rmig.filter.db', 'rc %d; %s' % (rc, tail(text)))
    for c in farm.conns.values():
        c.call('FLUSHALL')
    rc, text = run('prefix', proxy_sink(px, ', dbs = "prefix"'))
    c3 = farm.conns[topo.port_of(b'db3:k3')]
    rep.check(rc == 0 and c3.call('GET', 'db3:k3') == b'v3' and farm.conns[topo.port_of(b'k0')].call('GET', 'k0') == b'v',
              'errors: dbs = "prefix": k0 arrives as it is and db 3\'s k3 as db3:k3, on their groups\' masters',
              'rc %d; %s' % (rc, tail(text)))
    farm.close()


SCENARIOS = [('rdb', scenario_rdb), ('old', scenario_old), ('live', scenario_live), ('errors', scenario_errors)]


def stop_proxies(ctx):
    for px in ctx.proxies:
        px.stop()
    ctx.proxies[:] = []
    kill_running()


def main():
    ctx = Ctx()
    ctx.nverify = 0
    ctx.proxies = []
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-codis-proxy-', ctx,
                         on_end=lambda *a: stop_proxies(ctx))


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""`rmig run` and `rmig verify` with rmig.sink.twemproxy: a pool of a real
nutcracker 0.5.0 in front of 4 redis-servers, written through the proxy
(direct = false) or straight to its backends, each key where nutcracker's
own placement puts it (direct = true). What a pool's clients see is what
counts, so every check reads the keys back THROUGH the proxy too: TYPE,
PTTL, and DUMP restored on a scratch server whose DEBUG DIGEST-VALUE must
be the source's. On the backends: each key on exactly the backend `rmig
route --twemproxy` names, in the pool's redis_db (4), nothing in other dbs.
Scenarios:

  rdb_proxy        an RDB file of every type (binary, UTF-8 and empty names,
                   hash-tagged keys, hashes, lists, sets, intsets, zsets,
                   streams with consumer groups, TTLs, one value of each type
                   over sink.chunk_bytes = 65536) through the proxy into two
                   pools (ketama + fnv1a_64 + hash_tag "{}" + weights +
                   names; modula + murmur): exit 0, the checks above
  rdb_direct       the same with direct = true, and (after rdb_proxy) every
                   key on the backend the proxy run put it on
  cluster_to_pool  a 3-master Redis Cluster (hash-tagged keys and not, every
                   type) -> the pool, direct, rmig.source.cluster { mode =
                   "rdb-per-node" }: the run ends by itself, exit 0, every
                   key's digest the source's, found through the proxy
  live_direct      rmig.source.psync from a master -> the pool, direct, while
                   a writer writes (SET, INCR, HSET, RPUSH, ZADD, EXPIRE, DEL
                   and UNLINK of keys on several backends, MSET across
                   backends, MULTI/EXEC of one hash tag): converged, SIGINT,
                   exit 0; every key equal on the backends and through the
                   proxy; the summary counts the commands split per backend
                   and the blocks that went whole. Run again from the state
                   file (partial resync): a RENAME and a MULTI/EXEC across
                   backends are reported failed with their keys and not
                   applied, the rest arrives, the run ends nonzero
  verify           rmig verify of an RDB -> pool (direct) pipeline: exit 0,
                   no difference, every key checked; through the proxy a
                   value changed (exit 1 naming it), a key added (extra;
                   named with --extra), a key deleted (missing); a key moved
                   to another backend (missing where nutcracker looks, extra
                   where it is); verify of the proxy pipeline reads the
                   backends too
  errors           a random-distribution pool with direct = true (exit 2),
                   addr with direct = true (exit 2); a key in source db 3
                   without dbs or filter (exit 2 with the hint; direct and
                   proxy), with dbs = "merge", dbs = "prefix" and a
                   rmig.filter.db map (exit 0, the keys where they belong);
                   psync through the proxy: a live writer (its MULTI/EXEC
                   blocks sent command by command, the summary counting
                   them) arrives (every key equal), then an XADD, which
                   nutcracker refuses (exit 1 naming xadd); an unreachable backend
                   (direct: exit 1 naming it); a wrong redis_auth (exit 1, a
                   clear message, the password never printed; direct and
                   proxy), sink.password overriding it

usage: python3 test_twemproxy_sink.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and writer's seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 nutcracker or redis-server
is missing."""
import os
import random
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, slot_of  # noqa: E402
from redis_harness import Conn, RedisError, Server, run_rmig, run_scenarios, short, write  # noqa: E402
from test_psync import Rmig, converge, kill_running, lua_string, replica_online, wait_for  # noqa: E402
from test_scan import key_table, table_diff  # noqa: E402
from test_verify import check_clean, check_only, verify  # noqa: E402
from twemproxy_harness import Nutcracker, require_nutcracker  # noqa: E402
from test_twemproxy_route import escape, unescape  # noqa: E402

POOL_DB = 4
CHUNK = 65536
NB = 4                       # backends
WEIGHTS = (1, 3, 2, 1)
NAMES = ('one', None, 'three', 'four')   # one server line without a name
# a master a replica joins at once (7.0 delays a diskless sync 5 s for more replicas)
SOURCE = ['--repl-backlog-size', '64mb', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']
SCRATCH_DB = 9               # the scratch server's db where DUMPs read through the proxy are restored


def now_ms():
    return int(time.time() * 1000)


def tail(text, n=800):
    return text[-n:].replace('\n', ' | ')


class Ctx:
    pass


# --- servers, the proxy, pipelines ----------------------------------------------------

def server(ctx, d, name, config=()):
    s = Server(os.path.join(d, name), config=list(config), name=name).start()
    ctx.servers.append(s)
    return s


def backends(ctx, d, n=NB, config=(), password=None):
    out = []
    for i in range(n):
        s = server(ctx, d, 'b%d' % i, config)
        if password:
            c = s.conn()
            c.call('CONFIG', 'SET', 'requirepass', password)
            c.close()
            ctx.locked.append((s, password))
        out.append(s)
    return out


def server_line(s, i, weights=WEIGHTS, names=NAMES):
    name = names[i] if names else None
    return '127.0.0.1:%d:%d%s' % (s.port, weights[i], ' ' + name if name else '')


def pools_for(bs):
    """alpha: ketama, fnv1a_64, hash_tag "{}", weights and names; beta:
    modula, murmur, other weights; both in redis_db 4 of the same backends."""
    return {
        'alpha': {'hash': 'fnv1a_64', 'distribution': 'ketama', 'hash_tag': '{}', 'redis': True,
                  'redis_db': POOL_DB, 'servers': [server_line(s, i) for i, s in enumerate(bs)]},
        'beta': {'hash': 'murmur', 'distribution': 'modula', 'hash_tag': '{}', 'redis': True, 'redis_db': POOL_DB,
                 'servers': [server_line(s, i, (2, 1, 1, 3), None) for i, s in enumerate(bs)]},
    }


def shared_pool(ctx):
    """The 4 backends and the nutcracker of pools_for() that the scenarios
    share (flushed here), kept from one scenario to the next: ketama hashes
    the servers' names, "host:port" for an unnamed one, so only the same
    backends give placements that compare across scenarios."""
    if getattr(ctx, 'pool', None) is None:
        d = os.path.join(ctx.tmp, 'pool')
        bs = [Server(os.path.join(d, 'b%d' % i), name='b%d' % i).start() for i in range(NB)]
        ctx.pool = (bs, Nutcracker(d, pools_for(bs)).start())
    flush(ctx.pool[0])
    return ctx.pool


def proxy(ctx, d, pools, name='nutcracker'):
    nc = Nutcracker(d, pools, name=name).start()
    ctx.proxies.append(nc)
    return nc


def sink(conf, pool, direct, extra=''):
    return 'rmig.sink.twemproxy { config = %s, pool = "%s", direct = %s, chunk_bytes = %d%s }' % (
        lua_string(conf), pool, 'true' if direct else 'false', CHUNK, extra)


def pipeline_text(source, snk, nodes=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = %s,\n  nodes = { %s },\n  sink = %s,\n}\n') % (source, nodes, snk)


def rdb_source(path):
    return 'rmig.source.rdb { path = %s }' % lua_string(path)


def run(ctx, d, name, text, timeout=90):
    rc, out, err = run_rmig(ctx.rmig, ['run', write(d, name + '.lua', text)], timeout=timeout)
    return rc, out.decode('utf-8', 'replace'), err


def flush(bs):
    for s in bs:
        c = s.conn()
        c.call('FLUSHALL')
        c.close()


# --- data --------------------------------------------------------------------------------

def fill_every_type(c, rng):
    """Every type in db 0 of c: binary, UTF-8 and empty names, hash-tagged
    families, small and big values (each big one over CHUNK bytes), streams
    with consumer groups and pending entries, long TTLs."""
    cmds = [['SET', b'', b'the empty key']]
    for i in range(500):
        cmds.append(['SET', 'str:%d' % i, rng.randbytes(rng.randint(0, 80)) if i % 3 else str(i * 37 - 900)])
        if i % 6 == 0:
            cmds.append(['PEXPIRE', 'str:%d' % i, 3600000 + i * 997])
    for i in range(60):
        cmds.append(['SET', b'bin\x00\xff\r\n %d' % i, b'\x00\x01\xfe%d' % i])
        cmds.append(['SET', ('cl\u00e9:\u952e:%d' % i).encode(), ('\u043a\u043b\u044e\u0447 %d' % i).encode()])
        cmds.append(['HSET', ('caf\u00e9:%d' % i).encode(), 'f', i])
    for t in range(80):
        cmds.append(['SET', 'user{%d}:name' % t, 'name %d' % t])
        cmds.append(['HSET', 'user{%d}:cart' % t] + sum((['item%d' % j, j] for j in range(t % 7 + 1)), []))
        cmds.append(['RPUSH', '{%d}:events' % t] + ['e%d' % j for j in range(t % 5 + 1)])
        cmds.append(['SADD', 'a{tag%d}b:members' % t, 'x', 'y', t])
    for i in range(150):
        cmds.append(['HSET', 'h:%d' % i] + sum((['f%d' % j, rng.randbytes(6)] for j in range(i % 9 + 1)), []))
        cmds.append(['RPUSH', 'l:%d' % i] + ['v%d' % j for j in range(i % 11 + 1)])
        cmds.append(['SADD', 's:%d' % i] + ['m%d' % j for j in range(i % 6 + 1)])
        cmds.append(['SADD', 'is:%d' % i] + [j * 7 - 3 for j in range(i % 8 + 1)])
        cmds.append(['ZADD', 'z:%d' % i] + sum(([j * 0.75 - 2, 'm%d' % j] for j in range(i % 10 + 1)), []))
        if i % 10 == 0:
            cmds.append(['EXPIRE', 'h:%d' % i, 7200 + i])
            cmds.append(['PEXPIRE', 'z:%d' % i, 5400000 + i])
    for i in range(20):
        k = 'x:%d' % i
        cmds.append(['XADD', k, '*', 'a', i, 'b', 'c'])
        if i % 4 == 0:
            cmds.append(['XADD', k, '*', 'a', 'second'])
            cmds.append(['XGROUP', 'CREATE', k, 'g', '0'])
            cmds.append(['XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', k, '>'])
    # values over CHUNK bytes, one of each type
    cmds.append(['SET', 'big:str', rng.randbytes(300000)])
    cmds.append(['PEXPIRE', 'big:str', 9000000])
    for a in range(0, 20000, 2000):
        cmds.append(['RPUSH', 'big:list'] + ['item-%d' % j for j in range(a, a + 2000)])
    for a in range(0, 6000, 2000):
        cmds.append(['HSET', 'big:hash'] + sum((['field-%d' % j, 'value-%d' % j] for j in range(a, a + 2000)), []))
        cmds.append(['SADD', 'big:set'] + ['member-%d' % j for j in range(a, a + 2000)])
        cmds.append(['SADD', 'big:iset'] + [j * 3 for j in range(a, a + 2000)])
        cmds.append(['ZADD', 'big:zset'] + sum(([j / 7.0, 'member-%d' % j] for j in range(a, a + 2000)), []))
    cmds.append(['SET', 'user{big}:blob', rng.randbytes(100000)])
    for j in range(3000):
        cmds.append(['XADD', 'big:stream', '*', 'n', j, 'pad', 'p' * 20])
    for r in c.pipeline(cmds):
        if isinstance(r, RedisError):
            raise r
    c.call('XGROUP', 'CREATE', 'big:stream', 'g1', '0')
    c.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', 25, 'STREAMS', 'big:stream', '>')


def source_rdb(ctx):
    """The RDB file of fill_every_type, made once (ctx.tmp/src/dump.rdb), its
    server kept (the scratch server where DUMPs are restored) and the key
    table {key: (type, expire time, digest)} of it."""
    if getattr(ctx, 'src', None) is None:
        src = Server(os.path.join(ctx.tmp, 'src'), name='src').start()
        c = src.conn()
        fill_every_type(c, random.Random(ctx.seed))
        c.call('SAVE')
        ctx.src, ctx.rdb = src, os.path.join(src.dir, src.dbfilename)
        ctx.src_table = {k: v for (_db, k), v in key_table(c, [0]).items()}
        big = [k for k in ctx.src_table if k.startswith(b'big:') or k == b'user{big}:blob']
        sizes = c.pipeline([['MEMORY', 'USAGE', k] for k in big])
        ctx.src_big = dict(zip(big, sizes))
        c.close()
    return ctx.rdb, ctx.src_table


# --- checks --------------------------------------------------------------------------------

def route(ctx, conf, pool, keys):
    """`rmig route --twemproxy` of keys: {key: (backend index, "host:port")},
    or an error text."""
    keys = list(keys)
    rc, out, err = run_rmig(ctx.rmig, ['route', '--twemproxy', conf, '--pool', pool, '--keys-from', '-'],
                            input=b''.join(escape(k) + b'\n' for k in keys))
    lines = out.split(b'\n')[:-1]
    if rc != 0 or len(lines) != len(keys):
        return 'exit %d, %d lines for %d keys: %s' % (rc, len(lines), len(keys), tail(err))
    res = {}
    for k, line in zip(keys, lines):
        f = line.split(b'\t')
        if len(f) != 4 or unescape(f[0]) != k:
            return 'line %r is not KEY<TAB>INDEX<TAB>ADDRESS<TAB>NAME for %r' % (line, k)
        res[k] = (int(f[1]), f[2].decode())
    return res


def held(bs):
    """{key: [(backend index, "host:port"), ...]} over the backends' POOL_DB,
    and {backend: [other dbs with keys]}."""
    where, other = {}, {}
    for i, s in enumerate(bs):
        c = s.conn()
        dbs = [int(l.split(':')[0][2:]) for l in c.call('INFO', 'keyspace').decode().splitlines()
               if l.startswith('db')]
        other['127.0.0.1:%d' % s.port] = [db for db in dbs if db != POOL_DB]
        c.call('SELECT', POOL_DB)
        cur = b'0'
        while True:
            cur, part = c.call('SCAN', cur, 'COUNT', 5000)
            for k in part:
                where.setdefault(k, []).append((i, '127.0.0.1:%d' % s.port))
            if cur == b'0':
                break
        c.close()
    return where, other


def pool_table(bs):
    """{key: (type, expire time, digest)} over every backend's POOL_DB."""
    out = {}
    for s in bs:
        c = s.conn()
        for (_db, k), v in key_table(c, [POOL_DB]).items():
            out[k] = v
        c.close()
    return out


def flat_diff(want, got, limit=8):
    d = table_diff({(0, k): v for k, v in want.items()}, {(0, k): v for k, v in got.items()})
    return '%d differ: %s' % (len(d), '; '.join(d[:limit])) if d else ''


def check_placement(rep, ctx, what, conf, pool, bs, keys):
    """Each key on exactly the backend rmig route names, in POOL_DB, nothing
    else on the backends, no other db used. Returns {key: backend} or None."""
    want = route(ctx, conf, pool, keys)
    if not rep.check(isinstance(want, dict), '%s: rmig route --twemproxy names a backend for each of the %d keys'
                     % (what, len(keys)), want):
        return None
    where, other = held(bs)
    wrong = ['%s: on %s, route says %s' % (short(k, 30), where.get(k), want[k])
             for k in keys if where.get(k) != [want[k]]]
    extra = [k for k in where if k not in want]
    per = {}
    for k in keys:
        per[want[k]] = per.get(want[k], 0) + 1
    rep.check(not wrong and not extra, '%s: every key on exactly the backend rmig route names, in db %d (%s)'
              % (what, POOL_DB, ', '.join('backend %d: %d' % (a[0], n) for a, n in sorted(per.items()))),
              '%d misplaced: %s; %d not in the source: %s' % (len(wrong), '; '.join(wrong[:6]), len(extra),
                                                              [short(k, 30) for k in extra[:6]]))
    rep.check(not any(other.values()), '%s: no key in any other db of the backends' % what, other)
    return {k: i for k, (i, _a) in want.items()}


def check_through_proxy(rep, what, nc, pool, scratch, want):
    """Every key of want ({key: (type, expire time, digest)}) read through
    the proxy: TYPE, PTTL (within 2 s of the expire time) and DUMP, restored
    in SCRATCH_DB of the scratch server, whose DEBUG DIGEST-VALUE must be the
    source's."""
    keys = sorted(want)
    c = nc.conn(pool)
    t0 = now_ms()
    r = c.pipeline([cmd for k in keys for cmd in (['TYPE', k], ['PTTL', k])], window=1000)
    t1 = now_ms()
    bad_type, bad_ttl = [], []
    for i, k in enumerate(keys):
        typ, pttl = r[2 * i], r[2 * i + 1]
        if typ != want[k][0]:
            bad_type.append('%s: %r, want %s' % (short(k, 30), typ, want[k][0]))
        exp = want[k][1]
        if exp < 0 and pttl != -1 or exp >= 0 and not (pttl >= 0 and t0 + pttl - 2000 <= exp <= t1 + pttl + 2000):
            bad_ttl.append('%s: PTTL %r, expire time %d (now %d)' % (short(k, 30), pttl, exp, t0))
    rep.check(not bad_type, '%s: TYPE of every key (%d) through the proxy is the source\'s' % (what, len(keys)),
              '%d wrong: %s' % (len(bad_type), '; '.join(bad_type[:6])))
    rep.check(not bad_ttl, '%s: PTTL of every key through the proxy is the source\'s (within 2 s; %d with a TTL)'
              % (what, sum(1 for k in keys if want[k][1] >= 0)),
              '%d wrong: %s' % (len(bad_ttl), '; '.join(bad_ttl[:6])))
    sc = scratch.conn()
    sc.call('SELECT', SCRATCH_DB)
    sc.call('FLUSHDB')
    bad = []
    for a in range(0, len(keys), 500):
        part = keys[a:a + 500]
        dumps = c.pipeline([['DUMP', k] for k in part])
        # (DIGEST-VALUE counts whether a key has a TTL: the restored copy gets one when the source's key has)
        res = sc.pipeline([['RESTORE', k, 86400000 if want[k][1] >= 0 else 0, d, 'REPLACE'] if isinstance(d, bytes)
                           else ['PING']
                           for k, d in zip(part, dumps)] + [['DEBUG', 'DIGEST-VALUE'] + part])
        dvs = res[-1]
        for k, d, rr, dv in zip(part, dumps, res, dvs if isinstance(dvs, list) else [dvs] * len(part)):
            # (key_table keeps the list DEBUG DIGEST-VALUE answers)
            wdv = want[k][2][0] if isinstance(want[k][2], list) else want[k][2]
            if not isinstance(d, bytes) or isinstance(rr, RedisError) or dv != wdv:
                bad.append('%s: DUMP %s, restored %r, digest %r want %r' % (
                    short(k, 30), 'absent' if d is None else '%d bytes' % len(d) if isinstance(d, bytes) else d,
                    rr, dv, wdv))
    sc.call('FLUSHDB')
    sc.close()
    c.close()
    rep.check(not bad, '%s: every value read through the proxy (DUMP, restored on a scratch server) has the '
              'source\'s DEBUG DIGEST-VALUE' % what, '%d wrong: %s' % (len(bad), '; '.join(bad[:5])))


def check_pool(rep, ctx, what, nc, conf, pool, bs, want, scratch):
    """The three views of a written pool: placement, values on the backends,
    values through the proxy. Returns the placement."""
    placed = check_placement(rep, ctx, what, conf, pool, bs, list(want))
    diff = flat_diff(want, pool_table(bs))
    rep.check(not diff, '%s: on the backends every key equal to the source\'s (type, DEBUG DIGEST-VALUE, expire '
              'time within 2 s; %d keys)' % (what, len(want)), diff)
    check_through_proxy(rep, what, nc, pool, scratch, want)
    return placed


# --- rdb_proxy, rdb_direct --------------------------------------------------------------

def rdb_to_pools(ctx, d, direct):
    rep = ctx.rep
    rdb, want = source_rdb(ctx)
    bs, nc = shared_pool(ctx)
    mode = 'direct' if direct else 'through the proxy'
    big = [k for k, n in ctx.src_big.items() if n > CHUNK]
    rep.check(len(big) >= 8, 'the source has values of every type over sink.chunk_bytes (%d): %s' % (
        CHUNK, ', '.join(sorted(k.decode() for k in big))), ctx.src_big)
    for pool in ('alpha', 'beta'):
        what = 'RDB -> pool %s (%s) %s' % (pool, nc.pools[pool]['distribution'], mode)
        flush(bs)
        t0 = time.time()
        rc, out, err = run(ctx, d, 'run-%s' % pool, pipeline_text(rdb_source(rdb), sink(nc.conf, pool, direct)))
        rep.check(rc == 0, '%s: rmig run exits 0 (%d keys, %.1f s)' % (what, len(want), time.time() - t0),
                  'rc %d; stdout %s; stderr %s' % (rc, tail(out), tail(err)))
        if direct:
            rep.check(re.search(r"pool '%s': 4 backends" % pool, out + err),
                      '%s: rmig says it writes to the pool\'s 4 backends' % what, tail(out + err))
        placed = check_pool(rep, ctx, what, nc, nc.conf, pool, bs, want, ctx.src)
        if placed:
            ctx.placement.setdefault(pool, {})[direct] = placed
    for pool in ('alpha', 'beta'):
        got = ctx.placement.get(pool, {})
        if len(got) == 2:
            rep.check(got[True] == got[False], 'pool %s: direct and through the proxy place every key on the same '
                      'backend' % pool, [short(k) for k in got[True] if got[True][k] != got[False].get(k)][:6])


def scenario_rdb_proxy(ctx, d):
    rdb_to_pools(ctx, d, False)


def scenario_rdb_direct(ctx, d):
    rdb_to_pools(ctx, d, True)


# --- cluster_to_pool ------------------------------------------------------------------------

def fill_cluster(cl, rng, n):
    """n keys of several types over the cluster's masters, a third of them
    with hash tags (several keys per tag), some with TTLs. Returns the number
    of keys written."""
    owners = cl.slot_map()
    per = {}
    for i in range(n):
        kind = i % 6
        k = ('{u%d}:%d' % (i % 97, i)) if i % 3 == 0 else ('k:%d' % i)
        if kind == 0:
            cmd = ['SET', k, rng.randbytes(rng.randint(1, 50))]
        elif kind == 1:
            cmd = ['HSET', k] + sum((['f%d' % j, j * i] for j in range(i % 7 + 1)), [])
        elif kind == 2:
            cmd = ['RPUSH', k] + ['e%d' % j for j in range(i % 5 + 1)]
        elif kind == 3:
            cmd = ['ZADD', k] + sum(([j + 0.5, 'm%d' % j] for j in range(i % 6 + 1)), [])
        elif kind == 4:
            cmd = ['SADD', k] + [j for j in range(i % 9 + 1)]
        else:
            cmd = ['XADD', k, '*', 'n', i]
        port = owners[slot_of(k)][1]
        per.setdefault(port, []).append(cmd)
        if i % 8 == 0:
            per[port].append(['PEXPIRE', k, 3600000 + i])
    for port, cmds in per.items():
        c = cl.conn(port)
        for r in c.pipeline(cmds):
            if isinstance(r, RedisError):
                raise r
        c.close()
    return n


def cluster_table(cl):
    out = {}
    for _h, port in cl.masters():
        c = cl.conn(port)
        for (_db, k), v in key_table(c, [0]).items():
            out[k] = v
        c.close()
    return out


def scenario_cluster_to_pool(ctx, d):
    rep = ctx.rep
    what = 'cluster (3 masters, rdb-per-node) -> pool alpha direct'
    cl = Cluster(os.path.join(d, 'cluster'), masters=3, replicas=0)
    ctx.clusters.append(cl)
    bs, nc = shared_pool(ctx)
    n = fill_cluster(cl, random.Random(ctx.seed + 1), 4000)
    want = cluster_table(cl)
    rep.check(len(want) == n, 'the source cluster holds %d keys (%s per master)' % (
        len(want), [len(v) for v in cl.keys_by_master().values()]), len(want))
    src = 'rmig.source.cluster { addr = "127.0.0.1:%d", mode = "rdb-per-node", state = %s }' % (
        cl.masters()[0][1], lua_string(os.path.join(d, 'state')))
    t0 = time.time()
    rc, out, err = run(ctx, d, 'c2p', pipeline_text(src, sink(nc.conf, 'alpha', True)))
    rep.check(rc == 0, '%s: the run ends by itself, exit 0 (%.1f s)' % (what, time.time() - t0),
              'rc %d; stdout %s; stderr %s' % (rc, tail(out), tail(err)))
    scratch = server(ctx, d, 'scratch')
    check_pool(rep, ctx, what, nc, nc.conf, 'alpha', bs, want, scratch)


# --- live_direct ----------------------------------------------------------------------------

FAM = 300        # keys per family of the writer
TAGS = 40        # hash tags of its MULTI/EXEC blocks


class LiveWriter(threading.Thread):
    """Writes to db 0 of a standalone master in a thread until stop():
    single-key commands, DEL/UNLINK/MSET of keys that land on several
    backends, and MULTI/EXEC blocks over one hash tag. Counts the MSETs
    (always propagated as they are) and DEL/UNLINKs it sent."""

    def __init__(self, port, seed, rate=2500, multi=True):
        super().__init__(daemon=True)
        self.port, self.rng, self.rate, self.multi = port, random.Random(seed), rate, multi
        self.ops = 0
        self.multi_key = []      # the key lists of DEL, UNLINK, MSET
        self.msets = []
        self.blocks = 0
        self.errors = []
        self.failure = None
        self._halt = threading.Event()

    def key(self, fam):
        return '%s:%d' % (fam, self.rng.randrange(FAM))

    def batch(self):
        r = self.rng
        out = []
        while len(out) < 40:
            x = r.random()
            if x < 0.2:
                out.append(['SET', self.key('ws'), 'v%d' % r.randrange(10 ** 6)])
            elif x < 0.3:
                out.append(['INCR', self.key('wc')])
            elif x < 0.42:
                out.append(['HSET', self.key('wh'), 'f%d' % r.randrange(20), r.randrange(1000)])
            elif x < 0.52:
                k = self.key('wl')
                out += [['RPUSH', k, 'x%d' % r.randrange(1000)], ['LTRIM', k, -30, -1]]
            elif x < 0.62:
                out.append(['ZADD', self.key('wz'), r.randrange(1000), 'm%d' % r.randrange(40)])
            elif x < 0.70:
                out.append(['EXPIRE', self.key(r.choice(('ws', 'wh', 'wz'))), r.randint(3600, 86400)])
            elif x < 0.78:
                ks = [self.key(r.choice(('ws', 'wc', 'wh', 'wl', 'wz'))) for _ in range(r.randint(2, 5))]
                self.multi_key.append(ks)
                out.append([r.choice(('DEL', 'UNLINK'))] + ks)
            elif x < 0.88 or not self.multi:
                ks = list(dict.fromkeys(self.key('ws') for _ in range(r.randint(2, 5))))
                self.multi_key.append(ks)
                self.msets.append(ks)
                out.append(['MSET'] + sum(([k, 'm%d' % r.randrange(10 ** 6)] for k in ks), []))
            else:
                t = r.randrange(TAGS)
                out += [['MULTI'], ['INCR', '{t%d}:c' % t], ['HSET', '{t%d}:h' % t, 'f', r.randrange(100)],
                        ['RPUSH', '{t%d}:l' % t, r.randrange(100)], ['SET', '{t%d}:s' % t, 'b%d' % r.randrange(100)],
                        ['EXEC']]
                self.blocks += 1
        return out

    def run(self):
        try:
            c = Conn(self.port, timeout=30)
            t0 = time.time()
            while not self._halt.is_set():
                cmds = self.batch()
                for cmd, rr in zip(cmds, c.pipeline(cmds)):
                    if isinstance(rr, RedisError) and len(self.errors) < 5:
                        self.errors.append('%s: %s' % (' '.join(str(a) for a in cmd)[:60], rr))
                self.ops += len(cmds)
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


def summary_count(out, pattern):
    m = re.search(pattern, out)
    return int(m.group(1)) if m else None


def scenario_live_direct(ctx, d):
    rep = ctx.rep
    what = 'psync -> pool alpha direct, live'
    src = server(ctx, d, 'src', SOURCE)
    s = src.conn()
    bs, nc = shared_pool(ctx)
    rng = random.Random(ctx.seed + 2)
    s.pipeline([['SET', 'ws:%d' % i, 'pre%d' % i] for i in range(0, FAM, 3)] +
               [['HSET', 'wh:%d' % i, 'f', i] for i in range(0, FAM, 4)] +
               [['RPUSH', 'wl:%d' % i, 'a', 'b'] for i in range(0, FAM, 5)] +
               [['SET', 'ttl:%d' % i, rng.randbytes(10), 'EX', 7200 + i] for i in range(50)])
    state = os.path.join(d, 'state.json')
    src_opt = 'rmig.source.psync { addr = "127.0.0.1:%d", state = %s }' % (src.port, lua_string(state))
    p = write(d, 'live.lua', pipeline_text(src_opt, sink(nc.conf, 'alpha', True)))
    r = Rmig(ctx.rmig, p, d, 'live')
    if not rep.check(wait_for(lambda: replica_online(s), 30, r, 0.05), '%s: rmig joins the source as a replica'
                     % what, r.tail()):
        r.stop()
        return
    w = LiveWriter(src.port, ctx.seed + 3)
    w.start()
    time.sleep(4)
    ops = w.stop()
    rep.check(ops > 3000 and not w.errors and not w.failure, '%s: the writer wrote %d commands (%d MULTI/EXEC '
              'blocks, %d DEL/UNLINK/MSET)' % (what, ops, w.blocks, len(w.multi_key)), (w.errors, w.failure))

    def want(skip=()):
        return {k: v for (_db, k), v in key_table(s, [0]).items() if k not in skip}

    def got(skip=()):
        return {k: v for k, v in pool_table(bs).items() if k not in skip}
    diff = converge(want, got, flat_diff, r, timeout=60, stuck=15)
    rep.check(not diff, '%s: the pool converges to the source (every key: type, digest, expire time)' % what,
              diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    out, err = r.stdout(), r.stderr()
    rep.check(rc == 0, '%s: SIGINT after the writer stopped and the pool converged: exit 0' % what,
              'rc %r; %s' % (rc, r.tail()))
    # (a scratch server of its own: what is restored on the source would be replicated into the pool)
    check_pool(rep, ctx, what, nc, nc.conf, 'alpha', bs, want(), server(ctx, d, 'scratch'))
    # the commands split per backend
    places = route(ctx, nc.conf, 'alpha', sorted({k.encode() for ks in w.multi_key for k in ks}))
    if isinstance(places, dict):
        spanning = [ks for ks in w.multi_key if len({places[k.encode()] for k in ks}) > 1]
        msets = [ks for ks in w.msets if len({places[k.encode()] for k in ks}) > 1]
        split = summary_count(out, r'(\d+) commands split')
        rep.check(split is not None and len(msets) <= split <= len(spanning) and split > 0,
                  '%s: the summary counts the commands split per backend (%r; %d MSETs and %d DEL/UNLINK/MSET '
                  'were over several backends)' % (what, split, len(msets), len(spanning)), tail(out, 1200))
    # (a block that a full batch of the stream cuts goes command by command, to the same backend)
    whole = summary_count(out, r'(\d+) MULTI/EXEC blocks went whole')
    spanned = summary_count(out, r'(\d+) spanned')
    rep.check(whole is not None and whole >= 0.95 * w.blocks and spanned == 0, '%s: the MULTI/EXEC blocks of one '
              'hash tag went whole to their backend (%r of %d), none was refused' % (what, whole, w.blocks),
              tail(out, 1200))

    # Run again from the state file: what a pool cannot run across backends
    # (a RENAME, a MULTI/EXEC block) is reported failed with its keys, the
    # rest goes on; the run then ends nonzero.
    what = 'psync -> pool alpha direct, commands over several backends'
    cands = ['rn:%08x' % rng.randrange(1 << 32) for _ in range(200)]   # (fnv1a_64 puts rn:0..rn:39 close together)
    placed = route(ctx, nc.conf, 'alpha', [k.encode() for k in cands])
    if not rep.check(isinstance(placed, dict), '%s: rmig route places the keys' % what, placed):
        return
    a = cands[0]
    b, c2 = [k for k in cands if placed[k.encode()][0] != placed[a.encode()][0]][:2]
    n = next(k for k in cands if k not in (a, b, c2) and placed[k.encode()][0] != placed[c2.encode()][0])
    s.pipeline([['SET', a, 'rename-me'], ['SET', c2, '1']])
    r = Rmig(ctx.rmig, p, d, 'live2')
    if not rep.check(wait_for(lambda: replica_online(s), 30, r, 0.05), '%s: rmig joins the source again' % what,
                     r.tail()):
        r.stop()
        return
    s.call('RENAME', a, b)
    s.pipeline([['MULTI'], ['INCR', n], ['INCR', c2], ['EXEC']])
    s.call('SET', 'rmig-test:after', '1')
    skip = {k.encode() for k in (a, b, c2, n)}
    diff = converge(lambda: want(skip), lambda: got(skip), flat_diff, r, timeout=30, stuck=10)
    rep.check(not diff, '%s: the commands after them arrive, the pool equals the source but for their keys' % what,
              diff + '; ' + r.tail())
    rc = r.stop(signal.SIGINT, 30)
    out, err = r.stdout(), r.stderr()
    rep.check(rc not in (0, None), '%s: SIGINT: the run ends with a nonzero exit code' % what,
              'rc %r; %s' % (rc, r.tail()))
    lines = [l for l in err.splitlines() if 'RENAME' in l.upper()]
    rep.check(lines and all(k in lines[0] for k in (a, b)), '%s: stderr names the RENAME across backends and its '
              'keys %s, %s' % (what, a, b), ' | '.join(lines) or tail(err))
    lines = [l for l in err.splitlines() if 'MULTI' in l]
    rep.check(lines and summary_count(out, r'(\d+) spanned') == 1,
              '%s: the MULTI/EXEC block over two backends is reported failed' % what, ' | '.join(lines) or tail(err))
    t = got()
    rep.check(a.encode() in t and b.encode() not in t and n.encode() not in t and
              t.get(c2.encode(), ('',))[0] == 'string',
              '%s: neither is applied, not even in part' % what, [(k, t.get(k.encode())) for k in (a, b, n, c2)])
    t1 = nc.conn('alpha')
    vals = [t1.call('GET', a), t1.call('GET', c2)]
    t1.close()
    rep.check(vals == [b'rename-me', b'1'], '%s: ... as the proxy shows' % what, vals)


# --- verify -----------------------------------------------------------------------------------

def scenario_verify(ctx, d):
    rep = ctx.rep
    rdb, want = source_rdb(ctx)
    bs, nc = shared_pool(ctx)
    what = 'verify of RDB -> pool alpha direct'
    ctx.nverify = getattr(ctx, 'nverify', 0)
    p = write(d, 'direct.lua', pipeline_text(rdb_source(rdb), sink(nc.conf, 'alpha', True)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=90)
    if not rep.check(rc == 0, '%s: rmig run exits 0' % what, tail(err)):
        return
    v = verify(ctx, d, p)
    check_clean(rep, what, v, checked=len(want))
    c = nc.conn('alpha')
    c.call('SET', 'str:7', 'changed through the proxy')
    v = verify(ctx, d, p)
    # (named as the target holds it: db 4 of a backend, as verify names a renamed key by its new name and db)
    check_only(rep, '%s: str:7 changed through the proxy' % what, v, 'value', 1, [(POOL_DB, 'str:7')])
    c.call('RESTORE', 'str:7', 0, ctx.src.conn().call('DUMP', 'str:7'), 'REPLACE')
    c.call('SET', 'only-in-the-pool', 'x')
    v = verify(ctx, d, p)
    check_only(rep, '%s: a key added through the proxy' % what, v, 'extra', 1, unnamed=True)
    v = verify(ctx, d, p, '--extra')
    named = v.named('extra')
    rep.check(v.rc == 1 and [k for _db, k in named] == [b'only-in-the-pool'],
              '%s: --extra names the key added through the proxy' % what, v.details())
    c.call('DEL', 'only-in-the-pool')
    dump = c.call('DUMP', 'h:3')
    c.call('DEL', 'h:3')
    v = verify(ctx, d, p)
    check_only(rep, '%s: h:3 deleted through the proxy' % what, v, 'missing', 1, [(POOL_DB, 'h:3')])
    c.call('RESTORE', 'h:3', 0, dump, 'REPLACE')
    # a key on another backend than nutcracker's: its clients cannot find it
    placed = route(ctx, nc.conf, 'alpha', [b'str:8'])
    home = placed[b'str:8'][0] if isinstance(placed, dict) else 0
    hc, oc = bs[home].conn(), bs[(home + 1) % NB].conn()
    for x in (hc, oc):
        x.call('SELECT', POOL_DB)
    oc.call('RESTORE', 'str:8', 0, hc.call('DUMP', 'str:8'))
    hc.call('DEL', 'str:8')
    gone = c.call('EXISTS', 'str:8')
    v = verify(ctx, d, p, '--extra')
    rep.check(v.rc == 1 and v.nonzero() == {'missing': 1, 'extra': 1} and v.named('missing') == [(POOL_DB, b'str:8')]
              and v.named('extra') == [(POOL_DB, b'str:8')],
              '%s: str:8 moved to another backend (EXISTS through the proxy: %d): exit 1, missing where nutcracker '
              'looks for it, extra where it is' % (what, gone), v.details())
    hc.call('RESTORE', 'str:8', 0, oc.call('DUMP', 'str:8'))
    oc.call('DEL', 'str:8')
    hc.close()
    oc.close()
    v = verify(ctx, d, p)
    check_clean(rep, '%s: put back' % what, v, checked=len(want))
    c.close()
    # the pipeline through the proxy: verify reads the same backends
    pp = write(d, 'proxy.lua', pipeline_text(rdb_source(rdb), sink(nc.conf, 'alpha', False)))
    v = verify(ctx, d, pp)
    check_clean(rep, 'verify of RDB -> pool alpha through the proxy (the pipeline\'s sink; verify reads the backends)',
                v, checked=len(want))


# --- errors -------------------------------------------------------------------------------------

def scenario_errors(ctx, d):
    rep = ctx.rep
    bs = backends(ctx, d, config=SOURCE)
    pools = pools_for(bs)
    pools['rand'] = {'distribution': 'random', 'redis': True, 'redis_db': POOL_DB,
                     'servers': [server_line(s, i) for i, s in enumerate(bs)]}
    nc = proxy(ctx, d, pools)
    # a small RDB with a key in db 3
    one = server(ctx, d, 'dbs')
    c = one.conn()
    c.pipeline([['SET', 'zero:a', '1'], ['SET', 'zero:b', '2'], ['SELECT', 3], ['SET', 'three:x', '3'],
                ['HSET', 'three:h', 'f', 'v'], ['SELECT', 0]])
    c.call('SAVE')
    rdb = os.path.join(one.dir, one.dbfilename)

    rc, out, err = run(ctx, d, 'random', pipeline_text(rdb_source(rdb), sink(nc.conf, 'rand', True)))
    rep.check(rc == 2 and 'random' in err and 'direct = false' in err,
              'a pool with distribution: random and direct = true: exit 2 saying to write through the proxy',
              'rc %d; %s' % (rc, tail(err)))
    rc, out, err = run(ctx, d, 'addr', pipeline_text(rdb_source(rdb), sink(nc.conf, 'alpha', True,
                                                                          ', addr = "127.0.0.1:1"')))
    rep.check(rc == 2 and 'addr' in err, 'addr with direct = true: exit 2', 'rc %d; %s' % (rc, tail(err)))

    for direct in (True, False):
        mode = 'direct' if direct else 'through the proxy'
        flush(bs)
        t0 = time.time()
        rc, out, err = run(ctx, d, 'db3', pipeline_text(rdb_source(rdb), sink(nc.conf, 'alpha', direct)))
        secs = time.time() - t0
        rep.check(rc != 0 and 'three:' in err and re.search(r'\bdb 3\b', err) and 'dbs' in err and
                  'rmig.filter.db' in err,
                  'a key in source db 3, %s, without dbs or a filter: the run stops naming the key and db, with the '
                  'hint (dbs, rmig.filter.db) (%.1f s)' % (mode, secs), 'rc %d; %s' % (rc, tail(err)))
        rep.check(rc == 2, 'a key in source db 3, %s, without dbs or a filter: exit 2' % mode,
                  'rc %d; %s' % (rc, tail(err)))
        for how, snk, nodes, keys in (
                ('dbs = "merge"', sink(nc.conf, 'alpha', direct, ', dbs = "merge"'), '',
                 [b'zero:a', b'zero:b', b'three:x', b'three:h']),
                ('dbs = "prefix"', sink(nc.conf, 'alpha', direct, ', dbs = "prefix"'), '',
                 [b'zero:a', b'zero:b', b'db3:three:x', b'db3:three:h']),
                ('rmig.filter.db { map = { [3] = 0 } }', sink(nc.conf, 'alpha', direct),
                 'rmig.filter.db { map = { [3] = 0 } }', [b'zero:a', b'zero:b', b'three:x', b'three:h'])):
            flush(bs)
            t0 = time.time()
            rc, out, err = run(ctx, d, 'db3ok', pipeline_text(rdb_source(rdb), snk, nodes))
            where, other = held(bs)
            rep.check(rc == 0 and sorted(where) == sorted(keys) and not any(other.values()),
                      'a key in source db 3, %s, with %s: exit 0, the pool holds %s (%.1f s)' % (
                          mode, how, ', '.join(k.decode() for k in keys), time.time() - t0),
                      'rc %d; keys %r; other dbs %r; %s' % (rc, sorted(where), other, tail(err)))

    # a live XADD through the proxy: nutcracker closes the connection
    flush(bs)
    src = server(ctx, d, 'src', SOURCE)
    s = src.conn()
    s.call('SET', 'before', '1')
    src_opt = 'rmig.source.psync { addr = "127.0.0.1:%d", state = %s }' % (src.port,
                                                                           lua_string(os.path.join(d, 'st.json')))
    r = Rmig(ctx.rmig, write(d, 'xadd.lua', pipeline_text(src_opt, sink(nc.conf, 'alpha', False))), d, 'xadd')
    if rep.check(wait_for(lambda: replica_online(s), 30, r, 0.05), 'psync through the proxy: rmig joins the source',
                 r.tail()):
        t = nc.conn('alpha')
        ok = wait_for(lambda: t.call('GET', 'before') == b'1', 20, r, 0.1)
        rep.check(ok, 'psync through the proxy: the snapshot arrives in the pool', r.tail())
        w = LiveWriter(src.port, ctx.seed + 4)
        w.start()
        time.sleep(2)
        ops = w.stop()

        def want():
            return {k: v for (_db, k), v in key_table(s, [0]).items()}
        diff = converge(want, lambda: pool_table(bs), flat_diff, r, timeout=30, stuck=10)
        rep.check(not diff and ops > 1000 and not w.errors, 'psync through the proxy: %d live SET, INCR, HSET, RPUSH, '
                  'ZADD, EXPIRE, DEL, UNLINK, MSET and %d MULTI/EXEC blocks (which nutcracker refuses: sent command '
                  'by command) arrive, the pool equals the source' % (ops, w.blocks),
                  '%s; %s; %s' % (diff, w.errors, r.tail()))
        check_through_proxy(rep, 'psync through the proxy', nc, 'alpha', one, want())
        t.close()
        t0 = time.time()
        s.call('XADD', 'st', '*', 'f', 'v')
        rc = r.wait(60)
        err = r.stderr()
        m = re.search(r'(\d+) MULTI/EXEC blocks of the source went command by command', err)
        rep.check(m is not None and int(m.group(1)) == w.blocks > 0,
                  'psync through the proxy: the summary counts the %d MULTI/EXEC blocks sent command by command'
                  % w.blocks, tail(err))
        rep.check(rc == 1 and re.search(r'xadd', err, re.I) and 'closed the connection' in err,
                  'psync through the proxy, a live XADD (which nutcracker refuses): exit 1 naming xadd (%.1f s)'
                  % (time.time() - t0), 'rc %r; %s' % (rc, tail(err)))
    r.kill()

    # an unreachable backend
    down = server(ctx, d, 'down')
    port = down.port
    down.stop()
    dead = {'alpha': dict(pools['alpha'], servers=pools['alpha']['servers'][:3] + ['127.0.0.1:%d:1 four' % port])}
    conf = write(d, 'dead.yml', yaml_of(dead, nc))
    rc, out, err = run(ctx, d, 'dead', pipeline_text(rdb_source(rdb), sink(conf, 'alpha', True)), timeout=120)
    rep.check(rc == 1 and ('127.0.0.1:%d' % port) in err,
              'a backend nobody listens on, direct: exit 1 naming it (127.0.0.1:%d)' % port,
              'rc %d; %s' % (rc, tail(err)))

    # a wrong redis_auth (db 0 of the RDB only)
    only0 = 'rmig.filter.db { allow = { 0 } }'
    locked = backends(ctx, os.path.join(d, 'auth'), password='right-pw-1')
    auth = {'alpha': {'hash': 'fnv1a_64', 'redis': True, 'redis_auth': 'wrong-pw-2',
                      'servers': [server_line(s, i) for i, s in enumerate(locked)]}}
    anc = proxy(ctx, os.path.join(d, 'auth'), auth, name='auth')
    for direct in (True, False):
        mode = 'direct' if direct else 'through the proxy'
        rc, out, err = run(ctx, d, 'auth', pipeline_text(rdb_source(rdb), sink(anc.conf, 'alpha', direct), only0),
                           timeout=120)
        rep.check(rc == 1 and re.search(r'WRONGPASS|invalid password|auth', err, re.I) and 'wrong-pw-2' not in err
                  and 'right-pw-1' not in err,
                  'a wrong redis_auth, %s: exit 1 saying the password was refused, never printing it' % mode,
                  'rc %d; %s' % (rc, tail(err)))
    rc, out, err = run(ctx, d, 'auth-ok', pipeline_text(
        rdb_source(rdb), sink(anc.conf, 'alpha', True, ', password = "right-pw-1"'), only0))
    rep.check(rc == 0, 'the right password as sink.password overrides the pool\'s redis_auth (direct): exit 0',
              'rc %d; %s' % (rc, tail(err)))


def yaml_of(pools, nc):
    """A nutcracker.yml of pools (not run), listening where nc's pools do."""
    from twemproxy_harness import yaml_text
    return yaml_text({k: dict([('listen', '127.0.0.1:%d' % nc.port(k))] + list(v.items())) for k, v in pools.items()})


# --- main ---------------------------------------------------------------------------------------

SCENARIOS = [('rdb_proxy', scenario_rdb_proxy), ('rdb_direct', scenario_rdb_direct),
             ('cluster_to_pool', scenario_cluster_to_pool), ('live_direct', scenario_live_direct),
             ('verify', scenario_verify), ('errors', scenario_errors)]


def main():
    if len(sys.argv) >= 2 and os.path.exists(sys.argv[1]):
        require_nutcracker()
    ctx = Ctx()
    ctx.proxies, ctx.locked, ctx.placement = [], [], {}

    def on_end():
        kill_running()
        for nc in ctx.proxies:
            nc.stop()
        del ctx.proxies[:]
        for s, pw in ctx.locked:   # (so that the harness's SHUTDOWN is accepted)
            try:
                c = Conn(s.port, timeout=2)
                c.call('AUTH', pw)
                c.call('CONFIG', 'SET', 'requirepass', '')
                c.close()
            except (OSError, ConnectionError, RedisError):
                pass
        del ctx.locked[:]
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-twem-sink-', ctx, on_end=on_end)


if __name__ == '__main__':
    sys.exit(main())

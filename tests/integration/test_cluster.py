#!/usr/bin/env python3
"""`rmig run` into a real Redis Cluster (rmig.sink.cluster) and `rmig route`.
The clusters come from cluster_harness.py; sources are standalone
redis-servers (an RDB file they saved, or the server itself through
rmig.source.psync). Every key is compared with DEBUG DIGEST-VALUE between
the source and the master that owns the key's slot, and the whole data set
with DEBUG DIGEST (a cluster's digest is the XOR of its masters', see
Cluster.digest):

  harness        the harness alone: cluster_state ok, CLUSTER KEYSLOT, a slot
                 migration and a failover without rmig, the combined digest
  rdb            an RDB of every type (~20k keys, a 300k-element list sent in
                 chunks) into 3 masters: every key on its slot's master, same
                 values, TTLs; restore = "never" on a smaller file
  replicas       the same file into 3 masters with a replica each
  dbs            keys in dbs 1 and 2: an error by default; rmig.filter.db,
                 dbs = "prefix" and dbs = "merge"
  migrate        slots migrated (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE)
                 while rmig loads 200k keys: ASK, TRYAGAIN and MOVED handled
  failover       CLUSTER FAILOVER of a master while rmig loads
  live           a live standalone master (psync) with a writer (MSET/DEL over
                 several slots, cross-slot MULTI/EXEC) into the cluster
  crossslot      RENAME and SUNIONSTORE across slots on the live source:
                 reported with their keys, nonzero exit, the rest arrives
  route          rmig route --cluster ADDR KEY...
  errors         a sink.cluster at a server that is not a cluster node, and
                 at an address where nothing listens

A cluster as the source (rmig.source.cluster: every master read like a
replica, state per master in STATE.<host>_<port>), written to with a
cluster-aware client (ClusterClient: MOVED, ASK, TRYAGAIN followed):
  c2c            4 masters of every type -> 3 masters, psync, a writer on the
                 source (hash-tagged MULTI/EXEC included) from the start;
                 caught up with every master, converged, SIGTERM exit 0, every
                 key equal on its slot's master, a state file per master
  c2c_resume     written to while rmig is stopped; the rerun resumes every
                 master with a partial resync ("0 full and 1 partial")
  c2c_migrate    3 masters -> a standalone server (sink.redis) while one slot
                 goes around the masters 5 times (MIGRATE: RESTORE-ASKING on
                 one stream, DEL on the other) and a writer writes its keys
  c2c_rdb        mode = "rdb-per-node": ends by itself, exit 0, equal
  c2c_errors     a source.cluster at a server that is not a cluster node; with
                 sink.exactly_once = true: exit 2

usage: python3 test_cluster.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and writers' seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server or redis-cli is missing."""
import atexit
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, slot_of  # noqa: E402
from redis_harness import (SKIP, Conn, RedisError, Reporter, Server, free_port,  # noqa: E402
                           install_signal_handlers, make_tmpdir, require_redis_server, run_rmig, scenario_args,
                           short, write)
from test_psync import (SOURCE_CONFIG, Rmig, kill_running, lua_string, replica_online,  # noqa: E402
                        wait_for)

ZERO_DIGEST = '0' * 40


def now_ms():
    return int(time.time() * 1000)


# --- pipelines -------------------------------------------------------------------

def cluster_sink(port, extra=''):
    return 'rmig.sink.cluster { addr = "127.0.0.1:%d"%s }' % (port, extra)


def rdb_pipeline(rdb, port, extra='', nodes=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.rdb { path = %s },\n  nodes = { %s },\n  sink = %s,\n}\n'
            % (lua_string(rdb), nodes, cluster_sink(port, extra)))


def psync_pipeline(src_port, state, port, extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.psync { addr = "127.0.0.1:%d", state = %s },\n  sink = %s,\n}\n'
            % (src_port, lua_string(state), cluster_sink(port, extra)))


# --- source data --------------------------------------------------------------------

def fill_every_type(c, rng, n=20000, big_list=300000, prefix=''):
    """About n keys of every type and encoding: strings (ints, short, 100
    bytes), lists, small and big (>128 fields) hashes, sets and intsets,
    zsets, streams with consumer groups, TTLs, hash-tagged pairs, binary
    keys; plus one list of big_list elements. Returns the number of keys."""
    p = prefix.encode()
    cmds = []
    u = n // 20
    for i in range(8 * u):
        k = p + b's:%d' % i
        x = i % 3
        v = str(rng.randrange(-10 ** 12, 10 ** 12)) if x == 0 else ('v%d' % i if x == 1 else rng.randbytes(100))
        cmds.append(['SET', k, v])
    for i in range(2 * u):
        cmds.append(['RPUSH', p + b'l:%d' % i] + ['e%d' % j for j in range(i % 7 + 1)])
    for i in range(2 * u):
        cmds.append(['HSET', p + b'h:%d' % i] + sum((['f%d' % j, 'v%d' % j] for j in range(i % 5 + 1)), []))
    for i in range(30):
        cmds.append(['HSET', p + b'hbig:%d' % i] + sum((['f%d' % j, 'x' * (j % 40)] for j in range(200)), []))
    for i in range(u + u // 2):
        cmds.append(['SADD', p + b'set:%d' % i] + ['m%d' % j for j in range(i % 6 + 1)])
    for i in range(u):
        cmds.append(['SADD', p + b'iset:%d' % i] + [str(j * 7) for j in range(i % 9 + 1)])
    for i in range(2 * u):
        cmds.append(['ZADD', p + b'z:%d' % i] + sum(([str(j * 0.5), 'm%d' % j] for j in range(i % 5 + 1)), []))
    for i in range(30):
        cmds.append(['ZADD', p + b'zbig:%d' % i] + sum(([str(j * 1.25), 'member-%d' % j] for j in range(300)), []))
    for i in range(u):   # hash-tagged pairs: the same slot
        cmds.append(['SET', p + b'{user%d}:a' % i, 'a%d' % i])
        cmds.append(['HSET', p + b'{user%d}:b' % i, 'name', 'u%d' % i])
    for i in range(u // 2):   # binary keys
        k = bytes([0x80 + (i % 128), 0xff, 0x00]) + p + b'bin:%d' % i + bytes([0xc3, 0x28])
        cmds.append(['SET', k, rng.randbytes(20)])
    c.pipeline(cmds)
    ttl = []
    for i in range(0, 8 * u, 10):
        ttl.append(['EXPIRE', p + b's:%d' % i, 3600 + i])
    for i in range(0, 2 * u, 13):
        ttl.append(['PEXPIREAT', p + b'h:%d' % i, now_ms() + 7200000 + i])
    c.pipeline(ttl)
    for i in range(20):
        st = p + b'st:%d' % i
        c.pipeline([['XADD', st, '*', 'n', str(j), 'pad', 'y' * (j % 30)] for j in range(50)])
        c.call('XGROUP', 'CREATE', st, 'g1', '0')
        c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', st, '>')
        c.call('XGROUP', 'CREATE', st, 'g2', '$')
    if big_list:
        c.pipeline([['RPUSH', p + b'biglist'] + ['item-%d' % j for j in range(i, min(i + 1000, big_list))]
                    for i in range(0, big_list, 1000)], window=50)
    return c.call('DBSIZE')


def save_rdb(srv, dest):
    """SAVE on the source server, then copies its dump to dest."""
    c = srv.conn()
    c.call('SAVE')
    c.close()
    shutil.copy(os.path.join(srv.dir, srv.dbfilename), dest)
    return dest


# --- comparing ---------------------------------------------------------------------------

def scan_keys(c):
    cur, keys = b'0', []
    while True:
        cur, part = c.call('SCAN', cur, 'COUNT', 2000)
        keys.extend(part)
        if cur == b'0':
            return keys


def stream_groups(c, key):
    out = []
    for g in c.call('XINFO', 'GROUPS', key) or []:
        f = dict(zip((x.decode() for x in g[0::2]), g[1::2]))
        out.append((f['name'], f.get('consumers'), f.get('pending'), f.get('last-delivered-id')))
    return sorted(out)


def values(c, keys):
    """{key: (DEBUG DIGEST-VALUE, expire time, TYPE)} on one server,
    pipelined. The expire time is absolute (PEXPIRETIME, Redis 7.0+), so
    that two servers read seconds apart still compare: -1 without a TTL, -2
    when the key is missing."""
    cmds = []
    for k in keys:
        cmds += [['DEBUG', 'DIGEST-VALUE', k], ['PEXPIRETIME', k], ['TYPE', k]]
    r = c.pipeline(cmds, window=3000)
    if keys and isinstance(r[1], RedisError):   # before 7.0: PTTL made absolute
        t = now_ms()
        r = c.pipeline([x if x[0] != 'PEXPIRETIME' else ['PTTL', x[1]] for x in cmds], window=3000)
        for i in range(1, len(r), 3):
            if r[i] >= 0:
                r[i] += t
    return {k: (r[3 * i], r[3 * i + 1], r[3 * i + 2]) for i, k in enumerate(keys)}


def cluster_values(cl, keys, owners=None):
    """{key: (digest, pttl, type)} asked from the master owning each key's slot."""
    owners = owners or cl.slot_map()
    by = {}
    for k in keys:
        by.setdefault(owners[slot_of(k)][1], []).append(k)
    out = {}
    for port, ks in by.items():
        c = cl.conn(port)
        try:
            out.update(values(c, ks))
        finally:
            c.close()
    return out


def compare(rep, what, cl, src, keys=None, ttl=True, exact_count=True, placement=True, skip=()):
    """Every key of the source (or `keys`) against the cluster: on the master
    owning its slot, the same DEBUG DIGEST-VALUE, type and (ttl=True) a PTTL
    within 2 s (PEXPIRETIME: the same time; none where the source has none). With exact_count the cluster
    holds as many keys as the source. Returns True when all checks passed."""
    all_src = keys is None
    if all_src:
        keys = [k for k in scan_keys(src) if k not in skip]
    ok = True
    owners = cl.slot_map()
    where = cl.all_keys() if (placement or exact_count) else {}
    if exact_count:
        n_src = len(keys) if all_src else src.call('DBSIZE')
        n_dst = len([k for k in where if k not in skip])
        extra = [k for k in where if k not in skip and all_src and k not in set(keys)][:5] if n_dst > n_src else []
        ok &= rep.check(n_dst == n_src, '%s: the masters hold %d keys, as many as the source' % (what, n_src),
                        'the masters hold %d keys (%s)%s' % (n_dst, ', '.join('%d on %d' % (len(v), p) for p, v in
                                                                              cl.keys_by_master().items()),
                                                         '; extra e.g. %s' % ', '.join(short(k) for k in extra)
                                                         if extra else ''))
    if placement:
        # CLUSTER KEYSLOT for a sample, the local hash for all (the harness checks they agree)
        sample = keys[:2000]
        want = cl.keyslots(sample)
        bad_slot = [(k, s) for k, s in zip(sample, want) if s != slot_of(k)]
        misplaced = [(k, where.get(k), owners[slot_of(k)][1]) for k in keys if where.get(k) != owners[slot_of(k)][1]]
        ok &= rep.check(not misplaced and not bad_slot,
                        '%s: every key is on the master that owns CLUSTER KEYSLOT(key) (%d keys)' % (what, len(keys)),
                        '%d keys elsewhere or missing, e.g. %s%s' % (
                            len(misplaced), '; '.join('%s: on %s, owner %s' % (short(k), w, o)
                                                      for k, w, o in misplaced[:6]),
                            ' slot mismatch %r' % bad_slot[:3] if bad_slot else ''))
    a = values(src, keys)
    b = cluster_values(cl, keys, owners)
    diff = []
    for k in keys:
        (da, ta, ya), (db_, tb, yb) = a[k], b[k]
        if da != db_ or ya != yb:
            diff.append('%s: %s digest %s, cluster %s digest %s%s' % (
                short(k), ya, da[:12], yb, db_[:12], ' (missing)' if tb == -2 else ''))
        elif ttl and ((ta < 0) != (tb < 0) or (ta >= 0 and abs(ta - tb) > 2000)):
            diff.append('%s: expires at %d on the source, %d on the cluster (ms)' % (short(k), ta, tb))
    ok &= rep.check(not diff, '%s: DEBUG DIGEST-VALUE, type%s equal for %d keys' % (
        what, ' and expire time' if ttl else '', len(keys)), '%d differ, first: %s' % (len(diff), '; '.join(diff[:8])))
    streams = [k for k in keys if a[k][2] == 'stream']
    if streams:
        sd = []
        for k in streams[:30]:
            port = owners[slot_of(k)][1]
            c = cl.conn(port)
            try:
                got = stream_groups(c, k) if b[k][2] == 'stream' else None
            finally:
                c.close()
            want_g = stream_groups(src, k)
            if got != want_g:
                sd.append('%s: %r != %r' % (short(k), got, want_g))
        ok &= rep.check(not sd, '%s: stream consumer groups equal (%d streams)' % (what, len(streams[:30])),
                        '; '.join(sd[:4]))
    return ok


def source_digest(c):
    return c.call('DEBUG', 'DIGEST')


# --- processes --------------------------------------------------------------------------

class Ctx:
    pass


def rmig_bg(ctx, case_dir, text, name):
    p = write(case_dir, name + '.lua', text)
    return Rmig(ctx.rmig, p, case_dir, name)


def tail(err, n=800):
    return err[-n:].replace('\n', ' | ')


def rdb_run(ctx, case_dir, rdb, port, extra='', nodes='', timeout=180, name='p'):
    p = write(case_dir, name + '.lua', rdb_pipeline(rdb, port, extra, nodes))
    return run_rmig(ctx.rmig, ['run', p], timeout=timeout)


def source_server(ctx, name, config=()):
    s = Server(os.path.join(ctx.tmp, name), config=list(config), name=name).start()
    ctx.servers.append(s)
    return s


def cluster_a(ctx):
    """3 masters, no replicas: shared by the scenarios (flushed before each)."""
    if ctx.a is None:
        ctx.a = Cluster(os.path.join(ctx.tmp, 'cluster-a'), masters=3, replicas=0)
    ctx.a.wait_ok()
    ctx.a.flushall()
    return ctx.a


def cluster_b(ctx):
    """3 masters with one replica each."""
    if ctx.b is None:
        ctx.b = Cluster(os.path.join(ctx.tmp, 'cluster-b'), masters=3, replicas=1)
    ctx.b.wait_ok()
    ctx.b.flushall()
    return ctx.b


def big_rdb(ctx):
    """The ~20k-key file of every type (and its server, kept for comparisons)."""
    if ctx.big is None:
        srv = source_server(ctx, 'src-types')
        c = srv.conn()
        n = fill_every_type(c, random.Random(ctx.seed), n=20000, big_list=300000)
        ctx.big = (srv, c, save_rdb(srv, os.path.join(ctx.tmp, 'types.rdb')), n)
    return ctx.big


def populated_rdb(ctx):
    """~200k keys (DEBUG POPULATE) plus hash-tagged ones."""
    if ctx.pop is None:
        srv = source_server(ctx, 'src-pop')
        c = srv.conn()
        c.call('DEBUG', 'POPULATE', 200000, 'pop', 64)
        c.pipeline([['SET', '{tagged}:%d' % i, 'v%d' % i] for i in range(1000)] +
                   [['RPUSH', '{tagged}:list', 'x%d' % i] for i in range(200)])
        ctx.pop = (srv, c, save_rdb(srv, os.path.join(ctx.tmp, 'pop.rdb')), c.call('DBSIZE'))
    return ctx.pop


def sample_keys(rng, keys, n, always=()):
    ks = list(keys)
    s = rng.sample(ks, min(n, len(ks)))
    have = set(s)
    return s + [k for k in always if k not in have]


# --- scenarios -------------------------------------------------------------------------------

def scenario_harness(ctx, d):
    """The harness on its own, so that a failure further on is rmig's."""
    rep = ctx.rep
    cl = cluster_a(ctx)
    ms = cl.masters()
    owners = cl.slot_map()
    rep.check(len(ms) == 3 and None not in owners and {o for o in owners} == set(ms),
              'harness: 3 masters cover the 16384 slots', '%r' % ms)
    keys = [b'k%d' % i for i in range(3000)] + [b'{user1}:a', b'{user1}:b', b'\x80\xff', b'{}', b'{a}b{c}']
    rep.check(cl.keyslots(keys) == [slot_of(k) for k in keys], 'harness: the local hash slot equals CLUSTER KEYSLOT')
    for port in {o[1] for o in owners}:
        c = cl.conn(port)
        c.pipeline([['SET', k, b'v' + k] for k in keys if owners[slot_of(k)][1] == port])
        c.close()
    # the combined digest equals a standalone server's holding the same keys
    ref = source_server(ctx, 'harness-ref')
    rc = ref.conn()
    rc.pipeline([['SET', k, b'v' + k] for k in keys])
    rep.check(cl.digest() == source_digest(rc), 'harness: the XOR of the masters\' DEBUG DIGEST is a standalone '
              'server\'s with the same keys', '%s != %s' % (cl.digest(), source_digest(rc)))
    slot = slot_of(b'{user1}:a')
    c = cl.conn(owners[slot][1])
    c.pipeline([['SET', b'{user1}:%d' % i, 'x'] for i in range(500)])
    c.close()
    src = owners[slot][1]
    dst = [p for _h, p in ms if p != src][0]
    n = cl.migrate_slot(slot, src, dst, batch=37)
    moved = cl.node_for_slot(slot) == ('127.0.0.1', dst) and cl.all_keys().get(b'{user1}:a') == dst
    rep.check(n == 502 and moved,
              'harness: migrate_slot moves slot %d with its 502 keys from %d to %d' % (slot, src, dst),
              'moved %d, owner now %r' % (n, cl.node_for_slot(slot)))
    cl.migrate_slot(slot, dst, src)
    rep.check(cl.node_for_slot(slot) == ('127.0.0.1', src), 'harness: and back')
    rc.close()
    ref.stop()
    b = cluster_b(ctx)
    rep.check(len(b.masters()) == 3 and len(b.replicas()) == 3, 'harness: 3 masters with a replica each',
              '%r %r' % (b.masters(), b.replicas()))
    m = b.masters()[0][1]
    owners_b = b.slot_map()
    key = next(k for k in (b'fo:%d' % i for i in range(1000)) if owners_b[slot_of(k)][1] == m)
    bc = b.conn(m)
    bc.call('SET', key, 'x')
    bc.close()
    rp = b.replicas_of(m)[0][1]
    old = b.failover(rp)
    bc = b.conn(rp)
    kept = bc.call('GET', key)
    bc.close()
    rep.check(old == m and ('127.0.0.1', rp) in b.masters() and ('127.0.0.1', m) in b.replicas() and kept == b'x',
              'harness: failover() makes replica %d the master in place of %d, with the data' % (rp, m),
              'masters %r replicas %r, GET %r' % (b.masters(), b.replicas(), kept))


def scenario_rdb(ctx, d):
    rep = ctx.rep
    cl = cluster_a(ctx)
    srv, c, rdb, n = big_rdb(ctx)
    what = 'RDB -> 3 masters'
    t0 = time.time()
    rc, out, err = rdb_run(ctx, d, rdb, cl.masters()[0][1], ', chunk_bytes = 65536')
    rep.check(rc == 0, '%s: exit 0 (%d keys, %.1f s)' % (what, n, time.time() - t0), 'rc %d: %s' % (rc, tail(err)))
    compare(rep, what, cl, c)
    rep.check(cl.digest() == source_digest(c), '%s: the cluster\'s combined DEBUG DIGEST is the source\'s' % what,
              '%s != %s' % (cl.digest(), source_digest(c)))
    st = cl.conn(cl.node_for_slot(slot_of(b'biglist'))[1])
    rep.check(st.call('LLEN', 'biglist') == 300000, '%s: the 300000-element list arrived whole (chunked)' % what,
              'LLEN %r' % st.call('LLEN', 'biglist'))
    st.close()

    # restore = "never": native commands, on a smaller file
    what = 'RDB -> 3 masters with restore = "never"'
    cl.flushall()
    small = source_server(ctx, 'src-small')
    sc = small.conn()
    fill_every_type(sc, random.Random(ctx.seed + 1), n=2000, big_list=30000, prefix='n:')
    rdb2 = save_rdb(small, os.path.join(d, 'small.rdb'))
    rc, out, err = rdb_run(ctx, d, rdb2, cl.masters()[1][1], ', restore = "never", chunk_bytes = 65536', name='never')
    rep.check(rc == 0, '%s: exit 0' % what, 'rc %d: %s' % (rc, tail(err)))
    compare(rep, what, cl, sc)
    sc.close()
    small.stop()


def scenario_replicas(ctx, d):
    rep = ctx.rep
    cl = cluster_b(ctx)
    srv, c, rdb, n = big_rdb(ctx)
    what = 'RDB -> 3 masters with replicas'
    rc, out, err = rdb_run(ctx, d, rdb, cl.masters()[0][1])
    rep.check(rc == 0, '%s: exit 0' % what, 'rc %d: %s' % (rc, tail(err)))
    compare(rep, what, cl, c, ttl=False)
    rep.check(cl.digest() == source_digest(c), '%s: combined DEBUG DIGEST equal' % what)

    # a replica's address as the seed: rmig finds the masters from it
    cl.flushall()
    tiny = source_server(ctx, 'src-tiny')
    tc = tiny.conn()
    tc.pipeline([['SET', 'tiny:%d' % i, i] for i in range(500)])
    rdb2 = save_rdb(tiny, os.path.join(d, 'tiny.rdb'))
    seed = cl.replicas()[0][1]
    rc, out, err = rdb_run(ctx, d, rdb2, seed, name='seed')
    got = cl.dbsize()
    rep.check(rc == 0 and got == 500, '%s: the addr of a replica (%d) works as the seed: exit 0, 500 keys on the '
              'masters' % (what, seed), 'rc %d, %d keys: %s' % (rc, got, tail(err)))
    tc.close()
    tiny.stop()


def scenario_dbs(ctx, d):
    rep = ctx.rep
    cl = cluster_a(ctx)
    srv = source_server(ctx, 'src-dbs')
    c = srv.conn()
    per_db = {}
    for db in (0, 1, 2):
        c.call('SELECT', db)
        ks = [b'd%d:k%d' % (db, i) for i in range(300)] + [b'{t%d}:x' % db]
        c.pipeline([['SET', k, b'val-' + k] for k in ks] + [['HSET', b'd%d:h' % db, 'f', db]])
        per_db[db] = ks + [b'd%d:h' % db]
    c.call('SELECT', 0)
    rdb = save_rdb(srv, os.path.join(d, 'dbs.rdb'))
    port = cl.masters()[0][1]

    rc, out, err = rdb_run(ctx, d, rdb, port, name='default')
    names_db = re.search(r'\bdb\W{0,3}[12]\b', err, re.I)
    rep.check(rc != 0 and names_db and ('rmig.filter.db' in err or re.search(r'\bdbs\b', err)),
              'dbs: keys outside db 0 stop the run by default and the message points at rmig.filter.db or dbs',
              'rc %d: %s' % (rc, tail(err)))

    def expect(what, want_keys):
        got = cl.all_keys()
        missing = [k for k in want_keys if k not in got]
        extra = [k for k in got if k not in set(want_keys)]
        vals = cluster_values(cl, list(want_keys))
        wrong = [k for k, v in want_keys.items() if k not in missing and vals[k][0] != v]
        rep.check(not missing and not extra and not wrong, '%s: exactly the expected %d keys with their values'
                  % (what, len(want_keys)), '%d missing (%s), %d extra (%s), %d wrong (%s)' % (
                      len(missing), ', '.join(short(k) for k in missing[:5]), len(extra),
                      ', '.join(short(k) for k in extra[:5]), len(wrong), ', '.join(short(k) for k in wrong[:5])))

    def digests_by_db():
        out = {}
        for db, ks in per_db.items():
            c.call('SELECT', db)
            out[db] = {k: v[0] for k, v in values(c, ks).items()}
        c.call('SELECT', 0)
        return out
    dg = digests_by_db()
    merged = {k: v for db in dg for k, v in dg[db].items()}

    cl.flushall()
    rc, out, err = rdb_run(ctx, d, rdb, port, nodes='rmig.filter.db { map = { [1] = 0, [2] = 0 } }', name='map')
    rep.check(rc == 0, 'dbs: with rmig.filter.db { map = { [1] = 0, [2] = 0 } }: exit 0', 'rc %d: %s' % (rc, tail(err)))
    expect('dbs: rmig.filter.db map', merged)

    cl.flushall()
    rc, out, err = rdb_run(ctx, d, rdb, port, ', dbs = "merge"', name='merge')
    rep.check(rc == 0, 'dbs: dbs = "merge": exit 0', 'rc %d: %s' % (rc, tail(err)))
    expect('dbs: dbs = "merge"', merged)

    cl.flushall()
    rc, out, err = rdb_run(ctx, d, rdb, port, ', dbs = "prefix"', name='prefix')
    rep.check(rc == 0, 'dbs: dbs = "prefix": exit 0', 'rc %d: %s' % (rc, tail(err)))
    pre = dict(dg[0])
    for db in (1, 2):
        pre.update({(b'db%d:' % db) + k: None for k in dg[db]})
    # a prefixed key's DIGEST-VALUE is its value's: the same as the source's
    for db in (1, 2):
        for k, v in dg[db].items():
            pre[(b'db%d:' % db) + k] = v
    expect('dbs: dbs = "prefix" names db N\'s keys "dbN:<key>"', pre)
    c.close()


def migrate_during(ctx, cl, r, slots, pause=0.02, batch=5, max_rounds=200):
    """Migrates `slots` from their owners to the next master, round after
    round, until rmig exits. Returns (migrations done, how many of them
    ended while rmig still ran, keys moved, errors)."""
    done = while_running = moved = 0
    errors = []
    for _ in range(max_rounds):
        for slot in slots:
            ms = [p for _h, p in cl.masters()]
            src = cl.node_for_slot(slot)[1]
            dst = ms[(ms.index(src) + 1) % len(ms)]
            try:
                moved += cl.migrate_slot(slot, src, dst, pause_between_batches=pause, batch=batch)
            except (RuntimeError, RedisError) as e:
                errors.append('slot %d %d->%d: %s' % (slot, src, dst, e))
                return done, while_running, moved, errors
            done += 1
            if r.alive():
                while_running += 1
        if not r.alive():
            break
    return done, while_running, moved, errors


def scenario_migrate(ctx, d):
    rep = ctx.rep
    cl = cluster_a(ctx)
    srv, c, rdb, n = populated_rdb(ctx)
    what = 'slot migrations during the load'
    r = rmig_bg(ctx, d, rdb_pipeline(rdb, cl.masters()[0][1], ', window = 64'), 'migrate')
    tag_slot = slot_of(b'{tagged}')
    # two more slots that already hold keys once the load is under way
    if not wait_for(lambda: cl.dbsize() > 2000, 60, r, 0.005):
        rep.fail('%s: rmig loads keys' % what, 'rc %r; %s' % (r.proc.poll(), r.tail()))
        r.stop()
        return
    owners = cl.slot_map()
    slots = [tag_slot]
    for k in scan_keys(cl.conn(owners[0][1]))[:50]:
        s = slot_of(k)
        if s not in slots and owners[s] == owners[0]:
            slots.append(s)
        if len(slots) == 3:
            break
    done, during, moved, errs = migrate_during(ctx, cl, r, slots)
    rc = r.wait(120)
    print('# migrate: %d slot migrations (%d finished while rmig ran, %d keys moved) of slots %r'
          % (done, during, moved, slots), flush=True)
    summary(r)
    rep.check(not errs, '%s: the harness migrated slots %r %d times' % (what, slots, done), '; '.join(errs[:3]))
    rep.check(during >= 1, '%s: at least one migration finished while rmig was loading' % what,
              'rmig ended before the first migration did; %s' % r.tail(300))
    rep.check(rc == 0, '%s: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    cl.wait_ok()
    check_bulk(ctx, what, cl, c, n, always=[b'{tagged}:%d' % i for i in range(1000)] + [b'{tagged}:list'])


def summary(r):
    """rmig's summary (stdout), as comment lines: redirections followed and such."""
    for line in r.stdout().strip().splitlines()[-6:]:
        print('#   rmig: %s' % line.strip(), flush=True)


def check_bulk(ctx, what, cl, c, n, always=()):
    """Exact count, placement of every key, digest of a 5000-key sample."""
    rep = ctx.rep
    rng = random.Random(ctx.seed)
    got = cl.dbsize()
    rep.check(got == n, '%s: the masters hold all %d keys' % (what, n), 'they hold %d' % got)
    where = cl.all_keys()
    owners = cl.slot_map()
    bad = [(k, p) for k, p in where.items() if owners[slot_of(k)][1] != p]
    rep.check(not bad, '%s: every key is on the master owning its slot' % what,
              '%d elsewhere, e.g. %s' % (len(bad), '; '.join('%s on %d, slot %d owned by %d' % (
                  short(k), p, slot_of(k), owners[slot_of(k)][1]) for k, p in bad[:5])))
    keys = sample_keys(rng, scan_keys(c), 5000, always)
    compare(ctx.rep, what + ' (a sample)', cl, c, keys=keys, exact_count=False, placement=False)
    rep.check(cl.digest() == source_digest(c), '%s: combined DEBUG DIGEST equal' % what,
              '%s != %s' % (cl.digest(), source_digest(c)))


def scenario_failover(ctx, d):
    rep = ctx.rep
    cl = cluster_b(ctx)
    srv, c, rdb, n = populated_rdb(ctx)
    what = 'CLUSTER FAILOVER during the load'
    r = rmig_bg(ctx, d, rdb_pipeline(rdb, cl.masters()[0][1], ', window = 64'), 'failover')
    if not wait_for(lambda: cl.dbsize() > 2000, 60, r, 0.005):
        rep.fail('%s: rmig loads keys' % what, 'rc %r; %s' % (r.proc.poll(), r.tail()))
        r.stop()
        return
    replica = cl.replicas_of(cl.masters()[1][1])[0][1]
    try:
        old = cl.failover(replica)
        rep.ok('%s: node %d took over from %d (rmig %s)' % (what, replica, old,
                                                            'still running' if r.alive() else 'already done'))
    except RuntimeError as e:
        rep.fail('%s: the failover completes' % what, e)
    rc = r.wait(120)
    summary(r)
    rep.check(rc == 0, '%s: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    cl.wait_ok()
    check_bulk(ctx, what, cl, c, n, always=[b'{tagged}:list'])


def scenario_kill(ctx, d):
    """A master killed outright (SIGKILL) during the load: its replica takes
    over after the node timeout; rmig sends what the dead master had not
    answered to the new one. A cluster of its own (this one stays damaged).
    The victim is paused for writes and its replica caught up first (WAIT),
    since what a master acknowledged but never replicated is lost to any
    client (asynchronous replication)."""
    rep = ctx.rep
    cl = Cluster(os.path.join(ctx.tmp, 'cluster-kill'), masters=3, replicas=1)
    try:
        srv, c, rdb, n = populated_rdb(ctx)
        what = 'a master killed during the load'
        r = rmig_bg(ctx, d, rdb_pipeline(rdb, cl.masters()[0][1], ', window = 64'), 'kill')
        if not wait_for(lambda: cl.dbsize() > 2000, 60, r, 0.005):
            rep.fail('%s: rmig loads keys' % what, 'rc %r; %s' % (r.proc.poll(), r.tail()))
            r.stop()
            return
        victim = cl.masters()[1][1]
        # Redis replicates asynchronously: writes a master acknowledged but
        # had not passed on when it died are lost whoever wrote them. So the
        # victim first stops answering writes (rmig's keep coming and stay
        # unanswered: those are the ones rmig must send to the new master),
        # its replica gets all it acknowledged (WAIT), then it dies.
        vc = cl.conn(victim)
        vc.call('CLIENT', 'PAUSE', 20000, 'WRITE')
        vc.call('WAIT', 1, 5000)
        cl.server(victim).proc.kill()
        rep.ok('%s: master %d killed (rmig %s)' % (what, victim, 'still running' if r.alive() else 'already done'))
        rc = r.wait(120)
        summary(r)
        rep.check(rc == 0, '%s: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
        rep.check('serves no slots any more' in r.stderr() or 'MOVED' in r.stdout(),
                  '%s: rmig followed the dead master\'s slots to its replica' % what, r.tail())
        # (the dead node never says ok again: the others serve every slot)
        rep.check(len(cl.masters()) == 3 and victim not in [p for _, p in cl.masters()],
                  '%s: 3 masters serve the slots, the dead one not among them' % what, cl.masters())
        check_bulk(ctx, what, cl, c, n, always=[b'{tagged}:list'])
    finally:
        cl.stop()


# --- live --------------------------------------------------------------------------------

class LiveWriter:
    """A write load on the source in a thread: SET/INCR/LPUSH/HSET/SADD/ZADD/
    EXPIRE/DEL on many keys, MSET and DEL over several slots, MULTI/EXEC with
    cross-slot keys and with hash-tagged ones, XADD. No short TTLs, no
    cross-slot command that cannot be split."""

    def __init__(self, port, seed, rate=2500, keys=300):
        self.port = port
        self.rng = random.Random(seed)
        self.rate = rate
        self.keys = keys
        self.ops = 0
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def k(self, fam):
        return 'w:%s:%d' % (fam, self.rng.randrange(self.keys))

    def op(self):
        r = self.rng
        x = r.random()
        v = 'v%d' % r.randrange(10 ** 6)
        if x < 0.15:
            return [['SET', self.k('str'), v]]
        if x < 0.25:
            return [['INCR', self.k('ctr')]]
        if x < 0.35:
            return [['LPUSH', self.k('list'), v], ['LTRIM', self.k('list'), 0, 50]]
        if x < 0.45:
            return [['HSET', self.k('hash'), 'f%d' % r.randrange(20), v]]
        if x < 0.50:
            return [['SADD', self.k('set'), 'm%d' % r.randrange(50)]]
        if x < 0.55:
            return [['ZADD', self.k('zset'), r.randrange(1000), 'm%d' % r.randrange(50)]]
        if x < 0.60:
            return [['EXPIRE', self.k(r.choice(('str', 'hash', 'set'))), r.randint(3600, 86400)]]
        if x < 0.65:
            return [['DEL', self.k(r.choice(('str', 'list', 'hash', 'zset')))]]
        if x < 0.73:   # MSET over several slots
            args = ['MSET']
            for _ in range(r.randint(2, 5)):
                args += [self.k('str'), v]
            return [args]
        if x < 0.78:   # DEL over several slots
            return [['DEL'] + [self.k(r.choice(('str', 'ctr', 'set'))) for _ in range(r.randint(2, 4))]]
        if x < 0.86:   # a cross-slot MULTI/EXEC (split by the sink)
            return [['MULTI'], ['SET', self.k('str'), v], ['INCR', self.k('ctr')],
                    ['HSET', self.k('hash'), 'm', v], ['EXEC']]
        if x < 0.93:   # a hash-tagged MULTI/EXEC (one slot: atomic on the target too)
            t = '{tag%d}' % r.randrange(30)
            return [['MULTI'], ['SET', t + ':a', v], ['INCR', t + ':n'], ['RPUSH', t + ':l', v],
                    ['LTRIM', t + ':l', -20, -1], ['EXEC']]
        if x < 0.97:
            return [['XADD', self.k('stream'), 'MAXLEN', '~', 100, '*', 'f', v]]
        return [['UNLINK', self.k('str')]]

    def run(self):
        c = Conn(self.port)
        try:
            t0 = time.time()
            while not self.stopping.is_set():
                cmds = []
                while len(cmds) < 40:
                    cmds += self.op()
                for rep in c.pipeline(cmds):
                    if isinstance(rep, RedisError):
                        self.errors.append(str(rep))
                    elif isinstance(rep, list):
                        self.errors += [str(x) for x in rep if isinstance(x, RedisError)]
                self.ops += sum(1 for x in cmds if x[0] not in ('MULTI', 'EXEC'))
                ahead = self.ops / float(self.rate) - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except (OSError, ConnectionError) as e:
            self.errors.append('connection: %s' % e)
        finally:
            c.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(30)
        return self.ops


def live_start(ctx, d, cl, name, fill=True, extra=''):
    """A source server (with some data), rmig psync -> cluster, joined."""
    src = source_server(ctx, name, SOURCE_CONFIG)
    s = src.conn()
    if fill:
        fill_every_type(s, random.Random(ctx.seed + 2), n=3000, big_list=20000, prefix='pre:')
    state = os.path.join(d, 'state.json')
    r = rmig_bg(ctx, d, psync_pipeline(src.port, state, cl.masters()[0][1], extra), name)
    ok = wait_for(lambda: replica_online(s), 60, r, 0.05)
    return src, s, r, ok


def wait_caught_up(cl, s, r, timeout=60, stuck=8):
    """Writes a mark key on the source and waits until the cluster has it,
    then until the combined digest equals the source's. Gives up after
    timeout, when rmig exits or when the cluster has not changed for
    `stuck` seconds (nothing more is coming). Returns '' or why not."""
    mark = b'rmig-test:mark:%d' % now_ms()
    s.call('SET', mark, 'x')
    mc = cl.conn(cl.node_for_slot(slot_of(mark))[1])
    deadline = time.time() + timeout
    last, changed, seen = None, time.time(), False
    try:
        while True:
            got = cl.digest()
            if not seen and mc.call('EXISTS', mark):
                seen = True
                s.call('DEL', mark)
            if seen:
                want = source_digest(s)
                if got == want:
                    return ''
            if got != last:
                last, changed = got, time.time()
            now = time.time()
            if now > deadline or now - changed > stuck or not r.alive():
                why = ('rmig exited %r' % r.proc.poll() if not r.alive() else
                       'the cluster did not change for %d s' % stuck if now - changed > stuck else 'timeout')
                if not seen:
                    return 'the mark key never arrived (%s)' % why
                return 'combined digest %s, source %s (%s)' % (got, want, why)
            time.sleep(0.1)
    finally:
        mc.close()


def settle(cl, quiet=1.0, timeout=15):
    """Until the cluster's digest has not changed for `quiet` seconds."""
    deadline = time.time() + timeout
    last, since = cl.digest(), time.time()
    while time.time() < deadline and time.time() - since < quiet:
        time.sleep(0.1)
        d = cl.digest()
        if d != last:
            last, since = d, time.time()


def scenario_live(ctx, d):
    rep = ctx.rep
    what = 'live standalone -> cluster'
    cl = cluster_a(ctx)
    src, s, r, ok = live_start(ctx, d, cl, 'live')
    if not rep.check(ok, '%s: rmig joins the source as a replica' % what, r.tail()):
        r.stop()
        return
    w = LiveWriter(src.port, ctx.seed).start()
    time.sleep(5)
    ops = w.stop()
    rep.check(ops > 1000 and not w.errors, '%s: the writer wrote %d ops' % (what, ops), '; '.join(w.errors[:5]))
    why = wait_caught_up(cl, s, r)
    rep.check(not why, '%s: the cluster catches up with the source (combined DEBUG DIGEST)' % what,
              why + '; ' + r.tail())
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    compare(rep, what, cl, s)
    src.stop()


def scenario_live_migrate(ctx, d):
    """Live standalone -> cluster while the target cluster moves the slots
    the writer is writing to (MOVED and ASK in the middle of the stream)."""
    rep = ctx.rep
    what = 'live standalone -> cluster, target slots migrating'
    cl = cluster_a(ctx)
    src, s, r, ok = live_start(ctx, d, cl, 'live_migrate')
    if not rep.check(ok, '%s: rmig joins the source as a replica' % what, r.tail()):
        r.stop()
        return
    w = LiveWriter(src.port, ctx.seed + 7, keys=30).start()
    time.sleep(1.5)
    slots = sorted({slot_of(b'w:str:1'), slot_of(b'w:ctr:2'), slot_of(b'w:hash:3'), slot_of(b'w:list:4')})
    done, during, moved, errs = migrate_during(ctx, cl, r, slots, pause=0.05, batch=2, max_rounds=4)
    time.sleep(1)
    ops = w.stop()
    rep.check(not errs and done >= len(slots), '%s: %d migrations of slots %r (%d keys moved)' % (what, done, slots, moved),
              '; '.join(errs[:3]))
    rep.check(ops > 500 and not w.errors, '%s: the writer wrote %d ops' % (what, ops), '; '.join(w.errors[:5]))
    why = wait_caught_up(cl, s, r)
    rep.check(not why, '%s: the cluster catches up with the source (combined DEBUG DIGEST)' % what,
              why + '; ' + r.tail())
    rc = r.stop()
    summary(r)
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    m = re.search(r'(\d+) MOVED and (\d+) ASK redirections', r.stdout())
    rep.check(m and int(m.group(1)) + int(m.group(2)) > 0, '%s: rmig followed MOVED/ASK redirections (%s)'
              % (what, m.group(0) if m else 'none'), r.stdout()[-500:])
    compare(rep, what, cl, s)
    src.stop()


def scenario_crossslot(ctx, d):
    rep = ctx.rep
    what = 'cross-slot commands on the live source'
    cl = cluster_a(ctx)
    src, s, r, ok = live_start(ctx, d, cl, 'crossslot', fill=False)
    if not rep.check(ok, '%s: rmig joins the source' % what, r.tail()):
        r.stop()
        return
    # names whose slots differ
    k1, k2, sa, sb, sd = b'x:rename-from', b'x:rename-to', b'x:set-a', b'x:set-b', b'x:union'
    assert len({slot_of(k) for k in (k1, k2)}) == 2 and len({slot_of(k) for k in (sa, sb, sd)}) == 3
    s.pipeline([['SET', k1, 'one'], ['SADD', sa, '1', '2'], ['SADD', sb, '3'], ['SET', b'{same}:a', 'A']])
    s.pipeline([['SET', b'before:%d' % i, i] for i in range(200)])
    time.sleep(0.5)
    s.call('RENAME', k1, k2)
    s.call('SUNIONSTORE', sd, sa, sb)
    s.call('RENAME', b'{same}:a', b'{same}:b')        # one slot: arrives
    s.pipeline([['SET', b'after:%d' % i, i] for i in range(200)] + [['MSET', b'm:1', 1, b'm:2', 2, b'm:3', 3]])
    mark = b'crossslot:mark'
    s.call('SET', mark, '1')
    mc = cl.conn(cl.node_for_slot(slot_of(mark))[1])
    arrived = wait_for(lambda: mc.call('EXISTS', mark), 30, r, 0.05)
    mc.close()
    rep.check(arrived, '%s: the commands after them arrive' % what, r.tail())
    settle(cl)   # the mark's master has it; the others may still be answering
    rc = r.stop()
    err = r.stderr()
    rep.check(rc not in (0, None), '%s: the run ends with a nonzero exit code' % what, 'rc %r; %s' % (rc, r.tail()))
    for cmd, keys in (('RENAME', (k1, k2)), ('SUNIONSTORE', (sd, sa, sb))):
        named = cmd.lower() in err.lower() and all(k.decode() in err for k in keys)
        lines = [l for l in err.splitlines() if cmd.lower() in l.lower()]
        rep.check(named, '%s: stderr names %s and its keys %s' % (what, cmd, ', '.join(k.decode() for k in keys)),
                  ' | '.join(lines[:4]) if lines else 'no line names %s; stderr ends: %s' % (cmd, tail(err, 600)))
    skip = {k1, k2, sd}
    compare(rep, what + ': the rest', cl, s, keys=[k for k in scan_keys(s) if k not in skip],
            exact_count=False, placement=True)
    got = cl.all_keys()
    rep.check(b'{same}:b' in got and b'{same}:a' not in got, '%s: a RENAME within one slot arrives' % what)
    src.stop()


# --- a cluster as the source (rmig.source.cluster) -------------------------------------

REDIRECTS = ('MOVED ', 'ASK ', 'TRYAGAIN', 'CLUSTERDOWN')


def cmd_key(cmd):
    """The key that routes a command (the stream of XREADGROUP, XGROUP's key)."""
    name = cmd[0].upper() if isinstance(cmd[0], str) else cmd[0].decode().upper()
    if name == 'XGROUP':
        return cmd[2]
    if name in ('XREAD', 'XREADGROUP'):
        up = [a.upper() if isinstance(a, str) else a for a in cmd]
        return cmd[up.index('STREAMS') + 1]
    return cmd[1]


def op_key(op):
    for cmd in op:
        if cmd[0] not in ('MULTI', 'EXEC', 'ASKING'):
            return cmd_key(cmd)
    raise ValueError('no key in %r' % (op,))


def redirect(replies):
    """The first MOVED/ASK/TRYAGAIN/CLUSTERDOWN error among replies (EXEC's
    included), or None."""
    for x in replies:
        if isinstance(x, list):
            x = redirect(x)
            if x:
                return x
        elif isinstance(x, RedisError) and str(x).startswith(REDIRECTS):
            return x
    return None


class ClusterClient:
    """A small cluster-aware client for the writers and the fill: every
    command (or op: commands of one slot, MULTI/EXEC included) goes to the
    master owning its key's slot; MOVED, ASK (ASKING first), TRYAGAIN and
    CLUSTERDOWN are followed. pipeline() and call() look like Conn's, so
    fill_every_type() can fill a cluster. One per thread."""

    def __init__(self, cl):
        self.cl = cl
        self.owners = cl.slot_map()
        self.conns = {}
        self.redirects = {'MOVED': 0, 'ASK': 0, 'TRYAGAIN': 0, 'CLUSTERDOWN': 0}

    def conn(self, port):
        c = self.conns.get(port)
        if c is None:
            c = self.conns[port] = Conn(port, timeout=30)
        return c

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def port_of(self, key):
        return self.owners[slot_of(key)][1]

    def execute(self, op, tries=400):
        """One op on its slot's owner, following redirections: its replies."""
        key = op_key(op)
        port, asking = self.port_of(key), False
        last = None
        for _ in range(tries):
            r = self.conn(port).pipeline(([['ASKING']] if asking else []) + op)
            if asking:
                r = r[1:]
            e = redirect(r)
            if e is None:
                return r
            last = str(e)
            kind = last.split()[0]
            self.redirects[kind] = self.redirects.get(kind, 0) + 1
            if kind == 'MOVED':
                slot, addr = last.split()[1:3]
                self.owners[int(slot)] = ('127.0.0.1', int(addr.rpartition(':')[2]))
                port, asking = self.owners[int(slot)][1], False
            elif kind == 'ASK':
                port, asking = int(last.split()[2].rpartition(':')[2]), True
            else:   # TRYAGAIN (keys of a multi-key command split by a migration), CLUSTERDOWN
                time.sleep(0.01)
                port, asking = self.port_of(key), False
        raise RedisError('%r: still redirected after %d tries: %s' % (op[0][:2], tries, last))

    def run_ops(self, ops, window=2000):
        """Many ops, pipelined per master (in order per master), the
        redirected ones again one by one. Their replies, in order."""
        out = [None] * len(ops)
        by = {}
        for i, op in enumerate(ops):
            by.setdefault(self.port_of(op_key(op)), []).append(i)
        again = []
        for port, idx in by.items():
            flat = [cmd for i in idx for cmd in ops[i]]
            r = self.conn(port).pipeline(flat, window=window)
            pos = 0
            for i in idx:
                n = len(ops[i])
                out[i] = r[pos:pos + n]
                pos += n
                if redirect(out[i]):
                    again.append(i)
        for i in sorted(again):
            out[i] = self.execute(ops[i])
        return out

    def pipeline(self, cmds, window=2000):
        return [r[0] for r in self.run_ops([[c] for c in cmds], window)]

    def call(self, *args):
        if args[0].upper() == 'DBSIZE':
            return self.cl.dbsize()
        r = self.execute([list(args)])[0]
        if isinstance(r, RedisError):
            raise r
        return r


class ClusterWriter:
    """A write load on a source cluster in a thread, routed by ClusterClient:
    SET/INCR/LPUSH+LTRIM/HSET/SADD/ZADD/EXPIRE/DEL/XADD on many keys and
    hash-tagged MULTI/EXEC (one slot, one master). With `tag` every key is
    '{tag}:...' (one slot, for slot migrations), no MULTI and no DEL, and
    the ops go one at a time so that ASK/TRYAGAIN are followed in order."""

    def __init__(self, cl, seed, rate=3000, keys=400, tag=None):
        self.cl = cl
        self.rng = random.Random(seed)
        self.rate = rate
        self.keys = keys
        self.tag = tag
        self.ops = 0
        self.errors = []
        self.redirects = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def k(self, fam):
        if self.tag:
            return '{%s}:%s:%d' % (self.tag, fam, self.rng.randrange(self.keys))
        return 'cw:%s:%d' % (fam, self.rng.randrange(self.keys))

    def op(self):
        r = self.rng
        x = r.random()
        v = 'v%d' % r.randrange(10 ** 6)
        if x < 0.18:
            return [['SET', self.k('str'), v]]
        if x < 0.28:
            return [['INCR', self.k('ctr')]]
        if x < 0.38:   # one key for both (one slot)
            k = self.k('list')
            return [['LPUSH', k, v], ['LTRIM', k, 0, 30]] if not self.tag else [['LPUSH', k, v]]
        if x < 0.50:
            return [['HSET', self.k('hash'), 'f%d' % r.randrange(20), v]]
        if x < 0.56:
            return [['SADD', self.k('set'), 'm%d' % r.randrange(50)]]
        if x < 0.62:
            return [['ZADD', self.k('zset'), r.randrange(1000), 'm%d' % r.randrange(50)]]
        if x < 0.70:
            return [['EXPIRE', self.k(r.choice(('str', 'hash', 'set'))), r.randint(3600, 86400)]]
        if x < 0.76:
            return [['XADD', self.k('stream'), 'MAXLEN', '~', 50, '*', 'f', v]]
        if self.tag:
            if x < 0.82:   # a multi-key command of the slot (TRYAGAIN while its keys are split)
                return [['MSET', self.k('str'), v, self.k('str'), v]]
            return [['SET', self.k('str'), v]]
        if x < 0.84:
            return [['DEL', self.k(r.choice(('str', 'list', 'hash', 'zset', 'ctr')))]]
        t = '{ctag%d}' % r.randrange(40)   # a hash-tagged transaction: one slot, one master
        return [['MULTI'], ['SET', t + ':a', v], ['INCR', t + ':n'], ['RPUSH', t + ':l', v],
                ['LTRIM', t + ':l', -20, -1], ['HSET', t + ':h', 'f', v], ['EXEC']]

    def _check(self, replies):
        for x in replies:
            if isinstance(x, list):
                self._check(x)
            elif isinstance(x, RedisError):
                self.errors.append(str(x))

    def run(self):
        cc = ClusterClient(self.cl)
        try:
            t0 = time.time()
            while not self.stopping.is_set():
                ops = [self.op() for _ in range(1 if self.tag else 30)]
                if self.tag:
                    self._check(cc.execute(ops[0]))
                else:
                    for r in cc.run_ops(ops):
                        self._check(r)
                self.ops += sum(1 for op in ops for c in op if c[0] not in ('MULTI', 'EXEC'))
                ahead = self.ops / float(self.rate) - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except (OSError, ConnectionError, RedisError) as e:
            self.errors.append('%s: %s' % (type(e).__name__, e))
        finally:
            self.redirects = dict(cc.redirects)
            cc.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(30)
        return self.ops


# the source clusters keep a long backlog, so that a rerun resumes with a partial resync
SOURCE_CLUSTER_CONFIG = ['--repl-backlog-size', '64mb']


def source_cluster(ctx, masters):
    """A source cluster of `masters` masters without replicas, kept for the
    scenarios after (flushed before each)."""
    cl = ctx.src_clusters.get(masters)
    if cl is None:
        cl = ctx.src_clusters[masters] = Cluster(os.path.join(ctx.tmp, 'src-cluster-%d' % masters),
                                                 masters=masters, replicas=0, config=SOURCE_CLUSTER_CONFIG)
    cl.wait_ok()
    cl.flushall()
    return cl


def c2c_pipeline(src_port, state, sink, mode=None, extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.cluster { addr = "127.0.0.1:%d", state = %s%s%s },\n  sink = %s,\n}\n'
            % (src_port, lua_string(state), ', mode = "%s"' % mode if mode else '', extra, sink))


def redis_sink(port, extra=''):
    return 'rmig.sink.redis { addr = "127.0.0.1:%d"%s }' % (port, extra)


def addr_names(cl):
    return ['%s:%d' % a for a in cl.masters()]


def caught_up(r, names):
    """The masters (of `names`) that rmig's stderr says it caught up with."""
    got = set(re.findall(r'caught up with (\S+): live', r.stderr()))
    return [n for n in names if n in got]


def wait_all_caught_up(r, names, timeout=30):
    return wait_for(lambda: len(caught_up(r, names)) == len(names), timeout, r, 0.1)


def target_digest(dst):
    return dst.digest() if isinstance(dst, Cluster) else dst.call('DEBUG', 'DIGEST')


def converge_c2c(src, dst, r, timeout=20, stuck=6):
    """Until the target's (combined) DEBUG DIGEST equals the source
    cluster's; gives up after timeout, when rmig exits or when the target
    has not changed for `stuck` seconds. '' or why not."""
    deadline = time.time() + timeout
    last, changed = None, time.time()
    while True:
        want, got = src.digest(), target_digest(dst)
        if want == got:
            return ''
        if got != last:
            last, changed = got, time.time()
        now = time.time()
        if r is not None and not r.alive():
            want, got = src.digest(), target_digest(dst)
            return '' if want == got else 'rmig exited (rc %r); target digest %s, source %s' % (
                r.proc.poll(), got, want)
        if now > deadline or now - changed > stuck:
            return '%s: the target digest is %s, the source\'s %s' % (
                'after %d s' % timeout if now > deadline else 'the target has not changed for %d s' % stuck, got, want)
        time.sleep(0.2)


def compare_c2c(rep, what, src, dst, ttl=True, groups=30):
    """Every key of the source cluster (SCAN on each master) against the
    target (a Cluster: on the master owning the key's slot; else a Conn to a
    standalone server): the same set of keys, DEBUG DIGEST-VALUE, type,
    expire time (within 2 s), stream consumer groups of up to `groups`
    streams, and the combined DEBUG DIGEST. True when all passed."""
    ok = True
    src_by = src.keys_by_master()
    keys = [k for ks in src_by.values() for k in ks]
    src_set = set(keys)
    if isinstance(dst, Cluster):
        where = dst.all_keys()
        dst_set = set(where)
        n_dst = dst.dbsize()
    else:
        dst_set = set(scan_keys(dst))
        n_dst = dst.call('DBSIZE')
    missing = [k for k in keys if k not in dst_set]
    extra = [k for k in dst_set if k not in src_set]
    src_at = {k: p for p, ks in src_by.items() for k in ks}
    ok &= rep.check(n_dst == len(keys) and not missing and not extra,
                    '%s: the target holds exactly the source\'s %d keys' % (what, len(keys)),
                    'the target holds %d; %d missing (e.g. %s), %d extra (e.g. %s)' % (
                        n_dst, len(missing), ', '.join('%s (source master %d, slot %d)' % (
                            short(k), src_at[k], slot_of(k)) for k in missing[:6]),
                        len(extra), ', '.join(short(k) for k in extra[:6])))
    if isinstance(dst, Cluster):
        owners = dst.slot_map()
        bad = [(k, p) for k, p in where.items() if owners[slot_of(k)][1] != p]
        ok &= rep.check(not bad, '%s: every key is on the target master owning its slot' % what,
                        '%d elsewhere, e.g. %s' % (len(bad), '; '.join('%s on %d, slot %d owned by %d' % (
                            short(k), p, slot_of(k), owners[slot_of(k)][1]) for k, p in bad[:5])))
    a = {}
    for port, ks in src_by.items():
        c = src.conn(port)
        try:
            a.update(values(c, ks))
        finally:
            c.close()
    b = cluster_values(dst, keys) if isinstance(dst, Cluster) else values(dst, keys)
    diff = []
    for k in keys:
        (da, ta, ya), (db_, tb, yb) = a[k], b[k]
        if da != db_ or ya != yb:
            diff.append('%s: %s digest %s, target %s digest %s%s' % (
                short(k), ya, str(da)[:12], yb, str(db_)[:12], ' (missing)' if tb == -2 else ''))
        elif ttl and ((ta < 0) != (tb < 0) or (ta >= 0 and abs(ta - tb) > 2000)):
            diff.append('%s: expires at %d on the source, %d on the target (ms)' % (short(k), ta, tb))
    ok &= rep.check(not diff, '%s: DEBUG DIGEST-VALUE, type%s equal for all %d keys' % (
        what, ' and expire time' if ttl else '', len(keys)), '%d differ, first: %s' % (len(diff), '; '.join(diff[:8])))
    streams = [k for k in keys if a[k][2] == 'stream'][:groups]
    if streams:
        sd = []
        owners = dst.slot_map() if isinstance(dst, Cluster) else None
        for k in streams:
            sc = src.conn(src_at[k])
            try:
                want = stream_groups(sc, k)
            finally:
                sc.close()
            if owners:
                tc = dst.conn(owners[slot_of(k)][1])
                try:
                    got = stream_groups(tc, k) if b[k][2] == 'stream' else None
                finally:
                    tc.close()
            else:
                got = stream_groups(dst, k) if b[k][2] == 'stream' else None
            if got != want:
                sd.append('%s: %r != %r' % (short(k), got, want))
        ok &= rep.check(not sd, '%s: stream consumer groups equal (%d streams)' % (what, len(streams)),
                        '; '.join(sd[:4]))
    want, got = src.digest(), target_digest(dst)
    ok &= rep.check(want == got, '%s: combined DEBUG DIGEST equal' % what, 'source %s, target %s' % (want, got))
    return ok


def summary_lines(r, pattern):
    return [l.strip() for l in r.stdout().splitlines() if re.search(pattern, l)]


def sync_counts_of(r, names):
    """{'host:port': (full, partial)} from the summary's "live HOST:PORT: F
    full and P partial syncs" lines."""
    out = {}
    for m in re.finditer(r'live (\S+): (\d+) full and (\d+) partial syncs', r.stdout()):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return {n: out.get(n) for n in names}


def fill_cluster(cl, rng, n, big_list, prefix):
    """fill_every_type through ClusterClient (each key to its slot's owner)."""
    cc = ClusterClient(cl)
    try:
        return fill_every_type(cc, rng, n=n, big_list=big_list, prefix=prefix)
    finally:
        cc.close()


def c2c_run(ctx, d, src, dst_port, name, state, sink=None, mode=None):
    return rmig_bg(ctx, d, c2c_pipeline(src.masters()[0][1], state, sink or cluster_sink(dst_port), mode), name)


def c2c_live(ctx, what, src, dst, r, writer_seed, write_s=4):
    """rmig (psync) has just started: a ClusterWriter writes to the source
    from now on (during the full syncs too), at least write_s seconds and
    until rmig's stderr says it caught up with every master; then the
    writer stops, the target must converge, SIGTERM. True when it went to
    the end."""
    rep = ctx.rep
    names = addr_names(src)
    w = ClusterWriter(src, writer_seed).start()
    t0 = time.time()
    up = wait_all_caught_up(r, names, 40)
    t_up = time.time() - t0
    if time.time() - t0 < write_s:
        time.sleep(write_s - (time.time() - t0))
    ops = w.stop()
    if not rep.check(up, '%s: stderr says rmig caught up with each of the %d masters (%.1f s after the start, '
                     'the writer writing)' % (what, len(names), t_up),
                     'caught up with %r of %r; %s' % (caught_up(r, names), names, r.tail())):
        r.stop()
        return False
    rep.check(ops > 1000 and not w.errors, '%s: the writer wrote %d ops to the source cluster' % (what, ops),
              '%d errors: %s' % (len(w.errors), '; '.join(w.errors[:5])))
    why = converge_c2c(src, dst, r, 20)
    rep.check(not why, '%s: the target converges to the source (combined DEBUG DIGEST)' % what,
              why + '; ' + r.tail(1200))
    rc = r.stop()
    summary(r)
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    return True


def scenario_c2c(ctx, d):
    rep = ctx.rep
    what = 'cluster (4 masters) -> cluster (3 masters)'
    src = source_cluster(ctx, 4)
    dst = cluster_a(ctx)
    t0 = time.time()
    n = fill_cluster(src, random.Random(ctx.seed + 10), 6000, 20000, 'c2c:')
    per = {p: len(ks) for p, ks in src.keys_by_master().items()}
    rep.check(len(per) == 4 and min(per.values()) > 100, '%s: the source holds %d keys of every type on its 4 '
              'masters (%.1f s)' % (what, n, time.time() - t0), '%r' % per)
    state = os.path.join(d, 'state')
    r = c2c_run(ctx, d, src, dst.masters()[0][1], 'c2c', state)
    if not c2c_live(ctx, what, src, dst, r, ctx.seed + 11):
        return
    names = addr_names(src)
    counts = sync_counts_of(r, names)
    rep.check(all(v == (1, 0) for v in counts.values()), '%s: the summary has "1 full and 0 partial syncs" for '
              'each master' % what, '%r; stdout: %s' % (counts, r.stdout()[-800:]))
    live = summary_lines(r, r'live: \d+ commands applied from')
    rep.check(live and 'from 4 source masters' in live[0], '%s: the summary says "... from 4 source masters"' % what,
              '%r' % live)
    compare_c2c(rep, what, src, dst)
    files = ['%s.%s' % (state, n_.replace(':', '_')) for n_ in names]
    rep.check(all(os.path.isfile(f) and os.path.getsize(f) > 0 for f in files),
              '%s: a state file per master (%s)' % (what, ', '.join(os.path.basename(f) for f in files)),
              'present: %r' % sorted(os.listdir(d)))
    ctx.c2c = (src, dst, state, d)


def scenario_c2c_resume(ctx, d):
    rep = ctx.rep
    what = 'cluster -> cluster, resumed'
    if ctx.c2c is None:
        # without c2c before it: its own first run
        src = source_cluster(ctx, 4)
        dst = cluster_a(ctx)
        fill_cluster(src, random.Random(ctx.seed + 20), 2000, 5000, 'rs:')
        state = os.path.join(d, 'state')
        r = c2c_run(ctx, d, src, dst.masters()[0][1], 'first', state)
        if not c2c_live(ctx, what + ' (first run)', src, dst, r, ctx.seed + 21, write_s=2):
            return
    else:
        src, dst, state, _ = ctx.c2c
    names = addr_names(src)
    # written while rmig is stopped: only the backlog has it
    fill_cluster(src, random.Random(ctx.seed + 22), 1000, 2000, 'gap:')
    w = ClusterWriter(src, ctx.seed + 23).start()
    time.sleep(1.5)
    w.stop()
    rep.check(not w.errors, '%s: written to the source while rmig was stopped (%d ops)' % (what, w.ops),
              '; '.join(w.errors[:5]))
    r = c2c_run(ctx, d, src, dst.masters()[1][1], 'resume', state)
    if not c2c_live(ctx, what, src, dst, r, ctx.seed + 24, write_s=2):
        return
    err = r.stderr()
    resumed = [n for n in names if re.search(r'%s: resuming after offset \d+' % re.escape(n), err)]
    rep.check(len(resumed) == len(names), '%s: stderr says it resumes each master after its saved offset' % what,
              'for %r of %r; %s' % (resumed, names, tail(err)))
    counts = sync_counts_of(r, names)
    rep.check(all(v == (0, 1) for v in counts.values()), '%s: a partial resync of every master: "0 full and 1 '
              'partial syncs" in the summary' % what, '%r; stdout: %s | stderr: %s' % (counts, r.stdout()[-600:],
                                                                                      tail(err, 600)))
    compare_c2c(rep, what, src, dst)


def scenario_c2c_migrate(ctx, d):
    rep = ctx.rep
    what = 'cluster (3 masters, migrating a slot) -> standalone'
    src = source_cluster(ctx, 3)
    tgt = source_server(ctx, 'c2c-target')
    t = tgt.conn()
    fill_cluster(src, random.Random(ctx.seed + 30), 2000, 5000, 'mg:')
    tag = 'mig'
    slot = slot_of(b'{%s}' % tag.encode())
    cc = ClusterClient(src)
    cc.pipeline([['SET', '{%s}:str:%d' % (tag, i), 'x%d' % i] for i in range(300)] +
                [['HSET', '{%s}:hash:%d' % (tag, i), 'f', i] for i in range(100)] +
                [['RPUSH', '{%s}:list:%d' % (tag, i), 'a', 'b', i] for i in range(100)] +
                [['SET', '{%s}:ttl:%d' % (tag, i), i, 'EX', 7200] for i in range(50)])
    cc.close()
    state = os.path.join(d, 'state')
    r = rmig_bg(ctx, d, c2c_pipeline(src.masters()[0][1], state, redis_sink(tgt.port)), 'c2c-migrate')
    names = addr_names(src)
    t0 = time.time()
    # the source is idle here: rmig says "caught up" once the next byte of a stream comes (a master's PING)
    if not rep.check(wait_all_caught_up(r, names, 40), '%s: rmig caught up with the 3 masters (%.1f s, an idle '
                     'source)' % (what, time.time() - t0),
                     'caught up with %r of %r; %s' % (caught_up(r, names), names, r.tail())):
        r.stop()
        return
    w = ClusterWriter(src, ctx.seed + 31, rate=2000, keys=300, tag=tag).start()
    time.sleep(0.5)
    moves, moved, errs = [], 0, []
    t0 = time.time()
    for i in range(5):   # around the masters: A -> B -> C -> A ...
        ms = [p for _h, p in src.masters()]
        a = src.node_for_slot(slot)[1]
        b = ms[(ms.index(a) + 1) % len(ms)]
        try:
            moved += src.migrate_slot(slot, a, b, pause_between_batches=0.01, batch=20)
            moves.append('%d->%d' % (a, b))
        except (RuntimeError, RedisError) as e:
            errs.append('%d->%d: %s' % (a, b, e))
            break
        time.sleep(0.3)
        if not r.alive():
            break
    time.sleep(0.5)
    ops = w.stop()
    print('# c2c_migrate: slot %d moved %s (%d keys in all, %.1f s); writer: %d ops, redirections %r'
          % (slot, ' '.join(moves), moved, time.time() - t0, ops, w.redirects), flush=True)
    rep.check(not errs and len(moves) == 5, '%s: slot %d migrated 5 times with its keys while rmig ran' % (what, slot),
              '; '.join(errs))
    rep.check(ops > 500 and not w.errors, '%s: the writer wrote %d ops to {%s} keys (ASK/TRYAGAIN followed)'
              % (what, ops, tag), '%d errors: %s' % (len(w.errors), '; '.join(w.errors[:5])))
    why = converge_c2c(src, t, r, 20)
    rep.check(not why, '%s: the target converges to the source (DEBUG DIGEST)' % what, why + '; ' + r.tail(1200))
    rc = r.stop()
    summary(r)
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    mig = summary_lines(r, r'migrated in from another master')
    for line in mig:
        print('# c2c_migrate: rmig: %s' % line, flush=True)
    n_in = sum(int(l.split()[0]) for l in mig)
    rep.check(n_in > 0, '%s: the summary reports keys migrated in from another master (%d)' % (what, n_in),
              'no "migrated in" line; stdout: %s' % r.stdout()[-800:])
    if any('waited 5 s' in l for l in mig):
        print('# c2c_migrate: some RESTORE-ASKING waited 5 s for their DEL', flush=True)
    compare_c2c(rep, what, src, t)
    t.close()
    tgt.stop()


def scenario_c2c_rdb(ctx, d):
    rep = ctx.rep
    what = 'cluster -> cluster, mode = "rdb-per-node"'
    src = source_cluster(ctx, 3)
    dst = cluster_a(ctx)
    n = fill_cluster(src, random.Random(ctx.seed + 40), 6000, 20000, 'rpn:')
    state = os.path.join(d, 'state')
    r = c2c_run(ctx, d, src, dst.masters()[0][1], 'rdb-per-node', state, mode='rdb-per-node')
    rc = r.wait(60)
    if rc is None:
        rep.fail('%s: the run ends by itself within 60 s' % what, r.tail())
        r.stop()
        return
    summary(r)
    rep.check(rc == 0, '%s: the run ends by itself, exit 0 (%d keys, %.1f s)' % (what, n, time.time() - r.started),
              'rc %r; %s' % (rc, r.tail()))
    snaps = summary_lines(r, r'source \S+: snapshot of \d+ keys')
    names = addr_names(src)
    rep.check(len(snaps) == len(names) and all(n_ in ' '.join(snaps) for n_ in names) and
              not any('not read' in l for l in snaps),
              '%s: the summary has a snapshot line per master' % what, '%r; stdout: %s' % (snaps, r.stdout()[-600:]))
    compare_c2c(rep, what, src, dst)


def scenario_c2c_failover(ctx, d):
    """A source master fails over during a live run: rmig stops and says to
    run again (it does not read the new master); run again, every master
    (the new one with a snapshot) is read, and the target equals the source."""
    rep = ctx.rep
    what = 'cluster -> cluster, a source master fails over'
    src = Cluster(os.path.join(ctx.tmp, 'src-cluster-failover'), masters=3, replicas=1, config=SOURCE_CLUSTER_CONFIG)
    try:
        dst = cluster_a(ctx)
        fill_cluster(src, random.Random(ctx.seed + 50), 3000, 5000, 'fo:')
        state = os.path.join(d, 'state')
        r = c2c_run(ctx, d, src, dst.masters()[0][1], 'failover1', state)
        names = addr_names(src)
        if not wait_for(lambda: set(caught_up(r, names)) >= set(names), 60, r, 0.1):
            rep.fail('%s: rmig catches up with every master' % what, r.tail())
            r.stop()
            return
        replica = src.replicas_of(src.masters()[0][1])[0][1]
        src.failover(replica)
        rc = r.wait(40)
        rep.check(rc == 1 and 'does not read' in r.stderr(), '%s: rmig stops (exit 1) naming the new master' % what,
                  'rc %r; %s' % (rc, r.tail()))
        if rc is None:
            r.stop()
        r2 = c2c_run(ctx, d, src, dst.masters()[0][1], 'failover2', state)
        names = addr_names(src)
        ok = wait_for(lambda: set(caught_up(r2, names)) >= set(names), 60, r2, 0.1)
        rep.check(ok, '%s: run again: caught up with every master, the new one included' % what, r2.tail())
        time.sleep(1)
        rc = r2.stop()
        summary(r2)
        rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r2.tail()))
        compare_c2c(rep, what, src, dst)
    finally:
        src.stop()


def scenario_c2c_errors(ctx, d):
    rep = ctx.rep
    plain = source_server(ctx, 'c2c-not-a-cluster')
    pc = plain.conn()
    pc.call('SET', 'a', '1')
    tgt = source_server(ctx, 'c2c-err-target')
    tc = tgt.conn()
    p = write(d, 'plain.lua', c2c_pipeline(plain.port, os.path.join(d, 'state'), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc != 0 and 'not a cluster' in err and tc.call('DBSIZE') == 0,
              'c2c errors: rmig.source.cluster at a server without cluster mode fails, saying "not a cluster"',
              'rc %d, target dbsize %r: %s' % (rc, tc.call('DBSIZE'), tail(err)))
    src = source_cluster(ctx, 3)
    p = write(d, 'eo.lua', c2c_pipeline(src.masters()[0][1], os.path.join(d, 'state-eo'),
                                        redis_sink(tgt.port, ', exactly_once = true')))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and 'exactly_once' in err and tc.call('DBSIZE') == 0,
              'c2c errors: rmig.source.cluster with sink.exactly_once = true: exit 2 naming exactly_once',
              'rc %d, target dbsize %r: %s' % (rc, tc.call('DBSIZE'), tail(err)))
    pc.close()
    tc.close()
    plain.stop()
    tgt.stop()


# --- route and errors --------------------------------------------------------------------

def scenario_route(ctx, d):
    rep = ctx.rep
    cl = cluster_a(ctx)
    port = cl.masters()[2][1]
    keys = [b'key1', b'{tag}x', b'bin\x80\xff\xfe-key', b'user:1000']
    p = subprocess.run([ctx.rmig, 'route', '--cluster', '127.0.0.1:%d' % port] + keys, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    out, err = p.stdout, p.stderr.decode('utf-8', 'replace')
    lines = [l for l in out.split(b'\n') if l.strip()]
    rep.check(p.returncode == 0 and len(lines) == len(keys), 'route: exit 0 and one line per key',
              'rc %d, %d lines: %r %s' % (p.returncode, len(lines), out[:400], tail(err)))
    want = cl.keyslots(keys)
    owners = cl.slot_map()
    bad = []
    for key, slot, line in zip(keys, want, lines):
        f = line.rsplit(b'\t', 2)
        if len(f) != 3:
            bad.append('%r: not KEY\\tSLOT\\tHOST:PORT' % line)
            continue
        addr = '%s:%d' % owners[slot]
        if f[1] != str(slot).encode() or f[2].decode('utf-8', 'replace') != addr:
            bad.append('%s: %r, want slot %d on %s' % (short(key), line, slot, addr))
        elif key.isascii() and f[0] != key:
            bad.append('%s: the key column is %r' % (short(key), f[0]))
    rep.check(lines and not bad, 'route: KEY\\tSLOT\\tHOST:PORT with CLUSTER KEYSLOT\'s slot and the owner',
              '; '.join(bad))
    rc, out, err = run_rmig(ctx.rmig, ['route', 'key1'], timeout=30)
    rep.check(rc == 2, 'route: without --cluster: exit 2', 'rc %d: %s' % (rc, tail(err)))
    dead = free_port()
    rc, out, err = run_rmig(ctx.rmig, ['route', '--cluster', '127.0.0.1:%d' % dead, 'key1'], timeout=60)
    rep.check(rc == 1 and str(dead) in err, 'route: an unreachable address: exit 1 naming it',
              'rc %d: %s' % (rc, tail(err)))


def scenario_errors(ctx, d):
    rep = ctx.rep
    plain = source_server(ctx, 'not-a-cluster')
    pc = plain.conn()
    pc.call('SET', 'a', '1')
    rdb = save_rdb(plain, os.path.join(d, 'e.rdb'))
    pc.call('FLUSHALL')
    rc, out, err = rdb_run(ctx, d, rdb, plain.port, ', retry_deadline_s = 2', timeout=60, name='plain')
    said = re.search(r'not .*cluster|cluster .*(disabled|not enabled|support)', err, re.I)
    rep.check(rc != 0 and said and pc.call('DBSIZE') == 0,
              'errors: a sink.cluster at a server without cluster mode fails, saying it is not a cluster node',
              'rc %d, dbsize %r: %s' % (rc, pc.call('DBSIZE'), tail(err)))
    pc.close()
    dead = free_port()
    t0 = time.time()
    rc, out, err = rdb_run(ctx, d, rdb, dead, ', retry_deadline_s = 2', timeout=120, name='dead')
    rep.check(rc != 0 and ('127.0.0.1:%d' % dead) in err, 'errors: an unreachable sink.cluster address fails '
              'naming it (%.1f s)' % (time.time() - t0), 'rc %d: %s' % (rc, tail(err)))
    plain.stop()


SCENARIOS = [
    ('harness', scenario_harness),
    ('rdb', scenario_rdb),
    ('dbs', scenario_dbs),
    ('route', scenario_route),
    ('errors', scenario_errors),
    ('migrate', scenario_migrate),
    ('live', scenario_live),
    ('live_migrate', scenario_live_migrate),
    ('crossslot', scenario_crossslot),
    ('replicas', scenario_replicas),
    ('failover', scenario_failover),
    ('kill', scenario_kill),
    ('c2c', scenario_c2c),
    ('c2c_resume', scenario_c2c_resume),
    ('c2c_migrate', scenario_c2c_migrate),
    ('c2c_rdb', scenario_c2c_rdb),
    ('c2c_failover', scenario_c2c_failover),
    ('c2c_errors', scenario_c2c_errors),
]


def main():
    rmig, only = scenario_args(sys.argv[1:], SCENARIOS, __doc__)
    if rmig is None:
        return only
    require_redis_server()
    if not shutil.which('redis-cli'):
        print('redis-cli is not installed: skipped')
        return SKIP
    install_signal_handlers()
    ctx = Ctx()
    ctx.rmig = os.path.abspath(rmig)
    ctx.rep = Reporter()
    ctx.tmp = make_tmpdir('rmig-cluster-')
    atexit.register(kill_running)   # before make_tmpdir's cleanup stops the servers
    ctx.seed = int(os.environ.get('RMIG_TEST_SEED') or random.randrange(1, 1 << 31))
    ctx.a = ctx.b = ctx.big = ctx.pop = ctx.c2c = None
    ctx.src_clusters = {}
    ctx.servers = []
    print('# seed %d (RMIG_TEST_SEED=%d repeats the data and the writer\'s commands)' % (ctx.seed, ctx.seed),
          flush=True)
    t_all = time.time()
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        d = os.path.join(ctx.tmp, name)
        os.makedirs(d)
        t0 = time.time()
        try:
            fn(ctx, d)
        except Exception:   # a reply the scenario did not expect: report it, go on with the next one
            ctx.rep.fail('%s: the scenario ran to its end' % name, ' | '.join(traceback.format_exc().splitlines()[-6:]))
        finally:
            kill_running()
        print('# %s: %.1f s' % (name, time.time() - t0), flush=True)
    print('# all: %.1f s' % (time.time() - t_all), flush=True)
    for cl in [ctx.a, ctx.b] + list(ctx.src_clusters.values()):
        if cl:
            cl.stop()
    return ctx.rep.finish()


if __name__ == '__main__':
    sys.exit(main())

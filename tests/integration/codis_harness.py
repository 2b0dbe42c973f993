"""Codis for rmig's integration tests (Python 3 standard library only): group
masters in a real Codis layout, data and a write load placed as a Codis
proxy would place it, comparisons with a target, and the pipeline texts of
rmig.source.codis and rmig.sink.codis. There is no codis-server here: the
group masters are redis-servers (redis_harness.Server), each key on the
master of its group: slot = crc32(tag or key) % 1024 with zlib's crc32 and
Codis's tag rule (codis_slot), then the topology's slot table.

A test script beside this file, its folder first on sys.path as in
test_codis.py (and random, sys imported):

    from codis_harness import Ctx, Farm, codis_source, compare, fill, masters, pipeline, redis_sink, server
    from redis_harness import run_rmig, run_scenarios, write
    from test_psync import kill_running

    def scenario_x(ctx, d):                        # d: the scenario's own directory
        rng = random.Random(ctx.seed)
        topo = masters(ctx, d, rng)                # 3 group masters (groups 1, 3, 7)
        farm = Farm(topo)
        fill(farm, rng)                            # ~2.5k keys of every type, each on its group's master
        yml = write(d, 'topo.yml', topo.yaml())    # or topo.slots_status(): codis-admin's JSON
        t = server(ctx, d, 'target')
        p = write(d, 'x.lua', pipeline(codis_source(topo=yml, extra=', mode = "scan"'), redis_sink(t.port)))
        rc, out, err = run_rmig(ctx.rmig, ['run', p])
        compare(ctx.rep, 'x', farm, t.conn())      # the target: a Conn, or a cluster_harness.Cluster

    sys.exit(run_scenarios(sys.argv[1:], [('x', scenario_x)], __doc__, 'rmig-x-', Ctx(), on_end=kill_running))

What is here:

- codis_slot(key), CODIS_SLOTS, GROUP_IDS, MASTER (the group masters'
  redis-server arguments: a replica joins at once).
- Topo: group ids -> master ports and a random slot table (each group two
  ranges); yaml() and slots_status() write it as rmig reads a topology;
  move() puts a slot under migration (slots_status only).
- Farm: connections to a Topo's masters; run(units) sends each
  (key, [commands]) to the master of the key's group; keys_by_master(),
  digest() (combined_digest: the masters as one DEBUG DIGEST). One: the
  same run() for a single server (a source to be saved as an RDB file).
- fill(farm, rng): keys of every type; CodisWriter: a write load on the
  masters in a thread (start(), stop() -> ops, errors).
- compare(rep, what, farm, dst): every key of the masters against a target
  (a cluster_harness.Cluster or a Conn to a standalone server), one
  Reporter check per property; converge(farm, dst, r): until the target's
  digest is the masters'; caught_up() and sync_counts() read a background
  rmig's stderr and summary; live_run(): a psync run with a writer to its
  end (caught up, converged, SIGINT exit 0).
- Pipeline texts: pipeline(source, sink, nodes), codis_source(topo= or
  groups=), codis_sink(topo), redis_sink(port), rdb_source(path).
- Ctx (what run_scenarios fills in), server() and masters() (stopped by
  run_scenarios after each scenario), rmig_bg() (`rmig run` in the
  background: test_psync.Rmig, ended by test_psync.kill_running, which the
  scripts pass to run_scenarios as on_end), route() (`rmig route --codis`),
  tail() and rtail() for messages."""
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, slot_of  # noqa: E402
from redis_harness import Conn, RedisError, Server, run_rmig, short, write  # noqa: E402
from test_cluster import cluster_values, scan_keys, stream_groups, values  # noqa: E402
from test_codis_translate import escape, hashed  # noqa: E402
from test_psync import Rmig, lua_string, wait_for  # noqa: E402

CODIS_SLOTS = 1024
GROUP_IDS = (1, 3, 7)
# group masters a replica joins at once (7.0 delays a diskless sync 5 s for more replicas)
MASTER = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0', '--repl-backlog-size', '64mb']


def now_ms():
    return int(time.time() * 1000)


def codis_slot(key):
    """Codis's slot: crc32 (zlib) of the tag (between the first '{' and the
    first '}' after it, possibly empty) or of the whole key, % 1024."""
    return zlib.crc32(hashed(key)) % CODIS_SLOTS


# --- topologies ------------------------------------------------------------------

class Topo:
    """Group ids -> master ports and the slot table: each group owns two
    ranges of slots cut at random places; `moving` is a slot under migration
    (routed to its target group, as the proxy does), or None."""

    def __init__(self, ports, rng, ids=GROUP_IDS):
        self.ids = list(ids)
        self.groups = dict(zip(self.ids, ports))
        order = self.ids * 2
        rng.shuffle(order)
        bounds = [0] + sorted(rng.sample(range(1, CODIS_SLOTS), len(order) - 1)) + [CODIS_SLOTS]
        self.ranges = [(bounds[i], bounds[i + 1] - 1, order[i]) for i in range(len(order))]
        self.slot_group = [None] * CODIS_SLOTS
        for a, b, g in self.ranges:
            for s in range(a, b + 1):
                self.slot_group[s] = g
        self.moving = None

    def addr(self, g):
        return '127.0.0.1:%d' % self.groups[g]

    def ports(self):
        return [self.groups[g] for g in self.ids]

    def group_of(self, key):
        return self.slot_group[codis_slot(key)]

    def port_of(self, key):
        return self.groups[self.group_of(key)]

    def move(self, slot, to):
        """Puts slot under migration from its group to group `to`."""
        self.moving = (slot, self.slot_group[slot], to)
        self.slot_group[slot] = to

    def yaml(self):
        assert self.moving is None
        lines = ['# groups of a Codis deployment (written by codis_harness.py)', 'groups:']
        lines += ['  %d: "%s"' % (g, self.addr(g)) for g in self.ids]
        lines.append('slots:')
        lines += ['  "%d-%d": %d' % (a, b, g) if a != b else '  %d: %d' % (a, g) for a, b, g in self.ranges]
        return '\n'.join(lines) + '\n'

    def slots_status(self):
        """What `codis-admin --dashboard=ADDR --slots-status` prints."""
        out = []
        for s in range(CODIS_SLOTS):
            g = self.slot_group[s]
            e = {'id': s, 'backend_addr': self.addr(g), 'backend_addr_group_id': g, 'forward_method': 1}
            if self.moving and self.moving[0] == s:
                e['migrate_from'] = self.addr(self.moving[1])
                e['migrate_from_group_id'] = self.moving[1]
            out.append(e)
        return json.dumps(out, indent=4) + '\n'


class Farm:
    """Connections to the group masters; units (key, [commands]) go to the
    master of the key's group, in order per master."""

    def __init__(self, topo):
        self.topo = topo
        self.conns = {p: Conn(p) for p in topo.ports()}

    def run(self, units, window=2000):
        by = {}
        for key, cmds in units:
            by.setdefault(self.topo.port_of(key), []).extend(cmds)
        errs = []
        for port, cmds in by.items():
            for c, r in zip(cmds, self.conns[port].pipeline(cmds, window)):
                if isinstance(r, RedisError):
                    errs.append('%s %s on %d: %s' % (c[0], short(c[1]) if len(c) > 1 else '', port, r))
        if errs:
            raise RuntimeError('; '.join(errs[:5]))

    def keys_by_master(self):
        return {p: scan_keys(c) for p, c in self.conns.items()}

    def digest(self):
        return combined_digest(self.conns.values())

    def close(self):
        for c in self.conns.values():
            c.close()


def combined_digest(conns):
    """The servers' data as one DEBUG DIGEST, as a standalone server holding
    all their keys in db 0 would have it (the rule of Cluster.digest)."""
    acc, nonempty = 0, 0
    for c in conns:
        d = c.call('DEBUG', 'DIGEST')
        d = int(d.decode() if isinstance(d, bytes) else d, 16)
        if d:
            nonempty += 1
            acc ^= d
    if not nonempty:
        return '0' * 40
    if nonempty % 2 == 0:
        acc ^= int(hashlib.sha1(hashlib.sha1(b'\0' * 4).digest()).hexdigest(), 16)
    return '%040x' % acc


class One:
    """A Farm's run() for a single server (a source saved as an RDB file)."""

    def __init__(self, conn):
        self.c = conn

    def run(self, units, window=2000):
        cmds = [c for _k, cs in units for c in cs]
        errs = [r for r in self.c.pipeline(cmds, window) if isinstance(r, RedisError)]
        if errs:
            raise RuntimeError('; '.join(str(e) for e in errs[:5]))


# --- data --------------------------------------------------------------------------

def fill(farm, rng, prefix='', n=2500):
    """About n keys of every type, each unit sent to its group's master:
    strings (integers, text, binary values), binary key names, hash-tagged
    groups of keys and empty tags ("{}" is slot 0 in Codis), small and
    >128-field hashes, lists (one of 5000 elements), sets and intsets, small
    and big zsets, streams with consumer groups and pending entries, TTLs
    (EXPIRE and PEXPIREAT). Returns the keys."""
    p = prefix.encode()
    u = n // 25
    units = []

    def add(key, *cmds):
        units.append((key, list(cmds)))
    for i in range(8 * u):
        k = p + b's:%d' % i
        x = i % 3
        v = str(rng.randrange(-10 ** 12, 10 ** 12)) if x == 0 else ('v%d' % i if x == 1 else rng.randbytes(60))
        add(k, ['SET', k, v])
        if i % 7 == 0:
            add(k, ['EXPIRE', k, 3600 + i])
    for i in range(u):
        k = bytes([0x80 + i % 128, 0xff, 0x00]) + p + b'bin:\r\n%d' % i
        add(k, ['SET', k, rng.randbytes(16)])
    for i in range(u):
        t = p + b'{user%d}' % i
        add(t, ['SET', t + b':name', 'u%d' % i], ['RPUSH', t + b':cart', 'a', 'b', str(i)],
            ['HSET', t + b':prefs', 'lang', 'en', 'n', str(i)], ['SADD', t + b':tags', 'x', 'y%d' % (i % 5)])
    for i in range(u // 2):
        k = b'{}' + p + b'empty-tag:%d' % i
        add(k, ['SET', k, 'slot zero %d' % i])
    for i in range(3 * u):
        k = p + b'h:%d' % i
        add(k, ['HSET', k] + sum((['f%d' % j, 'v%d' % j] for j in range(i % 5 + 1)), []))
        if i % 11 == 0:
            add(k, ['PEXPIREAT', k, now_ms() + 7200000 + i])
    for i in range(8):
        k = p + b'hbig:%d' % i
        add(k, ['HSET', k] + sum((['field-%d' % j, 'x' * (j % 40)] for j in range(200)), []))
    for i in range(3 * u):
        k = p + b'l:%d' % i
        add(k, ['RPUSH', k] + ['e%d' % j for j in range(i % 7 + 1)])
    k = p + b'biglist'
    add(k, *[['RPUSH', k] + ['item-%d' % j for j in range(i, i + 1000)] for i in range(0, 5000, 1000)])
    for i in range(2 * u):
        k = p + b'set:%d' % i
        add(k, ['SADD', k] + ['m%d' % j for j in range(i % 6 + 1)])
    for i in range(u):
        k = p + b'iset:%d' % i
        add(k, ['SADD', k] + [str(j * 7) for j in range(i % 9 + 1)])
    for i in range(2 * u):
        k = p + b'z:%d' % i
        add(k, ['ZADD', k] + sum(([repr(j * 0.5 - 1), 'm%d' % j] for j in range(i % 5 + 1)), []))
    for i in range(8):
        k = p + b'zbig:%d' % i
        add(k, ['ZADD', k] + sum(([repr(j * 1.25), 'member-%d' % j] for j in range(300)), []))
        if i % 2:
            add(k, ['EXPIRE', k, 90000])
    for i in range(5):
        st = p + b'st:%d' % i
        add(st, *[['XADD', st, '*', 'n', str(j), 'pad', 'y' * (j % 30)] for j in range(40)],
            ['XGROUP', 'CREATE', st, 'g1', '0'],
            ['XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '5', 'STREAMS', st, '>'],
            ['XGROUP', 'CREATE', st, 'g2', '$'])
    farm.run(units)
    keys = set()
    for _k, cmds in units:
        for c in cmds:
            if c[0] in ('SET', 'RPUSH', 'HSET', 'SADD', 'ZADD', 'XADD'):
                keys.add(c[1])
    return keys


class CodisWriter:
    """A write load on the group masters in a thread, each key on its
    group's master as a proxy would send it: SET, APPEND, INCR, RPUSH+LTRIM,
    HSET, SADD, ZADD, EXPIRE, PERSIST, DEL, XADD, SETs with a 300 ms TTL,
    binary names, and MULTI/EXEC over one hash tag (one slot: one master)."""

    def __init__(self, topo, seed, rate=2000, keys=300):
        self.topo = topo
        self.rng = random.Random(seed)
        self.rate = rate
        self.keys = keys
        self.ops = 0
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def k(self, fam):
        return b'w:%s:%d' % (fam, self.rng.randrange(self.keys))

    def unit(self):
        r = self.rng
        x = r.random()
        v = 'v%d' % r.randrange(10 ** 6)
        if x < 0.14:
            k = self.k(b's')
            return k, [['SET', k, v]]
        if x < 0.18:
            k = self.k(b's')
            return k, [['APPEND', k, 'x']]
        if x < 0.26:
            k = self.k(b'n')
            return k, [['INCR', k]]
        if x < 0.34:
            k = self.k(b'l')
            return k, [['RPUSH', k, v], ['LTRIM', k, -30, -1]]
        if x < 0.42:
            k = self.k(b'h')
            return k, [['HSET', k, 'f%d' % r.randrange(20), v]]
        if x < 0.48:
            k = self.k(b'set')
            return k, [['SADD', k, 'm%d' % r.randrange(50)]]
        if x < 0.54:
            k = self.k(b'z')
            return k, [['ZADD', k, r.randrange(1000), 'm%d' % r.randrange(50)]]
        if x < 0.60:
            k = self.k(r.choice((b's', b'h', b'set')))
            return k, [['EXPIRE', k, r.randint(3600, 86400)]]
        if x < 0.63:
            k = self.k(b's')
            return k, [['PERSIST', k]]
        if x < 0.68:
            k = self.k(r.choice((b's', b'l', b'h', b'z')))
            return k, [['DEL', k]]
        if x < 0.72:
            k = self.k(b'tmp')
            return k, [['SET', k, v, 'PX', 300]]
        if x < 0.76:
            k = b'\xfe\x00w:bin:%d' % r.randrange(50)
            return k, [['SET', k, v]]
        if x < 0.88:
            t = b'{wt%d}' % r.randrange(40)
            return t, [['MULTI'], ['SET', t + b':a', v], ['INCR', t + b':n'], ['RPUSH', t + b':l', v],
                       ['LTRIM', t + b':l', -20, -1], ['HSET', t + b':h', 'f', v], ['EXEC']]
        k = self.k(b'x')
        return k, [['XADD', k, 'MAXLEN', '~', 50, '*', 'f', v]]

    def run(self):
        conns = {}
        try:
            conns = {p: Conn(p) for p in self.topo.ports()}
            t0 = time.time()
            while not self.stopping.is_set():
                by = {}
                n = 0
                for _ in range(30):
                    key, cmds = self.unit()
                    by.setdefault(self.topo.port_of(key), []).extend(cmds)
                    n += sum(1 for c in cmds if c[0] not in ('MULTI', 'EXEC'))
                for port, cmds in by.items():
                    for rep in conns[port].pipeline(cmds):
                        if isinstance(rep, RedisError):
                            self.errors.append(str(rep))
                        elif isinstance(rep, list):
                            self.errors += [str(x) for x in rep if isinstance(x, RedisError)]
                self.ops += n
                ahead = self.ops / float(self.rate) - (time.time() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        except (OSError, ConnectionError) as e:
            self.errors.append('connection: %s' % e)
        finally:
            for c in conns.values():
                c.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(30)
        return self.ops


# --- comparing ---------------------------------------------------------------------

def compare(rep, what, farm, dst, ttl_ms=2000):
    """Every key of the group masters against the target (a Cluster: on the
    master owning the key's cluster slot; else a Conn to a standalone
    server): the same set of keys, type, DEBUG DIGEST-VALUE, expire time
    within ttl_ms, stream consumer groups. True when all passed."""
    ok = True
    by = farm.keys_by_master()
    src_at = {k: p for p, ks in by.items() for k in ks}
    keys = list(src_at)
    misplaced = [(k, p) for k, p in src_at.items() if farm.topo.port_of(k) != p]
    ok &= rep.check(not misplaced, '%s: every source key is on the master of its Codis group (%d keys)' % (
        what, len(keys)), '; '.join('%s on %d' % (short(k), p) for k, p in misplaced[:5]))
    if isinstance(dst, Cluster):
        where = dst.all_keys()
        dst_set, n_dst = set(where), dst.dbsize()
    else:
        dst_set = set(scan_keys(dst))
        n_dst = dst.call('DBSIZE')
    missing = [k for k in keys if k not in dst_set]
    extra = [k for k in dst_set if k not in src_at]
    ok &= rep.check(n_dst == len(keys) and not missing and not extra,
                    '%s: the target holds exactly the masters\' %d keys' % (what, len(keys)),
                    'the target holds %d; %d missing (e.g. %s), %d extra (e.g. %s)' % (
                        n_dst, len(missing), ', '.join('%s (master %d)' % (short(k), src_at[k]) for k in missing[:6]),
                        len(extra), ', '.join(short(k) for k in extra[:6])))
    if isinstance(dst, Cluster):
        owners = dst.slot_map()
        bad = [(k, p) for k, p in where.items() if owners[slot_of(k)][1] != p]
        ok &= rep.check(not bad, '%s: every key is on the cluster master owning its slot' % what,
                        '; '.join('%s on %d' % (short(k), p) for k, p in bad[:5]))
    a = {}
    for port, ks in by.items():
        a.update(values(farm.conns[port], ks))
    b = cluster_values(dst, keys) if isinstance(dst, Cluster) else values(dst, keys)
    diff = []
    for k in keys:
        (da, ta, ya), (db_, tb, yb) = a[k], b[k]
        if da != db_ or ya != yb:
            diff.append('%s: %s digest %s, target %s digest %s%s' % (
                short(k), ya, str(da)[:12], yb, str(db_)[:12], ' (missing)' if tb == -2 else ''))
        elif (ta < 0) != (tb < 0) or (ta >= 0 and abs(ta - tb) > ttl_ms):
            diff.append('%s: expires at %d on its master, %d on the target (ms)' % (short(k), ta, tb))
    ok &= rep.check(not diff, '%s: type, DEBUG DIGEST-VALUE and expire time equal for all %d keys' % (
        what, len(keys)), '%d differ, first: %s' % (len(diff), '; '.join(diff[:8])))
    streams = [k for k in keys if a[k][2] == 'stream'][:20]
    sd = []
    for k in streams:
        want = stream_groups(farm.conns[src_at[k]], k)
        if isinstance(dst, Cluster):
            tc = dst.conn(dst.node_for_slot(slot_of(k))[1])
            try:
                got = stream_groups(tc, k) if b[k][2] == 'stream' else None
            finally:
                tc.close()
        else:
            got = stream_groups(dst, k) if b[k][2] == 'stream' else None
        if got != want:
            sd.append('%s: %r != %r' % (short(k), got, want))
    if streams:
        ok &= rep.check(not sd, '%s: stream consumer groups equal (%d streams)' % (what, len(streams)),
                        '; '.join(sd[:4]))
    return ok


def target_digest(dst):
    return dst.digest() if isinstance(dst, Cluster) else dst.call('DEBUG', 'DIGEST')


def converge(farm, dst, r, timeout=40, stuck=8):
    """Until the target's (combined) DEBUG DIGEST equals the masters'
    combined one: '' then; else why not (after timeout, when rmig exits, or
    when the target has not changed for `stuck` seconds)."""
    deadline = time.time() + timeout
    last, changed = None, time.time()
    while True:
        want, got = farm.digest(), target_digest(dst)
        if want == got:
            return ''
        if got != last:
            last, changed = got, time.time()
        now = time.time()
        if not r.alive():
            return 'rmig exited (rc %r); target digest %s, the masters\' %s' % (r.proc.poll(), got, want)
        if now > deadline or now - changed > stuck:
            return '%s: the target digest is %s, the masters\' %s' % (
                'after %d s' % timeout if now > deadline else 'the target did not change for %d s' % stuck, got, want)
        time.sleep(0.2)


def caught_up(r, names):
    got = set(re.findall(r'caught up with (\S+): live', r.stderr()))
    return [n for n in names if n in got]


def sync_counts(r, names):
    """{'host:port': (full, partial)} from the summary's "live HOST:PORT: F
    full and P partial syncs" lines."""
    out = {}
    for m in re.finditer(r'live (\S+): (\d+) full and (\d+) partial syncs', r.stdout()):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return {n: out.get(n) for n in names}


def tail(text, n=800):
    return text[-n:].replace('\n', ' | ')


def rtail(r, n=800):
    """The end of a background rmig's output, or, when a sanitizer stopped
    it, the report's first lines."""
    err = r.stderr()
    m = re.search(r'^.*(ERROR: AddressSanitizer|runtime error:).*$', err, re.M)
    if m:
        return ' | '.join(err[m.start():].splitlines()[:12])
    return r.tail(n)


# --- pipelines ---------------------------------------------------------------------

def codis_source(topo=None, groups=None, extra=''):
    if topo:
        return 'rmig.source.codis { topology = %s%s }' % (lua_string(topo), extra)
    return 'rmig.source.codis { groups = { %s }%s }' % (', '.join('"%s"' % g for g in groups), extra)


def pipeline(source, sink, nodes=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n  source = %s,\n  nodes = { %s },\n'
            '  sink = %s,\n}\n') % (source, nodes, sink)


def redis_sink(port):
    return 'rmig.sink.redis { addr = "127.0.0.1:%d" }' % port


def codis_sink(topo, extra=''):
    return 'rmig.sink.codis { topology = %s%s }' % (lua_string(topo), extra)


def rdb_source(path):
    return 'rmig.source.rdb { path = %s }' % lua_string(path)


# --- processes ---------------------------------------------------------------------

class Ctx:
    """A test run's context: run_scenarios sets rmig, rep (the Reporter),
    tmp, seed, and before each scenario servers and clusters (stopped after
    it); nverify numbers test_verify.verify's report files."""

    def __init__(self):
        self.nverify = 0


def server(ctx, d, name, config=()):
    s = Server(os.path.join(d, name), config=list(config), name=name).start()
    ctx.servers.append(s)
    return s


def masters(ctx, d, rng, config=(), ids=GROUP_IDS):
    """A group master per group id and their topology."""
    ports = [server(ctx, d, 'group%d' % g, MASTER + list(config)).port for g in ids]
    return Topo(ports, rng, ids)


def rmig_bg(ctx, d, text, name):
    return Rmig(ctx.rmig, write(d, name + '.lua', text), d, name)


def live_run(ctx, what, farm, dst, r, writer, write_s=4):
    """rmig (psync) has just started: `writer` (a CodisWriter, started now
    or before rmig) writes to the masters at least write_s seconds more and
    until rmig's stderr says it caught up with every master; then the
    writer stops, the target must converge, and SIGINT must end rmig with
    exit 0. True when it went to the end."""
    rep = ctx.rep
    names = ['127.0.0.1:%d' % p for p in farm.topo.ports()]
    w = writer if writer.thread.is_alive() else writer.start()
    t0 = time.time()
    up = wait_for(lambda: len(caught_up(r, names)) == len(names), 60, r, 0.1)
    t_up = time.time() - t0
    if time.time() - t0 < write_s:
        time.sleep(write_s - (time.time() - t0))
    ops = w.stop()
    if not rep.check(up, '%s: stderr says rmig caught up with each of the %d group masters (%.1f s, the writer '
                     'writing)' % (what, len(names), t_up), 'caught up with %r of %r; %s' % (
                         caught_up(r, names), names, r.tail())):
        r.stop(signal.SIGINT)
        return False
    rep.check(ops > 1000 and not w.errors, '%s: the writer wrote %d ops to the masters' % (what, ops),
              '%d errors: %s' % (len(w.errors), '; '.join(w.errors[:5])))
    why = converge(farm, dst, r)
    rep.check(not why, '%s: the target converges to the masters\' union (combined DEBUG DIGEST)' % what,
              why + '; ' + r.tail(1200))
    rc = r.stop(signal.SIGINT)
    rep.check(rc == 0, '%s: SIGINT: rmig exits 0' % what, 'rc %r; %s' % (rc, rtail(r)))
    return True


# --- rmig route --codis ------------------------------------------------------------

def route(ctx, topo_files, keys):
    """`rmig route --codis FILE... --keys-from -`: {key: (slot, group, master)}, or an error text."""
    args = ['route'] + sum((['--codis', f] for f in topo_files), []) + ['--keys-from', '-']
    rc, out, err = run_rmig(ctx.rmig, args, input=b''.join(escape(k) + b'\n' for k in keys))
    lines = out.split(b'\n')[:-1]
    if rc != 0 or len(lines) != len(keys):
        return 'rc %d, %d lines for %d keys: %s' % (rc, len(lines), len(keys), err[:300])
    res = {}
    for k, line in zip(keys, lines):
        f = line.split(b'\t')
        if len(f) != 4 or f[0] != escape(k):
            return 'line %r for key %r' % (line, k)
        res[k] = (int(f[1]), int(f[2]), f[3].decode())
    return res

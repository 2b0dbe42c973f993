#!/usr/bin/env python3
"""`rmig run`, `rmig verify`, `rmig check` and `rmig route --codis` with
rmig.source.codis and rmig.sink.codis. There is no codis-server here: the
group masters are redis-servers holding a real Codis layout (each key on the
master of its group: slot = crc32(tag or key) % 1024 with zlib's crc32 and
Codis's tag rule, then the topology's slot table), so a codis-server's own
commands come from two stand-ins (see stream_translation). Every comparison
is per key: type, DEBUG DIGEST-VALUE, expire time (PEXPIRETIME, within 2 s)
and a stream's consumer groups. Scenarios:

  psync_to_cluster  3 group masters (groups 1, 3, 7; each owns two ranges of
                    slots) with ~2.5k keys of every type (binary names, hash
                    tags and empty tags, small and big hashes, lists, sets,
                    intsets, zsets, streams with consumer groups, TTLs) into a
                    3-master Redis Cluster, a writer on the masters (each key
                    on its group's master; hash-tagged MULTI/EXEC, short TTLs,
                    XADD) from before the start: source = { groups = {...} }
                    catches up with each master, the cluster converges to the
                    masters' union (combined DEBUG DIGEST), SIGINT exits 0,
                    every key equal and on its cluster slot's master, "1 full
                    and 0 partial syncs" and a state file STATE.<host>_<port>
                    per master; then keys of every type and writes while rmig
                    is stopped, and a second run with topology = a YAML file
                    and the same state: "resuming after offset" and "0 full
                    and 1 partial syncs" for each master (the masters' own
                    INFO stats agree), equal again; rmig verify of that
                    pipeline: no difference
  stream_translation
                    (a) a group master started with --rename-command RESTORE
                    SLOTSRESTORE --rename-command DEL SLOTSDEL: first a raw
                    replica (SYNC) shows that Redis propagates the names the
                    client used; then, with rmig replicating it and another
                    master: SLOTSRESTORE key 0 payload (payloads DUMPed on
                    another server) of a string, hash, list, set and zset
                    reaches the target as RESTORE ... REPLACE (values equal,
                    no TTL); SLOTSDEL 17 (key "17" deleted on the master) is
                    named on stderr with the master, not replayed (the target
                    keeps its "17"), and the run goes on; a SLOTSRESTORE 17
                    afterwards replaces the target's older "17"; the form a
                    renamed 7.0 RESTORE propagates for a TTL (SLOTSRESTORE key
                    <unix ms> payload ABSTTL, never sent by codis-server) is
                    reported as malformed and not applied; SIGINT exits 1
                    with "failed 3" in the summary
                    (b) a codis-server 3.2 played by a socket (the replica
                    handshake, +FULLRESYNC with an RDB file, a stream):
                    one SLOTSRESTORE with three key/ttl/payload triples (a
                    relative TTL, one replacing a key the snapshot gave the
                    target), then two SLOTSRESTOREs sent together, then one
                    of 450 keys (over 4 KiB of TTL text) and another right
                    after it: every key equal, each expiring its TTL after it
                    was applied (or never); SIGINT exits 0, nothing failed
  scan              mode = "scan" from the 3 masters (topology: codis-admin's
                    --slots-status JSON) into a standalone target: exit 0,
                    every key equal; rmig check lists each group master;
                    rmig verify: no difference; a hash changed on the target:
                    exit 1 naming it; a key deleted too: both named
  sink              an RDB file of every type -> rmig.sink.codis { topology }
                    with 3 group masters, the topology as YAML and then as
                    --slots-status JSON (other group ids and slots, a slot
                    under migration): every key on exactly the master the
                    formula gives and `rmig route --codis` names (slot, group,
                    master), values equal, nothing else on any master; rmig
                    verify: no difference; rmig check lists each group master
  errors            a topology with a bad line (source and sink: exit 2
                    naming FILE:LINE; a master without a port too); neither
                    groups nor topology, and both (exit 2); an unreachable
                    group master (psync, scan, sink: exit 1 naming it); a key
                    of source db 3 into rmig.sink.codis: the run stops naming
                    it with the rmig.filter.db hint, exit 2; with that filter
                    it arrives in db 0 of its group master

usage: python3 test_codis.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data, topologies and writers; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import hashlib
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import sys
import threading
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Cluster, slot_of  # noqa: E402
from redis_harness import Conn, RedisError, Server, free_port, run_rmig, run_scenarios, short, write  # noqa: E402
from test_cluster import cluster_values, scan_keys, stream_groups, values  # noqa: E402
from test_codis_translate import escape, hashed  # noqa: E402
from test_psync import Rmig, info, kill_running, lua_string, wait_for  # noqa: E402
from test_verify import check_clean, check_only, verify  # noqa: E402

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
        lines = ['# groups of a Codis deployment (written by test_codis.py)', 'groups:']
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
    pass


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


# --- psync_to_cluster --------------------------------------------------------------------

def scenario_psync_to_cluster(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed)
    topo = masters(ctx, d, rng)
    cl = Cluster(os.path.join(d, 'cluster'), masters=3, replicas=0)
    ctx.clusters.append(cl)
    farm = Farm(topo)
    t0 = time.time()
    keys = fill(farm, rng)
    by = farm.keys_by_master()
    per = {p: len(ks) for p, ks in by.items()}
    held = {k: p for p, ks in by.items() for k in ks}
    rep.check(len(per) == 3 and min(per.values()) > 100 and set(held) == keys and
              all(topo.port_of(k) == p for k, p in held.items()),
              'psync: the 3 group masters hold the %d keys written, each on its group\'s master (%.1f s)' % (
                  len(keys), time.time() - t0), '%r; %d held, %d written' % (per, len(held), len(keys)))
    names = ['127.0.0.1:%d' % p for p in topo.ports()]
    state = os.path.join(d, 'state')
    sink = 'rmig.sink.cluster { addr = "127.0.0.1:%d" }' % cl.masters()[0][1]

    what = 'psync (groups) -> cluster'
    w0 = CodisWriter(topo, ctx.seed + 1).start()   # writing before rmig starts, during its full syncs and after
    time.sleep(0.5)
    r = rmig_bg(ctx, d, pipeline(codis_source(groups=names, extra=', state = %s' % lua_string(state)), sink),
                'first')
    if not live_run(ctx, what, farm, cl, r, w0):
        return
    compare(rep, what, farm, cl)
    counts = sync_counts(r, names)
    rep.check(all(v == (1, 0) for v in counts.values()), '%s: "1 full and 0 partial syncs" for each master' % what,
              '%r; stdout: %s' % (counts, tail(r.stdout())))
    files = ['%s.%s' % (state, n.replace(':', '_')) for n in names]
    rep.check(all(os.path.isfile(f) and os.path.getsize(f) > 0 for f in files),
              '%s: a state file per master (%s)' % (what, ', '.join(os.path.basename(f) for f in files)),
              'present: %r' % sorted(os.listdir(d)))
    rep.check('Codis: 3 group masters' in r.stderr() + r.stdout(), '%s: rmig says it reads 3 group masters' % what,
              tail(r.stderr()))

    # written while rmig is stopped (only the masters' backlogs have it), then resumed from the same state
    what = 'psync (topology YAML), resumed'
    fill(farm, rng, prefix='gap:', n=500)
    w = CodisWriter(topo, ctx.seed + 3).start()
    time.sleep(1.5)
    w.stop()
    rep.check(not w.errors, '%s: written to the masters while rmig was stopped (%d ops)' % (what, w.ops),
              w.errors[:3])
    yml = write(d, 'topo.yml', topo.yaml())
    r = rmig_bg(ctx, d, pipeline(codis_source(topo=yml, extra=', state = %s' % lua_string(state)), sink), 'second')
    if not live_run(ctx, what, farm, cl, r, CodisWriter(topo, ctx.seed + 4), write_s=3):
        return
    err = r.stderr()
    resumed = [n for n in names if re.search(r'%s: resuming after offset \d+' % re.escape(n), err)]
    rep.check(len(resumed) == 3, '%s: stderr says it resumes each master after its saved offset' % what,
              'for %r of %r; %s' % (resumed, names, tail(err)))
    counts = sync_counts(r, names)
    rep.check(all(v == (0, 1) for v in counts.values()), '%s: "0 full and 1 partial syncs" for each master' % what,
              '%r; stdout: %s' % (counts, tail(r.stdout())))
    stats = {p: (int(info(c, 'stats')['sync_full']), int(info(c, 'stats')['sync_partial_ok']))
             for p, c in farm.conns.items()}
    rep.check(all(v == (1, 1) for v in stats.values()),
              '%s: each master counts 1 full sync and 1 partial resync (INFO stats)' % what, stats)
    compare(rep, what, farm, cl)
    v = verify(ctx, d, os.path.join(d, 'second.lua'))
    check_clean(rep, '%s: rmig verify of the psync pipeline (the masters read by SCAN)' % what, v,
                checked=sum(len(ks) for ks in farm.keys_by_master().values()))
    farm.close()


# --- stream_translation -----------------------------------------------------------

def raw_stream(port, send, want, timeout=10):
    """A raw replica (SYNC) of the master on port: once its snapshot is
    read, send() runs, then the stream is read until it holds `want`.
    Returns the stream's bytes (after the snapshot)."""
    r = Conn(port, timeout=timeout)
    try:
        r.sock.sendall(Conn.encode(['SYNC']))
        buf = bytearray()
        deadline = time.time() + timeout

        def fill_until(cond):
            while not cond():
                if time.time() > deadline:
                    raise RuntimeError('raw replica of %d: timed out; read %r' % (port, bytes(buf[-200:])))
                r.sock.settimeout(max(0.1, deadline - time.time()))
                chunk = r.sock.recv(65536)
                if not chunk:
                    raise RuntimeError('raw replica of %d: the master closed the connection' % port)
                buf.extend(chunk)
        hdr = re.compile(rb'\n*\$(\d+)\r\n')
        fill_until(lambda: hdr.match(buf))
        m = hdr.match(buf)
        start = m.end() + int(m.group(1))
        fill_until(lambda: len(buf) >= start)
        send()
        fill_until(lambda: want in buf[start:])
        return bytes(buf[start:])
    finally:
        r.close()


def encode_reply(v):
    """A reply as redis_harness.Conn returns it, in RESP2 again."""
    if isinstance(v, RedisError):
        return b'-%s\r\n' % str(v).encode()
    if isinstance(v, str):
        return b'+%s\r\n' % v.encode()
    if isinstance(v, int):
        return b':%d\r\n' % v
    if v is None:
        return b'$-1\r\n'
    if isinstance(v, bytes):
        return b'$%d\r\n%s\r\n' % (len(v), v)
    return b'*%d\r\n' % len(v) + b''.join(encode_reply(x) for x in v)


class FakeCodisMaster:
    """A codis-server 3.2 as its replica sees it, played by a socket: it
    answers the handshake (AUTH, PING, REPLCONF: +OK/+PONG; PSYNC:
    +FULLRESYNC, then the RDB file given as "$<len>\\r\\n<bytes>"), then sends
    what send() queues as its replication stream and a PING each second (as
    a master does), and reads and drops the replica's REPLCONF ACKs. Other
    commands (COMMAND, which rmig reads its command table from) are asked
    from the real server on helper_port. It puts in rmig's stream what only
    a codis-server sends: SLOTSRESTORE with several triples and relative
    TTLs."""

    REPLID = 'c0d15' + '5' * 35

    def __init__(self, rdb, helper_port):
        self.rdb = rdb
        self.helper_port = helper_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.queue = []
        self.seen = []           # the commands the replica sent before the stream
        self.syncs = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, cmds):
        with self.lock:
            self.queue.extend(Conn.encode(c) for c in cmds)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.lsock.close()

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve_and_close, args=(c,), daemon=True).start()

    def serve_and_close(self, c):
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def parse(buf):
        """One command (a RESP array of bulks, or an inline line) from buf:
        (args, bytes used), or None when buf does not hold all of it."""
        if buf[:1] != b'*':
            i = buf.find(b'\n')
            return None if i < 0 else (bytes(buf[:i]).split(), i + 1)
        i = buf.find(b'\r\n')
        if i < 0:
            return None
        pos, args = i + 2, []
        for _ in range(int(buf[1:i])):
            j = buf.find(b'\r\n', pos)
            if j < 0:
                return None
            n = int(buf[pos + 1:j])
            if len(buf) < j + 2 + n + 2:
                return None
            args.append(bytes(buf[j + 2:j + 2 + n]))
            pos = j + 2 + n + 2
        return args, pos

    def serve(self, c):
        buf = bytearray()
        streaming = False
        last_ping = time.time()
        while not self.stopping.is_set():
            if streaming:
                with self.lock:
                    out, self.queue = b''.join(self.queue), []
                if time.time() - last_ping >= 1:
                    out += Conn.encode(['PING'])
                    last_ping = time.time()
                if out:
                    c.sendall(out)
            ready, _, _ = select.select([c], [], [], 0.05)
            if not ready:
                continue
            chunk = c.recv(65536)
            if not chunk:
                return
            if streaming:
                continue          # REPLCONF ACK: dropped
            buf.extend(chunk)
            while True:
                got = self.parse(buf)
                if got is None:
                    break
                args, used = got
                del buf[:used]
                if not args:
                    continue
                name = args[0].upper()
                self.seen.append(name.decode('latin-1'))
                if name == b'PING':
                    c.sendall(b'+PONG\r\n')
                elif name in (b'PSYNC', b'SYNC'):
                    self.syncs += 1
                    head = b'+FULLRESYNC %s 0\r\n' % self.REPLID.encode() if name == b'PSYNC' else b''
                    c.sendall(head + b'$%d\r\n' % len(self.rdb) + self.rdb)
                    streaming = True
                    break
                elif name in (b'AUTH', b'REPLCONF'):
                    c.sendall(b'+OK\r\n')
                else:
                    h = Conn(self.helper_port, timeout=10)
                    try:
                        h.sock.sendall(Conn.encode(args))
                        c.sendall(encode_reply(h.read_reply()))
                    finally:
                        h.close()


def scenario_stream_translation(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 10)
    renamed = ['--rename-command', 'RESTORE', 'SLOTSRESTORE', '--rename-command', 'DEL', 'SLOTSDEL']
    # (a PING each second: rmig counts the snapshot of a full sync at offset 0 (a master that never had a
    # replica) as applied only once the stream's first bytes come, 10 s later from an idle master)
    ping = ['--repl-ping-replica-period', '1']
    g1 = server(ctx, d, 'group1', MASTER + renamed + ping)
    g2 = server(ctx, d, 'group2', MASTER + ping)
    dumps = server(ctx, d, 'dumps')       # where the payloads are made
    tgt = server(ctx, d, 'target')
    m1, m2, pl, t = g1.conn(), g2.conn(), dumps.conn(), tgt.conn()

    # (a.1) does Redis propagate a renamed command under the client's name?
    m1.call('SET', 'probe:a', 'x')
    probe = m1.call('DUMP', 'probe:a')

    def send():
        m1.call('SLOTSRESTORE', 'probe:b', 0, probe)
        m1.call('SLOTSRESTORE', 'probe:c', 60000, probe)
        m1.call('SLOTSDEL', 'probe:a', 'probe:b', 'probe:c')
    stream = raw_stream(g1.port, send, b'$8\r\nSLOTSDEL\r\n')
    as_named = Conn.encode(['SLOTSRESTORE', 'probe:b', 0, probe]) in stream and \
        Conn.encode(['SLOTSDEL', 'probe:a', 'probe:b', 'probe:c']) in stream
    abs_ttl = re.search(rb'\*5\r\n\$12\r\nSLOTSRESTORE\r\n\$7\r\nprobe:c\r\n\$13\r\n\d{13}\r\n\$\d+\r\n', stream) \
        is not None and b'ABSTTL' in stream
    print('# a renamed command in the stream of Redis %s: %s; a RESTORE with a TTL goes as %s' % (
        info(m1, 'server')['redis_version'].strip(),
        'under the name the client used' if as_named else 'NOT under the client\'s name',
        'SLOTSRESTORE key <unix ms> payload ABSTTL' if abs_ttl else 'something else'), flush=True)
    rep.check(as_named, 'stream (renamed commands): a raw replica sees SLOTSRESTORE key 0 payload and SLOTSDEL '
              'keys, the names the client used', short(stream[-400:], 400))
    if as_named:
        stream_renamed(ctx, d, rng, g1, g2, m1, m2, pl, tgt.port, t, abs_ttl)
    else:
        print('# stream (renamed commands): Redis does not propagate the client\'s name: skipped')
    m1.close()
    m2.close()
    stream_fake_master(ctx, d, pl, dumps.port, tgt.port, t)
    pl.close()
    t.close()


def stream_renamed(ctx, d, rng, g1, g2, m1, m2, pl, tport, t, abs_ttl):
    rep = ctx.rep
    what = 'stream (renamed commands)'
    # the snapshot: "17" (a key whose name is also a slot number) among others on group 1, others on group 2
    m1.pipeline([['SET', '17', 'old seventeen'], ['HSET', 'g1:h', 'a', '1'], ['SET', 'g1:s', 'snap']])
    m2.pipeline([['RPUSH', 'g2:l', 'a', 'b'], ['SET', 'g2:s', 'snap', 'EX', 3600]])
    names = ['127.0.0.1:%d' % g1.port, '127.0.0.1:%d' % g2.port]
    state = os.path.join(d, 'state-renamed')
    r = rmig_bg(ctx, d, pipeline(codis_source(groups=names, extra=', state = %s' % lua_string(state)),
                                 redis_sink(tport)), 'renamed')
    up = wait_for(lambda: len(caught_up(r, names)) == 2, 60, r, 0.1)
    if not rep.check(up and t.call('GET', '17') == b'old seventeen',
                     '%s: rmig replicates both group masters; the target has "17" from the snapshot' % what,
                     r.tail()):
        r.stop(signal.SIGINT)
        return
    # payloads of every type, DUMPed on another server
    vals = {b'sr:str': [['SET', '@', rng.randbytes(40)]],
            b'sr:hash': [['HSET', '@'] + sum((['f%d' % i, 'v%d' % i] for i in range(150)), [])],
            b'sr:list': [['RPUSH', '@'] + ['e%d' % i for i in range(20)]],
            b'sr:set': [['SADD', '@'] + [str(i) for i in range(30)]],
            b'sr:zset': [['ZADD', '@'] + sum(([repr(i / 3.0), 'm%d' % i] for i in range(40)), [])],
            b'17': [['SET', '@', 'new seventeen']]}
    payload = {}
    for k, cmds in vals.items():
        pl.pipeline([[k if a == '@' else a for a in c] for c in cmds])
        payload[k] = pl.call('DUMP', k)
    m1.call('SLOTSDEL', '17')             # the stream says SLOTSDEL 17: a Codis slot, not replayable
    time.sleep(0.5)
    restored = [k for k in vals if k != b'17']
    for k in restored:
        m1.call('SLOTSRESTORE', k, 0, payload[k])
    if abs_ttl:
        m1.call('SLOTSRESTORE', 'sr:abs', 60000, payload[b'sr:str'])
    m1.call('SET', 'sr:after', 'still here')
    ok = wait_for(lambda: t.call('GET', 'sr:after') == b'still here', 20, r, 0.1)
    rep.check(ok, '%s: commands after SLOTSDEL and SLOTSRESTORE still arrive' % what, r.tail())
    rep.check(t.call('GET', '17') == b'old seventeen',
              '%s: SLOTSDEL 17 is not replayed: the target keeps its "17"' % what, t.call('GET', '17'))
    err = r.stderr()
    rep.check(re.search(r'127\.0\.0\.1:%d: .*SLOTSDEL 17' % g1.port, err),
              '%s: stderr names the master and "SLOTSDEL 17"' % what, tail(err))
    m1.call('SLOTSRESTORE', '17', 0, payload[b'17'])
    m1.call('SET', 'sr:after2', 'x')
    wait_for(lambda: t.call('EXISTS', 'sr:after2'), 20, r, 0.1)
    bad = []
    for k in vals:
        want = pl.call('DEBUG', 'DIGEST-VALUE', k)
        got, at = t.call('DEBUG', 'DIGEST-VALUE', k), t.call('PEXPIRETIME', k)
        if want != got or at != -1:
            bad.append('%s: digest %s (want %s), expires at %d' % (short(k), got, want, at))
    rep.check(not bad, '%s: SLOTSRESTORE key 0 payload of a string, a hash, a list, a set and a zset arrives as '
              'the same values without a TTL, and SLOTSRESTORE 17 replaces the target\'s older "17"' % what,
              '; '.join(bad))
    if abs_ttl:
        rep.check(not t.call('EXISTS', 'sr:abs') and
                  re.search(r'127\.0\.0\.1:%d: SLOTSRESTORE takes key ttl payload triples' % g1.port, r.stderr()),
                  '%s: SLOTSRESTORE key <unix ms> payload ABSTTL (what a renamed 7.0 RESTORE propagates for a TTL, '
                  'never sent by codis-server) is reported as malformed and not applied' % what, tail(r.stderr()))
    # a SLOTSDEL whose argument is no slot number (codis-server would refuse it): reported too
    m1.call('SLOTSDEL', 'g1:s')
    m1.call('SET', 'sr:after3', 'x')
    wait_for(lambda: t.call('EXISTS', 'sr:after3'), 20, r, 0.1)
    rep.check(t.call('GET', 'g1:s') == b'snap' and 'g1:s' in r.stderr(),
              '%s: SLOTSDEL g1:s is reported naming its argument, and not replayed' % what, tail(r.stderr()))
    rc = r.stop(signal.SIGINT)
    nfailed = 2 + (1 if abs_ttl else 0)
    m = re.search(r'failed (\d+)', r.stdout())
    rep.check(rc == 1 and m and int(m.group(1)) == nfailed,
              '%s: SIGINT: exit 1, the summary counts the %d commands not replayed as failed' % (what, nfailed),
              'rc %r; %s' % (rc, rtail(r)))
    rep.check(t.call('GET', 'g1:s') == b'snap' and t.call('LRANGE', 'g2:l', 0, -1) == [b'a', b'b'],
              '%s: the other keys are the snapshot\'s' % what)


def stream_fake_master(ctx, d, pl, helper_port, tport, t):
    rep = ctx.rep
    what = 'stream (a codis-server 3.2 played by a socket)'
    t.call('FLUSHALL')
    # the snapshot: an RDB file from a real server, with a key the stream will replace
    snap = server(ctx, d, 'snapshot')
    sc = snap.conn()
    sc.pipeline([['SET', 'fk:old', 'from the snapshot'], ['HSET', 'fk:keep', 'a', '1'], ['SAVE']])
    with open(os.path.join(snap.dir, snap.dbfilename), 'rb') as f:
        rdb = f.read()
    sc.close()
    snap.stop()
    fake = FakeCodisMaster(rdb, helper_port)
    try:
        addr = '127.0.0.1:%d' % fake.port
        state = os.path.join(d, 'state-fake')
        r = rmig_bg(ctx, d, pipeline(codis_source(groups=[addr], extra=', state = %s' % lua_string(state)),
                                     redis_sink(tport)), 'fake')
        ok = wait_for(lambda: t.call('EXISTS', 'fk:keep') and t.call('GET', 'fk:old'), 30, r, 0.1)
        if not rep.check(ok == b'from the snapshot', '%s: rmig joins it (%s) and applies its snapshot' % (
                what, ' '.join(fake.seen)), r.tail()):
            r.stop(signal.SIGINT)
            return
        values = {b'fk:a': ['HSET', '@', 'x', '1', 'y', '2'], b'fk:b': ['RPUSH', '@', 'p', 'q', 'r'],
                  b'fk:old': ['SET', '@', 'restored over the snapshot'],
                  b'fk:c': ['ZADD', '@', '1.5', 'one', '-2', 'two'],
                  b'{t}fk:d': ['SADD', '@', 'm1', 'm2'], b'fk:e': ['SET', '@', 'e'], b'fk:f': ['RPUSH', '@', 'f', 'g']}
        pl.call('FLUSHALL')
        payload = {}
        for k, c in values.items():
            pl.call(*[k if a == '@' else a for a in c])
            payload[k] = pl.call('DUMP', k)

        def round_(label, restores):
            """Sends the SLOTSRESTOREs (each a list of (key, ttl)) at once,
            then a mark; checks every key on the target."""
            mark = 'fk:mark:%s' % label
            cmds = [['SLOTSRESTORE'] + [x for k, ttl in triples for x in (k, ttl, payload[k])] for triples in restores]
            t0 = now_ms()
            fake.send([['SELECT', 0]] + cmds + [['SET', mark, '1']])
            ok = wait_for(lambda: t.call('EXISTS', mark), 20, r, 0.02)
            t1 = now_ms() + 1
            bad = [] if ok else ['the stream did not reach the target: %s' % rtail(r, 300)]
            for k, ttl in (kt for triples in restores for kt in triples):
                if ttl:   # (a digest says whether a key has a TTL, not which)
                    pl.call('PEXPIRE', k, ttl)
                want = pl.call('DEBUG', 'DIGEST-VALUE', k)
                got, at = t.call('DEBUG', 'DIGEST-VALUE', k), t.call('PEXPIRETIME', k)
                if want != got:
                    bad.append('%s: digest %s, want %s%s' % (short(k), got[0][:10], want[0][:10],
                                                            ' (missing)' if at == -2 else ''))
                elif ttl == 0 and at != -1:
                    bad.append('%s: expires at %d, should not' % (short(k), at))
                elif ttl and not (t0 + ttl - 1 <= at <= t1 + ttl + 1):
                    bad.append('%s: expires %d ms after the send, want %d' % (short(k), at - t0, ttl))
            return bad
        bad = round_('one', [[(b'fk:a', 0), (b'fk:b', 45000), (b'fk:old', 0)]])
        rep.check(not bad, '%s: one SLOTSRESTORE with 3 key/ttl/payload triples: every key equal, fk:b expiring '
                  '45000 ms after it was applied, the others never, the snapshot\'s fk:old replaced' % what,
                  '; '.join(bad))
        # two at once: they are translated one after the other before the batch goes out
        bad = round_('two', [[(b'fk:c', 120000), (b'{t}fk:d', 7000)], [(b'fk:e', 0), (b'fk:f', 30000)]])
        rep.check(not bad, '%s: two SLOTSRESTOREs arriving together (2 triples each, relative TTLs): every key '
                  'equal, each expiring its own TTL after it was applied (or never)' % what, '; '.join(bad))
        # a big one (its TTLs' text alone over 4 KiB) and a small one at once
        pl.call('SET', 'fk:bulk', 'bulk value')
        bulk_payload = pl.call('DUMP', 'fk:bulk')
        pl.call('PEXPIRE', 'fk:bulk', 10 ** 9)
        bulk_digest = pl.call('DEBUG', 'DIGEST-VALUE', 'fk:bulk')
        bulk = [(b'fk:bulk:%d' % i, 3 * 10 ** 9 + i * 1000) for i in range(450)]
        t0 = now_ms()
        fake.send([['SLOTSRESTORE'] + [x for k, ttl in bulk for x in (k, ttl, bulk_payload)],
                   ['SLOTSRESTORE', b'fk:g', 0, payload[b'fk:e']], ['SET', 'fk:mark:bulk', '1']])
        ok = wait_for(lambda: t.call('EXISTS', 'fk:mark:bulk'), 20, r, 0.02)
        t1 = now_ms() + 1
        bad = [] if ok else ['the stream did not reach the target (%s)' % ('rmig exited %r: %s' % (
            r.proc.poll(), rtail(r, 300)) if not r.alive() else 'timeout')]
        if ok:
            got = t.pipeline([c for k, _ in bulk for c in (['DEBUG', 'DIGEST-VALUE', k], ['PEXPIRETIME', k])])
            for i, (k, ttl) in enumerate(bulk):
                d_, at = got[2 * i], got[2 * i + 1]
                if at == -2:
                    bad.append('%s: missing' % short(k))
                elif d_ != bulk_digest or not (t0 + ttl - 1 <= at <= t1 + ttl + 1):
                    bad.append('%s: %s, expires %d ms after the send, want %d' % (
                        short(k), 'equal' if d_ == bulk_digest else 'differs', at - t0, ttl))
            if t.call('GET', 'fk:g') != b'e' or t.call('PEXPIRETIME', 'fk:g') != -1:
                bad.append('fk:g: %r, expires at %r' % (t.call('GET', 'fk:g'), t.call('PEXPIRETIME', 'fk:g')))
        rep.check(not bad, '%s: a SLOTSRESTORE of 450 keys (over 4 KiB of TTL text) and another right after it: '
                  'every key equal, expiring its own TTL after it was applied' % what,
                  '%d wrong: %s' % (len(bad), '; '.join(bad[:4])))
        rep.check(t.call('HGET', 'fk:keep', 'a') == b'1', '%s: the snapshot\'s other key stays' % what)
        rc = r.stop(signal.SIGINT)
        rep.check(rc == 0 and re.search(r'failed 0\b', r.stdout()), '%s: SIGINT: exit 0, nothing failed' % what,
                  'rc %r; %s' % (rc, rtail(r)))
    finally:
        fake.stop()


# --- scan ---------------------------------------------------------------------------

def scenario_scan(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 20)
    topo = masters(ctx, d, rng)
    farm = Farm(topo)
    fill(farm, rng, n=1500)
    n = sum(len(ks) for ks in farm.keys_by_master().values())
    tgt = server(ctx, d, 'target')
    t = tgt.conn()
    sj = write(d, 'slots.json', topo.slots_status())
    what = 'scan (--slots-status JSON)'
    p = write(d, 'scan.lua', pipeline(codis_source(topo=sj, extra=', mode = "scan"'), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
    out = out.decode('utf-8', 'replace')
    rep.check(rc == 0, '%s: rmig run exits 0' % what, 'rc %d; %s; %s' % (rc, tail(out), tail(err)))
    m = re.search(r'read (\d+) keys, wrote (\d+)', out)
    rep.check(m and int(m.group(1)) == n and int(m.group(2)) == n, '%s: read and wrote the masters\' %d keys' % (
        what, n), tail(out))
    compare(rep, what, farm, t)
    rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
    out = out.decode('utf-8', 'replace')
    listed = [g for g in topo.ids if re.search(r'group %d, %s: Redis [\d.]+, %d keys' % (
        g, re.escape(topo.addr(g)), len(farm.keys_by_master()[topo.groups[g]])), out)]
    rep.check(rc == 0 and len(listed) == 3 and 'rmig.source.codis: 3 group masters of %s' % sj in out,
              '%s: rmig check exits 0 and lists each group master with its keys' % what,
              'rc %d, listed %r; %s; %s' % (rc, listed, tail(out, 1200), tail(err)))
    v = verify(ctx, d, p)
    check_clean(rep, '%s: rmig verify' % what, v, checked=n)
    victim = b'{user3}:prefs'
    t.call('HSET', victim, 'lang', 'fr')
    v = verify(ctx, d, p)
    check_only(rep, '%s: rmig verify after a hash changed on the target' % what, v, 'value', 1, keys=[(0, victim)])
    t.call('DEL', b's:5')
    v = verify(ctx, d, p)
    rep.check(v.rc == 1 and (0, b's:5') in v.named('missing') and (0, victim) in v.named('value'),
              '%s: rmig verify after a key deleted too: exit 1 naming both' % what, v.details())
    farm.close()
    t.close()


# --- sink -----------------------------------------------------------------------------

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


def sink_check(ctx, d, what, topo, topo_file, rdb, src_conn):
    rep = ctx.rep
    farm = Farm(topo)
    try:
        p = write(d, 'sink-%s.lua' % os.path.basename(topo_file), pipeline(rdb_source(rdb), codis_sink(topo_file)))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=120)
        out = out.decode('utf-8', 'replace')
        rep.check(rc == 0 and 'Codis: 3 group masters' in err + out, '%s: rmig run exits 0, writing to 3 group '
                  'masters' % what, 'rc %d; %s; %s' % (rc, tail(out), tail(err)))
        keys = scan_keys(src_conn)
        routes = route(ctx, [topo_file], keys)
        if not rep.check(isinstance(routes, dict), '%s: rmig route --codis prints a line per key' % what, routes):
            return
        bad_route = [(k, routes[k]) for k in keys
                     if routes[k] != (codis_slot(k), topo.group_of(k), topo.addr(topo.group_of(k)))]
        rep.check(not bad_route, '%s: rmig route --codis gives each of %d keys the slot crc32(tag or key) %% 1024 '
                  'and that slot\'s group and master' % (what, len(keys)),
                  '; '.join('%s: %r, want slot %d group %d' % (short(k), r_, codis_slot(k), topo.group_of(k))
                            for k, r_ in bad_route[:4]))
        if topo.moving:
            s, frm, to = topo.moving
            n_moving = sum(1 for k in keys if codis_slot(k) == s)
            rep.check(n_moving and all(routes[k][1] == to for k in keys if codis_slot(k) == s),
                      '%s: the %d keys of slot %d, under migration from group %d, go to group %d' % (
                          what, n_moving, s, frm, to))
        by = farm.keys_by_master()
        want = {}
        for k in keys:
            want.setdefault(topo.port_of(k), set()).add(k)
        wrong = []
        for port, ks in by.items():
            for k in set(ks) - want.get(port, set()):
                wrong.append('%s on %d (group %d), want %d' % (short(k), port, topo.group_of(k), topo.port_of(k)))
            for k in want.get(port, set()) - set(ks):
                wrong.append('%s missing on %d' % (short(k), port))
        rep.check(not wrong, '%s: every key on exactly the master of its group, nothing else on any master (%s)' % (
            what, ', '.join('%d' % len(by[p]) for p in topo.ports())), '; '.join(wrong[:6]))
        a = values(src_conn, keys)
        diff = []
        for port, ks in want.items():
            b = values(farm.conns[port], list(ks))
            for k in ks:
                (da, ta, ya), (db_, tb, yb) = a[k], b[k]
                if da != db_ or ya != yb or (ta < 0) != (tb < 0) or abs(ta - tb) > 2000:
                    diff.append('%s: %s %s %d, on its master %s %s %d' % (short(k), ya, da[:10], ta, yb,
                                                                          str(db_)[:10], tb))
        rep.check(not diff, '%s: type, DEBUG DIGEST-VALUE and expire time equal for all %d keys' % (
            what, len(keys)), '; '.join(diff[:6]))
        v = verify(ctx, d, p)
        check_clean(rep, '%s: rmig verify' % what, v, checked=len(keys))
        rc, out, err = run_rmig(ctx.rmig, ['check', p], timeout=60)
        out = out.decode('utf-8', 'replace')
        listed = [g for g in topo.ids if re.search(r'group %d, %s: Redis [\d.]+, %d keys' % (
            g, re.escape(topo.addr(g)), len(want.get(topo.groups[g], ()))), out)]
        rep.check(rc == 0 and len(listed) == 3 and 'rmig.sink.codis: 3 group masters of %s' % topo_file in out,
                  '%s: rmig check exits 0 and lists each group master with its keys' % what,
                  'rc %d, listed %r; %s; %s' % (rc, listed, tail(out, 1200), tail(err)))
    finally:
        for c in farm.conns.values():
            c.call('FLUSHALL')
        farm.close()


def scenario_sink(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 30)
    src = server(ctx, d, 'source')
    s = src.conn()
    fill(One(s), rng, n=2000)
    s.pipeline([['SET', b'{moving}:%d' % i, 'm%d' % i] for i in range(20)])
    s.call('SAVE')
    rdb = os.path.join(d, 'source.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb)
    rep.check(s.call('DBSIZE') > 1500, 'sink: the source file holds %d keys of every type' % s.call('DBSIZE'))
    topo = masters(ctx, d, rng)
    yml = write(d, 'topo.yml', topo.yaml())
    sink_check(ctx, d, 'sink (YAML)', topo, yml, rdb, s)
    # the same masters as other groups with other slots, in codis-admin's JSON, one slot being migrated
    topo2 = Topo(topo.ports(), rng, ids=(2, 5, 9))
    slot = codis_slot(b'{moving}:1')
    topo2.move(slot, next(g for g in topo2.ids if g != topo2.slot_group[slot]))
    sj = write(d, 'slots.json', topo2.slots_status())
    sink_check(ctx, d, 'sink (--slots-status JSON)', topo2, sj, rdb, s)
    s.close()


# --- errors ----------------------------------------------------------------------------

def scenario_errors(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 40)
    g = server(ctx, d, 'group1', MASTER)
    gc = g.conn()
    gc.call('SET', 'k', 'v')
    tgt = server(ctx, d, 'target')
    t = tgt.conn()
    bad = write(d, 'bad.yml', 'groups:\n  1: "127.0.0.1:%d"\nslots:\n  "0-600": 1\n  "500-1023": 1\n' % g.port)
    p = write(d, 'bad-source.lua', pipeline(codis_source(topo=bad), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:5:' % bad in err, 'errors: source.topology with slots given twice: exit 2 naming '
              'FILE:LINE', 'rc %d; %s' % (rc, tail(err)))
    # small RDB files for the sinks: one key in db 0; and one more in db 3
    src = server(ctx, d, 'src')
    sc = src.conn()
    sc.pipeline([['SET', 'a', '1'], ['SAVE']])
    rdb = os.path.join(d, 'db0.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb)
    sc.pipeline([['SELECT', 3], ['SET', 'in-db-3', 'x'], ['SELECT', 0], ['SAVE']])
    rdb3 = os.path.join(d, 'db3.rdb')
    shutil.copy(os.path.join(src.dir, src.dbfilename), rdb3)
    p = write(d, 'bad-sink.lua', pipeline(rdb_source(rdb), codis_sink(bad)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:5:' % bad in err, 'errors: sink.topology with slots given twice: exit 2 naming '
              'FILE:LINE', 'rc %d; %s' % (rc, tail(err)))
    bad2 = write(d, 'bad2.yml', 'groups:\n  1: "127.0.0.1:%d"\n  2: "nowhere"\nslots:\n  "0-1023": 1\n' % g.port)
    p = write(d, 'bad2-source.lua', pipeline(codis_source(topo=bad2), redis_sink(tgt.port)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 2 and '%s:3:' % bad2 in err, 'errors: a group master without a port: exit 2 naming FILE:LINE',
              'rc %d; %s' % (rc, tail(err)))

    for label, src_text in (('neither groups nor topology', 'rmig.source.codis { }'),
                            ('both groups and topology', 'rmig.source.codis { groups = { "127.0.0.1:%d" }, '
                             'topology = %s }' % (g.port, lua_string(bad)))):
        p = write(d, 'usage.lua', pipeline(src_text, redis_sink(tgt.port)))
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
        rep.check(rc == 2 and 'groups' in err and 'topology' in err,
                  'errors: rmig.source.codis with %s: exit 2 saying to give one' % label, 'rc %d; %s' % (rc, tail(err)))

    dead = free_port()
    gone = '127.0.0.1:%d' % dead
    for mode in ('psync', 'scan'):
        p = write(d, 'dead-%s.lua' % mode, pipeline(codis_source(groups=['127.0.0.1:%d' % g.port, gone],
                                                                 extra=', mode = "%s", state = %s' % (
                                                                     mode, lua_string(os.path.join(d, 'st')))),
                                                    redis_sink(tgt.port)))
        t0 = time.time()
        rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=90)
        rep.check(rc == 1 and gone in err, 'errors: an unreachable group master (%s): exit 1 naming it (%.1f s)' % (
            mode, time.time() - t0), 'rc %d; %s' % (rc, tail(err)))
    topo = Topo([g.port, dead], rng, ids=(1, 2))
    dy = write(d, 'dead.yml', topo.yaml())
    p = write(d, 'dead-sink.lua', pipeline(rdb_source(rdb), codis_sink(dy)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 1 and gone in err, 'errors: sink with an unreachable group master: exit 1 naming it',
              'rc %d; %s' % (rc, tail(err)))

    one = Topo([g.port], rng, ids=(4,))
    oy = write(d, 'one.yml', one.yaml())
    gc.call('FLUSHALL')
    p = write(d, 'db3.lua', pipeline(rdb_source(rdb3), codis_sink(oy)))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc != 0 and '"in-db-3" is in db 3' in err and 'rmig.filter.db { map = { [3] = 0 } }' in err and
              'dbs = "merge"' in err, 'errors: a key of db 3 into rmig.sink.codis: the run stops naming the key and '
              'db, with the hint (rmig.filter.db, dbs)', 'rc %d; %s' % (rc, tail(err)))
    rep.check(rc == 2, 'errors: a key of db 3 into rmig.sink.codis: exit 2 (a pipeline to change)',
              'rc %d; %s' % (rc, tail(err)))
    p = write(d, 'db3-map.lua', pipeline(rdb_source(rdb3), codis_sink(oy), 'rmig.filter.db { map = { [3] = 0 } }'))
    rc, out, err = run_rmig(ctx.rmig, ['run', p], timeout=60)
    rep.check(rc == 0 and gc.call('GET', 'in-db-3') == b'x' and gc.call('GET', 'a') == b'1',
              'errors: with rmig.filter.db { map = { [3] = 0 } } the key arrives in db 0 of its group master',
              'rc %d; %s' % (rc, tail(err)))
    sc.close()
    gc.close()
    t.close()


SCENARIOS = [('psync_to_cluster', scenario_psync_to_cluster), ('stream_translation', scenario_stream_translation),
             ('scan', scenario_scan), ('sink', scenario_sink), ('errors', scenario_errors)]


def main():
    ctx = Ctx()
    ctx.nverify = 0
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-codis-', ctx, on_end=kill_running)


if __name__ == '__main__':
    sys.exit(main())

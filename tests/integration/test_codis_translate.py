#!/usr/bin/env python3
"""The translation of a codis-server's replication stream, applied to a real
target, and `rmig route --codis` against Codis's slot formula.

A source redis-server holds the values (strings, lists, hashes, sets,
zsets; small and big; with and without a TTL; in db 0 and db 2). From them
the test forms the commands a codis-server 3.2 propagates to its replicas
when it is the target of a Codis migration, argument for argument as
slots.c / slots_async.c write them: SLOTSRESTORE with several key/ttl/
payload triples (the TTL relative, in ms, never below 1 for a key with an
expiry), and the SLOTSRESTORE-ASYNC messages (delete; string / object for
whole values; list / hash / dict / zset chunks with the migration's
temporary TTL, the value's size as hint and zset scores as raw little-endian
double bits; expire with the real TTL last), with the -SELECT / -AUTH / -ACK
commands and the migration commands mixed in. Payloads are the source's
DUMP and, for SLOTSRESTORE, also payloads in codis-server 3.2's own RDB 7
encodings (plain set, hash, zset with text scores, a quicklist of
ziplists). The stream goes through codis_translate_tool (rmig_codis_translate
in a filter; not a user command), its output is applied to a target
redis-server, and every key must equal the source's (DEBUG DIGEST-VALUE)
with its expiry at the instant the relative TTL gives (PEXPIRETIME, between
the send and the reply, in ms), or none. Keys the target held before (as
a codis-server's replica would, when codis-server replicates the delete)
are replaced. The chunk modes: by default a chunk appends to whatever the
key holds (what a replica does); with --replace-first the first chunk of a
key replaces it.

Then `rmig route --codis`: 4000 keys (tags, empty tags, '{' alone, random
bytes) on stdin, from a YAML topology and from codis-admin JSON (--slots-status
with a slot under migration, --list-group), each line checked against
crc32(tag or key) % 1024 (zlib) and the file's groups; and a wrong file
exits 2 naming the file and line.

usage: python3 test_codis_translate.py /path/to/rmig --tool /path/to/codis_translate_tool [--only NAME,...]
environment: RMIG_TEST_SEED (the values and keys; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import json
import os
import random
import struct
import subprocess
import sys
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Conn, RedisError, Server, run_rmig, run_scenarios, short, write  # noqa: E402

TIMEOUT_MS = 30000        # codis-server's default async migration timeout
CHUNK_TTL = 3 * TIMEOUT_MS  # the TTL its chunks carry
MAXBULKS = 4              # small, so that big values come in several chunks

# ---- encodings ----


def resp(cmds):
    return b''.join(Conn.encode(c) for c in cmds)


def parse_resp(buf):
    """Every top-level value of a RESP byte string (arrays and bulks only)."""
    out, pos = [], 0

    def value(pos):
        end = buf.index(b'\r\n', pos)
        t, n = buf[pos:pos + 1], int(buf[pos + 1:end])
        pos = end + 2
        if t == b'$':
            return buf[pos:pos + n], pos + n + 2
        if t == b'*':
            items = []
            for _ in range(n):
                v, pos = value(pos)
                items.append(v)
            return items, pos
        raise ValueError('unexpected RESP type %r' % t)
    while pos < len(buf):
        v, pos = value(pos)
        out.append(v)
    return out


_CRC64 = []


def crc64(data):
    """CRC-64/Jones as Redis computes it (reflected 0xad93d23594c935a9, init 0)."""
    if not _CRC64:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x95ac9329ac4bc9b5 if c & 1 else c >> 1
            _CRC64.append(c)
    crc = 0
    for b in data:
        crc = _CRC64[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc


def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xff])
    return b'\x80' + struct.pack('>I', n)


def rdb_str(s):
    return rdb_len(len(s)) + s


def payload_v7(type_byte, body):
    """A DUMP payload as codis-server 3.2 writes one: RDB version 7."""
    data = bytes([type_byte]) + body + b'\x07\x00'
    return data + struct.pack('<Q', crc64(data))


def ziplist(items):
    entries, prev, offsets, pos = [], 0, [], 10
    for it in items:
        assert len(it) < 64
        e = (bytes([prev]) if prev < 254 else b'\xfe' + struct.pack('<I', prev)) + bytes([len(it)]) + it
        offsets.append(pos)
        pos += len(e)
        prev = len(e)
        entries.append(e)
    body = b''.join(entries)
    total = 10 + len(body) + 1
    return struct.pack('<IIH', total, offsets[-1] if offsets else 10, len(items)) + body + b'\xff'


def codis32_payloads():
    """(name, payload, the value as commands to build it natively) in the
    encodings codis-server 3.2 DUMPs: a string, a hashtable set (type 2), a
    hashtable hash (4), a skiplist zset with text scores (3), a quicklist of
    ziplists (14)."""
    members = [b'm%d' % i for i in range(5)]
    fields = [(b'f%d' % i, b'v%d' % i) for i in range(4)]
    zs = [(b'a', 1.5), (b'b', -2.25), (b'c', 0.1), (b'd', float('inf')), (b'e', float('-inf'))]

    def zscore(d):
        if d == float('inf'):
            return b'\xfe'
        if d == float('-inf'):
            return b'\xff'
        t = repr(d).encode()
        return bytes([len(t)]) + t
    items = [b'x', b'yy', b'zzz', b'1234', b'']
    return [
        ('v7string', payload_v7(0, rdb_str(b'hello codis')), [['SET', '@', b'hello codis']]),
        ('v7set', payload_v7(2, rdb_len(len(members)) + b''.join(rdb_str(m) for m in members)),
         [['SADD', '@'] + members]),
        ('v7hash', payload_v7(4, rdb_len(len(fields)) + b''.join(rdb_str(f) + rdb_str(v) for f, v in fields)),
         [['HSET', '@'] + [x for fv in fields for x in fv]]),
        ('v7zset', payload_v7(3, rdb_len(len(zs)) + b''.join(rdb_str(m) + zscore(s) for m, s in zs)),
         [['ZADD', '@'] + [x for m, s in zs for x in (repr(s), m)]]),
        ('v7list', payload_v7(14, rdb_len(2) + rdb_str(ziplist(items[:3])) + rdb_str(ziplist(items[3:]))),
         [['RPUSH', '@'] + items]),
    ]


# ---- values ----

class Value:
    """One key of the source: its db, type, elements and TTL (ms, 0 none)."""

    def __init__(self, db, key, kind, elems, ttl):
        self.db, self.key, self.kind, self.elems, self.ttl = db, key, kind, elems, ttl

    def build(self):
        k = self.key
        if self.kind == 'string':
            cmds = [['SET', k, self.elems]]
        elif self.kind == 'list':
            cmds = [['RPUSH', k] + self.elems]
        elif self.kind == 'hash':
            cmds = [['HSET', k] + [x for fv in self.elems for x in fv]]
        elif self.kind == 'set':
            cmds = [['SADD', k] + self.elems]
        else:
            cmds = [['ZADD', k] + [x for m, s in self.elems for x in (repr(s), m)]]
        if self.ttl:
            cmds.append(['PEXPIRE', k, self.ttl])
        return cmds


def rand_bytes(rng, lo, hi):
    return bytes(rng.randrange(256) for _ in range(rng.randrange(lo, hi)))


def make_values(rng, prefix, n_each=3):
    vals = []
    for db in (0, 2):
        for kind in ('string', 'list', 'hash', 'set', 'zset'):
            for i in range(n_each):
                big = i % 2 == 1          # odd ones are sent in chunks by the async form
                ttl = rng.choice([0, 0, rng.randrange(100000, 900000)])
                count = rng.randrange(9, 23) if big else rng.randrange(1, MAXBULKS)
                key = b'%s:{%s}:%d:%d:' % (prefix, kind.encode(), db, i) + rand_bytes(rng, 0, 4)
                if kind == 'string':
                    elems = rand_bytes(rng, 0, 300)
                elif kind == 'list':
                    elems = [rand_bytes(rng, 0, 20) for _ in range(count)]
                elif kind == 'hash':
                    elems = [(b'f%d' % j + rand_bytes(rng, 0, 3), rand_bytes(rng, 0, 20)) for j in range(count)]
                elif kind == 'set':
                    elems = [b'm%d' % j + rand_bytes(rng, 0, 5) for j in range(count)]
                else:
                    scores = [rng.uniform(-1e6, 1e6), 0.1, -0.0, float('inf'), float('-inf'), 1e300, 3.0]
                    elems = [(b'z%d' % j + rand_bytes(rng, 0, 3), scores[j] if j < len(scores) else rng.random())
                             for j in range(count)]
                vals.append(Value(db, key, kind, elems, ttl))
    return vals


def load_source(src, vals):
    cmds = []
    cur = None
    for v in vals:
        if v.db != cur:
            cmds.append(['SELECT', v.db])
            cur = v.db
        cmds += v.build()
    cmds.append(['SELECT', 0])
    errs = [r for r in src.pipeline(cmds) if isinstance(r, RedisError)]
    if errs:
        raise RuntimeError('loading the source: %s' % errs[:3])


def ttl_now(src, v):
    """The TTL a codis-server sends for this key now: expireat - now, at least
    1; 0 when the key has none."""
    src.call('SELECT', v.db)
    at = src.call('PEXPIRETIME', v.key)
    src.call('SELECT', 0)
    if at < 0:
        return 0
    return max(1, at - int(time.time() * 1000))


def dump(src, v):
    src.call('SELECT', v.db)
    d = src.call('DUMP', v.key)
    src.call('SELECT', 0)
    return d


def chunks(lst, n):
    return [lst[i:i + n] for i in range(0, len(lst), n)]


def async_messages(src, v, with_delete):
    """The SLOTSRESTORE-ASYNC messages a codis-server's migration sends (and
    its target replicates) for one key, as slots_async.c builds them."""
    ttl = ttl_now(src, v)
    msgs = [['SLOTSRESTORE-ASYNC', 'delete', v.key]] if with_delete else []
    n = len(v.elems) if v.kind != 'string' else 1
    if v.kind == 'string':
        return msgs + [['SLOTSRESTORE-ASYNC', 'string', v.key, ttl, v.elems]]
    if n < MAXBULKS:   # one message: the whole value as a DUMP payload
        return msgs + [['SLOTSRESTORE-ASYNC', 'object', v.key, ttl, dump(src, v)]]
    sub = {'list': 'list', 'hash': 'hash', 'set': 'dict', 'zset': 'zset'}[v.kind]
    if v.kind == 'list':
        args = list(v.elems)
    elif v.kind == 'hash':
        args = [x for fv in v.elems for x in fv]
    elif v.kind == 'set':
        args = list(v.elems)
    else:   # from the highest rank down, scores as raw little-endian bits
        args = [x for m, s in reversed(sorted(v.elems, key=lambda e: (e[1], e[0])))
                for x in (m, struct.pack('<d', s))]
    per = MAXBULKS if v.kind in ('list', 'set') else MAXBULKS // 2 * 2
    for part in chunks(args, per):
        msgs.append(['SLOTSRESTORE-ASYNC', sub, v.key, CHUNK_TTL, n] + part)
    return msgs + [['SLOTSRESTORE-ASYNC', 'expire', v.key, ttl]]


# ---- running the translation ----

def translate(ctx, cmds, replace_first=False):
    args = [ctx.tool] + (['--replace-first'] if replace_first else [])
    p = subprocess.run(args, input=resp(cmds), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise RuntimeError('codis_translate_tool: %s' % p.stderr.decode('utf-8', 'replace'))
    frames = parse_resp(p.stdout)
    if len(frames) != len(cmds):
        raise RuntimeError('%d commands in, %d answers out' % (len(cmds), len(frames)))
    return [(f[0].decode(), f[1].decode(), f[2].decode('utf-8', 'replace'), f[3:]) for f in frames]


def apply(tgt, frames):
    """Sends every translated command; returns (errors, t_before_ms, t_after_ms)."""
    cmds = [c for _, _, _, out in frames for c in out] + [['SELECT', 0]]
    t0 = int(time.time() * 1000)
    replies = tgt.pipeline(cmds)
    t1 = int(time.time() * 1000) + 1
    errs = [(short(b' '.join(c[:3]), 80), str(r)) for c, r in zip(cmds, replies) if isinstance(r, RedisError)]
    return errs, t0, t1


def digest(conn, db, key):
    conn.call('SELECT', db)
    d = conn.call('DEBUG', 'DIGEST-VALUE', key)
    at = conn.call('PEXPIRETIME', key)
    conn.call('SELECT', 0)
    return d, at


def compare(ctx, src, tgt, vals, ttls, t0, t1, what):
    """Every value on the target equals the source's, expiring at t + ttl
    for a t in [t0, t1] (or never)."""
    bad = []
    for v in vals:
        sd, _ = digest(src, v.db, v.key)
        td, at = digest(tgt, v.db, v.key)
        ttl = ttls[v.key]
        if sd != td:
            bad.append('%s (%s, db %d): value differs' % (short(v.key), v.kind, v.db))
        elif ttl == 0 and at != -1:
            bad.append('%s: expires at %d, should not expire' % (short(v.key), at))
        elif ttl and not (t0 + ttl - 1 <= at <= t1 + ttl + 1):
            bad.append('%s: expires at %d, not within [%d, %d] + %d' % (short(v.key), at, t0, t1, ttl))
    ctx.rep.check(not bad, '%s: %d keys equal the source, each expiring when its TTL says' % (what, len(vals)),
                  '; '.join(bad[:5]))


def servers(ctx, d):
    src = Server(os.path.join(d, 'src'), name='src').start()
    tgt = Server(os.path.join(d, 'tgt'), name='tgt').start()
    ctx.servers += [src, tgt]
    return src.conn(), tgt.conn()


# ---- scenarios ----

def scenario_slotsrestore(ctx, d):
    rng = random.Random(ctx.seed)
    src, tgt = servers(ctx, d)
    vals = make_values(rng, b'sr')
    load_source(src, vals)
    # a few keys the target already holds (another value, another type): SLOTSRESTORE replaces
    tgt.pipeline([['SET', vals[1].key, 'stale'], ['RPUSH', vals[6].key, 'old'], ['PEXPIRE', vals[6].key, 5000]])
    cmds, ttls, cur = [], {}, 0
    for db in (0, 2):
        group = [v for v in vals if v.db == db]
        cmds.append(['SELECT', db])
        for part in chunks(group, 3):   # three keys per SLOTSRESTORE, as a tag's keys go together
            cmd = ['SLOTSRESTORE']
            for v in part:
                ttls[v.key] = ttl_now(src, v)
                cmd += [v.key, ttls[v.key], dump(src, v)]
            cmds.append(cmd)
    # codis-server 3.2's own payload encodings (RDB 7), compared with the same values built natively
    natives = []
    cmds.append(['SELECT', 0])
    for name, pl, build in codis32_payloads():
        key, ref = b'sr:' + name.encode(), b'ref:' + name.encode()
        for c in build:
            src.call(*[ref if a == '@' else a for a in c])
        natives.append((key, ref))
        cmds.append(['SLOTSRESTORE', key, 0, pl])
    frames = translate(ctx, cmds)
    outcomes = [f[0] for f in frames]
    ctx.rep.check(all(o == 'translated' for o in outcomes), 'slotsrestore: every command is translated',
                  outcomes)
    n_restore = sum(1 for f in frames for c in f[3] if c[0] == b'RESTORE')
    ctx.rep.check(n_restore == len(vals) + len(natives), 'slotsrestore: one RESTORE per key/ttl/payload triple',
                  '%d RESTOREs for %d keys' % (n_restore, len(vals) + len(natives)))
    ctx.rep.check(all(c[-1] == b'REPLACE' for f in frames for c in f[3] if c[0] == b'RESTORE'),
                  'slotsrestore: every RESTORE replaces')
    errs, t0, t1 = apply(tgt, frames)
    ctx.rep.check(not errs, 'slotsrestore: the target takes every translated command', errs[:3])
    compare(ctx, src, tgt, vals, ttls, t0, t1, 'slotsrestore')
    bad = [short(k) for k, ref in natives
           if src.call('DEBUG', 'DIGEST-VALUE', ref) != tgt.call('DEBUG', 'DIGEST-VALUE', k) or
           tgt.call('PTTL', k) != -1]
    ctx.rep.check(not bad, 'slotsrestore: codis-server 3.2 payloads (RDB 7: string, hashtable set and hash, '
                  'skiplist zset with text scores, quicklist of ziplists) restore to the same values', bad)
    # a negative TTL never comes from codis-server: refused, nothing sent
    frames = translate(ctx, [['SLOTSRESTORE', b'neg', -5, dump(src, vals[0])]])
    ctx.rep.check(frames[0][0] == 'malformed' and not frames[0][3] and 'negative' in frames[0][2],
                  'slotsrestore: a negative TTL is refused and nothing goes out', frames[0][:3])


def scenario_async(ctx, d):
    rng = random.Random(ctx.seed + 1)
    src, tgt = servers(ctx, d)
    vals = make_values(rng, b'as')
    load_source(src, vals)
    cmds, ttls, cur = [], {}, None
    with_delete = set()
    stale = []
    for i, v in enumerate(vals):
        if i % 3 == 0:   # the codis-server target had an older copy: it replicates the delete
            with_delete.add(v.key)
            stale += [['SELECT', v.db], ['SADD', v.key, 'stale1', 'stale2'], ['PEXPIRE', v.key, 999999]]
    tgt.pipeline(stale + [['SELECT', 0]])
    # what a migration connection sends first, and control messages the stream may show
    cmds.append(['SLOTSRESTORE-ASYNC-AUTH', 'secret-pass'])
    for v in vals:
        if v.db != cur:
            cmds.append(['SLOTSRESTORE-ASYNC-SELECT', v.db])
            cur = v.db
        ttls[v.key] = ttl_now(src, v)
        cmds += async_messages(src, v, v.key in with_delete)
        if rng.random() < 0.2:
            cmds.append(['SLOTSRESTORE-ASYNC-ACK', 0, '1'])
    cmds.append(['SLOTSRESTORE-ASYNC-SELECT', 0])
    frames = translate(ctx, cmds)
    kinds = {}
    for (o, form, why, out), c in zip(frames, cmds):
        kinds.setdefault(form, set()).add(o)
    ctx.rep.check(kinds.get('async-auth') == {'control'} and kinds.get('async-ack', {'control'}) == {'control'} and
                  kinds.get('async-select') == {'translated'},
                  'async: -AUTH and -ACK are dropped as control, -SELECT becomes SELECT', kinds)
    ctx.rep.check(not any(b'secret-pass' in c for f in frames for out in f[3] for c in out) and
                  not any('secret-pass' in f[2] for f in frames),
                  'async: the -AUTH password is neither forwarded nor shown')
    forms = set(kinds)
    want = {'async-delete', 'async-expire', 'async-string', 'async-object', 'async-list', 'async-hash',
            'async-dict', 'async-zset'}
    ctx.rep.check(want <= forms and all(kinds[f] == {'translated'} for f in want),
                  'async: every data form (delete, expire, string, object, list, hash, dict, zset) is translated',
                  kinds)
    errs, t0, t1 = apply(tgt, frames)
    ctx.rep.check(not errs, 'async: the target takes every translated command', errs[:3])
    compare(ctx, src, tgt, vals, ttls, t0, t1, 'async')


def scenario_chunk_modes(ctx, d):
    """A key the target holds while the codis-server target did not (no delete
    replicated): appended to by default, replaced with --replace-first."""
    rng = random.Random(ctx.seed + 2)
    src, tgt = servers(ctx, d)
    v = Value(0, b'cm:list', 'list', [b'e%d' % i for i in range(10)], 0)
    h = Value(0, b'cm:hash', 'hash', [(b'f%d' % i, b'v%d' % i) for i in range(9)], rng.randrange(200000, 400000))
    load_source(src, [v, h])
    for replace_first in (False, True):
        tgt.call('FLUSHALL')
        tgt.pipeline([['RPUSH', v.key, 'old1', 'old2'], ['HSET', h.key, 'gone', 'x']])
        ttls = {v.key: 0, h.key: ttl_now(src, h)}
        cmds = async_messages(src, v, False) + async_messages(src, h, False)
        frames = translate(ctx, cmds, replace_first)
        errs, t0, t1 = apply(tgt, frames)
        ctx.rep.check(not errs, 'chunks (%s): the target takes every command' %
                      ('replace-first' if replace_first else 'append'), errs[:3])
        if replace_first:
            compare(ctx, src, tgt, [v, h], ttls, t0, t1, 'chunks (replace-first): an old copy is replaced')
        else:
            got = tgt.call('LRANGE', v.key, 0, -1)
            ctx.rep.check(got == [b'old1', b'old2'] + v.elems and tgt.call('HGET', h.key, 'gone') == b'x',
                          'chunks (append, a replica\'s behaviour): chunks append to what the key held', got)


def scenario_dropped(ctx, d):
    src, tgt = servers(ctx, d)
    tgt.call('SET', 'keep', '1')
    cmds = [
        ['SLOTSMGRTSLOT', '127.0.0.1', 6380, 100, 5],
        ['SLOTSMGRTTAGONE', '127.0.0.1', 6380, 100, 'keep'],
        ['SLOTSMGRTSLOT-ASYNC', '127.0.0.1', 6380, 30000, 200, 524288, 5, 100],
        ['SLOTSMGRT-ASYNC-FENCE'], ['SLOTSMGRT-ASYNC-CANCEL'],
        ['SLOTSINFO'], ['SLOTSHASHKEY', 'a', 'b'], ['SLOTSSCAN', 5, 0], ['SLOTSCHECK'],
        ['SLOTSDEL', 5, 17],
        ['SLOTSMGRT-EXEC-WRAPPER', 'w', 'SET', 'w', 'wrapped'],
        ['SET', 'plain', 'x'],
    ]
    frames = translate(ctx, cmds)
    got = [(f[0], f[1]) for f in frames]
    want = [('control', 'migrate')] * 5 + [('control', 'read-only')] * 4 + [
        ('unreplayable', 'slotsdel'), ('translated', 'exec-wrapper'), ('translated', 'plain')]
    ctx.rep.check(got == want, 'dropped: migrations and reads are control, SLOTSDEL unreplayable, the wrapper and '
                  'plain commands go on', got)
    ctx.rep.check('SLOTSDEL 5 17' in frames[9][2], 'dropped: SLOTSDEL is reported with its slots', frames[9][2])
    errs, _, _ = apply(tgt, frames)
    ctx.rep.check(not errs and tgt.call('GET', 'w') == b'wrapped' and tgt.call('GET', 'plain') == b'x' and
                  tgt.call('GET', 'keep') == b'1',
                  'dropped: only the wrapped and plain commands reach the target', errs)


# ---- rmig route --codis ----

def hashed(key):
    beg = key.find(b'{')
    if beg >= 0:
        end = key[beg + 1:].find(b'}')
        if end >= 0:
            return key[beg + 1:beg + 1 + end]
    return key


def escape(key):
    return b''.join(b'\\x%02x' % c if c < 0x20 or c >= 0x7f or c == 0x5c else bytes([c]) for c in key)


def route_keys(rng, n):
    keys = [b'', b'{}', b'{}abc', b'abc{}', b'{', b'}', b'}{', b'{user}:1', b'x{user}y', b'{a}{b}', b'{{a}}']
    pieces = [b'{', b'}', b'user', b':', b'\\', b'\x00', b'\n', b'\xff', b'{}']
    while len(keys) < n:
        r = rng.random()
        if r < 0.3:
            keys.append(rand_bytes(rng, 0, 24))
        elif r < 0.8:
            keys.append(b''.join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))))
        else:
            keys.append(b'user:%d' % rng.randrange(10 ** 6))
    return keys


def check_routes(ctx, args, keys, groups, slot_group, what):
    rc, out, err = run_rmig(ctx.rmig, ['route'] + args + ['--keys-from', '-'],
                            input=b''.join(escape(k) + b'\n' for k in keys))
    lines = out.split(b'\n')[:-1]
    if not ctx.rep.check(rc == 0 and len(lines) == len(keys), '%s: rmig route prints one line per key' % what,
                         'rc %d, %d lines for %d keys: %s' % (rc, len(lines), len(keys), err[:300])):
        return
    bad = []
    for k, line in zip(keys, lines):
        slot = zlib.crc32(hashed(k)) % 1024
        g = slot_group[slot]
        want = b'%s\t%d\t%d\t%s' % (escape(k), slot, g, groups[g].encode())
        if line != want:
            bad.append('%r: %r, want %r' % (k, line, want))
    ctx.rep.check(not bad, '%s: %d keys, each in slot crc32(tag or key) %% 1024 and its group\'s master' %
                  (what, len(keys)), '; '.join(bad[:3]))


def scenario_route(ctx, d):
    rng = random.Random(ctx.seed + 3)
    keys = route_keys(rng, 4000)
    groups = {1: '10.1.0.1:6379', 2: '10.1.0.2:6380', 7: '[fd00::7]:6381'}
    cuts = sorted(rng.sample(range(1, 1024), 2))
    slot_group = [1 if s < cuts[0] else 2 if s < cuts[1] else 7 for s in range(1024)]
    yml = write(d, 'topo.yml', 'groups:\n%s\nslots:\n  "0-%d": 1\n  "%d-%d": 2\n  "%d-1023": 7\n' % (
        '\n'.join('  %d: "%s"' % (g, a) for g, a in groups.items()), cuts[0] - 1, cuts[0], cuts[1] - 1, cuts[1]))
    check_routes(ctx, ['--codis', yml], keys, groups, slot_group, 'route (YAML)')

    # codis-admin's JSON: --list-group and --slots-status, a slot under migration from 1 to 7
    moving = rng.randrange(1024)
    status = []
    for s in range(1024):
        g = slot_group[s]
        e = {'id': s, 'backend_addr': groups[g], 'backend_addr_group_id': g, 'forward_method': 1}
        if s == moving:
            e = {'id': s, 'backend_addr': groups[7], 'backend_addr_group_id': 7, 'migrate_from': groups[1],
                 'migrate_from_group_id': 1, 'forward_method': 1}
        status.append(e)
    lg = [{'id': g, 'servers': [{'server': a, 'datacenter': '', 'action': {}, 'replica_group': False},
                                {'server': '10.9.9.9:%d' % g, 'datacenter': '', 'action': {},
                                 'replica_group': False}],
           'promoting': {}, 'out_of_sync': False} for g, a in groups.items()]
    sj = write(d, 'slots.json', json.dumps(status, indent=4))
    gj = write(d, 'groups.json', json.dumps(lg, indent=4))
    slot_group2 = list(slot_group)
    slot_group2[moving] = 7
    check_routes(ctx, ['--codis', gj, '--codis', sj], keys, groups, slot_group2,
                 'route (codis-admin --list-group and --slots-status)')
    rc, _, err = run_rmig(ctx.rmig, ['route', '--codis', sj, 'k'])
    ctx.rep.check(rc == 0 and ('slot %d is being migrated from group 1 to group 7' % moving) in err,
                  'route: a slot under migration is named on stderr', err[:300])

    bad = write(d, 'bad.yml', 'groups: { 1: "h:1" }\nslots:\n  "0-600": 1\n  "500-1023": 1\n')
    rc, out, err = run_rmig(ctx.rmig, ['route', '--codis', bad, 'k'])
    ctx.rep.check(rc == 2 and not out and ('%s:4: slot 500 is given twice' % bad) in err,
                  'route: overlapping slots exit 2 naming the file and line', err)
    rc, out, err = run_rmig(ctx.rmig, ['route', '--codis', yml])
    ctx.rep.check(rc == 2 and 'no keys given' in err, 'route: no keys is a usage error (exit 2)', err)


SCENARIOS = [('slotsrestore', scenario_slotsrestore), ('async', scenario_async),
             ('chunk_modes', scenario_chunk_modes), ('dropped', scenario_dropped), ('route', scenario_route)]


def main():
    args = sys.argv[1:]
    tool = None
    if '--tool' in args:
        i = args.index('--tool')
        tool = args[i + 1] if i + 1 < len(args) else None
        del args[i:i + 2]
    if not tool:
        print(__doc__)
        return 2

    class Ctx:
        pass
    ctx = Ctx()
    ctx.tool = os.path.abspath(tool)
    return run_scenarios(args, SCENARIOS, __doc__, 'rmig-codis-', ctx)


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""The round trip rmig promises: what a Redis 7.0 server saved comes back,
through `rmig inspect --raw` payloads and RESTORE, as the same data.

usage: python3 test_roundtrip.py /path/to/rmig
environment: RMIG_CORPUS (shared/corpus; the corpus part is skipped without it)

For each server configuration (defaults, rdbcompression no, list-compress-depth 1,
maxmemory-policy allkeys-lfu and allkeys-lru) a source redis-server is filled
with every type and encoding Redis 7.0 writes, in dbs 0, 1 and 15, some keys
with a TTL. Then:
  (a) every key is DUMPed from the live server,
  (b) the server SAVEs, and the payload `rmig inspect --raw` builds from
      dump.rdb must equal the DUMP output byte for byte,
  (c) a fresh server RESTOREs rmig's payloads (ABSTTL, FREQ / IDLETIME), and
      DEBUG DIGEST, DEBUG DIGEST-VALUE, PEXPIRETIME and XINFO STREAM FULL must
      match the source,
  (d) `rmig inspect --json` values must equal what the server returns for
      GET / LRANGE / SMEMBERS / ZRANGE / HGETALL / XRANGE / XINFO, and the
      keys per db must equal DBSIZE.
With the corpus, every RDB file in it that Redis 7.0 loads must restore from
rmig's payloads to the same DEBUG DIGEST.

Exit code: 0 all passed, 1 something failed, 77 redis-server is missing.
"""
import os
import random
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, RedisError, Server, corpus_dir, corpus_index,  # noqa: E402
                           install_signal_handlers, jbytes, json_lines, make_tmpdir,
                           require_redis_server, run_rmig, short, stop_all_servers)

HOUR_MS = 3600 * 1000
SEED = int(os.environ.get('RMIG_TEST_SEED', '20240607'))

# ---------------------------------------------------------------------------
# the data set


def build_commands(rng):
    """The commands that fill a source server: (db, command) pairs."""
    cmds = []

    def add(db, *args):
        cmds.append((db, args))

    # elements of 64 KiB and more become PLAIN quicklist nodes
    add(0, 'DEBUG', 'QUICKLIST-PACKED-THRESHOLD', 65536)

    # strings: raw, every int encoding and its boundaries, LZF, empty, binary, 1 MB
    add(0, 'SET', 'str:raw', 'hello world')
    add(0, 'SET', 'str:utf8', 'h\u00e9llo \u2713 \u043a\u043b\u044e\u0447')
    ints = [0, 1, -1, 9, 10, -128, 127, 128, -129, 255, 256, -32768, 32767, 32768, -32769,
            65535, 65536, -2147483648, 2147483647, 2147483648, -2147483649, 4294967296,
            9223372036854775807, -9223372036854775808]
    for v in ints:
        add(0, 'SET', 'str:int:%d' % v, str(v))
    for s in ['9223372036854775808', '-9223372036854775809', '007', '-0', '+1', ' 1', '1 ',
              '0x10', '1.5', '1e3', '00', '-']:
        add(0, 'SET', b'str:notint:' + s.encode(), s)
    add(0, 'SET', 'str:counter', 0)
    add(0, 'INCRBY', 'str:counter', 123456789)
    add(0, 'SET', 'str:float', 0)
    add(0, 'INCRBYFLOAT', 'str:float', '3.14159')
    add(0, 'SET', 'str:lzf', 'abcdefgh' * 1000)
    add(0, 'SET', 'str:lzf-short', 'a' * 21)
    add(0, 'SET', 'str:lzf-16k', ('0123456789' * 1700)[:16384])
    add(0, 'SET', 'str:empty', '')
    add(0, 'SET', 'str:binary', b'\x00\xff\x00bin\xfe\xff\r\n\x00' + bytes(range(256)))
    add(0, 'SET', 'str:1mb-random', rng.randbytes(1 << 20))
    add(0, 'SET', 'str:1mb-compressible', b'redis-' * ((1 << 20) // 6))
    add(0, 'SET', 'str:append', 'x')
    add(0, 'APPEND', 'str:append', 'yz' * 50)
    add(0, 'SETRANGE', 'str:setrange', 10, 'tail')
    add(0, 'SET', b'', 'the empty key name')
    add(0, 'SET', b'\x00\xffkey\r\n\t"\\', 'a binary key name')
    add(0, 'SET', 'k' * 1000, 'a long key name')
    add(0, 'SET', '\u043a\u043b\u044e\u0447:utf8', 'a UTF-8 key name')

    # HyperLogLog (sparse and dense), bitmaps
    add(0, 'PFADD', 'hll:sparse', 'a', 'b', 'c')
    add(0, 'PFADD', 'hll:dense', *['e%d' % i for i in range(5000)])
    add(0, 'SETBIT', 'bitmap:sparse', 1000000, 1)
    add(0, 'SETBIT', 'bitmap:sparse', 7, 1)
    for i in range(200):
        add(0, 'SETBIT', 'bitmap:dense', rng.randrange(4096), 1)
    add(0, 'BITFIELD', 'bitmap:bitfield', 'SET', 'i16', 0, -1234, 'SET', 'u32', 100, 4000000000)

    # lists: listpack nodes with every listpack encoding, many nodes, PLAIN nodes
    lp_items = ['a', '0', '127', '128', '-1', '-4096', '4095', '4096', '-32768', '32767',
                '8388607', '-8388608', '2147483647', '-2147483648', '9223372036854775807',
                '-9223372036854775808', '18446744073709551615', '1.5', '', 'x' * 63, 'y' * 64,
                'z' * 4095, 'w' * 4096, '\x00\xff binary']
    add(0, 'RPUSH', 'list:listpack', *lp_items)
    add(0, 'RPUSH', 'list:big', *['item:%d' % i for i in range(10000)])
    add(0, 'RPUSH', 'list:big-ints',
        *[str(rng.randrange(-10 ** 12, 10 ** 12)) for _ in range(3000)])
    add(0, 'RPUSH', 'list:plain', 'before', 'P' * 70000, 'after')
    add(0, 'RPUSH', 'list:plain-random', rng.randbytes(100000), 'small', rng.randbytes(65536))
    add(0, 'LPUSH', 'list:edited', 'c', 'b', 'a')
    add(0, 'LINSERT', 'list:edited', 'BEFORE', 'b', 'a-and-a-half')
    add(0, 'LSET', 'list:edited', -1, 'C')
    add(0, 'RPUSH', 'list:one', 'only')

    # sets: intset (16/32/64-bit), hashtable, big
    add(0, 'SADD', 'set:intset16', 1, 2, 3, -5, 32767)
    add(0, 'SADD', 'set:intset32', 1, 100000, -2147483648)
    add(0, 'SADD', 'set:intset64', 1, 2 ** 40, -2 ** 62, 9223372036854775807)
    add(0, 'SADD', 'set:intset-500', *range(0, 1000, 2))
    add(0, 'SADD', 'set:hashtable', 'a', 'b', 'c', b'\x00bin\xff', '')
    add(0, 'SADD', 'set:big', *['member:%d' % i for i in range(5000)])
    add(0, 'SADD', 'set:big-ints', *range(0, 30000, 7))
    add(0, 'SADD', 'set:mixed', 1, 2, 'three')

    # sorted sets: listpack, skiplist; inf, -inf, fractional, huge and tiny scores
    scores = ['0', '1', '-1', '2.5', '-3.25', '1e-10', '1e300', '-1e300', 'inf', '-inf', '0.1',
              '3.0000000000000004', '12345678901234567', '-0', '5e-324']
    zargs = []
    for i, s in enumerate(scores):
        zargs += [s, 'm%d' % i]
    add(0, 'ZADD', 'zset:listpack', *zargs)
    add(0, 'ZADD', 'zset:listpack-ints', *[x for i in range(20) for x in (i * 1000, 'n%d' % i)])
    zbig = []
    for i in range(2000):
        zbig += [repr(rng.uniform(-1e6, 1e6)), 'member:%d' % i]
    zbig += ['inf', 'plus-inf', '-inf', 'minus-inf', '0.5', 'half', '-0.25', 'minus-quarter']
    add(0, 'ZADD', 'zset:skiplist', *zbig)
    add(0, 'ZADD', 'zset:long-member', 1, 'L' * 100, 2, 'short')
    geo = [13.361389, 38.115556, 'Palermo', 15.087269, 37.502669, 'Catania']
    add(0, 'GEOADD', 'geo:small', *geo)
    gbig = []
    for i in range(300):
        gbig += ['%.6f' % rng.uniform(-179, 179), '%.6f' % rng.uniform(-84, 84), 'place:%d' % i]
    add(0, 'GEOADD', 'geo:big', *gbig)

    # hashes: listpack, hashtable
    add(0, 'HSET', 'hash:listpack', 'name', 'rmig', 'n', 12, 'neg', -5, 'big', 9223372036854775807,
        'empty', '', '', 'empty field name', b'\x00f', b'\xffv')
    add(0, 'HSET', 'hash:hashtable', *[x for i in range(1000) for x in ('field:%d' % i, 'v%d' % i)])
    add(0, 'HSET', 'hash:long-value', 'f', 'V' * 100)
    add(0, 'HSET', 'hash:ints', *[x for i in range(200) for x in (i, i * i)])

    # streams: entries with same and different fields, deletions, groups, PEL, consumers
    s = 'stream:groups'
    for i in range(1, 301):
        if i % 3:
            add(0, 'XADD', s, '%d-1' % i, 'sensor', 'temp', 'value', i)
        else:
            add(0, 'XADD', s, '%d-1' % i, 'other', 'x' * (i % 7), 'n', -i)
    add(0, 'XDEL', s, '5-1', '6-1', '150-1', '300-1')
    add(0, 'XGROUP', 'CREATE', s, 'g1', '0')
    add(0, 'XGROUP', 'CREATE', s, 'g-at-end', '$')
    add(0, 'XGROUP', 'CREATE', s, 'g-mid', '100-1', 'ENTRIESREAD', 97)
    add(0, 'XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', 20, 'STREAMS', s, '>')
    add(0, 'XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', 10, 'STREAMS', s, '>')
    add(0, 'XACK', s, 'g1', '1-1', '2-1', '3-1')
    add(0, 'XCLAIM', s, 'g1', 'carol', 0, '10-1', '11-1', 'RETRYCOUNT', 5)
    add(0, 'XGROUP', 'CREATECONSUMER', s, 'g1', 'dave')
    add(0, 'XREADGROUP', 'GROUP', 'g-mid', 'eve', 'COUNT', 3, 'STREAMS', s, '>')
    add(0, 'XGROUP', 'CREATE', 'stream:empty-with-group', 'g', '$', 'MKSTREAM')
    for i in range(1, 11):
        add(0, 'XADD', 'stream:trimmed', '%d-0' % i, 'f', i)
    add(0, 'XGROUP', 'CREATE', 'stream:trimmed', 'g', '0')
    add(0, 'XREADGROUP', 'GROUP', 'g', 'c', 'COUNT', 4, 'STREAMS', 'stream:trimmed', '>')
    add(0, 'XTRIM', 'stream:trimmed', 'MAXLEN', 0)
    for i in range(3000):
        add(0, 'XADD', 'stream:big', '*', 'i', i, 'payload', 'p' * (i % 50))
    add(0, 'XADD', 'stream:setid', '5-5', 'a', 1)
    add(0, 'XSETID', 'stream:setid', '99-9', 'ENTRIESADDED', 1000, 'MAXDELETEDID', '50-0')
    add(0, 'XADD', 'stream:binary', '1-0', b'\x00f\xff', b'\x00v\xff', '', '')

    # keys with a TTL, of every type
    for i, (k, cmd) in enumerate([
            ('ttl:str', ('SET', 'ttl:str', 'v')),
            ('ttl:int', ('SET', 'ttl:int', 42)),
            ('ttl:list', ('RPUSH', 'ttl:list', 'a', 'b')),
            ('ttl:set', ('SADD', 'ttl:set', 'a', 'b')),
            ('ttl:intset', ('SADD', 'ttl:intset', 1, 2)),
            ('ttl:zset', ('ZADD', 'ttl:zset', 1, 'a')),
            ('ttl:hash', ('HSET', 'ttl:hash', 'f', 'v')),
            ('ttl:stream', ('XADD', 'ttl:stream', '1-1', 'f', 'v'))]):
        add(0, *cmd)
        add(0, 'PEXPIRE', k, HOUR_MS + i * 1000 + 123)
    add(0, 'SET', 'ttl:year-2100', 'far')
    add(0, 'PEXPIREAT', 'ttl:year-2100', 4102444800123)
    add(0, 'RPUSH', 'ttl:big-list', *['e%d' % i for i in range(2000)])
    add(0, 'PEXPIRE', 'ttl:big-list', 2 * HOUR_MS)

    # other databases, with a name shared across dbs
    add(1, 'SET', 'db1:str', 'in db 1')
    add(1, 'SET', 'shared:name', 'db 1 value')
    add(1, 'RPUSH', 'db1:list', 1, 2, 3)
    add(1, 'HSET', 'db1:hash', 'a', 1)
    add(1, 'PEXPIRE', 'db1:hash', HOUR_MS)
    add(1, 'SADD', 'db1:set', *['s%d' % i for i in range(600)])
    add(1, 'XADD', 'db1:stream', '1-1', 'a', 'b')
    add(15, 'SET', 'shared:name', 'db 15 value')
    add(15, 'ZADD', 'db15:zset', 1, 'one', 2, 'two')
    add(15, 'SADD', 'db15:intset', 5, 6, 7)
    add(15, 'SET', 'db15:ttl', 'x')
    add(15, 'PEXPIRE', 'db15:ttl', HOUR_MS)
    add(15, 'XGROUP', 'CREATE', 'db15:stream', 'g', '$', 'MKSTREAM')
    return cmds


def populate(conn, cmds):
    """Sends the (db, command) pairs; returns the list of errors."""
    batch, cur = [], None
    for db, c in cmds:
        if db != cur:
            batch.append(('SELECT', db))
            cur = db
        batch.append(c)
    replies = conn.pipeline(batch, window=500)
    return ['%s: %s' % (short(' '.join(str(a) for a in c), 80), r)
            for c, r in zip(batch, replies) if isinstance(r, RedisError)]


# ---------------------------------------------------------------------------
# reading payloads (enough of the RDB encoding to see what a payload holds)


def rdb_len(b, i):
    """(value, is_encoded, next offset) of an RDB length at b[i]."""
    t = b[i] >> 6
    if t == 0:
        return b[i] & 0x3f, False, i + 1
    if t == 1:
        return ((b[i] & 0x3f) << 8) | b[i + 1], False, i + 2
    if t == 2:
        if b[i] == 0x80:
            return int.from_bytes(b[i + 1:i + 5], 'big'), False, i + 5
        return int.from_bytes(b[i + 1:i + 9], 'big'), False, i + 9
    return b[i] & 0x3f, True, i + 1


def rdb_string_kind(b, i):
    """('lzf'|'int'|'raw', next offset) of an RDB string at b[i]."""
    v, enc, i = rdb_len(b, i)
    if not enc:
        return 'raw', i + v
    if v in (0, 1, 2):
        return 'int', i + (1, 2, 4)[v]
    clen, _, i = rdb_len(b, i)
    _, _, i = rdb_len(b, i)
    return 'lzf', i + clen


def quicklist_nodes(payload):
    """[(container, string kind)] of a type 18 (QUICKLIST_2) payload."""
    n, _, i = rdb_len(payload, 1)
    nodes = []
    for _ in range(n):
        container, _, i = rdb_len(payload, i)
        kind, i = rdb_string_kind(payload, i)
        nodes.append((container, kind))
    return nodes


# ---------------------------------------------------------------------------
# the live server's view


def pairs(flat):
    """A RESP2 flat [k, v, k, v] list as a dict with str keys."""
    return {flat[i].decode() if isinstance(flat[i], bytes) else flat[i]: flat[i + 1]
            for i in range(0, len(flat), 2)}


def snapshot(conn, dbs=range(16), extras=()):
    """{db: {key: info}} with type, digest, pexpiretime and optional extras
    (OBJECT FREQ / IDLETIME), read without touching the keys' LRU/LFU."""
    out = {}
    for db in dbs:
        conn.call('SELECT', db)
        keys = conn.call('KEYS', '*')
        if not keys:
            continue
        cmds = []
        for k in keys:
            cmds += [('TYPE', k), ('DEBUG', 'DIGEST-VALUE', k), ('PEXPIRETIME', k)]
            cmds += [('OBJECT', x, k) for x in extras]
        r = conn.pipeline(cmds)
        step = 3 + len(extras)
        info = {}
        for j, k in enumerate(keys):
            row = r[j * step:(j + 1) * step]
            d = row[1]
            info[k] = {'type': row[0], 'digest': d[0] if isinstance(d, list) else d,
                       'pexpiretime': row[2]}
            for x, v in zip(extras, row[3:]):
                info[k][x.lower()] = v
        out[db] = info
    return out


def dump_all(conn, snap):
    """{(db, key): DUMP payload}."""
    dumps = {}
    for db, info in snap.items():
        conn.call('SELECT', db)
        keys = list(info)
        for k, r in zip(keys, conn.pipeline([('DUMP', k) for k in keys], window=200)):
            dumps[(db, k)] = r
    return dumps


def xinfo_full(conn, db, key):
    conn.call('SELECT', db)
    return conn.call('XINFO', 'STREAM', key, 'FULL', 'COUNT', 0)


def native_value(conn, typ, key):
    """The value as the server returns it, in the shape compare_value expects."""
    if typ == 'string':
        return conn.call('GET', key)
    if typ == 'list':
        return conn.call('LRANGE', key, 0, -1)
    if typ == 'set':
        return sorted(conn.call('SMEMBERS', key))
    if typ == 'zset':
        r = conn.call('ZRANGE', key, 0, -1, 'WITHSCORES')
        return sorted((r[i], float(r[i + 1])) for i in range(0, len(r), 2))
    if typ == 'hash':
        r = conn.call('HGETALL', key)
        return sorted((r[i], r[i + 1]) for i in range(0, len(r), 2))
    if typ == 'stream':
        return {'entries': conn.call('XRANGE', key, '-', '+'),
                'info': pairs(conn.call('XINFO', 'STREAM', key, 'FULL', 'COUNT', 0))}
    raise ValueError(typ)


def sid(b):
    return b.decode() if isinstance(b, bytes) else b


def compare_stream(jv, nv):
    """Differences between rmig's JSON stream and XRANGE + XINFO STREAM FULL."""
    diffs = []
    entries = [[e[0], [[jbytes(f), jbytes(v)] for f, v in e[1]]] for e in jv['entries']]
    native = [[sid(e[0]), [[e[1][i], e[1][i + 1]] for i in range(0, len(e[1]), 2)]]
              for e in nv['entries']]
    if entries != native:
        diffs.append('entries differ (%d vs %d)' % (len(entries), len(native)))
    info, meta = nv['info'], jv['meta']
    want = {'length': info['length'], 'last_id': sid(info['last-generated-id']),
            'first_id': sid(info['recorded-first-entry-id']),
            'max_deleted_id': sid(info['max-deleted-entry-id']),
            'entries_added': info['entries-added']}
    got = {k: meta.get(k) for k in want}
    if got != want:
        diffs.append('meta %r != %r' % (got, want))
    ng = {}
    for g in info['groups']:
        g = pairs(g)
        cons = {}
        for c in g['consumers']:
            c = pairs(c)
            cons[c['name']] = (c['seen-time'], sorted(sid(p[0]) for p in c['pending']))
        ng[g['name']] = {'last_id': sid(g['last-delivered-id']), 'entries_read': g['entries-read'],
                         'pel': sorted((sid(p[0]), p[2], p[3]) for p in g['pending']),
                         'consumers': cons}
    jg = {}
    for g in jv['groups']:
        # the file holds -1 ("not known", XINFO says nil) as an unsigned length
        er = g.get('entries_read')
        jg[jbytes(g['name'])] = {
            'last_id': g['last_id'], 'entries_read': None if er == 2 ** 64 - 1 else er,
            'pel': sorted((p[0], p[1], p[2]) for p in g['pel']),
            'consumers': {jbytes(c['name']): (c['seen_time'], sorted(c['pel']))
                          for c in g['consumers']}}
    if jg != ng:
        diffs.append('groups %r != %r' % (jg, ng))
    return diffs


def compare_value(typ, jv, nv):
    """None when rmig's JSON value equals the native one, else a description."""
    try:
        if typ == 'string':
            got = jbytes(jv)
        elif typ == 'list':
            got = [jbytes(x) for x in jv]
        elif typ == 'set':
            got = sorted(jbytes(x) for x in jv)
        elif typ == 'zset':
            got = sorted((jbytes(m), float(s)) for m, s in jv)
        elif typ == 'hash':
            got = sorted((jbytes(f), jbytes(v)) for f, v in jv)
        elif typ == 'stream':
            d = compare_stream(jv, nv)
            return '; '.join(d) if d else None
        else:
            return 'unexpected type %s' % typ
    except (TypeError, ValueError, KeyError) as e:
        return 'cannot read the JSON value: %r' % e
    if got == nv:
        return None
    if isinstance(got, list) and isinstance(nv, list):
        return 'rmig has %d elements, the server %d; first difference at %s' % (
            len(got), len(nv), next((i for i, (a, b) in enumerate(zip(got, nv)) if a != b),
                                    min(len(got), len(nv))))
    return 'rmig %s != server %s' % (short(got), short(nv))


LIVE_ENCODINGS = [
    ('str:raw', 'embstr'), ('str:int:2147483648', 'int'), ('str:lzf', 'raw'),
    ('list:big', 'quicklist'), ('set:intset64', 'intset'), ('set:hashtable', 'hashtable'),
    ('set:big-ints', 'hashtable'), ('zset:listpack', 'listpack'), ('zset:skiplist', 'skiplist'),
    ('zset:long-member', 'skiplist'), ('geo:small', 'listpack'), ('hash:listpack', 'listpack'),
    ('hash:hashtable', 'hashtable'), ('hash:long-value', 'hashtable'), ('stream:big', 'stream')]


def check_live_encodings(rep, c, what):
    """The data set holds the in-memory encodings it is meant to (after DUMP,
    as GETRANGE would touch the keys' LRU/LFU)."""
    c.call('SELECT', 0)
    got = c.pipeline([('OBJECT', 'ENCODING', k) for k, _ in LIVE_ENCODINGS] +
                     [('GETRANGE', 'hll:sparse', 4, 4), ('GETRANGE', 'hll:dense', 4, 4)])
    want = [e.encode() for _, e in LIVE_ENCODINGS] + [b'\x01', b'\x00']
    bad = ['%s is %r, not %r' % (k, g, w) for (k, _), g, w in
           zip(LIVE_ENCODINGS + [('hll:sparse', 0), ('hll:dense', 0)], got, want) if g != w]
    rep.check(not bad, 'the source server holds each encoding the data set is meant to have '
              '(embstr, int, raw, quicklist, intset, hashtable, listpack, skiplist, sparse and '
              'dense HyperLogLog) %s' % what, '; '.join(bad))


# ---------------------------------------------------------------------------
# one configuration, end to end


def run_scenario(rep, rmig, tmp, name, config, cmds, mode=None, expect_lzf=True,
                 expect_compressed_nodes=False):
    """name: the configuration in words; mode: None, 'lfu' or 'lru' (the
    eviction policy in config)."""
    t0 = time.time()
    d = os.path.join(tmp, ''.join(ch if ch.isalnum() else '_' for ch in name))
    src = Server(os.path.join(d, 'src'), config, name='source').start()
    dst = None
    what = 'with %s' % name
    try:
        c = src.conn()
        errors = populate(c, cmds)
        rep.check(not errors, 'the source server %s accepts the whole data set' % what, errors[:5])
        extras = ()
        if mode == 'lfu':
            # hot keys get a higher LFU counter (lfu-log-factor 0 makes it count exactly)
            c.call('SELECT', 0)
            c.pipeline([('GET', 'str:raw')] * 40 + [('LLEN', 'list:big')] * 7)
            extras = ('FREQ',)
        elif mode == 'lru':
            # let time pass, then touch a few keys: idle times differ by key
            c.call('DEBUG', 'SLEEP', '2.2')
            c.call('SELECT', 0)
            c.pipeline([('GET', 'str:raw'), ('LLEN', 'list:big'), ('HLEN', 'hash:listpack')])
            extras = ('IDLETIME',)

        snap = snapshot(c, extras=extras)
        src_digest = c.call('DEBUG', 'DIGEST')
        c.call('SAVE')
        # (a) DUMP every key; DUMP touches LRU/LFU, which is why the snapshot came first
        dumps = dump_all(c, snap)
        nkeys = sum(len(v) for v in snap.values())
        check_live_encodings(rep, c, what)
        rdb = os.path.join(src.dir, 'dump.rdb')

        # (b) rmig's payloads equal DUMP byte for byte
        rc, out, err = run_rmig(rmig, ['inspect', '--raw', rdb])
        rep.check(rc == 0 and not err.strip(),
                  'rmig inspect --raw reads the RDB file Redis 7.0 saved %s' % what,
                  'exit %d, stderr %r' % (rc, err[-500:]))
        raw = [o for o in json_lines(out) if 'key' in o]
        by_key = {}
        dup = []
        for o in raw:
            k = (o['db'], jbytes(o['key']))
            if k in by_key:
                dup.append(k)
            by_key[k] = o
        missing = [k for k in dumps if k not in by_key]
        extra = [k for k in by_key if k not in dumps]
        rep.check(not missing and not extra and not dup and len(raw) == nkeys,
                  'rmig inspect --raw lists every key of every db exactly once %s (%d keys)'
                  % (what, nkeys),
                  'missing %s, unexpected %s, duplicated %s'
                  % ([short(k[1]) for k in missing[:5]], [short(k[1]) for k in extra[:5]],
                     dup[:5]))
        bad = []
        for k, dump in sorted(dumps.items()):
            o = by_key.get(k)
            if o is None:
                continue
            p = bytes.fromhex(o['payload'])
            if p != dump:
                first = next((i for i, (x, y) in enumerate(zip(p, dump)) if x != y),
                             min(len(p), len(dump)))
                bad.append('db %d key %s (%s, rdb_type %d): %d vs %d bytes, first difference at '
                           'byte %d' % (k[0], short(k[1]), o['type'], o['rdb_type'], len(p),
                                        len(dump), first))
        rep.check(not bad, 'every payload rmig builds equals the DUMP of the live key byte for '
                  'byte %s' % what, '%d keys differ: %s' % (len(bad), '; '.join(bad[:5])))

        bad = []
        for (db, k), o in by_key.items():
            info = snap.get(db, {}).get(k)
            if info is None:
                continue
            p = bytes.fromhex(o['payload'])
            if p[0] != o['rdb_type']:
                bad.append('%s: payload type byte %d, rdb_type %d'
                           % (short(k), p[0], o['rdb_type']))
            dv = dumps.get((db, k), b'')[-10:-8]
            if p[-10:-8] != dv:
                bad.append('%s: payload RDB version %r, DUMP says %r' % (short(k), p[-10:-8], dv))
            want = info['pexpiretime'] if info['pexpiretime'] > 0 else None
            if o.get('expire_ms') != want:
                bad.append('%s: expire_ms %r, PEXPIRETIME %r'
                           % (short(k), o.get('expire_ms'), want))
            if mode != 'lfu' and 'lfu_freq' in o:
                bad.append('%s: lfu_freq without an LFU policy' % short(k))
            if mode != 'lru' and 'lru_idle_s' in o:
                bad.append('%s: lru_idle_s without an LRU policy' % short(k))
            if mode == 'lfu' and o.get('lfu_freq') != info['freq']:
                bad.append('%s: lfu_freq %r, OBJECT FREQ %r' % (short(k), o.get('lfu_freq'),
                                                                info['freq']))
            if mode == 'lru' and not (isinstance(o.get('lru_idle_s'), int)
                                      and abs(o['lru_idle_s'] - info['idletime']) <= 1):
                bad.append('%s: lru_idle_s %r, OBJECT IDLETIME %r' % (
                    short(k), o.get('lru_idle_s'), info['idletime']))
        rep.check(not bad, 'rmig inspect --raw reports type, RDB version, expire time%s of '
                  'every key as the server has them %s'
                  % ({'lfu': ' and LFU counter', 'lru': ' and idle time'}.get(mode, ''), what),
                  '; '.join(bad[:8]))

        # what the data set is meant to cover really is in the file
        kinds = set()
        for o in by_key.values():
            p = bytes.fromhex(o['payload'])
            if o['rdb_type'] == 0:
                kinds.add('string-' + rdb_string_kind(p, 1)[0])
            elif o['rdb_type'] == 18:
                for container, kind in quicklist_nodes(p):
                    kinds.add('quicklist-%s-%s' % ('plain' if container == 1 else 'packed', kind))
            kinds.add('type-%d' % o['rdb_type'])
        want = {'type-0', 'type-2', 'type-4', 'type-5', 'type-11', 'type-16', 'type-17',
                'type-18', 'type-19', 'string-int', 'string-raw', 'quicklist-plain-raw'}
        if expect_lzf:
            want |= {'string-lzf'}
        if expect_compressed_nodes:
            want |= {'quicklist-packed-lzf'}
        unwanted = set() if expect_lzf or expect_compressed_nodes else {
            k for k in kinds if k.endswith('-lzf')}
        rep.check(want <= kinds and not unwanted,
                  'the RDB file saved %s holds the encodings this test is about' % what,
                  'missing %s, unexpected %s (found %s)' % (sorted(want - kinds), sorted(unwanted),
                                                            sorted(kinds)))

        # (c) RESTORE rmig's payloads into a fresh server
        dst = Server(os.path.join(d, 'dst'), config, name='target').start()
        t = dst.conn()
        errs = []
        for db in sorted({k[0] for k in by_key}):
            t.call('SELECT', db)
            cmds_r, keys = [], []
            for (kdb, k), o in by_key.items():
                if kdb != db:
                    continue
                cmd = ['RESTORE', k, o.get('expire_ms', 0), bytes.fromhex(o['payload']), 'ABSTTL']
                if 'lfu_freq' in o:
                    cmd += ['FREQ', o['lfu_freq']]
                if 'lru_idle_s' in o:
                    cmd += ['IDLETIME', o['lru_idle_s']]
                cmds_r.append(cmd)
                keys.append(k)
            for k, r in zip(keys, t.pipeline(cmds_r, window=100)):
                if r != 'OK':
                    errs.append('%s: %s' % (short(k), r))
        rep.check(not errs, 'a fresh server accepts RESTORE ... ABSTTL of every payload rmig '
                  'built %s' % what, '; '.join(errs[:5]))
        dsnap = snapshot(t, extras=extras)
        dst_digest = t.call('DEBUG', 'DIGEST')
        rep.check(dst_digest == src_digest and dst_digest != '0' * 40,
                  'DEBUG DIGEST of the restored server equals the source server\'s %s' % what,
                  'source %s, restored %s' % (src_digest, dst_digest))
        bad = []
        for db, info in snap.items():
            for k, i in info.items():
                j = dsnap.get(db, {}).get(k)
                if j is None:
                    bad.append('db %d %s: missing' % (db, short(k)))
                    continue
                for f in ('type', 'digest', 'pexpiretime'):
                    if i[f] != j[f]:
                        bad.append('db %d %s: %s %r != %r' % (db, short(k), f, j[f], i[f]))
                if (i['pexpiretime'] > 0) != (j['pexpiretime'] > 0):
                    bad.append('db %d %s: TTL presence differs' % (db, short(k)))
                if mode == 'lfu' and j['freq'] != i['freq']:
                    bad.append('db %d %s: OBJECT FREQ %r != %r'
                               % (db, short(k), j['freq'], i['freq']))
                if mode == 'lru' and not (i['idletime'] - 1 <= j['idletime'] <= i['idletime'] + 2):
                    bad.append('db %d %s: OBJECT IDLETIME %r, source %r'
                               % (db, short(k), j['idletime'], i['idletime']))
        extra_keys = sum(len(v) for v in dsnap.values()) - nkeys
        rep.check(not bad and extra_keys == 0,
                  'every restored key has the source\'s type, DEBUG DIGEST-VALUE and '
                  'PEXPIRETIME%s %s' % ({'lfu': ' and OBJECT FREQ',
                                        'lru': ' and OBJECT IDLETIME'}.get(mode, ''), what),
                  '%d differences, %d extra keys: %s' % (len(bad), extra_keys, '; '.join(bad[:6])))
        bad = []
        for db, info in snap.items():
            for k, i in info.items():
                if i['type'] == 'stream':
                    a, b = xinfo_full(c, db, k), xinfo_full(t, db, k)
                    if a != b:
                        bad.append('db %d %s: %s vs %s' % (db, short(k), short(repr(b), 300),
                                                           short(repr(a), 300)))
        rep.check(not bad, 'restored streams keep their consumer groups, PEL, consumers and '
                  'metadata (XINFO STREAM FULL is equal) %s' % what, '; '.join(bad[:3]))

        # (d) rmig inspect --json against the server's own reading of each key
        rc, out, err = run_rmig(rmig, ['inspect', '--json', rdb])
        objs = json_lines(out)
        rep.check(rc == 0 and not err.strip(), 'rmig inspect --json reads the file %s' % what,
                  'exit %d, stderr %r' % (rc, err[-500:]))
        keys_json = [o for o in objs if 'key' in o]
        per_db = {}
        for o in keys_json:
            per_db[o['db']] = per_db.get(o['db'], 0) + 1
        sizes = {}
        for db in range(16):
            c.call('SELECT', db)
            n = c.call('DBSIZE')
            if n:
                sizes[db] = n
        rep.check(per_db == sizes, 'rmig inspect --json has as many keys in each db as DBSIZE %s'
                  % what, 'rmig %r, DBSIZE %r' % (per_db, sizes))
        bad = []
        seen_types = set()
        for o in keys_json:
            k = jbytes(o['key'])
            info = snap.get(o['db'], {}).get(k)
            if info is None:
                bad.append('%s is not on the server' % short(k))
                continue
            if o['type'] != info['type']:
                bad.append('%s: type %s, TYPE %s' % (short(k), o['type'], info['type']))
                continue
            c.call('SELECT', o['db'])
            diff = compare_value(o['type'], o['value'], native_value(c, o['type'], k))
            seen_types.add(o['type'])
            if diff:
                bad.append('db %d %s (%s): %s' % (o['db'], short(k), o['type'], diff))
        rep.check(not bad and len(seen_types) == 6,
                  'rmig inspect --json values equal GET/LRANGE/SMEMBERS/ZRANGE/HGETALL/XRANGE/'
                  'XINFO for every key %s' % what,
                  '%d keys differ (types seen %s): %s' % (len(bad), sorted(seen_types),
                                                          '; '.join(bad[:5])))
        c.close()
        t.close()
    finally:
        if dst:
            dst.stop()
        src.stop()
        shutil.rmtree(d, True)
    print('# %s: %.1f s' % (name, time.time() - t0), flush=True)


# ---------------------------------------------------------------------------
# the corpus: files Redis 7.0 loads must restore, through rmig, to the same data


def corpus_roundtrip(rep, rmig, tmp, corpus):
    t0 = time.time()
    rows = [r for r in corpus_index(corpus) if r.get('dir') == 'rdb' and r.get('expect') == 'ok'
            and r.get('rdb_version', '').isdigit() and int(r['rdb_version']) <= 10]
    d = os.path.join(tmp, 'corpus')
    os.makedirs(d, exist_ok=True)
    dst = Server(os.path.join(d, 'dst'), name='corpus-target').start()
    loaded, unloadable, keys_total = [], [], 0
    failures = []
    debian_bytes = []
    try:
        t = dst.conn()
        for row in rows:
            name = row['file']
            path = os.path.join(corpus, 'rdb', name)
            if not os.path.exists(path):
                continue
            sdir = os.path.join(d, 'src')
            shutil.rmtree(sdir, True)
            os.makedirs(sdir)
            shutil.copy(path, os.path.join(sdir, 'load.rdb'))
            # the file's own compression setting, so DUMP can be compared byte for byte
            conf = ['--rdbcompression', 'no'] if 'nocompress' in name else []
            src = Server(sdir, conf, dbfilename='load.rdb', name='corpus-source').started_or_none()
            if src is None:
                unloadable.append(name)
                continue
            try:
                c = src.conn()
                snap = snapshot(c)
                src_digest = c.call('DEBUG', 'DIGEST')
                loaded.append(name)
                rc, out, err = run_rmig(rmig, ['inspect', '--raw', path])
                if rc != 0:
                    failures.append('%s: rmig exit %d: %s' % (name, rc, err.strip()[-200:]))
                    continue
                raw = [o for o in json_lines(out) if 'key' in o]
                t.call('FLUSHALL')
                refused = {}
                for o in raw:
                    t.call('SELECT', o['db'])
                    k = jbytes(o['key'])
                    r = t.pipeline([('RESTORE', k, o.get('expire_ms', 0),
                                     bytes.fromhex(o['payload']), 'ABSTTL', 'REPLACE')])[0]
                    if r != 'OK':
                        refused[(o['db'], k)] = str(r)
                dsnap = snapshot(t)
                dst_digest = t.call('DEBUG', 'DIGEST')
                problems = []
                for (db, k), r in refused.items():
                    if k in snap.get(db, {}):
                        problems.append('RESTORE of %s refused (%s) but Redis loaded it'
                                        % (short(k), r))
                for db, info in snap.items():
                    for k, i in info.items():
                        j = dsnap.get(db, {}).get(k)
                        if j is None:
                            problems.append('db %d %s missing after RESTORE' % (db, short(k)))
                        elif (i['type'], i['digest'], i['pexpiretime']) != \
                                (j['type'], j['digest'], j['pexpiretime']):
                            problems.append('db %d %s differs: %r vs %r' % (db, short(k), j, i))
                if dst_digest != src_digest:
                    problems.append('DEBUG DIGEST %s, Redis loading the file %s'
                                    % (dst_digest, src_digest))
                if problems:
                    failures.append('%s: %s' % (name, '; '.join(problems[:3])))
                keys_total += sum(len(v) for v in snap.values())
                if name.startswith('local-debian-redis-7.0.15__') and '_lfu' not in name \
                        and '_lru' not in name:
                    dumps = dump_all(c, snap)
                    by = {(o['db'], jbytes(o['key'])): bytes.fromhex(o['payload']) for o in raw}
                    types = {(o['db'], jbytes(o['key'])): o['rdb_type'] for o in raw}
                    for k, v in dumps.items():
                        # a hashtable set or hash comes out in the order of its new dict,
                        # not the file's, so only the other encodings can be compared
                        if types.get(k) not in (2, 4) and by.get(k) != v:
                            debian_bytes.append('%s %s' % (name, short(k[1])))
                c.close()
            finally:
                src.stop()
        t.close()
    finally:
        dst.stop()
    if unloadable:
        print('# redis-server does not load these corpus files: %s' % ', '.join(unloadable))
    debian = [r['file'] for r in rows if r['file'].startswith('local-debian-redis-7.0.15__')]
    rep.check(all(n in loaded for n in debian) and len(loaded) >= 10,
              'the corpus files written by Redis 7.0.15 load into redis-server (so the corpus '
              'round trip below is not empty)',
              'loaded %d of %d; not loaded: %s' % (len(loaded), len(rows), unloadable))
    rep.check(not failures,
              'every corpus RDB file Redis 7.0 can load restores from rmig\'s payloads to the same '
              'DEBUG DIGEST and per-key digests (%d files, %d keys; %d files Redis itself refuses)'
              % (len(loaded), keys_total, len(unloadable)), '; '.join(failures[:5]))
    rep.check(not debian_bytes,
              'for the Redis 7.0.15 corpus files, rmig\'s payloads equal DUMP of the loaded keys '
              'byte for byte (all but hashtable sets and hashes, whose order a reload changes)',
              '%d keys differ: %s' % (len(debian_bytes), debian_bytes))
    print('# corpus: %.1f s' % (time.time() - t0), flush=True)


def main():
    if len(sys.argv) != 2:
        print('usage: %s /path/to/rmig' % sys.argv[0], file=sys.stderr)
        return 2
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-roundtrip-')
    print('# seed %d (RMIG_TEST_SEED)' % SEED, flush=True)
    cmds = build_commands(random.Random(SEED))
    lfu = ['--maxmemory-policy', 'allkeys-lfu', '--lfu-decay-time', '0', '--lfu-log-factor', '0']
    scenarios = [
        ('the default configuration', [], None, True, False),
        ('rdbcompression no', ['--rdbcompression', 'no'], None, False, False),
        ('list-compress-depth 1', ['--list-compress-depth', '1', '--list-max-listpack-size', '64'],
         None, True, True),
        ('maxmemory-policy allkeys-lfu', lfu, 'lfu', True, False),
        ('maxmemory-policy allkeys-lru', ['--maxmemory-policy', 'allkeys-lru'], 'lru', True, False),
    ]
    try:
        for name, config, mode, lzf, cnodes in scenarios:
            try:
                run_scenario(rep, rmig, tmp, name, config, cmds, mode, lzf, cnodes)
            except Exception as e:  # a broken step fails the scenario, not the run
                rep.fail('the round trip with %s runs to the end' % name, repr(e))
        corpus = corpus_dir()
        if corpus:
            try:
                corpus_roundtrip(rep, rmig, tmp, corpus)
            except Exception as e:
                rep.fail('the corpus round trip runs to the end', repr(e))
        else:
            print('# RMIG_CORPUS is not set or has no rdb/: corpus round trip skipped')
    finally:
        stop_all_servers()
    return rep.finish()


if __name__ == '__main__':
    sys.exit(main())

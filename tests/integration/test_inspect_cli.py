#!/usr/bin/env python3
"""`rmig inspect` as a user meets it: its modes, its numbers, its input forms
(file, stdin, .lz4), its errors and exit codes, and its memory use.

usage: python3 test_inspect_cli.py /path/to/rmig
environment: RMIG_CORPUS (shared/corpus; the corpus checks are skipped without it)

The RDB files are written by a live redis-server (SAVE) from a data set whose
key counts per prefix, db, type and TTL are known, and whose serialized sizes
are taken from DUMP (a DUMP payload is the key's RDB bytes plus 11 bytes).
Needs the `lz4` command (package lz4) and /usr/bin/time (package time).

Exit code: 0 all passed, 1 something failed, 77 redis-server is missing.
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, RedisError, Server, corpus_dir, corpus_index,  # noqa: E402
                           install_signal_handlers, jbytes, json_lines, make_tmpdir,
                           require_redis_server, run_rmig, short, stop_all_servers)

SEED = int(os.environ.get('RMIG_TEST_SEED', '7'))
HOUR_MS = 3600 * 1000
KINDS = ['string', 'list', 'set', 'zset', 'hash', 'stream', 'module']
COUNT_CMD = {'list': 'LLEN', 'set': 'SCARD', 'zset': 'ZCARD', 'hash': 'HLEN', 'stream': 'XLEN'}


# ---------------------------------------------------------------------------
# the generated files


def fill_known(conn, rng):
    """The data set with known numbers. Returns the (db, command) list."""
    cmds = []

    def add(db, *a):
        cmds.append((db, a))

    for i in range(300):
        add(0, 'SET', 'user:%d' % i, 'name-%d' % i)
        if i % 3 == 0:
            add(0, 'PEXPIRE', 'user:%d' % i, HOUR_MS)
    for i in range(50):
        add(0, 'HSET', 'session:%d' % i, 'user', i, 'ip', '10.0.0.%d' % i, 'agent', 'x' * i)
        add(0, 'PEXPIRE', 'session:%d' % i, 2 * HOUR_MS)
    for i in range(120):
        add(0, 'SET', 'cache:page:%d' % i, '<html>%s</html>' % ('p' * (i % 17)))
    for i in range(30):
        add(0, 'SET', 'cache:obj:%d' % i, i * 1000)
    for i in range(5):
        add(0, 'RPUSH', 'queue:%d' % i, *['job-%d' % j for j in range(10)])
    for i in range(10):
        add(0, 'ZADD', 'idx:%d' % i, *[x for j in range(5) for x in (j * 1.5, 'm%d' % j)])
    for i in range(20):
        add(0, 'SADD', 'tags:%d' % i, 'a', 'b', 'c', 'tag-%d' % i)
    for i in range(3):
        for j in range(7):
            add(0, 'XADD', 'events:%d' % i, '%d-%d' % (j + 1, i), 'kind', 'click', 'n', j)
    add(0, 'SET', 'plainkey1', 'no separator')
    add(0, 'SET', 'plainkey2', 'none here either')
    # the biggest keys by bytes: incompressible strings of distinct sizes
    for i in range(22):
        add(0, 'SET', 'big:%02d' % i, rng.randbytes(200000 + i * 1000))
    # the biggest keys by elements: every collection type, distinct counts
    for i in range(22):
        k, n = 'wide:%02d' % i, 3000 + i * 10
        t = ('list', 'set', 'zset', 'hash', 'stream')[i % 5]
        if t == 'list':
            add(0, 'RPUSH', k, *range(n))
        elif t == 'set':
            add(0, 'SADD', k, *range(n))
        elif t == 'zset':
            add(0, 'ZADD', k, *[x for j in range(n) for x in (j, 'z%d' % j)])
        elif t == 'hash':
            add(0, 'HSET', k, *[x for j in range(n) for x in ('f%d' % j, j)])
        else:
            for j in range(n):
                add(0, 'XADD', k, '%d-1' % (j + 1), 'v', j)
    for i in range(40):
        add(3, 'SET', 'user:%d' % i, 'db3-%d' % i)
        if i % 4 == 0:
            add(3, 'PEXPIRE', 'user:%d' % i, HOUR_MS)
    for i in range(12):
        add(9, 'SET', 'a/b/c/%d' % i, i)
    for i in range(8):
        add(9, 'RPUSH', 'a/b/d/%d' % i, 'x', 'y')
    for i in range(5):
        add(9, 'SADD', 'a/x/%d' % i, 1, 2, 3)
    add(9, 'SET', 'a', 'just a')
    return cmds


def send(conn, cmds):
    batch, cur = [], None
    for db, c in cmds:
        if db != cur:
            batch.append(('SELECT', db))
            cur = db
        batch.append(c)
    errs = [r for r in conn.pipeline(batch, window=300) if isinstance(r, RedisError)]
    if errs:
        raise RuntimeError('the server refused the data set: %s' % errs[:3])


def describe_keys(conn):
    """{(db, key): {type, bytes, elements, raw, ttl}} from TYPE, DUMP, PEXPIRETIME."""
    out = {}
    for db in range(16):
        conn.call('SELECT', db)
        keys = conn.call('KEYS', '*')
        if not keys:
            continue
        types = conn.pipeline([('TYPE', k) for k in keys])
        cmds = []
        for k, t in zip(keys, types):
            cmds += [('DUMP', k), ('PEXPIRETIME', k),
                     (COUNT_CMD[t], k) if t in COUNT_CMD else ('PING',)]
        r = conn.pipeline(cmds, window=300)
        for i, (k, t) in enumerate(zip(keys, types)):
            dump, pexp, n = r[3 * i:3 * i + 3]
            out[(db, k)] = {'type': t, 'raw': len(dump) - 11, 'bytes': len(dump) - 11 + len(k),
                            'elements': 1 if t == 'string' else n, 'ttl': pexp > 0,
                            'expired': False}
    return out


def prefix_of(key, sep, depth):
    """The prefix rmig's stats give a key: up to the depth-th separator, or the
    whole key (at most 128 bytes) when it has fewer."""
    seps = 0
    for n in range(min(len(key), 128)):
        if key[n] == sep:
            seps += 1
            if seps == depth:
                return key[:n]
    return key[:128]


def expected_stats(keys, sep=b':', depth=1, top=20):
    e = {'keys': len(keys), 'keys_with_ttl': sum(1 for v in keys.values() if v['ttl']),
         'keys_expired': sum(1 for v in keys.values() if v['expired'])}
    dbs = {}
    for (db, _), v in keys.items():
        d = dbs.setdefault(str(db), dict({t: 0 for t in KINDS}, ttl=0))
        d[v['type']] += 1
        d['ttl'] += v['ttl']
    e['dbs'] = dbs
    types = {}
    for v in keys.values():
        t = types.setdefault(v['type'], {'keys': 0, 'elements': 0, 'bytes': 0})
        t['keys'] += 1
        t['elements'] += v['elements']
        t['bytes'] += v['bytes']
    e['types'] = types
    rows = [{'db': db, 'key': k, 'type': v['type'], 'bytes': v['bytes'],
             'elements': v['elements']} for (db, k), v in keys.items()]
    e['biggest_by_bytes'] = sorted(rows, key=lambda r: -r['bytes'])[:top]
    e['biggest_by_elements'] = sorted(rows, key=lambda r: -r['elements'])[:top]
    prefixes = {}
    for (db, k), v in keys.items():
        p = prefix_of(k, sep[0], depth)
        a = prefixes.setdefault(p, [0, 0])
        a[0] += 1
        a[1] += v['bytes']
    e['prefixes'] = {p: tuple(a) for p, a in prefixes.items()}
    return e


def got_stats(s):
    """rmig's --stats-json reshaped like expected_stats()."""
    g = {k: s.get(k) for k in ('keys', 'keys_with_ttl', 'keys_expired', 'dbs', 'types')}
    for name in ('biggest_by_bytes', 'biggest_by_elements'):
        g[name] = [dict(r, key=jbytes(r['key'])) for r in s.get(name, [])]
    g['prefixes'] = {jbytes(p['prefix']): (p['keys'], p['bytes']) for p in s.get('prefixes', [])}
    return g


def diff(a, b, path=''):
    """The first few differences between two JSON-like values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=repr):
            if k not in a or k not in b:
                out.append('%s%r: %s' % (path, k, 'missing' if k not in a else 'unexpected'))
            else:
                out += diff(a[k], b[k], '%s%r.' % (path, k))
        return out
    if a != b:
        return ['%s got %s, expected %s' % (path, short(repr(a), 200), short(repr(b), 200))]
    return []


def make_big(conn):
    """~300k keys and a 200k-field hash, for the memory and pipe checks."""
    conn.call('SELECT', 0)
    conn.call('DEBUG', 'POPULATE', 300000, 'key', 20)
    cmds = []
    for j in range(20):
        a = ['HSET', 'bighash']
        for i in range(j * 10000, (j + 1) * 10000):
            a += ['field:%d' % i, 'value:%d' % i]
        cmds.append(a)
    conn.pipeline(cmds)


# ---------------------------------------------------------------------------
# helpers around the binary


def one_error_line(rc, err, want_rc=1, must=('offset',)):
    """None when rmig failed as promised (exit code, one stderr line holding
    every word of `must`), else what was wrong."""
    lines = [l for l in err.splitlines() if l.strip()]
    if rc != want_rc:
        return 'exit %d (expected %d), stderr %r' % (rc, want_rc, err[-300:])
    if len(lines) != 1:
        return '%d stderr lines: %r' % (len(lines), err[-300:])
    for m in must:
        if m.lower() not in lines[0].lower():
            return 'stderr lacks %r: %r' % (m, lines[0])
    return None


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def have(cmd):
    return shutil.which(cmd) is not None


def lz4_compress(src, dst, opts=()):
    with open(dst, 'wb') as f:
        subprocess.run(['lz4', '-c', '-q'] + list(opts) + [src], stdout=f, check=True)


def piped(rmig, args, producer):
    """Runs `producer | rmig args`; returns (rc, stdout, stderr)."""
    p1 = subprocess.Popen(producer, stdout=subprocess.PIPE)
    p2 = subprocess.Popen([rmig] + args, stdin=p1.stdout, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    p1.stdout.close()
    out, err = p2.communicate(timeout=120)
    p1.wait(timeout=30)
    return p2.returncode, out, err.decode('utf-8', 'replace')


# ---------------------------------------------------------------------------
# the checks


def check_modes(rep, rmig, path, keys):
    """--json, --raw, --stats-json, --stats, --count on the known file."""
    size = os.path.getsize(path)
    version = int(read(path)[5:9])  # REDIS0010: the server's own RDB version
    rc, out, err = run_rmig(rmig, ['inspect', '--json', path])
    objs = json_lines(out) if rc == 0 else []
    key_objs = [o for o in objs if 'key' in o]
    got = {(o['db'], jbytes(o['key'])): o for o in key_objs}
    bad = []
    for k, v in keys.items():
        o = got.get(k)
        if o is None:
            bad.append('%s missing' % short(k[1]))
        elif o['type'] != v['type'] or ('expire_ms' in o) != v['ttl'] or 'value' not in o:
            bad.append('%s: %r' % (short(k[1]), {x: o.get(x) for x in ('type', 'expire_ms')}))
    rep.check(rc == 0 and not err and len(key_objs) == len(keys) and not bad,
              'rmig inspect --json prints one object per key with its db, key, type, value and '
              'expire_ms exactly for the keys with a TTL',
              'exit %d, stderr %r, %d key objects for %d keys; %s'
              % (rc, err[-200:], len(key_objs), len(keys), bad[:5]))
    others = [o for o in objs if 'key' not in o]
    rep.check(objs and objs[0].get('rdb_version') == version
              and objs[-1] == {'eof': True, 'checksum': 'ok'}
              and all('value' not in o or 'aux' in o for o in others),
              'rmig inspect --json starts with the RDB version and ends with a checked CRC',
              'first %r, last %r' % (objs[:1], objs[-1:]))
    sample = got.get((9, b'a/b/d/0'), {})
    rep.check(sample.get('value') == ['x', 'y'] and got.get((0, b'plainkey1'), {}).get('value')
              == 'no separator' and got.get((0, b'cache:obj:7'), {}).get('value') == '7000',
              'rmig inspect --json shows values as Redis holds them (a list, a string, an '
              'int-encoded string)', '%r' % sample)

    rc, out, err = run_rmig(rmig, ['inspect', '--raw', path])
    raw = [o for o in json_lines(out) if 'key' in o] if rc == 0 else []
    bad = [short(jbytes(o['key'])) for o in raw
           if len(bytes.fromhex(o['payload'])) - 11 != keys.get((o['db'], jbytes(o['key'])), {})
           .get('raw')]
    rep.check(rc == 0 and len(raw) == len(keys) and not bad,
              'rmig inspect --raw prints a payload of the DUMP size for every key',
              'exit %d, %d payloads for %d keys, wrong sizes: %s'
              % (rc, len(raw), len(keys), bad[:5]))

    exp = expected_stats(keys)
    rc, out, err = run_rmig(rmig, ['inspect', '--stats-json', path])
    try:
        s = json.loads(out)
    except ValueError as e:
        s = {'error': repr(e)}
    rep.check(rc == 0 and not err and s.get('file') == path and s.get('version') == version
              and s.get('file_bytes') == size,
              'rmig inspect --stats-json names the file, its RDB version and its size',
              'exit %d, stderr %r, %r' % (rc, err, {k: s.get(k) for k in ('file', 'version',
                                                                            'file_bytes')}))
    g = got_stats(s)
    rep.check((g['keys'], g['keys_with_ttl'], g['keys_expired']) ==
              (exp['keys'], exp['keys_with_ttl'], exp['keys_expired']),
              'rmig inspect --stats-json counts the keys, the keys with a TTL and the keys already '
              'expired (%d, %d, %d)' % (exp['keys'], exp['keys_with_ttl'], exp['keys_expired']),
              'got %r' % ((g['keys'], g['keys_with_ttl'], g['keys_expired']),))
    rep.check(g['dbs'] == exp['dbs'], 'rmig inspect --stats-json counts keys per db, type and TTL',
              diff(g['dbs'], exp['dbs'])[:6])
    rep.check(g['types'] == exp['types'],
              'rmig inspect --stats-json sums keys, elements and DUMP-sized bytes per type',
              diff(g['types'], exp['types'])[:6])
    rep.check(g['biggest_by_bytes'] == exp['biggest_by_bytes'],
              'rmig inspect --stats-json lists the 20 biggest keys by bytes, biggest first',
              diff(g['biggest_by_bytes'], exp['biggest_by_bytes'])[:4])
    rep.check(g['biggest_by_elements'] == exp['biggest_by_elements'],
              'rmig inspect --stats-json lists the 20 biggest keys by element count, biggest first',
              diff(g['biggest_by_elements'], exp['biggest_by_elements'])[:4])
    order = [p['bytes'] for p in s.get('prefixes', [])]
    rep.check(g['prefixes'] == exp['prefixes'] and order == sorted(order, reverse=True)
              and s.get('other_prefixes') == {'keys': 0, 'bytes': 0},
              'rmig inspect --stats-json counts keys and bytes per key prefix, largest first',
              diff(g['prefixes'], exp['prefixes'])[:6])

    for sep, depth, args in ((b'/', 2, ['--separator', '/', '--prefix-depth', '2']),
                             (b':', 2, ['--prefix-depth', '2']),
                             (b'/', 1, ['--separator', '/'])):
        rc, out, err = run_rmig(rmig, ['inspect', '--stats-json'] + args + [path])
        e = expected_stats(keys, sep, depth)
        gp = got_stats(json.loads(out))['prefixes'] if rc == 0 else {}
        rep.check(rc == 0 and gp == e['prefixes'],
                  'rmig inspect --stats-json %s groups keys by that prefix' % ' '.join(args),
                  'exit %d %s; %s' % (rc, err[-200:], diff(gp, e['prefixes'])[:6]))

    rc, out, err = run_rmig(rmig, ['inspect', '--stats-json', '--big', '3', path])
    g = got_stats(json.loads(out)) if rc == 0 else {'biggest_by_bytes': None}
    exp3 = expected_stats(keys, top=3)
    rep.check(rc == 0 and g['biggest_by_bytes'] == exp3['biggest_by_bytes'] and
              g['biggest_by_elements'] == exp3['biggest_by_elements'],
              'rmig inspect --big 3 lists only the three biggest keys',
              'exit %d, %r' % (rc, g.get('biggest_by_bytes')))

    # the text report
    rc, out, err = run_rmig(rmig, ['inspect', path])
    text = out.decode('utf-8', 'replace')
    rc2, out2, _ = run_rmig(rmig, ['inspect', '--stats', path])
    problems = []
    if rc != 0 or err or out2 != out or rc2 != 0:
        problems.append('exit %d/%d, stderr %r, --stats and the default differ: %s'
                        % (rc, rc2, err[-200:], out2 != out))
    if 'keys        %d (with TTL %d, already expired %d)' % (
            exp['keys'], exp['keys_with_ttl'], exp['keys_expired']) not in text:
        problems.append('no key count line')
    for db, d in exp['dbs'].items():
        cols = [db, str(sum(d[t] for t in KINDS))] + [str(d[t]) for t in KINDS]
        if not re.search(r'^\s+' + r'\s+'.join(cols) + r'\s*$', text, re.M):
            problems.append('no row for db %s (%s)' % (db, ' '.join(cols)))
    for t, v in exp['types'].items():
        if not re.search(r'^\s+%s\s+%d\s+%d\s' % (t, v['keys'], v['elements']), text, re.M):
            problems.append('no row for type %s' % t)
    sec = text.split('biggest keys by serialized size')[-1].split('biggest keys by element count')
    top_bytes = exp['biggest_by_bytes'][0]['key'].decode()
    top_elems = exp['biggest_by_elements'][0]['key'].decode()
    if len(sec) != 2 or top_bytes not in sec[0].splitlines()[1] or \
            top_elems not in sec[1].splitlines()[1]:
        problems.append('biggest keys sections do not start with %s / %s' % (top_bytes, top_elems))
    m = re.search(r"bytes by key prefix \(separator ':'.*\n((?:  .*\n)+)", text)
    user = exp['prefixes'][b'user']
    if not m or not re.search(r'^\s+\S+ \S+\s+%d\s+user$' % user[0], m.group(1), re.M):
        problems.append('no prefix row "user" with %d keys' % user[0])
    rep.check(not problems, 'rmig inspect --stats (the default) reports key counts per db and '
              'type, the biggest keys and the key prefixes', '; '.join(problems) +
              '\n' + text[:600])

    rc, out, err = run_rmig(rmig, ['inspect', '--count', path])
    want = '%d keys, %d bytes of values, RDB version %d\n' % (
        len(keys), sum(v['raw'] for v in keys.values()), version)
    rep.check(rc == 0 and out.decode() == want and not err,
              'rmig inspect --count prints the number of keys and of value bytes',
              'exit %d, %r, expected %r' % (rc, out.decode(), want))


def check_inputs(rep, rmig, tmp, path):
    """stdin, pipes and .lz4 give the same output as the plain file."""
    ref = {m: run_rmig(rmig, ['inspect', m, path]) for m in ('--json', '--count', '--stats-json')}

    def same(res, mode):
        rc, out, err = res
        r_rc, r_out, _ = ref[mode]
        if mode == '--stats-json' and rc == 0:
            try:
                a, b = json.loads(out), json.loads(r_out)
            except ValueError:
                return 'not JSON: %r' % out[:200]
            a.pop('file', None)
            b.pop('file', None)
            return None if a == b else '; '.join(diff(a, b)[:4])
        if rc != r_rc or out != r_out:
            return 'exit %d, stderr %r, %d bytes of output (the file gives %d)' % (
                rc, err.strip()[-300:], len(out), len(r_out))
        return None

    for mode in ('--json', '--count', '--stats-json'):
        with open(path, 'rb') as f:
            d = same(run_rmig(rmig, ['inspect', mode, '-'], stdin=f), mode)
        rep.check(d is None, 'rmig inspect %s - reads a file redirected to stdin like the file'
                  % mode, d)
    d = same(piped(rmig, ['inspect', '--json', '-'], ['cat', path]), '--json')
    rep.check(d is None, 'rmig inspect --json - reads an RDB piped into it like the file', d)
    rc, out, err = run_rmig(rmig, ['inspect', '--stats-json', '-'], input=read(path))
    rep.check(rc == 0 and json.loads(out).get('file') == 'stdin',
              'rmig inspect --stats-json - calls its input stdin', out[:100])

    if not have('lz4'):
        rep.fail('rmig inspect reads .lz4 files',
                 'the lz4 command is not installed (apt-get install lz4)')
        return
    lz = os.path.join(tmp, 'known.rdb.lz4')
    lz4_compress(path, lz)
    for mode in ('--json', '--count', '--stats-json'):
        d = same(run_rmig(rmig, ['inspect', mode, lz]), mode)
        rep.check(d is None, 'rmig inspect %s gives the same output for an .lz4 file as for the '
                  'plain file' % mode, d)
    with open(lz, 'rb') as f:
        d = same(run_rmig(rmig, ['inspect', '--json', '-'], stdin=f), '--json')
    rep.check(d is None, 'rmig inspect --json - decompresses an .lz4 file on stdin', d)
    d = same(piped(rmig, ['inspect', '--json', '-'], ['lz4', '-c', '-q', path]), '--json')
    rep.check(d is None, 'rmig inspect --json - decompresses lz4 piped into it (lz4 -c | rmig)', d)
    bad = []
    for opts in (['-1'], ['-9'], ['-BD'], ['-B4'], ['--content-size'], ['--no-frame-crc'],
                 ['-BX']):
        v = os.path.join(tmp, 'variant.lz4')
        lz4_compress(path, v, opts)
        d = same(run_rmig(rmig, ['inspect', '--json', v]), '--json')
        if d:
            bad.append('lz4 %s: %s' % (' '.join(opts), d))
    rep.check(not bad, 'rmig inspect reads every LZ4 frame variant the lz4 tool writes '
              '(levels, linked blocks, 64 KB blocks, content size, block checksums)',
              '; '.join(bad[:3]))
    data = read(lz)
    bad = []
    for cut in (len(data) // 2, len(data) - 4, len(data) - 1):
        v = os.path.join(tmp, 'cut.lz4')
        with open(v, 'wb') as f:
            f.write(data[:cut])
        rc, out, err = run_rmig(rmig, ['inspect', '--count', v])
        w = one_error_line(rc, err, must=())
        if w:
            bad.append('cut at %d: %s' % (cut, w))
    rep.check(not bad, 'a truncated .lz4 file fails with exit 1 and one line on stderr',
              '; '.join(bad))
    bad = []
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x55
    v = os.path.join(tmp, 'flipped.lz4')
    with open(v, 'wb') as f:
        f.write(flipped)
    rc, out, err = run_rmig(rmig, ['inspect', '--count', v])
    w = one_error_line(rc, err, must=())
    rep.check(w is None, 'a corrupted .lz4 file fails with exit 1 and one line on stderr', w)


def check_errors(rep, rmig, tmp, path, value_marker):
    rng = random.Random(SEED)
    data = read(path)

    def write(name, b):
        p = os.path.join(tmp, name)
        with open(p, 'wb') as f:
            f.write(b)
        return p

    missing = os.path.join(tmp, 'no-such-file.rdb')
    rc, out, err = run_rmig(rmig, ['inspect', missing])
    w = one_error_line(rc, err, must=(missing,))
    rep.check(w is None, 'a file that does not exist fails with exit 1 and a message naming it', w)
    rc, out, err = run_rmig(rmig, ['inspect', tmp])
    w = one_error_line(rc, err, must=(tmp,))
    rep.check(w is None, 'a directory given as the file fails with exit 1 and says so', w)
    rc, out, err = run_rmig(rmig, ['inspect', write('empty.rdb', b'')])
    w = one_error_line(rc, err)
    rep.check(w is None, 'an empty file fails with exit 1 and one line naming the offset', w)

    cuts = sorted(set([1, 5, 8, 9, 10, 11, 20, 50, 100, 1000, len(data) // 3, len(data) // 2,
                       value_marker + 10, value_marker + 100000, len(data) - 10, len(data) - 9,
                       len(data) - 8, len(data) - 4, len(data) - 1] +
                      [rng.randrange(1, len(data)) for _ in range(40)]))
    bad = []
    for cut in cuts:
        p = write('cut.rdb', data[:cut])
        for mode in ('--count', '--json'):
            rc, out, err = run_rmig(rmig, ['inspect', mode, p])
            w = one_error_line(rc, err)
            if w:
                bad.append('cut at %d, %s: %s' % (cut, mode, w))
    rep.check(not bad, 'an RDB file cut short anywhere (%d places) fails with exit 1 and one '
              'stderr line naming the offset' % len(cuts), '; '.join(bad[:5]))

    b = bytearray(data)
    b[-1] ^= 0x01
    rc, out, err = run_rmig(rmig, ['inspect', '--count', write('crc.rdb', bytes(b))])
    w = one_error_line(rc, err, must=('crc', 'offset'))
    rep.check(w is None, 'a flipped byte in the CRC64 trailer fails with exit 1 and says CRC', w)
    b = bytearray(data)
    b[value_marker + 5000] ^= 0x20
    p = write('flip-value.rdb', bytes(b))
    rc, out, err = run_rmig(rmig, ['inspect', '--count', p])
    w = one_error_line(rc, err, must=('crc',))
    rep.check(w is None, 'a flipped byte inside a value is caught by the CRC64 check', w)
    rc, out, err = run_rmig(rmig, ['inspect', '--count', '--no-crc', p])
    rep.check(rc == 0, 'rmig inspect --no-crc reads a file whose CRC64 does not match',
              'exit %d %r' % (rc, err))

    rc, out, err = run_rmig(rmig, ['inspect', write('garbage.rdb', rng.randbytes(4096))])
    w = one_error_line(rc, err)
    rep.check(w is None, 'a file of random bytes fails with exit 1 and one line naming the offset',
              w)
    rc, out, err = run_rmig(rmig, ['inspect', '--json', write('garbage2.rdb', b'REDIS0010' +
                                                             rng.randbytes(4096))])
    w = one_error_line(rc, err)
    rep.check(w is None, 'an RDB header followed by random bytes fails with exit 1 and one line '
              'naming the offset', w)
    rc, out, err = run_rmig(rmig, ['inspect', write('text.rdb', b'hello, this is not redis\n')])
    w = one_error_line(rc, err)
    rep.check(w is None, 'a text file fails with exit 1 and one line naming the offset', w)

    ref = run_rmig(rmig, ['inspect', '--json', path])
    p = write('trailing.rdb', data + rng.randbytes(40))
    res = {m: run_rmig(rmig, ['inspect', m, p]) for m in ('--json', '--raw', '--count', '--stats')}
    rep.check(all(r[0] == 0 for r in res.values()) and res['--json'][1] == ref[1],
              'an RDB file with 40 bytes after its end still reads with exit 0 and the same keys',
              {m: (r[0], r[2][-200:]) for m, r in res.items()})

    # usage errors
    for args, want, what in (
            (['inspect', '--bogus', path], 2, 'an unknown option'),
            (['inspect'], 2, 'no file argument'),
            (['inspect', '--json'], 2, 'options but no file'),
            (['inspect', path, path], 2, 'two files'),
            (['inspect', '--separator', 'ab', path], 2, '--separator with two characters'),
            (['inspect', '--big', '0', path], 2, '--big 0'),
            (['inspect', '--prefix-depth', 'x', path], 2, '--prefix-depth x'),
            (['inspect', '--big'], 2, '--big without its number'),
            ([], 2, 'no command'),
            (['frobnicate'], 2, 'an unknown command')):
        rc, out, err = run_rmig(rmig, args)
        rep.check(rc == want and err.strip() and not out,
                  'rmig %s exits %d with a message on stderr (%s)' % (' '.join(
                      a if a != path else 'FILE' for a in args) or '(no arguments)', want, what),
                  'exit %d, stdout %r, stderr %r' % (rc, out[:100], err[:200]))
    for args in (['--help'], ['help'], ['inspect', '--help'], ['inspect', '-h']):
        rc, out, err = run_rmig(rmig, args)
        rep.check(rc == 0 and b'usage' in out and not err,
                  'rmig %s prints the usage on stdout and exits 0' % ' '.join(args),
                  'exit %d, stdout %r, stderr %r' % (rc, out[:100], err[:200]))
    rc, out, err = run_rmig(rmig, ['version'])
    rep.check(rc == 0 and re.match(rb'rmig \d+\.\d+\.\d+\n$', out),
              'rmig version prints its version', 'exit %d %r' % (rc, out))


def check_big(rep, rmig, big):
    """Memory and closed pipes on ~300k keys and a 200k-field hash."""
    for mode in ('--stats', '--json', '--raw', '--count'):
        if not os.path.exists('/usr/bin/time'):
            rep.fail('rmig inspect %s stays under 64 MiB of memory' % mode,
                     '/usr/bin/time is missing (apt-get install time)')
            break
        p = subprocess.run(['/usr/bin/time', '-v', rmig, 'inspect', mode, big],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        err = p.stderr.decode('utf-8', 'replace')
        m = re.search(r'Maximum resident set size \(kbytes\): (\d+)', err)
        kb = int(m.group(1)) if m else None
        rep.check(p.returncode == 0 and kb is not None and kb < 64 * 1024,
                  'rmig inspect %s on 300k keys and a 200k-field hash stays under 64 MiB of '
                  'memory (%s KiB)' % (mode, kb), 'exit %d, %s' % (p.returncode, err[-400:]))

    t0 = time.time()
    p1 = subprocess.Popen([rmig, 'inspect', '--json', big], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    p2 = subprocess.Popen(['head', '-1'], stdin=p1.stdout, stdout=subprocess.PIPE)
    p1.stdout.close()
    first = p2.communicate(timeout=60)[0]
    try:
        p1.wait(timeout=30)
        err = p1.stderr.read().decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        p1.kill()
        p1.wait()
        err = '(killed after 30 s)'
    p1.stderr.close()
    took = time.time() - t0
    rep.check(first.startswith(b'{"rdb_version":') and not err and took < 30,
              'rmig inspect --json big.rdb | head -1 ends quietly (no message on stderr) in '
              '%.1f s' % took, 'exit %s, stderr %r, first line %r' % (p1.returncode, err[-300:],
                                                                      first[:100]))

    # An input that does not end (a slow network stream, or a very big file):
    # once the reader of the output has gone, rmig should stop reading.
    p = subprocess.Popen([rmig, 'inspect', '--json', '-'], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rec = b''.join(b'\x00\x0akey:%06d\x14' % i + b'v' * 20 for i in range(20000))
    fed, stop = [0], threading.Event()

    def feed():
        try:
            p.stdin.write(b'REDIS0010\xfe\x00')
            while not stop.is_set():
                p.stdin.write(rec)
                fed[0] += len(rec)
        except OSError:
            pass
    th = threading.Thread(target=feed, daemon=True)
    th.start()
    line = p.stdout.readline()
    p.stdout.close()
    try:
        p.wait(timeout=5)
        ended = True
    except subprocess.TimeoutExpired:
        ended = False
    stop.set()
    if not ended:
        p.kill()
        p.wait()
    th.join(5)
    try:
        p.stdin.close()
    except OSError:
        pass
    err = p.stderr.read().decode('utf-8', 'replace')
    p.stderr.close()
    rep.check(line.startswith(b'{"rdb_version":10') and ended and not err.strip(),
              'rmig inspect --json stops reading its input soon after the reader of its output '
              'goes away (endless input | head -1)',
              '%s after the reader left; %d MB were fed in all; stderr %r'
              % ('it ended' if ended else 'still running 5 s', fed[0] >> 20, err[-200:]))


def check_corpus(rep, rmig, tmp, corpus):
    rows = [r for r in corpus_index(corpus) if r.get('dir') == 'rdb']
    bad, crc, counted, bad_lz4 = [], [], 0, []
    for r in rows:
        p = os.path.join(corpus, 'rdb', r['file'])
        if not os.path.exists(p):
            continue
        if r.get('expect') == 'error':
            rc, out, err = run_rmig(rmig, ['inspect', '--json', p])
            w = one_error_line(rc, err)
            if w:
                bad.append('%s: %s' % (r['file'], w))
            if 'chksum' in r['file'] and 'crc' not in err.lower():
                crc.append('%s: %r' % (r['file'], err))
            continue
        res = {m: run_rmig(rmig, ['inspect', m, p]) for m in ('--count', '--json', '--stats-json')}
        if any(x[0] != 0 for x in res.values()):
            bad.append('%s: %r' % (r['file'], {m: (x[0], x[2][-150:]) for m, x in res.items()}))
            continue
        n_count = int(res['--count'][1].split()[0])
        n_json = sum(1 for o in json_lines(res['--json'][1]) if 'key' in o)
        n_stats = json.loads(res['--stats-json'][1])['keys']
        if not n_count == n_json == n_stats:
            bad.append('%s: --count %d, --json %d, --stats-json %d keys'
                       % (r['file'], n_count, n_json, n_stats))
        counted += 1
        if have('lz4'):
            lz = os.path.join(tmp, 'corpus.lz4')
            lz4_compress(p, lz)
            rc, out, err = run_rmig(rmig, ['inspect', '--json', lz])
            if rc != 0 or out != res['--json'][1]:
                bad_lz4.append('%s (exit %d: %s)' % (r['file'], rc, err.strip()[-120:]))
    rep.check(not bad and counted > 50,
              'every corpus file meant to read does with --count, --json and --stats-json agreeing '
              'on the key count, and every corrupt one fails with exit 1 and one offset line '
              '(%d files)' % len(rows), '; '.join(bad[:5]))
    rep.check(not crc, 'the corpus file with a wrong CRC64 fails saying CRC', crc)
    if have('lz4'):
        rep.check(not bad_lz4, 'every corpus file compressed with lz4 gives the same --json output '
                  'as the plain file', '%d files differ: %s' % (len(bad_lz4), bad_lz4[:3]))


def write_files(tmp):
    """The known file (with its expected per-key numbers) and the big one."""
    srv = Server(os.path.join(tmp, 'known'), name='known').start()
    try:
        c = srv.conn()
        send(c, fill_known(c, random.Random(SEED)))
        keys = describe_keys(c)
        # keys already expired when the file is written (active expiry off, never read)
        c.call('DEBUG', 'SET-ACTIVE-EXPIRE', 0)
        c.call('SELECT', 0)
        for i in range(7):
            c.call('SET', 'expired:%d' % i, 'gone', 'PX', 1)
            keys[(0, b'expired:%d' % i)] = {'type': 'string', 'raw': 5, 'bytes': 5 + 9,
                                            'elements': 1, 'ttl': True, 'expired': True}
        time.sleep(0.05)
        c.call('SAVE')
        c.close()
    finally:
        srv.stop()
    known = os.path.join(tmp, 'known.rdb')
    shutil.copy(os.path.join(srv.dir, 'dump.rdb'), known)

    big_srv = Server(os.path.join(tmp, 'big'), name='big').start()
    try:
        c = big_srv.conn()
        make_big(c)
        c.call('SAVE')
        c.close()
    finally:
        big_srv.stop()
    big = os.path.join(tmp, 'big.rdb')
    shutil.copy(os.path.join(big_srv.dir, 'dump.rdb'), big)
    return known, keys, big


def main():
    if len(sys.argv) != 2:
        print('usage: %s /path/to/rmig' % sys.argv[0], file=sys.stderr)
        return 2
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-inspect-cli-')
    print('# seed %d (RMIG_TEST_SEED)' % SEED, flush=True)
    t0 = time.time()
    try:
        try:
            known, keys, big = write_files(tmp)
        except Exception as e:
            rep.fail('redis-server writes the RDB files these checks read', repr(e))
            return rep.finish()
        print('# files written in %.1f s' % (time.time() - t0), flush=True)
        marker = read(known).find(b'big:00')
        for name, fn, args in (('the modes', check_modes, (rep, rmig, known, keys)),
                               ('the input forms', check_inputs, (rep, rmig, tmp, known)),
                               ('the errors', check_errors, (rep, rmig, tmp, known, marker)),
                               ('the big file', check_big, (rep, rmig, big))):
            try:
                fn(*args)
            except Exception as e:
                rep.fail('the checks of %s run to the end' % name, repr(e))
        corpus = corpus_dir()
        if corpus:
            try:
                check_corpus(rep, rmig, tmp, corpus)
            except Exception as e:
                rep.fail('the corpus checks run to the end', repr(e))
        else:
            print('# RMIG_CORPUS is not set or has no rdb/: corpus checks skipped')
    finally:
        stop_all_servers()
    print('# %.1f s' % (time.time() - t0))
    return rep.finish()


if __name__ == '__main__':
    sys.exit(main())

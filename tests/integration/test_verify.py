#!/usr/bin/env python3
"""`rmig verify PIPELINE`: the pipeline's source (an RDB file, or a live
server read by SCAN + DUMP) through its nodes, compared key by key with the
sink's target. Every run writes --report FILE and the checks read it (the
counts per kind of difference, the keys named) as well as stdout. Scenarios:

  clean     every type (binary names, lists, sets and intsets, zsets, small
            and >512-field hashes, streams with consumer groups and pending
            entries, TTLs) in dbs 0 and 2, saved to an RDB file, moved by
            `rmig run` into a target: full and outline verify say no
            difference (exit 0), every key checked, keys expired at the
            source counted as such; the same with a scan source pipeline,
            and after a scan run
  damage    the target changed by hand, one thing at a time and undone
            after: a key deleted (missing; the JSON report checked), a
            string, a list, a hash, a set, an intset, a zset, a stream, a
            100 kB string, an integer changed (value; a list element
            appended: count in outline mode), a TTL removed, added or moved
            beyond the tolerance (ttl; within it: none; --ttl-tolerance), a
            key of another type (type), an extra key (counted; named with
            --extra), RENAME k k2 (missing k, extra k2), --show 2: each
            exactly that difference, the key named on stdout and in the
            report, exit 1; hashes, zsets, sets re-encoded by DEBUG RELOAD,
            a list in other quicklist nodes, an integer string made raw: no
            difference
  pipeline  a key filter (prefix), a rename (prefix), a db map {[2] = 5}:
            migrated with it, verified with it (RDB and scan sources): no
            difference, dropped keys counted and not reported missing; a
            renamed key damaged on the target is reported under its new
            name and db; a key the nodes drop found on the target is extra
  big       values over sink.chunk_bytes (4096) of every type, 120k
            elements (a zset with fractional scores, a hash, a set, an
            intset, lists, a 3 MB string, a stream, a hash with a TTL),
            migrated and verified in pieces (the target's commandstats show
            ZRANGE by rank, HSCAN, SSCAN, LRANGE and GETRANGE): no
            difference; each damage to one of them (a score in the second
            piece, a member, a field, an element, a byte, an append, a
            TTL, a deletion, another type) reported exactly, in both modes
  live      `rmig run` (scan, live = true) follows a source a writer
            changes: values changing in flight are cleared by --rounds 4
            --delay 1 (exit 0); with DEL and creations too, nothing missing
            (other differences printed as a note); once the writer stops
            and the target converged, no difference (the live pipeline file
            too); a key changed on the target only stays different over the
            rounds; SIGINT ends the run with exit 0
  errors    an unknown option and wrong values: exit 2; an unreachable
            target or source: exit 1 naming it (report: complete false);
            -s overrides the pipeline; --sample 0.5 checks about half of
            the keys, and an equal target has no difference; a target
            user without LRANGE: exit 1 naming LRANGE, the key, NOPERM

usage: python3 test_verify.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (data and writer's seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Server, free_port, run_rmig, run_scenarios, short, write)  # noqa: E402
from test_psync import Rmig, converge, kill_running, lua_string, wait_for  # noqa: E402
from test_scan import Writer, reaped  # noqa: E402

NOTIFY = ['--notify-keyspace-events', 'KEA']
KINDS = ('missing', 'extra', 'type', 'value', 'ttl', 'count')
DBS = (0, 2)
BIN = b'bin\x00:\xff\r\n %d'    # key names with NUL, CR LF, a space and bytes that are not UTF-8
BIG_N = 120000                  # elements of the big values (pieces of 50000 on the target)
SOON = 20                       # keys of db 0 that expire between the save and the verify


def tail(text, n=800):
    return text[-n:].replace('\n', ' | ')


def sink(tport):
    return 'rmig.sink.redis { addr = "127.0.0.1:%d" }' % tport


def rdb_pipeline(path, tport, nodes=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.rdb { path = %s },\n'
            '  nodes = { %s },\n'
            '  sink = %s,\n}\n') % (lua_string(path), nodes, sink(tport))


def scan_pipeline(port, tport, extra='', nodes=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.scan { addr = "127.0.0.1:%d"%s },\n'
            '  nodes = { %s },\n'
            '  sink = %s,\n}\n') % (port, extra, nodes, sink(tport))


def shown(key):
    """A key as verify's stdout shows it: printable bytes as they are, the others as \\xNN."""
    if isinstance(key, str):
        key = key.encode()
    return ''.join(chr(b) if 0x20 <= b < 0x7f else '\\x%02x' % b for b in key)


def kb(key):
    return key.encode() if isinstance(key, str) else key


# --- data ------------------------------------------------------------------------------

def fill(c, rng):
    """Keys of every type in dbs 0 and 2 (the same names in both), some
    with long TTLs; plus SOON keys in db 0 expiring in a second. Returns
    {db: number of keys written}."""
    counts = {}
    for db in DBS:
        cmds = [['SELECT', db]]
        for i in range(600):
            v = rng.randbytes(rng.randint(1, 60)) if i % 3 else 'v%d' % i
            cmds.append(['SET', 's:%d' % i, v])
            if i % 5 == 0:
                cmds.append(['PEXPIRE', 's:%d' % i, 3600000 + i * 1000])
        cmds.append(['SET', 'long', rng.randbytes(100000)])
        for i in range(100):
            cmds.append(['SET', 'n:%d' % i, i * 7 - 50])
        for i in range(50):
            cmds.append(['SET', BIN % i, b'\x00\xff%d' % i])
        for i in range(150):
            cmds.append(['RPUSH', 'l:%d' % i] + ['e%d' % j for j in range(i % 9 + 1)])
        cmds.append(['RPUSH', 'bigl'] + ['e%d' % j for j in range(1000)])
        cmds.append(['RPUSH', 'longl'] + ['%d' % (j % 10) for j in range(3000)])   # (read by DUMP: over 1024)
        for i in range(100):
            cmds.append(['SADD', 'set:%d' % i] + ['m%d' % j for j in range(i % 8 + 1)])
            cmds.append(['SADD', 'iset:%d' % i] + [str(j * 3 - 5) for j in range(i % 10 + 1)])
        cmds.append(['SADD', 'bigset'] + ['m%d' % j for j in range(600)])
        cmds.append(['SADD', 'bigiset'] + [str(j) for j in range(600)])
        for i in range(100):
            cmds.append(['ZADD', 'z:%d' % i] + sum(([str(j * 0.5 - 1), 'm%d' % j] for j in range(i % 8 + 1)), []))
        cmds.append(['ZADD', 'bigz'] + sum(([str(j / 3.0), 'm%d' % j] for j in range(300)), []))
        for i in range(150):
            cmds.append(['HSET', 'h:%d' % i] + sum((['f%d' % j, 'v%d' % (i + j)] for j in range(i % 12 + 1)), []))
            if i % 7 == 0:
                cmds.append(['EXPIRE', 'h:%d' % i, 7200])
        cmds.append(['HSET', 'bigh'] + sum((['f%d' % j, 'v%d' % j] for j in range(600)), []))
        for i in range(30):
            k = 'x:%d' % i
            cmds.append(['XADD', k, '*', 'a', str(i), 'b', 'c'])
            if i % 10 == 0:
                cmds.append(['XADD', k, '*', 'a', 'second'])
                cmds.append(['XGROUP', 'CREATE', k, 'g', '0'])
                cmds.append(['XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', k, '>'])
        if db == 0:
            for i in range(SOON):
                cmds.append(['SET', 'soon:%d' % i, i, 'PX', 1000])
        for r in c.pipeline(cmds):
            if isinstance(r, Exception):
                raise r
        counts[db] = c.call('DBSIZE')
    c.call('SELECT', 0)
    return counts


class Snap:
    """Some keys of a server as DUMP + PEXPIRETIME (an instant: a key put
    back later expires when it would have), put back by undo()."""

    def __init__(self, c, keys):
        self.c = c
        self.keys = []
        for db, k in keys:
            c.call('SELECT', db)
            self.keys.append((db, k, c.call('DUMP', k), c.call('PEXPIRETIME', k)))
        c.call('SELECT', 0)

    def undo(self):
        for db, k, dump, at in self.keys:
            self.c.call('SELECT', db)
            if dump is None:
                self.c.call('DEL', k)
            elif at > 0:
                self.c.call('RESTORE', k, at, dump, 'REPLACE', 'ABSTTL')
            else:
                self.c.call('RESTORE', k, 0, dump, 'REPLACE')
        self.c.call('SELECT', 0)


# --- verify ----------------------------------------------------------------------------

class Verified:
    def __init__(self, rc, out, err, report):
        self.rc, self.out, self.err, self.report = rc, out, err, report

    def diffs(self):
        return (self.report or {}).get('differences') or {}

    def named(self, kind):
        """The keys the report names under kind: [(db, key bytes)]."""
        return [(x['db'], x['key'].encode('latin-1')) for x in ((self.report or {}).get('keys') or {}).get(kind, [])]

    def why(self, kind, db, key):
        for x in ((self.report or {}).get('keys') or {}).get(kind, []):
            if x['db'] == db and x['key'].encode('latin-1') == kb(key):
                return x['why']
        return None

    def nonzero(self):
        return {k: v for k, v in self.diffs().items() if v}

    def details(self):
        return 'rc %r; differences %r; stdout: %s; stderr: %s' % (
            self.rc, self.nonzero(), tail(self.out, 900), tail(self.err, 400))


def verify(ctx, d, path, *args, timeout=60):
    ctx.nverify += 1
    rpt = os.path.join(d, 'report-%d.json' % ctx.nverify)
    rc, out, err = run_rmig(ctx.rmig, ['verify', path, '--report', rpt] + [str(a) for a in args], timeout=timeout)
    report = None
    if os.path.exists(rpt):
        with open(rpt, encoding='utf-8') as f:
            try:
                report = json.load(f)
            except ValueError as e:
                report = {'unreadable': str(e)}
    return Verified(rc, out.decode('utf-8', 'replace'), err, report)


def check_clean(rep, what, v, checked=None):
    """Exit 0, "no difference" on stdout, the report ok and complete with
    every count 0 (and `checked` keys checked when given)."""
    r = v.report or {}
    ok = (v.rc == 0 and 'no difference' in v.out and r.get('ok') is True and r.get('complete') is True
          and not v.nonzero() and set(KINDS) <= set(v.diffs()))
    if checked is not None:
        ok = ok and r.get('checked') == checked
    return rep.check(ok, '%s: exit 0, no difference (%s keys checked)' % (what, r.get('checked')),
                     v.details() + ('; want %d checked' % checked if checked is not None else ''))


def check_only(rep, what, v, kind, n=1, keys=(), unnamed=False):
    """Exit 1, exactly n differences of kind and none of the others, each of
    `keys` ((db, key)) named under kind in the report and on stdout (or, with
    unnamed, none named and stdout saying --extra names them)."""
    d = v.nonzero()
    ok = v.rc == 1 and d == {kind: n} and (v.report or {}).get('ok') is False
    line = re.search(r'^  differences: (.*)$', v.out, re.M)
    ok = ok and line is not None and ('%s %d' % (kind, n)) in line.group(1)
    named = v.named(kind)
    for db, k in keys:
        ok = ok and (db, kb(k)) in named and ('    db %d "%s": ' % (db, shown(k))) in v.out
    if unnamed:
        ok = ok and not named and '--extra names them' in v.out
    what_keys = ', '.join('db %d %s' % (db, short(kb(k), 30)) for db, k in keys)
    return rep.check(ok, '%s: exit 1, %s %d%s' % (what, kind, n, (' naming ' + what_keys) if keys else
                                                    (' (not named)' if unnamed else '')), v.details())


# --- scenarios -------------------------------------------------------------------------

class Ctx:
    pass


def server(ctx, d, name, config=()):
    s = Server(os.path.join(d, name), config=list(config), name=name).start()
    ctx.servers.append(s)
    return s


def saved_source(ctx, d, config=()):
    """A source filled with every type and saved: (server, conn, RDB path,
    {db: keys in the file}); waits until the SOON keys expired."""
    src = server(ctx, d, 'src', config)
    s = src.conn()
    t0 = time.time()
    counts = fill(s, random.Random(ctx.seed))
    s.call('SAVE')
    rdb = os.path.join(src.dir, src.dbfilename)
    time.sleep(max(0.0, t0 + 1.2 - time.time()))
    return src, s, rdb, counts


def migrate(ctx, rep, what, d, text, name):
    rc, out, err = run_rmig(ctx.rmig, ['run', write(d, name, text)], timeout=60)
    return rep.check(rc == 0, '%s: rmig run exits 0' % what,
                     'rc %d; %s; %s' % (rc, tail(out.decode('utf-8', 'replace')), tail(err)))


def scenario_clean(ctx, d):
    rep = ctx.rep
    src, s, rdb, counts = saved_source(ctx, d)
    dst = server(ctx, d, 'dst')
    t = dst.conn()
    total = sum(counts.values())
    what = 'clean'
    p = write(d, 'rdb.lua', rdb_pipeline(rdb, dst.port))
    migrate(ctx, rep, what, d, rdb_pipeline(rdb, dst.port), 'rdb.lua')
    for mode in ('full', 'outline'):
        v = verify(ctx, d, p, '--mode', mode)
        check_clean(rep, '%s: %s verify of the RDB pipeline' % (what, mode), v, checked=total - SOON)
        r = v.report or {}
        rep.check(r.get('mode') == mode and r.get('expired') == SOON and r.get('dropped') == 0
                  and r.get('sampled_out') == 0 and r.get('pipeline', '').endswith('rdb.lua')
                  and re.search(r'^verify \S*rdb\.lua \(%s\): %d keys checked in [\d.]+ s' % (mode, total - SOON),
                                v.out, re.M) and ('%d expired at the source' % SOON) in v.out,
                  '%s: %s: the summary and the report say %d keys checked, %d expired at the source' % (
                      what, mode, total - SOON, SOON), v.details() + '; report %r' % {k: r.get(k) for k in (
                          'pipeline', 'mode', 'checked', 'expired', 'dropped', 'sampled_out')})
    # the same target, with the source server itself read by SCAN + DUMP
    reaped(s, DBS)
    p = write(d, 'scan.lua', scan_pipeline(src.port, dst.port))
    for mode in ('full', 'outline'):
        v = verify(ctx, d, p, '--mode', mode, '--extra')
        check_clean(rep, '%s: %s verify of a scan pipeline (the source server by SCAN + DUMP)' % (what, mode), v,
                    checked=total - SOON)
    # and a target filled by a scan run: equal too
    t.call('FLUSHALL')
    migrate(ctx, rep, '%s: scan source' % what, d, scan_pipeline(src.port, dst.port), 'scan.lua')
    v = verify(ctx, d, write(d, 'rdb.lua', rdb_pipeline(rdb, dst.port)))
    check_clean(rep, '%s: the RDB pipeline verified after a scan run' % what, v, checked=total - SOON)
    s.close()
    t.close()


def damage_case(ctx, d, t, p, label='damage'):
    """case(what, keys, damage, kind, n=1, named=None, args=(), outline=None,
    unnamed=False): damages the target t (damage(conn)), verifies pipeline p
    (full, args), checks kind n naming `named` (default: keys), undoes.
    outline: the kind the outline mode reports too ('' for none)."""
    rep = ctx.rep

    def case(what, keys, damage, kind, n=1, named=None, args=(), outline=None, unnamed=False):
        snap = Snap(t, keys)
        try:
            damage(t)
            t.call('SELECT', 0)
            v = verify(ctx, d, p, *args)
            if kind:
                check_only(rep, '%s: %s' % (label, what), v, kind, n, keys if named is None else named,
                           unnamed=unnamed)
            else:
                check_clean(rep, '%s: %s' % (label, what), v)
            if outline is not None:
                v2 = verify(ctx, d, p, '--mode', 'outline', *args)
                if outline:
                    check_only(rep, '%s: %s (outline)' % (label, what), v2, outline, n,
                               keys if named is None else named)
                else:
                    check_clean(rep, '%s: %s (outline)' % (label, what), v2)
            return v
        finally:
            snap.undo()
    return case


def at(db, *cmds):
    """A damage: cmds run in db."""
    def f(c):
        c.call('SELECT', db)
        for cmd in cmds:
            c.call(*cmd)
    return f


def scenario_damage(ctx, d):
    rep = ctx.rep
    src, s, rdb, counts = saved_source(ctx, d)
    dst = server(ctx, d, 'dst')
    t = dst.conn()
    p = write(d, 'rdb.lua', rdb_pipeline(rdb, dst.port))
    migrate(ctx, rep, 'damage', d, rdb_pipeline(rdb, dst.port), 'rdb.lua')
    check_clean(rep, 'damage: before any damage', verify(ctx, d, p))

    case = damage_case(ctx, d, t, p)

    v = case('a key deleted', [(0, BIN % 7)], at(0, ['DEL', BIN % 7]), 'missing', outline='missing')
    r = v.report or {}
    rep.check(r.get('ok') is False and r.get('complete') is True and r.get('checked') == sum(counts.values()) - SOON
              and r.get('rounds') == 1 and r.get('keys', {}).get('missing') ==
              [{'db': 0, 'key': (BIN % 7).decode('latin-1'), 'why': r['keys']['missing'][0]['why']}]
              and 'absent' in (v.why('missing', 0, BIN % 7) or '')
              and all(r.get('keys', {}).get(k) == [] for k in KINDS if k != 'missing')
              and isinstance(r.get('seconds'), (int, float)),
              'damage: the JSON report of a key deleted (a binary name): ok false, complete, checked, the key '
              'by its bytes with why "...absent..."', json.dumps(r)[:1500])
    case('a string value changed', [(2, 's:3')], at(2, ['SET', 's:3', 'changed']), 'value')
    case('a list element appended', [(0, 'l:4')], at(0, ['RPUSH', 'l:4', 'more']), 'value', outline='count')
    case('a big list element changed', [(2, 'bigl')], at(2, ['LSET', 'bigl', 500, 'x']), 'value', outline='')
    case('an element of a 3000-element list changed', [(0, 'longl')], at(0, ['LSET', 'longl', 2000, 'x']), 'value',
         outline='')
    case('a hash field changed', [(0, 'h:5')], at(0, ['HSET', 'h:5', 'f0', 'other']), 'value', outline='')
    case('a >512-field hash field changed', [(2, 'bigh')], at(2, ['HSET', 'bigh', 'f300', 'other']), 'value')
    case('a set member swapped', [(0, 'set:7')], at(0, ['SREM', 'set:7', 'm0'], ['SADD', 'set:7', 'mX']), 'value')
    case('an intset member swapped', [(2, 'iset:9')], at(2, ['SREM', 'iset:9', '-5'], ['SADD', 'iset:9', '1000']),
         'value')
    case('a zset score changed', [(0, 'bigz')], at(0, ['ZADD', 'bigz', '99', 'm5']), 'value')
    case('a stream entry added', [(0, 'x:3')], at(0, ['XADD', 'x:3', '*', 'new', '1']), 'value')
    case('a small zset score changed', [(2, 'z:6')], at(2, ['ZADD', 'z:6', '42', 'm0']), 'value', outline='')
    case('one byte of a 100 kB string changed', [(0, 'long')], at(0, ['SETRANGE', 'long', 70000, '\x01\x02']),
         'value')
    case('an integer string changed', [(2, 'n:9')], at(2, ['INCR', 'n:9']), 'value')

    case('a TTL removed (PERSIST)', [(0, 's:10')], at(0, ['PERSIST', 's:10']), 'ttl', outline='ttl')
    case('a TTL added', [(2, 'l:1')], at(2, ['EXPIRE', 'l:1', 100000]), 'ttl', outline='ttl')
    t.call('SELECT', 2)
    when = t.call('PEXPIRETIME', 's:20')   # (an instant: the TTL moved however long the test takes)
    t.call('SELECT', 0)
    case('a TTL 60 s longer', [(2, 's:20')], at(2, ['PEXPIREAT', 's:20', when + 60000]), 'ttl')
    case('a TTL 2 s longer (within the default tolerance)', [(2, 's:20')], at(2, ['PEXPIREAT', 's:20', when + 2000]),
         '')
    case('a TTL 2 s longer with --ttl-tolerance 500', [(2, 's:20')], at(2, ['PEXPIREAT', 's:20', when + 2000]), 'ttl',
         args=('--ttl-tolerance', 500))
    v = case('a list replaced by a string', [(0, 'l:8')], at(0, ['DEL', 'l:8'], ['SET', 'l:8', 'now a string']), 'type',
             outline='type')
    rep.check('list' in (v.why('type', 0, 'l:8') or '') and 'string' in (v.why('type', 0, 'l:8') or ''),
              'damage: the type difference says list and string', v.why('type', 0, 'l:8'))
    case('an extra key (counted, not named)', [(2, 'extra:1')], at(2, ['SET', 'extra:1', 'x']), 'extra', named=(),
         unnamed=True)
    case('an extra key with --extra', [(2, 'extra:1')], at(2, ['SET', 'extra:1', 'x']), 'extra', args=('--extra',),
         outline='extra')
    case('an extra key in a db the source does not have, with --extra', [(9, 'extra:9')],
         at(9, ['SET', 'extra:9', 'x']), 'extra', args=('--extra',))

    # RENAME k k2: k missing, k2 extra
    what = 'damage: RENAME z:3 z:3:wrong'
    snap = Snap(t, [(0, 'z:3'), (0, 'z:3:wrong')])
    t.call('RENAME', 'z:3', 'z:3:wrong')
    for args in ((), ('--extra',)):
        v = verify(ctx, d, p, *args)
        want = {'missing': 1, 'extra': 1}
        ok = v.rc == 1 and v.nonzero() == want and (0, b'z:3') in v.named('missing') and \
            '    db 0 "z:3": ' in v.out
        if args:
            ok = ok and (0, b'z:3:wrong') in v.named('extra') and '    db 0 "z:3:wrong"' in v.out
        rep.check(ok, '%s%s: missing 1 (z:3), extra 1%s' % (what, ' --extra' if args else '',
                                                             ' (z:3:wrong)' if args else ''), v.details())
    snap.undo()

    # re-encoded only: the same content
    for what, cfg, key, before, after in (
            ('hashes', [('hash-max-listpack-entries', 1)], 'h:3', b'listpack', b'hashtable'),
            ('zsets and sets', [('zset-max-listpack-entries', 1), ('set-max-intset-entries', 1)], 'z:3', b'listpack',
             b'skiplist')):
        enc0 = t.call('OBJECT', 'ENCODING', key)
        for name, val in cfg:
            t.call('CONFIG', 'SET', name, val)
        t.call('DEBUG', 'RELOAD')
        enc1 = t.call('OBJECT', 'ENCODING', key)
        extra = ''
        if key == 'z:3':
            extra = ', iset:5 %s' % t.call('OBJECT', 'ENCODING', 'iset:5').decode()
        rep.check(enc0 == before and enc1 == after,
                  'damage: %s re-encoded by DEBUG RELOAD (%s: %s -> %s%s)' % (what, key, enc0.decode(), enc1.decode(),
                                                                              extra), '%r -> %r' % (enc0, enc1))
        v = verify(ctx, d, p, '--extra')
        check_clean(rep, 'damage: %s re-encoded only' % what, v)
    # lists in other quicklist nodes, compressed
    t.call('SELECT', 2)
    q0 = debug_object(t, 'bigl')
    t.call('CONFIG', 'SET', 'list-max-listpack-size', 4)
    t.call('CONFIG', 'SET', 'list-compress-depth', 1)
    items = t.call('LRANGE', 'bigl', 0, -1)   # (a RDB load keeps the nodes as they are: the list built again)
    t.call('DEL', 'bigl')
    t.call('RPUSH', 'bigl', *items)
    q1 = debug_object(t, 'bigl')
    # an integer string stored as raw text
    e0 = t.call('OBJECT', 'ENCODING', 'n:5')
    t.call('APPEND', 'n:5', '')
    e1 = t.call('OBJECT', 'ENCODING', 'n:5')
    t.call('SELECT', 0)
    rep.check(q0.get('ql_nodes') != q1.get('ql_nodes') and q1.get('ql_compressed') == '1' and e0 == b'int'
              and e1 == b'raw', 'damage: a list built again in nodes of 4, compressed (quicklist nodes %s -> %s), '
              'an integer string made raw (%s -> %s)' % (q0.get('ql_nodes'), q1.get('ql_nodes'), e0, e1),
              '%r -> %r; %r -> %r' % (q0, q1, e0, e1))
    check_clean(rep, 'damage: lists and an integer string re-encoded only', verify(ctx, d, p))
    check_clean(rep, 'damage: every damage undone', verify(ctx, d, p, '--extra'))

    # --show: three keys missing, two named
    gone = [(0, 'n:1'), (0, 'n:2'), (2, 'n:3')]
    snap = Snap(t, gone)
    for db, k in gone:
        t.call('SELECT', db)
        t.call('DEL', k)
    t.call('SELECT', 0)
    v = verify(ctx, d, p, '--show', 2)
    listed = re.findall(r'^    db (\d+) "(n:\d)": ', v.out, re.M)
    rep.check(v.rc == 1 and v.nonzero() == {'missing': 3} and len(v.named('missing')) == 2 and len(listed) == 2
              and set(v.named('missing')) <= {(db, kb(k)) for db, k in gone} and '(3, the first shown)' in v.out,
              'damage: three keys deleted, --show 2: missing 3, two of them named (stdout and report)', v.details())
    snap.undo()
    s.close()
    t.close()


def debug_object(c, key):
    """DEBUG OBJECT's fields (ql_nodes, ql_compressed...) as a dict of strings."""
    text = c.call('DEBUG', 'OBJECT', key)
    text = text.decode() if isinstance(text, bytes) else text
    return dict(f.split(':', 1) for f in text.split() if ':' in f)


PIPE_NODES = ('rmig.filter.keys { prefix = { "s:", "h:", "l:", "bin" } }, '
              'rmig.filter.rename { prefix = { ["s:"] = "str:", ["h:"] = "hash:" } }, '
              'rmig.filter.db { map = { [2] = 5 } }')


def scenario_pipeline(ctx, d):
    rep = ctx.rep
    src, s, rdb, counts = saved_source(ctx, d)
    dst = server(ctx, d, 'dst')
    t = dst.conn()
    what = 'pipeline'
    text = rdb_pipeline(rdb, dst.port, PIPE_NODES)
    p = write(d, 'nodes.lua', text)
    migrate(ctx, rep, what, d, text, 'nodes.lua')
    kept = {}
    for db in DBS:
        s.call('SELECT', db)
        kept[db] = sum(1 for k in scan_all(s) if k.startswith((b's:', b'h:', b'l:', b'bin')))
    s.call('SELECT', 0)
    t.call('SELECT', 5)
    t_str = t.call('EXISTS', 'str:1') == 1 and t.call('EXISTS', 's:1') == 0 and t.call('EXISTS', 'z:1') == 0
    sizes = (t.call('DBSIZE'),)
    t.call('SELECT', 0)
    sizes += (t.call('DBSIZE'),)
    rep.check(t_str and sizes == (kept[2], kept[0]),
              '%s: the migration renamed s: to str:, moved db 2 to db 5 and left the other keys out (%d + %d keys)'
              % (what, kept[0], kept[2]), 'renamed %r; target db 5, db 0: %r; want %r' % (t_str, sizes,
                                                                                         (kept[2], kept[0])))
    total = sum(counts.values())
    for name, path, expired in (('RDB', p, SOON),
                                ('scan', write(d, 'nodes-scan.lua', scan_pipeline(src.port, dst.port, '', PIPE_NODES)),
                                 0)):
        if name == 'scan':
            reaped(s, DBS)
        v = verify(ctx, d, path, '--extra')
        r = v.report or {}
        check_clean(rep, '%s: %s source, verified through the same nodes' % (what, name), v, checked=kept[0] + kept[2])
        dropped = total - SOON - kept[0] - kept[2]
        # keys expired at the source may be counted either as expired or as dropped (read before or after the nodes)
        rep.check(r.get('dropped', 0) + r.get('expired', 0) in (dropped, dropped + SOON)
                  and r.get('dropped', 0) >= dropped
                  and re.search(r'\d+ dropped by the nodes \(not looked for\)', v.out),
                  '%s: %s source: the summary counts the keys the nodes dropped (%s), none reported missing'
                  % (what, name, r.get('dropped')),
                  'dropped %r expired %r, want %d dropped; %s' % (r.get('dropped'), r.get('expired'), dropped,
                                                                  v.details()))
    # a renamed key damaged on the target: named by its new name and db
    snap = Snap(t, [(5, 'str:4'), (0, 'hash:6')])
    t.call('SELECT', 5)
    t.call('SET', 'str:4', 'damaged')
    t.call('SELECT', 0)
    t.call('DEL', 'hash:6')
    v = verify(ctx, d, p)
    ok = v.rc == 1 and v.nonzero() == {'value': 1, 'missing': 1} and v.named('value') == [(5, b'str:4')] and \
        v.named('missing') == [(0, b'hash:6')] and '    db 5 "str:4": ' in v.out and '    db 0 "hash:6": ' in v.out
    rep.check(ok, '%s: a renamed key changed in db 5, another deleted in db 0: value "str:4" (db 5), missing "hash:6"'
              ' (db 0), by their new names' % what, v.details())
    snap.undo()
    # a key the nodes drop written to the target: not explained by the source, so extra
    t.call('SET', 'z:1', 'x')
    v = verify(ctx, d, p, '--extra')
    check_only(rep, '%s: a key the nodes drop, found on the target' % what, v, 'extra', 1, [(0, 'z:1')])
    t.call('DEL', 'z:1')
    s.close()
    t.close()


def scan_all(c):
    cur, keys = b'0', []
    while True:
        cur, part = c.call('SCAN', cur, 'COUNT', 2000)
        keys.extend(part)
        if cur == b'0':
            return keys


LIVE_KEYS = 3000


def live_op(r, db):
    i = r.randrange(LIVE_KEYS)
    x = r.random()
    if x < 0.35:
        return ['SET', 'w:s:%d' % i, 'v%d' % r.randrange(10 ** 6)]
    if x < 0.55:
        return ['INCR', 'w:n:%d' % i]
    if x < 0.85:
        return ['HSET', 'w:h:%d' % i, 'f%d' % r.randrange(20), r.randrange(1000)]
    return ['DEL', 'w:%s:%d' % (r.choice('snh'), i)]


def change_op(r, db):
    i = r.randrange(LIVE_KEYS)
    x = r.random()
    if x < 0.4:
        return ['SET', 'w:s:%d' % i, 'v%d' % r.randrange(10 ** 6)]
    if x < 0.7:
        return ['INCR', 'w:n:%d' % i]
    return ['HSET', 'w:h:%d' % i, 'f%d' % r.randrange(20), r.randrange(1000)]


def scenario_live(ctx, d):
    rep = ctx.rep
    src = server(ctx, d, 'src', NOTIFY)
    dst = server(ctx, d, 'dst')
    s, t = src.conn(), dst.conn()
    fill(s, random.Random(ctx.seed))
    cmds = []
    for i in range(LIVE_KEYS):
        cmds += [['SET', 'w:s:%d' % i, i], ['SET', 'w:n:%d' % i, i], ['HSET', 'w:h:%d' % i, 'f0', i]]
    s.pipeline(cmds)
    what = 'live'
    p = write(d, 'scan.lua', scan_pipeline(src.port, dst.port))
    migrate(ctx, rep, what + ': a first copy', d, scan_pipeline(src.port, dst.port), 'scan.lua')
    proc = Rmig(ctx.rmig, write(d, 'live.lua', scan_pipeline(src.port, dst.port, ', live = true')), d, 'live')
    try:
        # keys the writer deletes before the live run subscribed would stay on the target (from the first copy)
        subscribed = wait_for(lambda: s.call('CLIENT', 'LIST', 'TYPE', 'pubsub').strip(), 20, proc, 0.02)
        rep.check(subscribed, '%s: the live run subscribed to the source\'s notifications' % what, proc.tail())
        # first a writer that changes values only (every key exists all along): the rounds clear every
        # difference
        w = Writer(src.port, (0,), change_op, ctx.seed + 2, rate=4000)
        w.start()
        time.sleep(1)
        v1 = verify(ctx, d, p)
        v = verify(ctx, d, p, '--rounds', 4, '--delay', 1)
        ops = w.stop()
        rep.check(set(v1.nonzero()) <= {'value'}, '%s: values changing in flight, one round: only value differences '
                  '(%s)' % (what, v1.nonzero().get('value', 0)), v1.details())
        rep.check(v.rc == 0 and not v.nonzero() and (v.report or {}).get('complete') is True,
                  '%s: values changing in flight (%d ops), --rounds 4 --delay 1: no difference (%s rounds)' % (
                      what, ops, (v.report or {}).get('rounds')), v.details())
        # then one that deletes and creates keys too
        w = Writer(src.port, (0,), live_op, ctx.seed + 1, rate=3000)
        w.start()
        time.sleep(2)
        v = verify(ctx, d, p, '--rounds', 4, '--delay', 1, '--extra', '--show', 50)
        r = v.report or {}
        named = v.named('extra')
        there = sum(1 for db, k in named if s.call('SELECT', db) and s.call('EXISTS', k))
        s.call('SELECT', 0)
        ok = r.get('complete') is True and r.get('rounds', 0) >= 1 and v.diffs().get('missing') == 0
        rep.check(ok, '%s: verify --rounds 4 --delay 1 while a writer changes the source (%d ops so far): no key '
                  'missing (%d checked, rounds %r, exit %d)' % (what, w.ops, r.get('checked', 0), r.get('rounds'),
                                                                v.rc), v.details())
        if v.rc == 0:
            rep.ok('%s: and no difference at all while the writer runs' % what)
        else:
            eg = '; '.join('%s db %d %s: %s' % (k, x['db'], short(x['key'], 30), x['why'])
                           for k in KINDS for x in r.get('keys', {}).get(k, [])[:2])
            print('# note: %s: while the writer runs: %r (of the %d extra keys named, %d are on the source just '
                  'after: changed in flight, not checked again by the rounds), e.g. %s' % (
                      what, v.nonzero(), len(named), there, eg), flush=True)
        ops = w.stop()
        rep.check(w.failure is None and proc.alive(), '%s: the writer ran (%d ops) and the live run follows' % (
            what, ops), 'writer %r; rmig %s' % (w.failure, 'running' if proc.alive() else proc.tail()))
        diff = converge(lambda: reaped(s, DBS), lambda: reaped(t, DBS),
                        lambda a, b: '' if a == b else 'source %r, target %r' % (a, b), proc, 30)
        rep.check(not diff, '%s: the target converges once the writer stopped (DBSIZE, DEBUG DIGEST)' % what, diff)
        for mode in ('full', 'outline'):
            v = verify(ctx, d, p, '--mode', mode, '--extra')
            check_clean(rep, '%s: %s verify after the writer stopped' % (what, mode), v)
        # the live pipeline itself: verify reads its source by SCAN + DUMP once and ends
        try:
            v = verify(ctx, d, os.path.join(d, 'live.lua'), timeout=30)
            check_clean(rep, '%s: verify of the live = true pipeline file' % what, v)
        except subprocess.TimeoutExpired:
            rep.fail('%s: verify of the live = true pipeline file ends' % what, 'still running after 30 s')
        # a change the live run applies, then one made on the target behind its back
        s.call('SET', 'w:s:1', 'last')
        wait_for(lambda: t.call('GET', 'w:s:1') == b'last', 10, proc, 0.05)
        t.call('SET', 's:6', 'behind its back')
        v = verify(ctx, d, p, '--rounds', 2, '--delay', 0.5)
        check_only(rep, '%s: a key changed on the target only stays different over the rounds' % what, v, 'value', 1,
                   [(0, 's:6')])
        rep.check((v.report or {}).get('rounds') == 2, '%s: the report says 2 rounds' % what,
                  'rounds %r' % (v.report or {}).get('rounds'))
    finally:
        rc = proc.stop(signal.SIGINT, 30)
    rep.check(rc == 0, '%s: SIGINT ends the live run with exit 0' % what, 'rc %r; %s' % (rc, proc.tail()))
    s.close()
    t.close()


def piece_reads(t):
    """{command: calls} of the target's commandstats for the piece reads."""
    info = t.call('INFO', 'commandstats').decode()
    got = {}
    for name in ('zrange', 'hscan', 'sscan', 'lrange', 'getrange', 'dump', 'zscan'):
        m = re.search(r'^cmdstat_%s:calls=(\d+)' % name, info, re.M)
        got[name] = int(m.group(1)) if m else 0
    return got


def scenario_big(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed)
    src = server(ctx, d, 'src')
    dst = server(ctx, d, 'dst')
    s, t = src.conn(), dst.conn()
    n = BIG_N
    s.call('ZADD', 'bz', *[x for j in range(n) for x in (str(j / 7.0) if j % 3 else str(j), 'm%d' % j)])
    s.call('HSET', 'bh', *[x for j in range(n) for x in ('f%d' % j, 'v%d' % (j * 13))])
    s.call('SADD', 'bs', *['m%d' % j for j in range(n)])
    s.call('SADD', 'bis', *[str(j * 3 - 1000) for j in range(n // 2)])
    s.call('RPUSH', 'bl', *['e%d' % j for j in range(n)])
    s.call('SET', 'bstr', rng.randbytes(3 << 20))
    s.call('HSET', 'bttl', *[x for j in range(5000) for x in ('f%d' % j, 'x' * 20)])
    s.call('PEXPIRE', 'bttl', 3600000)
    s.pipeline([['XADD', 'bx', '*', 'f', 'v%d' % j] for j in range(3000)])
    s.call('XGROUP', 'CREATE', 'bx', 'g', '0')
    s.pipeline([['SET', 'small:%d' % j, j] for j in range(200)])
    s.call('SELECT', 1)
    s.call('RPUSH', 'bl', *['f%d' % j for j in range(n // 2)])
    s.call('SELECT', 0)
    s.call('SAVE')
    rdb = os.path.join(src.dir, src.dbfilename)
    text = ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.rdb { path = %s },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d", chunk_bytes = 4096 },\n}\n') % (
                lua_string(rdb), dst.port)
    p = write(d, 'big.lua', text)
    what = 'big (values over sink.chunk_bytes, read in pieces on both sides)'
    migrate(ctx, rep, what, d, text, 'big.lua')
    total = 9 + 200
    t.call('CONFIG', 'RESETSTAT')
    check_clean(rep, 'big: full verify, every big value read in pieces', verify(ctx, d, p, '--extra'), checked=total)
    got = piece_reads(t)
    rep.check(got['zrange'] >= n // 50000 and got['hscan'] >= 1 and got['sscan'] >= 1 and got['lrange'] >= n // 50000
              and got['getrange'] >= 3 and got['zscan'] == 0,
              'big: the target read in pieces (ZRANGE by rank, HSCAN, SSCAN, LRANGE, GETRANGE): %r' % got, repr(got))
    check_clean(rep, 'big: outline verify', verify(ctx, d, p, '--mode', 'outline'), checked=total)

    case = damage_case(ctx, d, t, p, 'big')
    mid = 'm%d' % (n * 2 // 3)   # (in the second piece of the zset by rank)
    case('a zset score changed in the middle', [(0, 'bz')], at(0, ['ZADD', 'bz', '0.25', mid]), 'value', outline='')
    case('a zset member swapped', [(0, 'bz')], at(0, ['ZREM', 'bz', 'm5'], ['ZADD', 'bz', '5', 'mX']), 'value',
         outline='')
    case('a hash field changed', [(0, 'bh')], at(0, ['HSET', 'bh', 'f%d' % (n - 1), 'other']), 'value', outline='')
    case('a set member swapped', [(0, 'bs')], at(0, ['SREM', 'bs', 'm7'], ['SADD', 'bs', 'mY']), 'value')
    case('an intset member swapped', [(0, 'bis')], at(0, ['SREM', 'bis', '-1000'], ['SADD', 'bis', '7']), 'value')
    case('a list element changed', [(1, 'bl')], at(1, ['LSET', 'bl', n // 3, 'x']), 'value', outline='')
    case('a list element appended', [(0, 'bl')], at(0, ['RPUSH', 'bl', 'more']), 'value', outline='count')
    case('a byte of a 3 MB string changed', [(0, 'bstr')], at(0, ['SETRANGE', 'bstr', 2500000, '\x01']), 'value',
         outline='')
    case('a 3 MB string appended to', [(0, 'bstr')], at(0, ['APPEND', 'bstr', 'x']), 'value', outline='count')
    case('a stream entry added', [(0, 'bx')], at(0, ['XADD', 'bx', '*', 'new', '1']), 'value', outline='count')
    case('a TTL removed', [(0, 'bttl')], at(0, ['PERSIST', 'bttl']), 'ttl', outline='ttl')
    case('a key deleted', [(0, 'bh')], at(0, ['DEL', 'bh']), 'missing', outline='missing')
    v = case('a zset replaced by a string', [(0, 'bz')], at(0, ['DEL', 'bz'], ['SET', 'bz', 'now a string']), 'type',
             outline='type')
    why = v.why('type', 0, 'bz') or ''
    rep.check('zset' in why and 'string' in why, 'big: the type difference says zset and string', why)
    check_clean(rep, 'big: every damage undone', verify(ctx, d, p, '--extra'), checked=total)

    # the source server itself, read by SCAN: its big keys read in pieces too
    # (the stream by one DUMP), digested, never held whole
    ps = write(d, 'bigscan.lua', scan_pipeline(src.port, dst.port, ', big_bytes = 65536, count = 2000'))
    s.call('CONFIG', 'RESETSTAT')
    for mode in ('full', 'outline'):
        check_clean(rep, 'big: %s verify of a scan pipeline (big_bytes = 65536)' % mode,
                    verify(ctx, d, ps, '--mode', mode, '--extra'), checked=total)
    got = piece_reads(s)
    rep.check(got['zscan'] >= 2 and got['hscan'] >= 2 and got['sscan'] >= 2 and got['lrange'] >= 2
              and got['getrange'] >= 2 and got['dump'] == 2 * (total - 8),
              'big: the source read in pieces (ZSCAN, HSCAN, SSCAN, LRANGE, GETRANGE; DUMP only for the small keys '
              'and the stream): %r' % got, repr(got))
    case = damage_case(ctx, d, t, ps, 'big (scan source)')
    case('a zset score changed in the middle', [(0, 'bz')], at(0, ['ZADD', 'bz', '0.25', mid]), 'value', outline='')
    case('a list element appended', [(0, 'bl')], at(0, ['RPUSH', 'bl', 'more']), 'value', outline='count')
    case('a byte of a 3 MB string changed', [(0, 'bstr')], at(0, ['SETRANGE', 'bstr', 2500000, '\x01']), 'value')
    case('a hash deleted', [(0, 'bh')], at(0, ['DEL', 'bh']), 'missing', outline='missing')
    case('a TTL removed', [(0, 'bttl')], at(0, ['PERSIST', 'bttl']), 'ttl', outline='ttl')
    s.close()
    t.close()


def scenario_errors(ctx, d):
    rep = ctx.rep
    src = server(ctx, d, 'src')
    dst = server(ctx, d, 'dst')
    s, t = src.conn(), dst.conn()
    n = 4000
    s.pipeline([['SET', 'k:%d' % i, i] for i in range(n)])
    p = write(d, 'scan.lua', scan_pipeline(src.port, dst.port))
    migrate(ctx, rep, 'errors', d, scan_pipeline(src.port, dst.port), 'scan.lua')
    for args, what in ((['--bogus'], 'an unknown option'), (['--mode', 'deep'], '--mode deep'),
                       (['--sample', '0'], '--sample 0'), (['--sample', '2'], '--sample 2'),
                       (['--rounds', 'x'], '--rounds x'), ([], 'no pipeline')):
        rc, out, err = run_rmig(ctx.rmig, ['verify'] + ([p] if what != 'no pipeline' else []) + args, timeout=30)
        rep.check(rc == 2 and 'usage' in (err + out.decode('utf-8', 'replace')),
                  'errors: %s: exit 2 with the usage' % what, 'rc %r; %s' % (rc, tail(err)))
    dead = free_port()
    for what, text, addr in (
            ('an unreachable target', scan_pipeline(src.port, dead), dead),
            ('an unreachable source', scan_pipeline(dead, dst.port), dead)):
        v = verify(ctx, d, write(d, 'dead.lua', text), timeout=120)
        said = v.out + v.err
        rep.check(v.rc == 1 and ('127.0.0.1:%d' % addr) in said and 'no difference' not in v.out
                  and (v.report is None or v.report.get('ok') is False),
                  'errors: %s: exit 1 naming it' % what, v.details())
    rep.check(v.report is None or v.report.get('complete') is False,
              'errors: the report of a check that failed says complete false', json.dumps(v.report)[:600])
    # a target user that may not read what verify reads: exit 1 naming the command and the key, at once
    t.call('RPUSH', 'perm:l', 'a', 'b')
    s.call('RPUSH', 'perm:l', 'a', 'b')
    t.call('ACL', 'SETUSER', 'nolrange', 'on', '>pw', '~*', '+@all', '-lrange')
    text = scan_pipeline(src.port, dst.port).replace('addr = "127.0.0.1:%d" }' % dst.port,
                                                     'addr = "127.0.0.1:%d", user = "nolrange", password = "pw" }'
                                                     % dst.port)
    v = verify(ctx, d, write(d, 'noperm.lua', text), timeout=60)
    rep.check(v.rc == 1 and 'refused LRANGE' in v.out and 'perm:l' in v.out and 'NOPERM' in v.out
              and 'no difference' not in v.out, 'errors: a target user without LRANGE: exit 1 naming LRANGE, the key '
              'and NOPERM', v.details())
    t.call('DEL', 'perm:l')
    s.call('DEL', 'perm:l')
    # -s overrides the pipeline's options, as for rmig run
    v = verify(ctx, d, write(d, 'elsewhere.lua', scan_pipeline(src.port, dead)), '-s',
               'sink.addr=127.0.0.1:%d' % dst.port)
    check_clean(rep, 'errors: -s sink.addr=... points a pipeline at the right target', v, checked=n)
    v = verify(ctx, d, p, '--sample', 0.5)
    r = v.report or {}
    c = r.get('checked', -1)
    rep.check(0.3 * n <= c <= 0.7 * n and c + r.get('sampled_out', 0) == n
              and ('%d left out by --sample' % (n - c)) in v.out,
              'errors: --sample 0.5 checks about half of the keys (%d of %d, %s left out)' % (
                  c, n, r.get('sampled_out')), v.details())
    # the keys left out are still explained by the source: not extra on the target
    check_clean(rep, 'errors: --sample 0.5 of an equal target', v)
    s.close()
    t.close()


SCENARIOS = [
    ('clean', scenario_clean),
    ('damage', scenario_damage),
    ('pipeline', scenario_pipeline),
    ('big', scenario_big),
    ('live', scenario_live),
    ('errors', scenario_errors),
]


def main():
    ctx = Ctx()
    ctx.nverify = 0
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-verify-', ctx, on_end=kill_running,
                         seed_note="the data and the writer's commands")


if __name__ == '__main__':
    sys.exit(main())

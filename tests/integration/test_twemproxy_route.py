#!/usr/bin/env python3
"""`rmig route --twemproxy nutcracker.yml --pool P`: rmig's placement against
a real nutcracker. One nutcracker runs one pool per configuration below, all
in front of the same redis-servers (4 for most, 25 for one, a socket for each
of the 4, one on port 11211 when that port is free). For each configuration
the backends are flushed, 2000 keys are SET through the proxy
(ASCII, UTF-8, random bytes 0x00..0xff, long keys, the empty key, keys with
hash tags, empty tags and unclosed ones), every backend is SCANned in the
pool's db to see which one holds each key, and `rmig route --twemproxy` on
the very file nutcracker runs with (keys on stdin with --keys-from -, and a
batch on the command line) must name that backend for 100 % of them. The
configurations cover the twelve hash functions with ketama, modula with
several (weights, names listed out of name order), hash tags "{}", "::",
"$$" and a two-byte UTF-8 one, unequal weights, named and unnamed servers,
redis_db, unix sockets, the 11211 name rule, a 25-server pool (156 ketama
points each), one server, and random (which route must call random).
Then wrong files: rmig route exits 2 naming the file and line, and
`nutcracker -t` refuses the same files.

usage: python3 test_twemproxy_route.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (the keys; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 nutcracker or redis-server is missing."""
import os
import random
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, install_signal_handlers, make_tmpdir,  # noqa: E402
                           require_redis_server, run_rmig, scenario_args, short, write)
from twemproxy_harness import Nutcracker, nutcracker_exe, require_nutcracker, yaml_text  # noqa: E402

HASHES = ['one_at_a_time', 'md5', 'crc16', 'crc32', 'crc32a', 'fnv1_64', 'fnv1a_64', 'fnv1_32', 'fnv1a_32',
          'hsieh', 'murmur', 'jenkins']
NKEYS = 2000


class Backends:
    """The redis-servers: main[0..3] (TCP and a unix socket each), extra[0..20]
    (with main, the 25-server pool), and at11211 (None when 11211 is taken)."""

    def __init__(self, tmp):
        self.main = [Server(os.path.join(tmp, 'r%d' % i), name='r%d' % i,
                            config=['--unixsocket', os.path.join(tmp, 'r%d' % i, 's.sock'), '--unixsocketperm', '700'])
                     .start() for i in range(4)]
        self.extra = [Server(os.path.join(tmp, 'x%d' % i), name='x%d' % i).start() for i in range(21)]
        self.at11211 = None
        if port_free(11211):
            try:
                self.at11211 = Server(os.path.join(tmp, 'm'), name='m').start(attempts=1, port=11211)
            except RuntimeError:
                self.at11211 = None
        self.sock = {s.port: os.path.join(s.dir, 's.sock') for s in self.main}


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as redis-server binds
    try:
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp(srv, weight=1, name=None):
    return '127.0.0.1:%d:%d%s' % (srv.port, weight, ' ' + name if name is not None else '')


def unix(b, srv, weight=1, name=None):
    return '%s:%d%s' % (b.sock[srv.port], weight, ' ' + name if name is not None else '')


def configurations(b):
    """(pool name, settings, backend servers in the order of servers:)."""
    m = b.main
    out = []
    for h in HASHES:
        out.append(('ketama_%s' % h, {'hash': h}, [(s, tcp(s)) for s in m]))
    out += [
        ('ketama_weights_named', {'hash': 'fnv1a_64'},
         [(s, tcp(s, w, n)) for s, w, n in zip(m, (1, 2, 3, 5), ('alpha', 'b', 'gamma-3', 'd'))]),
        ('ketama_md5_weights', {'hash': 'md5'}, [(s, tcp(s, w)) for s, w in zip(m, (4, 1, 1, 2))]),
        ('ketama_tag_braces', {'hash': 'murmur', 'hash_tag': '{}'}, [(s, tcp(s)) for s in m]),
        ('ketama_tag_colons', {'hash': 'crc32a', 'hash_tag': '::'}, [(s, tcp(s)) for s in m]),
        ('ketama_tag_dollars', {'hash': 'jenkins', 'hash_tag': '$$'}, [(s, tcp(s)) for s in m]),
        ('ketama_tag_utf8', {'hash': 'fnv1_32', 'hash_tag': '\u00e9'}, [(s, tcp(s)) for s in m]),
        ('ketama_redis_db', {'hash': 'hsieh', 'redis_db': 3}, [(s, tcp(s)) for s in m]),
        ('ketama_unix', {'hash': 'one_at_a_time'},
         [(s, unix(b, s, 1, 'sock-two' if i == 2 else None)) for i, s in enumerate(m)]),
        ('ketama_25_servers', {'hash': 'fnv1a_64'}, [(s, tcp(s)) for s in m + b.extra]),
        ('modula_fnv1a_64', {'hash': 'fnv1a_64', 'distribution': 'modula'}, [(s, tcp(s)) for s in m]),
        ('modula_md5_named', {'hash': 'md5', 'distribution': 'modula'},
         [(s, tcp(s, w, n)) for s, w, n in zip(m, (3, 1, 2, 1), ('dd', 'b', 'ccc', 'a'))]),
        ('modula_crc32', {'hash': 'crc32', 'distribution': 'modula'}, [(s, tcp(s)) for s in m]),
        ('modula_crc16_tag', {'hash': 'crc16', 'distribution': 'modula', 'hash_tag': '{}'},
         [(s, tcp(s, w)) for s, w in zip(m, (2, 1, 1, 3))]),
        ('modula_murmur_db', {'hash': 'murmur', 'distribution': 'modula', 'redis_db': 5},
         [(s, tcp(s, w)) for s, w in zip(m, (1, 2, 1, 1))]),
        ('modula_jenkins_unix', {'hash': 'jenkins', 'distribution': 'modula'},
         [(s, unix(b, s, w)) for s, w in zip(m, (1, 1, 2, 1))]),
        ('one_server', {'hash': 'md5'}, [(m[1], tcp(m[1]))]),
    ]
    if b.at11211:
        out.append(('ketama_port_11211', {'hash': 'crc32a'}, [(s, tcp(s)) for s in m[:3] + [b.at11211]]))
    return out


# Keys with a hash tag, for tag characters a and b (bytes) and a number n.
TAG_FORMS = [
    lambda a, b, n: b'user%s%d%s:x' % (a, n, b),              # a tag
    lambda a, b, n: b'%s%sx%d' % (a, b, n),                   # an empty tag: the whole key
    lambda a, b, n: b'a%s%s%sb%d%s' % (a, b, a, n, b),        # an empty tag first, a full one after
    lambda a, b, n: b'x%sy%d' % (a, n),                       # never closed
    lambda a, b, n: b'%s%d%s' % (a, n, b),                    # all tag
    lambda a, b, n: b'%s%d%sz' % (b, n, a),                   # closed before it opens
    lambda a, b, n: b'%s%d%s%s%d%s' % (a, n, b, a, n + 1, b),  # two tags: the first counts
    lambda a, b, n: b'{%d}:%s' % (n, a),                      # braces that are not this tag
]
WORDS = ['user', 'session', 'cl\u00e9', '\u043a\u043b\u044e\u0447', '\u952e', 'caf\u00e9', 'a b', 'tab\there',
         'cr\r\nlf']


def make_keys(rng, tag):
    """NKEYS distinct keys of every kind; the tagged ones use tag (2 bytes)."""
    a, b = tag[0:1], tag[1:2]
    keys, seen = [b''], {b''}
    while len(keys) < NKEYS:
        kind, n = rng.randrange(10), rng.randrange(100000)
        if kind < 3:
            k = ('%s:%d' % (rng.choice(WORDS), n)).encode()
        elif kind == 3:
            k = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 41)))
        elif kind == 4:
            k = bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 16)))
        elif kind == 5:
            k = ''.join(rng.choice('abcdefghij:{}$') for _ in range(rng.randrange(200, 700))).encode()
        else:
            k = rng.choice(TAG_FORMS)(a, b, n % 50)   # few tags, so keys share them
        if k not in seen:
            seen.add(k)
            keys.append(k)
    return keys


def escape(k):
    """A key as rmig route reads it (and prints it): \\xNN for all but plain ASCII."""
    return b''.join(bytes([c]) if 0x20 <= c < 0x7f and c != 0x5c else b'\\x%02x' % c for c in k)


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        if s[i:i + 2] == b'\\x' and i + 4 <= len(s):
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return bytes(out)


def route(rmig, conf, pool, keys, on_argv=False):
    """rmig route's answer per key: (index or '-', address, name), or an error string."""
    args = ['route', '--twemproxy', conf, '--pool', pool]
    if on_argv:
        rc, out, err = run_rmig(rmig, args + ['--'] + keys)
    else:
        rc, out, err = run_rmig(rmig, args + ['--keys-from', '-'], input=b''.join(escape(k) + b'\n' for k in keys))
    if rc != 0:
        return 'exit %d: %s' % (rc, err)
    lines = out.split(b'\n')[:-1]
    if len(lines) != len(keys):
        return '%d lines for %d keys: %s' % (len(lines), len(keys), err)
    res = {}
    for k, line in zip(keys, lines):
        f = line.split(b'\t')
        if len(f) != 4 or unescape(f[0]) != k:
            return 'line %r is not KEY<TAB>INDEX<TAB>ADDRESS<TAB>NAME for %r' % (line, k)
        res[k] = (f[1].decode() if f[1] == b'-' else int(f[1]), f[2].decode(), f[3].decode())
    return res


def held_by(backends, db):
    """{key: index in backends} from SCAN in db; a key seen twice maps to -1."""
    where = {}
    for i, srv in enumerate(backends):
        c = srv.conn()
        c.call('SELECT', db)
        cur = b'0'
        while True:
            cur, ks = c.call('SCAN', cur, 'COUNT', 1000)
            for k in ks:
                where[k] = -1 if k in where and where[k] != i else i
            if cur == b'0':
                break
        c.close()
    return where


def check_config(ctx, nc, name, settings, servers):
    rep, rng = ctx.rep, random.Random('%d/%s' % (ctx.seed, name))
    backends = [s for s, _ in servers]
    for s in set(backends):
        s.conn().call('FLUSHALL')
    tag = settings.get('hash_tag', '{}').encode()
    keys = make_keys(rng, tag)
    c = nc.conn(name)
    replies = c.pipeline([['SET', k, 'v'] for k in keys])
    c.close()
    bad = [(short(k), r) for k, r in zip(keys, replies) if r != 'OK']
    if not rep.check(not bad, '%s: nutcracker takes all %d SETs' % (name, len(keys)), bad[:5]):
        return
    where = held_by(backends, settings.get('redis_db', 0))
    lost = [short(k) for k in keys if where.get(k, -1) < 0]
    rep.check(not lost, '%s: every key is on exactly one backend' % name, lost[:5])
    got = route(ctx.rmig, nc.conf, name, keys)
    if not rep.check(isinstance(got, dict), '%s: rmig route answers for every key' % name, got):
        return
    agree = sum(1 for k in keys if got[k][0] == where.get(k))
    per = [sum(1 for k in keys if where.get(k) == i) for i in range(len(servers))]
    ctx.total_keys += len(keys)
    ctx.total_agree += agree
    ctx.configs += 1
    print('# %-22s %5d keys, %5d agree (%.1f %%), per backend %s' %
          (name, len(keys), agree, 100.0 * agree / len(keys), per if len(per) <= 8 else '%d..%d' % (min(per), max(per))),
          flush=True)
    wrong = ['%s: nutcracker %s, rmig %s' % (short(k), where.get(k), got[k][0]) for k in keys
             if got[k][0] != where.get(k)]
    rep.check(not wrong, '%s: rmig route names the backend nutcracker chose for all %d keys' % (name, len(keys)),
              '%d differ: %s' % (len(wrong), wrong[:8]))
    if name == 'ketama_crc32':
        # crc32 gives 15 bits (0..32767): on a ring of 32-bit points nearly every
        # key lands on the first point, so one server takes (nearly) everything
        print('# ketama_crc32: the 15-bit hash puts keys on %d of the 4 servers' % sum(1 for n in per if n))
    elif len(servers) > 1:
        rep.check(min(per) > 0, '%s: every backend got keys (the test is not degenerate)' % name, per)
    # the address and name columns, and the same answers for keys given on the command line
    i = got[keys[1]][0]
    spec = servers[i][1]
    addr = spec.rsplit(' ', 1)[0] if ' ' in spec else spec
    want_name = spec.rsplit(' ', 1)[1] if ' ' in spec else '-'
    rep.check(got[keys[1]][1] == addr.rsplit(':', 1)[0] and got[keys[1]][2] == want_name,
              '%s: the ADDRESS and NAME columns are the server\'s' % name, (got[keys[1]], spec))
    batch = [k for k in keys if b'\0' not in k][:400]   # argv holds any bytes but NUL
    on_argv = route(ctx.rmig, nc.conf, name, batch, on_argv=True)
    rep.check(isinstance(on_argv, dict) and all(on_argv[k] == got[k] for k in batch),
              '%s: keys on the command line route as keys from --keys-from' % name,
              on_argv if not isinstance(on_argv, dict) else '')


def check_random(ctx, nc, b):
    rep = ctx.rep
    keys = [b'k%d' % i for i in range(200)]
    rc, out, err = run_rmig(ctx.rmig, ['route', '--twemproxy', nc.conf, '--pool', 'random_dist', '--keys-from', '-'],
                            input=b''.join(k + b'\n' for k in keys))
    lines = out.decode().splitlines()
    rep.check(rc == 0 and len(lines) == len(keys) and all(l.split('\t')[1:] == ['-', 'random', '-'] for l in lines)
              and 'random' in err and 'any of its 4' in err,
              'distribution random: every key is "-<TAB>random", and stderr says any server may get it',
              err + out.decode()[:300])
    for s in b.main:
        s.conn().call('FLUSHALL')
    c = nc.conn('random_dist')
    c.pipeline([['SET', k, 'v'] for k in keys])
    c.close()
    per = [s.conn().call('DBSIZE') for s in b.main]
    rep.check(sum(per) == len(keys) and sum(1 for n in per if n) > 1,
              'distribution random: nutcracker does spread the same keys over several backends', per)


BAD_FILES = [
    ('an unknown hash', 'hash: md6\n', 4, "hash: 'md6' is not a hash nutcracker knows"),
    ('a server line without a weight', None, 6, "has no ':port' before its weight"),
    ('a zero weight', None, 5, 'the weight is 0'),
    ('a one-character hash_tag', 'hash_tag: "{"\n', 4, 'hash_tag must be exactly two characters'),
    ('an unquoted hash_tag {}', 'hash_tag: {}\n', 4, 'quote it'),
    ('a duplicate setting', 'hash: md5\n  hash: crc16\n', 5, 'is a duplicate'),
    ('an unknown setting', 'sentinels: 1\n', 4, "unknown setting 'sentinels'"),
    ('two servers of the same name', None, 6, 'have the same name'),
    ('a number that is not one', 'timeout: 1s\n', 4, "'1s' is not a number"),
    ('redis_auth without redis: true', 'redis_auth: secret\n', 4, 'redis_auth is set but redis: is not true'),
    ('a bad distribution', 'distribution: consistent\n', 4, 'is not ketama, modula or random'),
]


def check_bad_files(ctx, d):
    rep, rmig = ctx.rep, ctx.rmig
    nut = nutcracker_exe()
    for what, line, at, msg in BAD_FILES:
        servers = '   - 127.0.0.1:6379:1\n   - 127.0.0.1:6380:1\n'
        if line is None:
            line = ''
            servers = {'a server line without a weight': '   - 127.0.0.1:6379:1\n   - 127.0.0.1:6380\n',
                       'a zero weight': '   - 127.0.0.1:6379:0\n',
                       'two servers of the same name': '   - 127.0.0.1:6379:1 a\n   - 127.0.0.1:6380:1 a\n'}[what]
        text = 'alpha:\n  listen: 127.0.0.1:22121\n  redis: %s\n  %sservers:\n%s' % (
            'false' if 'redis_auth' in what else 'true', line, servers)
        f = write(d, 'bad.yml', text)
        rc, out, err = run_rmig(rmig, ['route', '--twemproxy', f, 'k'])
        rep.check(rc == 2 and ('%s:%d:' % (f, at)) in err and msg in err,
                  'a file with %s: rmig route exits 2 naming %s:%d and the problem' % (what, 'bad.yml', at),
                  'exit %d: %s' % (rc, err))
        t = subprocess.run([nut, '-t', '-c', f], capture_output=True, timeout=30)
        rep.check(t.returncode != 0, '... and nutcracker -t refuses the same file', t.stdout + t.stderr)

    two = write(d, 'two.yml', yaml_text({'alpha': {'listen': '127.0.0.1:22121', 'servers': ['127.0.0.1:6379:1']},
                                         'beta': {'listen': '127.0.0.1:22122', 'servers': ['127.0.0.1:6380:1']}}))
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', two, 'k'])
    rep.check(rc == 2 and "'alpha', 'beta'" in err and '--pool' in err,
              'a file of two pools without --pool: exit 2 listing the pools', err)
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', two, '--pool', 'gamma', 'k'])
    rep.check(rc == 2 and "no pool 'gamma'" in err and "'alpha', 'beta'" in err,
              'a pool the file does not have: exit 2 listing the pools it has', err)
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', two, '--pool', 'beta', 'k'])
    rep.check(rc == 0 and out == b'k\t0\t127.0.0.1:6380\t-\n', 'the pool named by --pool is the one used', out + err.encode())
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', os.path.join(d, 'none.yml'), 'k'])
    rep.check(rc == 2 and 'none.yml' in err and 'cannot open' in err, 'a missing file: exit 2 naming it', err)
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', two])
    rep.check(rc == 2 and 'no keys' in err, 'no keys: exit 2 with the usage', err)
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', two, '--cluster', '127.0.0.1:7000', 'k'])
    rep.check(rc == 2 and 'do not go together' in err, '--cluster with --twemproxy: exit 2', err)

    every = {'alpha': {'listen': '127.0.0.1:22121', 'hash': 'murmur', 'hash_tag': '{}', 'distribution': 'ketama',
                       'timeout': 400, 'backlog': 1024, 'client_connections': 10, 'redis': True,
                       'redis_auth': 'pw', 'redis_db': 2, 'preconnect': False, 'auto_eject_hosts': True,
                       'server_connections': 2, 'server_retry_timeout': 2000, 'server_failure_limit': 3,
                       'tcpkeepalive': True,
                       'servers': ['127.0.0.1:6379:1 a', '/tmp/redis.sock:2 b', '/tmp/other.sock:1', 'db-1:6380:1']}}
    f = write(d, 'every.yml', yaml_text(every))
    rc, out, err = run_rmig(rmig, ['route', '--twemproxy', f, 'user{1}', 'user{2}', 'x'])
    t = subprocess.run([nut, '-t', '-c', f], capture_output=True, timeout=30)
    rep.check(rc == 0 and len(out.splitlines()) == 3 and t.returncode == 0,
              'a file with every setting nutcracker 0.5.0 knows, and socket servers: rmig and nutcracker -t take it',
              err + out.decode() + (t.stdout + t.stderr).decode())


def main():
    rmig, only = scenario_args(sys.argv[1:], [('routes', None), ('errors', None)], __doc__)
    if rmig is None:
        return only
    require_redis_server()
    require_nutcracker()
    install_signal_handlers()

    class Ctx:
        pass
    ctx = Ctx()
    ctx.rmig = os.path.abspath(rmig)
    ctx.rep = Reporter()
    ctx.tmp = make_tmpdir('rmig-twem-')
    ctx.seed = int(os.environ.get('RMIG_TEST_SEED') or random.randrange(1, 1 << 31))
    ctx.total_keys = ctx.total_agree = ctx.configs = 0
    print('# seed %d (RMIG_TEST_SEED=%d repeats the keys)' % (ctx.seed, ctx.seed), flush=True)
    t0 = time.time()
    if not only or 'errors' in only:
        check_bad_files(ctx, ctx.tmp)
    if not only or 'routes' in only:
        b = Backends(ctx.tmp)
        confs = configurations(b)
        pools = {name: dict([('redis', True)] + list(settings.items()) + [('servers', [s for _, s in servers])])
                 for name, settings, servers in confs}
        pools['random_dist'] = {'redis': True, 'distribution': 'random', 'servers': [tcp(s) for s in b.main]}
        if not b.at11211:
            print('# port 11211 is taken: the 11211 name rule is not checked against nutcracker')
        with Nutcracker(ctx.tmp, pools) as nc:
            print('# nutcracker up with %d pools after %.1f s' % (len(pools), time.time() - t0), flush=True)
            for name, settings, servers in confs:
                check_config(ctx, nc, name, settings, servers)
            check_random(ctx, nc, b)
        print('# %d configurations, %d keys, %d agree (%.2f %%)' %
              (ctx.configs, ctx.total_keys, ctx.total_agree, 100.0 * ctx.total_agree / max(1, ctx.total_keys)))
    print('# all: %.1f s' % (time.time() - t0), flush=True)
    return ctx.rep.finish()


if __name__ == '__main__':
    sys.exit(main())

"""A real Twemproxy (nutcracker) on loopback ports for rmig's integration
tests (Python 3 standard library only).

    nc = Nutcracker(tmpdir, {'alpha': {'hash': 'md5', 'hash_tag': '{}', 'redis': True,
                                       'servers': ['127.0.0.1:6379:1 one', '/tmp/r.sock:2']}})
    with nc:
        c = nc.conn('alpha')          # a redis_harness.Conn through the proxy
        c.call('SET', 'k', 'v')
        nc.conf                       # the nutcracker.yml it runs with

Nutcracker() writes the YAML (one pool per entry, in order; each pool gets
`listen: 127.0.0.1:PORT` on a free port unless it names one; string values
are written double-quoted, so hash_tag "{}" stays a string), then start()
runs `nutcracker -c FILE -s STATS_PORT -a 127.0.0.1 -o LOG` and returns once
every pool accepts connections and a PING through it answers. stop() (also
at interpreter exit) ends it with SIGTERM, then SIGKILL. The backends are
the caller's (redis_harness.Server); nutcracker connects to them lazily.

require_nutcracker() exits 77 (skipped) when nutcracker is not installed.

For tests that read a pool as one source (test_twemproxy_source.py):
backends() starts redis-servers (BACKEND: a replica joins at once; with a
password, requirepass set once up) and bconn() connects to one; pool()
gives the settings of a pool over them (ketama, fnv1a_64, hash_tag "{}",
WEIGHTS, one named server line) and proxy() a Nutcracker of such pools,
pconn() a connection through it. fill_pool() writes keys of every type
through the proxy, junk() keys straight into other dbs of the backends
(not the pool's). key_table(), pool_table() and cluster_table() read the
pool or a target as per-key tables (type, expire time, DEBUG DIGEST-VALUE,
stream groups), table_diff() compares two; dbs_of(), per_backend(),
pool_size() and dump_of() look at the backends. twem_pipeline(),
redis_sink() and cluster_sink() write pipeline texts; pool_report(),
caught_up() and sync_counts() read rmig's output. Ctx is the run's
context these take, and on_end(ctx) (run_scenarios' on_end) ends what
they started: background rmigs, passwords set, nutcrackers."""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import slot_of  # noqa: E402
from redis_harness import SKIP, Conn, RedisError, Server, free_port, short  # noqa: E402
from test_psync import kill_running, lua_string, stream_groups  # noqa: E402


def nutcracker_exe():
    return shutil.which('nutcracker') or next(
        (p for p in ('/usr/sbin/nutcracker', '/usr/local/sbin/nutcracker') if os.access(p, os.X_OK)), None)


def require_nutcracker():
    """Exits with 77 (skipped) when nutcracker is not installed."""
    exe = nutcracker_exe()
    if not exe:
        print('nutcracker is not installed: skipped')
        sys.exit(SKIP)
    return exe


def _value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    return json.dumps(v)   # a YAML double-quoted scalar (\\uXXXX for non-ASCII)


def yaml_text(pools):
    """The nutcracker.yml for {pool name: {setting: value, 'servers': [line, ...]}}."""
    out = []
    for name, settings in pools.items():
        out.append('%s:' % name)
        for k, v in settings.items():
            if k == 'servers':
                out.append('  servers:')
                out.extend('   - %s' % _value(s) for s in v)
            else:
                out.append('  %s: %s' % (k, _value(v)))
    return '\n'.join(out) + '\n'


_live = []


@atexit.register
def _stop_all():
    for n in list(_live):
        n.stop()


class Nutcracker:
    def __init__(self, dir, pools, name='nutcracker'):
        self.dir = dir
        self.pools = {k: dict(v) for k, v in pools.items()}
        self.name = name
        self.conf = os.path.join(dir, '%s.yml' % name)
        self.log = os.path.join(dir, '%s.log' % name)
        self.proc = None
        self.ports = {}

    def start(self, attempts=3):
        os.makedirs(self.dir, exist_ok=True)
        exe = require_nutcracker()
        last = ''
        for _ in range(attempts):
            pools = {}
            used = set()

            def distinct_port():
                # (free_port may give a port twice before anything binds it:
                # two pools on one listen address make nutcracker refuse the file)
                port = free_port()
                while port in used:
                    port = free_port()
                used.add(port)
                return port
            for name, s in self.pools.items():
                s = dict(s)
                if 'listen' not in s:
                    s = dict([('listen', '127.0.0.1:%d' % distinct_port())] + list(s.items()))
                pools[name] = s
                self.ports[name] = int(s['listen'].rsplit(':', 1)[1])
            with open(self.conf, 'w') as f:
                f.write(yaml_text(pools))
            if os.path.exists(self.log):
                os.unlink(self.log)
            self.proc = subprocess.Popen([exe, '-c', self.conf, '-s', str(distinct_port()), '-a', '127.0.0.1',
                                          '-o', self.log], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _live.append(self)
            if self._wait_ready(20):
                return self
            last = self._tail_log()
            self.stop()
            if 'in use' not in last:
                break
        raise RuntimeError('nutcracker did not start: %s' % last)

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        pending = set(self.ports)
        while pending and time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            for name in list(pending):
                try:
                    c = Conn(self.ports[name], timeout=5)
                    try:
                        # (a pool with redis_auth answers the PING with an
                        # authentication error: it is up too)
                        r = c.pipeline([['PING']])[0]
                        if r == 'PONG' or (isinstance(r, RedisError) and 'auth' in str(r).lower()):
                            pending.discard(name)
                    finally:
                        c.close()
                except (ConnectionError, OSError, RedisError):
                    pass
            if pending:
                time.sleep(0.02)
        if pending:
            return False
        # A pool port another test's server bound since it was picked
        # answers the PING too, while nutcracker, failing to bind it, exits
        # at once: still running a moment later, the answers were its own.
        time.sleep(0.2)
        return self.proc.poll() is None

    def _tail_log(self):
        err = ''
        if self.proc and self.proc.stderr and self.proc.poll() is not None:
            try:
                err = (self.proc.stderr.read() or b'').decode('utf-8', 'replace')
            except (OSError, ValueError):
                pass
        try:
            with open(self.log, errors='replace') as f:
                err += ' | '.join(f.read().strip().splitlines()[-4:])
        except OSError:
            pass
        return err[-1500:]

    def port(self, pool):
        return self.ports[pool]

    def conn(self, pool):
        return Conn(self.ports[pool])

    def stop(self):
        p, self.proc = self.proc, None
        if self in _live:
            _live.remove(self)
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stderr:
            p.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- a pool read as one source ------------------------------------------------------
# (test_twemproxy_source.py: redis-servers behind a nutcracker pool, keys written
# through it, the pool and a target as per-key tables)

# backends a replica can join at once (7.0 delays a diskless sync 5 s for more replicas)
BACKEND = ['--repl-backlog-size', '64mb', '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']
WEIGHTS = (1, 3, 2, 1)
NAMED = 1                     # the backend whose server line has a name
SOON_MS = 3500                # keys expiring within this are each side's own business
# a stream by EVAL (nutcracker 0.5.0 has no XADD); with ARGV[2] "1" a consumer group and a pending entry
STREAM = ("redis.call('XADD', KEYS[1], '*', 'a', ARGV[1], 'b', 'c') "
          "if ARGV[2] == '1' then redis.call('XADD', KEYS[1], '*', 'a', 'second') "
          "redis.call('XGROUP', 'CREATE', KEYS[1], 'g', '0') "
          "redis.call('XREADGROUP', 'GROUP', 'g', 'alice', 'COUNT', 1, 'STREAMS', KEYS[1], '>') end return 1")


def now_ms():
    return int(time.time() * 1000)


class Ctx:
    """A test run's context: run_scenarios sets rmig, rep (the Reporter),
    tmp, seed and, before each scenario, servers and clusters (stopped
    after it); locked (backends given a password: (server, password)) and
    ncs (the nutcrackers) are for on_end(ctx) to undo and stop; nverify
    numbers test_verify.verify's report files."""

    def __init__(self):
        self.nverify = 0
        self.locked, self.ncs = [], []


def backends(ctx, d, n=4, config=BACKEND, password=None):
    """n redis-servers (DEBUG on); with a password, requirepass set once up
    (the harness pings without AUTH) and taken off again by on_end."""
    out = []
    for i in range(n):
        s = Server(os.path.join(d, 'b%d' % i), config=list(config), name='b%d' % i).start()
        ctx.servers.append(s)
        if password:
            c = s.conn()
            c.call('CONFIG', 'SET', 'requirepass', password)
            c.close()
            ctx.locked.append((s, password))
        s.password = password
        out.append(s)
    return out


def bconn(s):
    """A connection to a backend, authenticated when it has a password."""
    c = s.conn()
    if getattr(s, 'password', None):
        c.call('AUTH', s.password)
    return c


def server_lines(bs):
    return ['127.0.0.1:%d:%d%s' % (s.port, WEIGHTS[i % len(WEIGHTS)], ' bravo' if i == NAMED else '')
            for i, s in enumerate(bs)]


def pool(bs, db, **more):
    p = {'hash': 'fnv1a_64', 'hash_tag': '{}', 'distribution': 'ketama', 'redis': True, 'redis_db': db}
    p.update(more)
    p['servers'] = server_lines(bs)
    return p


def proxy(ctx, d, pools):
    nc = Nutcracker(d, pools).start()
    ctx.ncs.append(nc)
    return nc


def pconn(nc, name, password=None):
    c = nc.conn(name)
    if password:
        c.call('AUTH', password)
    return c


def on_end(ctx):
    def end():
        kill_running()
        for s, pw in ctx.locked:
            if s.proc and s.proc.poll() is None:
                try:
                    c = Conn(s.port, timeout=5)
                    c.call('AUTH', pw)
                    c.call('CONFIG', 'SET', 'requirepass', '')
                    c.close()
                except (OSError, ConnectionError, RedisError):
                    pass
        del ctx.locked[:]
        for nc in ctx.ncs:
            nc.stop()
        del ctx.ncs[:]
    return end


def twem_pipeline(conf, mode, sink, pool_name='alpha', extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.twemproxy { config = %s%s, mode = "%s"%s },\n'
            '  sink = %s,\n}\n') % (lua_string(conf), ', pool = "%s"' % pool_name if pool_name else '', mode, extra,
                                   sink)


def redis_sink(port):
    return 'rmig.sink.redis { addr = "127.0.0.1:%d" }' % port


def cluster_sink(port):
    return 'rmig.sink.cluster { addr = "127.0.0.1:%d" }' % port


WORDS = ['user', 'cl\u00e9', '\u043a\u043b\u044e\u0447', '\u952e', 'caf\u00e9 au lait', 'tab\there', 'cr\r\nlf']


def fill_pool(c, rng, prefix=''):
    """Keys of every type written through the proxy conn c (no SELECT: the
    proxy has none); streams by EVAL (nutcracker 0.5.0 has no XADD).
    Returns the number of keys written."""
    p = prefix.encode()
    cmds, keys = [], set()

    def add(cmd, key):
        cmds.append(cmd)
        keys.add(key)
    add(['SET', p + b'', 'the empty name'], p + b'')
    for i in range(1500):
        k = p + b's:%d' % i
        add(['SET', k, rng.randbytes(rng.randint(1, 60)) if i % 3 else 'v%d' % i], k)
        if i % 5 == 0:
            cmds.append(['PEXPIRE', k, 3600000 + i * 1000])
    for i in range(300):
        k = p + ('%s:%d' % (rng.choice(WORDS), i)).encode()
        add(['SET', k, '\u00e9t\u00e9 %d' % i], k)
    for i in range(300):
        k = p + bytes(rng.randrange(256) for _ in range(rng.randint(1, 24))) + b'\x00\xff%d' % i
        add(['SET', k, b'\x00\xff\r\n%d' % i], k)
    for i in range(100):
        add(['SET', p + b'n:%d' % i, i * 7 - 50], p + b'n:%d' % i)
        add(['SET', p + b'ex:%d' % i, 'x', 'EX', 7200 + i], p + b'ex:%d' % i)
    add(['SET', p + b'long', rng.randbytes(200000)], p + b'long')
    for i in range(300):
        k = p + b'h:%d' % i
        add(['HSET', k] + sum((['f%d' % j, 'v%d' % (i + j)] for j in range(i % 12 + 1)), []), k)
        if i % 7 == 0:
            cmds.append(['EXPIRE', k, 7200])
    add(['HSET', p + b'bigh'] + sum((['f%d' % j, 'v%d' % j] for j in range(700)), []), p + b'bigh')
    for i in range(300):
        k = p + b'{user%d}:list' % (i % 90) if i < 90 else p + b'l:%d' % i
        add(['RPUSH', k] + ['e%d' % j for j in range(i % 9 + 1)], k)
    add(['RPUSH', p + b'bigl'] + ['e%d' % j for j in range(3000)], p + b'bigl')
    for i in range(200):
        add(['SADD', p + b'set:%d' % i] + ['m%d' % j for j in range(i % 8 + 1)], p + b'set:%d' % i)
        add(['SADD', p + b'iset:%d' % i] + [str(j * 3 - 5) for j in range(i % 10 + 1)], p + b'iset:%d' % i)
    add(['SADD', p + b'bigset'] + ['m%d' % j for j in range(600)], p + b'bigset')
    for i in range(200):
        k = p + b'{user%d}:z' % i if i < 90 else p + b'z:%d' % i
        add(['ZADD', k] + sum(([str(j * 0.5 - 1), 'm%d' % j] for j in range(i % 8 + 1)), []), k)
    add(['ZADD', p + b'bigz'] + sum(([str(j / 3.0), 'm%d' % j] for j in range(400)), []), p + b'bigz')
    for i in range(40):
        k = p + b'x:%d' % i
        add(['EVAL', STREAM, 1, k, str(i), '1' if i % 8 == 0 else '0'], k)
    bad = [(short(repr(cmd), 60), r) for cmd, r in zip(cmds, c.pipeline(cmds)) if isinstance(r, RedisError)]
    if bad:
        raise RuntimeError('writing through the proxy: %r' % bad[:5])
    return len(keys)


def junk(bs, dbs=(0, 5), n=200, names=(), tag='pre'):
    """Keys written straight into other dbs of each backend: not the pool's.
    `names` (pool key names) go there too, with other values. Returns how
    many keys were written in all."""
    total = 0
    for i, s in enumerate(bs):
        c = bconn(s)
        for db in dbs:
            cmds = [['SELECT', db]]
            cmds += [['SET', 'junk:%s:%d:%d' % (tag, i, j), 'junk'] for j in range(n)]
            cmds += [['HSET', k, 'junk', 'db %d' % db] for k in names]
            cmds.append(['SELECT', 0])
            for r in c.pipeline(cmds):
                if isinstance(r, RedisError):
                    raise r
            total += n + len(names)
        c.close()
    return total


def scan_all(c):
    cur, keys = b'0', []
    while True:
        cur, part = c.call('SCAN', cur, 'COUNT', 2000)
        keys.extend(part)
        if cur == b'0':
            return keys


def key_table(parts):
    """Per key over parts [(conn, db)]: ({key: (type, PEXPIRETIME, DEBUG
    DIGEST-VALUE, consumer groups)}, {key: [index of each part holding it]}).
    Keys expiring within SOON_MS are left out."""
    soon = now_ms() + SOON_MS
    table, where = {}, {}
    for i, (c, db) in enumerate(parts):
        c.call('SELECT', db)
        keys = scan_all(c)
        cmds = []
        for k in keys:
            cmds += [['TYPE', k], ['PEXPIRETIME', k], ['DEBUG', 'DIGEST-VALUE', k]]
        r = c.pipeline(cmds)
        for j, k in enumerate(keys):
            typ, exp, dv = r[3 * j], r[3 * j + 1], r[3 * j + 2]
            if typ == 'none' or exp == -2 or 0 < exp < soon:
                continue
            groups = stream_groups(c, k) if typ == 'stream' else ()
            table[k] = (typ, exp, dv, groups)
            where.setdefault(k, []).append(i)
        c.call('SELECT', 0)
    return table, where


def pool_table(bs, db):
    conns = [bconn(s) for s in bs]
    try:
        return key_table([(c, db) for c in conns])
    finally:
        for c in conns:
            c.close()


def cluster_table(cl):
    """The cluster's masters as one key table, and the keys not on the
    master owning their slot."""
    masters = [p for _h, p in cl.masters()]
    conns = [cl.conn(p) for p in masters]
    try:
        table, where = key_table([(c, 0) for c in conns])
    finally:
        for c in conns:
            c.close()
    owners = cl.slot_map()
    misplaced = [(k, masters[w[0]]) for k, w in where.items() if len(w) != 1 or owners[slot_of(k)][1] != masters[w[0]]]
    return table, misplaced


def table_diff(want, got, tol_ms, limit=8):
    """The differences between two key tables, as text ('' if none);
    expire times may differ by tol_ms. A key on one side only that expires
    within 6 s is the clocks' business, not a difference."""
    lines = []
    soon = now_ms() + 6000
    for k in sorted(set(want) | set(got)):
        a, b = want.get(k), got.get(k)
        if a is None or b is None:
            x = a or b
            if not (0 < x[1] < soon):
                lines.append('%s: %s' % (short(k, 40), 'missing on the target' if b is None else 'extra on the target'))
        elif a[0] != b[0] or a[2] != b[2] or a[3] != b[3]:
            lines.append('%s: source %s, target %s' % (short(k, 40), short(repr(a), 150), short(repr(b), 150)))
        elif (a[1] < 0) != (b[1] < 0) or abs(a[1] - b[1]) > tol_ms:
            lines.append('%s: expires at %d on the source, %d on the target' % (short(k, 40), a[1], b[1]))
    n = len(lines)
    return '; '.join(lines[:limit]) + ('; ... %d differences' % n if n > limit else '')


def dbs_of(c):
    """{db: keys} from INFO keyspace."""
    out = {}
    for line in c.call('INFO', 'keyspace').decode().splitlines():
        if line.startswith('db'):
            db, rest = line.split(':', 1)
            out[int(db[2:])] = int(rest.split(',')[0].split('=')[1])
    return out


def pool_report(out, db):
    """(saw, dropped, changed) from the report's "pool db N as db 0" line, or None."""
    m = re.search(r'pool db %d as db 0: saw (\d+), dropped (\d+), changed (\d+)' % db, out)
    return tuple(int(x) for x in m.groups()) if m else None


def names_of(bs):
    return ['127.0.0.1:%d' % s.port for s in bs]


def caught_up(r, names):
    got = set(re.findall(r'caught up with (\S+): live', r.stderr()))
    return [n for n in names if n in got]


def sync_counts(r, names):
    """{'host:port': (full, partial)} from the summary's "live HOST:PORT: F full and P partial syncs"."""
    found = {m.group(1): (int(m.group(2)), int(m.group(3)))
             for m in re.finditer(r'live (\S+): (\d+) full and (\d+) partial syncs', r.stdout())}
    return {n: found.get(n) for n in names}


def per_backend(bs, db):
    out = []
    for s in bs:
        c = bconn(s)
        out.append(dbs_of(c).get(db, 0))
        c.close()
    return out


def dump_of(s, db, key):
    c = bconn(s)
    c.call('SELECT', db)
    try:
        return c.call('DUMP', key)
    finally:
        c.close()


def pool_size(bs, db):
    """The pool's DBSIZE (keys expired but not reaped yet included)."""
    n = 0
    for s in bs:
        c = bconn(s)
        c.call('SELECT', db)
        n += c.call('DBSIZE')
        c.close()
    return n

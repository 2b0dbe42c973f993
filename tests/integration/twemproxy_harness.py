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

require_nutcracker() exits 77 (skipped) when nutcracker is not installed."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import SKIP, Conn, RedisError, free_port  # noqa: E402


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
        return not pending

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

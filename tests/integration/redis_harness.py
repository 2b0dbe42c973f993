"""Shared helpers for rmig's integration tests (Python 3 standard library only).

- Reporter: one "ok - ..." / "not ok - ...: details" line per check, then
  "N passed, N failed"; the exit code is 0 only when nothing failed.
- Server: a redis-server on a free loopback port with its own directory,
  started with --save '' --appendonly no, always stopped (SHUTDOWN NOSAVE,
  then SIGKILL) by stop(), by a `with` block, or at interpreter exit.
- Conn: a tiny RESP2 client with pipelining; error replies come back as
  RedisError values inside pipelines and are raised by call().
- run_rmig(): runs the binary under test with a timeout.
"""
import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77


def require_redis_server():
    """Exits with 77 (skipped) when redis-server is not installed."""
    exe = shutil.which('redis-server')
    if not exe:
        print('redis-server is not installed: skipped')
        sys.exit(SKIP)
    return exe


def install_signal_handlers():
    """SIGTERM/SIGINT/SIGHUP end the run through SystemExit, so finally
    blocks and atexit handlers stop the servers (ctest kills on timeout)."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


class Reporter:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, sentence, details=''):
        if cond:
            self.passed += 1
            print('ok - %s' % sentence, flush=True)
        else:
            self.failed += 1
            d = str(details)
            if len(d) > 1500:
                d = d[:1500] + '... (%d more characters)' % (len(d) - 1500)
            print('not ok - %s: %s' % (sentence, d or 'failed'), flush=True)
        return bool(cond)

    def ok(self, sentence):
        return self.check(True, sentence)

    def fail(self, sentence, details):
        return self.check(False, sentence, details)

    def finish(self):
        print('%d passed, %d failed' % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


class RedisError(Exception):
    pass


def _enc(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    if isinstance(a, float):
        return repr(a).encode()
    return str(a).encode()


class Conn:
    """A blocking RESP2 connection. call() raises RedisError on an error
    reply; pipeline() returns every reply, errors as RedisError values."""

    def __init__(self, port, host='127.0.0.1', timeout=60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def encode(args):
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            b = _enc(a)
            out.append(b'$%d\r\n' % len(b))
            out.append(b)
            out.append(b'\r\n')
        return b''.join(out)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError('the server closed the connection')
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b'\r\n', self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
        return data

    def read_reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b'+':
            return rest.decode('utf-8', 'replace')
        if t == b'-':
            return RedisError(rest.decode('utf-8', 'replace'))
        if t == b':':
            return int(rest)
        if t == b'$':
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b'*':
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        raise ConnectionError('unexpected RESP reply %r' % line[:80])

    def pipeline(self, cmds, window=2000):
        replies = []
        for i in range(0, len(cmds), window):
            part = cmds[i:i + window]
            self.sock.sendall(b''.join(self.encode(c) for c in part))
            replies.extend(self.read_reply() for _ in part)
        return replies

    def call(self, *args):
        self.sock.sendall(self.encode(args))
        r = self.read_reply()
        if isinstance(r, RedisError):
            raise r
        return r


def free_port():
    """A loopback port free now. Nothing holds it: whoever binds it later
    may find it taken (Server.start retries and checks whom it reached)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """(socket, port): a loopback port that refuses connections for as long
    as the socket stays open (bound, never listening), for "an unreachable
    server" checks. A port from free_port() could be taken meanwhile by a
    server of a test running beside this one, and then answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    return s, s.getsockname()[1]


_live_servers = []


def stop_all_servers():
    """Stops every server this process started and has not stopped yet."""
    for s in list(_live_servers):
        s.stop()


atexit.register(stop_all_servers)


class Server:
    """A redis-server of its own. `config` is a list of extra "--name value"
    arguments; `dbfilename` names the RDB file inside `dir` (loaded at start
    when it exists)."""

    def __init__(self, dir, config=(), dbfilename='dump.rdb', name='redis'):
        self.dir = dir
        self.config = list(config)
        self.dbfilename = dbfilename
        self.name = name
        self.proc = None
        self.port = None
        self.log = os.path.join(dir, '%s.log' % name)

    def start(self, attempts=5, port=None):
        """Starts it on a free port, or on `port` (to restart it where its
        clients look for it)."""
        os.makedirs(self.dir, exist_ok=True)
        last = ''
        want = port
        for _ in range(attempts):
            port = want or free_port()
            args = ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                    '--save', '', '--appendonly', 'no', '--dir', self.dir,
                    '--dbfilename', self.dbfilename, '--daemonize', 'no',
                    '--logfile', self.log, '--enable-debug-command', 'yes'] + self.config
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.port = port
            _live_servers.append(self)
            deadline = time.time() + 20
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    c = Conn(port, timeout=5)
                    try:
                        # The port was free when picked, not held: another
                        # test's redis-server may have bound it since, ours
                        # then fails to bind and exits. Its PONG must not
                        # count (the scenario would use, and stop() shut
                        # down, that other server), so only our own
                        # process's answer does; ours exiting is seen above.
                        if c.call('PING') == 'PONG' and self._answered_by_ours(c):
                            return self
                    except RedisError as e:
                        # still loading the RDB file
                        if 'LOADING' not in str(e):
                            raise
                    finally:
                        c.close()
                except (ConnectionError, OSError):
                    pass
                time.sleep(0.01)
            last = self._tail_log()
            self.stop()
            if 'Address already in use' not in last:
                break
            if want:
                time.sleep(0.2)
        raise RuntimeError('redis-server %s did not start: %s' % (self.name, last))

    def _answered_by_ours(self, c):
        """True when the server on the other end of c is this object's
        process (INFO server's process_id), not one that has its port."""
        m = re.search(rb'^process_id:(\d+)', c.call('INFO', 'server'), re.M)
        return m is not None and self.proc is not None and int(m.group(1)) == self.proc.pid

    def started_or_none(self):
        """start(), or None when the server refuses to come up (for example
        because it cannot load the RDB file it was given)."""
        try:
            return self.start(attempts=2)
        except RuntimeError:
            return None

    def _tail_log(self):
        try:
            with open(self.log, errors='replace') as f:
                return ' | '.join(f.read().strip().splitlines()[-4:])
        except OSError:
            err = b''
            if self.proc and self.proc.stderr:
                try:
                    err = self.proc.stderr.read() or b''
                except OSError:
                    pass
            return err.decode('utf-8', 'replace')[-400:]

    def conn(self):
        return Conn(self.port)

    def stop(self):
        p = self.proc
        if p is None:
            return
        self.proc = None
        if self in _live_servers:
            _live_servers.remove(self)
        if p.poll() is None:
            try:
                c = Conn(self.port, timeout=2)
                try:
                    c.sock.sendall(Conn.encode(['SHUTDOWN', 'NOSAVE']))
                    c.sock.recv(100)
                except OSError:
                    pass
                finally:
                    c.close()
            except OSError:
                pass
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


def run_rmig(rmig, args, stdin=None, input=None, timeout=120):
    """Runs rmig; returns (exit code, stdout bytes, stderr text)."""
    p = subprocess.run([rmig] + list(args), stdin=stdin, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode('utf-8', 'replace')


def write(tmp, name, text):
    """Writes text to tmp/name (a pipeline, a test file); returns the path."""
    path = os.path.join(tmp, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def json_lines(out):
    return [json.loads(l) for l in out.decode('utf-8').splitlines() if l.strip()]


def jbytes(v):
    """A string as rmig's JSON writes it ("text" or {"hex": "..."}) as bytes."""
    if isinstance(v, dict) and 'hex' in v:
        return bytes.fromhex(v['hex'])
    if isinstance(v, str):
        return v.encode('utf-8')
    raise TypeError('not a JSON string value: %r' % (v,))


def make_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)

    def cleanup():
        stop_all_servers()
        shutil.rmtree(d, True)
    atexit.register(cleanup)
    return d


def corpus_dir():
    d = os.environ.get('RMIG_CORPUS')
    if d and os.path.isdir(os.path.join(d, 'rdb')):
        return d
    return None


def corpus_index(corpus):
    """index.tsv as a list of dicts (file, dir, rdb_version, expect, note...)."""
    rows = []
    with open(os.path.join(corpus, 'index.tsv'), encoding='utf-8') as f:
        header = f.readline().rstrip('\n').split('\t')
        for line in f:
            cols = line.rstrip('\n').split('\t')
            rows.append(dict(zip(header, cols)))
    return rows


def short(b, n=60):
    """A short printable form of a key (bytes) or a text (str) for messages."""
    if isinstance(b, str):
        return b[:n] + ('...' if len(b) > n else '')
    return repr(b[:n]) + ('...' if len(b) > n else '')


def scenario_args(argv, scenarios, doc):
    """The command line of a test made of scenarios: `RMIG [--only A,B]`.
    Returns (rmig path, the names to run or None for all), or (None, exit
    code) after printing what is wrong."""
    args = list(argv)
    only = None
    if '--only' in args:
        i = args.index('--only')
        only = args[i + 1].split(',') if i + 1 < len(args) else []
        del args[i:i + 2]
    names = [n for n, _ in scenarios]
    if only is not None and not set(only) <= set(names):
        print('unknown scenario %s; there are: %s' % (', '.join(sorted(set(only) - set(names))), ', '.join(names)))
        return None, 2
    if len(args) != 1:
        print(doc)
        return None, 2
    return args[0], only


def run_scenarios(argv, scenarios, doc, prefix, ctx, on_end=None, skip=None, seed_note='the data'):
    """main() of a test made of scenarios (a list of (name, fn(ctx, dir))):
    the command line (scenario_args), then each scenario selected in a
    directory of its own with ctx.servers (and ctx.clusters) stopped after
    it, and on_end() (kill what it started in the background) after each
    and at exit; skip(name) may return why a scenario cannot run here. A
    scenario that raises is reported as failed and the next one runs.
    Returns the exit code."""
    rmig, only = scenario_args(argv, scenarios, doc)
    if rmig is None:
        return only
    require_redis_server()
    install_signal_handlers()
    ctx.rmig = os.path.abspath(rmig)
    ctx.rep = Reporter()
    ctx.tmp = make_tmpdir(prefix)
    if on_end:
        atexit.register(on_end)   # before make_tmpdir's cleanup stops the servers
    ctx.seed = int(os.environ.get('RMIG_TEST_SEED') or random.randrange(1, 1 << 31))
    print('# seed %d (RMIG_TEST_SEED=%d repeats %s)' % (ctx.seed, ctx.seed, seed_note), flush=True)
    t_all = time.time()
    for name, fn in scenarios:
        if only and name not in only:
            continue
        why = skip(name) if skip else None
        if why:
            print('# %s: %s: skipped' % (name, why))
            continue
        d = os.path.join(ctx.tmp, name)
        os.makedirs(d)
        ctx.servers, ctx.clusters = [], []
        t0 = time.time()
        try:
            fn(ctx, d)
        except Exception:   # a reply the scenario did not expect: report it, go on with the next one
            ctx.rep.fail('%s: the scenario ran to its end' % name, ' | '.join(traceback.format_exc().splitlines()[-6:]))
        finally:
            if on_end:
                on_end()
            for srv in ctx.servers:
                srv.stop()
            for cl in ctx.clusters:
                cl.stop()
            shutil.rmtree(d, ignore_errors=True)
        print('# %s: %.1f s' % (name, time.time() - t0), flush=True)
    print('# all: %.1f s' % (time.time() - t_all), flush=True)
    return ctx.rep.finish()

#!/usr/bin/env python3
"""`rmig run` with a live source (rmig.source.psync): rmig joins a real
redis-server as a replica, applies the snapshot and then the command stream
to another redis-server, while live_writer.py writes to the source. Each
scenario starts fresh servers on loopback ports and ends by comparing the two
with DEBUG DIGEST (and, where the digest is blind, per key: TTLs, consumer
groups, counters):

  disk          a disk-based full sync of every type while the writer runs;
                SIGTERM saves a state file with the source's replid and offset
  diskless      the same from a diskless source (repl-diskless-sync yes)
  replica-kill  CLIENT KILL TYPE replica, twice: rmig resumes with PSYNC
  rmig-kill     rmig SIGKILLed and started again with its state file: PSYNC,
                nothing lost (the writer writes assignments only here: without
                exactly_once a restart may apply a few commands twice)
  exactly-once  exactly_once = true: after SIGKILLs, one of them with the state
                file put back a second, INCR/LPUSH/APPEND are exact
  stall         the target stopped (SIGSTOP) under a fast writer: rmig spools
                to disk and the source, with small replica output buffers,
                never drops it
  nodes         keys, rename and db filters on the live stream
  flush         FLUSHALL/FLUSHDB from the source are not forwarded by default
  errors        an unreachable source, a wrong password (exit 1, the password
                never shown), a right one (user and password), a missing addr
                (exit 2)

usage: python3 test_psync.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (the writers' seed; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import atexit
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import live_writer  # noqa: E402
from redis_harness import (Reporter, Server, free_port, install_signal_handlers,  # noqa: E402
                           make_tmpdir, require_redis_server, scenario_args,
                           short, write)

# A backlog that outlasts any pause in these scenarios, and disk-based syncs
# unless a scenario asks for diskless ones (7.0's default is diskless with a
# 5 s delay).
SOURCE_CONFIG = ['--repl-backlog-size', '64mb', '--repl-diskless-sync', 'no']
DISKLESS_CONFIG = ['--repl-backlog-size', '64mb', '--repl-diskless-sync', 'yes',
                   '--repl-diskless-sync-delay', '0']
CHECKPOINT = b'rmig:checkpoint'


def now_ms():
    return int(time.time() * 1000)


def lua_string(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def pipeline(src_port, dst_port, state, nodes='', source='', sink=''):
    """A pipeline file's text: the psync source at src_port (extra source
    options in `source`, e.g. ', spool_dir = "..."'), nodes, and a redis sink
    at dst_port (extra sink options in `sink`)."""
    return ('local rmig = require "rmig"\n'
            'return rmig.pipeline {\n'
            '  source = rmig.source.psync { addr = "127.0.0.1:%d", state = %s%s },\n'
            '  nodes = { %s },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d"%s },\n'
            '}\n') % (src_port, lua_string(state), source, nodes, dst_port, sink)


# --- processes ---------------------------------------------------------------

_running = []   # rmig and writer processes still to be killed at exit


def kill_running():
    for p in list(_running):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    del _running[:]


class Rmig:
    """`rmig run PIPELINE` in the background, stdout and stderr in files."""

    def __init__(self, exe, pipeline_path, logdir, name):
        self.name = name
        self.outpath = os.path.join(logdir, name + '.stdout')
        self.errpath = os.path.join(logdir, name + '.stderr')
        with open(self.outpath, 'wb') as out, open(self.errpath, 'wb') as err:
            self.proc = subprocess.Popen([exe, 'run', pipeline_path], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        _running.append(self.proc)
        self.started = time.time()

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """The exit code, or None when it is still running after timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig and waits: the exit code, or None when it had to be
        SIGKILLed after timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def _read(self, path):
        try:
            with open(path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def stderr(self):
        return self._read(self.errpath)

    def stdout(self):
        return self._read(self.outpath)

    def tail(self, n=800):
        return 'stdout: %s | stderr: %s' % (self.stdout()[-300:], self.stderr()[-n:])


class Case:
    """One scenario's directory, servers, rmig runs and writers; close()
    ends all of them (servers resumed first if a scenario paused one)."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.name = name
        self.dir = os.path.join(ctx.tmp, name)
        os.makedirs(self.dir)
        self.servers = []
        self.rmigs = []
        self.writers = []
        self.n = 0

    def server(self, name, config=SOURCE_CONFIG):
        s = Server(os.path.join(self.dir, name), config=config, name=name).start()
        self.servers.append(s)
        return s

    def pipeline(self, text, name='pipeline.lua'):
        return write(self.dir, name, text)

    def rmig(self, pipeline_path):
        self.n += 1
        r = Rmig(self.ctx.rmig, pipeline_path, self.dir, 'rmig-%d' % self.n)
        self.rmigs.append(r)
        return r

    def writer(self, port, **kw):
        kw.setdefault('seed', self.ctx.seed)
        w = live_writer.spawn(port, **kw)
        _running.append(w.proc)
        self.writers.append(w)
        return w

    def close(self):
        for w in self.writers:
            if w.alive():
                w.proc.kill()
                w.proc.wait()
        for r in self.rmigs:
            r.kill()
        for s in self.servers:
            if s.proc and s.proc.poll() is None:
                s.proc.send_signal(signal.SIGCONT)
            s.stop()


# --- what the servers say ------------------------------------------------------

def info(c, section):
    """INFO section as a dict of strings."""
    out = {}
    for line in c.call('INFO', section).decode().splitlines():
        if ':' in line and not line.startswith('#'):
            k, v = line.split(':', 1)
            out[k] = v
    return out


def sync_counts(c):
    """(sync_full, sync_partial_ok) from the source's INFO stats."""
    s = info(c, 'stats')
    return int(s['sync_full']), int(s['sync_partial_ok'])


def replica_ids(c):
    """The ids of the source's replica clients (CLIENT LIST TYPE replica)."""
    text = c.call('CLIENT', 'LIST', 'TYPE', 'replica').decode()
    return [f.split('=', 1)[1] for line in text.splitlines() for f in line.split() if f.startswith('id=')]


def replica_online(c):
    r = info(c, 'replication')
    return int(r.get('connected_slaves', 0)) >= 1 and 'state=online' in r.get('slave0', '')


def wait_for(cond, timeout, rmig=None, step=0.1):
    """Polls cond() until it returns something true (returned) or timeout
    passes, or rmig (when given) exits; then None."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline or (rmig is not None and not rmig.alive()):
            return None
        time.sleep(step)


def wait_online(c, rmig, timeout=60):
    """Until rmig is an online replica of the source c."""
    return wait_for(lambda: replica_online(c), timeout, rmig, 0.05)


def digest(c):
    return c.call('DEBUG', 'DIGEST')


def converge(want_fn, got_fn, diff_fn, rmig, timeout=60, stuck=20):
    """Polls until diff_fn(want_fn(), got_fn()) is empty: '' then, else the
    last difference. Gives up after timeout, when rmig exits, or when the
    target has not changed for `stuck` seconds (rmig is not applying
    anything: waiting longer would only make a failing run slower)."""
    deadline = time.time() + timeout
    last_got, changed = None, time.time()
    while True:
        want, got = want_fn(), got_fn()
        diff = diff_fn(want, got)
        if not diff:
            return ''
        if got != last_got:
            last_got, changed = got, time.time()
        now = time.time()
        if now >= deadline or now - changed > stuck or (rmig is not None and not rmig.alive()):
            if rmig is not None and not rmig.alive():
                diff += ' (rmig exited with %r)' % rmig.proc.returncode
            elif now - changed > stuck:
                diff += ' (the target did not change for %d s)' % stuck
            return diff
        time.sleep(0.2)


def wait_same(src, dst, rmig, timeout=60):
    """Polls both DEBUG DIGESTs until they are equal: (equal, source digest,
    target digest and why the wait ended, seconds waited)."""
    t0 = time.time()
    last = [None, None]

    def differ(a, b):
        last[0], last[1] = a, b
        return '' if a == b else 'differ'
    diff = converge(lambda: digest(src), lambda: digest(dst), differ, rmig, timeout)
    why = diff[len('differ'):]
    return not diff, last[0], '%s%s' % (last[1], why), time.time() - t0


def mark(c, key='rmig-test:done', db=0):
    """Writes a last key on the source once the writers stopped: when the
    target has it, rmig has applied the stream past the returned
    master_repl_offset (taken before the write)."""
    off = int(info(c, 'replication')['master_repl_offset'])
    c.call('SELECT', db)
    c.call('SET', key, str(off))
    c.call('SELECT', 0)
    return off


def dbs_with_keys(c):
    return [int(line.split(':')[0][2:]) for line in c.call('INFO', 'keyspace').decode().splitlines()
            if line.startswith('db')]


def stream_groups(c, key):
    """A stream's consumer groups as a replica holds them: per group its
    name, consumers, pending count and last-delivered-id, and each
    consumer's name and pending count. Not entries-read and lag: a Redis 7.0
    replica does not get them exactly either; nor idle times, which are each
    server's own."""
    out = []
    for g in c.call('XINFO', 'GROUPS', key) or []:
        f = dict(zip((x.decode() for x in g[0::2]), g[1::2]))
        cons = []
        for cinfo in c.call('XINFO', 'CONSUMERS', key, f['name']) or []:
            cf = dict(zip((x.decode() for x in cinfo[0::2]), cinfo[1::2]))
            cons.append((cf['name'], cf['pending']))
        out.append((f['name'], f.get('consumers'), f.get('pending'), f.get('last-delivered-id'), tuple(sorted(cons))))
    return tuple(sorted(out))


def key_table(c, values=True, skip=(CHECKPOINT,)):
    """{(db, key): (type, expire time in ms or -1, DEBUG DIGEST-VALUE,
    consumer groups)} over every db. Keys that expire within 3.5 s are left
    out on purpose: source and target each expire them on their own clock.
    values=False leaves out the digests (big data sets whose DEBUG DIGEST
    already matched)."""
    soon = now_ms() + 3500
    out = {}
    for db in dbs_with_keys(c):
        c.call('SELECT', db)
        keys = [k for k in c.call('KEYS', '*') if k not in skip]
        per = 3 if values else 2
        cmds = []
        for k in keys:
            cmds += [['TYPE', k], ['PEXPIRETIME', k]]
            if values:
                cmds.append(['DEBUG', 'DIGEST-VALUE', k])
        replies = c.pipeline(cmds)
        for i, k in enumerate(keys):
            typ, exp = replies[i * per], replies[i * per + 1]
            if typ == 'none' or exp == -2 or 0 < exp < soon:
                continue
            dv = replies[i * per + 2] if values else None
            groups = stream_groups(c, k) if typ == 'stream' else ()
            out[(db, k)] = (typ, exp, dv, groups)
    c.call('SELECT', 0)
    return out


def table_diff(want, got, limit=8):
    """The first differences between two key tables, as text ('' if none)."""
    lines = []
    for k in sorted(set(want) | set(got)):
        a, b = want.get(k), got.get(k)
        if a != b:
            lines.append('db %d %s: source %s, target %s' % (k[0], short(k[1], 40), short(repr(a), 160),
                                                           short(repr(b), 160)))
    n = len(lines)
    return '; '.join(lines[:limit]) + ('; ... %d differences' % n if n > limit else '')


def wait_tables(want_fn, dst, rmig, timeout=60, values=True):
    """Polls until want_fn() (a key table) equals the target's; returns the
    last difference ('' when equal)."""
    return converge(want_fn, lambda: key_table(dst, values), table_diff, rmig, timeout)


def read_state(path):
    """The state file as a dict, or an error text."""
    try:
        with open(path) as f:
            st = json.load(f)
    except (OSError, ValueError) as e:
        return 'cannot read %s: %s' % (path, e)
    if not isinstance(st, dict):
        return 'not a JSON object: %r' % (st,)
    return st


def check_state(rep, what, path, src, applied_past):
    """The saved state names the source's replication id and an offset past
    `applied_past` (the offset before the last key the target got) and not
    past the source's own offset."""
    st = read_state(path)
    r = info(src, 'replication')
    ok = (isinstance(st, dict) and st.get('replid') == r['master_replid']
          and isinstance(st.get('offset'), int) and applied_past < st['offset'] <= int(r['master_repl_offset'])
          and isinstance(st.get('db'), int) and 0 <= st['db'] < 16)
    rep.check(ok, '%s: the state file holds the source\'s replid and an offset in (%d, %s]'
              % (what, applied_past, r['master_repl_offset']),
              'state %r, source replid %s offset %s' % (st, r['master_replid'], r['master_repl_offset']))


def spool_files(d):
    """[(path, size)] of the regular files under d."""
    out = []
    for root, _dirs, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            try:
                out.append((p, os.path.getsize(p)))
            except OSError:
                pass
    return out


def socket_buffers():
    """The most a TCP connection on this machine can hold in kernel buffers
    (the receiver's tcp_rmem and the sender's tcp_wmem maxima)."""
    total = 0
    for name in ('tcp_rmem', 'tcp_wmem'):
        try:
            with open('/proc/sys/net/ipv4/' + name) as f:
                total += int(f.read().split()[2])
        except (OSError, ValueError, IndexError):
            total += 6 << 20
    return total


def status_line(err):
    """A status line of rmig's stderr naming the phase, the lag and the spool."""
    for line in err.splitlines():
        low = line.lower()
        if 'live' in low and 'lag' in low and 'spool' in low:
            return line
    return None


# --- data ------------------------------------------------------------------------

def fill_every_type(c):
    """Every type and encoding in dbs 0, 1 and 15, with TTLs (one of them
    expiring while rmig syncs) and bulk keys from DEBUG POPULATE."""
    c.call('DEBUG', 'POPULATE', '40000', 'pop', '64')
    t = now_ms()
    cmds = [['SET', 's:plain', 'hello'], ['SET', 's:int', '1234567'], ['SET', 's:neg', '-42'],
            ['SET', 's:embstr', 'e' * 40], ['SET', 's:big', os.urandom(1500000)],
            ['SET', 's:bigz', 'abc' * 1000000], ['SET', 's:empty', ''],
            ['RPUSH', 'l:small', 'a', 'b', '3'], ['SADD', 'set:int'] + [str(i) for i in range(200)],
            ['SADD', 'set:str'] + ['m%d' % i for i in range(50)], ['ZADD', 'z:small', '1', 'a', '2.5', 'b', '-3', 'c'],
            ['HSET', 'h:small', 'f1', 'v1', 'f2', '2'],
            ['SET', 'ttl:long', 'x', 'EX', '86400'], ['SET', 'ttl:soon', 'x', 'PX', '1500'],
            ['PEXPIREAT', 'h:small', str(t + 7200000)]]
    for i in range(0, 20000, 1000):
        cmds.append(['RPUSH', 'l:big'] + ['item-%d' % j for j in range(i, i + 1000)])
    for i in range(0, 5000, 1000):
        cmds.append(['SADD', 'set:big'] + ['s%d' % j for j in range(i, i + 1000)])
        cmds.append(['HSET', 'h:big'] + sum((['f%d' % j, 'v%d' % j] for j in range(i, i + 1000)), []))
    cmds.append(['ZADD', 'z:big'] + sum(([str(j * 0.25), 'm%d' % j] for j in range(500)), []))
    for i in range(1000):
        cmds.append(['XADD', 'st', '*', 'n', str(i), 'pad', 'x' * (i % 50)])
    c.pipeline(cmds)
    c.call('XGROUP', 'CREATE', 'st', 'g1', '0')
    got = c.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '10', 'STREAMS', 'st', '>')
    ids = [e[0] for e in got[0][1]]
    c.call('XACK', 'st', 'g1', *ids[:3])
    c.call('XREADGROUP', 'GROUP', 'g1', 'bob', 'COUNT', '5', 'STREAMS', 'st', '>')
    c.call('XGROUP', 'CREATE', 'st', 'g2', '$')
    c.call('XGROUP', 'CREATE', 'st:empty', 'g', '$', 'MKSTREAM')
    c.call('SELECT', '1')
    c.call('DEBUG', 'POPULATE', '5000', 'db1', '20')
    c.pipeline([['HSET', 'h:db1', 'a', '1'], ['EXPIRE', 'h:db1', '90000'], ['SADD', 'set:db1', '1', '2', 'x']])
    c.call('SELECT', '15')
    c.pipeline([['SET', 'last-db', 'yes'], ['RPUSH', 'l:db15', 'z']])
    c.call('SELECT', '0')


def fill_small(c):
    """A few keys of each type in dbs 0 and 1."""
    c.pipeline([['SET', 'pre:s', 'v'], ['RPUSH', 'pre:l', 'a', 'b'], ['HSET', 'pre:h', 'f', 'v'],
                ['SADD', 'pre:set', '1', '2'], ['ZADD', 'pre:z', '1', 'm'], ['XADD', 'pre:st', '*', 'f', 'v'],
                ['SET', 'pre:ttl', 'v', 'EX', '86400'], ['SELECT', '1'], ['SET', 'pre:db1', 'v'], ['SELECT', '0']])


def finish_writer(rep, what, w):
    ops = w.stop()
    errs = w.unexpected_errors()
    rep.check(ops and ops > 0 and errs == 0, '%s: the writer wrote %s ops to the source' % (what, ops),
              w.output[-600:])
    return ops or 0


# --- scenarios ---------------------------------------------------------------------

def full_sync(ctx, case, what, config):
    """A full sync of every type while the writer runs, then the live
    stream; SIGTERM saves the state."""
    rep = ctx.rep
    src = case.server('src', config)
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    fill_every_type(s)
    state = os.path.join(case.dir, 'state.json')
    w = case.writer(src.port, dbs=(0, 1, 2), rate=3000)
    time.sleep(0.5)
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state)))
    online = wait_online(s, r, 60)
    rep.check(online, '%s: rmig joins the source as a replica and its sync completes' % what, r.tail())
    if not online:
        return
    time.sleep(6)   # the writer goes on: the live stream, and one status line at least
    finish_writer(rep, what, w)
    past = mark(s)
    same, a, b, secs = wait_same(s, d, r, 60)
    rep.check(same, '%s: the target ends with the source\'s data (DEBUG DIGEST) %.1f s after the writer stopped'
              % (what, secs), 'source %s target %s; %s' % (a, b, r.tail()))
    if same:
        diff = table_diff(key_table(s, values=False), key_table(d, values=False))
        rep.check(not diff, '%s: TTLs and stream consumer groups are the source\'s too' % what, diff)
    full, partial = sync_counts(s)
    rep.check(full == 1 and partial == 0, '%s: the source counts one full sync (sync_full %d, sync_partial_ok %d)'
              % (what, full, partial))
    rc = r.stop(timeout=30)
    rep.check(rc == 0, '%s: SIGTERM: rmig flushes, saves its state and exits 0' % what, 'rc %r; %s' % (rc, r.tail()))
    check_state(rep, what, state, s, past)
    err = r.stderr()
    line = status_line(err)
    rep.check(line, '%s: without a terminal, rmig prints status lines with phase, lag and spool size' % what,
              err[-600:])
    rep.check(r.stdout().strip(), '%s: a summary goes to stdout at the end' % what, r.tail())


def scenario_disk(ctx, case):
    full_sync(ctx, case, 'disk-based source', SOURCE_CONFIG)


def scenario_diskless(ctx, case):
    full_sync(ctx, case, 'diskless source', DISKLESS_CONFIG)


def scenario_replica_kill(ctx, case):
    rep = ctx.rep
    what = 'replica killed by the source'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    fill_small(s)
    state = os.path.join(case.dir, 'state.json')
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state)))
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    w = case.writer(src.port, dbs=(0, 1, 2), rate=3000)
    for n in (1, 2):
        time.sleep(1.5)
        killed = s.call('CLIENT', 'KILL', 'TYPE', 'replica')
        back = wait_for(lambda: sync_counts(s)[1] >= n and replica_online(s), 30, r)
        rep.check(killed == 1 and back, '%s: after CLIENT KILL TYPE replica #%d rmig is back by itself with PSYNC '
                  '(sync_full, sync_partial_ok = %r)' % (what, n, sync_counts(s)), r.tail())
    time.sleep(1.5)
    finish_writer(rep, what, w)
    past = mark(s)
    same, a, b, secs = wait_same(s, d, r, 60)
    rep.check(same, '%s: the target ends with the source\'s data (DEBUG DIGEST)' % what,
              'source %s target %s; %s' % (a, b, r.tail()))
    full, partial = sync_counts(s)
    rep.check(full == 1 and partial >= 2, '%s: both reconnections were partial resyncs (sync_full %d, '
              'sync_partial_ok %d)' % (what, full, partial))
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    check_state(rep, what, state, s, past)


def scenario_rmig_kill(ctx, case):
    # The writer writes assignments only (kinds=idempotent): without
    # exactly_once, a restarted rmig may apply again what it had applied
    # after its last state save, and only such a stream ends equal anyway.
    # What this shows is that nothing is lost and the resync is partial.
    rep = ctx.rep
    what = 'rmig SIGKILLed and restarted'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    fill_small(s)
    state = os.path.join(case.dir, 'state.json')
    p = case.pipeline(pipeline(src.port, dst.port, state))
    r = case.rmig(p)
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    w = case.writer(src.port, dbs=(0, 1, 2), rate=3000, kinds='idempotent')
    time.sleep(2.5)
    r.kill()
    st = read_state(state)
    rep.check(isinstance(st, dict) and st.get('offset'), '%s: the state file was saved while the stream was applied'
              % what, st)
    time.sleep(0.5)
    r2 = case.rmig(p)
    back = wait_for(lambda: sync_counts(s)[1] >= 1 and replica_online(s), 30, r2)
    rep.check(back, '%s: the new rmig resumes from the state file with PSYNC (sync_full, sync_partial_ok = %r)'
              % (what, sync_counts(s)), r2.tail())
    time.sleep(2)
    finish_writer(rep, what, w)
    past = mark(s)
    same, a, b, secs = wait_same(s, d, r2, 60)
    rep.check(same, '%s: the target ends with the source\'s data, writes made while rmig was down included'
              % what, 'source %s target %s; %s' % (a, b, r2.tail()))
    full, partial = sync_counts(s)
    rep.check(full == 1 and partial >= 1, '%s: one full sync only (sync_full %d, sync_partial_ok %d)'
              % (what, full, partial))
    rc = r2.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r2.tail()))
    check_state(rep, what, state, s, past)


def plain_values(c, dbs):
    """{(db, key): value} of the strings (GET) and lists (LRANGE) in dbs."""
    out = {}
    for db in dbs:
        c.call('SELECT', db)
        keys = sorted(k for k in c.call('KEYS', '*') if k != CHECKPOINT)
        types = c.pipeline([['TYPE', k] for k in keys])
        cmds = [['LRANGE', k, 0, -1] if t == 'list' else ['GET', k] for k, t in zip(keys, types)]
        for k, v in zip(keys, c.pipeline(cmds)):
            out[(db, k)] = v
    c.call('SELECT', 0)
    return out


def values_diff(want, got, limit=6):
    """The first keys whose values differ, as text ('' if none)."""
    def show(v):
        if isinstance(v, list):
            return '%d elements' % len(v)
        if isinstance(v, bytes) and len(v) > 40:
            return '%d bytes' % len(v)
        return repr(v)
    lines = ['db %d %s: source %s, target %s' % (k[0], short(k[1]), show(want.get(k)), show(got.get(k)))
             for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
    return '; '.join(lines[:limit]) + ('; ... %d keys differ' % len(lines) if len(lines) > limit else '')


def scenario_exactly_once(ctx, case):
    rep = ctx.rep
    what = 'exactly_once, rmig SIGKILLed'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    s.call('SET', 'ctr:0:0', '100')
    state = os.path.join(case.dir, 'state.json')
    p = case.pipeline(pipeline(src.port, dst.port, state, sink=', exactly_once = true'))
    r = case.rmig(p)
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    w = case.writer(src.port, dbs=(0, 1), rate=3000, kinds='nonidempotent')
    time.sleep(2)
    r.kill()
    time.sleep(0.3)
    r = case.rmig(p)
    back = wait_for(lambda: sync_counts(s)[1] >= 1 and replica_online(s), 30, r)
    rep.check(back, '%s: the new rmig resumes with PSYNC (sync_full, sync_partial_ok = %r)'
              % (what, sync_counts(s)), r.tail())
    # The worst moment for a SIGKILL: the target has applied more than the
    # state file says. Put back the state saved a second before the kill, as a
    # crash between the target's EXEC and the state save would leave it.
    time.sleep(1)
    old = read_state(state)
    time.sleep(1)
    r.kill()
    new = read_state(state)
    if isinstance(old, dict) and isinstance(new, dict):
        with open(state, 'w') as f:
            json.dump(old, f)
    r = case.rmig(p)
    back = wait_for(lambda: sync_counts(s)[1] >= 2 and replica_online(s), 30, r)
    rep.check(back, '%s again, its state file put back from offset %s to %s: the new rmig resumes with PSYNC '
              '(sync_full, sync_partial_ok = %r)' % (what, new.get('offset') if isinstance(new, dict) else new,
                                                     old.get('offset') if isinstance(old, dict) else old,
                                                     sync_counts(s)), r.tail())
    time.sleep(1.5)
    finish_writer(rep, what, w)
    mark(s)
    diff = converge(lambda: plain_values(s, (0, 1)), lambda: plain_values(d, (0, 1)), values_diff, r)
    rep.check(not diff, '%s: every counter, list and appended string is exactly the source\'s: nothing '
              'applied twice, nothing lost' % what, diff + '; ' + r.tail())
    full, partial = sync_counts(s)
    rep.check(full == 1 and partial >= 2, '%s: one full sync only (sync_full %d, sync_partial_ok %d)'
              % (what, full, partial))
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    had = d.call('EXISTS', CHECKPOINT)
    d.call('DEL', CHECKPOINT)
    a, b = digest(s), digest(d)
    rep.check(had == 1 and a == b, '%s: the target holds the source\'s data plus %s in db 0, and nothing else'
              % (what, CHECKPOINT.decode()), 'checkpoint exists: %r, digests %s %s' % (had, a, b))


def scenario_stall(ctx, case):
    rep = ctx.rep
    what = 'stalled target'
    src = case.server('src', SOURCE_CONFIG + ['--client-output-buffer-limit', 'replica 256kb 128kb 5'])
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    fill_small(s)
    state = os.path.join(case.dir, 'state.json')
    spool = os.path.join(case.dir, 'spool')
    os.makedirs(spool)
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state,
                                         source=', spool_dir = %s, spool_memory = 262144' % lua_string(spool))))
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    wait_same(s, d, r, 30)   # the snapshot is in
    before = replica_ids(s)
    # ~14 MB/s: the kernel's socket buffers on loopback can hold tens of MB, and only more than
    # that shows that rmig kept reading while the target was stopped
    w = case.writer(src.port, dbs=(0,), rate=3500, value_size=16384, keys=10)
    time.sleep(1)
    m0 = int(info(s, 'replication')['master_repl_offset'])
    dst.proc.send_signal(signal.SIGSTOP)
    most = (0, 0)
    t0 = time.time()
    try:
        while time.time() - t0 < 5:
            files = spool_files(spool)
            if sum(n for _, n in files) > most[1]:
                most = (len(files), sum(n for _, n in files))
            time.sleep(0.1)
    finally:
        dst.proc.send_signal(signal.SIGCONT)
    m1 = int(info(s, 'replication')['master_repl_offset'])
    rep.check(most[0] > 0, '%s: while the target is stopped, rmig spools to segment files (%d files, %d KiB at '
              'most, while the source wrote %d KiB)' % (what, most[0], most[1] // 1024, (m1 - m0) // 1024), r.tail())
    written = m1 - m0
    rep.check(written > (2 << 20), '%s: the source wrote %d MiB while the target was stopped' % (what, written >> 20))
    ceiling = socket_buffers()
    if written > ceiling:
        weight = 'more than the %d MiB the kernel\'s socket buffers hold' % (ceiling >> 20)
    else:
        weight = 'no more than the kernel\'s socket buffers hold (%d MiB): a weak check here' % (ceiling >> 20)
    time.sleep(1)
    finish_writer(rep, what, w)
    past = mark(s)
    same, a, b, secs = wait_same(s, d, r, 90)
    rep.check(same, '%s: after SIGCONT everything arrives (DEBUG DIGEST equal after %.1f s)' % (what, secs),
              'source %s target %s; %s' % (a, b, r.tail()))
    full, partial = sync_counts(s)
    after = replica_ids(s)
    rep.check(full == 1 and partial == 0 and before == after and len(after) == 1,
              '%s: the source never dropped rmig, even with 256 KiB replica output buffers and %s (sync_full %d, '
              'sync_partial_ok %d, replica client ids %s then %s)' % (what, weight, full, partial, before, after))
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))
    check_state(rep, what, state, s, past)
    left = spool_files(spool)
    rep.check(not left, '%s: the spool files are gone once rmig exits' % what, left[:5])


def scenario_budget(ctx, case):
    rep = ctx.rep
    what = 'spool budget'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    fill_small(s)
    state = os.path.join(case.dir, 'state.json')
    spool = os.path.join(case.dir, 'spool')
    text = case.pipeline(pipeline(src.port, dst.port, state, source=', spool_dir = %s, spool_memory = 65536, '
                                  'spool_budget = 1048576' % lua_string(spool)))
    r = case.rmig(text)
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    wait_same(s, d, r, 30)
    # commands in flight when the run stops are applied but not in the state
    # file: at-least-once, so the load is one that may be applied twice
    w = case.writer(src.port, dbs=(0,), rate=3500, value_size=16384, keys=10, kinds='idempotent')
    time.sleep(0.5)
    dst.proc.send_signal(signal.SIGSTOP)
    try:
        rc = r.wait(30)
    finally:
        dst.proc.send_signal(signal.SIGCONT)
    finish_writer(rep, what, w)
    err = r.stderr()
    rep.check(rc == 1 and 'budget' in err and 'spool_budget' in err,
              '%s: a target stalled past the spool\'s disk budget stops the run (exit 1) with a message naming '
              'source.spool_budget' % what, 'rc %r; %s' % (rc, r.tail()))
    rep.check(os.path.exists(state), '%s: the state file is there to resume from' % what, r.tail())
    past = mark(s)
    # the catching up brings the whole gap at once: the default budget for it
    r2 = case.rmig(case.pipeline(pipeline(src.port, dst.port, state, source=', spool_dir = %s' % lua_string(spool)),
                                 'pipeline2.lua'))
    same, a, b, secs = wait_same(s, d, r2, 90)
    full, partial = sync_counts(s)
    rep.check(same and partial >= 1 and full == 1,
              '%s: run again with the same state, it resumes with a partial resync and the digests agree '
              '(sync_full %d, sync_partial_ok %d)' % (what, full, partial), 'source %s target %s; %s' % (a, b, r2.tail()))
    rc = r2.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r2.tail()))
    check_state(rep, what, state, s, past)


NODES = ('rmig.filter.keys { allow = { "a:*", "b:*" } }, '
         'rmig.filter.rename { prefix = { ["a:"] = "x:" } }, '
         'rmig.filter.db { map = { [1] = 0 } }')


def through_nodes(table):
    """A source key table as NODES should leave it: a:* and b:* only, a:
    renamed to x:, db 1 folded into db 0 (the writer's key names carry their
    db, so nothing collides)."""
    out = {}
    for (db, key), v in table.items():
        if key.startswith(b'a:'):
            key = b'x:' + key[2:]
        elif not key.startswith(b'b:'):
            continue
        out[(0 if db == 1 else db, key)] = v
    return out


def scenario_nodes(ctx, case):
    rep = ctx.rep
    what = 'nodes on the live stream'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    # the snapshot goes through the nodes too
    for db in (0, 1):
        s.call('SELECT', db)
        for p in ('a:', 'b:', 'c:'):
            s.pipeline([['SET', '%ssnap:%d' % (p, db), 'v'], ['RPUSH', '%slist:%d:99' % (p, db), 'x', 'y'],
                        ['XADD', '%sstream:%d:99' % (p, db), '*', 'f', 'v']])
            s.call('XGROUP', 'CREATE', '%sstream:%d:99' % (p, db), 'g', '0')
            s.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', '%sstream:%d:99' % (p, db), '>')
    s.call('SELECT', 0)
    state = os.path.join(case.dir, 'state.json')
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state, nodes=NODES)))
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    w = case.writer(src.port, dbs=(0, 1), rate=3000, prefixes=('a:', 'b:', 'c:'))
    time.sleep(5)
    finish_writer(rep, what, w)
    mark(s, 'b:done')
    diff = wait_tables(lambda: through_nodes(key_table(s)), d, r, 60)
    rep.check(not diff, '%s: the target holds exactly the a:* and b:* keys of dbs 0 and 1, a: renamed to x:, '
              'all in db 0, with their values, TTLs and consumer groups' % what, diff + '; ' + r.tail())
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))


LUA_NODE = '''function(e, b)
    if e:is_command() then
      for i, k in ipairs(e:keys()) do
        if k:sub(1, 4) == "tmp:" then return false end
        if k:sub(1, 2) == "a:" then b:set_key_at(e, i, "lua:" .. k) end
      end
    else
      if e:has_prefix("tmp:") then return false end
      if e:has_prefix("a:") then b:set_key(e, "lua:" .. e:key()) end
    end
  end'''


def through_lua(table):
    """A source key table as LUA_NODE should leave it: tmp:* gone, a:* renamed lua:a:*."""
    out = {}
    for (db, key), v in table.items():
        if key.startswith(b'tmp:'):
            continue
        out[(db, b'lua:' + key if key.startswith(b'a:') else key)] = v
    return out


def scenario_lua(ctx, case):
    rep = ctx.rep
    what = 'a Lua node on the live stream'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    s.pipeline([['SET', 'a:snap', 'v'], ['SET', 'tmp:snap', 'v'], ['RPUSH', 'b:list', 'x']])
    state = os.path.join(case.dir, 'state.json')
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state, nodes=LUA_NODE)))
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    w = case.writer(src.port, dbs=(0, 1), rate=3000, prefixes=('a:', 'b:', 'tmp:'))
    time.sleep(4)
    finish_writer(rep, what, w)
    # multi-key commands whose keys the node renames one by one
    s.pipeline([['MSET', 'a:m1', '1', 'b:m2', '2'], ['RENAME', 'a:m1', 'a:m3'], ['DEL', 'a:snap', 'b:none']])
    mark(s, 'b:done')
    diff = wait_tables(lambda: through_lua(key_table(s)), d, r, 60)
    rep.check(not diff, '%s: tmp:* keys and commands stay behind, a:* keys arrive as lua:a:* (every key of MSET, '
              'RENAME and DEL renamed by b:set_key_at)' % what, diff + '; ' + r.tail())
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))


def scenario_flush(ctx, case):
    rep = ctx.rep
    what = 'FLUSHDB and FLUSHALL'
    src = case.server('src')
    dst = case.server('dst', [])
    s, d = src.conn(), dst.conn()
    for db in (0, 2, 3):
        s.call('SELECT', db)
        s.call('SET', 'before:%d' % db, 'v')
    s.call('SELECT', 0)
    state = os.path.join(case.dir, 'state.json')
    r = case.rmig(case.pipeline(pipeline(src.port, dst.port, state)))
    if not rep.check(wait_online(s, r, 60), '%s: rmig joins the source' % what, r.tail()):
        return
    wait_same(s, d, r, 30)

    def keys_of(c, db):
        c.call('SELECT', db)
        ks = sorted(k.decode() for k in c.call('KEYS', '*'))
        c.call('SELECT', 0)
        return ks

    def arrived(db, key):
        return wait_for(lambda: key in keys_of(d, db), 30, r)
    s.pipeline([['SELECT', 2], ['FLUSHDB'], ['SET', 'after:2', 'v'], ['SELECT', 3], ['FLUSHDB', 'ASYNC'],
                ['SET', 'after:3', 'v'], ['SELECT', 0]])
    ok = arrived(2, 'after:2') and arrived(3, 'after:3')
    rep.check(ok and keys_of(d, 2) == ['after:2', 'before:2'] and keys_of(d, 3) == ['after:3', 'before:3']
              and keys_of(d, 0) == ['before:0'],
              '%s: a FLUSHDB (also ASYNC) on the source is not forwarded: the target keeps the db\'s keys, and '
              'keys written after it arrive' % what, '%r %r %r; %s' % (keys_of(d, 0), keys_of(d, 2), keys_of(d, 3),
                                                                       r.tail()))
    s.pipeline([['FLUSHALL'], ['SET', 'after:0', 'v']])
    ok = arrived(0, 'after:0')
    rep.check(ok and keys_of(d, 0) == ['after:0', 'before:0'] and keys_of(d, 2) == ['after:2', 'before:2'],
              '%s: a FLUSHALL on the source is not forwarded either' % what,
              '%r %r; %s' % (keys_of(d, 0), keys_of(d, 2), r.tail()))
    rc = r.stop()
    rep.check(rc == 0, '%s: SIGTERM: exit 0' % what, 'rc %r; %s' % (rc, r.tail()))


def scenario_errors(ctx, case):
    rep = ctx.rep
    dst = case.server('dst', [])
    state = os.path.join(case.dir, 'state.json')

    # nothing listens there
    port = free_port()
    r = case.rmig(case.pipeline(pipeline(port, dst.port, state), 'unreachable.lua'))
    rc = r.wait(20)
    secs = time.time() - r.started
    if rc is None:
        r.kill()
    rep.check(rc == 1 and secs < 15 and '127.0.0.1:%d' % port in r.stderr(),
              'an unreachable source: exit 1 within seconds, naming the address',
              'rc %r after %.1f s; %s' % (rc, secs, r.tail()))

    # a source with a password for the default user and an ACL user of its own
    src = case.server('src')
    s = src.conn()
    s.call('ACL', 'SETUSER', 'migrator', 'on', '>migrator-pass-5831', '~*', '&*', '+@all')
    s.call('CONFIG', 'SET', 'requirepass', 'source-pass-2207')
    s.call('AUTH', 'source-pass-2207')
    s.call('SET', 'k', 'v')
    wrong = 'not-the-password-9147'
    try:
        p = pipeline(src.port, dst.port, state, source=', password = %s' % lua_string(wrong))
        r = case.rmig(case.pipeline(p, 'wrongpass.lua'))
        rc = r.wait(20)
        secs = time.time() - r.started
        if rc is None:
            r.kill()
        err = r.stderr()
        rep.check(rc == 1 and secs < 15 and ('auth' in err.lower() or 'WRONGPASS' in err),
                  'a wrong password: exit 1, stderr says authentication failed',
                  'rc %r after %.1f s; %s' % (rc, secs, r.tail()))
        rep.check(wrong not in err and wrong not in r.stdout(), 'a wrong password: rmig never prints the password',
                  r.tail())
        for label, opts, secret in [('the password', ', password = "source-pass-2207"', 'source-pass-2207'),
                                    ('user and password', ', user = "migrator", password = "migrator-pass-5831"',
                                     'migrator-pass-5831')]:
            d = dst.conn()
            d.call('FLUSHALL')
            st = os.path.join(case.dir, 'auth-%d.json' % len(case.rmigs))
            r = case.rmig(case.pipeline(pipeline(src.port, dst.port, st, source=opts), 'auth.lua'))
            joined = wait_online(s, r, 30)
            got = wait_for(lambda: d.call('GET', 'k') == b'v', 20, r) if joined else None
            rc = r.stop()
            shown = secret in r.stderr() or secret in r.stdout()
            rep.check(joined and got and rc == 0 and not shown,
                      'with %s, rmig authenticates, replicates, exits 0 on SIGTERM and never prints the password'
                      % label, 'joined %r, key %r, rc %r, password shown %r; %s' % (joined, got, rc, shown, r.tail()))
    finally:
        s.call('CONFIG', 'SET', 'requirepass', '')

    # a configuration error: no addr
    p = write(case.dir, 'noaddr.lua', 'local rmig = require "rmig"\nreturn rmig.pipeline {\n'
              '  source = rmig.source.psync { state = %s },\n'
              '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n' % (lua_string(state), dst.port))
    r = case.rmig(p)
    rc = r.wait(20)
    if rc is None:
        r.kill()
    rep.check(rc == 2 and 'addr' in r.stderr() and 'noaddr.lua:3' in r.stderr(),
              'a psync source without addr: exit 2 naming the option, file and line', 'rc %r; %s' % (rc, r.tail()))


SCENARIOS = [
    ('disk', scenario_disk),
    ('diskless', scenario_diskless),
    ('replica-kill', scenario_replica_kill),
    ('rmig-kill', scenario_rmig_kill),
    ('exactly-once', scenario_exactly_once),
    ('stall', scenario_stall),
    ('budget', scenario_budget),
    ('nodes', scenario_nodes),
    ('lua', scenario_lua),
    ('flush', scenario_flush),
    ('errors', scenario_errors),
]


class Ctx:
    pass


def main():
    rmig, only = scenario_args(sys.argv[1:], SCENARIOS, __doc__)
    if rmig is None:
        return only
    require_redis_server()
    install_signal_handlers()
    ctx = Ctx()
    ctx.rmig = os.path.abspath(rmig)
    ctx.rep = Reporter()
    ctx.tmp = make_tmpdir('rmig-psync-')
    atexit.register(kill_running)   # runs before make_tmpdir's cleanup stops the servers
    ctx.seed = int(os.environ.get('RMIG_TEST_SEED') or random.randrange(1, 1 << 31))
    print('# seed %d (RMIG_TEST_SEED=%d repeats the writers\' commands)' % (ctx.seed, ctx.seed), flush=True)
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        case = Case(ctx, name)
        t0 = time.time()
        try:
            fn(ctx, case)
        except Exception:   # a reply the scenario did not expect: report it, go on with the next one
            ctx.rep.fail('%s: the scenario ran to its end' % name, ' | '.join(traceback.format_exc().splitlines()[-6:]))
        finally:
            case.close()
        print('# %s: %.1f s' % (name, time.time() - t0), flush=True)
    return ctx.rep.finish()


if __name__ == '__main__':
    sys.exit(main())

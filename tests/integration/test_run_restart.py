#!/usr/bin/env python3
"""`rmig run` survives its target going away: the target (AOF with
appendfsync always, so every answered write is on disk) is killed with
SIGKILL mid-run and started again on the same port; rmig reconnects, sends
the unanswered commands again, and completes, and the target ends up equal to
a server that loaded the file (DEBUG DIGEST), as RESTORE payloads and as
native commands (where a key's DEL, RPUSHes and PEXPIREAT are sent again
together). A target that stays away makes the run fail once
sink.retry_deadline_s has passed, naming the server.

usage: python3 test_run_restart.py /path/to/rmig
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, install_signal_handlers, make_tmpdir,  # noqa: E402
                           require_redis_server)


def make_source(tmp):
    """An RDB file with 60k strings, lists, hashes and sets (some with TTLs)
    in two dbs, and the digest of a server holding it."""
    d = os.path.join(tmp, 'src')
    s = Server(d, name='src').start()
    c = s.conn()
    c.call('DEBUG', 'POPULATE', '50000', 'str', '100')
    cmds = []
    for i in range(2000):
        cmds.append(['RPUSH', 'list:%d' % i] + ['e%d' % j for j in range(40)])
        cmds.append(['HSET', 'hash:%d' % i] + sum((['f%d' % j, 'v%d' % j] for j in range(30)), []))
        cmds.append(['SADD', 'set:%d' % i] + ['m%d' % j for j in range(30)])
        if i % 3 == 0:
            cmds.append(['PEXPIREAT', 'list:%d' % i, str(int(time.time() * 1000) + 86400000)])
    c.pipeline(cmds)
    c.call('SELECT', '3')
    c.call('DEBUG', 'POPULATE', '4000', 'db3', '50')
    c.call('SAVE')
    want = c.call('DEBUG', 'DIGEST')
    s.stop()
    return os.path.join(d, 'dump.rdb'), want


def pipeline(path, rdb, port, extra):
    with open(path, 'w') as f:
        f.write('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                '  source = rmig.source.rdb { path = %r },\n'
                '  sink = rmig.sink.redis { addr = "127.0.0.1:%d", window = 1024%s },\n}\n' % (rdb, port, extra))
    return path


def keys(c):
    total = 0
    for db in (0, 3):
        c.call('SELECT', str(db))
        total += c.call('DBSIZE')
    return total


def start_until(rmig, p, dst, n):
    """Starts `rmig run p` and waits until dst holds n keys (or rmig ended):
    the process and how many keys were in."""
    proc = subprocess.Popen([rmig, 'run', p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    c = dst.conn()
    deadline = time.time() + 60
    seen = 0
    while time.time() < deadline and proc.poll() is None:
        seen = keys(c)
        if seen >= n:
            break
        time.sleep(0.005)
    c.close()
    return proc, seen


def kill(dst):
    dst.proc.send_signal(signal.SIGKILL)
    dst.proc.wait()
    dst.proc = None


def finish(proc, timeout):
    """rmig's exit code, stdout and stderr (text), killing it past timeout."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def main():
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-restart-')
    rdb, want = make_source(tmp)
    for how, extra in [('RESTORE payloads', ''), ('native commands', ', restore = "never"')]:
        d = os.path.join(tmp, 'dst-' + how.split()[0])
        dst = Server(d, config=['--appendonly', 'yes', '--appendfsync', 'always'], name='dst').start()
        port = dst.port
        try:
            proc, seen = start_until(rmig, pipeline(os.path.join(tmp, 'p.lua'), rdb, port, extra), dst, 15000)
            killed = proc.poll() is None
            kill(dst)
            time.sleep(0.7)
            dst.start(port=port)
            rc, out, err = finish(proc, 120)
            got = dst.conn().call('DEBUG', 'DIGEST')
            rep.check(killed, '%s: the target was killed mid-run (%d keys in)' % (how, seen),
                      'rmig finished before the kill: the data set is too small for this machine')
            rep.check(rc == 0 and got == want and 'reconnecting' in err and 'connected to' in err,
                      '%s: killed and restarted, the target gets every key: rmig reconnects and completes' % how,
                      'rc %r, digest %r != %r\n%s\n%s' % (rc, got, want, out[-400:], err[-800:]))
        finally:
            dst.stop()

    # a target shut down mid-run (saving what it has) that comes back slowly: it answers LOADING
    # for a while, and rmig waits for it instead of counting refused keys
    dst = Server(os.path.join(tmp, 'dst-slow'), name='slow').start()
    port = dst.port
    try:
        proc, seen = start_until(rmig, pipeline(os.path.join(tmp, 'slow.lua'), rdb, port, ''), dst, 15000)
        c = dst.conn()
        try:
            c.sock.sendall(c.encode(['SHUTDOWN', 'SAVE']))
            c.sock.recv(100)
        except OSError:
            pass
        c.close()
        dst.proc.wait()
        dst.proc = None
        # microseconds per key: seconds of LOADING, answering clients (with LOADING) every 1 KiB loaded
        dst.config += ['--key-load-delay', '100', '--loading-process-events-interval-bytes', '1024']
        t0 = time.time()
        dst.start(port=port)
        loading_secs = time.time() - t0
        rc, out, err = finish(proc, 120)
        got = dst.conn().call('DEBUG', 'DIGEST')
        rep.check(rc == 0 and got == want and 'LOADING' not in err and 'failed 0' in out
                  and 'is loading its dataset' in err,
                  'a target restarted with a slow load (%d keys in, %.1f s of LOADING): rmig waits, then completes'
                  % (seen, loading_secs),
                  'rc %r, digest %r != %r\n%s\n%s' % (rc, got, want, out[-400:], err[-800:]))
    finally:
        dst.stop()

    # a target that does not come back: exit 1 after the deadline, naming it
    dst = Server(os.path.join(tmp, 'dst-gone'), name='gone').start()
    port = dst.port
    try:
        proc, _ = start_until(rmig, pipeline(os.path.join(tmp, 'gone.lua'), rdb, port, ', retry_deadline_s = 2'),
                              dst, 5000)
        kill(dst)
        t0 = time.time()
        rc, out, err = finish(proc, 60)
        secs = time.time() - t0
        rep.check(rc == 1 and '127.0.0.1:%d' % port in err and 'retry_deadline_s' in err and secs < 15,
                  'a target that stays away: exit 1 after sink.retry_deadline_s, naming the server',
                  'rc %r after %.1f s: %s' % (rc, secs, err[-600:]))
    finally:
        dst.stop()
    sys.exit(rep.finish())


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""`rmig run` with rmig.source.scan: a live server read by SCAN + pipelined
DUMP/PTTL, as managed services (SYNC, PSYNC and CONFIG renamed away) allow.
Every type, several dbs, expiries: the target ends equal to the source
(DEBUG DIGEST); source.match and source.dbs select keys; source.rate spaces
the reads; an unreachable source exits 1.

usage: python3 test_scan.py /path/to/rmig
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, corpus_dir, install_signal_handlers,  # noqa: E402
                           make_tmpdir, require_redis_server, run_rmig, write)

# what a managed service refuses (rmig must not need any of it)
MANAGED = ['--rename-command', 'SYNC', '', '--rename-command', 'PSYNC', '',
           '--rename-command', 'CONFIG', '', '--enable-debug-command', 'yes']


def pipeline(port, tport, src_extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.scan { addr = "127.0.0.1:%d"%s },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n') % (port, src_extra, tport)


def fill(c):
    """Every type in dbs 0, 3 and 9, with and without TTLs."""
    cmds = []
    for db in (0, 3, 9):
        cmds.append(['SELECT', db])
        for i in range(3000):
            cmds.append(['SET', 's:%d' % i, 'v%d' % i])
            if i % 3 == 0:
                cmds.append(['PEXPIRE', 's:%d' % i, 600000 + i])
        for i in range(200):
            cmds.append(['RPUSH', 'l:%d' % i] + ['e%d' % j for j in range(i % 300 + 1)])
            cmds.append(['HSET', 'h:%d' % i] + sum([['f%d' % j, 'v%d' % j] for j in range(i % 200 + 1)], []))
            cmds.append(['SADD', 'set:%d' % i] + [str(j) for j in range(i % 150 + 1)])
            cmds.append(['SADD', 'sset:%d' % i] + ['m%d' % j for j in range(i % 150 + 1)])
            cmds.append(['ZADD', 'z:%d' % i] + sum([[str(j * 1.5), 'm%d' % j] for j in range(i % 200 + 1)], []))
            cmds.append(['XADD', 'x:%d' % i, '*', 'a', str(i), 'b', 'c'])
        cmds.append(['XGROUP', 'CREATE', 'x:1', 'g', '0'])
        cmds.append(['SET', b'bin:\xff\x00\xe9', b'\x00\x01\xfe'])
        cmds.append(['SET', 'user:7', 'kept'])
    c.pipeline(cmds)


def digests_by_db(c, dbs):
    out = {}
    for db in dbs:
        c.call('SELECT', db)
        out[db] = (c.call('DBSIZE'), c.call('DEBUG', 'DIGEST'))
    c.call('SELECT', 0)
    return out


def main():
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-scan-')
    src = Server(os.path.join(tmp, 'src'), config=MANAGED, name='src').start()
    dst = Server(os.path.join(tmp, 'dst'), config=['--enable-debug-command', 'yes'], name='dst').start()
    try:
        s, t = src.conn(), dst.conn()
        fill(s)
        rep.check(isinstance(s.pipeline([['PSYNC', '?', '-1']])[0], Exception),
                  'the source refuses PSYNC, as a managed service does')
        p = write(tmp, 'all.lua', pipeline(src.port, dst.port))
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 0, 'scan of every type in 3 dbs: exit 0', 'rc %d; %s' % (rc, err[-800:]))
        want, got = digests_by_db(s, (0, 3, 9)), digests_by_db(t, (0, 3, 9))
        rep.check(want == got, 'the target equals the source, db by db (DBSIZE, DEBUG DIGEST)', '%r != %r' % (got, want))
        rep.check(b'scan: ' in out and b'gone before their DUMP' in out, 'the summary counts what the scan read',
                  out[-400:])
        pt = t.call('PTTL', 's:3')
        rep.check(590000 < pt <= 600003, 'an expiry arrives as it was (PTTL %d)' % pt)

        # match and dbs: only user:* of db 3
        t.call('FLUSHALL')
        p = write(tmp, 'match.lua', pipeline(src.port, dst.port, ', match = "user:*", dbs = { 3 }, count = 10'))
        rc, out, err = run_rmig(rmig, ['run', p])
        t.call('SELECT', 3)
        keys3 = t.call('KEYS', '*')
        t.call('SELECT', 0)
        rep.check(rc == 0 and keys3 == [b'user:7'] and t.call('DBSIZE') == 0,
                  'source.match and source.dbs: only user:7 of db 3 arrives', 'rc %d, db3 %r; %s' % (rc, keys3, err[-400:]))

        # rate: 2000 keys/s over ~9000 keys of db 0 takes about 4.5 s
        t.call('FLUSHALL')
        p = write(tmp, 'rate.lua', pipeline(src.port, dst.port, ', dbs = { 0 }, rate = 4000, count = 100'))
        t0 = time.time()
        rc, out, err = run_rmig(rmig, ['run', p])
        took = time.time() - t0
        n = s.call('DBSIZE')
        rep.check(rc == 0 and took >= n / 4000.0 * 0.8, 'source.rate = 4000: %d keys in %.1f s' % (n, took),
                  'rc %d; %s' % (rc, err[-300:]))

        # a key gone between SCAN and DUMP is skipped (many deleted while scanning)
        t.call('FLUSHALL')
        p = write(tmp, 'gone.lua', pipeline(src.port, dst.port, ', dbs = { 9 }, count = 5'))
        import subprocess
        proc = subprocess.Popen([rmig, 'run', p], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        s.call('SELECT', 9)
        s.pipeline([['DEL', 's:%d' % i] for i in range(3000)])
        s.call('SELECT', 0)
        o, e = proc.communicate(timeout=60)
        rep.check(proc.returncode == 0, 'keys deleted during the scan: exit 0', e.decode()[-400:])
        t.call('SELECT', 9)
        extra = [k for k in t.call('KEYS', 's:*')]
        t.call('SELECT', 0)
        rep.check(b'gone before their DUMP' in o, 'the summary says how many were gone (%s)'
                  % o.split(b'scan: ')[-1].strip()[:80].decode(), o[-300:])
        rep.check(len(extra) < 3000, 'keys deleted before they were read do not arrive (%d of 3000 did)' % len(extra))

        # unreachable source
        p = write(tmp, 'bad.lua', pipeline(1, dst.port))
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 1 and '127.0.0.1:1' in err, 'an unreachable source: exit 1 naming it', 'rc %d; %s' % (rc, err))
    finally:
        src.stop()
        dst.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == '__main__':
    sys.exit(main())

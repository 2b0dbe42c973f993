#!/usr/bin/env python3
"""`rmig inspect --resp` (RESTOREs) and `--resp --native` (SET, RPUSH, ...,
XADD, XGROUP, XCLAIM) turn a dump into commands that rebuild it: piped
through `redis-cli --pipe` into an empty redis-server, the target holds what
a server loading the same file holds (DEBUG DIGEST, per-db key counts,
functions, consumer groups and their pending entries).

usage: python3 test_resp_pipe.py /path/to/rmig
environment: RMIG_SOURCE_DIR (the repository: examples/data/sample.rdb),
             RMIG_CORPUS (shared/corpus; those parts are skipped without it)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, corpus_dir, install_signal_handlers,  # noqa: E402
                           make_tmpdir, require_redis_server, run_rmig)


def pipe_into(rmig, rdb, port, native=False):
    """rmig inspect --resp [--native] RDB | redis-cli --pipe; returns (ok, what redis-cli said)."""
    gen = subprocess.Popen([rmig, 'inspect', '--resp'] + (['--native'] if native else []) + [rdb],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cli = subprocess.run(['redis-cli', '-p', str(port), '--pipe'], stdin=gen.stdout, capture_output=True,
                         timeout=120)
    gen.stdout.close()
    err = gen.stderr.read().decode()
    gen.stderr.close()
    rc = gen.wait(30)
    out = cli.stdout.decode() + cli.stderr.decode()
    return rc == 0 and cli.returncode == 0 and 'errors: 0' in out, out.strip()[-300:] + err


def state(c):
    info = c.call('INFO', 'keyspace')
    info = info.decode() if isinstance(info, bytes) else info
    dbs = sorted(l.split(':')[0] + ':' + l.split(':')[1].split(',')[0]
                 for l in info.splitlines() if l.startswith('db'))
    return c.call('DEBUG', 'DIGEST'), dbs


def streams(c):
    """XINFO STREAM FULL of every stream key, without the times a rebuild cannot keep
    (when consumers were last seen or active)."""
    out = {}
    for db in range(16):
        c.call('SELECT', db)
        for k in sorted(c.call('KEYS', '*')):
            if c.call('TYPE', k) in ('stream', b'stream'):
                out[(db, k)] = strip_times(c.call('XINFO', 'STREAM', k, 'FULL'))
    c.call('SELECT', 0)
    return out


def strip_times(v):
    if isinstance(v, list):
        res, skip = [], False
        for i, x in enumerate(v):
            if skip:
                skip = False
                continue
            if x in ('seen-time', b'seen-time', 'active-time', b'active-time'):
                skip = True
                continue
            res.append(strip_times(x))
        return res
    return v


def compare_with_load(rep, rmig, tmp, rdb, name, config=(), native=False):
    """A server loading RDB itself vs an empty server fed rmig's commands."""
    src_dir = os.path.join(tmp, name + '-src')
    os.makedirs(src_dir, exist_ok=True)
    shutil.copy(rdb, os.path.join(src_dir, 'dump.rdb'))
    src = Server(src_dir, config=config, name='src').started_or_none()
    if src is None:
        print('# %s: redis-server 7.0 does not load it; skipped' % name)
        return
    dst = Server(os.path.join(tmp, name + '-dst'), config=config, name='dst').start()
    if native:
        name += ' as native commands'
    try:
        ok, said = pipe_into(rmig, rdb, dst.port, native)
        rep.check(ok, '%s: its commands are all accepted' % name, said)
        a, b = src.conn(), dst.conn()
        sa, sb = state(a), state(b)
        rep.check(sa == sb, '%s: the target holds what a server loading the file holds' % name,
                  '%r != %r' % (sa, sb))
        fa, fb = a.call('FUNCTION', 'DUMP'), b.call('FUNCTION', 'DUMP')
        rep.check(fa == fb, '%s: the same function libraries are loaded' % name)
        xa, xb = streams(a), streams(b)
        rep.check(xa == xb, '%s: streams have the same entries, groups and pending entries' % name,
                  '%r != %r' % (xa, xb))
        a.close()
        b.close()
    finally:
        src.stop()
        dst.stop()


def main():
    require_redis_server()
    install_signal_handlers()
    if not shutil.which('redis-cli'):
        print('redis-cli is not installed: skipped')
        sys.exit(77)
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-resp-')
    src_dir = os.environ.get('RMIG_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
    sample = os.path.join(src_dir, 'examples', 'data', 'sample.rdb')
    compare_with_load(rep, rmig, tmp, sample, 'sample.rdb')
    compare_with_load(rep, rmig, tmp, sample, 'sample.rdb', native=True)

    corpus = corpus_dir()
    if corpus:
        rdbs = os.path.join(corpus, 'rdb')
        for f, config in [('local-debian-redis-7.0.15__redis-7.0.15_alltypes.rdb', ()),
                          ('local-debian-redis-7.0.15__redis-7.0.15_alltypes_lfu.rdb',
                           ('--maxmemory-policy', 'allkeys-lfu')),
                          ('local-debian-redis-7.0.15__redis-7.0.15_alltypes_lru.rdb',
                           ('--maxmemory-policy', 'allkeys-lru')),
                          ('sripathikrishnan-redis-rdb-tools__tests_dumps_multiple_databases.rdb', ()),
                          ('redis-redis__tests_assets_encodings.rdb', ()),
                          ('leonchen83-redis-replicator__src_test_resources_dumpV9.rdb', ())]:
            path = os.path.join(rdbs, f)
            if os.path.exists(path):
                compare_with_load(rep, rmig, tmp, path, f.split('__')[-1], config)
                compare_with_load(rep, rmig, tmp, path, f.split('__')[-1], config, native=True)
        # 7.0-rc function records (which Redis 7.0 GA refuses in a file) load as libraries
        pre = os.path.join(rdbs, 'leonchen83-redis-replicator__src_test_resources_function.rdb')
        if os.path.exists(pre):
            dst = Server(os.path.join(tmp, 'pre-ga'), name='dst').start()
            try:
                ok, said = pipe_into(rmig, pre, dst.port)
                c = dst.conn()
                libs = sorted(x[1] for x in c.call('FUNCTION', 'LIST'))
                libs = [x.decode() if isinstance(x, bytes) else x for x in libs]
                rep.check(ok and libs == ['lib1', 'lib2'],
                          'pre-release (7.0-rc) function libraries are loaded with a shebang line added',
                          '%s %r' % (said, libs))
                c.close()
            finally:
                dst.stop()
        mod = os.path.join(rdbs, 'redis-librdb__test_dumps_module.rdb')
        if os.path.exists(mod):
            rc, out, err = run_rmig(rmig, ['inspect', '--resp', '--native', mod])
            rep.check(rc == 1 and 'module' in err and 'key1' in err,
                      'a module value cannot go out as native commands: an error names the key', err)
    else:
        print('# shared/corpus is not there: its files are skipped')

    rc, out, err = run_rmig(rmig, ['inspect', '--resp', os.path.join(tmp, 'missing.rdb')])
    rep.check(rc == 1 and 'missing.rdb' in err, 'a missing file is an error naming it', err)
    sys.exit(rep.finish())


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""`rmig run PIPELINE.lua`: an RDB file through the pipeline's nodes into a
real redis-server. Without nodes the target ends up equal to a server that
loaded the file (DEBUG DIGEST), as RESTORE payloads and as native commands;
with nodes exactly the allowed keys arrive, renamed and in the mapped db,
with their TTLs; target errors are counted and reported with their keys;
bad pipelines exit 2 and unreachable targets 1.

usage: python3 test_run.py /path/to/rmig
environment: RMIG_SOURCE_DIR (the repository), RMIG_CORPUS (optional)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import shutil
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, corpus_dir, install_signal_handlers,  # noqa: E402
                           make_tmpdir, require_redis_server, run_rmig, write)



def pipeline(rdb, port, nodes='', sink_extra=''):
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.rdb { path = %r },\n  nodes = { %s },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d"%s },\n}\n') % (rdb, nodes, port, sink_extra)


def libraries(listing):
    """FUNCTION LIST WITHCODE as sorted (name, code) pairs: the order of the
    functions inside a library is the server's hash order."""
    out = []
    for lib in listing or []:
        f = dict(zip(lib[0::2], lib[1::2]))
        out.append((f.get(b'library_name', f.get('library_name')), f.get(b'library_code', f.get('library_code'))))
    return sorted(out)


def main():
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    src = os.environ.get('RMIG_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
    sample = os.path.join(src, 'examples', 'data', 'sample.rdb')
    rep = Reporter()
    tmp = make_tmpdir('rmig-run-')
    files = [('sample.rdb', sample)]
    corpus = corpus_dir()
    if corpus:
        files.append(('alltypes', os.path.join(corpus, 'rdb', 'local-debian-redis-7.0.15__redis-7.0.15_alltypes.rdb')))
    dst = Server(os.path.join(tmp, 'dst'), name='dst').start()
    try:
        c = dst.conn()
        for name, rdb in files:
            d = os.path.join(tmp, 'src-' + name)
            os.makedirs(d)
            shutil.copy(rdb, os.path.join(d, 'dump.rdb'))
            srcsrv = Server(d, name='src').start()
            want = srcsrv.conn().call('DEBUG', 'DIGEST')
            want_funcs = libraries(srcsrv.conn().call('FUNCTION', 'LIST', 'WITHCODE'))
            srcsrv.stop()
            for how, extra in [('RESTORE payloads', ''), ('native commands', ', restore = "never"')]:
                c.call('FLUSHALL')
                c.call('FUNCTION', 'FLUSH')
                p = write(tmp, 'p.lua', pipeline(rdb, dst.port, '', extra))
                rc, out, err = run_rmig(rmig, ['run', p])
                got = c.call('DEBUG', 'DIGEST')
                got_funcs = libraries(c.call('FUNCTION', 'LIST', 'WITHCODE'))
                rep.check(rc == 0 and got == want and got_funcs == want_funcs,
                          '%s as %s: the target holds what a server loading the file holds (keys%s)'
                          % (name, how, ' and %d function libraries' % len(want_funcs) if want_funcs else ''),
                          'rc %d, %r != %r, functions %r != %r: %s' % (rc, got, want, got_funcs, want_funcs,
                                                                     err[-500:]))

        # nodes: the quickstart pipeline keeps users, carts and flags, folding db 1 into db 0
        c.call('FLUSHALL')
        qs = os.path.join(src, 'examples', 'quickstart.lua')
        rc, out, err = run_rmig(rmig, ['run', qs, '-s', 'sink.addr=127.0.0.1:%d' % dst.port,
                                       '-s', 'source.path=' + sample])
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in c.call('KEYS', '*'))
        rep.check(rc == 0 and len(keys) == 252 and all(k.split(':')[0] in ('user', 'cart', 'flag') for k in keys),
                  'filters keep exactly the allowed keys', '%d keys, rc %d %s' % (len(keys), rc, err[-300:]))
        rep.check(c.call('EXISTS', 'flag:dark-mode') == 1, 'keys of db 1 arrive in db 0 as mapped')
        rep.check(c.call('PTTL', 'cart:7') > 0 and c.call('PTTL', 'user:7') == -1, 'TTLs arrive with their keys')
        rep.check('dropped 254' in out.decode(), 'the summary counts what the nodes dropped', out.decode())

        # Lua nodes
        c.call('FLUSHALL')
        lua_nodes = ('function(e) if e:has_prefix("session:") then return false end end, '
                     'function(e, b) if e:match("user:*") then b:set_key(e, "u:" .. e:key():sub(6)) end end')
        p = write(tmp, 'lua.lua', pipeline(sample, dst.port, lua_nodes))
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 0 and c.call('EXISTS', 'u:1') == 1 and c.call('EXISTS', 'user:1') == 0
                  and c.call('EXISTS', 'session:1') == 0 and c.call('DBSIZE') == 304,
                  'Lua nodes drop and rename keys on the way', 'rc %d dbsize %r %s' % (rc, c.call('DBSIZE'), err[-300:]))

        # Lua nodes that emit entries: copies of carts in db 5 and one new string key
        c.call('FLUSHALL')
        emit = ('function(e, b) if e:has_prefix("cart:") then b:emit(e, { key = "copy:" .. e:key(), db = 5 }) end '
                'if e:key() == "user:1" then b:emit { key = "migrated", value = "yes", expire_ms = 4102444800000 } end end')
        p = write(tmp, 'emit.lua', pipeline(sample, dst.port, emit))
        rc, out, err = run_rmig(rmig, ['run', p])
        d0 = c.call('DUMP', 'cart:7')
        t0 = c.call('PEXPIRETIME', 'cart:7')
        ncarts = len(c.call('KEYS', 'cart:*'))
        got_s = c.call('GET', 'migrated')
        got_t = c.call('PEXPIRETIME', 'migrated')
        c.call('SELECT', '5')
        ok = (rc == 0 and c.call('DBSIZE') == ncarts and ncarts > 0 and c.call('DUMP', 'copy:cart:7') == d0
              and c.call('PEXPIRETIME', 'copy:cart:7') == t0 and got_s in (b'yes', 'yes') and got_t == 4102444800000
              and ('%d entries were emitted by nodes' % (ncarts + 1)) in out.decode())
        c.call('SELECT', '0')
        rep.check(ok, 'Lua nodes emit entries: copies keep value and TTL under their new name and db; new keys arrive',
                  'rc %d %s %s' % (rc, out.decode()[-300:], err[-300:]))

        # replace mode: into an empty target RESTOREs go without REPLACE and are re-sent with it on
        # BUSYKEY; two keys renamed to one name show it
        c.call('FLUSHALL')
        clash = write(tmp, 'clash.lua', pipeline(sample, dst.port,
                      'rmig.filter.rename { prefix = { ["user:"] = "x:", ["session:"] = "x:" } }'))
        rc, out, err = run_rmig(rmig, ['run', clash])
        n = len(c.call('KEYS', 'x:*'))
        rep.check(rc == 0 and n == 200 and 'failed 0' in out.decode() and 'the target is empty' in err
                  and 'keys existed on the target and were re-sent with REPLACE' in out.decode()
                  and 'strings went as SET' in out.decode(),
                  'keys renamed onto one name replace each other, as RESTORE REPLACE would',
                  '%d %s %s' % (n, out.decode(), err[-300:]))
        rc, out, err = run_rmig(rmig, ['run', clash])
        rep.check(rc == 0 and len(c.call('KEYS', 'x:*')) == 200 and 'failed 0' in out.decode(),
                  'running again into a full target replaces every key', err[-300:])

        # modes and target errors
        c.call('FLUSHALL')
        c.call('SET', 'user:1', 'already here')
        c.call('SET', 'session:42', 'mine')  # a string: SET ... NX, not RESTORE
        p = write(tmp, 'skip.lua', pipeline(sample, dst.port, '', ', mode = "skip-existing"'))
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 0 and c.call('GET', 'user:1') in (b'already here', 'already here') and 'skipped 2' in out.decode()
                  and c.call('GET', 'session:42') in (b'mine', 'mine') and c.call('TTL', 'session:42') == -1,
                  'mode = "skip-existing" leaves existing keys alone and counts them', out.decode() + err[-300:])
        c.call('FLUSHALL')
        c.call('SET', 'user:1', 'already here')
        c.call('SET', 'session:42', 'mine')
        p = write(tmp, 'fail.lua', pipeline(sample, dst.port, '', ', mode = "fail-on-existing"'))
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 1 and 'BUSYKEY' in err and '"user:1"' in err and '"session:42" (db 0): exists on the target' in err
                  and 'failed 2' in out.decode() and 'wrote 504' in out.decode(),
                  'mode = "fail-on-existing" reports each existing key with the target\'s error, exit 1', err[-400:])
        d = os.path.join(tmp, 'src-sample.rdb')
        s2 = Server(d, name='src2').start()
        want_sample = s2.conn().call('DEBUG', 'DIGEST')
        s2.stop()
        import subprocess
        for how, extra in [('RESTORE', ''), ('native', ', restore = "never"')]:
            c.call('FLUSHALL')
            c.call('SET', 'ballast', 'x' * 2000000)
            c.call('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
            c.call('CONFIG', 'SET', 'maxmemory', '1mb')
            dl = os.path.join(tmp, 'refused.resp')
            big = write(tmp, 'big.lua', pipeline(sample, dst.port, '', ', dead_letter = %r' % dl + extra))
            rc, out, err = run_rmig(rmig, ['run', big])
            rep.check(rc == 1 and 'OOM' in err and 'failed 0' not in out.decode(),
                      how + ': a full target: each refused key is reported with the OOM error and counted, exit 1',
                      out.decode() + err[-300:])
            rep.check('more refused keys are counted but not shown; the dead-letter file has them all' in err
                      and err.count('OOM') <= 21, how + ': past 20, refused keys are counted, not shown', err[-600:])
            if how == 'RESTORE':
                ab = write(tmp, 'abort.lua', pipeline(sample, dst.port, '', ', on_error = "abort"'))
                rc2, out2, err2 = run_rmig(rmig, ['run', ab])
                rep.check(rc2 == 1 and 'stopped at the first refused key' in err2 and 'failed 1,' in out2.decode(),
                          'sink.on_error = "abort" stops the run at the first refused key', out2.decode() + err2[-400:])
            c.call('CONFIG', 'SET', 'maxmemory', '0')
            c.call('DEL', 'ballast')
            with open(dl, 'rb') as f:
                cli = subprocess.run(['redis-cli', '-p', str(dst.port), '--pipe'], stdin=f, capture_output=True, timeout=60)
            c.call('FUNCTION', 'FLUSH')
            got = c.call('DEBUG', 'DIGEST')
            rep.check(b'errors: 0' in cli.stdout and got == want_sample,
                      how + ': the dead-letter file holds the refused commands: replayed, the target is complete',
                      '%r %r != %r' % (cli.stdout[-200:], got, want_sample))

        # values bigger than sink.chunk_bytes go out in chunks, as native commands, never whole
        d = os.path.join(tmp, 'src-big')
        sb = Server(d, name='srcbig').start()
        bc = sb.conn()
        cmds = []
        for i in range(0, 200000, 1000):
            cmds.append(['RPUSH', 'big:list'] + ['item-%d' % j for j in range(i, i + 1000)])
            cmds.append(['HSET', 'big:hash'] + sum((['f%d' % j, 'v%d' % j] for j in range(i, i + 1000)), []))
        for i in range(0, 50000, 1000):
            cmds.append(['ZADD', 'big:zset'] + sum(([str(j * 0.5), 'm%d' % j] for j in range(i, i + 1000)), []))
            cmds.append(['SADD', 'big:set'] + ['s%d' % j for j in range(i, i + 1000)])
            cmds.append(['SADD', 'drop:set'] + ['s%d' % j for j in range(i, i + 1000)])
        for i in range(20000):
            cmds.append(['XADD', 'big:stream', '%d-1' % (i + 1), 'k', 'v%d' % i])
        cmds.append(['SET', 'big:string', os.urandom(24 << 20)])  # 24 MiB that LZF cannot shrink
        cmds.append(['PEXPIREAT', 'big:hash', '1924992000000'])
        cmds.append(['SET', 'small', 'x'])
        bc.pipeline(cmds)
        bc.call('XGROUP', 'CREATE', 'big:stream', 'g1', '0')
        bc.call('XREADGROUP', 'GROUP', 'g1', 'alice', 'COUNT', '10', 'STREAMS', 'big:stream', '>')
        bc.call('DEL', 'drop:set')
        want_big = bc.call('DEBUG', 'DIGEST')
        bc.call('SAVE')
        sb.stop()
        big_rdb = os.path.join(d, 'dump.rdb')
        rss = {}
        for label, chunk, extra in [('streamed RESTOREs', 65536, ''), ('native chunks', 65536, ', restore = "never"'),
                                    ('whole', 1 << 30, '')]:
            c.call('FLUSHALL')
            p = write(tmp, 'chunk.lua', pipeline(big_rdb, dst.port, '', ', chunk_bytes = %d, window_bytes = 1048576%s'
                                                 % (chunk, extra)))
            t = subprocess.run(['/usr/bin/time', '-f', 'maxrss=%M', rmig, 'run', p], capture_output=True, timeout=300)
            err = t.stderr.decode()
            rss[label] = int(err.rsplit('maxrss=', 1)[1].split()[0]) if 'maxrss=' in err else 0
            got = c.call('DEBUG', 'DIGEST')
            rep.check(t.returncode == 0 and got == want_big,
                      'big keys (%s): the target holds what the source held' % label,
                      'rc %d %r != %r %s %s' % (t.returncode, got, want_big, t.stdout.decode()[-300:], err[-400:]))
            if label == 'streamed RESTOREs':
                rep.check('6 keys bigger than sink.chunk_bytes went as RESTOREs written while they were read'
                          in t.stdout.decode(), 'the summary counts the big keys streamed as RESTOREs', t.stdout.decode())
            if label == 'native chunks':
                rep.check('6 keys bigger than sink.chunk_bytes went out in chunks' in t.stdout.decode(),
                          'the summary counts the big keys that went out in native chunks', t.stdout.decode())
        for label in ('streamed RESTOREs', 'native chunks'):
            rep.check(rss[label] and rss['whole'] - rss[label] > 40000,
                      '%s: the run never holds a big value whole (peak RSS %d KiB against %d KiB)'
                      % (label, rss[label], rss['whole']), repr(rss))
        c.call('FLUSHALL')
        p = write(tmp, 'chunkf.lua', pipeline(big_rdb, dst.port, 'rmig.filter.keys { deny = { "big:set" } }, '
                  'rmig.filter.rename { prefix = { ["big:"] = "moved:" } }, rmig.filter.db { map = { [0] = 2 } }',
                  ', chunk_bytes = 65536'))
        rc, out, err = run_rmig(rmig, ['run', p])
        c.call('SELECT', '2')
        ok = (rc == 0 and c.call('LLEN', 'moved:list') == 200000 and c.call('EXISTS', 'moved:set') == 0
              and c.call('EXISTS', 'big:set') == 0 and c.call('HLEN', 'moved:hash') == 200000
              and c.call('PEXPIRETIME', 'moved:hash') == 1924992000000 and c.call('EXISTS', 'small') == 1)
        rep.check(ok, 'nodes see keys written in chunks: dropped, renamed and moved like any other',
                  'rc %d %s %s' % (rc, out.decode()[-300:], err[-300:]))
        c.call('SELECT', '0')

        bad = write(tmp, 'bad.lua', pipeline(sample, dst.port, 'rmig.filter.keys { alow = "x" }'))
        rc, out, err = run_rmig(rmig, ['run', bad])
        rep.check(rc == 2 and 'bad.lua:4' in err and 'alow' in err, 'a bad option exits 2 naming file and line', err)
        rc, out, err = run_rmig(rmig, ['run', write(tmp, 'ok.lua', pipeline(sample, 1))])
        rep.check(rc == 1 and '127.0.0.1:1' in err, 'an unreachable target exits 1 naming it', err)
        abort = write(tmp, 'abort.lua', pipeline(sample, dst.port,
                      'rmig.node { name = "strict", fn = function(e) if e:key() == "user:5" then error("no") end end }'))
        rc, out, err = run_rmig(rmig, ['run', abort])
        rep.check(rc == 1 and 'strict' in err and 'user:5' in err and 'abort.lua:4' in err,
                  'a Lua node that raises stops the run naming the node, its line and the key', err[-400:])
    finally:
        dst.stop()
    sys.exit(rep.finish())


if __name__ == '__main__':
    main()

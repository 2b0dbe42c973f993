#!/usr/bin/env python3
"""`rmig check PIPELINE.lua`: a pipeline is loaded and checked, its target
asked for its version, and the plan printed (which nodes run in C and which
in Lua, RESTORE or native commands); mistakes in the pipeline exit 2 naming
the file and line, an unreachable target or source exits 1 naming it. A
scan source (rmig.source.scan) is told: PSYNC refused or available, its
notify-keyspace-events against source.live, MEMORY USAGE, its key count and
a scan time from a short read-only sample.

usage: python3 test_check.py /path/to/rmig
environment: RMIG_SOURCE_DIR (the repository: sample data and fuzz seeds)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, install_signal_handlers, make_tmpdir,  # noqa: E402
                           require_redis_server, run_rmig, write)


PIPELINE = '''local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "%(rdb)s" },
  nodes = {
    rmig.filter.keys { allow = { "user:*" } },
    function(batch) return batch end,
  },
  sink = rmig.sink.redis { addr = "127.0.0.1:%(port)d"%(extra)s },
}
'''


SCAN_PIPELINE = ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                 '  source = rmig.source.scan { addr = "127.0.0.1:%d"%s },\n'
                 '  sink = rmig.sink.redis { addr = "127.0.0.1:%d" },\n}\n')

# what a managed service refuses (as in test_scan.py), and MEMORY as some do
MANAGED = ['--rename-command', 'PSYNC', '', '--rename-command', 'SYNC', '', '--rename-command', 'CONFIG', '',
           '--rename-command', 'MEMORY', '']


def fill_dbs(c, counts):
    """{db: n} plain keys, then back to db 0."""
    for db, n in counts.items():
        c.call('SELECT', db)
        c.pipeline([['SET', 'user:%d' % i, 'v%d' % i] for i in range(n)])
    c.call('SELECT', 0)


def scan_sources(rmig, rep, tmp, target_port):
    """rmig check on rmig.source.scan pipelines."""
    managed = Server(os.path.join(tmp, 'managed'), config=MANAGED, name='managed').start()
    plain = Server(os.path.join(tmp, 'plain'), name='plain').start()
    kea = Server(os.path.join(tmp, 'kea'), config=['--notify-keyspace-events', 'KEA'], name='kea').start()
    try:
        for srv, counts in ((managed, {0: 20000, 2: 1500}), (plain, {0: 300}), (kea, {0: 700, 4: 50})):
            c = srv.conn()
            fill_dbs(c, counts)
            c.close()

        p = write(tmp, 'scan-managed.lua', SCAN_PIPELINE % (managed.port, '', target_port))
        rc, out, err = run_rmig(rmig, ['check', p])
        out = out.decode()
        rep.check(rc == 0 and 'rmig.source.scan 127.0.0.1:%d: Redis 7.0' % managed.port in out,
                  'a scan source with SYNC, PSYNC and CONFIG renamed away checks out (exit 0), naming its version',
                  err + out)
        rep.check('PSYNC is refused/renamed: rmig.source.scan is the right source' in out,
                  'a scan source that refuses PSYNC: the plan says scan is the right source', out)
        rep.check('notify-keyspace-events cannot be read' in out and 'short-lived key write' in out,
                  'a scan source that refuses CONFIG: its notification settings cannot be read, and a live run '
                  'probes them', out)
        rep.check('MEMORY USAGE is refused' in out and 'one DUMP' in out,
                  'a scan source that refuses MEMORY USAGE: every key is read with one DUMP', out)
        rep.check('keys      21500 (db 0: 20000, db 2: 1500)' in out,
                  'the key count of a scan source is what was loaded, per db', out)
        rep.check('keys/s' in out and 'to scan 21.5k keys: the source side only' in out,
                  'a scan source: the sampled read rate and the time to scan are in the plan', out)

        p = write(tmp, 'scan-dbs.lua', SCAN_PIPELINE % (managed.port, ', dbs = { 2 }, match = "user:1*", rate = 50',
                                                        target_port))
        rc, out, err = run_rmig(rmig, ['check', p])
        out = out.decode()
        rep.check(rc == 0 and 'keys      1500 (db 2: 1500) in source.dbs' in out and 'an upper bound' in out,
                  'source.dbs restricts the key count; source.match makes it an upper bound', err + out)
        rep.check('source.rate caps it at 50 keys/s' in out and 'about 30 s to scan' in out,
                  'source.rate caps the estimated rate', out)

        p = write(tmp, 'scan-require.lua', SCAN_PIPELINE % (plain.port, ', live = true, notify = "require"',
                                                            target_port))
        rc, out, err = run_rmig(rmig, ['check', p])
        out = out.decode()
        rep.check(rc == 1 and 'problem   127.0.0.1:%d: notify-keyspace-events is ""' % plain.port in out
                  and 'the live run will stop' in out and '"KEA"' in out and 'parameter group' in out,
                  'live = true with notify = "require" on a source without notifications: exit 1, naming '
                  'notify-keyspace-events and the value to set', err + out)
        rep.check('PSYNC is available' in out and 'prefer it' in out and 'MEMORY USAGE works' in out,
                  'a plain scan source: PSYNC is available and preferred; MEMORY USAGE works', out)
        rep.check('keys      300 (db 0: 300)' in out and 'every one' in out,
                  'a small scan source is read whole by the sample, and its count is what was loaded', out)

        p = write(tmp, 'scan-set.lua', SCAN_PIPELINE % (plain.port, ', live = true', target_port))
        rc, out, err = run_rmig(rmig, ['check', p])
        rep.check(rc == 0 and 'notify = "set" sets them for the run' in out.decode(),
                  'live = true with notify = "set" on a source without notifications: rmig sets them, exit 0',
                  err + out.decode())

        def changes():
            c = kea.conn()
            n = [l for l in c.call('INFO', 'persistence').decode().splitlines()
                 if l.startswith('rdb_changes_since_last_save:')]
            d = c.call('DEBUG', 'DIGEST')
            c.close()
            return n, d

        before = changes()
        p = write(tmp, 'scan-kea.lua', SCAN_PIPELINE % (kea.port, ', live = true, notify = "require"', target_port))
        rc, out, err = run_rmig(rmig, ['check', p])
        after = changes()
        rep.check(before == after, 'checking a scan source writes nothing to it (no change, same DEBUG DIGEST)',
                  '%r != %r' % (before, after))
        out = out.decode()
        rep.check(rc == 0 and 'notify-keyspace-events is "AKE": live = true works as it is' in out
                  and 'keys      750 (db 0: 700, db 4: 50)' in out and 'estimate' in out,
                  'a scan source with notify-keyspace-events KEA: live works as it is, keys and estimate given',
                  err + out)

        rc, out, err = run_rmig(rmig, ['check', p, '-s', 'source.addr=127.0.0.1:1'])
        rep.check(rc == 1 and '127.0.0.1:1' in out.decode() and 'refused' in out.decode(),
                  'an unreachable scan source exits 1 naming it', out.decode() + err)
        rc, out, err = run_rmig(rmig, ['check', p, '-s', 'source.cluster=true'])
        rep.check(rc == 2 and 'is not a cluster node' in out.decode(),
                  'source.cluster = true on a server outside cluster mode exits 2 saying so', out.decode() + err)

        # a cluster node as addr: every master is checked, and the keys summed
        from cluster_harness import Cluster
        with Cluster(os.path.join(tmp, 'scan-cluster'), masters=3, replicas=0) as cl:
            keys = ['k%d' % i for i in range(3000)]
            owners, by = cl.slot_map(), {}
            for k, slot in zip(keys, cl.keyslots(keys)):
                by.setdefault(owners[slot][1], []).append(k)
            for port, ks in by.items():
                c = cl.conn(port)
                c.pipeline([['SET', k, 'v'] for k in ks])
                c.close()
            p = write(tmp, 'scan-cluster.lua', SCAN_PIPELINE % (cl.masters()[0][1], '', target_port))
            rc, out, err = run_rmig(rmig, ['check', p])
            out = out.decode()
            rep.check(rc == 0 and 'a cluster of 3 masters, each scanned' in out and out.count('\n  master  ') == 3
                      and 'keys      3000 over 3 masters' in out and 'masters read in parallel' in out,
                      'a scan source on a cluster node: every master checked, the keys summed, one estimate',
                      err + out)
    finally:
        managed.stop()
        plain.stop()
        kea.stop()


def main():
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    src = os.environ.get('RMIG_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
    sample = os.path.join(src, 'examples', 'data', 'sample.rdb')
    v11 = os.path.join(src, 'tests', 'fuzz', 'seeds', 'rdb', 'h_v11_listpacks.rdb')
    rep = Reporter()
    tmp = make_tmpdir('rmig-check-')
    srv = Server(os.path.join(tmp, 'target'), name='target').start()
    locked = Server(os.path.join(tmp, 'locked'), name='locked').start()
    c = locked.conn()
    c.call('CONFIG', 'SET', 'requirepass', 'hunter2-secret')
    c.close()
    try:
        p = write(tmp, 'ok.lua', PIPELINE % {'rdb': sample, 'port': srv.port, 'extra': ''})
        rc, out, err = run_rmig(rmig, ['check', p])
        out = out.decode()
        rep.check(rc == 0, 'a sound pipeline checks out (exit 0)', err + out)
        rep.check('rmig.filter.keys' in out and 'runs in C' in out and 'runs in Lua' in out,
                  'the plan says which nodes run in C and which in Lua', out)
        rep.check('Redis 7.0' in out and 'RDB 10' in out, "the plan names the target's version", out)
        rep.check('as RESTORE payloads' in out, 'an RDB 10 file into Redis 7.0 goes as RESTORE payloads', out)

        p = write(tmp, 'new.lua', PIPELINE % {'rdb': v11, 'port': srv.port, 'extra': ''})
        rc, out, err = run_rmig(rmig, ['check', p])
        rep.check(rc == 0 and 'as native commands' in out.decode(),
                  'an RDB 11 file into Redis 7.0 goes as native commands', out.decode() + err)

        p = write(tmp, 'skipnew.lua', PIPELINE % {'rdb': v11, 'port': srv.port, 'extra': ', mode = "skip-existing"'})
        rc, out, err = run_rmig(rmig, ['check', p])
        rep.check(rc == 2 and 'needs RESTORE payloads' in out.decode(),
                  'a mode native commands cannot honour is a problem (exit 2)', out.decode() + err)
        rc, out, err = run_rmig(rmig, ['run', p])
        rep.check(rc == 2 and 'needs RESTORE payloads' in err, '... and rmig run refuses it, saying why', err)

        tc = srv.conn()
        tc.call('CONFIG', 'SET', 'maxmemory', '1mb')
        tc.call('CONFIG', 'SET', 'proto-max-bulk-len', '2mb')
        rc, out, err = run_rmig(rmig, ['check', write(tmp, 'ok.lua', PIPELINE % {'rdb': sample, 'port': srv.port,
                                                                                  'extra': ''})])
        tc.call('CONFIG', 'SET', 'maxmemory', '0')
        tc.call('CONFIG', 'SET', 'proto-max-bulk-len', '512mb')
        tc.close()
        rep.check(rc == 0 and "risk      the target's maxmemory is 1.0 MiB" in out.decode()
                  and 'lowered to half the target\'s proto-max-bulk-len' in out.decode(),
                  "the plan warns of a target's small maxmemory and proto-max-bulk-len", out.decode())

        p = write(tmp, 'never.lua', PIPELINE % {'rdb': sample, 'port': srv.port, 'extra': ', restore = "never"'})
        rc, out, err = run_rmig(rmig, ['check', p])
        rep.check('as native commands (restore = "never")' in out.decode(), 'restore = "never" is honoured',
                  out.decode())

        bad = write(tmp, 'bad.lua', 'local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                    '  source = rmig.source.rdb { path = "x" },\n'
                    '  nodes = { rmig.filter.keys { alow = { "a*" } } },\n'
                    '  sink = rmig.sink.redis { addr = "127.0.0.1:1" } }\n')
        rc, out, err = run_rmig(rmig, ['check', bad])
        rep.check(rc == 2 and 'bad.lua:4: rmig.filter.keys: unknown option \'alow\'' in err,
                  'an unknown option exits 2 naming the file, the line and the option', err)

        syn = write(tmp, 'syntax.lua', 'local rmig = require "rmig"\nreturn rmig.pipeline {\n  source = ,\n}\n')
        rc, out, err = run_rmig(rmig, ['check', syn])
        rep.check(rc == 2 and 'syntax.lua:3:' in err, 'a Lua syntax error exits 2 naming the file and line', err)

        p = write(tmp, 'ok2.lua', PIPELINE % {'rdb': sample, 'port': srv.port, 'extra': ''})
        rc, out, err = run_rmig(rmig, ['check', p, '-s', 'sink.addr=127.0.0.1:1'])
        rep.check(rc == 1 and '127.0.0.1:1' in out.decode() and 'refused' in out.decode(),
                  '-s overrides the target; an unreachable one exits 1 naming it', out.decode() + err)
        rc, out, err = run_rmig(rmig, ['check', p, '-s', 'sink.window=lots'])
        rep.check(rc == 2 and "'window' must be a number" in err, 'a bad -s value exits 2 saying why', err)
        rc, out, err = run_rmig(rmig, ['check', p, '-s', 'source.path=' + os.path.join(tmp, 'none.rdb')])
        rep.check(rc == 1 and 'none.rdb' in out.decode(), 'a missing source file exits 1 naming it', out.decode())

        p = write(tmp, 'auth.lua', PIPELINE % {'rdb': sample, 'port': locked.port,
                                               'extra': ', password_env = "RMIG_TEST_PW"'})
        env = dict(os.environ, RMIG_TEST_PW='hunter2-secret')
        import subprocess
        r = subprocess.run([rmig, 'check', p], capture_output=True, env=env, timeout=60)
        rep.check(r.returncode == 0 and b'password' in r.stdout and b'hunter2' not in r.stdout + r.stderr,
                  'the password comes from the environment and is never printed', r.stdout + r.stderr)
        env['RMIG_TEST_PW'] = 'wrong-one'
        r = subprocess.run([rmig, 'check', p], capture_output=True, env=env, timeout=60)
        rep.check(r.returncode == 1 and b'refused the password' in r.stdout and b'wrong-one' not in r.stdout,
                  'a wrong password exits 1 saying so, without printing it', r.stdout + r.stderr)
        del env['RMIG_TEST_PW']
        r = subprocess.run([rmig, 'check', p], capture_output=True, env=env, timeout=60)
        rep.check(r.returncode == 2 and b'RMIG_TEST_PW' in r.stderr,
                  'password_env naming an unset variable exits 2 naming it', r.stderr)

        rc, out, err = run_rmig(rmig, ['check'])
        rep.check(rc == 2 and 'which pipeline' in err, 'no pipeline given exits 2 with usage', err)

        # a live source: its version, PSYNC, its position, and where a state file would resume
        live_src = Server(os.path.join(tmp, 'livesrc'), name='livesrc').start()
        renamed = Server(os.path.join(tmp, 'renamed'), config=['--rename-command', 'PSYNC', ''], name='renamed').start()
        try:
            state = os.path.join(tmp, 'live.state')
            live = ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                    '  source = rmig.source.psync { addr = "127.0.0.1:%d", state = "%s" },\n'
                    '  sink = rmig.sink.redis { addr = "127.0.0.1:%d", exactly_once = true },\n}\n')
            p = write(tmp, 'live.lua', live % (live_src.port, state, srv.port))
            rc, out, err = run_rmig(rmig, ['check', p])
            out = out.decode()
            rep.check(rc == 0 and 'rmig.source.psync' in out and 'Redis 7.0' in out and 'replication id' in out,
                      'a live source: exit 0, its version and replication id in the plan', err + out)
            rep.check('does not exist yet' in out and 'full sync' in out and 'exactly once' in out,
                      'a live source: a state file not there yet means a full sync; exactly_once is said', out)
            # a backlog exists once a replica has connected
            rs = Server(os.path.join(tmp, 'replica'), name='replica').start()
            try:
                rc_ = rs.conn()
                rc_.call('REPLICAOF', '127.0.0.1', str(live_src.port))
                import time
                deadline = time.time() + 30
                while b'master_link_status:up' not in rc_.call('INFO', 'replication') and time.time() < deadline:
                    time.sleep(0.1)
                rc_.close()
            finally:
                rs.stop()
            c = live_src.conn()
            info = c.call('INFO', 'replication').decode()
            c.close()
            replid = [l.split(':')[1].strip() for l in info.splitlines() if l.startswith('master_replid:')][0]
            with open(state, 'w') as f:
                f.write('{"replid": "%s", "offset": 0, "db": 0}\n' % replid)
            rc, out, err = run_rmig(rmig, ['check', p])
            rep.check(rc == 0 and 'partial resync' in out.decode(),
                      "a state file within the source's backlog: a partial resync is announced", out.decode() + err)
            with open(state, 'w') as f:
                f.write('{"replid": "%s", "offset": 5, "db": 0}\n' % ('ab' * 20))
            rc, out, err = run_rmig(rmig, ['check', p])
            rep.check(rc == 0 and 'a full sync, announced' in out.decode(),
                      'a state file of another replication id: a full sync is announced', out.decode() + err)
            p = write(tmp, 'renamed.lua', live % (renamed.port, state, srv.port))
            rc, out, err = run_rmig(rmig, ['check', p])
            rep.check(rc == 1 and 'does not know PSYNC' in out.decode() and 'psync_command' in out.decode(),
                      'a source with PSYNC renamed away: exit 1, saying to set source.psync_command',
                      out.decode() + err)
        finally:
            live_src.stop()
            renamed.stop()
        scan_sources(rmig, rep, tmp, srv.port)
    finally:
        srv.stop()
        try:
            c = locked.conn()
            c.call('AUTH', 'hunter2-secret')
            c.call('CONFIG', 'SET', 'requirepass', '')
            c.close()
        except Exception:
            pass
        locked.stop()
    sys.exit(rep.finish())


if __name__ == '__main__':
    main()

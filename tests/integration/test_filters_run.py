#!/usr/bin/env python3
"""The shipped team filters (filters/team_*.lua) in a real migration: a
pipeline that takes them with require("team_...") moves a saved RDB into an
empty redis-server, and the target holds exactly what their `rmig test` files
promise: sessions, caches, short TTLs, e-mail keys and a malformed profile
left behind, billing's keys renamed into db 2 (a rename with fn included),
the rest as it was, with types and TTLs.

usage: python3 test_filters_run.py /path/to/rmig
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (Reporter, Server, install_signal_handlers, make_tmpdir,  # noqa: E402
                           require_redis_server, run_rmig)

PIPELINE = '''local rmig = require "rmig"
return rmig.pipeline {
  source = rmig.source.rdb { path = "%(rdb)s" },
  nodes = { require("team_sessions"), require("team_rename"), require("team_pii") },
  sink = rmig.sink.redis { addr = "127.0.0.1:%(port)d" },
}
'''


def names(c, db):
    c.call('SELECT', db)
    return sorted(k.decode() for k in c.call('KEYS', '*'))


def main():
    require_redis_server()
    install_signal_handlers()
    rmig = os.path.abspath(sys.argv[1])
    rep = Reporter()
    tmp = make_tmpdir('rmig-filters-run-')
    src = Server(os.path.join(tmp, 'src'), name='src').start()
    dst = Server(os.path.join(tmp, 'dst'), name='dst').start()
    try:
        s = src.conn()
        s.call('SET', 'session:1', 'x', 'EX', 3600)
        s.call('HSET', 'cache:home', 'html', '<p>')
        s.call('SET', 'otp:1', '123456', 'PX', 30000)
        s.call('HSET', 'user:1', 'name', 'ann')
        s.call('EXPIRE', 'user:1', 86400)
        s.call('HSET', 'billing:acct:7', 'plan', 'pro')
        s.call('SET', 'inv_draft', 'd')
        s.call('SET', 'reset:ann@example.com', 'token')
        s.call('HSET', 'profile:17', 'name', 'ann')
        s.call('HSET', 'profile:ann', 'name', '?')
        s.call('SELECT', 1)
        s.call('RPUSH', 'inv_1042', 'line1', 'line2')
        s.call('SAVE')
        rdb = os.path.join(src.dir, 'dump.rdb')

        p = os.path.join(tmp, 'teams.lua')
        with open(p, 'w') as f:
            f.write(PIPELINE % {'rdb': rdb, 'port': dst.port})
        rc, out, err = run_rmig(rmig, ['run', p])
        out = out.decode()
        rep.check(rc == 0, 'a pipeline of the three team filters runs (exit 0)', 'rc %d %s %s' % (rc, out, err[-800:]))

        c = dst.conn()
        rep.check(names(c, 0) == ['inv_draft', 'profile:17', 'user:1'],
                  'sessions, caches, short TTLs, e-mail keys and a malformed profile stay behind', names(c, 0))
        rep.check(names(c, 1) == [], "billing's keys leave db 1", names(c, 1))
        rep.check(names(c, 2) == ['bill:acct:7', 'bill:invoice:1042'],
                  "billing's keys arrive renamed in db 2, the legacy invoice through rename's fn", names(c, 2))
        c.call('SELECT', 2)
        rep.check(c.call('LRANGE', 'bill:invoice:1042', 0, -1) == [b'line1', b'line2']
                  and c.call('HGET', 'bill:acct:7', 'plan') == b'pro', 'renamed keys keep their values')
        c.call('SELECT', 0)
        ttl = c.call('TTL', 'user:1')
        rep.check(86000 < ttl <= 86400, 'kept keys keep their TTL', ttl)
        rep.check('dropped 5' in out, 'the summary counts the five keys the filters dropped', out)
    finally:
        src.stop()
        dst.stop()
    return rep.finish()


if __name__ == '__main__':
    sys.exit(main())

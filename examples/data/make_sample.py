#!/usr/bin/env python3
"""Rebuilds examples/data/sample.rdb: a small shop's Redis, written by a real
redis-server (users, carts with TTLs, a leaderboard, an order stream with a
consumer group, feature flags in db 1, a function library).

usage: python3 examples/data/make_sample.py [OUT.rdb]   (needs redis-server, redis-cli)"""
import os, shutil, socket, subprocess, sys, tempfile, time

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sample.rdb')
s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp(prefix='rmig-sample-')
srv = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                        '--appendonly', 'no', '--dir', d, '--dbfilename', 'sample.rdb'],
                       stdout=subprocess.DEVNULL)
def cli(*args, db=0):
    return subprocess.run(['redis-cli', '-p', str(port), '-n', str(db)] + [str(a) for a in args],
                          check=True, capture_output=True).stdout
try:
    for _ in range(100):
        try:
            cli('PING'); break
        except subprocess.CalledProcessError:
            time.sleep(0.05)
    cmds = []
    for i in range(1, 201):
        cmds.append('HSET user:%d name user%d email user%d@example.com plan %s' % (i, i, i, 'pro' if i % 7 == 0 else 'free'))
        # absolute expiries in 2031, so the sample does not expire on its readers
        cmds.append('SET session:%d token-%08x PXAT %d' % (i, i * 2654435761 % 2**32, 1924992000000 + i * 1000))
    for i in range(1, 51):
        cmds.append('RPUSH cart:%d sku-%d sku-%d sku-%d' % (i, i, i + 1, i + 2))
        cmds.append('PEXPIREAT cart:%d %d' % (i, 1925000000000 + i))
        cmds.append('ZADD leaderboard %d user:%d' % (i * 37 % 1000, i))
        cmds.append('SADD tags:user:%d red green %d' % (i, i))
        cmds.append('XADD orders * user user:%d total %d.%02d' % (i, i * 3, i % 100))
    cmds.append('XGROUP CREATE orders billing 0')
    cmds.append('XREADGROUP GROUP billing worker-1 COUNT 3 STREAMS orders >')
    cmds.append('SET counter:visits 123456')
    cmds.append('SET tmp:cache:1 ' + 'x' * 300)
    p = subprocess.run(['redis-cli', '-p', str(port)], input='\n'.join(cmds).encode(), check=True,
                       capture_output=True)
    cli('SET', 'flag:new-checkout', 'on', db=1)
    cli('SET', 'flag:dark-mode', 'off', db=1)
    cli('FUNCTION', 'LOAD', "#!lua name=shop\nredis.register_function('cart_size', function(keys) "
        "return redis.call('LLEN', keys[1]) end)")
    cli('SAVE')
    shutil.copy(os.path.join(d, 'sample.rdb'), out)
    print('wrote %s (%d bytes)' % (out, os.path.getsize(out)))
finally:
    try:
        cli('SHUTDOWN', 'NOSAVE')
    except subprocess.CalledProcessError:
        pass
    srv.wait(timeout=10)
    shutil.rmtree(d, ignore_errors=True)

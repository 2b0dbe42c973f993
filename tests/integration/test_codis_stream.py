#!/usr/bin/env python3
"""`rmig run` with rmig.source.codis reading what only a codis-server's
replication stream carries: SLOTSRESTORE (one or several key/ttl/payload
triples, relative TTLs) and SLOTSDEL (slot numbers, not replayable). There
is no codis-server here, so its commands come from two stand-ins: a
redis-server whose RESTORE and DEL are renamed to SLOTSRESTORE and SLOTSDEL,
and a codis-server 3.2 played by a socket (FakeCodisMaster). The group
masters and pipelines are codis_harness.py's; rmig.source.codis with real
group masters (psync into a cluster, scan), rmig.sink.codis and errors are
test_codis.py's. Every comparison is per key: DEBUG DIGEST-VALUE and expire
time (PEXPIRETIME). Scenarios:

  stream_translation
                    (a) a group master started with --rename-command RESTORE
                    SLOTSRESTORE --rename-command DEL SLOTSDEL: first a raw
                    replica (SYNC) shows that Redis propagates the names the
                    client used; then, with rmig replicating it and another
                    master: SLOTSRESTORE key 0 payload (payloads DUMPed on
                    another server) of a string, hash, list, set and zset
                    reaches the target as RESTORE ... REPLACE (values equal,
                    no TTL); SLOTSDEL 17 (key "17" deleted on the master) is
                    named on stderr with the master, not replayed (the target
                    keeps its "17"), and the run goes on; a SLOTSRESTORE 17
                    afterwards replaces the target's older "17"; the form a
                    renamed 7.0 RESTORE propagates for a TTL (SLOTSRESTORE key
                    <unix ms> payload ABSTTL, never sent by codis-server) is
                    reported as malformed and not applied; SIGINT exits 1
                    with "failed 3" in the summary
                    (b) a codis-server 3.2 played by a socket (the replica
                    handshake, +FULLRESYNC with an RDB file, a stream):
                    one SLOTSRESTORE with three key/ttl/payload triples (a
                    relative TTL, one replacing a key the snapshot gave the
                    target), then two SLOTSRESTOREs sent together, then one
                    of 450 keys (over 4 KiB of TTL text) and another right
                    after it: every key equal, each expiring its TTL after it
                    was applied (or never); SIGINT exits 0, nothing failed

  migration         two groups read at once while keys move between them
                    as a synchronous Codis migration moves them (SLOTSRESTORE
                    on the joining group, here a redis-server with RESTORE
                    renamed; then one DEL of them on the leaving group): all
                    300 keys are on the target and equal (applied in the
                    streams' order they would be lost), also 40 moved with
                    the DEL first; a client's DEL of a moved key on its new
                    group deletes it; the summary counts the keys migrated in;
                    then the same as an asynchronous migration into a
                    codis-server played by a socket (SLOTSRESTORE-ASYNC string
                    and object messages, a list in chunks): every key there
usage: python3 test_codis_stream.py /path/to/rmig [--only NAME[,NAME...]]
environment: RMIG_TEST_SEED (the payloads' data; printed at the start)
Exit code: 0 all passed, 1 something failed, 77 redis-server is missing."""
import os
import random
import re
import select
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from codis_harness import (MASTER, Ctx, caught_up, codis_source, now_ms, pipeline, redis_sink, rmig_bg, rtail,  # noqa: E402
                           server, tail)
from redis_harness import Conn, RedisError, run_scenarios, short  # noqa: E402
from test_psync import info, kill_running, lua_string, wait_for  # noqa: E402


# --- stream_translation -----------------------------------------------------------

def raw_stream(port, send, want, timeout=10):
    """A raw replica (SYNC) of the master on port: once its snapshot is
    read, send() runs, then the stream is read until it holds `want`.
    Returns the stream's bytes (after the snapshot)."""
    r = Conn(port, timeout=timeout)
    try:
        r.sock.sendall(Conn.encode(['SYNC']))
        buf = bytearray()
        deadline = time.time() + timeout

        def fill_until(cond):
            while not cond():
                if time.time() > deadline:
                    raise RuntimeError('raw replica of %d: timed out; read %r' % (port, bytes(buf[-200:])))
                r.sock.settimeout(max(0.1, deadline - time.time()))
                chunk = r.sock.recv(65536)
                if not chunk:
                    raise RuntimeError('raw replica of %d: the master closed the connection' % port)
                buf.extend(chunk)
        hdr = re.compile(rb'\n*\$(\d+)\r\n')
        fill_until(lambda: hdr.match(buf))
        m = hdr.match(buf)
        start = m.end() + int(m.group(1))
        fill_until(lambda: len(buf) >= start)
        send()
        fill_until(lambda: want in buf[start:])
        return bytes(buf[start:])
    finally:
        r.close()


def encode_reply(v):
    """A reply as redis_harness.Conn returns it, in RESP2 again."""
    if isinstance(v, RedisError):
        return b'-%s\r\n' % str(v).encode()
    if isinstance(v, str):
        return b'+%s\r\n' % v.encode()
    if isinstance(v, int):
        return b':%d\r\n' % v
    if v is None:
        return b'$-1\r\n'
    if isinstance(v, bytes):
        return b'$%d\r\n%s\r\n' % (len(v), v)
    return b'*%d\r\n' % len(v) + b''.join(encode_reply(x) for x in v)


class FakeCodisMaster:
    """A codis-server 3.2 as its replica sees it, played by a socket: it
    answers the handshake (AUTH, PING, REPLCONF: +OK/+PONG; PSYNC:
    +FULLRESYNC, then the RDB file given as "$<len>\\r\\n<bytes>"), then sends
    what send() queues as its replication stream and a PING each second (as
    a master does), and reads and drops the replica's REPLCONF ACKs. Other
    commands (COMMAND, which rmig reads its command table from) are asked
    from the real server on helper_port. It puts in rmig's stream what only
    a codis-server sends: SLOTSRESTORE with several triples and relative
    TTLs."""

    REPLID = 'c0d15' + '5' * 35

    def __init__(self, rdb, helper_port):
        self.rdb = rdb
        self.helper_port = helper_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.queue = []
        self.seen = []           # the commands the replica sent before the stream
        self.syncs = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def send(self, cmds):
        with self.lock:
            self.queue.extend(Conn.encode(c) for c in cmds)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.lsock.close()

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.serve_and_close, args=(c,), daemon=True).start()

    def serve_and_close(self, c):
        try:
            self.serve(c)
        except OSError:
            pass
        finally:
            c.close()

    @staticmethod
    def parse(buf):
        """One command (a RESP array of bulks, or an inline line) from buf:
        (args, bytes used), or None when buf does not hold all of it."""
        if buf[:1] != b'*':
            i = buf.find(b'\n')
            return None if i < 0 else (bytes(buf[:i]).split(), i + 1)
        i = buf.find(b'\r\n')
        if i < 0:
            return None
        pos, args = i + 2, []
        for _ in range(int(buf[1:i])):
            j = buf.find(b'\r\n', pos)
            if j < 0:
                return None
            n = int(buf[pos + 1:j])
            if len(buf) < j + 2 + n + 2:
                return None
            args.append(bytes(buf[j + 2:j + 2 + n]))
            pos = j + 2 + n + 2
        return args, pos

    def serve(self, c):
        buf = bytearray()
        streaming = False
        last_ping = time.time()
        while not self.stopping.is_set():
            if streaming:
                with self.lock:
                    out, self.queue = b''.join(self.queue), []
                if time.time() - last_ping >= 1:
                    out += Conn.encode(['PING'])
                    last_ping = time.time()
                if out:
                    c.sendall(out)
            ready, _, _ = select.select([c], [], [], 0.05)
            if not ready:
                continue
            chunk = c.recv(65536)
            if not chunk:
                return
            if streaming:
                continue          # REPLCONF ACK: dropped
            buf.extend(chunk)
            while True:
                got = self.parse(buf)
                if got is None:
                    break
                args, used = got
                del buf[:used]
                if not args:
                    continue
                name = args[0].upper()
                self.seen.append(name.decode('latin-1'))
                if name == b'PING':
                    c.sendall(b'+PONG\r\n')
                elif name in (b'PSYNC', b'SYNC'):
                    self.syncs += 1
                    head = b'+FULLRESYNC %s 0\r\n' % self.REPLID.encode() if name == b'PSYNC' else b''
                    c.sendall(head + b'$%d\r\n' % len(self.rdb) + self.rdb)
                    streaming = True
                    break
                elif name in (b'AUTH', b'REPLCONF'):
                    c.sendall(b'+OK\r\n')
                else:
                    h = Conn(self.helper_port, timeout=10)
                    try:
                        h.sock.sendall(Conn.encode(args))
                        c.sendall(encode_reply(h.read_reply()))
                    finally:
                        h.close()


def scenario_stream_translation(ctx, d):
    rep = ctx.rep
    rng = random.Random(ctx.seed + 10)
    renamed = ['--rename-command', 'RESTORE', 'SLOTSRESTORE', '--rename-command', 'DEL', 'SLOTSDEL']
    # (a PING each second: rmig counts the snapshot of a full sync at offset 0 (a master that never had a
    # replica) as applied only once the stream's first bytes come, 10 s later from an idle master)
    ping = ['--repl-ping-replica-period', '1']
    g1 = server(ctx, d, 'group1', MASTER + renamed + ping)
    g2 = server(ctx, d, 'group2', MASTER + ping)
    dumps = server(ctx, d, 'dumps')       # where the payloads are made
    tgt = server(ctx, d, 'target')
    m1, m2, pl, t = g1.conn(), g2.conn(), dumps.conn(), tgt.conn()

    # (a.1) does Redis propagate a renamed command under the client's name?
    m1.call('SET', 'probe:a', 'x')
    probe = m1.call('DUMP', 'probe:a')

    def send():
        m1.call('SLOTSRESTORE', 'probe:b', 0, probe)
        m1.call('SLOTSRESTORE', 'probe:c', 60000, probe)
        m1.call('SLOTSDEL', 'probe:a', 'probe:b', 'probe:c')
    stream = raw_stream(g1.port, send, b'$8\r\nSLOTSDEL\r\n')
    as_named = Conn.encode(['SLOTSRESTORE', 'probe:b', 0, probe]) in stream and \
        Conn.encode(['SLOTSDEL', 'probe:a', 'probe:b', 'probe:c']) in stream
    abs_ttl = re.search(rb'\*5\r\n\$12\r\nSLOTSRESTORE\r\n\$7\r\nprobe:c\r\n\$13\r\n\d{13}\r\n\$\d+\r\n', stream) \
        is not None and b'ABSTTL' in stream
    print('# a renamed command in the stream of Redis %s: %s; a RESTORE with a TTL goes as %s' % (
        info(m1, 'server')['redis_version'].strip(),
        'under the name the client used' if as_named else 'NOT under the client\'s name',
        'SLOTSRESTORE key <unix ms> payload ABSTTL' if abs_ttl else 'something else'), flush=True)
    rep.check(as_named, 'stream (renamed commands): a raw replica sees SLOTSRESTORE key 0 payload and SLOTSDEL '
              'keys, the names the client used', short(stream[-400:], 400))
    if as_named:
        stream_renamed(ctx, d, rng, g1, g2, m1, m2, pl, tgt.port, t, abs_ttl)
    else:
        print('# stream (renamed commands): Redis does not propagate the client\'s name: skipped')
    m1.close()
    m2.close()
    stream_fake_master(ctx, d, pl, dumps.port, tgt.port, t)
    pl.close()
    t.close()


def stream_renamed(ctx, d, rng, g1, g2, m1, m2, pl, tport, t, abs_ttl):
    rep = ctx.rep
    what = 'stream (renamed commands)'
    # the snapshot: "17" (a key whose name is also a slot number) among others on group 1, others on group 2
    m1.pipeline([['SET', '17', 'old seventeen'], ['HSET', 'g1:h', 'a', '1'], ['SET', 'g1:s', 'snap']])
    m2.pipeline([['RPUSH', 'g2:l', 'a', 'b'], ['SET', 'g2:s', 'snap', 'EX', 3600]])
    names = ['127.0.0.1:%d' % g1.port, '127.0.0.1:%d' % g2.port]
    state = os.path.join(d, 'state-renamed')
    r = rmig_bg(ctx, d, pipeline(codis_source(groups=names, extra=', state = %s' % lua_string(state)),
                                 redis_sink(tport)), 'renamed')
    up = wait_for(lambda: len(caught_up(r, names)) == 2, 60, r, 0.1)
    if not rep.check(up and t.call('GET', '17') == b'old seventeen',
                     '%s: rmig replicates both group masters; the target has "17" from the snapshot' % what,
                     r.tail()):
        r.stop(signal.SIGINT)
        return
    # payloads of every type, DUMPed on another server
    vals = {b'sr:str': [['SET', '@', rng.randbytes(40)]],
            b'sr:hash': [['HSET', '@'] + sum((['f%d' % i, 'v%d' % i] for i in range(150)), [])],
            b'sr:list': [['RPUSH', '@'] + ['e%d' % i for i in range(20)]],
            b'sr:set': [['SADD', '@'] + [str(i) for i in range(30)]],
            b'sr:zset': [['ZADD', '@'] + sum(([repr(i / 3.0), 'm%d' % i] for i in range(40)), [])],
            b'17': [['SET', '@', 'new seventeen']]}
    payload = {}
    for k, cmds in vals.items():
        pl.pipeline([[k if a == '@' else a for a in c] for c in cmds])
        payload[k] = pl.call('DUMP', k)
    m1.call('SLOTSDEL', '17')             # the stream says SLOTSDEL 17: a Codis slot, not replayable
    time.sleep(0.5)
    restored = [k for k in vals if k != b'17']
    for k in restored:
        m1.call('SLOTSRESTORE', k, 0, payload[k])
    if abs_ttl:
        m1.call('SLOTSRESTORE', 'sr:abs', 60000, payload[b'sr:str'])
    m1.call('SET', 'sr:after', 'still here')
    ok = wait_for(lambda: t.call('GET', 'sr:after') == b'still here', 20, r, 0.1)
    rep.check(ok, '%s: commands after SLOTSDEL and SLOTSRESTORE still arrive' % what, r.tail())
    rep.check(t.call('GET', '17') == b'old seventeen',
              '%s: SLOTSDEL 17 is not replayed: the target keeps its "17"' % what, t.call('GET', '17'))
    err = r.stderr()
    rep.check(re.search(r'127\.0\.0\.1:%d: .*SLOTSDEL 17' % g1.port, err),
              '%s: stderr names the master and "SLOTSDEL 17"' % what, tail(err))
    m1.call('SLOTSRESTORE', '17', 0, payload[b'17'])
    m1.call('SET', 'sr:after2', 'x')
    wait_for(lambda: t.call('EXISTS', 'sr:after2'), 20, r, 0.1)
    bad = []
    for k in vals:
        want = pl.call('DEBUG', 'DIGEST-VALUE', k)
        got, at = t.call('DEBUG', 'DIGEST-VALUE', k), t.call('PEXPIRETIME', k)
        if want != got or at != -1:
            bad.append('%s: digest %s (want %s), expires at %d' % (short(k), got, want, at))
    rep.check(not bad, '%s: SLOTSRESTORE key 0 payload of a string, a hash, a list, a set and a zset arrives as '
              'the same values without a TTL, and SLOTSRESTORE 17 replaces the target\'s older "17"' % what,
              '; '.join(bad))
    if abs_ttl:
        rep.check(not t.call('EXISTS', 'sr:abs') and
                  re.search(r'127\.0\.0\.1:%d: SLOTSRESTORE takes key ttl payload triples' % g1.port, r.stderr()),
                  '%s: SLOTSRESTORE key <unix ms> payload ABSTTL (what a renamed 7.0 RESTORE propagates for a TTL, '
                  'never sent by codis-server) is reported as malformed and not applied' % what, tail(r.stderr()))
    # a SLOTSDEL whose argument is no slot number (codis-server would refuse it): reported too
    m1.call('SLOTSDEL', 'g1:s')
    m1.call('SET', 'sr:after3', 'x')
    wait_for(lambda: t.call('EXISTS', 'sr:after3'), 20, r, 0.1)
    rep.check(t.call('GET', 'g1:s') == b'snap' and 'g1:s' in r.stderr(),
              '%s: SLOTSDEL g1:s is reported naming its argument, and not replayed' % what, tail(r.stderr()))
    rc = r.stop(signal.SIGINT)
    nfailed = 2 + (1 if abs_ttl else 0)
    m = re.search(r'failed (\d+)', r.stdout())
    rep.check(rc == 1 and m and int(m.group(1)) == nfailed,
              '%s: SIGINT: exit 1, the summary counts the %d commands not replayed as failed' % (what, nfailed),
              'rc %r; %s' % (rc, rtail(r)))
    rep.check(t.call('GET', 'g1:s') == b'snap' and t.call('LRANGE', 'g2:l', 0, -1) == [b'a', b'b'],
              '%s: the other keys are the snapshot\'s' % what)


def stream_fake_master(ctx, d, pl, helper_port, tport, t):
    rep = ctx.rep
    what = 'stream (a codis-server 3.2 played by a socket)'
    t.call('FLUSHALL')
    # the snapshot: an RDB file from a real server, with a key the stream will replace
    snap = server(ctx, d, 'snapshot')
    sc = snap.conn()
    sc.pipeline([['SET', 'fk:old', 'from the snapshot'], ['HSET', 'fk:keep', 'a', '1'], ['SAVE']])
    with open(os.path.join(snap.dir, snap.dbfilename), 'rb') as f:
        rdb = f.read()
    sc.close()
    snap.stop()
    fake = FakeCodisMaster(rdb, helper_port)
    try:
        addr = '127.0.0.1:%d' % fake.port
        state = os.path.join(d, 'state-fake')
        r = rmig_bg(ctx, d, pipeline(codis_source(groups=[addr], extra=', state = %s' % lua_string(state)),
                                     redis_sink(tport)), 'fake')
        ok = wait_for(lambda: t.call('EXISTS', 'fk:keep') and t.call('GET', 'fk:old'), 30, r, 0.1)
        if not rep.check(ok == b'from the snapshot', '%s: rmig joins it (%s) and applies its snapshot' % (
                what, ' '.join(fake.seen)), r.tail()):
            r.stop(signal.SIGINT)
            return
        values = {b'fk:a': ['HSET', '@', 'x', '1', 'y', '2'], b'fk:b': ['RPUSH', '@', 'p', 'q', 'r'],
                  b'fk:old': ['SET', '@', 'restored over the snapshot'],
                  b'fk:c': ['ZADD', '@', '1.5', 'one', '-2', 'two'],
                  b'{t}fk:d': ['SADD', '@', 'm1', 'm2'], b'fk:e': ['SET', '@', 'e'], b'fk:f': ['RPUSH', '@', 'f', 'g']}
        pl.call('FLUSHALL')
        payload = {}
        for k, c in values.items():
            pl.call(*[k if a == '@' else a for a in c])
            payload[k] = pl.call('DUMP', k)

        def round_(label, restores):
            """Sends the SLOTSRESTOREs (each a list of (key, ttl)) at once,
            then a mark; checks every key on the target."""
            mark = 'fk:mark:%s' % label
            cmds = [['SLOTSRESTORE'] + [x for k, ttl in triples for x in (k, ttl, payload[k])] for triples in restores]
            t0 = now_ms()
            fake.send([['SELECT', 0]] + cmds + [['SET', mark, '1']])
            ok = wait_for(lambda: t.call('EXISTS', mark), 20, r, 0.02)
            t1 = now_ms() + 1
            bad = [] if ok else ['the stream did not reach the target: %s' % rtail(r, 300)]
            for k, ttl in (kt for triples in restores for kt in triples):
                if ttl:   # (a digest says whether a key has a TTL, not which)
                    pl.call('PEXPIRE', k, ttl)
                want = pl.call('DEBUG', 'DIGEST-VALUE', k)
                got, at = t.call('DEBUG', 'DIGEST-VALUE', k), t.call('PEXPIRETIME', k)
                if want != got:
                    bad.append('%s: digest %s, want %s%s' % (short(k), got[0][:10], want[0][:10],
                                                            ' (missing)' if at == -2 else ''))
                elif ttl == 0 and at != -1:
                    bad.append('%s: expires at %d, should not' % (short(k), at))
                elif ttl and not (t0 + ttl - 1 <= at <= t1 + ttl + 1):
                    bad.append('%s: expires %d ms after the send, want %d' % (short(k), at - t0, ttl))
            return bad
        bad = round_('one', [[(b'fk:a', 0), (b'fk:b', 45000), (b'fk:old', 0)]])
        rep.check(not bad, '%s: one SLOTSRESTORE with 3 key/ttl/payload triples: every key equal, fk:b expiring '
                  '45000 ms after it was applied, the others never, the snapshot\'s fk:old replaced' % what,
                  '; '.join(bad))
        # two at once: they are translated one after the other before the batch goes out
        bad = round_('two', [[(b'fk:c', 120000), (b'{t}fk:d', 7000)], [(b'fk:e', 0), (b'fk:f', 30000)]])
        rep.check(not bad, '%s: two SLOTSRESTOREs arriving together (2 triples each, relative TTLs): every key '
                  'equal, each expiring its own TTL after it was applied (or never)' % what, '; '.join(bad))
        # a big one (its TTLs' text alone over 4 KiB) and a small one at once
        pl.call('SET', 'fk:bulk', 'bulk value')
        bulk_payload = pl.call('DUMP', 'fk:bulk')
        pl.call('PEXPIRE', 'fk:bulk', 10 ** 9)
        bulk_digest = pl.call('DEBUG', 'DIGEST-VALUE', 'fk:bulk')
        bulk = [(b'fk:bulk:%d' % i, 3 * 10 ** 9 + i * 1000) for i in range(450)]
        t0 = now_ms()
        fake.send([['SLOTSRESTORE'] + [x for k, ttl in bulk for x in (k, ttl, bulk_payload)],
                   ['SLOTSRESTORE', b'fk:g', 0, payload[b'fk:e']], ['SET', 'fk:mark:bulk', '1']])
        ok = wait_for(lambda: t.call('EXISTS', 'fk:mark:bulk'), 20, r, 0.02)
        t1 = now_ms() + 1
        bad = [] if ok else ['the stream did not reach the target (%s)' % ('rmig exited %r: %s' % (
            r.proc.poll(), rtail(r, 300)) if not r.alive() else 'timeout')]
        if ok:
            got = t.pipeline([c for k, _ in bulk for c in (['DEBUG', 'DIGEST-VALUE', k], ['PEXPIRETIME', k])])
            for i, (k, ttl) in enumerate(bulk):
                d_, at = got[2 * i], got[2 * i + 1]
                if at == -2:
                    bad.append('%s: missing' % short(k))
                elif d_ != bulk_digest or not (t0 + ttl - 1 <= at <= t1 + ttl + 1):
                    bad.append('%s: %s, expires %d ms after the send, want %d' % (
                        short(k), 'equal' if d_ == bulk_digest else 'differs', at - t0, ttl))
            if t.call('GET', 'fk:g') != b'e' or t.call('PEXPIRETIME', 'fk:g') != -1:
                bad.append('fk:g: %r, expires at %r' % (t.call('GET', 'fk:g'), t.call('PEXPIRETIME', 'fk:g')))
        rep.check(not bad, '%s: a SLOTSRESTORE of 450 keys (over 4 KiB of TTL text) and another right after it: '
                  'every key equal, expiring its own TTL after it was applied' % what,
                  '%d wrong: %s' % (len(bad), '; '.join(bad[:4])))
        rep.check(t.call('HGET', 'fk:keep', 'a') == b'1', '%s: the snapshot\'s other key stays' % what)
        rc = r.stop(signal.SIGINT)
        rep.check(rc == 0 and re.search(r'failed 0\b', r.stdout()), '%s: SIGINT: exit 0, nothing failed' % what,
                  'rc %r; %s' % (rc, rtail(r)))
    finally:
        fake.stop()


# --- migration --------------------------------------------------------------------

def scenario_migration(ctx, d):
    """A slot migration between two groups while rmig reads both, as a
    synchronous Codis migration does it: the joining group runs SLOTSRESTORE
    (here a redis-server whose RESTORE is renamed so), then the leaving
    group DELs the keys in one command. Applied in the order the streams
    come (restore, then DEL) the keys would be lost."""
    rep = ctx.rep
    what = 'migration'
    renamed = ['--rename-command', 'RESTORE', 'SLOTSRESTORE']
    ping = ['--repl-ping-replica-period', '1']
    g = server(ctx, d, 'leaving', MASTER + ping)
    h = server(ctx, d, 'joining', MASTER + renamed + ping)
    tgt = server(ctx, d, 'target')
    mg, mh, t = g.conn(), h.conn(), tgt.conn()
    n = 300
    mg.pipeline([['SET', 'mv:%d' % i, 'v%d' % i] if i % 3 else ['HSET', 'mv:%d' % i, 'f', i, 'g', 'x' * 50]
                 for i in range(n)] + [['SET', 'rev:%d' % i, i] for i in range(40)] + [['SET', 'stay', 'here']])
    payload = {k: mg.call('DUMP', k) for k in ['mv:%d' % i for i in range(n)] + ['rev:%d' % i for i in range(40)]}
    names = ['127.0.0.1:%d' % g.port, '127.0.0.1:%d' % h.port]
    r = rmig_bg(ctx, d, pipeline(codis_source(groups=names), redis_sink(tgt.port)), 'migration')
    up = wait_for(lambda: len(caught_up(r, names)) == 2 and t.call('GET', 'stay') == b'here', 60, r, 0.1)
    if not rep.check(up, '%s: rmig replicates both groups' % what, r.tail()):
        r.stop(signal.SIGINT)
        return
    t0 = time.time()
    for b in range(0, n, 10):
        batch = ['mv:%d' % i for i in range(b, b + 10)]
        for k in batch:
            mh.call('SLOTSRESTORE', k, 0, payload[k])   # the joining group has them ...
        time.sleep(0.02)
        mg.call('DEL', *batch)                          # ... then the leaving group deletes them
    for i in range(40):                                 # and the other way round
        mg.call('DEL', 'rev:%d' % i)
        mh.call('SLOTSRESTORE', 'rev:%d' % i, 0, payload['rev:%d' % i])
    mh.call('DEL', 'mv:0')                              # a client's DEL, on the group the key is on now
    mh.call('SET', 'done', '1')
    ok = wait_for(lambda: t.call('GET', 'done') == b'1', 60, r, 0.1)
    took = time.time() - t0
    moved = ['mv:%d' % i for i in range(1, n)] + ['rev:%d' % i for i in range(40)]
    got = t.pipeline([['DUMP', k] for k in moved])
    lost = [k for k, v in zip(moved, got) if v != payload[k]]
    rep.check(ok and not lost, '%s: every one of %d keys moved between the groups (SLOTSRESTORE on the one, DEL of '
              'them on the other a moment later, and %d the other way round) is on the target, equal' % (
                  what, len(moved), 40), '%d lost or different, e.g. %s; %s' % (len(lost), lost[:5], r.tail()))
    rep.check(t.call('EXISTS', 'mv:0') == 0 and t.call('GET', 'stay') == b'here',
              '%s: a client\'s DEL of a moved key on its new group deletes it; other keys stay' % what)
    rc = r.stop(signal.SIGINT)
    m = re.search(r'(\d+) keys migrated in from another group \S* ?\(SLOTSRESTORE', r.stdout())
    rep.check(rc == 0 and m and int(m.group(1)) == n + 40,
              '%s: SIGINT exits 0; the summary counts the %d keys migrated in (%.1f s for the moves)' % (
                  what, n + 40, took), 'rc %r; %s' % (rc, rtail(r)))
    mh.close()
    migration_async(ctx, d, g, mg, tgt, t)
    mg.close()
    t.close()


def migration_async(ctx, d, g, mg, tgt, t):
    """The same with an asynchronous Codis migration: the joining group (a
    codis-server 3.2 played by a socket) gets SLOTSRESTORE-ASYNC string and
    object messages, and a big list in chunks ended by its expire message;
    the leaving group DELs the keys once they are there."""
    rep = ctx.rep
    what = 'migration (async)'
    t.call('FLUSHALL')
    mg.call('FLUSHALL')
    keys = ['as:%d' % i for i in range(60)]
    mg.pipeline([['SET', k, 'old'] for k in keys] + [['RPUSH', 'as:list', 'old'], ['SET', 'stay', 'here']])
    helper = server(ctx, d, 'helper')
    hc = helper.conn()
    hc.call('SAVE')
    with open(os.path.join(helper.dir, helper.dbfilename), 'rb') as f:
        empty = f.read()
    hc.call('SET', 'obj', 'an object')
    obj = hc.call('DUMP', 'obj')
    fake = FakeCodisMaster(empty, helper.port)
    try:
        names = ['127.0.0.1:%d' % g.port, '127.0.0.1:%d' % fake.port]
        r = rmig_bg(ctx, d, pipeline(codis_source(groups=names), redis_sink(tgt.port)), 'migration-async')
        up = wait_for(lambda: len(caught_up(r, names)) == 2 and t.call('GET', 'stay') == b'here', 60, r, 0.1)
        if not rep.check(up, '%s: rmig replicates a real group and a played codis-server' % what, r.tail()):
            r.stop(signal.SIGINT)
            return
        for b in range(0, len(keys), 10):
            batch = keys[b:b + 10]
            fake.send([['SLOTSRESTORE-ASYNC', 'string', k, 0, 'new ' + k] if i % 2 else
                       ['SLOTSRESTORE-ASYNC', 'object', k, 0, obj] for i, k in enumerate(batch)])
            time.sleep(0.05)
            mg.call('DEL', *batch)
        fake.send([['SLOTSRESTORE-ASYNC', 'delete', 'as:list'],
                   ['SLOTSRESTORE-ASYNC', 'list', 'as:list', 90000, 4, 'a', 'b'],
                   ['SLOTSRESTORE-ASYNC', 'list', 'as:list', 90000, 4, 'c', 'd'],
                   ['SLOTSRESTORE-ASYNC', 'expire', 'as:list', 0]])
        time.sleep(0.05)
        mg.call('DEL', 'as:list')
        # two big values arriving at once, their chunks interleaved (two groups' migration connections)
        mg.pipeline([['RPUSH', 'as:x', 'old'], ['RPUSH', 'as:y', 'old']])
        chunks = []
        for i in range(6):
            chunks += [['SLOTSRESTORE-ASYNC', 'list', k, 90000, 12, '%s%d' % (k[-1], i)] for k in ('as:x', 'as:y')]
        fake.send(chunks + [['SLOTSRESTORE-ASYNC', 'expire', 'as:x', 0], ['SLOTSRESTORE-ASYNC', 'expire', 'as:y', 0]])
        time.sleep(0.05)
        mg.call('DEL', 'as:x', 'as:y')
        fake.send([['SET', 'done', '1']])
        ok = wait_for(lambda: t.call('GET', 'done') == b'1', 60, r, 0.1)
        got = t.pipeline([['GET', k] for k in keys])
        bad = [k for i, (k, v) in enumerate(zip(keys, got))
               if v != (('new ' + k).encode() if i % 10 % 2 else b'an object')]
        lst = t.call('LRANGE', 'as:list', 0, -1)
        xy = (t.call('LRANGE', 'as:x', 0, -1), t.call('LRANGE', 'as:y', 0, -1))
        rep.check(ok and not bad and lst == [b'a', b'b', b'c', b'd'] and t.call('PTTL', 'as:list') == -1 and
                  xy == ([b'x%d' % i for i in range(6)], [b'y%d' % i for i in range(6)]),
                  '%s: every one of %d keys moved by SLOTSRESTORE-ASYNC string/object messages, a list moved in '
                  'chunks, and two lists whose chunks came interleaved, is on the target with the joining group\'s '
                  'value (the leaving group\'s DEL came after)' % (what, len(keys)),
                  '%d wrong (e.g. %s), lists %r %r; %s' % (len(bad), bad[:4], lst, xy, r.tail()))
        rc = r.stop(signal.SIGINT)
        m = re.search(r'(\d+) keys migrated in from another group', r.stdout())
        rep.check(rc == 0 and m and int(m.group(1)) == len(keys) + 3,
                  '%s: SIGINT exits 0; the summary counts each of the %d keys migrated in once' % (what, len(keys) + 3),
                  'rc %r; %s; %s' % (rc, tail(r.stdout(), 1500), tail(r.stderr(), 1500)))
    finally:
        fake.stop()
        hc.close()


SCENARIOS = [('stream_translation', scenario_stream_translation), ('migration', scenario_migration)]


def main():
    return run_scenarios(sys.argv[1:], SCENARIOS, __doc__, 'rmig-codis-stream-', Ctx(), on_end=kill_running)


if __name__ == '__main__':
    sys.exit(main())

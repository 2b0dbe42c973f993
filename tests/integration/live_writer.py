#!/usr/bin/env python3
"""A live write load for a Redis source: the traffic rmig's live (psync)
tests replicate while they run.

The sequence of commands is deterministic from the seed (times in it, such as
PEXPIREAT targets and XADD ids, are relative to the moment they are sent).
Keys come from a bounded key space, one name per (prefix, type, db, number),
e.g. "a:list:1:17", so deletes and renames hit existing keys, a key never
changes type, and keys of different dbs never share a name. Commands go out
pipelined in small batches at a bounded rate (a few thousand ops/s).

Keys that expire within the run (a few hundred ms to 3 s) are a family of
their own ("tmp") that is only ever SET or given another short TTL: a target
that expires keys by itself could otherwise end up different from the source
for reasons that are no replicator's fault (see Writer.op). Other keys get no
TTL, a long one (hours), or one in the past (deleted at once).

Kinds of load:
  all            every family: SET (plain, EX, PX, int values), EXPIRE,
                 PEXPIREAT (short, past), PERSIST, INCR/INCRBY, APPEND,
                 LPUSH/RPUSH/LPOP/LTRIM, HSET/HDEL, SADD/SREM (also integer
                 sets), ZADD/ZINCRBY/ZREM, XADD with MAXLEN, XTRIM, XGROUP
                 CREATE, XREADGROUP, XACK, XAUTOCLAIM, DEL/UNLINK, RENAME,
                 MULTI ... EXEC blocks (some with a SELECT inside), SELECT.
  nonidempotent  INCR, LPUSH and APPEND only: applying any of them twice shows.
  idempotent     assignments only (SET, SET EX/PX, HSET, HDEL, SADD, SREM, ZADD,
                 ZREM, DEL, UNLINK, EXPIRE, PEXPIREAT, PERSIST, MULTI blocks of
                 those): replaying any suffix of the stream over a later state
                 ends in the same data set, so a consumer that re-applies part
                 of the stream after a crash still ends equal to the source.

As a process:
  python3 live_writer.py --port P [--seconds S] [--dbs 0,1,2] [--seed N]
      [--kinds all|nonidempotent|idempotent] [--prefix a:[,b:...]]
      [--rate OPS_PER_S] [--value-size BYTES] [--keys N] [--password PW]
Without --seconds it writes until SIGTERM or SIGINT; then it finishes the
batch in flight and prints "N ops, E unexpected errors, S s, seed X" on
stdout. Exit 0, or 1 when the server went away.

As a module: Writer(port, ...).run(seconds=..., stop=callable) returns the
number of ops; spawn(port, ...) starts the process form and returns a
WriterProcess whose stop() returns the number of ops it wrote."""
import argparse
import os
import random
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Conn, RedisError  # noqa: E402

KINDS = ('all', 'nonidempotent', 'idempotent')

# Error replies that the load provokes on purpose (a RENAME of a key that is
# gone, a group that exists already or was deleted with its stream): they
# change nothing and are not propagated to replicas.
EXPECTED_ERRORS = ('no such key', 'BUSYGROUP', 'NOGROUP')

TYPES_ALL = ('str', 'ctr', 'app', 'list', 'hash', 'set', 'iset', 'zset', 'stream')
TYPES_NONIDEMPOTENT = ('ctr', 'list', 'app')
TYPES_IDEMPOTENT = ('str', 'hash', 'set', 'iset', 'zset')


def now_ms():
    return int(time.time() * 1000)


class Writer:
    """The load itself. `prefixes` is a list of key prefixes (each op picks
    one); `dbs` the databases it writes to; `rate` ops per second;
    `value_size` the largest string value, list element or hash value (each
    one is between half of it and all of it)."""

    def __init__(self, port, dbs=(0,), seed=1, kinds='all', prefixes=('',), rate=3000,
                 value_size=24, keys=40, password=None, host='127.0.0.1', batch=40):
        if kinds not in KINDS:
            raise ValueError('kinds must be one of %s' % ', '.join(KINDS))
        self.port = port
        self.host = host
        self.dbs = list(dbs)
        self.seed = seed
        self.kinds = kinds
        self.prefixes = list(prefixes) or ['']
        self.rate = rate
        self.value_size = max(2, value_size)
        self.keys = keys
        self.password = password
        self.batch = batch
        self.rng = random.Random(seed)
        self.db = None           # the connection's selected db (None: not selected yet)
        self.ops = 0             # data commands sent (SELECT, MULTI and EXEC not counted)
        self.errors = 0          # error replies that EXPECTED_ERRORS does not cover
        self.first_errors = []   # the first few of them, for messages
        self.delivered = []      # (key, group, id) that XREADGROUP returned, for XACKs
        self.conn = None

    # --- names and values -------------------------------------------------

    def key(self, typ, db):
        return '%s%s:%d:%d' % (self.rng.choice(self.prefixes), typ, db, self.rng.randrange(self.keys))

    def value(self):
        r = self.rng
        lo = max(1, self.value_size // 2)
        n = r.randint(lo, self.value_size)
        if r.random() < 0.15:
            return str(r.randrange(-100000, 1 << 40))   # int-encoded
        # printable and varied; randbytes is fast even for large values
        return r.randbytes((n + 1) // 2).hex()[:n]

    def small(self):
        return 'v%d' % self.rng.randrange(100000)

    def member(self):
        return 'm%d' % self.rng.randrange(60)

    # --- one operation ----------------------------------------------------

    def op(self, db):
        """One data command (a list of arguments) against db."""
        r = self.rng
        if self.kinds == 'nonidempotent':
            typ = r.choice(TYPES_NONIDEMPOTENT)
            k = self.key(typ, db)
            if typ == 'ctr':
                return ['INCR', k]
            if typ == 'list':
                return ['LPUSH', k, self.small()]
            return ['APPEND', k, self.small() + ';']
        idem = self.kinds == 'idempotent'
        families = TYPES_IDEMPOTENT if idem else TYPES_ALL
        x = r.random()
        if x < 0.06:                           # deletes of existing keys
            typ = r.choice(families + ('tmp',))
            n = r.randint(1, 3)
            prefix = r.choice(self.prefixes)   # one prefix per command: filters see whole commands
            ks = ['%s%s:%d:%d' % (prefix, typ, db, r.randrange(self.keys)) for _ in range(n)]
            return [r.choice(('DEL', 'UNLINK'))] + ks
        if x < 0.10:                           # expiry of lasting keys: long, in the past, none
            k = self.key(r.choice(families), db)
            y = r.random()
            if y < 0.6:
                return ['EXPIRE', k, r.randint(3600, 86400)]
            if y < 0.75:
                return ['PEXPIREAT', k, now_ms() - r.randint(1000, 100000)]
            return ['PERSIST', k]
        if x < 0.16:                           # keys that expire within the run
            # Only ever SET (with or without a TTL) or given another short TTL: the target expires
            # keys by itself, so a write that lands on the target just after a key expired there
            # but just before it expired on the source (APPEND, PERSIST, a long EXPIRE) would
            # make them differ for good; these differ at most until the later TTL has passed.
            k = self.key('tmp', db)
            y = r.random()
            if y < 0.5:
                return ['SET', k, self.value(), 'PX', r.randint(200, 3000)]
            if y < 0.7:
                return ['SET', k, self.value()]
            return ['PEXPIREAT', k, now_ms() + r.randint(200, 3000)]
        typ = r.choice(families)
        k = self.key(typ, db)
        y = r.random()
        if typ == 'str':
            if y < 0.55:
                return ['SET', k, self.value()]
            if y < 0.8:
                return ['SET', k, self.value(), 'EX', r.randint(3600, 86400)]
            if y < 0.9 or idem:
                return ['SET', k, str(r.randrange(1000))]
            m = k.rsplit(':', 1)[0] + ':%d' % r.randrange(self.keys)   # same prefix, type and db
            return ['RENAME', k, m]
        if typ == 'ctr':
            return ['INCR', k] if y < 0.6 else ['INCRBY', k, r.randint(-50, 1000)]
        if typ == 'app':
            return ['APPEND', k, self.small() + ';']
        if typ == 'list':
            if y < 0.35:
                return ['LPUSH', k] + [self.value() for _ in range(r.randint(1, 3))]
            if y < 0.7:
                return ['RPUSH', k] + [self.value() for _ in range(r.randint(1, 3))]
            if y < 0.85:
                return ['LPOP', k]
            if y < 0.95:
                return ['LTRIM', k, 0, 99]
            m = k.rsplit(':', 1)[0] + ':%d' % r.randrange(self.keys)
            return ['RENAME', k, m]
        if typ == 'hash':
            if y < 0.75:
                args = ['HSET', k]
                for _ in range(r.randint(1, 3)):
                    args += ['f%d' % r.randrange(40), self.value()]
                return args
            return ['HDEL', k, 'f%d' % r.randrange(40), 'f%d' % r.randrange(40)]
        if typ in ('set', 'iset'):
            gen = (lambda: str(r.randrange(200))) if typ == 'iset' else self.member
            if y < 0.7:
                return ['SADD', k] + [gen() for _ in range(r.randint(1, 4))]
            return ['SREM', k, gen(), gen()]
        if typ == 'zset':
            if y < 0.6 or (idem and y < 0.8):
                args = ['ZADD', k]
                for _ in range(r.randint(1, 3)):
                    args += [r.randrange(-1000, 1000) / 4.0, self.member()]
                return args
            if y < 0.8:
                return ['ZINCRBY', k, r.randint(1, 9) / 2.0, self.member()]
            return ['ZREM', k, self.member()]
        # stream
        if y < 0.7:
            args = ['XADD', k, 'MAXLEN', 200, '*']
            for _ in range(r.randint(1, 3)):
                args += ['f%d' % r.randrange(5), self.small()]
            return args
        if y < 0.8:
            return ['XGROUP', 'CREATE', k, 'g%d' % r.randrange(2), '0', 'MKSTREAM']
        if y < 0.93:
            return ['XREADGROUP', 'GROUP', 'g%d' % r.randrange(2), 'c%d' % r.randrange(3),
                    'COUNT', r.randint(1, 4), 'STREAMS', k, '>']
        if y < 0.96:
            return ['XTRIM', k, 'MAXLEN', r.randint(20, 150)]
        # acknowledges an entry an earlier XREADGROUP of this db delivered (the oldest one kept);
        # the same random draws either way, so the seed's sequence does not depend on the replies
        group, consumer = 'g%d' % r.randrange(2), 'c%d' % r.randrange(3)
        for i, (pk, pg, pid) in enumerate(self.delivered):
            if pk.split(':')[-2] == str(db):
                del self.delivered[i]
                return ['XACK', pk, pg, pid]
        return ['XAUTOCLAIM', k, group, consumer, 0, '0-0', 'COUNT', 2, 'JUSTID']

    def commands(self, n):
        """About n data commands, with the SELECTs and MULTI/EXEC around
        them: a list of argument lists, and how many of them are data."""
        r = self.rng
        out = []
        data = 0
        while data < n:
            if self.db is None or r.random() < 0.1:
                db = r.choice(self.dbs)
                if db != self.db:
                    out.append(['SELECT', db])
                    self.db = db
            if self.kinds != 'nonidempotent' and r.random() < 0.05:
                out.append(['MULTI'])
                for _ in range(r.randint(2, 5)):
                    if len(self.dbs) > 1 and r.random() < 0.15:
                        db = r.choice(self.dbs)
                        if db != self.db:
                            out.append(['SELECT', db])   # takes effect inside the transaction
                            self.db = db
                    out.append(self.op(self.db))
                    data += 1
                out.append(['EXEC'])
                continue
            out.append(self.op(self.db))
            data += 1
        return out, data

    # --- sending ----------------------------------------------------------

    def connect(self):
        self.conn = Conn(self.port, host=self.host, timeout=30)
        if self.password:
            self.conn.call('AUTH', self.password)
        self.db = None

    def _note_delivered(self, cmd, reply):
        if not isinstance(reply, list) or len(self.delivered) > 200:
            return
        for stream in reply:
            if isinstance(stream, list) and len(stream) == 2 and isinstance(stream[1], list):
                for entry in stream[1]:
                    if isinstance(entry, list) and entry and isinstance(entry[0], bytes):
                        self.delivered.append((stream[0].decode(), cmd[2], entry[0].decode()))

    def _check_replies(self, cmds, replies):
        """Counts unexpected errors and notes what XREADGROUP delivered; the
        commands queued in a MULTI are paired with the EXEC's reply."""
        queued = None
        pairs = []
        for cmd, reply in zip(cmds, replies):
            if cmd[0] == 'MULTI':
                queued = []
            elif cmd[0] == 'EXEC':
                if isinstance(reply, list):
                    pairs.extend(zip(queued, reply))
                else:
                    pairs.append((cmd, reply))
                queued = None
            elif queued is not None:
                queued.append(cmd)
            else:
                pairs.append((cmd, reply))
        for cmd, reply in pairs:
            if cmd[0] == 'XREADGROUP':
                self._note_delivered(cmd, reply)
            if isinstance(reply, RedisError):
                msg = str(reply)
                if any(e in msg for e in EXPECTED_ERRORS):
                    continue
                self.errors += 1
                if len(self.first_errors) < 5:
                    self.first_errors.append('%s: %s' % (' '.join(str(a) for a in cmd)[:80], msg))

    def step(self):
        """Sends one batch and reads its replies; returns its data ops."""
        if self.conn is None:
            self.connect()
        cmds, data = self.commands(self.batch)
        replies = self.conn.pipeline(cmds)
        self._check_replies(cmds, replies)
        self.ops += data
        return data

    def run(self, seconds=None, stop=None):
        """Writes until `seconds` have passed or stop() returns true (either
        or both); returns the number of ops written by this call."""
        start = time.time()
        done = 0
        while True:
            if seconds is not None and time.time() - start >= seconds:
                break
            if stop is not None and stop():
                break
            done += self.step()
            if self.rate:
                ahead = start + done / float(self.rate) - time.time()
                if ahead > 0:
                    time.sleep(min(ahead, 0.2))
        return done

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class WriterProcess:
    """live_writer.py running as a process of its own (see spawn())."""

    def __init__(self, proc, args):
        self.proc = proc
        self.args = args
        self.ops = None
        self.output = ''

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, then the number of ops it reports (None when it failed;
        self.output has what it printed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.output = (out + err).decode('utf-8', 'replace')
        self.ops = parse_ops(out.decode('utf-8', 'replace'))
        return self.ops

    def unexpected_errors(self):
        for line in self.output.splitlines():
            if ' ops, ' in line and 'unexpected errors' in line:
                return int(line.split(' ops, ')[1].split()[0])
        return None


def parse_ops(text):
    """The N of the final "N ops, ..." line, or None."""
    for line in text.splitlines():
        if ' ops, ' in line:
            try:
                return int(line.split(' ops, ')[0])
            except ValueError:
                pass
    return None


def spawn(port, seconds=None, dbs=(0,), seed=1, kinds='all', prefixes=('',), rate=3000,
          value_size=24, keys=40, password=None):
    """Starts the writer as a process; stop it with .stop()."""
    args = [sys.executable, os.path.abspath(__file__), '--port', str(port), '--dbs', ','.join(map(str, dbs)),
            '--seed', str(seed), '--kinds', kinds, '--prefix', ','.join(prefixes), '--rate', str(rate),
            '--value-size', str(value_size), '--keys', str(keys)]
    if seconds is not None:
        args += ['--seconds', str(seconds)]
    if password:
        args += ['--password', password]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return WriterProcess(proc, args)


def main(argv=None):
    ap = argparse.ArgumentParser(description='A deterministic live write load for a Redis server.')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--seconds', type=float, help='stop after this long (default: until SIGTERM/SIGINT)')
    ap.add_argument('--dbs', default='0', help='comma-separated databases, e.g. 0,1,2')
    ap.add_argument('--seed', type=int, default=int(os.environ.get('RMIG_TEST_SEED', '1')))
    ap.add_argument('--kinds', choices=KINDS, default='all')
    ap.add_argument('--prefix', default='', help='key prefix, or several separated by commas (a:,b:,c:)')
    ap.add_argument('--rate', type=int, default=3000, help='ops per second (0: as fast as possible)')
    ap.add_argument('--value-size', type=int, default=24, help='largest value, list element or hash value')
    ap.add_argument('--keys', type=int, default=40, help='keys per (prefix, type, db)')
    ap.add_argument('--password')
    a = ap.parse_args(argv)

    stopping = []

    def on_signal(_signum, _frame):
        stopping.append(True)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    w = Writer(a.port, dbs=[int(d) for d in a.dbs.split(',') if d != ''], seed=a.seed, kinds=a.kinds,
               prefixes=a.prefix.split(','), rate=a.rate, value_size=a.value_size, keys=a.keys,
               password=a.password, host=a.host)
    t0 = time.time()
    rc = 0
    try:
        w.run(seconds=a.seconds, stop=lambda: bool(stopping))
    except (OSError, ConnectionError, RedisError) as e:
        print('live_writer: %s:%d: %s' % (a.host, a.port, e), file=sys.stderr)
        rc = 1
    finally:
        w.close()
    for e in w.first_errors:
        print('live_writer: unexpected error: %s' % e, file=sys.stderr)
    print('%d ops, %d unexpected errors, %.1f s, seed %d' % (w.ops, w.errors, time.time() - t0, a.seed), flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())

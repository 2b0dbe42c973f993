"""A stand-in for codis-proxy 3.2 in front of real redis-servers playing
the group masters, for the tests of rmig.sink.codis { proxy = ... }.

No codis-proxy is packaged for Debian, so this plays the part of it that a
writer meets, as codis's pkg/proxy (mapper.go, session.go, router.go) has
it:
  - every command goes to the group master of its slot, the slot being
    crc32 (zlib) of the first argument after the name (its tag, between the
    first '{' and the next '}', even an empty one) % 1024;
  - the commands mapper.go marks FlagNotAllow (RESTORE, MULTI, EXEC, SCAN,
    KEYS, CONFIG, FLUSHALL, ...) are refused with an error, the connection
    kept;
  - SLOTSRESTORE key ttl payload [key ttl payload ...] goes, whole, to the
    master of its first key, where codis-server applies each triple
    replacing the key, the TTL relative in ms (0: none). The masters here are
    redis-servers, so each triple is applied as RESTORE key ttl payload
    REPLACE;
  - DEL, EXISTS, TOUCH and UNLINK of several keys are split per key (their
    answers summed), MSET per pair;
  - AUTH against session_auth (NOAUTH before it), PING, QUIT and SELECT
    answered by the proxy itself (SELECT picks the masters' db).
With version='3.2.8' it also plays codis-server 3.2 behind it: INFO says that
version, HSET takes one field and SET takes no PXAT/EXAT/KEEPTTL/GET, as in
Redis 3.2 (the masters themselves are 7.0).

`counts` holds how many of each command (upper case) the proxy was sent;
`refused` the names it refused; `errors` what went wrong in the stand-in
itself (a session it had to drop)."""
import socket
import threading
import zlib

NOT_ALLOWED = {
    'ASKING', 'BGREWRITEAOF', 'BGSAVE', 'BITOP', 'BLPOP', 'BRPOP', 'BRPOPLPUSH', 'CLIENT', 'CLUSTER', 'CONFIG',
    'DBSIZE', 'DEBUG', 'DISCARD', 'EXEC', 'FLUSHALL', 'FLUSHDB', 'KEYS', 'LASTSAVE', 'LATENCY', 'MIGRATE', 'MONITOR',
    'MOVE', 'MSETNX', 'MULTI', 'OBJECT', 'PSUBSCRIBE', 'PSYNC', 'PUBLISH', 'PUNSUBSCRIBE', 'RANDOMKEY', 'READONLY',
    'READWRITE', 'RENAME', 'RENAMENX', 'REPLCONF', 'RESTORE', 'RESTORE-ASKING', 'SAVE', 'SCAN', 'SCRIPT', 'SHUTDOWN',
    'SLAVEOF', 'SLOTSCHECK', 'SLOTSDEL', 'SLOTSMGRTONE', 'SLOTSMGRTSLOT', 'SLOTSMGRTTAGONE', 'SLOTSMGRTTAGSLOT',
    'SLOTSMGRTONE-ASYNC', 'SLOTSMGRTSLOT-ASYNC', 'SLOTSMGRTTAGONE-ASYNC', 'SLOTSMGRTTAGSLOT-ASYNC',
    'SLOTSMGRT-ASYNC-FENCE', 'SLOTSMGRT-ASYNC-CANCEL', 'SLOTSMGRT-ASYNC-STATUS', 'SLOTSMGRT-EXEC-WRAPPER',
    'SLOTSRESTORE-ASYNC', 'SLOTSRESTORE-ASYNC-AUTH', 'SLOTSRESTORE-ASYNC-ACK', 'SLOWLOG', 'SUBSCRIBE', 'SYNC', 'TIME',
    'UNSUBSCRIBE', 'UNWATCH', 'WAIT', 'WATCH',
}
SPLIT_KEYS = {'DEL', 'EXISTS', 'TOUCH', 'UNLINK'}
QUIT = object()


def codis_slot(key):
    b = key.find(b'{')
    if b >= 0:
        e = key.find(b'}', b + 1)
        if e >= 0:
            key = key[b + 1:e]
    return zlib.crc32(key) % 1024


def enc(args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Buf:
    """Bytes from a socket, parsed a command or a raw reply at a time."""

    def __init__(self, sock):
        self.s, self.b, self.pos = sock, b'', 0

    def more(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError
        self.b = self.b[self.pos:] + d
        self.pos = 0

    def pending(self):
        return self.pos < len(self.b)

    def _line(self, at):
        i = self.b.find(b'\r\n', at)
        return (None, None) if i < 0 else (self.b[at:i], i + 2)

    def _skip(self, at):
        """The end of the reply starting at `at`, or None when incomplete."""
        line, nxt = self._line(at)
        if line is None:
            return None
        t = line[:1]
        if t in (b'+', b'-', b':'):
            return nxt
        n = int(line[1:])
        if t == b'$':
            if n < 0:
                return nxt
            return nxt + n + 2 if nxt + n + 2 <= len(self.b) else None
        for _ in range(max(n, 0)):
            nxt = self._skip(nxt)
            if nxt is None:
                return None
        return nxt

    def reply(self):
        while True:
            end = self._skip(self.pos) if self.pending() else None
            if end is not None:
                r, self.pos = self.b[self.pos:end], end
                return r
            self.more()

    def command(self):
        """The next complete command's arguments, or None (wait for more)."""
        line, at = self._line(self.pos)
        if line is None:
            return None
        if not line.startswith(b'*'):
            raise ValueError('inline command %r' % line[:40])
        args = []
        for _ in range(int(line[1:])):
            ln, at2 = self._line(at)
            if ln is None:
                return None
            n = int(ln[1:])
            if at2 + n + 2 > len(self.b):
                return None
            args.append(self.b[at2:at2 + n])
            at = at2 + n + 2
        self.pos = at
        return args


class CodisProxy:
    def __init__(self, port_of_slot, password=None, version=None):
        """port_of_slot(slot) -> the port of its group master (on 127.0.0.1)."""
        self.port_of_slot, self.password, self.version = port_of_slot, password, version
        self.counts, self.refused, self.errors, self.lock = {}, [], [], threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.addr = '127.0.0.1:%d' % self.port
        self.stopped = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopped = True
        for s in [self.ls] + self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def count(self, name):
        return self.counts.get(name, 0)

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.socks.append(c)
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _session(self, c):
        sess = {'auth': self.password is None, 'db': 0, 'back': {}}
        inb = Buf(c)
        try:
            while True:
                inb.more()
                todo = []
                while True:
                    args = inb.command()
                    if args is None:
                        break
                    todo.append(self._dispatch(sess, args))
                c.sendall(b''.join(t() if callable(t) else t for t in todo if t is not QUIT))
                if QUIT in todo:
                    c.sendall(b'+OK\r\n')
                    break
        except (EOFError, OSError):
            pass
        except Exception as e:    # a stand-in's own bug: the test reports it (errors)
            with self.lock:
                self.errors.append('%s: %r' % (type(e).__name__, e))
        finally:
            for b in sess['back'].values():
                b[0].close()
            c.close()

    def _backend(self, sess, port):
        b = sess['back'].get(port)
        if b is None:
            s = socket.create_connection(('127.0.0.1', port))
            self.socks.append(s)
            b = sess['back'][port] = [s, Buf(s), 0]
        if b[2] != sess['db']:
            b[0].sendall(enc([b'SELECT', b'%d' % sess['db']]))
            b[1].reply()
            b[2] = sess['db']
        return b

    def _send(self, sess, key, cmds, combine):
        """cmds to the master of key's slot now; a thunk reading their replies."""
        b = self._backend(sess, self.port_of_slot(codis_slot(key)))
        b[0].sendall(b''.join(enc(a) for a in cmds))
        return lambda: combine([b[1].reply() for _ in cmds])

    def _dispatch(self, sess, args):
        name = args[0].decode('latin-1').upper()
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
        if name == 'AUTH':
            ok = self.password is not None and len(args) == 2 and args[1].decode('latin-1') == self.password
            sess['auth'] = sess['auth'] or ok
            return b'+OK\r\n' if ok else b'-ERR invalid password\r\n'
        if not sess['auth']:
            return b'-NOAUTH Authentication required.\r\n'
        if name == 'PING':
            return b'+PONG\r\n'
        if name == 'QUIT':
            return QUIT
        if name == 'SELECT':
            try:
                db = int(args[1])
            except (IndexError, ValueError):
                return b'-ERR invalid DB index\r\n'
            if not 0 <= db < 16:
                return b'-ERR invalid DB index, only accept DB [0,16)\r\n'
            sess['db'] = db
            return b'+OK\r\n'
        if name in NOT_ALLOWED:
            with self.lock:
                self.refused.append(name)
            return b"-ERR handle request, command '%s' is not allowed\r\n" % name.encode()
        if self.version:
            if name == 'HSET' and len(args) != 4:
                return b"-ERR wrong number of arguments for 'hset' command\r\n"
            if name == 'SET' and any(a.upper() in (b'PXAT', b'EXAT', b'KEEPTTL', b'GET') for a in args[3:]):
                return b'-ERR syntax error\r\n'
        if name == 'SLOTSRESTORE':
            if len(args) < 4 or (len(args) - 1) % 3:
                return b"-ERR wrong number of arguments for 'slotsrestore' command\r\n"
            cmds = [[b'RESTORE', args[i], args[i + 1], args[i + 2], b'REPLACE'] for i in range(1, len(args), 3)]
            return self._send(sess, args[1], cmds, lambda rs: next((r for r in rs if r[:1] == b'-'), b'+OK\r\n'))
        if name in SPLIT_KEYS and len(args) > 2:
            thunks = [self._send(sess, k, [[args[0], k]], lambda rs: rs[0]) for k in args[1:]]
            return lambda: self._sum([t() for t in thunks])
        if name == 'MSET' and len(args) > 3 and len(args) % 2 == 1:
            thunks = [self._send(sess, args[i], [[b'SET', args[i], args[i + 1]]], lambda rs: rs[0])
                      for i in range(1, len(args), 2)]
            return lambda: next((r for r in (t() for t in thunks) if r[:1] == b'-'), b'+OK\r\n')
        key = args[1] if len(args) > 1 else b''
        if name == 'INFO' and self.version:
            return self._send(sess, key, [args], lambda rs: self._info(rs[0]))
        return self._send(sess, key, [args], lambda rs: rs[0])

    @staticmethod
    def _sum(rs):
        err = next((r for r in rs if r[:1] == b'-'), None)
        return err or b':%d\r\n' % sum(int(r[1:-2]) for r in rs)

    def _info(self, raw):
        """The master's INFO as codis-server VERSION's (its redis_version)."""
        nl = raw.index(b'\r\n')
        body = raw[nl + 2:-2]
        lines = [b'redis_version:%s' % self.version.encode() if ln.startswith(b'redis_version:') else ln
                 for ln in body.split(b'\r\n')]
        body = b'\r\n'.join(lines)
        return b'$%d\r\n%s\r\n' % (len(body), body)

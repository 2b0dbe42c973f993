"""A real Redis Cluster on loopback ports for rmig's integration tests and
benchmarks (Python 3 standard library only).

    with Cluster(tmpdir, masters=3, replicas=1) as cl:
        host, port = cl.masters()[0]
        cl.migrate_slot(cl.keyslot(b'k'), src_port, dst_port)
        cl.failover(cl.replicas()[0][1])

Cluster() starts masters * (1 + replicas) redis-servers (redis_harness.Server,
each in its own directory under tmpdir, with --cluster-enabled yes
--cluster-config-file nodes.conf --cluster-node-timeout 2000 plus `config`),
on ports where the port and its cluster bus (port + 10000) are free, joins
them with `redis-cli --cluster create` (by hand with CLUSTER ADDSLOTSRANGE
and MEET when masters < 3, which redis-cli refuses) and returns once every
node reports cluster_state:ok with all 16384 slots and every replica's link
is up. The servers are stopped by stop(), by a `with` block, or at
interpreter exit like every redis_harness.Server.

Who is master and who owns which slot is always asked from the servers
(CLUSTER NODES), so the answers stay right after migrate_slot() and
failover().

As a script: python3 cluster_harness.py [--masters N] [--replicas N]
checks itself (creation, keyslot, migrate_slot, failover) and exits 0."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import Conn, RedisError, Server, free_port  # noqa: E402

SLOTS = 16384
BUS_OFFSET = 10000
MAX_PORT = 65535 - BUS_OFFSET   # a port whose bus port still exists

CLUSTER_CONFIG = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
                  '--cluster-node-timeout', '2000',
                  # replicas sync at once (7.0 waits 5 s for more replicas to join a diskless sync)
                  '--repl-diskless-sync-delay', '0']


# --- key slots ------------------------------------------------------------------

def _crc16_table():
    t = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return t


_CRC16 = _crc16_table()


def crc16(data):
    """CRC16-CCITT (XModem), the one Redis Cluster hashes keys with."""
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ b) & 0xFF]
    return crc


def slot_of(key):
    """A key's slot computed here (hash tags included), without a server:
    for many keys at once. Cluster.keyslot() asks a server."""
    if isinstance(key, str):
        key = key.encode()
    s = key.find(b'{')
    if s >= 0:
        e = key.find(b'}', s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % SLOTS


# --- ports ----------------------------------------------------------------------

def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_cluster_port(taken=()):
    """A loopback port below 55535 that is free, as is port + 10000."""
    for _ in range(2000):
        p = free_port()
        if p < MAX_PORT and p not in taken and p + BUS_OFFSET not in taken and _bindable(p + BUS_OFFSET):
            return p
    raise RuntimeError('no free port pair (port, port + %d) found' % BUS_OFFSET)


# --- CLUSTER NODES ----------------------------------------------------------------

class Node:
    """One line of CLUSTER NODES."""

    def __init__(self, line):
        f = line.split()
        self.id = f[0]
        addr = f[1].split('@')[0].split(',')[0]
        host, _, port = addr.rpartition(':')
        self.host = host
        self.port = int(port) if port else 0
        self.flags = set(f[2].split(','))
        self.master_id = None if f[3] == '-' else f[3]
        self.epoch = int(f[6])
        self.link = f[7]
        self.slots = []            # [(first, last)]
        self.migrating = {}        # slot -> node id (on the node that answered only)
        self.importing = {}
        for s in f[8:]:
            if s.startswith('['):
                body = s[1:-1]
                if '->-' in body:
                    a, b = body.split('->-')
                    self.migrating[int(a)] = b
                elif '-<-' in body:
                    a, b = body.split('-<-')
                    self.importing[int(a)] = b
            elif '-' in s:
                a, b = s.split('-')
                self.slots.append((int(a), int(b)))
            else:
                self.slots.append((int(s), int(s)))

    @property
    def is_master(self):
        return 'master' in self.flags

    @property
    def failed(self):
        return 'fail' in self.flags or 'fail?' in self.flags or 'noaddr' in self.flags

    def slot_count(self):
        return sum(b - a + 1 for a, b in self.slots)

    def addr(self):
        return (self.host, self.port)

    def __repr__(self):
        return '<%s %s:%d %s %d slots>' % (self.id[:8], self.host, self.port, ','.join(sorted(self.flags)),
                                          self.slot_count())


def parse_nodes(text):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    return [Node(l) for l in text.splitlines() if l.strip()]


def _info(c, section):
    out = {}
    for line in c.call('INFO', section).decode().splitlines():
        if ':' in line and not line.startswith('#'):
            k, v = line.split(':', 1)
            out[k] = v.strip()
    return out


def _cluster_info(c):
    out = {}
    for line in c.call('CLUSTER', 'INFO').decode().splitlines():
        if ':' in line:
            k, v = line.split(':', 1)
            out[k] = v.strip()
    return out


# --- the cluster ------------------------------------------------------------------

class Cluster:
    """masters * (1 + replicas) redis-servers joined as one cluster. `config`
    is a list of extra "--name value" arguments for every node; `base_port`
    makes the ports consecutive from it (each port's bus port must be free
    too) instead of picked free ones."""

    def __init__(self, tmpdir, masters=3, replicas=0, base_port=None, config=(), timeout=60):
        if masters < 1 or replicas < 0:
            raise ValueError('masters must be at least 1 and replicas at least 0')
        self.tmpdir = tmpdir
        self.n_masters = masters
        self.n_replicas = replicas
        self.config = list(config)
        self.servers = []                 # redis_harness.Server, in creation order
        self._local = threading.local()   # per thread: {port: Conn} (a Conn is not thread-safe)
        self._all_conns = []
        self._lock = threading.Lock()
        try:
            self._start_servers(base_port)
            self._create(timeout)
        except BaseException:
            self.stop()
            raise

    # -- start and stop

    def _start_servers(self, base_port):
        total = self.n_masters * (1 + self.n_replicas)
        taken = set()
        for i in range(total):
            d = os.path.join(self.tmpdir, 'node%d' % i)
            if os.path.exists(d):
                shutil.rmtree(d, True)   # a nodes.conf left over would be another cluster
            cfg = ['--save', '', '--appendonly', 'no'] + CLUSTER_CONFIG + self.config
            last = None
            for _attempt in range(1 if base_port else 8):
                port = base_port + i if base_port else free_cluster_port(taken)
                if port >= MAX_PORT:
                    raise RuntimeError('port %d: its cluster bus port %d does not exist' % (port, port + BUS_OFFSET))
                srv = Server(d, config=cfg, name='node%d' % i)
                try:
                    srv.start(attempts=1, port=port)
                except RuntimeError as e:
                    last = e
                    continue
                taken.update((port, port + BUS_OFFSET))
                self.servers.append(srv)
                break
            else:
                raise RuntimeError('cluster node %d did not start: %s' % (i, last))

    def _create(self, timeout):
        ports = [s.port for s in self.servers]
        if self.n_masters >= 3 and shutil.which('redis-cli'):
            args = ['redis-cli', '--cluster', 'create'] + ['127.0.0.1:%d' % p for p in ports] + \
                   ['--cluster-replicas', str(self.n_replicas), '--cluster-yes']
            p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=timeout)
            out = p.stdout.decode('utf-8', 'replace')
            if p.returncode != 0 or '[OK] All 16384 slots covered' not in out:
                raise RuntimeError('redis-cli --cluster create failed (exit %d): %s' % (p.returncode, out[-1500:]))
        else:
            self._create_by_hand()
        self.wait_ok(timeout)

    def _create_by_hand(self):
        """CLUSTER ADDSLOTSRANGE, MEET and REPLICATE: what redis-cli does,
        for fewer than 3 masters too."""
        m = self.n_masters
        masters, replicas = self.servers[:m], self.servers[m:]
        for i, s in enumerate(masters):
            a, b = i * SLOTS // m, (i + 1) * SLOTS // m - 1
            self._c(s.port).call('CLUSTER', 'ADDSLOTSRANGE', a, b)
            self._c(s.port).call('CLUSTER', 'SET-CONFIG-EPOCH', i + 1)
        first = self.servers[0].port
        for s in self.servers[1:]:
            self._c(s.port).call('CLUSTER', 'MEET', '127.0.0.1', first)
        self._wait(lambda: all(int(_cluster_info(self._c(s.port))['cluster_known_nodes']) == len(self.servers)
                               for s in self.servers), 30, 'every node to know every other one')
        for j, s in enumerate(replicas):
            master = masters[j % m]
            mid = self.node_id(master.port)
            self._wait(lambda: any(n.id == mid for n in self.nodes(s.port)), 30,
                       'node %d to know master %d' % (s.port, master.port))
            self._c(s.port).call('CLUSTER', 'REPLICATE', mid)

    def stop(self):
        with self._lock:
            for c in self._all_conns:
                c.close()
            del self._all_conns[:]
        self._local = threading.local()
        for s in self.servers:
            s.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- connections

    def conn(self, port, timeout=60):
        """A new redis_harness.Conn to the node on `port` (the caller closes it)."""
        return Conn(port, timeout=timeout)

    def _conns(self):
        d = getattr(self._local, 'conns', None)
        if d is None:
            d = self._local.conns = {}
        return d

    def _c(self, port):
        """A cached connection for the harness's own calls, one per thread
        and port: the methods may be called from several threads (a slot
        migration in one, checks in another)."""
        conns = self._conns()
        c = conns.get(port)
        if c is None:
            c = conns[port] = Conn(port, timeout=30)
            with self._lock:
                self._all_conns.append(c)
        return c

    def _call(self, port, *args):
        """A call on the cached connection, reconnecting once if it broke
        (a node restarted, a CLIENT KILL)."""
        try:
            return self._c(port).call(*args)
        except (ConnectionError, OSError):
            c = self._conns().pop(port, None)
            if c:
                c.close()
            return self._c(port).call(*args)

    def ports(self):
        """The ports of every node started, masters and replicas."""
        return [s.port for s in self.servers if s.proc is not None]

    def server(self, port):
        for s in self.servers:
            if s.port == port:
                return s
        raise KeyError(port)

    # -- topology

    def nodes(self, port=None):
        """CLUSTER NODES as Node objects, asked from `port` or the first
        node that answers."""
        for p in ([port] if port else self.ports()):
            try:
                return parse_nodes(self._call(p, 'CLUSTER', 'NODES'))
            except (ConnectionError, OSError):
                if port:
                    raise
        raise RuntimeError('no cluster node answers')

    def node_id(self, port):
        return self._call(port, 'CLUSTER', 'MYID').decode()

    def masters(self):
        """[(host, port)] of the masters now (not failed), those owning
        slots first in slot order, then masters without slots."""
        ms = [n for n in self.nodes() if n.is_master and not n.failed]
        ms.sort(key=lambda n: (min(a for a, _ in n.slots) if n.slots else SLOTS, n.port))
        return [n.addr() for n in ms]

    def replicas(self):
        """[(host, port)] of the replicas now."""
        return sorted((n.addr() for n in self.nodes() if 'slave' in n.flags and not n.failed),
                      key=lambda a: a[1])

    def replicas_of(self, master_port):
        ns = self.nodes()
        mid = [n.id for n in ns if n.port == master_port]
        return sorted(n.addr() for n in ns if mid and n.master_id == mid[0] and not n.failed)

    def slot_map(self):
        """A list of 16384 (host, port) owners (None for an unowned slot)."""
        owners = [None] * SLOTS
        for n in self.nodes():
            if n.is_master and not n.failed:
                for a, b in n.slots:
                    for s in range(a, b + 1):
                        owners[s] = n.addr()
        return owners

    def node_for_slot(self, slot):
        """(host, port) of the master owning `slot`, or None."""
        for n in self.nodes():
            if n.is_master and not n.failed and any(a <= slot <= b for a, b in n.slots):
                return n.addr()
        return None

    def keyslot(self, key):
        """CLUSTER KEYSLOT key, asked from a node."""
        return self._call(self.ports()[0], 'CLUSTER', 'KEYSLOT', key)

    def keyslots(self, keys):
        """CLUSTER KEYSLOT of many keys, pipelined on one node."""
        return self._c(self.ports()[0]).pipeline([['CLUSTER', 'KEYSLOT', k] for k in keys])

    # -- state

    def _wait(self, cond, timeout, what):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                v = cond()
                if v:
                    return v
            except (ConnectionError, OSError, RedisError, KeyError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError('timed out after %d s waiting for %s%s' % (timeout, what,
                                                                      ' (last error: %s)' % last if last else ''))

    def _all_ok(self):
        ports = self.ports()
        views = []
        for p in ports:
            ci = _cluster_info(self._c(p))
            if ci.get('cluster_state') != 'ok' or ci.get('cluster_slots_ok') != str(SLOTS):
                return False
            if int(ci.get('cluster_known_nodes', 0)) != len(ports):
                return False
            ns = self.nodes(p)
            if any(n.failed for n in ns):
                return False
            views.append(sorted((n.port, n.is_master, tuple(n.slots)) for n in ns))
        if any(v != views[0] for v in views):
            return False     # the nodes do not agree on roles and slots yet
        for n in self.nodes(ports[0]):
            if not n.is_master:
                r = _info(self._c(n.port), 'replication')
                if r.get('master_link_status') != 'up':
                    return False
        return True

    def wait_ok(self, timeout=60):
        """Until every node reports cluster_state:ok with all slots, they
        agree on roles and slots, and every replica is in sync."""
        self._wait(self._all_ok, timeout, 'cluster_state:ok on every node with %d slots' % SLOTS)
        return self

    def all_keys(self, count=1000):
        """{key: port of the master holding it}, by SCAN on every master (a
        key on two masters shows up once: see keys_by_master for that)."""
        out = {}
        for port, keys in self.keys_by_master(count).items():
            for k in keys:
                out[k] = port
        return out

    def keys_by_master(self, count=1000):
        """{master port: [keys]} by SCAN on every master."""
        out = {}
        for _host, port in self.masters():
            c = self._c(port)
            cur, keys = b'0', []
            while True:
                cur, part = c.call('SCAN', cur, 'COUNT', count)
                keys.extend(part)
                if cur == b'0':
                    break
            out[port] = keys
        return out

    def dbsize(self):
        """The total of DBSIZE over the masters."""
        return sum(self._call(p, 'DBSIZE') for _h, p in self.masters())

    def digest(self):
        """The masters' data set as one DEBUG DIGEST (hex), equal to a
        standalone server's holding the same keys in db 0. A server's digest
        is SHA1(SHA1(the db number as 4 bytes)) (mixDigest on zeros) XOR the
        digests of its keys,
        or zeros when it is empty; so the masters' digests XORed together
        are the keys' XOR plus that term once per non-empty master, which
        is added once more when their count is even."""
        acc = 0
        nonempty = 0
        for _h, p in self.masters():
            d = self._call(p, 'DEBUG', 'DIGEST')
            d = d.decode() if isinstance(d, bytes) else d
            if int(d, 16):
                nonempty += 1
                acc ^= int(d, 16)
        if acc == 0 and nonempty == 0:
            return '0' * 40
        if nonempty % 2 == 0:
            acc ^= int(hashlib.sha1(hashlib.sha1(b'\0' * 4).digest()).hexdigest(), 16)
        return '%040x' % acc

    def flushall(self, timeout=30):
        """FLUSHALL on every master, then until the replicas are empty too."""
        for _h, p in self.masters():
            self._call(p, 'FLUSHALL')
        for _h, p in self.replicas():
            self._wait(lambda: self._call(p, 'DBSIZE') == 0, timeout, 'replica %d to be empty' % p)

    # -- changes

    def migrate_slot(self, slot, src_port, dst_port, pause_between_batches=0, batch=100, timeout_ms=5000,
                     replace=False, before_last=None):
        """Moves `slot` from the master on src_port to the one on dst_port
        the way redis-cli --cluster reshard does: SETSLOT IMPORTING on the
        destination, MIGRATING on the source, GETKEYSINSLOT + MIGRATE ...
        KEYS batches (sleeping pause_between_batches seconds between them,
        so clients meet ASK and TRYAGAIN replies), then SETSLOT NODE on
        the destination, the source and every other master. `before_last`,
        when given, is called before the SETSLOT NODEs. Returns the number
        of keys moved."""
        if src_port == dst_port:
            raise ValueError('slot %d: source and destination are the same node %d' % (slot, src_port))
        src_id, dst_id = self.node_id(src_port), self.node_id(dst_port)
        self._call(dst_port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', src_id)
        self._call(src_port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', dst_id)
        moved = 0
        while True:
            keys = self._call(src_port, 'CLUSTER', 'GETKEYSINSLOT', slot, batch)
            if not keys:
                break
            args = ['MIGRATE', '127.0.0.1', dst_port, '', 0, timeout_ms]
            if replace:
                args.append('REPLACE')
            r = self._call(src_port, *(args + ['KEYS'] + keys))
            if r != 'OK' and r != 'NOKEY':
                raise RuntimeError('MIGRATE of slot %d from %d to %d: %r' % (slot, src_port, dst_port, r))
            moved += len(keys)
            if pause_between_batches:
                time.sleep(pause_between_batches)
        if before_last:
            before_last()
        self._call(dst_port, 'CLUSTER', 'SETSLOT', slot, 'NODE', dst_id)
        self._call(src_port, 'CLUSTER', 'SETSLOT', slot, 'NODE', dst_id)
        for _h, p in self.masters():
            if p not in (src_port, dst_port):
                try:
                    self._call(p, 'CLUSTER', 'SETSLOT', slot, 'NODE', dst_id)
                except RedisError:
                    pass    # it may have learned it from the others already
        self._wait(lambda: all(self.node_for_slot_from(p, slot) == dst_port for p in self.ports()), 30,
                   'every node to see slot %d on %d' % (slot, dst_port))
        return moved

    def node_for_slot_from(self, port, slot):
        """The port of `slot`'s owner as the node on `port` sees it."""
        for n in self.nodes(port):
            if n.is_master and any(a <= slot <= b for a, b in n.slots):
                return n.port
        return None

    def failover(self, replica_port, timeout=30, mode=None):
        """CLUSTER FAILOVER [FORCE|TAKEOVER] on the replica; waits until it is
        a master, every node agrees and the cluster is ok again. Returns the
        port of the master it replaced."""
        ns = self.nodes(replica_port)
        me = [n for n in ns if n.port == replica_port]
        if not me or me[0].is_master:
            raise ValueError('node %d is not a replica' % replica_port)
        old = [n.port for n in ns if n.id == me[0].master_id]
        self._wait(lambda: _info(self._c(replica_port), 'replication').get('master_link_status') == 'up',
                   timeout, 'replica %d to be in sync before the failover' % replica_port)
        args = ['CLUSTER', 'FAILOVER'] + ([mode] if mode else [])
        self._call(replica_port, *args)

        def done():
            if _info(self._c(replica_port), 'replication').get('role') != 'master':
                return False
            for p in self.ports():
                if not any(n.port == replica_port and n.is_master for n in self.nodes(p)):
                    return False
            return self._all_ok()
        self._wait(done, timeout, 'node %d to be a master after CLUSTER FAILOVER' % replica_port)
        return old[0] if old else None


# --- self-check -------------------------------------------------------------------

def _selfcheck(masters, replicas):
    import tempfile
    tmp = tempfile.mkdtemp(prefix='rmig-cluster-harness-')
    t0 = time.time()
    try:
        with Cluster(tmp, masters=masters, replicas=replicas) as cl:
            print('up in %.1f s: masters %r replicas %r' % (time.time() - t0, cl.masters(), cl.replicas()))
            assert len(cl.masters()) == masters and len(cl.replicas()) == masters * replicas
            owners = cl.slot_map()
            assert None not in owners
            keys = [b'k%d' % i for i in range(2000)] + [b'{user1}:a', b'{user1}:b', b'\xff\x80bin', b'{}x', b'{a']
            assert cl.keyslots(keys) == [slot_of(k) for k in keys], 'local slot_of differs from CLUSTER KEYSLOT'
            assert cl.keyslot(b'{user1}:a') == cl.keyslot(b'{user1}:b') == slot_of(b'user1')
            for k in keys:
                p = owners[slot_of(k)][1]
                cl._call(p, 'SET', k, b'v' + k)
            assert len(cl.all_keys()) == len(keys)
            slot = slot_of(b'k1')
            src = cl.node_for_slot(slot)[1]
            others = [p for _h, p in cl.masters() if p != src]
            dst = others[0] if others else None
            n_in = cl._call(src, 'CLUSTER', 'COUNTKEYSINSLOT', slot)
            if dst:
                moved = cl.migrate_slot(slot, src, dst, batch=1)
                assert moved == n_in > 0, (moved, n_in)
                assert cl.node_for_slot(slot) == ('127.0.0.1', dst)
                assert cl._call(dst, 'GET', b'k1') == b'vk1'
                assert cl.all_keys()[b'k1'] == dst
                print('migrate_slot %d (%d keys) %d -> %d ok' % (slot, moved, src, dst))
                cl.wait_ok()
            if replicas:
                rp = cl.replicas()[0][1]
                old = cl.failover(rp)
                assert ('127.0.0.1', rp) in cl.masters() and ('127.0.0.1', old) in cl.replicas()
                assert len(cl.all_keys()) == len(keys)
                print('failover of %d (was the replica of %d) ok' % (rp, old))
            ref = Server(os.path.join(tmp, 'ref'), name='ref').start()
            rc = ref.conn()
            rc.pipeline([['SET', k, b'v' + k] for k in keys] + [['EXPIRE', b'k1', 100]])
            cl._call(cl.node_for_slot(slot_of(b'k1'))[1], 'EXPIRE', b'k1', 100)
            assert cl.digest() == rc.call('DEBUG', 'DIGEST'), (cl.digest(), rc.call('DEBUG', 'DIGEST'))
            rc.close()
            ref.stop()
            print('combined digest ok')
            cl.flushall()
            assert cl.dbsize() == 0
        print('selfcheck ok in %.1f s' % (time.time() - t0))
        return 0
    finally:
        shutil.rmtree(tmp, True)


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--masters', type=int, default=3)
    ap.add_argument('--replicas', type=int, default=1)
    a = ap.parse_args()
    sys.exit(_selfcheck(a.masters, a.replicas))

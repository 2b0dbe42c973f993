#!/usr/bin/env python3
"""`rmig run PIPELINE.lua` into a redis-server that listens only on a TLS
port (certificates made here with the openssl tool) and lets in only an ACL
user: the target ends up equal to a server that loaded the same file (DEBUG
DIGEST), with the password taken from the environment and never printed; a
server that wants client certificates lets rmig in with them and refuses it
without; a wrong CA and a wrong password end the run with exit 1 and a clear
message naming the server (and the user), not a hang; `rmig check` on the
TLS pipeline prints the target's version.

usage: python3 test_run_tls.py /path/to/rmig
environment: RMIG_SOURCE_DIR (the repository), RMIG_CORPUS (optional)
Exit code: 0 all passed, 1 something failed, 77 redis-server, redis-cli or
openssl is missing, or redis-server was built without TLS."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_harness import (SKIP, Reporter, Server, corpus_dir, free_port,  # noqa: E402
                           install_signal_handlers, make_tmpdir, require_redis_server, write)

USER = 'migrator'
PASSWORD = 'tls-Secret-7f3a9c'          # the ACL user's password: must never be printed
DEFAULT_PASSWORD = 'default-Other-51e2'  # the default user's, so a missing user is refused too
PW_ENV = 'RMIG_TEST_TLS_PASSWORD'
TIMEOUT = 30                             # seconds for one rmig run: longer is a hang


def skip(why):
    print('%s: skipped' % why)
    sys.exit(SKIP)



def make_certs(d):
    """A CA, a server certificate for localhost/127.0.0.1 (SAN) and a client
    certificate it signed, and a second CA that signed nothing here."""
    script = (
        'set -e\n'
        'openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=rmig-test-ca\n'
        'openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 -subj /CN=other-ca\n'
        'openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost\n'
        'printf "subjectAltName=DNS:localhost,IP:127.0.0.1\\n" > san.ext\n'
        'openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2'
        ' -extfile san.ext\n'
        'openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=rmig-client\n'
        'openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2\n')
    os.makedirs(d)
    p = subprocess.run(['sh', '-c', script], cwd=d, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise RuntimeError('making the test certificates failed: %s' % p.stdout.decode('utf-8', 'replace')[-600:])
    files = {k: os.path.join(d, k + '.crt') for k in ('ca', 'other', 'server', 'client')}
    files.update(server_key=os.path.join(d, 'server.key'), client_key=os.path.join(d, 'client.key'))
    return files


def redis_has_tls(tmp):
    """True when this redis-server was built with TLS: given a TLS port and a
    certificate file that does not exist, such a build refuses to start with
    "Failed to load certificate" (a message of its TLS code); a build without
    TLS rejects the option or starts anyway (then it is stopped here)."""
    d = os.path.join(tmp, 'tls-probe')
    os.makedirs(d)
    p = subprocess.Popen(['redis-server', '--port', '0', '--tls-port', str(free_port()), '--bind', '127.0.0.1',
                          '--tls-cert-file', os.path.join(d, 'missing.crt'),
                          '--tls-key-file', os.path.join(d, 'missing.key'), '--tls-auth-clients', 'no',
                          '--save', '', '--appendonly', 'no', '--dir', d, '--logfile', ''],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return b'Failed to load certificate' in out


class TLSServer:
    """A redis-server listening only on a TLS port, with the ACL user
    USER/PASSWORD, the default user's password changed, and DEBUG enabled.
    Started and stopped by the test with its own subprocess code."""

    def __init__(self, dir, certs, auth_clients=False, name='tls', extra=()):
        self.extra = list(extra)
        self.dir = dir
        self.certs = certs
        self.auth_clients = auth_clients
        self.name = name
        self.proc = None
        self.port = None
        self.log = os.path.join(dir, name + '.log')

    def cli(self, *args, timeout=20):
        """redis-cli over TLS as USER (the password through REDISCLI_AUTH, so it
        is not on a command line); returns (exit code, stdout text)."""
        c = self.certs
        argv = ['redis-cli', '--tls', '--cacert', c['ca'], '--cert', c['client'], '--key', c['client_key'],
                '-h', '127.0.0.1', '-p', str(self.port), '--user', USER] + list(args)
        env = dict(os.environ, REDISCLI_AUTH=PASSWORD)
        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode('utf-8', 'replace').strip()

    def start(self, attempts=5):
        os.makedirs(self.dir, exist_ok=True)
        c = self.certs
        last = ''
        for _ in range(attempts):
            self.port = free_port()
            args = ['redis-server', '--port', '0', '--tls-port', str(self.port), '--bind', '127.0.0.1',
                    '--tls-cert-file', c['server'], '--tls-key-file', c['server_key'],
                    '--tls-ca-cert-file', c['ca'], '--tls-auth-clients', 'yes' if self.auth_clients else 'no',
                    '--save', '', '--appendonly', 'no', '--dir', self.dir, '--dbfilename', 'none.rdb',
                    '--daemonize', 'no', '--logfile', self.log, '--enable-debug-command', 'yes',
                    '--requirepass', DEFAULT_PASSWORD] + self.extra
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.time() + 20
            while time.time() < deadline and self.proc.poll() is None:
                # the ACL user does not exist yet: log in as default to create it
                argv = ['redis-cli', '--tls', '--cacert', c['ca'], '--cert', c['client'], '--key', c['client_key'],
                        '-h', '127.0.0.1', '-p', str(self.port), 'ACL', 'SETUSER', USER, 'reset', 'on',
                        '>' + PASSWORD, '~*', '&*', '+@all']
                p = subprocess.run(argv, env=dict(os.environ, REDISCLI_AUTH=DEFAULT_PASSWORD),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=10)
                if p.returncode == 0 and p.stdout.strip() == b'OK':
                    return self
                time.sleep(0.05)
            last = self.tail_log()
            self.stop()
            if 'Address already in use' not in last:
                break
        raise RuntimeError('the TLS redis-server did not start: %s' % last)

    def tail_log(self):
        try:
            with open(self.log, errors='replace') as f:
                return ' | '.join(f.read().strip().splitlines()[-4:])
        except OSError:
            return ''

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()  # SIGTERM: redis-server shuts down (nothing to save, --save '')
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def pipeline(rdb, port, tls, auth=None, extra=''):
    """A pipeline without nodes into 127.0.0.1:port over TLS; `tls` is the
    Lua text inside tls = { ... }."""
    if auth is None:
        auth = 'user = "%s", password_env = "%s"' % (USER, PW_ENV)
    return ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
            '  source = rmig.source.rdb { path = %r },\n  nodes = { },\n'
            '  sink = rmig.sink.redis { addr = "127.0.0.1:%d", %s,\n'
            '    tls = { %s }%s },\n}\n') % (rdb, port, auth, tls, extra)


def run(rmig, args, password=PASSWORD):
    """rmig with the password only in its own environment; returns (exit
    code, stdout, stderr, seconds) or (None, '', 'timed out', seconds)."""
    env = dict(os.environ)
    env[PW_ENV] = password
    t = time.time()
    try:
        p = subprocess.run([rmig] + list(args), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, '', 'no answer within %d s (a hang)' % TIMEOUT, time.time() - t
    return (p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'),
            time.time() - t)


def rc_text(rc):
    return 'timed out' if rc is None else 'exit %d' % rc


def main():
    require_redis_server()
    install_signal_handlers()
    for tool in ('redis-cli', 'openssl'):
        if not shutil.which(tool):
            skip('%s is not installed' % tool)
    rmig = os.path.abspath(sys.argv[1])
    src = os.environ.get('RMIG_SOURCE_DIR', os.path.join(os.path.dirname(__file__), '..', '..'))
    sample = os.path.join(src, 'examples', 'data', 'sample.rdb')
    tmp = make_tmpdir('rmig-run-tls-')
    if not redis_has_tls(tmp):
        skip('redis-server was built without TLS')
    rep = Reporter()
    certs = make_certs(os.path.join(tmp, 'certs'))
    files = [('sample.rdb', sample)]
    corpus = corpus_dir()
    if corpus:
        files.append(('alltypes', os.path.join(corpus, 'rdb', 'local-debian-redis-7.0.15__redis-7.0.15_alltypes.rdb')))
    ca = 'ca_file = %r' % certs['ca']
    client = ', cert_file = %r, key_file = %r' % (certs['client'], certs['client_key'])

    # what a server that loaded each file holds (plain, no TLS: the harness's Server)
    want = {}
    for name, rdb in files:
        d = os.path.join(tmp, 'src-' + name)
        os.makedirs(d)
        shutil.copy(rdb, os.path.join(d, 'dump.rdb'))
        s = Server(d, name='src').start()
        try:
            want[name] = s.conn().call('DEBUG', 'DIGEST')
            want[name] = want[name].decode() if isinstance(want[name], bytes) else want[name]
        finally:
            s.stop()

    dst = TLSServer(os.path.join(tmp, 'dst'), certs, auth_clients=False, name='dst')
    mtls = TLSServer(os.path.join(tmp, 'mtls'), certs, auth_clients=True, name='mtls')
    try:
        dst.start()
        addr = '127.0.0.1:%d' % dst.port

        # 1. every file through the TLS + ACL target; the password from the environment
        for name, rdb in files:
            dst.cli('FLUSHALL')
            dst.cli('FUNCTION', 'FLUSH')
            p = write(tmp, 'ok.lua', pipeline(rdb, dst.port, ca))
            rc, out, err, secs = run(rmig, ['run', p])
            crc, got = dst.cli('DEBUG', 'DIGEST')
            rep.check(rc == 0 and got == want[name],
                      '%s over TLS as ACL user %s: the target holds what a server loading the file holds'
                      % (name, USER), '%s, digest %r != %r: %s %s' % (rc_text(rc), got, want[name],
                                                                      err[-500:], out[-300:]))
            rep.check(PASSWORD not in out and PASSWORD not in err,
                      '%s: the password appears neither on stdout nor on stderr' % name,
                      'found in the output: %s %s' % (out[-300:], err[-300:]))

        # 5. rmig check on the TLS pipeline names the target's version
        p = write(tmp, 'ok.lua', pipeline(sample, dst.port, ca))
        rc, out, err, secs = run(rmig, ['check', p])
        rep.check(rc == 0 and 'Redis 7.0' in out and 'RDB 10' in out and 'TLS, verified' in out,
                  "rmig check over TLS prints the target's version", '%s: %s %s' % (rc_text(rc), out, err))
        rep.check(PASSWORD not in out and PASSWORD not in err, 'rmig check does not print the password',
                  out + err)

        # 3. a CA that did not sign the server's certificate
        p = write(tmp, 'wrongca.lua', pipeline(sample, dst.port, 'ca_file = %r' % certs['other']))
        rc, out, err, secs = run(rmig, ['run', p])
        rep.check(rc == 1 and 'certificate' in err and addr in err and secs < 10,
                  'a wrong CA: exit 1 within seconds, a certificate error naming the server',
                  '%s after %.1f s: %s' % (rc_text(rc), secs, err[-500:]))
        rc, out, err, secs = run(rmig, ['check', p])
        rep.check(rc == 1 and 'certificate' in out + err and secs < 10,
                  'a wrong CA: rmig check exits 1 with the certificate error',
                  '%s after %.1f s: %s %s' % (rc_text(rc), secs, out, err[-400:]))

        # 4. a wrong password: refused, naming the user, never the password
        wrong = 'not-the-Password-99'
        p = write(tmp, 'ok.lua', pipeline(sample, dst.port, ca))
        rc, out, err, secs = run(rmig, ['run', p], password=wrong)
        rep.check(rc == 1 and USER in err and 'refused' in err and addr in err and secs < 10,
                  'a wrong password: exit 1, the server refused the password of user %s' % USER,
                  '%s after %.1f s: %s' % (rc_text(rc), secs, err[-500:]))
        rep.check(wrong not in out + err and PASSWORD not in out + err,
                  'a wrong password: no password in the output', out + err)

        # 2. client certificates required
        mtls.start()
        maddr = '127.0.0.1:%d' % mtls.port
        p = write(tmp, 'mtls.lua', pipeline(sample, mtls.port, ca + client))
        rc, out, err, secs = run(rmig, ['run', p])
        crc, got = mtls.cli('DEBUG', 'DIGEST')
        rep.check(rc == 0 and got == want['sample.rdb'],
                  'a server that wants client certificates takes the run with cert_file and key_file',
                  '%s, digest %r != %r: %s' % (rc_text(rc), got, want['sample.rdb'], err[-500:]))
        p = write(tmp, 'nocert.lua', pipeline(sample, mtls.port, ca))
        rc, out, err, secs = run(rmig, ['run', p])
        rep.check(rc == 1 and maddr in err and secs < 10,
                  'without a client certificate the run fails (exit 1) within seconds, naming the server',
                  '%s after %.1f s: %s' % (rc_text(rc), secs, err[-500:]))
        # The server's TLS 1.3 alert "certificate required" says why; a bare
        # "connection reset by peer" leaves the user guessing.
        rep.check(rc == 1 and 'certificate' in err,
                  'without a client certificate the message says the server wants a certificate',
                  '%s: %s' % (rc_text(rc), err[-500:]))
        rep.check(PASSWORD not in out + err, 'without a client certificate: no password in the output', out + err)

        # 6. a live source over TLS (a replica link with TLS, as an ACL user) into the TLS target
        lsrc = TLSServer(os.path.join(tmp, 'lsrc'), certs, name='lsrc',
                         extra=['--tls-replication', 'yes', '--repl-diskless-sync-delay', '0'])
        lsrc.start()
        live = None
        try:
            dst.cli('FLUSHALL')
            lsrc.cli('DEBUG', 'POPULATE', '2000')
            text = ('local rmig = require "rmig"\nreturn rmig.pipeline {\n'
                    '  source = rmig.source.psync { addr = "127.0.0.1:%d", user = "%s", password_env = "%s", '
                    'tls = { %s } },\n'
                    '  sink = rmig.sink.redis { addr = "127.0.0.1:%d", user = "%s", password_env = "%s", '
                    'tls = { %s } },\n}\n') % (lsrc.port, USER, PW_ENV, ca, dst.port, USER, PW_ENV, ca)
            p = write(tmp, 'live.lua', text)
            env = dict(os.environ)
            env[PW_ENV] = PASSWORD
            errpath = os.path.join(tmp, 'live.err')
            with open(errpath, 'wb') as ef:
                live = subprocess.Popen([rmig, 'run', p], env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=ef)
            lsrc.cli('SET', 'after:snapshot', 'v')
            lsrc.cli('LPUSH', 'after:list', 'a', 'b')
            same, a, b = False, '', ''
            deadline = time.time() + 60
            while time.time() < deadline and live.poll() is None:
                lsrc.cli('SET', 'tick', str(time.time()))
                time.sleep(0.3)
                a, b = lsrc.cli('DEBUG', 'DIGEST')[1], dst.cli('DEBUG', 'DIGEST')[1]
                if a == b and dst.cli('EXISTS', 'after:list')[1] == '1':
                    same = True
                    break
            with open(errpath, errors='replace') as f:
                err = f.read()
            rep.check(same, 'a live source over TLS as ACL user %s: the target catches up with it (digests equal)'
                      % USER, 'source %s target %s: %s' % (a, b, err[-600:]))
            live.send_signal(signal.SIGTERM)
            try:
                rc = live.wait(30)
            except subprocess.TimeoutExpired:
                live.kill()
                rc = None
            with open(errpath, errors='replace') as f:
                err = f.read()
            rep.check(rc == 0 and PASSWORD not in err, 'the live TLS run stops on SIGTERM with exit 0, no password '
                      'in its output', '%s: %s' % (rc_text(rc), err[-500:]))
        finally:
            if live and live.poll() is None:
                live.kill()
            lsrc.stop()
    finally:
        mtls.stop()
        dst.stop()
    sys.exit(rep.finish())


if __name__ == '__main__':
    main()

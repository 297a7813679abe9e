"""Cached Debian 12 roots for the system mail relays that conflict with Postfix, and relays run in them.

The relays (nullmailer, dma, exim4, OpenSMTPD, ssmtp, msmtp-mta, and a Postfix null client) replace each
other and the host's Postfix, so each one lives in its own Debian root:

- one minbase root made by `debootstrap --variant=minbase bookworm` from the Debian mirror the host's
  apt uses (ca-certificates and netbase included, apt lists fetched, policy-rc.d exits 101);
- one overlayfs *layer* per relay: the base root is the lowerdir, `apt-get install` of the relay's
  packages in a chroot writes only the layer (so the base is built and stored once).

Everything is cached under CACHE_DIR/<stamp>, where <stamp> hashes the recipe (suite, mirror, package
lists). A machine builds what is missing once (a lock keeps two test sessions from building the same
thing); later sessions reuse it. A build that fails raises, with the log tail: never a skip.

Running: `RelayRoot` mounts the relay's layer and the base read-only under a fresh writable upper
directory (so a test never changes the cache), plus /proc and /dev, inside a private mount namespace
(`unshare -m --propagation private`) held by one small process. Commands enter that namespace with
`nsenter -m` and `chroot`; they share the host's network namespace, so the relay reaches the Postfix test
bed on 127.0.0.1. Nothing is mounted in the host's mount table, even if the test run dies. At teardown
every process in the namespace is stopped (bounded waits) and the upper directory removed.
"""
import collections
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

CACHE_DIR = os.environ.get('EMAIL_OPS_DEBROOT_CACHE', '/var/cache/email_ops_smtp/debroots')
SUITE = 'bookworm'
DEFAULT_MIRROR = 'http://deb.debian.org/debian'
BASE_INCLUDE = ('ca-certificates', 'netbase', 'python3')  # python3: smtp_config runs inside a root
# What each relay's root has on top of the base: the relay, and a `mail` command as systems use.
RELAYS = {
    'postfix': ('postfix', 'libsasl2-modules', 'bsd-mailx'),
    'nullmailer': ('nullmailer', 'bsd-mailx'),
    'dma': ('dma', 'bsd-mailx'),
    'exim4': ('exim4-daemon-light', 'bsd-mailx'),
    'opensmtpd': ('opensmtpd', 'bsd-mailx'),
    'ssmtp': ('ssmtp', 'bsd-mailx'),
    'msmtp-mta': ('msmtp-mta', 'bsd-mailx'),
}
# Answers the package installers would ask for.
PRESEED = {
    'postfix': 'postfix postfix/main_mailer_type select No configuration\n',
}
RECIPE_VERSION = 2  # bump when the way a root is made changes
CHROOT_ENV = {
    'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LANG': 'C.UTF-8',
    'HOME': '/root',
    'DEBIAN_FRONTEND': 'noninteractive',
}
BUILD_TIMEOUT = 1800
BUILD_WORKERS = 3
CA_PATH = '/usr/local/share/ca-certificates/email_ops-test-ca.crt'  # where RelayRoot.install_ca puts the CA

# Mounts the root in a private mount namespace, says "ready", then holds the namespace until its stdin
# closes (the test process tears down, or dies), stops whatever still runs in the namespace, and exits:
# the mounts vanish with the namespace's last process.
HOLDER = r'''
set -e
if [ -n "$DEBROOT_LOWER" ]; then
  mount -t overlay overlay -o "lowerdir=$DEBROOT_LOWER,upperdir=$DEBROOT_UPPER,workdir=$DEBROOT_WORK" "$DEBROOT_DIR"
fi
mount -t proc proc "$DEBROOT_DIR/proc"
mount --bind /dev "$DEBROOT_DIR/dev"
echo ready
cat >/dev/null || true
# stdin closed: normally every process is already gone; if the test run died, stop what it left.
me=$(readlink /proc/$$/ns/mnt)
for sig in TERM KILL; do
  hit=
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" != "$$" ] && [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$me" ] && kill -"$sig" "$pid" 2>/dev/null && hit=1
  done
  [ -z "$hit" ] && break
  sleep 2
done
'''


class DebrootError(RuntimeError):
    """A root could not be built or a command in it failed: the message says which and why."""


def host_mirror(sources=('/etc/apt/sources.list', '/etc/apt/sources.list.d')):
    """The Debian archive URI the host's apt uses (deb822 .sources or one-line .list files)."""
    files = []
    for source in sources:
        if os.path.isdir(source):
            files += sorted(os.path.join(source, name) for name in os.listdir(source))
        elif os.path.isfile(source):
            files.append(source)
    for path in files:
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError:
            continue
        if path.endswith('.sources'):
            for stanza in re.split(r'\n\s*\n', text):
                uris = re.search(r'^URIs:\s*(\S+)', stanza, re.M)
                suites = re.search(r'^Suites:(.*)$', stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split() and '/debian' in uris.group(1):
                    return uris.group(1).rstrip('/')
        else:
            for line in text.splitlines():
                match = re.match(r'^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)', line)
                if match and match.group(2) == SUITE and '/debian' in match.group(1):
                    return match.group(1).rstrip('/')
    return DEFAULT_MIRROR


def recipe(mirror=None):
    return {'version': RECIPE_VERSION, 'suite': SUITE, 'variant': 'minbase', 'mirror': mirror or host_mirror(),
            'base': list(BASE_INCLUDE), 'relays': {name: list(pkgs) for name, pkgs in sorted(RELAYS.items())},
            'preseed': PRESEED}


def stamp_of(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def _tail(path, lines=40):
    try:
        with open(path, errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:])
    except OSError:
        return '(no log)'


def _du(path):
    proc = subprocess.run(['du', '-sxk', path], capture_output=True, text=True, timeout=300, check=False)
    try:
        return int(proc.stdout.split()[0]) * 1024
    except (IndexError, ValueError):
        return None


class Namespace:
    """A private mount namespace in which `directory` is a Debian root (overlay when `lower` is given),
    with /proc and /dev; held by one process until close()."""

    def __init__(self, directory, lower=None, upper=None, work=None, timeout=30):
        self.dir = directory
        env = dict(os.environ, DEBROOT_DIR=directory, DEBROOT_LOWER=lower or '', DEBROOT_UPPER=upper or '',
                   DEBROOT_WORK=work or '')
        self.holder = subprocess.Popen(['unshare', '-m', '--propagation', 'private', 'sh', '-c', HOLDER],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=env, start_new_session=True)
        ready = self._readline(timeout)
        if ready != 'ready':
            err = self._close_holder()
            raise DebrootError('cannot mount the Debian root %s (lower=%s): %s' % (directory, lower, err))
        self.mnt_ns = os.readlink('/proc/%d/ns/mnt' % self.holder.pid)

    def _readline(self, timeout):
        import selectors
        with selectors.DefaultSelector() as selector:
            selector.register(self.holder.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                return None
        return self.holder.stdout.readline().decode(errors='replace').strip()

    def command(self, argv, user=None):
        """argv (a list) as run inside the root; `user` as USER[:GROUP] via chroot --userspec."""
        chroot = ['chroot'] + (['--userspec=%s' % user] if user else []) + [self.dir]
        return ['nsenter', '-t', str(self.holder.pid), '-m', '--'] + chroot + list(argv)

    def run(self, argv, input=None, timeout=60, check=True, user=None, env=None):  # pylint: disable=redefined-builtin
        if isinstance(argv, str):
            argv = ['/bin/sh', '-c', argv]
        try:
            proc = subprocess.run(self.command(argv, user), input=input, capture_output=True, text=True,
                                  timeout=timeout, check=False, env=dict(CHROOT_ENV, **(env or {})))
        except subprocess.TimeoutExpired as exc:
            raise DebrootError('%s: %s did not finish within %ss\n%s%s' % (
                self.dir, ' '.join(argv), timeout, exc.stdout or '', exc.stderr or '')) from None
        if check and proc.returncode != 0:
            raise DebrootError('%s: %s failed (rc=%s)\n%s%s' % (
                self.dir, ' '.join(argv), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def popen(self, argv, log_path, user=None):
        log = open(log_path, 'ab')  # pylint: disable=consider-using-with
        try:
            return subprocess.Popen(self.command(argv, user), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=dict(CHROOT_ENV), start_new_session=True)
        finally:
            log.close()

    def pids(self):
        """Every live process in this mount namespace except the holder and its own children."""
        found = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit() or int(entry) == self.holder.pid:
                continue
            try:
                if os.readlink('/proc/%s/ns/mnt' % entry) != self.mnt_ns:
                    continue
                with open('/proc/%s/stat' % entry) as handle:
                    fields = handle.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if fields[0] != 'Z' and int(fields[1]) != self.holder.pid:
                found.append(int(entry))
        return found

    def kill_all(self, grace=5):
        """SIGTERM every process in the namespace, SIGKILL what is left after `grace` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        left = self.pids()
        if left:
            raise DebrootError('processes %s in %s survived SIGKILL' % (left, self.dir))

    def _close_holder(self):
        if not self.holder.stdin.closed:
            self.holder.stdin.close()
        try:
            self.holder.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.holder.kill()
            self.holder.wait(timeout=10)
        err = self.holder.stderr.read()
        for pipe in (self.holder.stdout, self.holder.stderr):
            pipe.close()
        return err.decode(errors='replace').strip()

    def close(self):
        try:
            self.kill_all()
        finally:
            self._close_holder()


class DebRoots:
    """The cache of the base root and the relay layers for one recipe."""

    def __init__(self, cache_dir=CACHE_DIR, mirror=None):
        self.spec = recipe(mirror)
        self.mirror = self.spec['mirror']
        self.stamp = stamp_of(self.spec)
        self.dir = os.path.join(cache_dir, self.stamp)
        self.base = os.path.join(self.dir, 'base')
        self.logs = os.path.join(self.dir, 'logs')

    def layer(self, relay):
        return os.path.join(self.dir, 'layers', relay)

    def lower(self, relay):
        """overlayfs lowerdir for a relay: its layer above the base."""
        return '%s:%s' % (self.layer(relay), self.base)

    def _done(self, path):
        return os.path.exists(path + '.done')

    def info(self):
        """What the cache holds: build seconds and sizes, per root."""
        found = {}
        for name in ['base'] + sorted(RELAYS):
            path = self.base if name == 'base' else self.layer(name)
            try:
                with open(path + '.done') as handle:
                    found[name] = json.load(handle)
            except (OSError, ValueError):
                pass
        return found

    def ensure(self, relays=None, workers=BUILD_WORKERS):
        """Build what is missing (base first, then the relay layers in parallel). Returns seconds spent."""
        relays = sorted(relays or RELAYS)
        began = time.monotonic()
        if self._done(self.base) and all(self._done(self.layer(r)) for r in relays):
            return time.monotonic() - began
        missing = [cmd for cmd in ('debootstrap', 'unshare', 'nsenter', 'chroot') if not shutil.which(cmd)]
        if missing or os.geteuid() != 0:
            raise DebrootError('building the relay roots in %s needs root and %s (run scripts/bootstrap.sh); '
                               'missing: %s, uid %d' % (self.dir, ', '.join(('debootstrap', 'unshare', 'nsenter')),
                                                        ', '.join(missing) or 'nothing', os.geteuid()))
        os.makedirs(self.logs, exist_ok=True)
        with open(os.path.join(self.dir, 'recipe.json'), 'w') as handle:
            json.dump(self.spec, handle, indent=1, sort_keys=True)
        with open(os.path.join(self.dir, '.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another session building: wait for it, then reuse
            if not self._done(self.base):
                self._build_base()
            missing = [r for r in relays if not self._done(self.layer(r))]
            if missing:
                with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = {pool.submit(self._build_layer, relay): relay for relay in missing}
                    errors = []
                    for future in concurrent.futures.as_completed(futures):
                        try:
                            future.result()
                        except Exception as exc:  # pylint: disable=broad-except
                            errors.append('%s: %s' % (futures[future], exc))
                if errors:
                    raise DebrootError('building relay roots failed:\n' + '\n'.join(errors))
        return time.monotonic() - began

    def _step(self, log, argv, timeout=BUILD_TIMEOUT, **kwargs):
        with open(log, 'a') as handle:
            handle.write('\n$ %s\n' % ' '.join(argv))
            handle.flush()
            proc = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                  **kwargs)
        if proc.returncode != 0:
            raise DebrootError('%s failed (rc=%s); log %s:\n%s' % (' '.join(argv), proc.returncode, log, _tail(log)))

    def _in_root(self, namespace, log, script, timeout=BUILD_TIMEOUT):
        self._step(log, namespace.command(['/bin/sh', '-ec', script]), timeout=timeout, env=dict(CHROOT_ENV))

    def _build_base(self):
        began = time.monotonic()
        log = os.path.join(self.logs, 'base.log')
        tmp = self.base + '.tmp'
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(self.base):  # an interrupted build renamed but did not finish: start over
            shutil.rmtree(self.base)
        self._step(log, ['debootstrap', '--variant=minbase', '--include=' + ','.join(BASE_INCLUDE), SUITE, tmp,
                         self.mirror])
        # Services never start from package scripts; loopback names resolve without DNS.
        _write(tmp, '/usr/sbin/policy-rc.d', '#!/bin/sh\n# email_ops relay test bed: no service starts\nexit 101\n',
               0o755)
        _write(tmp, '/etc/hosts', hosts_file())
        _write(tmp, '/etc/apt/apt.conf.d/90email-ops', 'APT::Install-Recommends "false";\n'
               'APT::Install-Suggests "false";\nAcquire::Retries "3";\n')
        namespace = Namespace(tmp)
        try:
            self._in_root(namespace, log, 'apt-get update -q && apt-get clean')
        finally:
            namespace.close()
        os.rename(tmp, self.base)
        self._finish(self.base, began)

    def _build_layer(self, relay):
        began = time.monotonic()
        log = os.path.join(self.logs, relay + '.log')
        layer = self.layer(relay)
        work = layer + '.work'
        scratch = tempfile.mkdtemp(prefix='email_ops_debroot_%s_' % relay)
        for path in (layer, work):
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
        namespace = Namespace(scratch, lower=self.base, upper=layer, work=work)
        try:
            # Package scripts ask `hostname --fqdn` (ssmtp's postinst fails without an answer): the root
            # shares the host's UTS namespace, so its /etc/hosts must name the host.
            script = "cat > /etc/hosts <<'EOF'\n%sEOF\n" % hosts_file()
            if relay in PRESEED:
                script += "printf '%%s' '%s' | debconf-set-selections\n" % PRESEED[relay]
            script += 'apt-get install -y -q %s\napt-get clean\n' % ' '.join(RELAYS[relay])
            self._in_root(namespace, log, script)
        finally:
            namespace.close()
            shutil.rmtree(work, ignore_errors=True)
            os.rmdir(scratch)
        self._finish(layer, began)

    @staticmethod
    def _finish(path, began):
        facts = {'seconds': round(time.monotonic() - began, 1), 'bytes': _du(path), 'built': time.time()}
        with open(path + '.done', 'w') as handle:
            json.dump(facts, handle)


def hosts_file():
    """/etc/hosts for a root: loopback names, and this machine's name (the root shares its UTS namespace).
    `localhost` is IPv4 only: the Postfix test bed listens on 127.0.0.1, and relays that try ::1 first
    lose time on the refusal (OpenSMTPD then disables that route for 15 s)."""
    return '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tip6-localhost ip6-loopback\n' % socket.gethostname()


def _write(root, path, text, mode=0o644):
    target = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w') as handle:
        handle.write(text)
    os.chmod(target, mode)
    return target


Daemon = collections.namedtuple('Daemon', 'name proc log')


class RelayRoot:
    """One relay's root for one test: a writable overlay over the cached layer and base."""

    def __init__(self, roots, relay):
        self.relay = relay
        self.tmp = tempfile.mkdtemp(prefix='email_ops_relay_%s_' % relay)
        os.chmod(self.tmp, 0o755)
        self.upper = os.path.join(self.tmp, 'upper')
        self.work = os.path.join(self.tmp, 'work')
        self.dir = os.path.join(self.tmp, 'root')
        self.log_dir = os.path.join(self.tmp, 'logs')
        for path in (self.upper, self.work, self.dir, self.log_dir):
            os.makedirs(path)
        self.daemons = []
        self.ns = Namespace(self.dir, lower=roots.lower(relay), upper=self.upper, work=self.work)
        self.write('/etc/hosts', hosts_file())

    # -- files -----------------------------------------------------------------------------------

    def path(self, path):
        """The host path of `path` inside the root (seen through the upper layer: written files only)."""
        return os.path.join(self.upper, path.lstrip('/'))

    def write(self, path, text, mode=0o644, owner=None):
        """Write `path` inside the root; owner as 'user:group' names of the root."""
        directory = os.path.dirname(path)
        self.run(['mkdir', '-p', directory])
        self.run(['sh', '-c', 'cat > "$1"', 'write', path], input=text)
        self.run(['chmod', '%o' % mode, path])
        if owner:
            self.run(['chown', owner, path])

    def read(self, path):
        return self.run(['cat', path]).stdout

    def exists(self, path):
        return self.run(['test', '-e', path], check=False).returncode == 0

    def install_ca(self, ca_file, system_store=False):
        """Put the test CA at CA_PATH in the root (and into its trust store when asked); returns CA_PATH."""
        with open(ca_file) as handle:
            self.write(CA_PATH, handle.read())
        if system_store:
            self.run(['update-ca-certificates'], timeout=120)
        return CA_PATH

    def python(self):
        """A host path to use as ansible_python_interpreter (with pipelining: the module arrives on stdin):
        the root's own python3, entered through this root's mount namespace and chroot, so a module and the
        commands it runs (postmap, update-exim4.conf, smtpd -n) work on the root's files with its tools."""
        wrapper = os.path.join(self.tmp, 'python3-in-%s' % self.relay)
        if not os.path.exists(wrapper):
            path = CHROOT_ENV['PATH']
            argv = self.ns.command(['/usr/bin/env', 'PATH=' + path, 'LANG=C.UTF-8', 'HOME=/root', '/usr/bin/python3'])
            with open(wrapper, 'w') as handle:
                handle.write('#!/bin/sh\n# python3 of the %s relay root\nexec %s "$@"\n' % (
                    self.relay, ' '.join(argv)))
            os.chmod(wrapper, 0o755)
        return wrapper

    # -- processes -------------------------------------------------------------------------------

    def run(self, argv, input=None, timeout=60, check=True, user=None, env=None):  # pylint: disable=redefined-builtin
        """Run argv (list, or a shell string) in the root; raise DebrootError on failure when check."""
        return self.ns.run(argv, input=input, timeout=timeout, check=check, user=user, env=env)

    def start(self, argv, name, user=None, ready=None, timeout=20):
        """Start a foreground daemon in the root (stopped at teardown); wait until `ready()` is true."""
        log_path = os.path.join(self.log_dir, name + '.log')
        proc = self.ns.popen(argv, log_path, user=user)
        self.daemons.append(Daemon(name, proc, log_path))
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if proc.poll() is not None:
                raise DebrootError('%s exited (rc=%s) in %s:\n%s' % (
                    name, proc.returncode, self.relay, _tail(log_path)))
            if time.monotonic() > deadline:
                raise DebrootError('%s not ready within %ss in %s:\n%s' % (
                    name, timeout, self.relay, _tail(log_path)))
            time.sleep(0.05)
        return proc

    def processes(self, command):
        """PIDs of the processes named `command` running in the root."""
        found = []
        for pid in self.ns.pids():
            try:
                with open('/proc/%d/comm' % pid) as handle:
                    if handle.read().strip() == command[:15]:
                        found.append(pid)
            except OSError:
                continue
        return found

    def opened_by(self, command, path):
        """True when a process named `command` in the root holds `path` (a path inside the root) open."""
        for pid in self.processes(command):
            try:
                for fd in os.listdir('/proc/%d/fd' % pid):
                    if os.readlink('/proc/%d/fd/%s' % (pid, fd)).endswith(path):
                        return True
            except OSError:
                continue
        return False

    def wait_until(self, predicate, timeout=20, what='condition'):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise DebrootError('%s: %s not met within %ss' % (self.relay, what, timeout))
            time.sleep(0.05)

    def daemon_logs(self):
        return '\n'.join('--- %s ---\n%s' % (daemon.name, _tail(daemon.log)) for daemon in self.daemons)

    def close(self):
        try:
            for daemon in self.daemons:
                if daemon.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(daemon.proc.pid, signal.SIGTERM)
            for daemon in self.daemons:
                try:
                    daemon.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(daemon.proc.pid, signal.SIGKILL)
                    daemon.proc.wait(timeout=5)
            self.ns.close()  # every other process in the namespace (forked daemons, deliveries)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __repr__(self):
        return '<RelayRoot %s %s>' % (self.relay, self.dir)


@pytest.fixture(scope='session')
def debroots():
    """The cached Debian roots, built now where missing (minutes on a fresh machine, once)."""
    roots = DebRoots()
    roots.ensure()
    return roots


@pytest.fixture
def relay_root(debroots):
    """Factory: relay_root('exim4') -> a RelayRoot for this test, torn down after it."""
    opened = []

    def make(relay):
        root = RelayRoot(debroots, relay)
        opened.append(root)
        return root

    yield make
    for root in opened:
        root.close()


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description='Build (when missing) and describe the cached relay roots.')
    parser.add_argument('command', choices=('build', 'info'))
    args = parser.parse_args(argv)
    roots = DebRoots()
    if args.command == 'build':
        seconds = roots.ensure()
        print('debroots %s ready in %.1fs' % (roots.dir, seconds))
    print(json.dumps({'dir': roots.dir, 'mirror': roots.mirror, 'roots': roots.info()}, indent=1, sort_keys=True))


if __name__ == '__main__':
    main()


# Postfix as a relay in its root: the services a null client needs, no smtpd (it listens on no port), no chroot.
POSTFIX_MASTER_CF = ''.join('%-10s %-10s %s\n' % row for row in (
    ('pickup', 'unix', 'n - n 60 1 pickup'), ('cleanup', 'unix', 'n - n - 0 cleanup'),
    ('qmgr', 'unix', 'n - n 300 1 qmgr'), ('tlsmgr', 'unix', '- - n 1000? 1 tlsmgr'),
    ('rewrite', 'unix', '- - n - - trivial-rewrite'), ('bounce', 'unix', '- - n - 0 bounce'),
    ('defer', 'unix', '- - n - 0 bounce'), ('trace', 'unix', '- - n - 0 bounce'),
    ('verify', 'unix', '- - n - 1 verify'), ('flush', 'unix', 'n - n 1000? 0 flush'),
    ('proxymap', 'unix', '- - n - - proxymap'), ('proxywrite', 'unix', '- - n - 1 proxymap'),
    ('smtp', 'unix', '- - n - - smtp'), ('relay', 'unix', '- - n - - smtp'),
    ('showq', 'unix', 'n - n - - showq'), ('error', 'unix', '- - n - - error'),
    ('retry', 'unix', '- - n - - error'), ('discard', 'unix', '- - n - - discard'),
    ('anvil', 'unix', '- - n - 1 anvil'), ('scache', 'unix', '- - n - 1 scache'),
    ('postlog', 'unix-dgram', 'n - n - 1 postlogd')))

"""A real OpenSSH sshd on loopback, owned by the test run, for multi-host Ansible runs.

Linux routes all of 127.0.0.0/8 on lo, so one sshd listening on 127.0.0.1..127.0.0.6 (never
0.0.0.0) stands in for six hosts. Key authentication only, with a client key made for the run,
for the user running the tests.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest
import yaml

SSHD = '/usr/sbin/sshd'
SSH_KEYGEN = 'ssh-keygen'
ADDRESSES = tuple('127.0.0.%d' % n for n in range(1, 7))
SSH_COMMON_ARGS = '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'


class Sshd:
    def __init__(self, addresses=ADDRESSES, directory=None):
        self.addresses = tuple(addresses)
        self.dir = directory or tempfile.mkdtemp(prefix='email_ops_sshd_')
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.config_file = os.path.join(self.dir, 'sshd_config')
        self.log_file = os.path.join(self.dir, 'sshd.log')
        self.pid_file = os.path.join(self.dir, 'sshd.pid')
        self.host_key = os.path.join(self.dir, 'ssh_host_ed25519_key')
        self.client_key = os.path.join(self.dir, 'client_ed25519')
        self.port = None
        self.process = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout=15):
        began = time.monotonic()
        self._keygen(self.host_key)
        self._keygen(self.client_key)
        shutil.copyfile(self.client_key + '.pub', os.path.join(self.dir, 'authorized_keys'))
        self.port = self._free_port()
        self._write_config()
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        check = subprocess.run([SSHD, '-t', '-f', self.config_file], capture_output=True, text=True, timeout=30, check=False)
        if check.returncode != 0:
            raise RuntimeError('sshd -t -f %s rejects the config:\n%s' % (self.config_file, check.stderr))
        with open(os.path.join(self.dir, 'sshd.out'), 'wb') as out:
            self.process = subprocess.Popen([SSHD, '-D', '-f', self.config_file, '-E', self.log_file],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        for address in self.addresses:
            self._wait_banner(address, began + timeout)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self):
        if self.process is None:
            return
        # Connections (Ansible's ControlPersist masters keep them open) are served by children that
        # start their own sessions: find them before the listener goes, then end them all.
        children = _descendants(self.process.pid)
        for pid in [self.process.pid] + children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process = None

    def _keygen(self, path):
        subprocess.run([SSH_KEYGEN, '-q', '-t', 'ed25519', '-N', '', '-C', 'email_ops test run', '-f', path],
                       check=True, capture_output=True, timeout=30)

    def _free_port(self):
        """A port free on every address (each 127.0.0.x is a separate address to bind)."""
        for _attempt in range(50):
            with socket.socket() as sock:
                sock.bind((self.addresses[0], 0))
                port = sock.getsockname()[1]
            if all(_can_bind(address, port) for address in self.addresses[1:]):
                return port
        raise RuntimeError('no port free on all of %s' % (self.addresses,))

    def _write_config(self):
        listen = ''.join('ListenAddress %s:%d\n' % (address, self.port) for address in self.addresses)
        config = textwrap.dedent('''\
            # Written by tests/testbed/sshd.py for one test run.
            {listen}HostKey {host_key}
            PidFile {pid_file}
            AuthorizedKeysFile {dir}/authorized_keys
            AllowUsers {user}
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            StrictModes no
            UsePAM no
            UseDNS no
            PrintMotd no
            LogLevel VERBOSE
            MaxStartups 100:30:200
            MaxSessions 100
            Subsystem sftp /usr/lib/openssh/sftp-server
            ''').format(listen=listen, host_key=self.host_key, pid_file=self.pid_file, dir=self.dir,
                        user=self.user)
        with open(self.config_file, 'w') as handle:
            handle.write(config)

    def _wait_banner(self, address, deadline):
        while True:
            if self.process.poll() is not None:
                raise RuntimeError('sshd exited with %s\n%s' % (self.process.returncode, self.log_tail()))
            try:
                with socket.create_connection((address, self.port), timeout=2) as sock:
                    if sock.recv(64).startswith(b'SSH-2.0-'):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError('sshd does not answer on %s:%s\n%s' % (address, self.port, self.log_tail()))
            time.sleep(0.05)

    # -- what the tests use --------------------------------------------------------------------

    def host_vars(self, address):
        return {
            'ansible_host': address,
            'ansible_port': self.port,
            'ansible_user': self.user,
            'ansible_ssh_private_key_file': self.client_key,
            'ansible_ssh_common_args': SSH_COMMON_ARGS,
            'ansible_python_interpreter': sys.executable,
        }

    def inventory(self, hosts, path=None):
        """Write a YAML inventory of `hosts` ({name: vars}) reached through this sshd; return its path.

        A host without `ansible_host` in its vars gets the next of `addresses`, in order.
        """
        free = [a for a in self.addresses if a not in {v.get('ansible_host') for v in hosts.values() if v}]
        entries = {}
        for name, extra in hosts.items():
            extra = dict(extra or {})
            if 'ansible_host' not in extra:
                if not free:
                    raise ValueError('more hosts than sshd addresses %s' % (self.addresses,))
                extra['ansible_host'] = free.pop(0)
            entry = self.host_vars(extra['ansible_host'])
            entry.update(extra)
            entries[name] = entry
        path = path or os.path.join(self.dir, 'inventory.yml')
        with open(path, 'w') as handle:
            yaml.safe_dump({'all': {'hosts': entries}}, handle, default_flow_style=False, sort_keys=False)
        return path

    def ssh_command(self, address, *command):
        """argv for the plain ssh client to `address` (for debugging a failing Ansible run)."""
        return (['ssh', '-i', self.client_key, '-p', str(self.port), '-o', 'BatchMode=yes']
                + SSH_COMMON_ARGS.split() + ['%s@%s' % (self.user, address)] + list(command))

    def log_tail(self, lines=40):
        try:
            with open(self.log_file, errors='replace') as handle:
                tail = handle.read().splitlines()[-lines:]
        except OSError as exc:
            return '--- no sshd log (%s) ---' % exc
        return '--- %s (last %d lines) ---\n%s' % (self.log_file, len(tail), '\n'.join(tail))

    def __repr__(self):
        return '<Sshd %s port=%s dir=%s>' % (','.join(self.addresses), self.port, self.dir)


def _can_bind(address, port):
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _descendants(pid):
    """Pids of all processes below `pid`, from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name (2nd field) is in parentheses and may hold spaces: split after it.
        parents.setdefault(int(stat.rsplit(')', 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


@pytest.fixture(scope='session')
def sshd():
    server = Sshd()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

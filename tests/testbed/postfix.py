"""A real Postfix (Debian's package) on loopback, owned by the test run.

One instance per test session, with its own config, queue and data directories under a temp dir;
the system instance (/etc/postfix) is never read or touched. Three listeners on 127.0.0.1:

- plain_port: SMTP, no TLS, no AUTH; accepts mail for `domain` only.
- submission_port: STARTTLS required, then SASL AUTH PLAIN/LOGIN (Cyrus sasldb); unauthenticated
  clients are refused at RCPT.
- smtps_port: implicit TLS (wrapper mode), then SASL AUTH PLAIN/LOGIN.

Two more on the well-known ports, for apps that pick the TLS mode from the port number (monit: STARTTLS only
on 25/587; Alertmanager: implicit TLS only on 465), on a loopback address of their own (`wellknown_host`,
127.x.y.z picked at start where 587 and 465 are free, so test runs of several checkouts never collide):

- wellknown_host:587: as submission_port (STARTTLS + AUTH).
- wellknown_host:465: as smtps_port (implicit TLS + AUTH).
Their certificate also names wellknown_host.

Every message for any local part of `domain` lands in one Maildir; `messages()` parses it.
Mail for other domains, once accepted from an authenticated client, bounces (no remote delivery).
"""
import email
import email.policy
import glob
import grp
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from email.message import EmailMessage

import pytest

from tests.testbed.net import free_port

POSTFIX = '/usr/sbin/postfix'
POSTQUEUE = '/usr/sbin/postqueue'
SASLPASSWD2 = '/usr/sbin/saslpasswd2'
MAILBOX_USER = 'nobody'


def listening(host, port):
    """True when a TCP socket listens on host:port (IPv4), read from /proc/net/tcp: no probe
    connection, so the server logs nothing. Addresses there are hex in host byte order."""
    packed = socket.inet_aton(host)
    if sys.byteorder == 'little':
        packed = packed[::-1]
    wanted = '%s:%04X' % (packed.hex().upper(), port)
    with open('/proc/net/tcp') as handle:
        rows = [line.split() for line in handle.readlines()[1:]]
    return any(row[1] == wanted and row[3] == '0A' for row in rows)  # 0A: TCP_LISTEN


class Delivery(EmailMessage):
    """A delivered message: an email.message.EmailMessage plus what the envelope said."""

    recipient = None  # envelope recipient (the Delivered-To header Postfix's virtual(8) adds)
    sender = None     # envelope sender (Return-Path), '' for bounces
    path = None       # the Maildir file

    def __repr__(self):
        return '<Delivery to=%r from=%r subject=%r>' % (self.recipient, self.sender, self['Subject'])

    def received_over_tls_as(self, username):
        """Whether the test bed's Received header says the client sent over TLS, logged in as `username` (the
        protocol ESMTPSA, or UTF8SMTPSA when the client used SMTPUTF8)."""
        received = ' '.join(str(value) for value in self.get_all('Received') or [])
        return ('SMTPSA id' in received and 'using TLSv1.' in received
                and '(Authenticated sender: %s)' % username in received)


class Postfix:
    host = '127.0.0.1'
    domain = 'example.test'
    username = 'tester@example.test'
    password = 'S3cret-test-Passw0rd'
    # A second SASL user whose password breaks naive quoting in every config format the relays use.
    special_username = 'quoting@example.test'
    special_password = 'q"u\'o\\t#e;d:p%w$d x'

    def __init__(self, pki, directory=None):
        self.pki = pki
        self.ca_file = pki.ca_file
        self.dir = directory or tempfile.mkdtemp(prefix='email_ops_postfix_')
        os.chmod(self.dir, 0o755)  # daemons running as postfix/nobody must traverse it
        self.config_dir = os.path.join(self.dir, 'etc')
        self.queue_dir = os.path.join(self.dir, 'queue')
        self.data_dir = os.path.join(self.dir, 'data')
        # Debian's Postfix reads $config_directory/sasl/smtpd.conf whatever cyrus_sasl_config_path says.
        self.sasl_dir = os.path.join(self.config_dir, 'sasl')
        self.mail_base = os.path.join(self.dir, 'mail')
        self.maildir = os.path.join(self.mail_base, 'inbox')
        self.log_file = os.path.join(self.dir, 'maillog')
        self.plain_port = self.submission_port = self.smtps_port = None
        self.wellknown_host = None
        self.start_seconds = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout=30):
        began = time.monotonic()
        for attempt in range(3):
            self.plain_port, self.submission_port, self.smtps_port = self._ports(3)
            self.wellknown_host = _free_loopback((WELLKNOWN_SUBMISSION, WELLKNOWN_SMTPS))
            self._write_config()
            self._make_sasldb()
            logged = len(self._log())
            proc = self._postfix('start', timeout=timeout)
            if proc.returncode == 0:
                break
            # Another process may take a port between our pick and master's bind: then try new ports.
            if 'Address already in use' not in self._log()[logged:] or attempt == 2:
                raise RuntimeError('postfix -c %s start failed (rc=%s)\n%s%s\n%s' % (
                    self.config_dir, proc.returncode, proc.stdout, proc.stderr, self.log_tail()))
        for port in (self.plain_port, self.submission_port, self.smtps_port):
            self._wait_listening(port, began + timeout)
        for port in (WELLKNOWN_SUBMISSION, WELLKNOWN_SMTPS) if self.wellknown_host else ():
            self._wait_listening(port, began + timeout, self.wellknown_host)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self):
        pid = self._master_pid()
        if pid and _running(pid):
            self._postfix('stop', timeout=30)
        deadline = time.monotonic() + 5
        while pid and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid and _running(pid):
            # master ignored SIGTERM; it leads its own session and process group.
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _postfix(self, *args, timeout=30):
        return subprocess.run([POSTFIX, '-c', self.config_dir] + list(args), capture_output=True,
                              text=True, timeout=timeout, check=False)

    def _master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, 'pid', 'master.pid')) as handle:
                return int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _ports(self, count):
        ports = set()
        while len(ports) < count:
            ports.add(free_port(self.host))
        return sorted(ports)

    def _wait_listening(self, port, deadline, host=None):
        host = host or self.host
        while not listening(host, port):
            if time.monotonic() > deadline:
                raise RuntimeError('postfix does not listen on %s:%s\n%s' % (host, port, self.log_tail()))
            time.sleep(0.05)

    # -- configuration -------------------------------------------------------------------------

    def _write_config(self):
        mailbox_user = pwd.getpwnam(MAILBOX_USER)
        # The queue directory must exist (root, 0755); `postfix start` creates what goes inside it.
        for path in (self.config_dir, self.sasl_dir, self.queue_dir):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)
        os.makedirs(self.mail_base, exist_ok=True)
        os.chown(self.mail_base, mailbox_user.pw_uid, mailbox_user.pw_gid)
        os.chmod(self.mail_base, 0o755)
        # smtpd loads its key as root before dropping privileges: root-only copies are enough.
        cert_file, key_file = self.pki.server
        tls_cert = self._install(cert_file, 'server.crt', 0o644)
        tls_key = self._install(key_file, 'server.key', 0o600)
        # The well-known listeners' certificate also names their own loopback address.
        wk_chain = None
        if self.wellknown_host:
            wk_cert_file, wk_key_file = self.pki.issue('server-wellknown', 'localhost', self.host, self.wellknown_host)
            wk_chain = '%s,%s' % (self._install(wk_key_file, 'wellknown.key', 0o600),
                                  self._install(wk_cert_file, 'wellknown.crt', 0o644))
        main_cf = textwrap.dedent('''\
            # Written by tests/testbed/postfix.py for one test run.
            compatibility_level = 3.6
            config_directory = {etc}
            queue_directory = {queue}
            data_directory = {data}
            mail_owner = postfix
            setgid_group = postdrop
            maillog_file = {log}
            maillog_file_prefixes = {dir}
            myhostname = mail.{domain}
            mydomain = {domain}
            myorigin = $mydomain
            mydestination =
            mynetworks = 127.0.0.1/32
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            alias_maps =
            alias_database =
            biff = no
            append_dot_mydomain = no
            smtputf8_enable = yes
            smtpd_banner = $myhostname ESMTP email_ops test bed
            # Nothing leaves this machine: mail for other domains bounces at once.
            default_transport = error:remote delivery is disabled in the test bed
            relay_transport = error:remote delivery is disabled in the test bed
            # Every local part of {domain} lands in one Maildir owned by {mbox_user}.
            virtual_mailbox_domains = {domain}
            virtual_mailbox_base = {mail_base}
            virtual_mailbox_maps = static:inbox/
            virtual_uid_maps = static:{uid}
            virtual_gid_maps = static:{gid}
            # Anyone may send to {domain}; relaying needs AUTH (only offered on the TLS listeners).
            smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
            smtpd_recipient_restrictions =
            # What the submission and smtps listeners answer an unauthenticated RCPT (RFC 4954).
            require_auth = check_client_access static:{{530 5.7.0 Authentication required}}
            # TLS off by default; the submission and smtps listeners switch it on.
            smtpd_tls_security_level = none
            smtpd_tls_chain_files = {key}, {cert}
            smtpd_tls_auth_only = yes
            smtpd_tls_loglevel = 1
            smtpd_tls_received_header = yes
            # Cyrus SASL (smtpd.conf, sasldb2) in {sasl}; enabled per listener.
            smtpd_sasl_auth_enable = no
            smtpd_sasl_type = cyrus
            smtpd_sasl_path = smtpd
            cyrus_sasl_config_path = {sasl}
            smtpd_sasl_security_options = noanonymous
            smtpd_sasl_tls_security_options = noanonymous
            # The Received header names the SASL user ("Authenticated sender: ..."): what the relay tests check.
            smtpd_sasl_authenticated_header = yes
            # Header addresses stay as the client wrote them (no @{domain} added to a bare "root"): the relay
            # tests check what each relay itself puts in From.
            local_header_rewrite_clients =
            # Answer errors at once: the tests provoke many.
            smtpd_error_sleep_time = 0
            ''').format(etc=self.config_dir, queue=self.queue_dir, data=self.data_dir, log=self.log_file,
                        dir=self.dir, domain=self.domain, mail_base=self.mail_base, uid=mailbox_user.pw_uid,
                        gid=mailbox_user.pw_gid, mbox_user=MAILBOX_USER, key=tls_key, cert=tls_cert,
                        sasl=self.sasl_dir)
        authenticated = ('smtpd_sasl_auth_enable=yes', 'smtpd_tls_security_level=encrypt',
                         'smtpd_relay_restrictions=permit_sasl_authenticated,reject_unauth_destination',
                         'smtpd_recipient_restrictions=permit_sasl_authenticated,$require_auth')
        listeners = (
            (self.plain_port, ('syslog_name=postfix/plain',)),
            (self.submission_port, ('syslog_name=postfix/submission',) + authenticated),
            (self.smtps_port, ('syslog_name=postfix/smtps', 'smtpd_tls_wrappermode=yes') + authenticated),
        )
        listeners = tuple((self.host, port, options) for port, options in listeners)
        if self.wellknown_host:
            wellknown = ('smtpd_tls_chain_files=' + wk_chain,)
            listeners += (
                (self.wellknown_host, WELLKNOWN_SUBMISSION, ('syslog_name=postfix/submission-587',) + wellknown + authenticated),
                (self.wellknown_host, WELLKNOWN_SMTPS,
                 ('syslog_name=postfix/smtps-465', 'smtpd_tls_wrappermode=yes') + wellknown + authenticated),
            )
        master_cf = '# Written by tests/testbed/postfix.py. No chroot anywhere.\n'
        for host, port, options in listeners:
            master_cf += '%s:%d inet n - n - - smtpd\n' % (host, port)
            master_cf += ''.join('  -o %s\n' % option for option in options)
        master_cf += textwrap.dedent('''\
            pickup    unix  n       -       n       60      1       pickup
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            tlsmgr    unix  -       -       n       1000?   1       tlsmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            verify    unix  -       -       n       -       1       verify
            flush     unix  n       -       n       1000?   0       flush
            proxymap  unix  -       -       n       -       -       proxymap
            proxywrite unix -       -       n       -       1       proxymap
            smtp      unix  -       -       n       -       -       smtp
            relay     unix  -       -       n       -       -       smtp
            showq     unix  n       -       n       -       -       showq
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            discard   unix  -       -       n       -       -       discard
            local     unix  -       n       n       -       -       local
            virtual   unix  -       n       n       -       -       virtual
            lmtp      unix  -       -       n       -       -       lmtp
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd
            ''')
        self._write(os.path.join(self.config_dir, 'main.cf'), main_cf)
        self._write(os.path.join(self.config_dir, 'master.cf'), master_cf)
        self._write(os.path.join(self.sasl_dir, 'smtpd.conf'), textwrap.dedent('''\
            pwcheck_method: auxprop
            auxprop_plugin: sasldb
            mech_list: PLAIN LOGIN
            sasldb_path: {}
            ''').format(os.path.join(self.sasl_dir, 'sasldb2')))

    def _make_sasldb(self):
        sasldb = os.path.join(self.sasl_dir, 'sasldb2')
        if os.path.exists(sasldb):
            os.unlink(sasldb)
        for username, password in ((self.username, self.password), (self.special_username, self.special_password)):
            user, realm = username.split('@')
            subprocess.run([SASLPASSWD2, '-f', sasldb, '-p', '-c', '-u', realm, user], input=password,
                           text=True, check=True, capture_output=True, timeout=30)
        # smtpd reads the sasldb as the postfix user, after dropping privileges.
        os.chown(sasldb, 0, grp.getgrnam('postfix').gr_gid)
        os.chmod(sasldb, 0o640)

    def _install(self, source, name, mode):
        target = os.path.join(self.config_dir, name)
        shutil.copyfile(source, target)
        os.chmod(target, mode)
        return target

    @staticmethod
    def _write(path, text):
        with open(path, 'w') as handle:
            handle.write(text)
        os.chmod(path, 0o644)
        # Postfix re-reads a config file until its mtime is a second or two old (a guard against
        # reading it mid-edit): dating it back saves that wait on every start.
        then = time.time() - 60
        os.utime(path, (then, then))

    # -- what the tests use --------------------------------------------------------------------

    def settings(self, listener='submission', **overrides):
        """SMTP settings (schemas/smtp_settings.schema.json) that reach `listener`:
        'submission' (STARTTLS + AUTH), 'smtps' (implicit TLS + AUTH) or 'plain' (no TLS, no AUTH); on the
        well-known ports of wellknown_host: 'submission-587' (STARTTLS + AUTH), 'smtps-465' (implicit TLS + AUTH)."""
        host = self.host
        if listener in ('submission-587', 'smtps-465'):
            if not self.wellknown_host:
                raise RuntimeError('the test bed has no listeners on ports 587/465: no loopback address had both free '
                                   '(another server holds them on every address, or the tests do not run as root)')
            host = self.wellknown_host
        port, security = {'submission': (self.submission_port, 'starttls'), 'smtps': (self.smtps_port, 'ssl'),
                          'plain': (self.plain_port, 'none'), 'submission-587': (WELLKNOWN_SUBMISSION, 'starttls'),
                          'smtps-465': (WELLKNOWN_SMTPS, 'ssl')}[listener]
        settings = {'host': host, 'port': port, 'security': security, 'from_email': self.username,
                    'test_email': 'inbox@' + self.domain}
        if listener == 'plain':
            settings['auth_method'] = 'none'
        else:
            settings.update(auth_method='auto', username=self.username, password=self.password,
                            ca_file=self.ca_file)
        settings.update(overrides)
        return settings

    def messages(self, recipient=None):
        """Delivered messages, oldest first; only those for `recipient` when given."""
        found = []
        for sub in ('new', 'cur'):
            for path in glob.glob(os.path.join(self.maildir, sub, '*')):
                try:
                    with open(path, 'rb') as handle:
                        message = email.message_from_binary_file(handle, _class=Delivery,
                                                                 policy=email.policy.default)
                except FileNotFoundError:  # cleared meanwhile
                    continue
                message.recipient = _bare(message.get('Delivered-To'))
                message.sender = _bare(message.get('Return-Path'))
                message.path = path
                found.append((os.stat(path).st_mtime, os.path.basename(path), message))
        found.sort(key=lambda item: item[:2])
        messages = [item[2] for item in found]
        if recipient is not None:
            messages = [m for m in messages if (m.recipient or '').lower() == recipient.lower()]
        return messages

    def wait_for(self, count=1, timeout=10, recipient=None, subject=None):
        """Wait until at least `count` messages were delivered (to `recipient`, with `subject` in their Subject);
        return them all."""
        deadline = time.monotonic() + timeout
        while True:
            messages = [m for m in self.messages(recipient) if subject is None or subject in str(m['Subject'])]
            if len(messages) >= count:
                return messages
            if time.monotonic() > deadline:
                raise AssertionError('expected %d message(s)%s in %s within %ss, found %d\n%s' % (
                    count, ' for %s' % recipient if recipient else '', self.maildir, timeout, len(messages),
                    self.diagnostics()))
            time.sleep(0.05)

    def clear(self):
        """Empty the mailbox (call at the start of a test: the instance lives for the session)."""
        for sub in ('new', 'cur'):
            for path in glob.glob(os.path.join(self.maildir, sub, '*')):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def _log(self):
        try:
            with open(self.log_file, errors='replace') as handle:
                return handle.read()
        except FileNotFoundError:
            return ''

    def log_tail(self, lines=60):
        """The end of this instance's mail log (maillog_file), for assertion messages."""
        tail = self._log().splitlines()[-lines:]
        return '--- %s (last %d lines) ---\n%s' % (self.log_file, len(tail), '\n'.join(tail))

    def queue(self):
        """`postqueue -p` for this instance: what is waiting, and why."""
        proc = subprocess.run([POSTQUEUE, '-c', self.config_dir, '-p'], capture_output=True, text=True,
                              timeout=30, check=False)
        return (proc.stdout + proc.stderr).strip()

    def flush(self):
        """Ask Postfix to retry everything deferred now."""
        subprocess.run([POSTQUEUE, '-c', self.config_dir, '-f'], capture_output=True, timeout=30, check=False)

    def diagnostics(self):
        return '--- postqueue -p ---\n%s\n%s' % (self.queue(), self.log_tail())

    def __repr__(self):
        return '<Postfix %s plain=%s submission=%s smtps=%s well-known=%s dir=%s>' % (
            self.host, self.plain_port, self.submission_port, self.smtps_port, self.wellknown_host, self.dir)


WELLKNOWN_SUBMISSION = 587
WELLKNOWN_SMTPS = 465


def _free_loopback(ports, tries=20):
    """A random 127.x.y.z (not 127.0.0.0/16) where nothing listens on any of `ports` now; None when there is none
    (a server bound to the wildcard address on one of them, or no privilege to bind them): the other listeners
    still serve, only the tests that need these fail."""
    for _attempt in range(tries):
        host = '127.%d.%d.%d' % (random.randint(1, 254), random.randint(0, 255), random.randint(1, 254))
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        return host
    return None


def _bare(address):
    if address is None:
        return None
    return str(address).strip().strip('<>')


def _running(pid):
    """True while `pid` exists and is not a zombie waiting for init to reap it."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@pytest.fixture(scope='session')
def postfix(pki):
    server = Postfix(pki)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)

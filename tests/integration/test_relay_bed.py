"""The relay test bed proven: each of the seven system mail relays, installed in its own cached Debian root
(tests/testbed/debroot.py) and configured by hand from the field guide, takes mail the way a system
hands it over (cron's `sendmail` call; `mail root`) and delivers it to the Postfix test bed over
STARTTLS or implicit TLS with SASL AUTH, verifying the test CA where the relay can.

Later tests swap the hand-written files below for the ones smtp_config writes.
"""
import collections
import hashlib
import os
import re
import ssl
import time
import uuid

import pytest
import trustme

from tests.testbed import debroot
from tests.testbed.debroot import debroots, relay_root  # noqa: F401  pylint: disable=unused-import

CRON_TO = 'cron@example.test'
ERRORS_TO = 'errors@example.test'  # the error recipient: where each relay sends mail for root
SMARTHOST = 'localhost'  # the name in the test bed's certificate
TIMEOUT = 30

Bed = collections.namedtuple('Bed', 'port implicit user password ca fingerprint')


def leaf_fingerprint(cert_file):
    """SHA-256 of the server certificate (the first PEM block), upper-case hex, no colons."""
    with open(cert_file) as handle:
        first = re.search(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----', handle.read(), re.S).group(0)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest().upper()


# -- hand-written configurations (FIELD-GUIDE.md sections 3.2-3.8) ----------------------------------


def configure_postfix(root, bed):
    root.write('/etc/postfix/main.cf', '''\
compatibility_level = 3.6
myhostname = postfix.relaybed.test
myorigin = example.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
maillog_file = /var/log/postfix.log
relayhost = [{host}]:{port}
smtp_host_lookup = dns, native
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_sasl_mechanism_filter = plain, login
smtp_tls_security_level = secure
smtp_tls_secure_cert_match = nexthop
smtp_tls_CAfile = {ca}
smtp_tls_wrappermode = {wrapper}
smtp_tls_loglevel = 1
virtual_alias_maps = hash:/etc/postfix/virtual
sender_canonical_maps = regexp:/etc/postfix/sender_canonical
notify_classes = resource, software, bounce
bounce_notice_recipient = {errors}
2bounce_notice_recipient = {errors}
error_notice_recipient = {errors}
'''.format(host=SMARTHOST, port=bed.port, ca=bed.ca, wrapper='yes' if bed.implicit else 'no', errors=ERRORS_TO))
    # No smtpd: the relay listens on no port; no chroot.
    root.write('/etc/postfix/master.cf', debroot.POSTFIX_MASTER_CF)
    root.write('/etc/postfix/sasl_passwd', '[%s]:%d %s:%s\n' % (SMARTHOST, bed.port, bed.user, bed.password), 0o600)
    root.write('/etc/postfix/virtual', 'root@example.test %s\npostmaster@example.test %s\n' % (ERRORS_TO, ERRORS_TO))
    root.write('/etc/postfix/sender_canonical', '/^root@.*$/ %s\n' % bed.user)
    # Postfix tools wait until a freshly written main.cf is a second or two old (tests/testbed/postfix.py).
    root.run(['touch', '-d', '1 minute ago', '/etc/postfix/main.cf', '/etc/postfix/master.cf'])
    root.run(['postmap', 'hash:/etc/postfix/sasl_passwd', 'hash:/etc/postfix/virtual'])
    root.run(['postfix', 'check'])
    root.run(['postfix', 'start'])
    root.wait_until(lambda: root.exists('/var/spool/postfix/pid/master.pid'), what='postfix master')


def configure_nullmailer(root, bed):
    mode = '--ssl' if bed.implicit else '--starttls'
    root.write('/etc/nullmailer/remotes', '%s smtp --port=%d %s --user=%s --pass=%s --x509cafile=%s\n' % (
        SMARTHOST, bed.port, mode, bed.user, bed.password, bed.ca), 0o600, 'mail:mail')
    root.write('/etc/nullmailer/defaultdomain', 'example.test\n')
    root.write('/etc/nullmailer/adminaddr', ERRORS_TO + '\n')
    root.write('/etc/nullmailer/allmailfrom', bed.user + '\n')
    root.write('/etc/mailname', 'nullmailer.relaybed.test\n')
    # Debian's package leaves the trigger FIFO out of a fresh root (field guide pitfall 7).
    root.run('test -p /var/spool/nullmailer/trigger || mkfifo -m 0600 /var/spool/nullmailer/trigger; '
             'chown mail:root /var/spool/nullmailer/trigger')
    root.start(['nullmailer-send'], 'nullmailer-send', user='mail:mail',
               ready=lambda: root.opened_by('nullmailer-send', '/var/spool/nullmailer/trigger'))


def configure_dma(root, bed):
    root.write('/etc/dma/dma.conf', '''\
SMARTHOST {host}
PORT {port}
AUTHPATH /etc/dma/auth.conf
SECURETRANSFER
{starttls}
MAILNAME dma.relaybed.test
MASQUERADE {user}
FINGERPRINT {fingerprint}
'''.format(host=SMARTHOST, port=bed.port, user=bed.user, fingerprint=bed.fingerprint,
           starttls='' if bed.implicit else 'STARTTLS'))
    root.write('/etc/dma/auth.conf', '%s|%s:%s\n' % (bed.user, SMARTHOST, bed.password), 0o640, 'root:mail')
    root.write('/etc/aliases', 'root: %s\n' % ERRORS_TO)


def configure_exim4(root, bed):
    root.write('/etc/exim4/update-exim4.conf.conf', '''\
dc_eximconfig_configtype='smarthost'
dc_other_hostnames='exim4.relaybed.test'
dc_local_interfaces='127.0.0.2'
dc_readhost='example.test'
dc_relay_domains=''
dc_minimaldns='false'
dc_relay_nets=''
dc_smarthost='{host}::{port}'
CFILEMODE='644'
dc_use_split_config='false'
dc_hide_mailname='true'
dc_mailname_in_oh='true'
dc_localdelivery='mail_spool'
'''.format(host=SMARTHOST, port=bed.port))
    root.write('/etc/exim4/passwd.client', '%s:%s:%s\n' % (SMARTHOST, bed.user, bed.password), 0o640,
               'root:Debian-exim')
    macros = ('REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *\n'
              'REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES = %s\n'
              'REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *\n' % bed.ca)
    if bed.implicit:
        macros += 'REMOTE_SMTP_SMARTHOST_PROTOCOL = smtps\n'
    root.write('/etc/exim4/exim4.conf.localmacros', macros)
    root.write('/etc/mailname', 'exim4.relaybed.test\n')
    root.write('/etc/aliases', 'root: %s\npostmaster: root\n' % ERRORS_TO)
    root.run(['update-exim4.conf'])
    root.run(['exim4', '-bV'])


def configure_opensmtpd(root, bed):
    scheme = 'smtps' if bed.implicit else 'smtp+tls'
    root.write('/etc/smtpd.conf', '''\
table aliases file:/etc/aliases
table secrets file:/etc/smtpd/secrets
ca testca cert "{ca}"
listen on socket
action "local" maildir alias <aliases>
action "relay" relay host {scheme}://bed@{host}:{port} auth <secrets> ca testca
match for local action "local"
match from local for any action "relay"
'''.format(ca=bed.ca, scheme=scheme, host=SMARTHOST, port=bed.port))
    root.write('/etc/smtpd/secrets', 'bed %s:%s\n' % (bed.user, bed.password), 0o640, 'root:opensmtpd')
    root.write('/etc/aliases', 'root: %s\n' % ERRORS_TO)
    root.run(['smtpd', '-n'])
    root.start(['smtpd', '-d'], 'smtpd', ready=lambda: root.exists('/run/smtpd.sock'))


def configure_ssmtp(root, bed):
    root.write('/etc/ssmtp/ssmtp.conf', '''\
root={errors}
mailhub={host}:{port}
hostname=ssmtp.relaybed.test
rewriteDomain=example.test
UseTLS=YES
UseSTARTTLS={starttls}
TLS_CA_File={ca}
AuthUser={user}
AuthPass={password}
AuthMethod=LOGIN
FromLineOverride=YES
'''.format(errors=ERRORS_TO, host=SMARTHOST, port=bed.port, starttls='NO' if bed.implicit else 'YES', ca=bed.ca,
           user=bed.user, password=bed.password), 0o640, 'root:mail')
    root.write('/etc/ssmtp/revaliases', 'root:%s:%s:%d\n' % (bed.user, SMARTHOST, bed.port))


def configure_msmtp_mta(root, bed):
    root.write('/etc/msmtprc', '''\
defaults
auth on
tls on
tls_trust_file {ca}
logfile /var/log/msmtp.log
aliases /etc/aliases

account relay
host {host}
port {port}
tls_starttls {starttls}
user {user}
password {password}
from {user}

account default : relay
'''.format(ca=bed.ca, host=SMARTHOST, port=bed.port, starttls='off' if bed.implicit else 'on', user=bed.user,
           password=bed.password), 0o600)
    root.write('/etc/aliases', 'root: %s\n' % ERRORS_TO)
    root.run(['msmtp', '-P'])


CONFIGURE = {
    'postfix': configure_postfix,
    'nullmailer': configure_nullmailer,
    'dma': configure_dma,
    'exim4': configure_exim4,
    'opensmtpd': configure_opensmtpd,
    'ssmtp': configure_ssmtp,
    'msmtp-mta': configure_msmtp_mta,
}
LOGS = ('/var/log/postfix.log', '/var/log/exim4/mainlog', '/var/log/exim4/paniclog', '/var/log/msmtp.log')


def diagnostics(root, bed):
    logs = ''.join('--- %s ---\n%s' % (path, root.read(path)) for path in LOGS if root.exists(path))
    queue = root.run('ls -lR /var/spool/nullmailer /var/spool/dma /var/spool/exim4/input 2>/dev/null; mailq 2>&1',
                     check=False).stdout
    return '%s\n%s\n--- queue ---\n%s\n--- test bed ---\n%s' % (logs, root.daemon_logs(), queue, bed.diagnostics())


def wait_for(mailbox, root, recipient, token):
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = [m for m in mailbox.messages(recipient) if token in str(m['Subject'])]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError('no message %s for %s within %ss\n%s' % (token, recipient, TIMEOUT,
                                                                  diagnostics(root, mailbox)))


def eventually(predicate, root, mailbox, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('no %s within %ss\n%s' % (what, timeout, diagnostics(root, mailbox)))
        time.sleep(0.1)


def cron_mail(token):
    """What Debian's cron pipes to `sendmail -i -FCronDaemon -B8BITMIME -oem MAILTO` after a job prints."""
    return ('From: root (Cron Daemon)\nTo: %s\nSubject: Cron <root@relaybed> /usr/local/bin/nightly %s\n'
            'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n'
            'X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n\nnightly job output\n' % (CRON_TO, token))


def assert_tls_and_auth(mailbox, message, listener):
    """The test bed's Received header says TLS and AUTH (ESMTPSA: RFC 3848); its log says which listener
    took it and as which SASL user."""
    received = str(message.get_all('Received')[0])
    assert 'with ESMTPSA id' in received and 'using TLSv1.' in received, received
    queue_id = re.search(r'\bwith ESMTPSA id (\w+)', received).group(1)
    log = mailbox.log_tail(2000)
    assert re.search(r'postfix/%s/smtpd\[\d+\]: %s: client=\S+, sasl_method=\w+, sasl_username=%s' % (
        listener, queue_id, re.escape(mailbox.username)), log), (queue_id, log)


@pytest.mark.parametrize('mode', ['starttls', 'implicit'])
@pytest.mark.parametrize('relay', sorted(debroot.RELAYS))
def test_relay_delivers_cron_and_root_mail(relay_root, mailbox, pki, relay, mode):
    root = relay_root(relay)
    implicit = mode == 'implicit'
    bed = Bed(port=mailbox.smtps_port if implicit else mailbox.submission_port, implicit=implicit,
              user=mailbox.username, password=mailbox.password, ca=root.install_ca(pki.ca_file),
              fingerprint=leaf_fingerprint(pki.server[0]))
    CONFIGURE[relay](root, bed)
    token = uuid.uuid4().hex[:12]
    began = time.monotonic()
    root.run(['/usr/sbin/sendmail', '-i', '-FCronDaemon', '-B8BITMIME', '-oem', CRON_TO], input=cron_mail(token))
    root.run(['mail', '-s', 'to root %s' % token, 'root'], input='mail for root\n')
    cron = wait_for(mailbox, root, CRON_TO, token)
    errors = wait_for(mailbox, root, ERRORS_TO, token)
    print('%s %s: both delivered %.2fs after the first sendmail' % (relay, mode, time.monotonic() - began))

    assert len(cron) == 1 and len(errors) == 1, (cron, errors)
    listener = 'smtps' if implicit else 'submission'
    for message in cron + errors:
        assert_tls_and_auth(mailbox, message, listener)
    assert cron[0].get_content().strip() == 'nightly job output'
    assert str(errors[0]['Subject']) == 'to root %s' % token


# -- the relays refuse a server the configured CA does not vouch for (or do not: ssmtp) --------------

# Where each relay says it refused the certificate: (file in the root, or None for the daemon's log, or
# 'sendmail' for the sendmail call's own output), and the words it uses.
REFUSAL = {
    'postfix': ('/var/log/postfix.log', r'certificate verification failed|Server certificate not trusted'),
    'nullmailer': (None, r'certificate is untrusted|certificate.*not trusted'),
    'dma': (None, None),  # dma logs to syslog only: the proof is the message left in its spool
    'exim4': ('/var/log/exim4/mainlog', r'certificate verif\w* failed|(?i:unknown issuer)|untrusted'),
    'opensmtpd': (None, r'SSL certificate check failed'),
    'msmtp-mta': ('sendmail', r'certificate|untrusted|not trusted'),
}


@pytest.mark.parametrize('relay', sorted(REFUSAL))
def test_relay_refuses_a_server_its_ca_does_not_vouch_for(relay_root, mailbox, relay):
    root = relay_root(relay)
    other_ca = trustme.CA(organization_name='not the test bed CA')
    root.write('/usr/local/share/other-ca.crt', other_ca.cert_pem.bytes().decode())
    bed = Bed(port=mailbox.submission_port, implicit=False, user=mailbox.username, password=mailbox.password,
              ca='/usr/local/share/other-ca.crt', fingerprint='00' * 32)
    CONFIGURE[relay](root, bed)
    token = uuid.uuid4().hex[:12]
    sent = root.run(['/usr/sbin/sendmail', '-i', '-FCronDaemon', '-B8BITMIME', '-oem', CRON_TO],
                    input=cron_mail(token), check=False)
    where, words = REFUSAL[relay]
    if where == 'sendmail':
        assert sent.returncode != 0 and re.search(words, sent.stdout + sent.stderr), sent
    elif relay == 'dma':
        # dma delivers in a child of sendmail; once no dma process is left, the message must still be queued.
        eventually(lambda: not root.processes('dma'), root, mailbox, 'end of the dma delivery attempt')
        queued = root.run('ls /var/spool/dma', check=True).stdout.split()
        assert any(name.startswith('M') for name in queued), queued
    else:
        def said():
            if where is None:
                return root.daemon_logs()
            return root.read(where) if root.exists(where) else ''
        eventually(lambda: re.search(words, said()), root, mailbox, '%s refusing the certificate' % relay)
    assert not [m for m in mailbox.messages() if token in str(m['Subject'])], diagnostics(root, mailbox)


def test_ssmtp_delivers_even_when_its_ca_does_not_vouch_for_the_server(relay_root, mailbox):
    """ssmtp accepts TLS_CA_File but never verifies: the profile must warn (field guide pitfall 2)."""
    root = relay_root('ssmtp')
    other_ca = trustme.CA(organization_name='not the test bed CA')
    root.write('/usr/local/share/other-ca.crt', other_ca.cert_pem.bytes().decode())
    bed = Bed(port=mailbox.submission_port, implicit=False, user=mailbox.username, password=mailbox.password,
              ca='/usr/local/share/other-ca.crt', fingerprint=None)
    configure_ssmtp(root, bed)
    token = uuid.uuid4().hex[:12]
    root.run(['/usr/sbin/sendmail', '-i', '-FCronDaemon', '-B8BITMIME', '-oem', CRON_TO], input=cron_mail(token))
    (message,) = wait_for(mailbox, root, CRON_TO, token)
    assert_tls_and_auth(mailbox, message, 'submission')


# -- the test bed itself -----------------------------------------------------------------------------


def test_cache_key_follows_the_recipe(monkeypatch):
    stamp = debroot.stamp_of(debroot.recipe('http://deb.debian.org/debian'))
    assert stamp == debroot.stamp_of(debroot.recipe('http://deb.debian.org/debian'))
    assert stamp != debroot.stamp_of(debroot.recipe('http://mirror.example.test/debian'))
    monkeypatch.setitem(debroot.RELAYS, 'dma', ('dma', 'bsd-mailx', 'cron'))
    assert stamp != debroot.stamp_of(debroot.recipe('http://deb.debian.org/debian'))


def test_host_mirror_is_read_from_deb822_and_one_line_sources(tmp_path):
    (tmp_path / 'a.sources').write_text('Types: deb\nURIs: http://security.example.test/debian-security\n'
                                        'Suites: bookworm-security\n\nTypes: deb\nURIs: http://m.example.test/debian/\n'
                                        'Suites: bookworm bookworm-updates\nComponents: main\n')
    assert debroot.host_mirror([str(tmp_path)]) == 'http://m.example.test/debian'
    listed = tmp_path / 'sources.list'
    listed.write_text('# comment\ndeb [arch=amd64] http://one.example.test/debian bookworm main\n')
    assert debroot.host_mirror([str(listed)]) == 'http://one.example.test/debian'
    assert debroot.host_mirror([str(tmp_path / 'missing')]) == debroot.DEFAULT_MIRROR


def test_cached_roots_are_reused_and_described(debroots):
    began = time.monotonic()
    assert debroots.ensure() < 5
    assert time.monotonic() - began < 5
    info = debroots.info()
    assert sorted(info) == sorted(['base'] + list(debroot.RELAYS)), info
    assert all(facts['bytes'] > 0 and facts['seconds'] > 0 for facts in info.values()), info


def mounted_in_host(path):
    with open('/proc/self/mountinfo') as handle:
        return [line for line in handle if ' %s ' % path in line or ' %s/' % path in line]


def test_a_root_changes_nothing_outside_and_leaves_nothing_behind(debroots, pki):
    root = debroot.RelayRoot(debroots, 'postfix')
    try:
        root.write('/etc/marker', 'only in this root\n')
        ca = root.install_ca(pki.ca_file, system_store=True)
        with open(pki.ca_file) as handle:
            assert handle.read().strip() in root.read('/etc/ssl/certs/ca-certificates.crt')
        root.start(['sleep', '600'], 'sleeper', ready=lambda: bool(root.processes('sleep')))
        assert root.run(['cat', '/proc/self/mounts']).stdout.count(' /proc ') == 1
        assert root.exists(ca) and root.exists('/usr/sbin/postfix')
        assert not mounted_in_host(root.dir), 'the root is mounted in the host mount table'
        assert not os.path.exists(os.path.join(debroots.layer('postfix'), 'etc', 'marker'))
        assert not os.listdir(root.dir), 'the host sees the mount point empty'
        namespace = root.ns
    finally:
        root.close()
    assert not namespace.pids() and namespace.holder.poll() is not None
    assert not os.path.exists(root.tmp)


def test_a_root_whose_test_run_died_stops_by_itself(debroots):
    """The holder of the mount namespace stops what runs in it when its stdin closes (the test process
    died): no daemon and no mount outlives the run."""
    root = debroot.RelayRoot(debroots, 'ssmtp')
    try:
        root.start(['sleep', '600'], 'sleeper', ready=lambda: bool(root.processes('sleep')))
        namespace = root.ns
        namespace.holder.stdin.close()  # what the kernel does when the test process dies
        namespace.holder.wait(timeout=15)
        assert not namespace.pids()
    finally:
        root.close()

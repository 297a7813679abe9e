"""The test beds themselves work, proven with real clients: smtplib and msmtp against the real
Postfix, ansible over the real sshd."""
import os
import smtplib
import ssl
import subprocess
import sys
import uuid
from email.message import EmailMessage

import pytest

MSMTP = '/usr/bin/msmtp'


def make_message(sender, recipient, subject=None):
    message = EmailMessage()
    message['From'] = sender
    message['To'] = recipient
    message['Subject'] = subject or 'test bed %s' % uuid.uuid4().hex
    message.set_content('Sent by tests/integration/test_testbeds.py.\n')
    return message


def tls_context(pki):
    return ssl.create_default_context(cafile=pki.ca_file)


def delivered(postfix, subject, recipient):
    messages = postfix.wait_for(1, recipient=recipient, subject=subject)
    assert len(messages) == 1, (postfix.messages(), postfix.diagnostics())
    return messages[0]


# -- Postfix through smtplib -------------------------------------------------------------------


def test_plain_listener_delivers_to_the_local_domain(mailbox):
    message = make_message('someone@elsewhere.test', 'alice@%s' % mailbox.domain)
    with smtplib.SMTP(mailbox.host, mailbox.plain_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn('starttls') and not smtp.has_extn('auth')
        smtp.send_message(message)
    got = delivered(mailbox, message['Subject'], 'alice@example.test')
    assert got.sender == 'someone@elsewhere.test'
    assert got.get_content() == 'Sent by tests/integration/test_testbeds.py.\n'


def test_plain_listener_does_not_relay(mailbox):
    with smtplib.SMTP(mailbox.host, mailbox.plain_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(make_message('someone@elsewhere.test', 'bob@elsewhere.test'))
    code, text = refused.value.recipients['bob@elsewhere.test']
    assert code == 554 and b'Relay access denied' in text


@pytest.mark.parametrize('mechanism', ['PLAIN', 'LOGIN'])
def test_submission_starttls_then_auth(mailbox, pki, mechanism):
    message = make_message(mailbox.username, 'carol@%s' % mailbox.domain)
    with smtplib.SMTP(mailbox.host, mailbox.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn('starttls') and not smtp.has_extn('auth')  # AUTH only after TLS
        smtp.starttls(context=tls_context(pki))  # verifies the chain and 127.0.0.1 against the run's CA
        smtp.ehlo()
        assert set(smtp.esmtp_features['auth'].split()) == {'PLAIN', 'LOGIN'}
        smtp.user, smtp.password = mailbox.username, mailbox.password
        code, _reply = smtp.auth(mechanism, getattr(smtp, 'auth_' + mechanism.lower()), initial_response_ok=False)
        assert code == 235
        smtp.send_message(message)
    got = delivered(mailbox, message['Subject'], 'carol@example.test')
    assert 'using TLS' in got['Received']
    assert 'sasl_method=%s, sasl_username=%s' % (mechanism, mailbox.username) in mailbox.log_tail(200)


def test_submission_requires_starttls(mailbox):
    with smtplib.SMTP(mailbox.host, mailbox.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        code, text = smtp.mail('someone@elsewhere.test')
    assert code == 530 and b'STARTTLS' in text


def test_submission_refuses_unauthenticated_clients(mailbox, pki):
    with smtplib.SMTP(mailbox.host, mailbox.submission_port, timeout=10) as smtp:
        smtp.starttls(context=tls_context(pki))
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(make_message('someone@elsewhere.test', 'dave@example.test'))
        code, text = refused.value.recipients['dave@example.test']
        assert code == 530 and text.endswith(b'Authentication required')
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(make_message('someone@elsewhere.test', 'dave@elsewhere.test'))
        relay_denied = (554, b'5.7.1 <dave@elsewhere.test>: Relay access denied')
        assert refused.value.recipients['dave@elsewhere.test'] == relay_denied
    assert mailbox.messages() == []


def test_submission_wrong_password_gets_535(mailbox, pki):
    with smtplib.SMTP(mailbox.host, mailbox.submission_port, timeout=10) as smtp:
        smtp.starttls(context=tls_context(pki))
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            smtp.login(mailbox.username, 'not-' + mailbox.password)
    assert failed.value.smtp_code == 535


def test_submission_certificate_is_not_trusted_without_the_run_ca(mailbox):
    with smtplib.SMTP(mailbox.host, mailbox.submission_port, timeout=10) as smtp:
        with pytest.raises(ssl.SSLCertVerificationError):
            smtp.starttls(context=ssl.create_default_context())


def test_smtps_implicit_tls_then_auth(mailbox, pki):
    message = make_message(mailbox.username, 'erin@%s' % mailbox.domain)
    with smtplib.SMTP_SSL(mailbox.host, mailbox.smtps_port, timeout=10, context=tls_context(pki)) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn('starttls')
        smtp.login(mailbox.username, mailbox.password)
        smtp.send_message(message)
    got = delivered(mailbox, message['Subject'], 'erin@example.test')
    assert 'using TLS' in got['Received']


def test_smtps_refuses_unauthenticated_clients(mailbox, pki):
    with smtplib.SMTP_SSL(mailbox.host, mailbox.smtps_port, timeout=10, context=tls_context(pki)) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(make_message('someone@elsewhere.test', 'frank@example.test'))
    assert refused.value.recipients['frank@example.test'][0] == 530


# -- Postfix through msmtp ---------------------------------------------------------------------


@pytest.fixture
def msmtprc(mailbox, tmp_path):
    path = tmp_path / 'msmtprc'
    path.write_text('\n'.join([
        'defaults',
        'logfile %s' % (tmp_path / 'msmtp.log'),
        'account default',
        'host %s' % mailbox.host,
        'port %d' % mailbox.submission_port,
        'tls on',
        'tls_starttls on',
        'tls_trust_file %s' % mailbox.ca_file,
        'auth on',
        'user %s' % mailbox.username,
        'password %s' % mailbox.password,
        'from %s' % mailbox.username,
        '',
    ]))
    path.chmod(0o600)  # msmtp refuses a password in a file others can read
    return str(path)


def msmtp(*args, message=None):
    proc = subprocess.run([MSMTP] + list(args), input=message.as_bytes() if message else None,
                          capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    return proc.stdout.decode()


def test_msmtp_sends_through_submission(mailbox, msmtprc):
    message = make_message(mailbox.username, 'grace@%s' % mailbox.domain)
    msmtp('-C', msmtprc, '-t', message=message)
    got = delivered(mailbox, message['Subject'], 'grace@example.test')
    assert got.sender == mailbox.username
    assert 'sasl_username=%s' % mailbox.username in mailbox.log_tail(200)

    message = make_message(mailbox.username, 'heidi@%s' % mailbox.domain)
    msmtp('-C', msmtprc, 'heidi@example.test', message=message)
    delivered(mailbox, message['Subject'], 'heidi@example.test')


def test_msmtp_serverinfo(mailbox, msmtprc):
    info = msmtp('-C', msmtprc, '--serverinfo')
    assert 'ESMTP email_ops test bed' in info
    assert 'TLS session parameters' in info
    assert 'PLAIN' in info and 'LOGIN' in info


# -- sshd through ansible ----------------------------------------------------------------------


def test_ansible_ping_over_ssh_to_five_hosts(sshd, ansible):
    hosts = {'node%d' % n: {'ansible_host': '127.0.0.%d' % n} for n in range(2, 7)}
    inventory = sshd.inventory(hosts, path=os.path.join(ansible.workdir, 'inventory.yml'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible'), 'all', '-i', inventory,
                           '-m', 'ansible.builtin.ping', '-o'],
                          cwd=ansible.workdir, env=ansible.env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout, proc.stderr, sshd.log_tail())
    lines = proc.stdout.splitlines()
    for name in hosts:
        assert any(line.startswith('%s | SUCCESS' % name) and '"pong"' in line for line in lines), proc.stdout
    log = open(sshd.log_file).read()
    for settings in hosts.values():  # each host really was reached on its own address
        assert 'on %s port %d' % (settings['ansible_host'], sshd.port) in log, sshd.log_tail()
    assert 'Accepted publickey for %s' % sshd.user in log

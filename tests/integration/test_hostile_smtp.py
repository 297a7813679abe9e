"""The SMTP client against hostile and unusual servers on loopback (issue 7 points 3 and 4, issue 10 point 5).

Each hostile session runs in its own Python process (tests/testbed/hostile.py isolated_session), under the
Python of the test run and under Python 3.6, the oldest a managed host may have: it must end classified,
within the session's timeout (+ 2 s), with a small peak memory, and print no form of the password.
"""
import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import SmtpFailure, run_session
from tests.testbed.capture import Capture
from tests.testbed.hostile import hostile, isolated_session, tls11_context  # noqa: F401  pylint: disable=unused-import

# The oldest Python a managed host may run the client with (EMAIL_OPS_PYTHON36 names another interpreter).
PYTHON36 = os.environ.get('EMAIL_OPS_PYTHON36') or os.path.expanduser('~/.pyenv/versions/3.6.15/bin/python')
PYTHONS = {'current': sys.executable, 'python3.6': PYTHON36}


USERNAME = 'app@example.test'
PASSWORD = 'S3cr3t  Pä55 wörd €uro'  # two spaces, Latin-1 and beyond: every escaped form differs from the raw one
ASCII_PASSWORD = 'S3cr3t-ascii-Pa55'  # where the test is about something else than UTF-8
TIMEOUT = 3
MAX_RSS_MB = 80
OPTIONS = settings_argument_spec()['settings']['options']


def interpreter(name):
    python = PYTHONS[name]
    assert os.access(python, os.X_OK), ('%s is missing: this test runs the client under Python 3.6 '
                                        '(install it, or set EMAIL_OPS_PYTHON36)' % python)
    return python


def settings(port, **given):
    """Settings as the module hands them to the client: every key present, defaults applied."""
    result = dict((key, spec.get('default')) for key, spec in OPTIONS.items())
    result.update(host='127.0.0.1', port=port, security='none', auth_method='none', username=USERNAME,
                  password=PASSWORD, allow_insecure_auth=True, from_email=USERNAME, test_email='ops@example.test',
                  timeout=TIMEOUT)
    result.update(given)
    return result


def secret_forms(password=PASSWORD, username=USERNAME, sent=()):
    """Every form of the password a leak could take: raw, whitespace-normalised, base64 of each AUTH string,
    escapes (repr, ascii, JSON, UTF-8 bytes), UTF-8 read as Latin-1, and each AUTH line a server received."""
    raw = password.encode('utf-8')
    forms = {password, ' '.join(password.split()), raw.decode('latin-1'), repr(password)[1:-1], ascii(password)[1:-1],
             repr(raw)[2:-1], json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1]}
    for text in (password, '\0%s\0%s' % (username, password), 'user=%s\x01auth=Bearer %s\x01\x01' % (username, password)):
        forms.add(base64.b64encode(text.encode('utf-8')).decode())
    forms.update(line for line in sent if line and base64.b64decode(line) != username.encode())
    return forms


def leaks(text, **kwargs):
    return sorted(form for form in secret_forms(**kwargs) if form in text)


# name -> (settings overrides from the hostile fixture, stage, (category, stage, words of the hint or message))
SCENARIOS = {
    'endless 220- greeting': (lambda h: dict(port=h.endless_greeting), 'rcpt',
                              ('protocol', 'connect', '100 lines in one reply')),
    'endless line without newline': (lambda h: dict(port=h.endless_line), 'rcpt',
                                     ('protocol', 'connect', '4096 bytes in one reply line')),
    'endless EHLO continuation': (lambda h: dict(port=h.endless_ehlo), 'rcpt',
                                  ('protocol', 'connect', 'the reply to EHLO')),
    'drip one byte every 0.5 s': (lambda h: dict(port=h.drip), 'rcpt',
                                  ('timeout', 'connect', 'the timeout of the whole session')),
    'drip during the TLS handshake': (lambda h: dict(port=h.tls_drip, security='ssl', ca_file=h.ca_file), 'rcpt',
                                      ('timeout', 'tls', 'the timeout of the whole session')),
    'replies up to the session cap': (lambda h: dict(port=h.huge_replies), 'rcpt',
                                      ('protocol', 'rcpt', 'bytes in one session')),
    'endless AUTH challenges': (lambda h: dict(port=h.endless_challenge, auth_method='plain', password=ASCII_PASSWORD), 'auth',
                                ('protocol', 'auth', 'AUTH challenges')),
    'TLS 1.1 only': (lambda h: dict(port=h.tls11, security='ssl', ca_file=h.ca_file), 'rcpt',
                     ('tls', 'tls', 'requires TLS 1.2 or newer')),
}


@pytest.mark.parametrize('python', sorted(PYTHONS))
@pytest.mark.parametrize('name', list(SCENARIOS))
def test_hostile_server_ends_classified_bounded_and_clean(hostile, name, python):  # pylint: disable=redefined-outer-name
    overrides, stage, (category, failed_stage, words) = SCENARIOS[name]
    given = settings(**overrides(hostile))
    run = isolated_session(given, stage=stage, python=interpreter(python))
    assert not run.killed and run.returncode == 0 and run.result, run
    assert 'Traceback' not in run.output, run
    result = run.result
    assert result['ok'] is False, run
    failure = result['failure']
    assert (failure['category'], failure['stage']) == (category, failed_stage), run
    assert words in result['msg'] + ' ' + failure['hint'], run
    assert 'report this as a bug' not in failure['hint']
    assert result['seconds'] <= TIMEOUT + 2 and run.seconds <= TIMEOUT + 10, run  # the session; the child process
    assert run.maxrss_mb < MAX_RSS_MB, run
    assert not leaks(run.output, password=given['password']), run
    assert result['msg'] and '\n' not in result['msg'] and len(result['msg']) < 5000


def test_the_tls11_server_really_offers_tls11(hostile):  # pylint: disable=redefined-outer-name
    """So that the refusal above is the client's doing: a permissive client gets TLS 1.1 from it."""
    context = tls11_context(ssl.Purpose.SERVER_AUTH)
    context.load_verify_locations(hostile.ca_file)
    with socket.create_connection((hostile.host, hostile.tls11), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=hostile.host) as tls:
            assert tls.version() == 'TLSv1.1'
            assert tls.recv(100).startswith(b'220 ')


@pytest.mark.parametrize('python', sorted(PYTHONS))
def test_plaintext_injected_after_starttls_is_never_read(hostile, python):  # pylint: disable=redefined-outer-name
    run = isolated_session(settings(hostile.starttls_inject, security='starttls', auth_method='auto',
                                    ca_file=hostile.ca_file, password=ASCII_PASSWORD), stage='rcpt', python=interpreter(python))
    assert run.result and run.result['ok'] is True, run
    facts = run.result['facts']
    assert facts['stage_reached'] == 'rcpt' and facts['tls']['version'] in ('TLSv1.2', 'TLSv1.3')
    assert facts['esmtp_features'] == {'auth': 'PLAIN'}, facts  # the EHLO reply after TLS, not the injected one
    assert facts['auth_mechanism'] == 'plain' and 'injected' not in json.dumps(facts).lower()
    assert run.result['seconds'] <= TIMEOUT + 2 and run.maxrss_mb < MAX_RSS_MB, run
    assert not leaks(run.output, password=ASCII_PASSWORD), run


@pytest.mark.parametrize('password', [PASSWORD, ASCII_PASSWORD], ids=['utf8', 'ascii'])
@pytest.mark.parametrize('mechanism', ['plain', 'login', 'cram-md5', 'xoauth2'])
def test_credentials_echoed_by_the_server_are_scrubbed(hostile, mechanism, password):  # pylint: disable=redefined-outer-name
    del hostile.echo.received[:]
    run = isolated_session(settings(hostile.echo_auth, auth_method=mechanism, password=password), stage='auth')
    assert run.result and run.result['ok'] is False, run
    assert run.result['failure']['category'] == 'auth' and run.result['failure']['code'] == 535, run
    sent = list(hostile.echo.received)
    assert sent, 'the server heard no AUTH line'
    if mechanism in ('plain', 'login', 'xoauth2'):
        assert any(password.encode('utf-8') in base64.b64decode(line) for line in sent)  # UTF-8 on the wire
    assert '********' in run.result['msg'] and 'Authentication credentials invalid' in run.result['msg']
    assert not leaks(run.output, password=password, sent=sent), run
    assert not leaks(run.result['msg'], password=password, sent=sent), run.result['msg']


def test_a_password_plain_cannot_carry_is_refused_without_naming_it(hostile):  # pylint: disable=redefined-outer-name
    del hostile.echo.received[:]
    password = 'before\0after-Sécret'
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(hostile.echo_auth, auth_method='plain', password=password), stage='auth')
    failure = caught.value
    assert (failure.category, failure.stage) == ('auth', 'auth')
    assert 'AUTH PLAIN cannot carry' in failure.msg and 'auth_method to login' in failure.hint
    assert 'before' not in failure.msg + failure.hint and 'after' not in failure.msg + failure.hint
    assert hostile.echo.received == []  # refused before anything was sent


# -- UTF-8 ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def utf8_capture(pki):
    """The capture server (STARTTLS + AUTH PLAIN, LOGIN, CRAM-MD5) with a UTF-8 password."""
    server = Capture(pki, username=USERNAME, password=PASSWORD, implicit_tls=False, plain=False).start()
    yield server
    server.stop()


@pytest.mark.parametrize('python', sorted(PYTHONS))
@pytest.mark.parametrize('mechanism', ['plain', 'login', 'cram-md5'])
def test_utf8_password_logs_in(utf8_capture, mechanism, python):  # pylint: disable=redefined-outer-name
    to = '%s-%s@example.test' % (mechanism, python.replace('.', ''))
    given = settings(utf8_capture.starttls_port, security='starttls', auth_method=mechanism,
                     ca_file=utf8_capture.ca_file, timeout=10)
    run = isolated_session(given, stage='send', to=to, python=interpreter(python))
    assert run.result and run.result['ok'] is True, run
    assert run.result['facts']['sent'] is True and run.result['facts']['auth_mechanism'] == mechanism
    (received,) = [message for message in utf8_capture.messages if message.recipients == [to]]
    assert received.login == USERNAME and received.tls is True
    assert not leaks(run.output)


def test_utf8_password_through_postfix_and_ansible_playbook(ansible, mailbox):  # pylint: disable=redefined-outer-name
    """A Cyrus sasldb user with a UTF-8 password, PLAIN and LOGIN through Debian's Postfix, from smtp_test."""
    user, realm = 'utf8', mailbox.domain
    sasldb = os.path.join(mailbox.sasl_dir, 'sasldb2')
    before = os.stat(sasldb)
    subprocess.run(['/usr/sbin/saslpasswd2', '-f', sasldb, '-p', '-c', '-u', realm, user], input=PASSWORD.encode('utf-8'),
                   check=True, capture_output=True, timeout=30)
    os.chown(sasldb, before.st_uid, before.st_gid)  # smtpd reads it as postfix, as tests/testbed/postfix.py set it
    os.chmod(sasldb, before.st_mode & 0o777)
    try:
        cases = {}
        for mechanism in ('plain', 'login'):
            cases[mechanism] = dict(mailbox.settings('submission', username='%s@%s' % (user, realm), password=PASSWORD,
                                                     auth_method=mechanism))
        tasks = [{'name': name, 'ignore_errors': True, 'email_ops.smtp.smtp_test': {
            'settings': '{{ cases[%s] }}' % json.dumps(name), 'to': 'utf8-%s@%s' % (name, realm)}} for name in cases]
        play = [{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}]
        run, results = ansible.playbook_json(json.dumps(play, indent=1), '-vvvv', extra_vars={'cases': cases})
        for mechanism in cases:
            result = results[mechanism]['localhost']
            assert result['_status'] == 'ok' and result['sent'] is True, result
            assert result['auth_mechanism'] == mechanism
            (delivered,) = mailbox.wait_for(1, recipient='utf8-%s@%s' % (mechanism, realm))
            assert delivered['Message-ID'] == result['message_id']
        assert not leaks(run.all_output, username='%s@%s' % (user, realm)), leaks(run.all_output)
    finally:
        subprocess.run(['/usr/sbin/saslpasswd2', '-f', sasldb, '-d', '-u', realm, user], capture_output=True,
                       timeout=30, check=False)


def test_smtputf8_used_when_offered(hostile):  # pylint: disable=redefined-outer-name
    hostile.recorder.clear()
    to = 'jürgen@bücher.example.test'
    facts = run_session(settings(hostile.utf8, password=None, username=None, from_email='app@example.test'),
                        stage='send', to=to)
    assert facts['sent'] is True
    assert hostile.recorder.mail_options == [('app@example.test', ['SMTPUTF8'])]
    ((sender, recipients, data),) = hostile.recorder.messages
    assert recipients == [to] and to.encode('utf-8') in data


@pytest.mark.parametrize('role', ['sender', 'recipient'])
def test_smtputf8_missing_fails_clearly(hostile, role):  # pylint: disable=redefined-outer-name
    hostile.recorder.clear()
    utf8 = 'jürgen@example.test'
    given = dict(from_email=utf8) if role == 'sender' else {}
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(hostile.ascii, password=None, username=None, **given), stage='rcpt',
                    to=utf8 if role == 'recipient' else 'ops@example.test')
    failure = caught.value
    assert (failure.category, failure.stage) == (role, 'rcpt')
    assert 'does not offer SMTPUTF8' in failure.msg and utf8 in failure.msg and 'xn--' in failure.hint
    assert hostile.recorder.mail_options == []  # nothing half-sent


def test_a_named_mechanism_without_password_fails_clearly(hostile):  # pylint: disable=redefined-outer-name
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(hostile.echo_auth, auth_method='login', password=None), stage='auth')
    failure = caught.value
    assert (failure.category, failure.stage) == ('auth', 'auth') and 'auth_method login needs a password' in failure.msg


def test_auto_without_password_does_not_log_in(hostile):  # pylint: disable=redefined-outer-name
    """security none, a username, no password, auth_method auto: no AUTH (the server offers none: it would fail)."""
    facts = run_session(settings(hostile.ascii, auth_method='auto', password=None, allow_insecure_auth=False),
                        stage='rcpt')
    assert facts['stage_reached'] == 'rcpt' and facts['auth_mechanism'] is None


@pytest.mark.parametrize('helo_name', ['höst.example.test', 'host\0name', 'two words'])
def test_helo_name_the_protocol_cannot_carry_is_refused(hostile, helo_name):  # pylint: disable=redefined-outer-name
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(hostile.ascii, helo_name=helo_name), stage='connect')
    failure = caught.value
    assert (failure.category, failure.stage) == ('protocol', 'connect')
    assert 'helo_name must be printable ASCII' in failure.msg and 'xn--' in failure.hint
    assert failure.facts['stage_reached'] is None and set(failure.facts['timings_ms']) == {'total'}


def test_ca_file_with_nul_is_refused(hostile):  # pylint: disable=redefined-outer-name
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(hostile.ascii, security='starttls', ca_file='/etc/ssl/ca\0.pem'), stage='tls')
    failure = caught.value
    assert (failure.category, failure.stage) == ('certificate', 'connect') and 'NUL' in failure.msg
    assert failure.facts['stage_reached'] is None


# -- error recipients ----------------------------------------------------------------------------------------------

def test_error_recipients_are_asked_and_a_refused_one_is_named(hostile):  # pylint: disable=redefined-outer-name
    hostile.recorder.clear()
    given = settings(hostile.ascii, password=None, username=None,
                     error_recipients=[{'email': 'admin@example.test'}, {'email': 'refused-oncall@example.test'}])
    with pytest.raises(SmtpFailure) as caught:
        run_session(given, stage='rcpt')
    failure = caught.value
    assert (failure.category, failure.stage, failure.code) == ('recipient', 'rcpt', 550)
    assert 'refused the recipient refused-oncall@example.test' in failure.msg
    assert hostile.recorder.rcpts == ['ops@example.test', 'admin@example.test', 'refused-oncall@example.test']
    assert hostile.recorder.messages == []


def test_error_recipients_are_asked_but_receive_nothing(hostile):  # pylint: disable=redefined-outer-name
    hostile.recorder.clear()
    given = settings(hostile.ascii, password=None, username=None,
                     error_recipients=[{'email': 'admin@example.test', 'name': 'Admin'}, {'email': 'OPS@example.test'}])
    facts = run_session(given, stage='send')
    assert facts['sent'] is True
    # the test recipient once per transaction; OPS@ is the test recipient again, so not asked twice
    assert hostile.recorder.rcpts == ['ops@example.test', 'admin@example.test', 'ops@example.test']
    ((sender, recipients, unused),) = hostile.recorder.messages
    assert recipients == ['ops@example.test']


def test_scrubbing_collapsed_whitespace_and_escapes():
    """The forms _one_line() and repr() make of a password with runs of whitespace and non-ASCII characters."""
    from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_faults import classify
    import smtplib
    reply = ('5.7.8 %s | %s | %s | %s' % (' '.join(PASSWORD.split()), ascii(PASSWORD), repr(PASSWORD.encode('utf-8')),
                                          PASSWORD.upper())).encode('utf-8')
    failure = classify(smtplib.SMTPAuthenticationError(535, reply), 'auth', settings(25))
    assert not leaks(failure.msg), failure.msg
    assert re.search(r'\*{8}.*\*{8}.*\*{8}.*\*{8}', failure.msg), failure.msg


@pytest.mark.parametrize('python', sorted(PYTHONS))
@pytest.mark.parametrize('server, hint', [('wrong_name', 'does not name 127.0.0.1'), ('expired', 'certificate'),
                                          ('picky', None)])
def test_certificates_are_verified(faults, server, hint, python):  # pylint: disable=redefined-outer-name
    """The fault servers' certificates, from the test run's Python and from 3.6 (whose errors have other types)."""
    given = settings(getattr(faults, server), security='starttls', auth_method='auto', ca_file=faults.ca_file,
                     password=ASCII_PASSWORD)
    run = isolated_session(given, stage='tls', python=interpreter(python))
    assert run.result, run
    if hint is None:
        assert run.result['ok'] is True and run.result['facts']['tls']['version'] in ('TLSv1.2', 'TLSv1.3'), run
    else:
        assert run.result['ok'] is False and run.result['failure']['category'] == 'certificate', run
        assert hint in run.result['failure']['hint'], run

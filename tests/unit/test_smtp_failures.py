"""Failure classification of the SMTP client: exception + step -> category, stage, code, hint. Pure logic, no server."""
import base64
import smtplib
import socket
import ssl
import time

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import (
    MAX_LINE_BYTES, MAX_REPLY_LINES, MAX_SESSION_BYTES, STAGES, LimitError, RequirementError, SettingError, SmtpFailure,
    _certificate_facts, _Session, _Wire, require_tls12, run_session,
)
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_faults import classify

PASSWORD = 'S3cr3t-Pa55!word'
OPTIONS = settings_argument_spec()['settings']['options']
CATEGORIES = {'dns', 'connect', 'timeout', 'tls', 'certificate', 'auth', 'sender', 'recipient', 'data', 'protocol'}


def settings(**given):
    """Settings as the module sees them: every key present, defaults applied."""
    result = dict((key, spec.get('default')) for key, spec in OPTIONS.items())
    result.update(host='smtp.example.com', username='app@example.com', password=PASSWORD,
                  from_email='app@example.com', timeout=5)
    result.update(given)
    return result


def b64(text):
    return base64.b64encode(text.encode()).decode()


def ssl_error(library, text):
    """An ssl.SSLError as OpenSSL raises it, with the library that failed."""
    error = ssl.SSLError(1, text)
    error.library = library
    return error


def cert_error(code, message):
    error = ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s' % message)
    error.verify_code, error.verify_message = code, message
    return error


def disconnected_by(cause):
    """What smtplib raises when reading a reply fails: SMTPServerDisconnected, the real cause as context."""
    error = smtplib.SMTPServerDisconnected('Connection unexpectedly closed: %s' % cause)
    error.__context__ = cause
    return error


# (error, step, settings overrides) -> (category, stage, code, words the hint must contain)
CASES = {
    'dns failure': (socket.gaierror(-2, 'Name or service not known'), 'connect', {},
                    ('dns', 'connect', None, 'check host')),
    'connection refused': (ConnectionRefusedError(111, 'Connection refused'), 'connect', {},
                           ('connect', 'connect', None, 'nothing listens on smtp.example.com:587')),
    'network unreachable': (OSError(101, 'Network is unreachable'), 'connect', {},
                            ('connect', 'connect', None, 'firewall')),
    'tcp connect times out': (socket.timeout('timed out'), 'connect', {},
                              ('timeout', 'connect', None, 'firewall')),
    '465 with starttls: no greeting': (socket.timeout('timed out'), 'banner', {'port': 465},
                                       ('timeout', 'connect', None, 'port 465 speaks implicit TLS: use security: ssl')),
    'other port with starttls: no greeting': (socket.timeout('timed out'), 'banner', {'port': 2525},
                                              ('timeout', 'connect', None, 'implicit TLS (as 465 does), use security: ssl')),
    'ssl: no greeting after handshake': (socket.timeout('timed out'), 'banner', {'security': 'ssl', 'port': 465},
                                         ('timeout', 'connect', None, 'overloaded')),
    'handshake times out': (socket.timeout('The handshake operation timed out'), 'tls', {},
                            ('timeout', 'tls', None, 'may not speak TLS')),
    'RCPT reply times out (via smtplib)': (disconnected_by(socket.timeout('timed out')), 'rcpt', {},
                                           ('timeout', 'rcpt', None, 'raise timeout')),
    '421 at greeting': (smtplib.SMTPConnectError(421, b'4.7.0 Too many connections, try again later'), 'banner', {},
                        ('connect', 'connect', 421, 'try again later')),
    '554 at greeting': (smtplib.SMTPConnectError(554, b'5.7.1 Your IP is listed'), 'banner', {},
                        ('connect', 'connect', 554, 'block list')),
    'greeting is not SMTP': (smtplib.SMTPResponseException(-1, b'\x15\x03\x01'), 'banner', {},
                             ('protocol', 'connect', None, 'use security: ssl')),
    'hang-up instead of greeting': (smtplib.SMTPServerDisconnected('Connection unexpectedly closed'), 'banner', {},
                                    ('connect', 'connect', None, 'use security: ssl')),
    'EHLO refused': (smtplib.SMTPHeloError(501, b'5.5.2 Invalid hostname'), 'ehlo', {},
                     ('protocol', 'connect', 501, 'helo_name')),
    'STARTTLS not offered': (RequirementError('STARTTLS'), 'tls', {},
                             ('tls', 'tls', None, 'never falls back to clear text')),
    'STARTTLS refused': (smtplib.SMTPResponseException(454, b'4.7.0 TLS not available'), 'tls', {},
                         ('tls', 'tls', 454, 'try again later')),
    'ssl against a plain port': (ssl_error('SSL', '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)'),
                                 'tls', {'security': 'ssl'},
                                 ('tls', 'tls', None, 'this port speaks plain SMTP: use security: starttls (587) or none')),
    'STARTTLS then no TLS': (ssl_error('SSL', '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)'),
                             'tls', {}, ('tls', 'tls', None, 'proxy')),
    'hang-up during handshake': (ssl.SSLEOFError(8, 'EOF occurred in violation of protocol'), 'tls', {},
                                 ('tls', 'tls', None, 'TLS configuration')),
    'reset during handshake': (ConnectionResetError(104, 'Connection reset by peer'), 'tls', {},
                               ('tls', 'tls', None, 'TLS configuration')),
    'expired certificate': (cert_error(10, 'certificate has expired'), 'tls', {},
                            ('certificate', 'tls', None, 'has expired')),
    'certificate for another name': (cert_error(62, "Hostname mismatch, certificate is not valid for 'x'."), 'tls', {},
                                     ('certificate', 'tls', None, 'does not name smtp.example.com')),
    'certificate for another IP': (cert_error(64, "IP address mismatch"), 'tls', {'host': '192.0.2.1'},
                                   ('certificate', 'tls', None, 'does not name 192.0.2.1')),
    'unknown CA': (cert_error(20, 'unable to get local issuer certificate'), 'tls', {},
                   ('certificate', 'tls', None, 'unknown CA')),
    'self-signed': (cert_error(18, 'self-signed certificate'), 'tls', {},
                    ('certificate', 'tls', None, 'set ca_file')),
    'ca_file missing': (FileNotFoundError(2, 'No such file or directory'), 'tls', {'ca_file': '/etc/ssl/x.pem'},
                        ('certificate', 'tls', None, 'copy the CA bundle there')),
    'ca_file not PEM': (ssl_error('X509', '[X509: NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found'), 'tls',
                        {'ca_file': '/etc/ssl/x.pem'}, ('certificate', 'tls', None, 'PEM file')),
    'AUTH not offered': (RequirementError('AUTH'), 'auth', {}, ('auth', 'auth', None, 'auth_method: none')),
    'mechanism not offered': (RequirementError('AUTH CRAM-MD5', ['plain', 'login']), 'auth', {'auth_method': 'cram-md5'},
                              ('auth', 'auth', None, 'set auth_method to one it offers (plain, login)')),
    'no supported mechanism': (RequirementError('AUTH', ['gssapi', 'ntlm']), 'auth', {},
                               ('auth', 'auth', None, 'PLAIN, LOGIN or CRAM-MD5')),
    'password in clear text': (RequirementError('encryption'), 'auth', {'security': 'none'},
                               ('auth', 'auth', None, 'allow_insecure_auth')),
    '535 bad credentials': (smtplib.SMTPAuthenticationError(535, b'5.7.8 Authentication credentials invalid'), 'auth',
                            {}, ('auth', 'auth', 535, 'check username and password')),
    '534 app password required': (smtplib.SMTPAuthenticationError(534, b'5.7.9 Application-specific password required'),
                                  'auth', {}, ('auth', 'auth', 534, 'app password')),
    '535 with xoauth2': (smtplib.SMTPAuthenticationError(535, b'5.7.8 Username and Password not accepted'), 'auth',
                         {'auth_method': 'xoauth2'}, ('auth', 'auth', 535, 'fresh token')),
    '454 temporary auth failure': (smtplib.SMTPAuthenticationError(454, b'4.7.0 Temporary authentication failure'),
                                   'auth', {}, ('auth', 'auth', 454, 'try again later')),
    '530 auth required at MAIL FROM': (smtplib.SMTPResponseException(530, b'5.7.0 Authentication required'), 'mail', {},
                                       ('auth', 'rcpt', 530, 'set username and password')),
    '530 STARTTLS first': (smtplib.SMTPResponseException(530, b'5.7.0 Must issue a STARTTLS command first'), 'mail',
                           {'security': 'none'}, ('tls', 'rcpt', 530, 'use security: starttls')),
    '550 on MAIL FROM': (smtplib.SMTPResponseException(550, b'5.7.1 Sender address rejected'), 'mail', {},
                         ('sender', 'rcpt', 550, 'use an address it owns')),
    '451 on MAIL FROM': (smtplib.SMTPResponseException(451, b'4.3.0 Try later'), 'mail', {},
                         ('sender', 'rcpt', 451, 'temporary')),
    '550 on RCPT': (smtplib.SMTPResponseException(550, b'5.1.1 User unknown'), 'rcpt', {},
                    ('recipient', 'rcpt', 550, 'check the address')),
    '451 on RCPT': (smtplib.SMTPResponseException(451, b'4.7.1 Greylisted'), 'rcpt', {},
                    ('recipient', 'rcpt', 451, 'temporary: try again later')),
    '554 at DATA': (smtplib.SMTPDataError(554, b'5.7.1 Message rejected as spam'), 'data', {},
                    ('data', 'send', 554, 'filter')),
    '452 at DATA': (smtplib.SMTPDataError(452, b'4.3.1 Insufficient system storage'), 'data', {},
                    ('data', 'send', 452, 'try again later')),
    'dropped mid-DATA': (smtplib.SMTPServerDisconnected('Connection unexpectedly closed'), 'data', {},
                         ('data', 'send', None, 'nothing was delivered')),
    'reset mid-DATA (via smtplib)': (disconnected_by(ConnectionResetError(104, 'Connection reset by peer')), 'data', {},
                                     ('data', 'send', None, 'nothing was delivered')),
    'hang-up after EHLO': (smtplib.SMTPServerDisconnected('Connection unexpectedly closed'), 'mail', {},
                           ('protocol', 'rcpt', None, 'check its logs')),
    'no recipient': (RequirementError('recipient'), 'mail', {}, ('recipient', 'rcpt', None, 'test_email')),
    'a bug of ours': (KeyError('oops'), 'data', {}, ('protocol', 'send', None, 'report this as a bug')),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_classification(name):
    error, step, overrides, (category, stage, code, hint_words) = CASES[name]
    failure = classify(error, step, settings(**overrides), recipient='ops@example.com')
    assert isinstance(failure, SmtpFailure)
    assert (failure.category, failure.stage, failure.code) == (category, stage, code)
    assert hint_words in failure.hint
    assert failure.msg and '\n' not in failure.msg
    assert failure.category in CATEGORIES and failure.stage in STAGES
    assert failure.as_dict() == dict(category=category, stage=stage, code=code, hint=failure.hint)


def test_message_names_server_and_reply():
    failure = classify(smtplib.SMTPResponseException(550, b'5.1.1 <x@example.com>:\nUser unknown'), 'rcpt',
                       settings(port=2525), recipient='x@example.com')
    assert failure.msg == ('smtp.example.com:2525 refused the recipient x@example.com: '
                           '550 5.1.1 <x@example.com>: User unknown')


@pytest.mark.parametrize('echo', [PASSWORD, b64(PASSWORD), b64('\0app@example.com\0' + PASSWORD)],
                         ids=['raw', 'AUTH LOGIN', 'AUTH PLAIN'])
def test_password_echoed_by_the_server_is_scrubbed(echo):
    error = smtplib.SMTPAuthenticationError(535, ('5.7.8 bad credentials %s' % echo).encode())
    failure = classify(error, 'auth', settings())
    assert PASSWORD not in failure.msg + failure.hint and echo not in failure.msg
    assert '********' in failure.msg


def test_unknown_stage_is_refused_before_any_connection():
    with pytest.raises(ValueError):
        run_session(settings(), stage='deliver')


def test_refused_connection_becomes_a_failure_with_facts():
    with socket.socket() as unused:
        unused.bind(('127.0.0.1', 0))
        port = unused.getsockname()[1]
    with pytest.raises(SmtpFailure) as caught:
        run_session(settings(host='127.0.0.1', port=port, timeout=2), stage='connect')
    failure = caught.value
    assert (failure.category, failure.stage) == ('connect', 'connect')
    assert failure.facts['stage_reached'] is None and failure.facts['sent'] is False
    assert set(failure.facts['timings_ms']) == {'connect', 'total'}


# -- issue 7: caps, deadline, settings the wire cannot carry, Python 3.6 error types ---------------------------------

@pytest.mark.parametrize('limit, words', [('line', '4096 bytes in one reply line'), ('lines', '100 lines in one reply'),
                                          ('session', 'bytes in one session'), ('challenges', 'AUTH challenges')])
def test_a_cap_reached_is_a_protocol_failure(limit, words):
    failure = classify(LimitError(limit), 'banner', settings(port=465))
    assert (failure.category, failure.stage, failure.code) == ('protocol', 'connect', None)
    assert words in failure.msg and "the server's greeting" in failure.msg
    assert 'broken or hostile' in failure.hint and 'use security: ssl' in failure.hint


def test_a_slow_server_ends_at_the_session_deadline():
    failure = classify(socket.timeout('timed out'), 'ehlo', settings(timeout=7))
    assert (failure.category, failure.stage) == ('timeout', 'connect')
    assert 'within 7s (the timeout of the whole session)' in failure.msg


@pytest.mark.parametrize('role, address', [('sender', 'jürgen@example.test'), ('recipient', 'ops@bücher.example')])
def test_smtputf8_not_offered(role, address):
    error = RequirementError('SMTPUTF8', address=address, role=role)
    failure = classify(error, 'mail', settings())
    assert (failure.category, failure.stage) == (role, 'rcpt')
    assert 'does not offer SMTPUTF8' in failure.msg and address in failure.msg and 'xn--' in failure.hint


def test_setting_errors_keep_their_category():
    failure = classify(SettingError('auth', 'the username or password has a character AUTH PLAIN cannot carry', 'use login'),
                       'auth', settings())
    assert (failure.category, failure.stage, failure.hint) == ('auth', 'auth', 'use login')


@pytest.mark.parametrize('error, hint', [
    (ssl.CertificateError("hostname '127.0.0.1' doesn't match 'mail.other.test'"), 'does not name'),
    (ssl.SSLError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed (_ssl.c:852)'), 'unknown CA'),
], ids=['3.6 host name', '3.6 chain'])
def test_python36_certificate_errors(error, hint):
    if not isinstance(error, ssl.CertificateError):
        error.reason = 'CERTIFICATE_VERIFY_FAILED'  # as 3.6's _ssl sets it
    failure = classify(error, 'tls', settings())
    assert (failure.category, failure.stage) == ('certificate', 'tls') and hint in failure.hint


def test_tls_below_12_is_refused_by_the_context():
    context = require_tls12(ssl.create_default_context())
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    session = _Session(settings(), 'ops@example.com')
    assert session._tls_context().minimum_version >= ssl.TLSVersion.TLSv1_2  # pylint: disable=protected-access


def test_secret_forms_cover_echoes():
    password = 'tab\tand  spaces ä€'
    given = settings(password=password)
    forms = (password, ' '.join(password.split()), ascii(password), repr(password.encode()), b64('\0app@example.com\0' + password))
    echo = ('535 %s | %s | %s | %s | %s' % forms).encode()
    failure = classify(smtplib.SMTPAuthenticationError(535, echo), 'auth', given, sent=['Y3JhbS1yZXNwb25zZQ=='])
    for form in (password, ' '.join(password.split()), ascii(password)[1:-1], repr(password.encode())[2:-1]):
        assert form not in failure.msg
    assert failure.msg.count('********') == 5
    echoed = classify(smtplib.SMTPAuthenticationError(535, b'you sent Y3JhbS1yZXNwb25zZQ=='), 'auth', given,
                      sent=['Y3JhbS1yZXNwb25zZQ=='])
    assert 'Y3JhbS1yZXNwb25zZQ==' not in echoed.msg


def wire(deadline_in=5.0):
    ours, theirs = socket.socketpair()
    return _Wire(ours, time.monotonic() + deadline_in), theirs


def test_wire_caps_lines_per_reply():
    client, server = wire()
    with client.sock, server:
        server.sendall(b'220-more\r\n' * (MAX_REPLY_LINES + 1))
        with pytest.raises(LimitError) as caught:
            client.read_reply()
        assert caught.value.limit == 'lines'


def test_wire_caps_line_length():
    client, server = wire()
    with client.sock, server:
        server.sendall(b'220 ' + b'x' * MAX_LINE_BYTES)
        with pytest.raises(LimitError) as caught:
            client.read_reply()
        assert caught.value.limit == 'line'


def test_wire_caps_bytes_per_session():
    client, server = wire()
    with client.sock, server:
        line = b'250-' + b'y' * 4000 + b'\r\n'
        server.setblocking(False)
        with pytest.raises(LimitError) as caught:
            for unused in range(MAX_SESSION_BYTES // 4000 + 10):
                for unused_line in range(50):
                    try:
                        server.send(line)
                    except BlockingIOError:
                        break
                client.read_line()
        assert caught.value.limit == 'session'
        assert client.received <= MAX_SESSION_BYTES + MAX_LINE_BYTES


def test_wire_deadline_covers_the_whole_session():
    client, server = wire(deadline_in=1.0)
    with client.sock, server:
        started = time.monotonic()
        server.sendall(b'220 ok\r\n')
        assert client.read_reply() == (220, b'ok')
        with pytest.raises(socket.timeout):
            for unused in range(100):  # a byte now and then would keep a per-read timeout alive forever
                server.sendall(b'2')
                client.read_line()
        assert time.monotonic() - started < 2


def test_wire_reads_replies_as_smtplib_does():
    client, server = wire()
    with client.sock, server:
        server.sendall(b'250-first\r\n250-second\r\n250 last\r\nnot a reply\r\n')
        assert client.read_reply() == (250, b'first\nsecond\nlast')
        assert client.read_reply() == (-1, b'a reply')


@pytest.mark.parametrize('when', ['Jan  5 09:34:43 2027 GMT', 'Dec 31 23:59:59 9999 GMT', 'Feb 29 00:00:00 2028 GMT',
                                  'Oct 10 10:10:10 1999 GMT'])
def test_certificate_dates_read_as_ssl_reads_them(when):
    expected = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ssl.cert_time_to_seconds(when)))
    facts = _certificate_facts({'notBefore': when, 'notAfter': when})
    assert facts['not_before'] == facts['not_after'] == expected


@pytest.mark.parametrize('when', [None, '', 'garbage', 'Foo  5 09:34:43 2027 GMT'])
def test_an_unreadable_certificate_date_is_none_not_a_failure(when):
    assert _certificate_facts({'notAfter': when})['not_after'] is None

"""OAuth2 against the real bed (tests/testbed/oauth.py): fetch_token against the HTTPS authorization server, then
SMTP AUTH XOAUTH2 / OAUTHBEARER with the fetched token through Postfix + Dovecot (oauth2 passdb, introspection),
mail landing in the Maildir; and every way it fails, classified, with no secret or token in any message.

smtplib is used directly here; the collection's SMTP client takes the token once the lead wires _oauth2 in.
"""
import os
import shutil
import smtplib
import socket
import ssl
import threading
import time
import uuid

import pytest
import trustme

from ansible_collections.email_ops.smtp.plugins.module_utils import _oauth2
from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import OAuth2Failure, fetch_token
from tests.testbed.oauth import MAILBOX, OTHER_MAILBOX, OAuthBed, oauth_bed  # noqa: F401  pylint: disable=unused-import
from tests.testbed.postfix import _running, listening

RECIPIENT = 'inbox@example.test'


def fetch_failure(oauth2, timeout=10):
    with pytest.raises(OAuth2Failure) as caught:
        fetch_token(oauth2, timeout)
    return caught.value


def shown(failure):
    """Everything a user would see of a failure."""
    return ' '.join(str(part) for part in (failure, failure.msg, failure.hint, failure.as_dict()))


def secrets_of(bed):  # pylint: disable=redefined-outer-name
    """Every client secret, refresh token and access token the server knows."""
    values = [client.secret for client in bed.auth.clients.values()]
    values += list(bed.auth.refresh_tokens) + list(bed.auth.tokens) + [bed.auth.resource_secret]
    return values


def assert_no_secret(text, bed):  # pylint: disable=redefined-outer-name
    leaked = [value for value in secrets_of(bed) if value in text]
    assert not leaked, 'a secret or token appears in: %s' % text


def smtp_login(bed, mechanism, user, token):  # pylint: disable=redefined-outer-name
    """STARTTLS + AUTH `mechanism` on the bed's submission port; return (client, challenges the server sent)."""
    client = smtplib.SMTP(bed.host, bed.submission_port, timeout=15)
    client.starttls(context=ssl.create_default_context(cafile=bed.ca_file))
    client.ehlo()
    challenges = []

    def respond(challenge=None):
        if challenge is None:
            if mechanism == 'XOAUTH2':
                return _oauth2.xoauth2_string(user, token)
            return _oauth2.oauthbearer_string(user, token, bed.host, bed.submission_port)
        challenges.append(challenge)
        return _oauth2.oauthbearer_abort() if mechanism == 'OAUTHBEARER' else ''

    try:
        client.auth(mechanism, respond, initial_response_ok=True)
    except smtplib.SMTPAuthenticationError as error:
        client.close()
        error.challenges = challenges
        raise
    return client, challenges


def send_with(bed, mechanism, token, user=MAILBOX):  # pylint: disable=redefined-outer-name
    subject = 'oauth %s %s' % (mechanism, uuid.uuid4().hex)
    client, challenges = smtp_login(bed, mechanism, user, token)
    try:
        client.sendmail(user, [RECIPIENT], 'From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nsent with a fetched token\r\n'
                        % (user, RECIPIENT, subject))
    finally:
        client.quit()
    assert challenges == []
    return subject


def delivered(bed, subject):  # pylint: disable=redefined-outer-name
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [m for m in bed.postfix.messages(RECIPIENT) if m['Subject'] == subject]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError('no message %r in %s\n%s' % (subject, bed.postfix.maildir, bed.diagnostics()))


def refused(bed, mechanism, user, token):  # pylint: disable=redefined-outer-name
    """Log in with a token the server must refuse; return the classified 334 error challenge."""
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        smtp_login(bed, mechanism, user, token)
    assert caught.value.smtp_code == 535, bed.diagnostics()
    assert len(caught.value.challenges) == 1, 'expected one 334 error challenge, got %r' % caught.value.challenges
    return _oauth2.parse_error_challenge(caught.value.challenges[0])


def dovecot_log_since(bed, size):  # pylint: disable=redefined-outer-name
    with open(bed.dovecot_log, errors='replace') as handle:
        handle.seek(size)
        return handle.read()


# -- fetch_token against the real authorization server ----------------------------------------------------------

def test_bed_starts_in_bounded_time(oauth_bed):  # noqa: F811
    assert oauth_bed.start_seconds < 30
    assert oauth_bed.auth.token_url.startswith('https://127.0.0.1:')


def test_client_credentials_grant(oauth_bed):  # noqa: F811
    token = fetch_token(oauth_bed.auth.oauth2(oauth_bed.client, scope='smtp.send'), 10)
    assert token['token_type'] == 'Bearer'
    assert token['scope'] == 'smtp.send'
    assert token['expires_in'] == 3600
    assert abs(token['expires_at'] - (time.time() + 3600)) < 60
    assert token['refresh_token'] is None
    stored = oauth_bed.auth.tokens[token['access_token']]
    assert (stored.user, stored.client) == (MAILBOX, oauth_bed.client)
    path, form = oauth_bed.auth.requests[-1]
    assert path == '/oauth2/token'
    assert form['grant_type'] == 'client_credentials' and form['client_id'] == 'mailer'


def test_refresh_token_grant_rotates(oauth_bed):  # noqa: F811
    refresh = oauth_bed.auth.refresh_token_for(oauth_bed.client, scope='smtp.send')
    token = fetch_token(oauth_bed.auth.oauth2(oauth_bed.client, refresh_token=refresh, scope=None), 10)
    assert oauth_bed.auth.requests[-1][1]['grant_type'] == 'refresh_token'
    assert token['scope'] == 'smtp.send'
    assert token['refresh_token'] and token['refresh_token'] != refresh
    # The old refresh token was rotated away: using it again is a rejected grant.
    failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, refresh_token=refresh))
    assert (failure.category, failure.reason, failure.code) == ('oauth', 'grant', 'invalid_grant')
    assert 'refresh token' in failure.hint
    assert_no_secret(shown(failure), oauth_bed)


@pytest.mark.parametrize('overrides, reason, code, hint_words', [
    (dict(client_secret='not-the-secret'), 'client', 'invalid_client', 'client_secret'),
    (dict(client_id='nobody-knows-me'), 'client', 'invalid_client', 'client_id'),
    (dict(scope='smtp.send mail.read'), 'scope', 'invalid_scope', 'scope'),
    (dict(refresh_token='rt-never-issued'), 'grant', 'invalid_grant', 'refresh token'),
], ids=['bad secret', 'unknown client', 'wrong scope', 'unknown refresh token'])
def test_token_endpoint_refusals_are_classified(oauth_bed, overrides, reason, code, hint_words):  # noqa: F811
    failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, **overrides))
    assert (failure.category, failure.stage, failure.reason, failure.code) == ('oauth', 'auth', reason, code)
    assert 'token endpoint 127.0.0.1 refused the request' in failure.msg
    assert hint_words in failure.hint
    assert '\n' not in failure.msg
    assert_no_secret(shown(failure), oauth_bed)


def test_grant_the_client_may_not_use_is_client_rejected(oauth_bed):  # noqa: F811
    client = oauth_bed.auth.add_client('no-refresh-' + uuid.uuid4().hex[:8], MAILBOX, grants=('client_credentials',))
    refresh = oauth_bed.auth.refresh_token_for(client)
    failure = fetch_failure(oauth_bed.auth.oauth2(client, refresh_token=refresh))
    assert (failure.reason, failure.code) == ('client', 'unauthorized_client')
    assert 'refresh_token grant' in failure.hint
    assert_no_secret(shown(failure), oauth_bed)


def test_server_echoing_secrets_is_scrubbed(oauth_bed):  # noqa: F811
    refresh = oauth_bed.auth.refresh_token_for(oauth_bed.client)
    oauth_bed.auth.echo_secrets = True
    try:
        wrong = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, client_secret='Wr0ng+S3cret/=&x'))
        grant = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, refresh_token='rt-' + 'z' * 30))
        client = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, client_secret='Wr0ng+S3cret/=&x',
                                                     refresh_token=refresh))
    finally:
        oauth_bed.auth.echo_secrets = False
    for failure, secret in ((wrong, 'Wr0ng+S3cret/=&x'), (grant, 'rt-' + 'z' * 30), (client, refresh)):
        assert secret not in shown(failure)
        assert _oauth2.MASK in failure.msg, failure.msg  # the server did say it: we show where, masked
        assert '\n' not in failure.msg and '\r' not in failure.msg
    assert 'Wr0ng+S3cret/=&x' not in shown(client)


def test_endpoint_down_is_unreachable(oauth_bed):  # noqa: F811
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url='https://127.0.0.1:%d/token' % port))
    assert (failure.category, failure.reason) == ('oauth', 'unreachable')
    assert failure.msg.startswith('cannot reach token endpoint 127.0.0.1: ')
    assert 'refused' in failure.msg.lower()
    assert_no_secret(shown(failure), oauth_bed)


def test_endpoint_silent_is_unreachable_within_the_deadline(oauth_bed):  # noqa: F811
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen(1)  # the kernel completes the TCP handshake; nobody ever speaks TLS
        url = 'https://127.0.0.1:%d/token' % sock.getsockname()[1]
        began = time.monotonic()
        failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url=url), timeout=1)
        took = time.monotonic() - began
    assert (failure.category, failure.reason) == ('oauth', 'unreachable')
    assert 'did not answer within the timeout' in failure.msg
    assert took < 10


def test_one_deadline_for_the_whole_exchange(oauth_bed):  # noqa: F811
    """A server that answers, then drips its body a byte at a time: no single read times out, the deadline does."""
    began = time.monotonic()
    failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url=oauth_bed.auth.base_url + '/drip'),
                            timeout=2)
    took = time.monotonic() - began
    assert (failure.category, failure.reason) == ('oauth', 'unreachable')
    assert 'did not answer within the timeout' in failure.msg
    assert 1.5 < took < 10


def test_unknown_host_is_unreachable(oauth_bed):  # noqa: F811
    failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url='https://login.invalid/token'))
    assert (failure.category, failure.reason) == ('oauth', 'unreachable')
    assert failure.msg.startswith('cannot resolve token endpoint login.invalid')


def test_untrusted_certificate_is_refused_before_sending(oauth_bed, tmp_path):  # noqa: F811
    other_ca = str(tmp_path / 'other-ca.pem')
    trustme.CA().cert_pem.write_to_path(other_ca)
    asked = len(oauth_bed.auth.requests)
    for oauth2 in (oauth_bed.auth.oauth2(oauth_bed.client, ca_file=other_ca),
                   oauth_bed.auth.oauth2(oauth_bed.client, ca_file=None)):  # the system store knows no test CA
        failure = fetch_failure(oauth2)
        assert (failure.category, failure.reason) == ('oauth', 'certificate'), failure.msg
        assert failure.msg.startswith('the certificate of token endpoint 127.0.0.1 is not trusted')
        assert 'oauth2.ca_file' in failure.hint
    assert len(oauth_bed.auth.requests) == asked  # the secret was never sent


def test_certificate_for_another_host_is_refused(oauth_bed):  # noqa: F811
    """A certificate from the trusted CA, but for another name: refused like an untrusted one."""
    context = oauth_bed.pki.server_context(oauth_bed.pki.issue('other-name', 'mail.other.test'))
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        listener.settimeout(10)
        thread = threading.Thread(target=_handshake_once, args=(listener, context), daemon=True)
        thread.start()
        url = 'https://127.0.0.1:%d/token' % listener.getsockname()[1]
        failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url=url))
        thread.join(10)
    assert (failure.category, failure.reason) == ('oauth', 'certificate'), failure.msg
    assert '127.0.0.1' in failure.msg


def _handshake_once(listener, context):
    try:
        conn = listener.accept()[0]
    except OSError:
        return
    try:
        context.wrap_socket(conn, server_side=True).close()
    except (OSError, ssl.SSLError):
        conn.close()


@pytest.mark.parametrize('path, reason, words', [
    ('/no-such-endpoint', 'http', 'HTTP 404'),
    ('/login-page', 'response', 'without a JSON object'),
    ('/huge', 'response', 'sent more than 65536 bytes'),
])
def test_wrong_endpoint_answers_are_classified(oauth_bed, path, reason, words):  # noqa: F811
    failure = fetch_failure(oauth_bed.auth.oauth2(oauth_bed.client, token_url=oauth_bed.auth.base_url + path))
    assert (failure.category, failure.reason) == ('oauth', reason)
    assert words in failure.msg
    assert 'token_url' in failure.hint
    assert_no_secret(shown(failure), oauth_bed)


# -- SMTP AUTH with a fetched token, through Postfix + Dovecot --------------------------------------------------

@pytest.mark.parametrize('mechanism', ['XOAUTH2', 'OAUTHBEARER'])
def test_client_credentials_token_sends(oauth_bed, mechanism):  # noqa: F811
    token = fetch_token(oauth_bed.auth.oauth2(oauth_bed.client, scope='smtp.send'), 10)
    subject = send_with(oauth_bed, mechanism, token['access_token'])
    message = delivered(oauth_bed, subject)
    assert message.recipient == RECIPIENT
    assert 'sasl_method=%s, sasl_username=%s' % (mechanism, MAILBOX) in oauth_bed.postfix.log_tail(400)


@pytest.mark.parametrize('mechanism', ['XOAUTH2', 'OAUTHBEARER'])
def test_refresh_token_sends(oauth_bed, mechanism):  # noqa: F811
    refresh = oauth_bed.auth.refresh_token_for(oauth_bed.client, scope='smtp.send')
    token = fetch_token(oauth_bed.auth.oauth2(oauth_bed.client, refresh_token=refresh, scope='smtp.send'), 10)
    delivered(oauth_bed, send_with(oauth_bed, mechanism, token['access_token']))


# Dovecot 2.3's error challenge is fixed per mechanism: XOAUTH2 {"status":"401","schemes":"bearer","scope":"mail"},
# OAUTHBEARER {"status":"invalid_token"} (src/auth/mech-oauth2.c). It does not say which of expiry, user or scope
# failed, so the client classifies all three as a refused token and the hint names the three causes; the Dovecot
# log proves each was refused for the reason the test set up.
REFUSALS = {
    'expired token': (lambda bed: bed.client, MAILBOX, 'smtp.send', True, 'Provided token is not valid'),
    'token of another user': (lambda bed: bed.other_client, MAILBOX, 'smtp.send', False,
                              "Username '%s' did not match '%s'" % (MAILBOX, OTHER_MAILBOX)),
    'wrong scope': (lambda bed: bed.profile_client, MAILBOX, 'profile', False, "Token is not valid for scope 'smtp.send'"),
}
CHALLENGES = {'XOAUTH2': ('401', 'bearer', 'mail'), 'OAUTHBEARER': ('invalid_token', None, None)}


@pytest.mark.parametrize('mechanism', ['XOAUTH2', 'OAUTHBEARER'])
@pytest.mark.parametrize('case', sorted(REFUSALS))
def test_refused_token_is_classified_from_the_error_challenge(oauth_bed, case, mechanism):  # noqa: F811
    client, user, scope, expire, logged = REFUSALS[case]
    token = fetch_token(oauth_bed.auth.oauth2(client(oauth_bed), scope=scope), 10)
    if expire:
        oauth_bed.auth.expire(token['access_token'])
    log_size = os.path.getsize(oauth_bed.dovecot_log)
    result = refused(oauth_bed, mechanism, user, token['access_token'])
    assert (result['status'], result['schemes'], result['scope']) == CHALLENGES[mechanism]
    assert result['reason'] == 'token'
    assert result['msg'].startswith('the SMTP server refused the OAuth2 token (status %s)' % CHALLENGES[mechanism][0])
    for cause in ('expired', 'another mailbox', 'scope'):
        assert cause in result['hint']
    assert logged in dovecot_log_since(oauth_bed, log_size), oauth_bed.diagnostics()
    assert_no_secret(repr(result), oauth_bed)


def test_no_token_in_server_logs(oauth_bed):  # noqa: F811
    """Dovecot (auth_verbose, no passwords) and Postfix log who and why, never a token or secret."""
    token = fetch_token(oauth_bed.auth.oauth2(oauth_bed.client, scope='smtp.send'), 10)
    delivered(oauth_bed, send_with(oauth_bed, 'XOAUTH2', token['access_token']))
    with open(oauth_bed.dovecot_log, errors='replace') as handle:
        assert_no_secret(handle.read(), oauth_bed)
    assert_no_secret(oauth_bed.postfix.log_tail(100000), oauth_bed)


def test_bed_stops_everything_it_started(pki):
    """A second bed, started and stopped here: Dovecot's and Postfix's masters gone, the HTTPS port closed.
    Its Dovecot is its own instance (-c <bed>/dovecot/dovecot.conf), never the system one."""
    bed = OAuthBed(pki)  # in /tmp: its daemons (postfix, nobody, dovecot) must traverse the path
    try:
        bed.start()
        dovecot_pid, postfix_pid, port = bed._dovecot_pid(), bed.postfix._master_pid(), bed.auth.port
        assert _running(dovecot_pid) and _running(postfix_pid)
        with open('/proc/%d/cmdline' % dovecot_pid) as handle:
            assert bed.dovecot_conf in handle.read().split('\0')
    finally:
        bed.stop()
        shutil.rmtree(bed.dir, ignore_errors=True)
    deadline = time.monotonic() + 10
    while (_running(dovecot_pid) or _running(postfix_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(dovecot_pid) and not _running(postfix_pid)
    assert not listening('127.0.0.1', port)

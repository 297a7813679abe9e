"""_oauth2's pure logic: SASL strings, the 334 error challenge, token-response classification, scrubbing.
The real exchanges (HTTPS token endpoint, Postfix + Dovecot) are in tests/integration/test_oauth_bed.py."""
import base64
import json

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils import _oauth2
from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import (
    OAuth2Failure, fetch_token, oauthbearer_string, parse_error_challenge, xoauth2_string,
)

SECRET = 'cl1ent+S3cret/with=chars&more'
REFRESH = '1//0refresh-Token_value'
OAUTH2 = dict(token_url='https://login.example.test/tenant/oauth2/v2.0/token', client_id='app-id',
              client_secret=SECRET, scope='https://outlook.office365.com/.default')
WHERE = 'token endpoint login.example.test'


def answer(status, document, oauth2=None):
    """What fetch_token makes of an HTTP answer (status, JSON document or raw bytes)."""
    payload = document if isinstance(document, bytes) else json.dumps(document).encode()
    oauth2 = oauth2 or OAUTH2
    return _oauth2._token_from(status, payload, oauth2, WHERE, _oauth2._secret_forms(oauth2))


def failure_of(status, document, oauth2=None):
    with pytest.raises(OAuth2Failure) as caught:
        answer(status, document, oauth2)
    return caught.value


def visible(failure):
    return ' '.join(str(part) for part in (failure, failure.msg, failure.hint, failure.as_dict()))


# -- SASL strings -----------------------------------------------------------------------------------------------

def test_xoauth2_string():
    assert xoauth2_string('app@example.com', 'ya29.tok') == 'user=app@example.com\x01auth=Bearer ya29.tok\x01\x01'


def test_oauthbearer_string_follows_rfc_7628():
    # RFC 7628 section 4.1's example, with our user and token.
    assert oauthbearer_string('user@example.com', 'vF9dft4qmT', 'server.example.com', 143) == (
        'n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmT\x01\x01')


def test_oauthbearer_escapes_the_authzid_and_host_port_are_optional():
    assert oauthbearer_string('a,b=c@example.com', 'tok') == 'n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer tok\x01\x01'
    assert oauthbearer_string('', 'tok') == 'n,,\x01auth=Bearer tok\x01\x01'
    assert _oauth2.oauthbearer_abort() == '\x01'


# -- the 334 error challenge ------------------------------------------------------------------------------------

def b64(document):
    return base64.b64encode(json.dumps(document).encode())


@pytest.mark.parametrize('challenge, status, reason', [
    (b64({'status': '401', 'schemes': 'bearer', 'scope': 'mail'}), '401', 'token'),                 # Dovecot XOAUTH2
    (b'{"status":"invalid_token"}', 'invalid_token', 'token'),                                      # Dovecot OAUTHBEARER
    (b64({'status': '401', 'schemes': 'Bearer', 'scope': 'https://mail.google.com/'}).decode(), '401', 'token'),
    (b64({'status': 'insufficient_scope', 'scope': 'https://mail.google.com/'}), 'insufficient_scope', 'scope'),
    (b64({'status': '403', 'schemes': 'bearer'}), '403', 'scope'),
    (b64({'status': 'invalid_request'}), 'invalid_request', 'request'),
    (b64({'status': 'teapot'}), 'teapot', 'unknown'),
    (b'not base64 and not json!', None, 'unknown'),
    (None, None, 'unknown'),
])
def test_error_challenge_is_classified(challenge, status, reason):
    result = parse_error_challenge(challenge)
    assert (result['status'], result['reason']) == (status, reason)
    assert result['msg'] and result['hint'] and '\n' not in result['msg']


def test_error_challenge_names_the_scope_the_server_wants():
    result = parse_error_challenge(b64({'status': 'insufficient_scope', 'scope': 'https://mail.google.com/'}))
    assert 'https://mail.google.com/' in result['msg']
    assert 'oauth2.scope' in result['hint']
    token = parse_error_challenge(b64({'status': '401', 'schemes': 'bearer', 'scope': 'mail'}))
    for cause in ('expired', 'another mailbox', 'scope'):
        assert cause in token['hint']


def test_error_challenge_echoing_a_token_is_scrubbed():
    result = parse_error_challenge(b64({'status': 'invalid_token', 'scope': 'mail ya29.SECRET\r\nx'}),
                                   secrets=['ya29.SECRET'])
    assert 'ya29.SECRET' not in repr(result)
    assert '\r' not in result['scope'] and '\n' not in result['scope']


# -- the token endpoint's answer --------------------------------------------------------------------------------

def test_token_response():
    token = answer(200, dict(access_token='eyJ0.tok', token_type='bearer', expires_in='3599', scope='s'))
    assert (token['access_token'], token['token_type'], token['expires_in'], token['scope']) == (
        'eyJ0.tok', 'Bearer', 3599, 's')
    assert token['expires_at'] > 3599 and token['refresh_token'] is None


def test_rotated_refresh_token_is_returned():
    oauth2 = dict(OAUTH2, refresh_token=REFRESH)
    assert answer(200, dict(access_token='t', refresh_token='new-one'), oauth2)['refresh_token'] == 'new-one'
    assert answer(200, dict(access_token='t', refresh_token=REFRESH), oauth2)['refresh_token'] is None


# (status, document, refresh_token given) -> (reason, code, words of the hint)
REFUSALS = {
    'bad secret, 401': (401, dict(error='invalid_client', error_description='AADSTS7000215: Invalid client secret'),
                        False, ('client', 'invalid_client', 'client_secret')),
    'bad secret, 400': (400, dict(error='invalid_client'), False, ('client', 'invalid_client', 'client_id')),
    '401 without body': (401, b'', False, ('client', 401, 'client_secret')),
    'grant not allowed': (400, dict(error='unauthorized_client'), False, ('client', 'unauthorized_client',
                                                                          'client_credentials grant')),
    'refresh token revoked': (400, dict(error='invalid_grant', error_description='Token has been expired or revoked.'),
                              True, ('grant', 'invalid_grant', 'oauth2.refresh_token')),
    'grant type refused': (400, dict(error='unsupported_grant_type'), False,
                           ('grant', 'unsupported_grant_type', 'client-credentials grant')),
    'scope refused': (400, dict(error='invalid_scope'), False, ('scope', 'invalid_scope', 'outlook.office365.com')),
    'wrong path': (404, b'<html>Not Found</html>', False, ('http', 404, 'path of oauth2.token_url')),
    'server error': (503, b'', False, ('http', 503, 'try again later')),
    'invalid request': (400, dict(error='invalid_request'), False, ('http', 'invalid_request', 'oauth2 settings')),
    'login page': (200, b'<html>sign in</html>', False, ('response', 200, 'not a login page')),
    'no access_token': (200, dict(token_type='Bearer'), False, ('response', 200, 'token endpoint')),
    'not a bearer token': (200, dict(access_token='t', token_type='mac'), False, ('response', 200, 'Bearer')),
    'token with a newline': (200, dict(access_token='t\r\nX-Injected: 1'), False, ('response', 200, 'token endpoint')),
}


@pytest.mark.parametrize('case', sorted(REFUSALS))
def test_token_endpoint_refusal_is_classified(case):
    status, document, with_refresh, (reason, code, words) = REFUSALS[case]
    oauth2 = dict(OAUTH2, refresh_token=REFRESH) if with_refresh else OAUTH2
    failure = failure_of(status, document, oauth2)
    assert (failure.category, failure.stage, failure.reason, failure.code) == ('oauth', 'auth', reason, code)
    assert words in failure.hint
    assert failure.msg.startswith(WHERE)
    assert reason in _oauth2.REASONS


def test_error_description_is_shown_scrubbed_on_one_line():
    said = 'bad secret %s (%s) refresh %s\r\nsecond line' % (SECRET, 'cl1ent%2BS3cret%2Fwith%3Dchars%26more', REFRESH)
    failure = failure_of(401, dict(error='invalid_client', error_description=said), dict(OAUTH2, refresh_token=REFRESH))
    assert SECRET not in visible(failure) and REFRESH not in visible(failure)
    assert 'cl1ent%2BS3cret' not in visible(failure) and 'cl1ent+S3cret' not in visible(failure)
    assert failure.msg.count(_oauth2.MASK) == 3
    assert 'second line' in failure.msg and '\n' not in failure.msg and '\r' not in failure.msg


def test_long_error_description_is_cut():
    failure = failure_of(400, dict(error='invalid_scope', error_description='x' * 5000))
    assert len(failure.msg) < 500 and failure.msg.endswith('...')


# -- what fetch_token refuses before any network traffic --------------------------------------------------------

@pytest.mark.parametrize('url, words', [
    ('http://login.example.test/token', 'must be an https:// URL'),
    ('login.example.test/token', 'must be an https:// URL'),
    ('', 'must be an https:// URL'),
    ('https://app-id:%s@login.example.test/token' % SECRET, 'oauth2.token_url'),  # its '/' ends the host part
    ('https://app-id:no-slash-secret@login.example.test/token', 'must not hold credentials'),
    ('https://login.example.test:99999999/token', 'invalid port'),
])
def test_token_url_is_checked_first(url, words):
    with pytest.raises(OAuth2Failure) as caught:
        fetch_token(dict(OAUTH2, token_url=url), 5)
    assert words in caught.value.msg
    assert SECRET not in visible(caught.value)


def test_unreadable_ca_file_is_a_certificate_failure(tmp_path):
    with pytest.raises(OAuth2Failure) as caught:
        fetch_token(dict(OAUTH2, ca_file=str(tmp_path / 'missing.pem')), 5)
    assert caught.value.reason == 'certificate'
    assert 'cannot load oauth2.ca_file' in caught.value.msg


def test_secret_values():
    assert _oauth2.secret_values(dict(OAUTH2, refresh_token=REFRESH)) == [SECRET, REFRESH]
    assert _oauth2.secret_values(dict(OAUTH2, client_secret='', refresh_token=None)) == []

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OAuth2 for SMTP AUTH: a fresh access token from the token endpoint, and the SASL strings that carry it.

Internal to the email_ops.smtp collection; not a public API. Standard library only, since it runs on
managed hosts (Python 3.6 to 3.13).

    token = fetch_token(settings['oauth2'], timeout=30)        # raises OAuth2Failure
    client.auth('XOAUTH2', lambda challenge=None: xoauth2_string(user, token['access_token']))
    failure = parse_error_challenge(challenge)                   # the server's 334 error challenge, classified

fetch_token speaks RFC 6749: the client-credentials grant (section 4.4), or the refresh-token grant
(section 6) when `refresh_token` is given; client authentication by client_secret in the form body
(what Microsoft Entra and Google both accept). HTTPS only, the certificate verified against `ca_file`
or the system store, no redirects followed, the response bounded in size, one deadline for it all.
A failure says which of these it was (OAuth2Failure.reason):

    unreachable  the token endpoint cannot be reached: DNS, refused, timeout, TLS handshake
    certificate  the token endpoint's certificate is not trusted or not for its host name
    client       the client is rejected: HTTP 401, invalid_client, unauthorized_client
    grant        the refresh token (or the grant) is rejected: invalid_grant, unsupported_grant_type
    scope        the scope is refused: invalid_scope
    http         any other HTTP error status (wrong token_url, server error)
    response     the answer is not a token response (not JSON, no access_token, not Bearer, too big)
    token        the SMTP server refused the token (from its 334 error challenge, see parse_error_challenge)

No message ever contains the client secret, the refresh token or a token: every text that comes from
the server (error_description, a 334 challenge) is scrubbed of them and cut to one short line.

This file is also the token helper that smtp_config installs for apps that run a command to get their
password (msmtp's passwordeval): `python3 _oauth2.py CREDENTIALS.json` prints a fresh access token, where
the JSON file (0600) holds the `oauth2` mapping and optionally `timeout`. One copy of the token logic.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import socket
import ssl
import sys
import time

try:
    from http.client import HTTPSConnection, HTTPException
    from urllib.parse import urlencode, urlsplit, quote, quote_plus
except ImportError:  # pragma: no cover  Python 2 is not supported on managed nodes; this keeps sanity's import test quiet
    HTTPSConnection = HTTPException = None
    urlencode = urlsplit = quote = quote_plus = None

MASK = '********'
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = 'email_ops.smtp-oauth2'
REASONS = ('unreachable', 'certificate', 'client', 'grant', 'scope', 'http', 'response', 'token')


class OAuth2Failure(Exception):
    """Why no usable token: `msg` (one line, no secrets), `reason` (see REASONS), `hint`, `code` (HTTP status or
    OAuth2 error code). `category` and `stage` fit the SMTP client's failure dict: the token is fetched right
    before AUTH."""

    def __init__(self, msg, reason, hint, code=None, category='oauth', stage='auth'):
        super(OAuth2Failure, self).__init__(msg)
        self.msg = msg
        self.reason = reason
        self.hint = hint
        self.code = code
        self.category = category
        self.stage = stage

    def as_dict(self):
        return dict(category=self.category, stage=self.stage, code=self.code, hint=self.hint, reason=self.reason)


def secret_values(oauth2):
    """Every secret of an `oauth2` mapping, as given: register them with module.no_log_values."""
    return [str(oauth2[key]) for key in ('client_secret', 'refresh_token') if oauth2.get(key) not in (None, '')]


def fetch_token(oauth2, timeout):
    """Obtain an access token; return {'access_token', 'token_type', 'expires_in', 'expires_at', 'scope',
    'refresh_token'} (the last only when the server rotated it), or raise OAuth2Failure.

    oauth2: token_url, client_id, client_secret, scope (optional), refresh_token (optional), ca_file (optional).
    timeout: seconds for the whole exchange (connect, TLS, request, response)."""
    deadline = time.monotonic() + timeout
    secrets = _secret_forms(oauth2)
    url = oauth2.get('token_url') or ''
    parts = urlsplit(url)
    if parts.scheme != 'https' or not parts.hostname:
        raise OAuth2Failure('oauth2.token_url must be an https:// URL, got %s' % _scrub(url, secrets)[:200], 'http',
                            'give the token endpoint as https://host/path: the client secret never goes over plain HTTP')
    if parts.username or parts.password or '@' in parts.netloc:
        raise OAuth2Failure('oauth2.token_url must not hold credentials', 'http',
                            'put the client secret in oauth2.client_secret, not in the URL')
    try:
        port = parts.port or 443
    except ValueError:
        raise OAuth2Failure('oauth2.token_url has an invalid port', 'http', 'give the token endpoint as https://host[:port]/path')
    where = 'token endpoint %s' % parts.hostname
    form = dict(client_id=oauth2.get('client_id') or '', client_secret=oauth2.get('client_secret') or '')
    if oauth2.get('refresh_token'):
        form.update(grant_type='refresh_token', refresh_token=oauth2['refresh_token'])
    else:
        form['grant_type'] = 'client_credentials'
    if oauth2.get('scope'):
        form['scope'] = oauth2['scope']
    body = urlencode(sorted(form.items()))
    path = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    status, payload = _post(parts.hostname, port, path, body, oauth2.get('ca_file'), deadline, where)
    return _token_from(status, payload, oauth2, where, secrets)


def _post(host, port, path, body, ca_file, deadline, where):
    try:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    except (IOError, OSError, ssl.SSLError) as error:
        raise OAuth2Failure('cannot load oauth2.ca_file %s: %s' % (ca_file, _reason(error)), 'certificate',
                            'give a readable PEM bundle of the CA that signed the token endpoint certificate')
    connection = HTTPSConnection(host, port, timeout=_remaining(deadline, where), context=context)
    try:
        connection.request('POST', path, body=body, headers={
            'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json',
            'User-Agent': USER_AGENT})
        connection.sock.settimeout(_remaining(deadline, where))
        response = connection.getresponse()
        chunks, size = [], 0
        while True:
            connection.sock.settimeout(_remaining(deadline, where))
            chunk = response.read1(8192)  # what one recv gave: a server dripping bytes still meets the deadline
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise OAuth2Failure('%s sent more than %d bytes: not a token response' % (where, MAX_RESPONSE_BYTES),
                                    'response', 'check oauth2.token_url: it must be the OAuth2 token endpoint',
                                    code=response.status)
            chunks.append(chunk)
        return response.status, b''.join(chunks)
    except OAuth2Failure:
        raise
    except socket.gaierror as error:
        raise OAuth2Failure('cannot resolve %s: %s' % (where, _reason(error)), 'unreachable',
                            'check the host name in oauth2.token_url and DNS on this host')
    except socket.timeout:
        raise OAuth2Failure('%s did not answer within the timeout' % where, 'unreachable',
                            'a firewall or proxy may drop HTTPS from this host to the token endpoint; '
                            'or raise timeout')
    except ssl.CertificateError as error:
        raise _certificate_failure(error, where)
    except ssl.SSLError as error:
        if _is_verify_error(error):
            raise _certificate_failure(error, where)
        raise OAuth2Failure('TLS handshake with %s failed: %s' % (where, _reason(error)), 'unreachable',
                            'the token endpoint must speak HTTPS on this port')
    except (HTTPException, IOError, OSError) as error:
        raise OAuth2Failure('cannot reach %s: %s' % (where, _reason(error)), 'unreachable',
                            'check oauth2.token_url (host and port) and that this host may open HTTPS to it')
    finally:
        connection.close()


def _remaining(deadline, where):
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout('deadline passed for %s' % where)
    return left


def _is_verify_error(error):
    verify_class = getattr(ssl, 'SSLCertVerificationError', None)  # Python 3.7+
    if verify_class is not None and isinstance(error, verify_class):
        return True
    return 'CERTIFICATE_VERIFY_FAILED' in str(error)


def _certificate_failure(error, where):
    return OAuth2Failure('the certificate of %s is not trusted: %s' % (where, _reason(error)), 'certificate',
                         'set oauth2.ca_file to the CA bundle that signed it, or fix the endpoint certificate '
                         '(the token request is never sent unverified)')


def _token_from(status, payload, oauth2, where, secrets):
    document = None
    try:
        document = json.loads(payload.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        pass
    if not isinstance(document, dict):
        document = None
    if status == 200:
        if document is None:
            raise OAuth2Failure('%s answered HTTP 200 without a JSON object' % where, 'response',
                                'check oauth2.token_url: it must be the OAuth2 token endpoint (not a login page)',
                                code=status)
        token = document.get('access_token')
        token_type = document.get('token_type', 'Bearer')
        if not isinstance(token, str) or not token or not _printable(token):
            raise OAuth2Failure('%s answered without an access_token' % where, 'response',
                                'check oauth2.token_url: it must be the OAuth2 token endpoint', code=status)
        if not isinstance(token_type, str) or token_type.lower() != 'bearer':
            raise OAuth2Failure('%s issued a token of type %s, not Bearer' % (where, _line(str(token_type), secrets)),
                                'response', 'SMTP XOAUTH2/OAUTHBEARER needs a Bearer token', code=status)
        result = dict(access_token=token, token_type='Bearer', expires_in=None, expires_at=None,
                      scope=document.get('scope') if isinstance(document.get('scope'), str) else None,
                      refresh_token=None)
        expires_in = document.get('expires_in')
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)  # Entra v1 endpoints send it as a string
        if isinstance(expires_in, int) and not isinstance(expires_in, bool):
            result.update(expires_in=expires_in, expires_at=int(time.time()) + expires_in)
        rotated = document.get('refresh_token')
        if isinstance(rotated, str) and rotated and rotated != oauth2.get('refresh_token'):
            result['refresh_token'] = rotated
        return result
    return _raise_error(status, document, oauth2, where, secrets)


def _raise_error(status, document, oauth2, where, secrets):
    error = document.get('error') if document else None
    error = error if isinstance(error, str) else None
    said = ''
    if document and isinstance(document.get('error_description'), str):
        said = ': ' + _line(document['error_description'], secrets)
    named = '%s refused the request (HTTP %d%s)%s' % (where, status, ', ' + _line(error, secrets) if error else '', said)
    code = error or status
    if error in ('invalid_client', 'unauthorized_client') or (status == 401 and error is None):
        hint = ('check oauth2.client_id and oauth2.client_secret (a secret expires: Entra shows its expiry under '
                'Certificates & secrets)')
        if error == 'unauthorized_client':
            hint = 'this client may not use the %s grant: allow it in the app registration' % _grant(oauth2)
        raise OAuth2Failure(named, 'client', hint, code=code)
    if error in ('invalid_grant', 'unsupported_grant_type'):
        if oauth2.get('refresh_token'):
            hint = ('the refresh token is expired, revoked or was issued to another client: obtain a new one '
                    '(the user consents again) and put it in oauth2.refresh_token')
        else:
            hint = 'the client-credentials grant is not allowed for this client: allow it in the app registration'
        raise OAuth2Failure(named, 'grant', hint, code=code)
    if error == 'invalid_scope':
        raise OAuth2Failure(named, 'scope', 'request a scope the app registration grants: Microsoft 365 '
                            'https://outlook.office365.com/.default, Gmail https://mail.google.com/', code=code)
    if error == 'invalid_request':
        raise OAuth2Failure(named, 'http', 'check the oauth2 settings against the provider documentation', code=code)
    if status in (404, 405):
        hint = 'check the path of oauth2.token_url: the server has no token endpoint there'
    else:
        hint = 'the token endpoint failed; try again later or check oauth2.token_url'
    raise OAuth2Failure(named, 'http', hint, code=status)


def _grant(oauth2):
    return 'refresh_token' if oauth2.get('refresh_token') else 'client_credentials'


# -- SASL ---------------------------------------------------------------------------------------------------

def xoauth2_string(user, token):
    """The XOAUTH2 initial response (Google, Microsoft), before base64."""
    return 'user=%s\x01auth=Bearer %s\x01\x01' % (user or '', token or '')


def oauthbearer_string(user, token, host=None, port=None):
    """The OAUTHBEARER initial client response (RFC 7628 section 3.1), before base64."""
    authzid = (user or '').replace('=', '=3D').replace(',', '=2C')  # RFC 5801 saslname
    fields = 'n,%s,\x01' % ('a=' + authzid if authzid else '')
    if host:
        fields += 'host=%s\x01' % host
    if port:
        fields += 'port=%d\x01' % int(port)
    return fields + 'auth=Bearer %s\x01\x01' % (token or '')


def oauthbearer_abort():
    """What the client sends after an OAUTHBEARER error challenge (RFC 7628 section 3.2.3): a single %x01."""
    return '\x01'


def parse_error_challenge(challenge, secrets=()):
    """Classify the server's 334 error challenge (base64 or already decoded, bytes or text): return
    dict(status, schemes, scope, reason, msg, hint). `reason` is one of token (expired, revoked, for another
    user: servers do not tell these apart), scope (the token lacks the scope the server wants), request
    (the client sent a malformed request), unknown."""
    text = _challenge_text(challenge)
    fields = {}
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            fields = parsed
    except ValueError:
        pass
    status = _field(fields, 'status', secrets)
    schemes = _field(fields, 'schemes', secrets)
    scope = _field(fields, 'scope', secrets)
    wants = ' (it names scope %s)' % scope if scope else ''
    lowered = (status or '').lower()
    if lowered in ('invalid_token', '401'):
        reason = 'token'
        msg = 'the SMTP server refused the OAuth2 token (status %s)%s' % (status, wants)
        hint = ('the token is expired or revoked, was issued for another mailbox than username, or lacks the scope '
                'the server needs: check username against the mailbox the app may send as, and oauth2.scope')
    elif lowered in ('insufficient_scope', '403'):
        reason = 'scope'
        msg = 'the SMTP server says the OAuth2 token lacks the needed scope (status %s)%s' % (status, wants)
        hint = 'request the scope the server names in oauth2.scope, and grant it to the app registration'
    elif lowered in ('invalid_request', '400'):
        reason = 'request'
        msg = 'the SMTP server says the OAuth2 request is malformed (status %s)' % status
        hint = 'check username: it must be the mailbox address the token is for'
    else:
        reason = 'unknown'
        msg = 'the SMTP server refused the OAuth2 token with an unknown error challenge%s' % (
            ' (status %s)' % status if status else '')
        hint = 'check username, oauth2.scope and the mailbox permission of the app registration'
    return dict(status=status, schemes=schemes, scope=scope, reason=reason, msg=msg, hint=hint)


def _challenge_text(challenge):
    if challenge is None:
        return ''
    raw = challenge if isinstance(challenge, bytes) else challenge.encode('utf-8', 'replace')
    raw = raw.strip()
    if not raw.startswith(b'{'):
        try:
            raw = base64.b64decode(raw + b'=' * (-len(raw) % 4))
        except (ValueError, TypeError):
            return ''
    return raw.decode('utf-8', 'replace')


def _field(fields, name, secrets):
    value = fields.get(name)
    if value is None:
        return None
    return _line(str(value), _secret_forms_of(secrets))[:100]


# -- no secrets in any message -------------------------------------------------------------------------------

def _secret_forms(oauth2):
    return _secret_forms_of(secret_values(oauth2))


def _secret_forms_of(values):
    forms = set()
    for value in values:
        if value in (None, ''):
            continue
        value = str(value)
        forms.update((value, quote_plus(value), quote(value, safe='')))
    return sorted((form for form in forms if form), key=len, reverse=True)


def _scrub(text, secrets):
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _line(text, secrets, limit=300):
    """Server text made safe to show: secrets masked, one line of printable characters, bounded."""
    text = _scrub(text, secrets)
    text = ''.join(char if char.isprintable() else ' ' for char in text)
    text = ' '.join(text.split())
    text = _scrub(text, secrets)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _printable(text):
    return all(33 <= ord(char) < 127 for char in text)


def _reason(error):
    reason = getattr(error, 'reason', None) or getattr(error, 'strerror', None)
    if isinstance(error, ssl.SSLError) and getattr(error, 'verify_message', None):
        reason = error.verify_message
    return str(reason or error or error.__class__.__name__)


# -- the token helper (run as a script) ------------------------------------------------------------------------

def main(argv, stdout=None, stderr=None):
    """`_oauth2.py CREDENTIALS.json`: print a fresh access token (for msmtp's passwordeval); 0 on success.
    A failure is one line on stderr naming the reason and what to do, never a secret."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if len(argv) != 1:
        stderr.write('usage: oauth2-token CREDENTIALS.json (the oauth2 settings: token_url, client_id, client_secret, ...)\n')
        return 2
    try:
        with open(argv[0]) as handle:
            document = json.load(handle)
    except (IOError, OSError) as error:
        stderr.write('oauth2-token: cannot read %s: %s\n' % (argv[0], error.strerror))
        return 1
    except ValueError:
        stderr.write('oauth2-token: %s is not a JSON object of oauth2 settings\n' % argv[0])
        return 1
    if not isinstance(document, dict) or not document.get('token_url') or not document.get('client_id'):
        stderr.write('oauth2-token: %s needs token_url, client_id and client_secret\n' % argv[0])
        return 1
    timeout = document.get('timeout') if isinstance(document.get('timeout'), int) else 30
    try:
        token = fetch_token(document, timeout)
    except OAuth2Failure as failure:
        stderr.write('oauth2-token: %s (%s); %s\n' % (failure.msg, failure.reason, failure.hint))
        return 1
    stdout.write(token['access_token'] + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))

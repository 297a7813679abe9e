"""A real OAuth2 test bed on loopback: an authorization server over HTTPS, and Postfix with Dovecot as its SASL
server validating XOAUTH2 / OAUTHBEARER tokens by introspection against it.

- AuthServer: RFC 6749 token endpoint (client_credentials and refresh_token grants, client_secret_post and
  client_secret_basic), RFC 7662 introspection endpoint (for the resource server, HTTP Basic), over HTTPS with a
  certificate of the test PKI. Clients, scopes and token lifetimes are configurable; tokens are random opaque
  strings kept in memory. It runs in a thread of the test process.
- Dovecot (Debian's dovecot-core) as its own instance: `dovecot -c <bed>/dovecot/dovecot.conf`, base_dir in the
  bed's temp dir, no protocols, only the auth service; its Postfix socket <bed>/dovecot/run/auth-postfix;
  `passdb { driver = oauth2 }` posting each token to the introspection endpoint (CA of the test PKI) and
  demanding the scope SMTP_SCOPE and username == the login user.
- Postfix: tests/testbed/postfix.py's instance (own config, queue and Maildir under the bed's temp dir, free
  loopback ports), with smtpd_sasl_type = dovecot instead of Cyrus. Its submission listener: STARTTLS, then AUTH
  XOAUTH2 / OAUTHBEARER.

The system Dovecot and Postfix (/etc/dovecot, /etc/postfix) are never read or touched.
"""
import base64
import http.server
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from urllib.parse import parse_qs

import pytest

from tests.testbed.net import free_port
from tests.testbed.postfix import Postfix, _running

DOVECOT = '/usr/sbin/dovecot'
SMTP_SCOPE = 'smtp.send'
MAILBOX = 'tester@example.test'
OTHER_MAILBOX = 'other@example.test'


class Client:
    """A registered OAuth2 client: its secret, the mailbox its tokens are for, the scopes it may get."""

    def __init__(self, client_id, secret, user, scopes, expires_in=3600, grants=('client_credentials', 'refresh_token')):
        self.client_id = client_id
        self.secret = secret
        self.user = user
        self.scopes = set(scopes)
        self.expires_in = expires_in
        self.grants = set(grants)


class Token:

    def __init__(self, value, client, user, scope, expires_at):
        self.value = value
        self.client = client
        self.user = user
        self.scope = scope
        self.expires_at = expires_at


class AuthServer:
    """The authorization server. Register clients with add_client(); issue a refresh token (what a user's consent
    gives an app) with refresh_token_for(); expire() makes an issued access token expired."""

    host = '127.0.0.1'

    def __init__(self, pki):
        self.pki = pki
        self.clients = {}
        self.tokens = {}          # access token -> Token
        self.refresh_tokens = {}  # refresh token -> Token (its scope is the most a refresh may ask)
        self.requests = []        # (path, form) of every request, for the tests' own checks
        # A careless server: its error_description repeats the secret or refresh token it was sent.
        self.echo_secrets = False
        self.lock = threading.Lock()
        self.resource_id, self.resource_secret = 'dovecot', secrets.token_urlsafe(16)
        self.httpd = self.thread = None
        self.port = None

    @property
    def base_url(self):
        return 'https://%s:%d' % (self.host, self.port)

    @property
    def token_url(self):
        return self.base_url + '/oauth2/token'

    @property
    def introspection_url(self):
        return self.base_url + '/oauth2/introspect'

    def add_client(self, client_id, user, scopes=(SMTP_SCOPE,), **options):
        client = Client(client_id, 'secret-' + secrets.token_urlsafe(18), user, scopes, **options)
        self.clients[client_id] = client
        return client

    def oauth2(self, client, **overrides):
        """The `oauth2` settings mapping for `client` against this server."""
        result = dict(token_url=self.token_url, client_id=client.client_id, client_secret=client.secret,
                      scope=' '.join(sorted(client.scopes)), ca_file=self.pki.ca_file)
        result.update(overrides)
        return result

    def refresh_token_for(self, client, scope=None):
        value = 'rt-' + secrets.token_urlsafe(24)
        with self.lock:
            self.refresh_tokens[value] = Token(value, client, client.user, scope or ' '.join(sorted(client.scopes)),
                                               None)
        return value

    def expire(self, access_token):
        with self.lock:
            self.tokens[access_token].expires_at = time.time() - 1

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self):
        server = self

        class Handler(_Handler):
            auth = server

        self.port = free_port(self.host)
        self.httpd = _HTTPSServer((self.host, self.port), Handler)
        self.httpd.socket = self.pki.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.1),
                                       name='oauth-server', daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
            self.httpd = None

    # -- RFC 6749 / RFC 7662 --------------------------------------------------------------------

    def token_response(self, form, basic):
        client_id, secret = basic or (form.get('client_id'), form.get('client_secret'))
        client = self.clients.get(client_id)
        if client is None or secret is None or not secrets.compare_digest(secret, client.secret):
            said = 'client authentication failed'
            if self.echo_secrets:
                said += ' for client_secret=%s\r\nrefresh_token=%s' % (secret, form.get('refresh_token'))
            return 401, dict(error='invalid_client', error_description=said)
        grant = form.get('grant_type')
        if grant not in ('client_credentials', 'refresh_token'):
            return 400, dict(error='unsupported_grant_type', error_description='grant_type %s' % grant)
        if grant not in client.grants:
            return 400, dict(error='unauthorized_client', error_description='%s not allowed' % grant)
        user, allowed = client.user, client.scopes
        if grant == 'refresh_token':
            with self.lock:
                stored = self.refresh_tokens.get(form.get('refresh_token') or '')
            if stored is None or stored.client is not client:
                said = 'refresh token is invalid, expired or revoked'
                if self.echo_secrets:
                    said += ': %s' % form.get('refresh_token')
                return 400, dict(error='invalid_grant', error_description=said)
            user, allowed = stored.user, set(stored.scope.split())
        wanted = set((form.get('scope') or ' '.join(sorted(allowed))).split())
        if not wanted <= allowed:
            return 400, dict(error='invalid_scope', error_description='scope not granted: %s'
                             % ' '.join(sorted(wanted - allowed)))
        value = 'at-' + secrets.token_urlsafe(32)
        scope = ' '.join(sorted(wanted))
        with self.lock:
            self.tokens[value] = Token(value, client, user, scope, time.time() + client.expires_in)
        answer = dict(access_token=value, token_type='Bearer', expires_in=client.expires_in, scope=scope)
        if grant == 'refresh_token':  # rotate, as Entra and many servers do
            rotated = self.refresh_token_for(client, stored.scope)
            with self.lock:
                self.refresh_tokens.pop(form['refresh_token'], None)
            answer['refresh_token'] = rotated
        return 200, answer

    def introspection_response(self, form, basic):
        if basic != (self.resource_id, self.resource_secret):
            return 401, dict(error='invalid_client')
        with self.lock:
            token = self.tokens.get(form.get('token') or '')
        if token is None or token.expires_at <= time.time():
            return 200, dict(active=False)
        return 200, dict(active=True, scope=token.scope, client_id=token.client.client_id, username=token.user,
                         sub=token.user, token_type='Bearer', exp=int(token.expires_at))


class _HTTPSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    handshake_errors = 0

    def handle_error(self, request, client_address):
        # A client that refuses our certificate (as the untrusted-CA tests make it) ends the handshake: count it,
        # print no traceback. Anything else is a bug of the bed and prints as usual.
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            self.handshake_errors += 1
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    auth = None  # the AuthServer, set by AuthServer.start()
    protocol_version = 'HTTP/1.1'

    def do_POST(self):  # noqa: N802  (http.server's naming)
        length = int(self.headers.get('Content-Length') or 0)
        if length > 65536:
            return self._answer(413, dict(error='invalid_request'))
        raw = self.rfile.read(length).decode('utf-8', 'replace')
        form = dict((key, values[0]) for key, values in parse_qs(raw, keep_blank_values=True).items())
        self.auth.requests.append((self.path, form))
        basic = _basic(self.headers.get('Authorization'))
        if self.path == '/oauth2/token':
            status, document = self.auth.token_response(form, basic)
        elif self.path == '/oauth2/introspect':
            status, document = self.auth.introspection_response(form, basic)
        elif self.path == '/huge':  # a token endpoint gone mad: more than any token response
            return self._answer(200, dict(access_token='x' * 100000, token_type='Bearer'))
        elif self.path == '/drip':  # a token endpoint that never stops talking: one byte every 0.2s, for 30s at most
            return self._drip()
        elif self.path == '/login-page':  # what a wrong token_url often gives: an HTML page, HTTP 200
            return self._answer(200, '<html><body>Sign in</body></html>', 'text/html')
        else:
            status, document = 404, dict(error='not_found')
        return self._answer(status, document)

    def _answer(self, status, document, content_type='application/json'):
        body = (document if isinstance(document, str) else json.dumps(document)).encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Cache-Control', 'no-store')
        self.send_header('Content-Length', str(len(body)))
        if status == 401:
            self.send_header('WWW-Authenticate', 'Basic realm="oauth"')
        self.end_headers()
        self.wfile.write(body)

    def _drip(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', '1000')
        self.end_headers()
        try:
            for _count in range(150):
                self.wfile.write(b' ')
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client gave up, as it should
        self.close_connection = True

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # quiet: the tests read self.auth.requests instead


def _basic(header):
    if not header or not header.lower().startswith('basic '):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except ValueError:
        return None
    user, colon, password = decoded.partition(':')
    return (user, password) if colon else None


class DovecotPostfix(Postfix):
    """tests/testbed/postfix.py's Postfix, with Dovecot's auth socket as its SASL server instead of Cyrus."""

    def __init__(self, pki, directory, auth_socket):
        super().__init__(pki, directory)
        self.auth_socket = auth_socket

    def _write_config(self):
        super()._write_config()
        main_cf = os.path.join(self.config_dir, 'main.cf')
        with open(main_cf) as handle:
            text = handle.read()
        for old, new in (('smtpd_sasl_type = cyrus\n', 'smtpd_sasl_type = dovecot\n'),
                         ('smtpd_sasl_path = smtpd\n', 'smtpd_sasl_path = %s\n' % self.auth_socket)):
            assert old in text, 'postfix.py changed: %r is no longer in main.cf' % old
            text = text.replace(old, new)
        self._write(main_cf, text)

    def _make_sasldb(self):
        pass  # Dovecot authenticates; no Cyrus sasldb


class OAuthBed:
    """The authorization server, Dovecot and Postfix, started and stopped together."""

    host = '127.0.0.1'
    domain = 'example.test'

    def __init__(self, pki, directory=None):
        self.pki = pki
        self.dir = directory or tempfile.mkdtemp(prefix='email_ops_oauth_')
        os.chmod(self.dir, 0o755)
        self.dovecot_dir = os.path.join(self.dir, 'dovecot')
        self.base_dir = os.path.join(self.dovecot_dir, 'run')
        self.dovecot_conf = os.path.join(self.dovecot_dir, 'dovecot.conf')
        self.dovecot_log = os.path.join(self.dovecot_dir, 'dovecot.log')
        self.auth = AuthServer(pki)
        os.makedirs(os.path.join(self.dir, 'postfix'))
        self.postfix = DovecotPostfix(pki, os.path.join(self.dir, 'postfix'), os.path.join(self.base_dir, 'auth-postfix'))
        self.start_seconds = None
        # Tokens for MAILBOX with the SMTP scope; the same for another mailbox; one without the SMTP scope.
        self.client = self.auth.add_client('mailer', MAILBOX, scopes=(SMTP_SCOPE, 'profile'))
        self.other_client = self.auth.add_client('other-mailer', OTHER_MAILBOX)
        self.profile_client = self.auth.add_client('profile-only', MAILBOX, scopes=('profile',))

    @property
    def submission_port(self):
        return self.postfix.submission_port

    @property
    def ca_file(self):
        return self.pki.ca_file

    def start(self, timeout=30):
        began = time.monotonic()
        self.auth.start()
        self._start_dovecot(began + timeout)
        self.postfix.start(timeout=max(1, began + timeout - time.monotonic()))
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            try:
                self._stop_dovecot()
            finally:
                self.auth.stop()

    # -- Dovecot --------------------------------------------------------------------------------

    def _start_dovecot(self, deadline):
        os.makedirs(self.base_dir, exist_ok=True)
        os.chmod(self.dovecot_dir, 0o755)
        # The auth process runs as the dovecot user: it reads its own copy of the CA.
        ca_copy = os.path.join(self.dovecot_dir, 'ca.pem')
        shutil.copyfile(self.pki.ca_file, ca_copy)
        os.chmod(ca_copy, 0o644)
        oauth2_conf = os.path.join(self.dovecot_dir, 'oauth2.conf.ext')
        introspection = 'https://%s:%s@%s:%d/oauth2/introspect' % (
            self.auth.resource_id, self.auth.resource_secret, self.auth.host, self.auth.port)
        _write(oauth2_conf, textwrap.dedent('''\
            # Written by tests/testbed/oauth.py: validate each token by RFC 7662 introspection.
            introspection_mode = post
            introspection_url = {url}
            force_introspection = yes
            username_attribute = username
            active_attribute = active
            active_value = true
            scope = {scope}
            tls_ca_cert_file = {ca}
            timeout_msecs = 10000
            ''').format(url=introspection, scope=SMTP_SCOPE, ca=ca_copy), 0o640)
        shutil.chown(oauth2_conf, group='dovecot')
        _write(self.dovecot_conf, textwrap.dedent('''\
            # Written by tests/testbed/oauth.py: an auth-only Dovecot instance for one test run.
            base_dir = {base}
            instance_name = email_ops_oauth_{port}
            protocols = none
            ssl = no
            log_path = {log}
            auth_mechanisms = xoauth2 oauthbearer
            disable_plaintext_auth = no
            auth_verbose = yes
            # Refuse at once: the tests provoke many failures.
            auth_failure_delay = 0
            passdb {{
              driver = oauth2
              args = {oauth2}
            }}
            userdb {{
              driver = static
              args = uid=nobody gid=nogroup home=/nonexistent
            }}
            service auth {{
              unix_listener auth-postfix {{
                mode = 0666
              }}
            }}
            # No authentication penalty (a growing delay per failing IP): the tests fail logins on purpose.
            service anvil {{
              chroot =
              unix_listener anvil-auth-penalty {{
                mode = 0
              }}
            }}
            ''').format(base=self.base_dir, port=self.auth.port,
                        log=self.dovecot_log, oauth2=oauth2_conf), 0o644)
        # The daemon keeps stdout/stderr open: a file, not a pipe, or run() would wait for it.
        output = os.path.join(self.dovecot_dir, 'start.out')
        with open(output, 'w') as handle:
            proc = subprocess.run([DOVECOT, '-c', self.dovecot_conf], stdin=subprocess.DEVNULL, stdout=handle,
                                  stderr=subprocess.STDOUT, timeout=30, check=False)
        if proc.returncode != 0:
            with open(output, errors='replace') as handle:
                said = handle.read()
            raise RuntimeError('dovecot -c %s failed (rc=%s)\n%s\n%s' % (
                self.dovecot_conf, proc.returncode, said, self.dovecot_log_tail()))
        socket_path = self.postfix.auth_socket
        while not os.path.exists(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError('dovecot made no auth socket %s\n%s' % (socket_path, self.dovecot_log_tail()))
            time.sleep(0.05)

    def _dovecot_pid(self):
        try:
            with open(os.path.join(self.base_dir, 'master.pid')) as handle:
                return int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _stop_dovecot(self):
        pid = self._dovecot_pid()
        if not pid or not _running(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _running(pid):
            os.kill(pid, signal.SIGKILL)

    def dovecot_log_tail(self, lines=40):
        try:
            with open(self.dovecot_log, errors='replace') as handle:
                tail = handle.read().splitlines()[-lines:]
        except FileNotFoundError:
            tail = []
        return '--- %s ---\n%s' % (self.dovecot_log, '\n'.join(tail))

    def diagnostics(self):
        return '%s\n%s' % (self.postfix.diagnostics(), self.dovecot_log_tail())

    def __repr__(self):
        return '<OAuthBed token_url=%s submission=%s dir=%s>' % (self.auth.token_url, self.submission_port, self.dir)


def _write(path, text, mode):
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, mode)


@pytest.fixture(scope='session')
def oauth_bed(pki):
    bed = OAuthBed(pki)
    try:
        bed.start()
        yield bed
    finally:
        bed.stop()
        shutil.rmtree(bed.dir, ignore_errors=True)

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one SMTP client of the collection: a test session that goes as far as asked, and says why it stopped.

Internal to the email_ops.smtp collection; not a public API. Used by smtp_test and by smtp_config's `verify`.
Standard library only, and Python 3.6 to 3.13, since it runs on managed hosts.

    facts = run_session(settings, stage='rcpt', to='ops@example.com')   # raises SmtpFailure

A session walks the STAGES like swaks --quit-after: connect (TCP, greeting, EHLO), tls, auth, rcpt
(MAIL FROM + RCPT TO for the test recipient and each error recipient, then RSET: nothing delivered),
send (DATA, to the test recipient only). Inside a stage it tracks a finer `step` (connect, tls, banner,
ehlo, auth, mail, rcpt, data), which names the timings and lets _smtp_faults.classify() tell a silent greeting from
a silent TCP connect.

The server may be broken or hostile (anyone on the path can answer before TLS), so the session is
bounded: `settings.timeout` is ONE deadline for the whole session (DNS, connect, TLS handshake, every
read and write get the time left), and what the server sends is capped (bytes per reply line, lines
per reply, bytes per session, AUTH challenges). A cap reached is a classified failure like any other.
smtplib.SMTP still speaks the commands; _Wire below is the only code that touches the socket.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import binascii
import email.utils
import hmac
import re
import smtplib
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MASK, secret_forms

STAGES = ('connect', 'tls', 'auth', 'rcpt', 'send')
STEP_STAGE = dict(connect='connect', banner='connect', ehlo='connect', tls='tls', token='auth', auth='auth',
                  mail='rcpt', rcpt='rcpt', data='send')
AUTO_PREFERENCE = ('cram-md5', 'plain', 'login')  # strongest first; xoauth2 only when asked for
OAUTH_METHODS = ('xoauth2', 'oauthbearer')

# What a server may send, at most. RFC 5321 4.5.3.1 allows reply lines of 512 octets; real servers stay
# well under 1000, and their longest reply (EHLO) has a few dozen lines.
MAX_LINE_BYTES = 4096
MAX_REPLY_LINES = 100
MAX_SESSION_BYTES = 1024 * 1024
MAX_AUTH_CHALLENGES = 5
MAX_TEXT_CHARS = 2000  # of a server's text kept in a fact or a message
LIMITS = dict(line='%d bytes in one reply line' % MAX_LINE_BYTES, lines='%d lines in one reply' % MAX_REPLY_LINES,
              session='%d bytes in one session' % MAX_SESSION_BYTES,
              challenges='%d AUTH challenges in one login' % MAX_AUTH_CHALLENGES)

TLS_VERSIONS = ('TLSv1.2', 'TLSv1.3')


class SmtpFailure(Exception):
    """Why a session stopped: `msg` for a human, `category`/`stage`/`code`/`hint` for both, `facts` learnt so far."""

    def __init__(self, msg, category, stage, code=None, hint=None, facts=None, reason=None):
        super(SmtpFailure, self).__init__(msg)
        self.msg = msg
        self.category = category
        self.stage = stage
        self.code = code
        self.hint = hint
        self.facts = facts or {}
        self.reason = reason  # OAuth2 only: which part of the token exchange failed (_oauth2.REASONS)

    def as_dict(self):
        failure = dict(category=self.category, stage=self.stage, code=self.code, hint=self.hint)
        if self.reason:
            failure['reason'] = self.reason
        return failure


class TokenRefused(smtplib.SMTPAuthenticationError):
    """The server refused an OAuth2 token; `challenge` is its 334 error challenge (why), when it sent one."""

    def __init__(self, code, reply, challenge):
        super(TokenRefused, self).__init__(code, reply)
        self.challenge = challenge


class RequirementError(Exception):
    """Something the settings require is missing: `need` is STARTTLS, AUTH, AUTH <MECH>, encryption, recipient
    or SMTPUTF8 (then `address` is the address that needs it, and `role` sender or recipient)."""

    def __init__(self, need, offered=(), address=None, role=None):
        super(RequirementError, self).__init__(need)
        self.need = need
        self.offered = [name.upper() for name in offered]
        self.address = address
        self.role = role


class SettingError(Exception):
    """A setting this session cannot put on the wire (a non-ASCII helo_name, a NUL in a path or an address,
    a password a mechanism cannot carry): classified as it is, and it never quotes a secret."""

    def __init__(self, category, msg, hint):
        super(SettingError, self).__init__(msg)
        self.category = category
        self.msg = msg
        self.hint = hint


class LimitError(smtplib.SMTPException):
    """The server sent more than the client takes: `limit` is a key of LIMITS."""

    def __init__(self, limit):
        super(LimitError, self).__init__('the server sent more than %s' % LIMITS[limit])
        self.limit = limit


def run_session(settings, stage='send', to=None, subject=None, body=None, on_secret=None):
    """Talk to settings.host up to and including `stage`; return the facts, or raise SmtpFailure (with them).

    With settings.oauth2 (and auth_method xoauth2 or oauthbearer) the host fetches a fresh access token right
    before AUTH; `on_secret(value)` is called with every secret the session obtains (the token, a rotated
    refresh token) so that the caller can mask it (module.no_log_values).
    """
    if stage not in STAGES:
        raise ValueError('stage must be one of %s' % ', '.join(STAGES))
    return _Session(settings, to or settings.get('test_email'), on_secret).run(stage, subject, body)


class _Wire(object):
    """The session's socket: every read and write gets the time left before `deadline`, and reads are capped.

    Replies are read from `pending`, our own buffer, so that starting TLS can drop whatever arrived in clear
    text after the 220 to STARTTLS (an injection: RFC 3207 section 6) before the handshake.
    """

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.pending = bytearray()
        self.received = 0

    def time_left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('timed out')
        return left

    def write(self, data):
        view = memoryview(data)
        while len(view):  # each send() waits at most the time left, so the deadline ends this loop
            self.sock.settimeout(self.time_left())
            view = view[self.sock.send(view[:65536]):]

    def read_line(self):
        searched = 0
        while True:  # each recv() adds at least a byte, and MAX_LINE_BYTES ends this loop
            end = self.pending.find(b'\n', searched)
            if end >= 0:
                if end >= MAX_LINE_BYTES:
                    raise LimitError('line')
                line = bytes(self.pending[:end + 1])
                del self.pending[:end + 1]
                return line
            if len(self.pending) >= MAX_LINE_BYTES:
                raise LimitError('line')
            searched = len(self.pending)
            self.sock.settimeout(self.time_left())
            chunk = self.sock.recv(MAX_LINE_BYTES)
            if not chunk:
                raise smtplib.SMTPServerDisconnected('Connection unexpectedly closed')
            self.received += len(chunk)
            if self.received > MAX_SESSION_BYTES:
                raise LimitError('session')
            self.pending += chunk

    def read_reply(self):
        """(code, text) as smtplib's getreply() returns it: code -1 for a line that is not a reply."""
        lines = []
        for unused in range(MAX_REPLY_LINES):
            line = self.read_line()
            lines.append(line[4:].strip(b' \t\r\n'))
            if not line[:3].isdigit():
                return -1, b'\n'.join(lines)
            if line[3:4] != b'-':
                return int(line[:3]), b'\n'.join(lines)
        raise LimitError('lines')

    def start_tls(self, context, server_hostname):
        self.pending = bytearray()  # clear text that came after the 220 is never read as a reply
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        self.handshake()

    def handshake(self):
        self.sock.settimeout(self.time_left())  # ssl bounds the whole handshake by the socket's timeout
        self.sock.do_handshake()
        if self.sock.version() not in TLS_VERSIONS:  # the context refuses them already; never rely on one guard
            raise ssl.SSLError('the server negotiated %s: TLS 1.2 or newer is required' % self.sock.version())

    def close(self):
        self.pending = bytearray()
        self.sock.close()


class _Client(smtplib.SMTP):
    """smtplib.SMTP speaking through a _Wire: smtplib builds the commands and parses EHLO, the wire moves bytes."""

    def __init__(self, wire, host, local_hostname):
        smtplib.SMTP.__init__(self, local_hostname=local_hostname)
        self.wire = wire
        self.sock = wire.sock
        self._host = host

    def send(self, s):
        if not isinstance(s, bytes):
            s = s.encode(self.command_encoding)
        self.wire.write(s)

    def getreply(self):
        return self.wire.read_reply()

    def starttls(self, context=None):  # pylint: disable=arguments-differ
        code, reply = self.docmd('STARTTLS')
        if code != 220:
            raise smtplib.SMTPResponseException(code, reply)
        self.wire.start_tls(context, self._host)
        self.sock = self.wire.sock
        # RFC 3207: forget what the server said before TLS
        self.helo_resp = self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False
        return code, reply

    def close(self):
        self.file = None
        if self.sock is not None:
            self.sock = None
            self.wire.close()


class _Session(object):

    def __init__(self, settings, recipient, on_secret=None):
        self.settings = settings
        self.on_secret = on_secret or (lambda value: None)
        # plus what AUTH sent, once known. _oauth2 (and http.client) are imported only for settings that use them:
        # a module compiles every file it imports, on every run.
        self.sent_secrets = []
        if settings.get('oauth2'):
            from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import secret_values
            self.sent_secrets = list(secret_values(settings['oauth2']))
        self._secrets = self._secrets_key = None
        self.oauth_challenge = None  # the server's 334 error challenge to an OAuth2 token
        self.recipient = recipient
        self.error_recipients = _error_recipients(settings, recipient)
        self.rcpt_address = recipient  # the address of the RCPT TO in flight, named when it is refused
        self.step = 'connect'
        self.wire = self.client = None
        self.deadline = None
        self._fqdn = None
        self.facts = dict(sent=False, stage_reached=None, banner=None, esmtp_features={}, tls=None,
                          auth_mechanism=None, message_id=None, recipient=recipient, timings_ms={})

    def run(self, stage, subject, body):
        started = time.monotonic()
        self.deadline = started + self.settings['timeout']
        actions = (self._open, self._secure, self._authenticate, self._envelope, lambda: self._deliver(subject, body))
        try:
            self._check_settings()
            for name, action in zip(STAGES, actions):
                action()
                self.facts['stage_reached'] = name
                if name == stage:
                    break
            self._quit()
        except Exception as error:  # pylint: disable=broad-except  # every failure, however raised, is classified
            from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_faults import classify
            failure = classify(error, self.step, self.settings, self.rcpt_address, self.sent_secrets,
                               self.oauth_challenge)
            failure.facts = self.facts
            raise failure
        finally:
            self.facts['timings_ms']['total'] = _elapsed_ms(started)
            self._close()
        return self.facts

    def _check_settings(self):
        """Refuse what cannot go on the wire before anything does (the schema refuses most of it already)."""
        helo_name = self.settings.get('helo_name')
        if helo_name and not _printable_ascii(helo_name):
            raise SettingError('protocol', 'helo_name must be printable ASCII without spaces: EHLO carries no other '
                               'characters', "set helo_name to this host's fully qualified name (an international "
                               'domain in its xn-- form), or leave it unset')
        ca_file = self.settings.get('ca_file')
        if ca_file and '\0' in ca_file:
            raise SettingError('certificate', 'ca_file is not a usable path: it contains a NUL character',
                               'set ca_file to the path of a PEM bundle on the managed host, or leave it unset')

    @property
    def fqdn(self):
        if self._fqdn is None:  # slow where DNS is broken, so only when needed, and never past the deadline
            try:
                self._fqdn = _within(max(self.deadline - time.monotonic(), 0.1), socket.getfqdn)
            except socket.gaierror:
                self._fqdn = socket.gethostname()
        return self._fqdn

    @contextmanager
    def _step(self, name):
        self.step = name
        started = time.monotonic()
        try:
            yield
        finally:
            timings = self.facts['timings_ms']
            timings[name] = round(timings.get(name, 0) + _elapsed_ms(started), 1)

    def _time_left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout('timed out')
        return left

    # connect: DNS, TCP, implicit TLS for security ssl, greeting, EHLO
    def _open(self):
        settings = self.settings
        with self._step('connect'):
            self.wire = _Wire(self._connect(settings['host'], settings['port']), self.deadline)
        if settings['security'] == 'ssl':
            with self._step('tls'):
                self.wire.sock = self._tls_context().wrap_socket(self.wire.sock, server_hostname=settings['host'],
                                                                 do_handshake_on_connect=False)
                self.wire.handshake()  # after the assignment, so _close() closes it even when this fails
                self.facts['tls'] = _tls_facts(self.wire.sock)
        self.client = _Client(self.wire, settings['host'], settings['helo_name'] or self.fqdn)
        with self._step('banner'):
            code, reply = self.client.getreply()
            self.facts['banner'] = self._text(reply)
            if code != 220:
                raise smtplib.SMTPConnectError(code, reply)
        with self._step('ehlo'):
            self._ehlo()

    def _connect(self, host, port):
        """socket.create_connection, within the time left (the resolver included)."""
        error = None
        for family, kind, proto, unused, address in _resolve(host, port, self._time_left()):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self._time_left())
                sock.connect(address)
                return sock
            except OSError as exc:
                error = exc
                sock.close()
        raise error or socket.gaierror(socket.EAI_NONAME, 'no address found')

    def _ehlo(self):
        code, reply = self.client.ehlo()
        if not 200 <= code < 300:
            code, reply = self.client.helo()  # a pre-ESMTP server: no STARTTLS, no AUTH, but it may still relay
            if not 200 <= code < 300:
                raise smtplib.SMTPHeloError(code, reply)
        self.facts['esmtp_features'] = dict((name, self._text(params).strip())
                                            for name, params in self.client.esmtp_features.items())

    # tls: STARTTLS, then EHLO again since servers often offer AUTH only once encrypted
    def _secure(self):
        if self.settings['security'] != 'starttls':
            return  # ssl is encrypted since connect; none stays clear text
        with self._step('tls'):
            if not self.client.has_extn('starttls'):
                raise RequirementError('STARTTLS')  # never a silent downgrade to clear text
            self.client.starttls(context=self._tls_context())
            self.facts['tls'] = _tls_facts(self.wire.sock)
            self._ehlo()

    def _tls_context(self):
        context = ssl.create_default_context(cafile=self.settings['ca_file'])
        require_tls12(context)
        if not self.settings['validate_certs']:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # auth: our own exchange, so that credentials travel as UTF-8 (RFC 4616) and challenges are capped
    def _authenticate(self):
        settings = self.settings
        method = settings['auth_method']
        if method == 'none' or (method == 'auto' and not (settings['username'] and settings['password'])):
            return  # auto logs in only with a username and a password
        if method in OAUTH_METHODS and settings.get('oauth2'):
            with self._step('token'):
                self._fetch_token()
            settings = self.settings
        with self._step('auth'):
            if settings['security'] == 'none' and not settings['allow_insecure_auth']:
                raise RequirementError('encryption')
            if not settings['password']:
                raise SettingError('auth', 'auth_method %s needs a password%s' % (
                    method, ' (the access token), or oauth2 to fetch one' if method in OAUTH_METHODS else ''),
                    'set password, or auth_method: none for a server that relays for this host without a login')
            offered = self.client.esmtp_features.get('auth', '').lower().split()
            if method == 'auto':
                method = next((name for name in AUTO_PREFERENCE if name in offered), None)
                if method is None:
                    raise RequirementError('AUTH', offered)
            elif method not in offered:
                raise RequirementError('AUTH ' + method.upper(), offered)
            self.facts['auth_mechanism'] = method  # the one tried, also when it fails
            self._login(method, settings['username'] or '', settings['password'])

    def _fetch_token(self):
        """A fresh access token from settings.oauth2's endpoint, used as the password of this session only."""
        from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import fetch_token
        oauth2 = self.settings['oauth2']
        token = fetch_token(oauth2, self._time_left())
        for value in (token['access_token'], token.get('refresh_token')):
            if value:
                self.on_secret(value)
                self._remember(value)
        self.settings = dict(self.settings, password=token['access_token'])
        self.facts['oauth2'] = dict(token_endpoint=urlsplit(oauth2['token_url']).hostname,
                                    grant='refresh_token' if oauth2.get('refresh_token') else 'client_credentials',
                                    scope=token.get('scope') or oauth2.get('scope'), expires_in=token.get('expires_in'))

    def _login(self, method, user, password):
        if method == 'plain':
            if '\0' in user + password:
                raise _uncarried('PLAIN', 'NUL, its field separator', 'login')
            blob = b'\0' + user.encode('utf-8') + b'\0' + password.encode('utf-8')
            self._exchange('PLAIN', blob, lambda challenge: blob)
        elif method == 'login':
            # The username as initial response (as smtplib does); then answer what is asked, never guess.
            self._exchange('LOGIN', user.encode('utf-8'), lambda challenge: (
                user if challenge.lower().startswith(b'user') else password).encode('utf-8'))
        elif method == 'cram-md5':
            def answer(challenge):
                digest = hmac.new(password.encode('utf-8'), challenge, 'md5').hexdigest()
                self._remember(digest)
                return user.encode('utf-8') + b' ' + digest.encode('ascii')
            self._exchange('CRAM-MD5', None, answer)
        else:
            if '\x01' in user + password:
                raise _uncarried(method.upper(), 'Ctrl-A, its field separator', 'a token without it')
            # A 334 after the initial response carries the server's error (JSON): keep it to say why, then end
            # the exchange as each mechanism wants (XOAUTH2 an empty line, OAUTHBEARER a single %x01).
            if method == 'oauthbearer':
                from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import oauthbearer_abort, oauthbearer_string
                initial, done = oauthbearer_string(user, password, self.settings['host'], self.settings['port']), \
                    oauthbearer_abort().encode('ascii')
            else:
                initial, done = _xoauth2_string(self.settings), b''

            def refused(challenge):
                self.oauth_challenge = challenge
                return done
            self._exchange(method.upper(), initial.encode('utf-8'), refused)

    def _exchange(self, mechanism, initial, answer):
        """AUTH <mechanism> [initial response], then answer each 334 challenge (at most MAX_AUTH_CHALLENGES)."""
        command = 'AUTH ' + mechanism
        if initial is not None:
            command += ' ' + self._sent(initial)
        code, reply = self.client.docmd(command)
        for unused in range(MAX_AUTH_CHALLENGES):
            if code != 334:
                break
            try:
                challenge = base64.b64decode(reply, validate=True)
            except (binascii.Error, ValueError):
                challenge = b''
            code, reply = self.client.docmd(self._sent(answer(challenge)))
        else:
            if code == 334:
                raise LimitError('challenges')
        if code not in (235, 503):  # 503: already authenticated
            if mechanism.lower() in OAUTH_METHODS:
                raise TokenRefused(code, reply, self.oauth_challenge)
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _sent(self, data):
        """base64 of an AUTH line, remembered (with the text it carries) so that an echo of it is scrubbed."""
        line = base64.b64encode(data).decode('ascii')
        if data and data != (self.settings['username'] or '').encode('utf-8'):
            self._remember(line, data.decode('utf-8', 'replace'))
        return line

    def _remember(self, *forms):
        self.sent_secrets.extend(forms)

    @property
    def secrets(self):
        """The pattern of the secrets' forms, compiled when a reply is scrubbed, not each time AUTH sends more:
        compiling it costs milliseconds, and a session that succeeds scrubs nothing after EHLO."""
        key = (self.settings.get('password'), len(self.sent_secrets))
        if key != self._secrets_key:
            self._secrets, self._secrets_key = _secret_forms(self.settings, extra=self.sent_secrets), key
        return self._secrets

    # rcpt: the envelope, proving the server takes this sender, this recipient and each error recipient
    def _envelope(self):
        self._mail_from()
        for address in [self.recipient] + self.error_recipients:
            self._rcpt_to(address)

    def _mail_from(self):
        with self._step('mail'):
            if not self.recipient:
                raise RequirementError('recipient')
            self._check_addresses()
            options = []
            utf8_address = self._utf8_address()
            if utf8_address:
                if not self.client.has_extn('smtputf8'):
                    role = 'sender' if utf8_address == self.settings['from_email'] else 'recipient'
                    self.rcpt_address = utf8_address
                    raise RequirementError('SMTPUTF8', address=utf8_address, role=role)
                options = ['SMTPUTF8']
            _expect_2xx(self.client.mail(self.settings['from_email'], options))

    def _check_addresses(self):
        addresses = [('sender', self.settings['from_email']), ('recipient', self.recipient)]
        for role, address in addresses + [('recipient', address) for address in self.error_recipients]:
            if any(ord(char) < 32 or ord(char) == 127 for char in address):
                raise SettingError(role, 'a %s address has a control character (NUL, CR, LF or another): '
                                   'SMTP cannot carry it' % role, 'write the address without control characters')

    def _rcpt_to(self, address):
        with self._step('rcpt'):
            self.rcpt_address = address
            _expect_2xx(self.client.rcpt(address))
        self.rcpt_address = self.recipient

    def _deliver(self, subject, body):
        if self.error_recipients:
            # They were only asked; the message goes to the test recipient alone, in a new transaction.
            with self._step('mail'):
                _expect_2xx(self.client.rset())
            self._mail_from()
            self._rcpt_to(self.recipient)
        with self._step('data'):
            message = self._compose(subject, body)
            self.facts['message_id'] = message['Message-ID']  # known before DATA, so a failed send can be traced too
            utf8 = not all(_is_ascii(address) for address in (self.settings['from_email'], self.recipient))
            from email.policy import SMTP, SMTPUTF8
            _expect_2xx(self.client.data(message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)))
            self.facts['sent'] = True

    def _utf8_address(self):
        """The first envelope address that needs SMTPUTF8, or None."""
        for address in [self.settings['from_email'], self.recipient] + self.error_recipients:
            if not _is_ascii(address):
                return address
        return None

    def _compose(self, subject, body):
        # Only a send composes a message: a probe does not pay for the email package's header machinery.
        from email.headerregistry import Address
        from email.message import EmailMessage
        settings = self.settings
        now = email.utils.formatdate(localtime=True)
        message = EmailMessage()
        message['Date'] = now
        message['Message-ID'] = email.utils.make_msgid(domain=_ascii_domain(settings['from_email']))
        message['From'] = Address(display_name=settings['from_name'] or '', addr_spec=settings['from_email'])
        message['To'] = self.recipient
        message['Subject'] = subject or 'SMTP test from %s' % self.fqdn
        message.set_content(body or (
            'This test message was sent by %s on %s, through %s:%s (security: %s), by email_ops.smtp.\n'
            'If you are reading it, this host can send mail with these settings.\n'
            % (self.fqdn, now, settings['host'], settings['port'], settings['security'])))
        return message

    def _quit(self):
        try:
            if self.facts['stage_reached'] == 'rcpt':
                self.client.rset()  # drop the envelope: nothing is delivered below 'send'
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the stage asked for is done; a server that hangs up (or runs out the clock) changes nothing

    def _close(self):
        if self.client is not None:
            self.client.close()
        elif self.wire is not None:
            self.wire.close()

    def _text(self, reply):
        return _clip(_scrub(_decode(reply), self.secrets))


def require_tls12(context):
    """Refuse TLS 1.0 and 1.1 on `context`: minimum_version on Python 3.7+, the OP_NO_* options before."""
    try:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    except (AttributeError, ValueError):
        context.options |= ssl.OP_NO_SSLv3 | ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
    return context


def _resolve(host, port, timeout):
    """getaddrinfo within `timeout`."""
    return _within(timeout, socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)


def _within(timeout, function, *args):
    """function(*args) in a daemon thread, given up after `timeout` (socket.gaierror EAI_AGAIN): the system
    resolver has no time limit of its own (retries, several servers), and cannot be interrupted."""
    found = {}

    def call():
        try:
            found['result'] = function(*args)
        except Exception as error:  # pylint: disable=broad-except  # re-raised in the session, which classifies it
            found['error'] = error

    worker = threading.Thread(target=call, name='email_ops.smtp resolver')
    worker.daemon = True
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise socket.gaierror(socket.EAI_AGAIN, 'no answer from the resolver within the timeout')
    if 'error' in found:
        raise found['error']
    return found['result']


def _uncarried(mechanism, what, instead):
    return SettingError('auth', 'the username or password has a character AUTH %s cannot carry (%s)' % (mechanism, what),
                        'set auth_method to %s, or change the credential' % instead)


def _error_recipients(settings, recipient):
    """settings.error_recipients[].email, without the test recipient and without repeats."""
    seen = set([(recipient or '').lower()])
    addresses = []
    for entry in settings.get('error_recipients') or []:
        address = (entry or {}).get('email') if isinstance(entry, dict) else None
        if address and address.lower() not in seen:
            seen.add(address.lower())
            addresses.append(address)
    return addresses


def _is_ascii(text):
    try:
        text.encode('ascii')
    except UnicodeError:
        return False
    return True


def _printable_ascii(text):
    return all(33 <= ord(char) <= 126 for char in text)


def _ascii_domain(address):
    domain = address.rpartition('@')[2]
    try:
        return domain.encode('idna').decode('ascii')
    except UnicodeError:
        return 'localhost'


def _expect_2xx(reply):
    code, text = reply
    if not 200 <= code < 300:
        raise smtplib.SMTPResponseException(code, text)


def _tls_facts(sock):
    cert = sock.getpeercert()  # empty unless the certificate was verified (validate_certs)
    return dict(version=sock.version(), cipher=sock.cipher()[0],
                peer_certificate=_certificate_facts(cert) if cert else None)


_SHORT_NAMES = dict(commonName='CN', organizationName='O', organizationalUnitName='OU', countryName='C',
                    localityName='L', stateOrProvinceName='ST')


_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def _certificate_facts(cert):
    def name(rdns):
        return ', '.join('%s=%s' % (_SHORT_NAMES.get(key, key), value) for rdn in rdns for key, value in rdn)

    def iso(when):  # 'Jan  5 09:34:43 2027 GMT', as ssl.cert_time_to_seconds reads it but without time.strptime,
        # whose first call imports _strptime and compiles its patterns: milliseconds on every probe
        try:
            month, day, clock, year = when.split()[:4]
            return '%04d-%02d-%02dT%sZ' % (int(year), _MONTHS.index(month) + 1, int(day), clock[:8])
        except (AttributeError, ValueError):
            return None

    return dict(subject=name(cert.get('subject', ())), issuer=name(cert.get('issuer', ())),
                not_before=iso(cert.get('notBefore')), not_after=iso(cert.get('notAfter')),
                subject_alt_names=['%s:%s' % pair for pair in cert.get('subjectAltName', ())])


def _xoauth2_string(settings):
    return 'user=%s\x01auth=Bearer %s\x01\x01' % (settings['username'] or '', settings['password'] or '')


# ---------------------------------------------------------------------------------------------------------------
# Scrubbing: a server may echo what it was sent, in any form.

def _secret_forms(settings, extra=()):
    """A compiled pattern for the password in every form a reply (or our own message) may carry it, or None.

    Forms: those of _masking.secret_forms (raw, escapes, base64 of the value and of the PLAIN, XOAUTH2 and
    OAUTHBEARER strings); UTF-8 bytes read as Latin-1 (smtplib reads EHLO so); `extra`, what a session really sent
    (a CRAM-MD5 response, the AUTH lines). Any run of whitespace in a form matches any other run, as _one_line()
    collapses them and a server may wrap lines.
    """
    password = settings.get('password')
    if not password:
        return None
    forms = secret_forms(password, settings.get('username') or '')
    forms.add(base64.b64encode(_xoauth2_string(settings).encode('utf-8')).decode('ascii'))
    forms.add(password.encode('utf-8').decode('latin-1'))
    forms.update(form for form in extra if form)
    patterns = []
    for form in sorted(forms, key=len, reverse=True):
        chunks = form.split()
        if chunks:
            patterns.append(r'\s+'.join(re.escape(chunk) for chunk in chunks))
        if form.strip() != form or not chunks:
            patterns.append(re.escape(form))
    return re.compile('|'.join(patterns), re.IGNORECASE)


def _scrub(text, secrets):
    if secrets is None or not text:
        return text
    return secrets.sub(MASK, text)


def _decode(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return '' if value is None else str(value)


def _elapsed_ms(started):
    return round((time.monotonic() - started) * 1000, 1)


def _clip(text, limit=MAX_TEXT_CHARS):
    return text if len(text) <= limit else text[:limit] + ' [...]'

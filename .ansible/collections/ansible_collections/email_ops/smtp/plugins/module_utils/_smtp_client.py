# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one SMTP client of the collection: a test session that goes as far as asked, and says why it stopped.

Internal to the email_ops.smtp collection; not a public API. Used by smtp_test and by smtp_config's `verify`.
Standard library only, since it runs on managed hosts.

    facts = run_session(settings, stage='rcpt', to='ops@example.com')   # raises SmtpFailure

A session walks the STAGES like swaks --quit-after: connect (TCP, greeting, EHLO), tls, auth, rcpt
(MAIL FROM + RCPT TO, then RSET: nothing delivered), send (DATA). Inside a stage it tracks a finer
`step` (connect, tls, banner, ehlo, auth, mail, rcpt, data), which names the timings and lets
classify() tell a silent greeting from a silent TCP connect.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import email.policy
import email.utils
import smtplib
import socket
import ssl
import time
from contextlib import contextmanager
from email.headerregistry import Address
from email.message import EmailMessage

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import MASK

STAGES = ('connect', 'tls', 'auth', 'rcpt', 'send')
STEP_STAGE = dict(connect='connect', banner='connect', ehlo='connect', tls='tls', auth='auth',
                  mail='rcpt', rcpt='rcpt', data='send')
STEP_WAITING_FOR = dict(connect='the TCP connection', tls='the TLS handshake', banner="the server's greeting",
                        ehlo='the reply to EHLO', auth='the reply to AUTH', mail='the reply to MAIL FROM',
                        rcpt='the reply to RCPT TO', data='the reply to DATA')
AUTO_PREFERENCE = ('cram-md5', 'plain', 'login')  # strongest first; xoauth2 only when asked for


class SmtpFailure(Exception):
    """Why a session stopped: `msg` for a human, `category`/`stage`/`code`/`hint` for both, `facts` learnt so far."""

    def __init__(self, msg, category, stage, code=None, hint=None, facts=None):
        super(SmtpFailure, self).__init__(msg)
        self.msg = msg
        self.category = category
        self.stage = stage
        self.code = code
        self.hint = hint
        self.facts = facts or {}

    def as_dict(self):
        return dict(category=self.category, stage=self.stage, code=self.code, hint=self.hint)


class RequirementError(Exception):
    """Something the settings require is missing: `need` is STARTTLS, AUTH, AUTH <MECH>, encryption or recipient."""

    def __init__(self, need, offered=()):
        super(RequirementError, self).__init__(need)
        self.need = need
        self.offered = [name.upper() for name in offered]


def run_session(settings, stage='send', to=None, subject=None, body=None):
    """Talk to settings.host up to and including `stage`; return the facts, or raise SmtpFailure (with them)."""
    if stage not in STAGES:
        raise ValueError('stage must be one of %s' % ', '.join(STAGES))
    return _Session(settings, to or settings.get('test_email')).run(stage, subject, body)


class _Client(smtplib.SMTP):
    """smtplib.SMTP on a socket we opened ourselves, so connect, TLS and greeting are timed and classified apart."""

    def __init__(self, sock, host, local_hostname, timeout):
        smtplib.SMTP.__init__(self, local_hostname=local_hostname, timeout=timeout)
        self.sock = sock
        self._host = host  # starttls() sends it as SNI and checks the certificate against it


class _Session(object):

    def __init__(self, settings, recipient):
        self.settings = settings
        self.secrets = _secret_forms(settings)
        self.recipient = recipient
        self.step = 'connect'
        self.sock = self.client = None
        self._fqdn = None
        self.facts = dict(sent=False, stage_reached=None, banner=None, esmtp_features={}, tls=None,
                          auth_mechanism=None, message_id=None, recipient=recipient, timings_ms={})

    def run(self, stage, subject, body):
        started = time.monotonic()
        actions = (self._open, self._secure, self._authenticate, self._envelope, lambda: self._deliver(subject, body))
        try:
            for name, action in zip(STAGES, actions):
                action()
                self.facts['stage_reached'] = name
                if name == stage:
                    break
            self._quit()
        except Exception as error:  # pylint: disable=broad-except  # every failure, however raised, is classified
            failure = classify(error, self.step, self.settings, self.recipient)
            failure.facts = self.facts
            raise failure
        finally:
            self.facts['timings_ms']['total'] = _elapsed_ms(started)
            self._close()
        return self.facts

    @property
    def fqdn(self):
        if self._fqdn is None:
            self._fqdn = socket.getfqdn()  # slow where DNS is broken, so only when needed
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

    # connect: TCP, implicit TLS for security ssl, greeting, EHLO
    def _open(self):
        settings = self.settings
        with self._step('connect'):
            self.sock = socket.create_connection((settings['host'], settings['port']), settings['timeout'])
        if settings['security'] == 'ssl':
            with self._step('tls'):
                self.sock = self._tls_context().wrap_socket(self.sock, server_hostname=settings['host'],
                                                            do_handshake_on_connect=False)
                self.sock.do_handshake()  # after the assignment, so _close() closes it even when this fails
                self.facts['tls'] = _tls_facts(self.sock)
        self.client = _Client(self.sock, settings['host'], settings['helo_name'] or self.fqdn, settings['timeout'])
        with self._step('banner'):
            code, reply = self.client.getreply()
            self.facts['banner'] = self._text(reply)
            if code != 220:
                raise smtplib.SMTPConnectError(code, reply)
        with self._step('ehlo'):
            self._ehlo()

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
            self.facts['tls'] = _tls_facts(self.client.sock)
            self._ehlo()

    def _tls_context(self):
        context = ssl.create_default_context(cafile=self.settings['ca_file'])
        if not self.settings['validate_certs']:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _authenticate(self):
        settings = self.settings
        method = settings['auth_method']
        if method == 'none' or (method == 'auto' and not settings['username']):
            return
        with self._step('auth'):
            if settings['security'] == 'none' and not settings['allow_insecure_auth']:
                raise RequirementError('encryption')
            offered = self.client.esmtp_features.get('auth', '').lower().split()
            if method == 'auto':
                method = next((name for name in AUTO_PREFERENCE if name in offered), None)
                if method is None:
                    raise RequirementError('AUTH', offered)
            elif method not in offered:
                raise RequirementError('AUTH ' + method.upper(), offered)
            self.facts['auth_mechanism'] = method  # the one tried, also when it fails
            self.client.user, self.client.password = settings['username'] or '', settings['password'] or ''
            self.client.auth(method.upper(), self._responder(method), initial_response_ok=True)

    def _responder(self, method):
        if method == 'xoauth2':
            initial = _xoauth2_string(self.settings)
            # A 334 after the initial response carries the server's error (JSON); an empty line ends the exchange.
            return lambda challenge=None: initial if challenge is None else ''
        return getattr(self.client, 'auth_' + method.replace('-', '_'))  # smtplib's plain, login, cram_md5

    # rcpt: the envelope, proving the server takes this sender and this recipient
    def _envelope(self):
        with self._step('mail'):
            if not self.recipient:
                raise RequirementError('recipient')
            # smtplib fails with SMTPNotSupportedError when an address needs SMTPUTF8 and the server lacks it
            _expect_2xx(self.client.mail(self.settings['from_email'], ['SMTPUTF8'] if self._utf8() else []))
        with self._step('rcpt'):
            _expect_2xx(self.client.rcpt(self.recipient))

    def _deliver(self, subject, body):
        with self._step('data'):
            message = self._compose(subject, body)
            self.facts['message_id'] = message['Message-ID']  # known before DATA, so a failed send can be traced too
            policy = email.policy.SMTPUTF8 if self._utf8() else email.policy.SMTP
            _expect_2xx(self.client.data(message.as_bytes(policy=policy)))
            self.facts['sent'] = True

    def _utf8(self):
        return not all(address.isascii() for address in (self.settings['from_email'], self.recipient))

    def _compose(self, subject, body):
        settings = self.settings
        now = email.utils.formatdate(localtime=True)
        message = EmailMessage()
        message['Date'] = now
        message['Message-ID'] = email.utils.make_msgid(domain=settings['from_email'].rpartition('@')[2])
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
            pass  # the stage asked for is done; a server that hangs up instead of answering changes nothing

    def _close(self):
        for closable in (self.client, self.sock):
            if closable is not None:
                closable.close()

    def _text(self, reply):
        return _scrub(_decode(reply), self.secrets)


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


def _certificate_facts(cert):
    def name(rdns):
        return ', '.join('%s=%s' % (_SHORT_NAMES.get(key, key), value) for rdn in rdns for key, value in rdn)

    def iso(when):
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ssl.cert_time_to_seconds(when))) if when else None

    return dict(subject=name(cert.get('subject', ())), issuer=name(cert.get('issuer', ())),
                not_before=iso(cert.get('notBefore')), not_after=iso(cert.get('notAfter')),
                subject_alt_names=['%s:%s' % pair for pair in cert.get('subjectAltName', ())])


def _xoauth2_string(settings):
    return 'user=%s\x01auth=Bearer %s\x01\x01' % (settings['username'] or '', settings['password'] or '')


def _secret_forms(settings):
    """The password as it could come back in a server's reply: raw, or base64 of what an AUTH exchange sent."""
    password = settings.get('password')
    if not password:
        return []
    user = settings.get('username') or ''
    sent = (password, '\0%s\0%s' % (user, password), _xoauth2_string(settings))
    return [password] + [base64.b64encode(text.encode('utf-8')).decode('ascii') for text in sent]


def _scrub(text, secrets):
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _decode(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return '' if value is None else str(value)


def _elapsed_ms(started):
    return round((time.monotonic() - started) * 1000, 1)


# ---------------------------------------------------------------------------------------------------------------
# Failure classification: pure, so every row of the fault table is unit-tested without a server.

CERT_EXPIRED = (9, 10)           # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
CERT_NAME_MISMATCH = (62, 64)    # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
NOT_TLS_MARKERS = ('wrong version number', 'unknown protocol', 'packet length too long', 'record layer failure',
                   'http request')
TRY_LATER = 'a 4xx reply is temporary: try again later'
CERT_ESCAPE = 'validate_certs: false skips the check, for tests only'


def classify(error, step, settings, recipient=None):
    """Turn an exception raised at `step` of a session into an SmtpFailure (category, stage, code, hint, msg).

    Categories: dns, connect, timeout, tls, certificate, auth, sender, recipient, data, protocol.
    """
    where = '%s:%s' % (settings['host'], settings['port'])
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, OSError):
        error = error.__context__  # smtplib reports a time-out or reset while reading a reply as a disconnect
    code = None
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code > 0:
        code = error.smtp_code
        category, msg, hint = _classify_reply(code, _one_line(error.smtp_error), step, settings, where, recipient)
    else:
        category, msg, hint = _classify_exception(error, step, settings, where)
    secrets = _secret_forms(settings)
    return SmtpFailure(_scrub(msg, secrets), category, STEP_STAGE.get(step, step), code, _scrub(hint, secrets))


def _classify_reply(code, reply, step, settings, where, recipient):
    said = '%d %s' % (code, reply)
    temporary = 400 <= code < 500
    if (code == 530 and 'starttls' in reply.lower()) or code == 538:
        return ('tls', '%s wants TLS first: %s' % (where, said),
                'use security: starttls (usually port 587) or ssl (usually 465)')
    if code == 530:
        return ('auth', '%s requires authentication: %s' % (where, said),
                'set username and password (auth_method: auto picks a mechanism the server offers)')
    if step == 'banner':
        return ('connect', '%s refused the session in its greeting: %s' % (where, said),
                'the server is overloaded or throttles this host: try again later' if temporary else
                'the server refuses this host (IP block list, access rules): ask its administrator to allow it')
    if step == 'ehlo':
        return ('protocol', '%s refused EHLO and HELO: %s' % (where, said),
                "set helo_name to this host's public fully qualified name")
    if step == 'tls':
        return ('tls', '%s refused STARTTLS: %s' % (where, said),
                TRY_LATER if temporary else 'the server offers STARTTLS but cannot do it (no certificate?): '
                'try security: ssl on its implicit TLS port (465), or ask its administrator')
    if step == 'auth':
        return ('auth', '%s refused the login: %s' % (where, said), _auth_hint(code, settings))
    if step == 'mail':
        return ('sender', '%s refused the sender %s: %s' % (where, settings['from_email'], said),
                TRY_LATER if temporary else 'this account may not send as from_email: use an address it owns '
                '(often the username), or have the server allow it')
    if step == 'rcpt':
        return ('recipient', '%s refused the recipient %s: %s' % (where, recipient, said),
                TRY_LATER + ' (greylisting, rate limit or a busy mailbox)' if temporary else
                'check the address; for another domain the server may refuse to relay for this account')
    if step == 'data':
        return ('data', '%s refused the message: %s' % (where, said),
                TRY_LATER if temporary else 'a content, policy or size filter rejected the message: '
                "the reply says which; the server's logs say more")
    return ('protocol', '%s answered %s while this host waited for %s' % (where, said, _waiting_for(step)),
            "unexpected reply: check the server's logs")


def _auth_hint(code, settings):
    if 400 <= code < 500:
        return 'the server could not check the credentials just now: ' + TRY_LATER
    if settings['auth_method'] == 'xoauth2':
        return ('the access token was refused: it may have expired or lack the mail scope; '
                'put a fresh token in password, with username the mailbox it belongs to')
    if code == 534:
        return 'the provider wants an app password (2-step verification) or OAuth2 (auth_method: xoauth2)'
    if code == 504:
        return 'the server does not accept this mechanism after all: set auth_method to another one it offers'
    return ('check username and password; large providers (Gmail, Microsoft 365) need an app password '
            'or OAuth2 (auth_method: xoauth2)')


def _classify_exception(error, step, settings, where):
    if isinstance(error, RequirementError):
        return _classify_requirement(error, settings, where)
    if isinstance(error, socket.gaierror):
        return ('dns', 'cannot resolve %s: %s' % (settings['host'], error.strerror or error),
                "check host for typos, and the managed host's DNS resolver: internal names may not resolve everywhere")
    if isinstance(error, ssl.SSLCertVerificationError):
        return _classify_certificate(error, settings, where)
    if isinstance(error, (socket.timeout, TimeoutError)):
        return _classify_timeout(step, settings, where)
    if isinstance(error, ssl.SSLError):
        return _classify_tls(error, step, settings, where)
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)) and step == 'tls':
        return ('certificate', 'cannot read ca_file %s: %s' % (settings['ca_file'], error.strerror),
                'ca_file is read on the managed host: copy the CA bundle there first, or leave ca_file unset')
    if isinstance(error, ConnectionRefusedError):
        return ('connect', '%s refused the connection' % where,
                'nothing listens on %s, or a firewall rejects it: check host and port (587, 465 or 25)' % where)
    if isinstance(error, (smtplib.SMTPServerDisconnected, ConnectionError, EOFError)):
        return _classify_hang_up(step, settings, where)
    if isinstance(error, OSError) and step == 'connect':
        return ('connect', 'cannot reach %s: %s' % (where, error.strerror or error),
                "check the managed host's network, routes and firewall")
    if isinstance(error, smtplib.SMTPResponseException) and step == 'banner':
        return ('protocol', '%s did not greet in SMTP' % where, 'check host and port; ' + _implicit_tls_hint(settings))
    if isinstance(error, (smtplib.SMTPException, OSError)):
        return ('protocol', '%s failed while this host waited for %s: %s'
                % (where, _waiting_for(step), _one_line(error)), "check the server's logs")
    return ('protocol', 'unexpected %s while this host waited for %s from %s: %s'
            % (type(error).__name__, _waiting_for(step), where, _one_line(error)), 'please report this as a bug')


def _classify_requirement(error, settings, where):
    if error.need == 'STARTTLS':
        return ('tls', '%s does not offer STARTTLS' % where,
                'security: starttls never falls back to clear text: use the port that offers STARTTLS (usually 587), '
                'security: ssl for implicit TLS (465), or security: none only on a trusted network')
    if error.need == 'encryption':
        return ('auth', 'refusing to send the password to %s in clear text (security: none)' % where,
                'use security: starttls or ssl; allow_insecure_auth: true only on a trusted network')
    if error.need == 'recipient':
        return ('recipient', 'no recipient to test with', 'set to, or settings.test_email')
    offered = ' '.join(error.offered)
    if not error.offered:
        return ('auth', '%s offers no AUTH on this connection' % where,
                'servers often offer AUTH only over TLS, on the submission port (587 with security: starttls); '
                'set auth_method: none if this server relays for this host without a login')
    if error.need == 'AUTH':
        return ('auth', '%s offers no AUTH mechanism this client supports (it offers %s)' % (where, offered),
                'use a server or port that offers PLAIN, LOGIN or CRAM-MD5, or XOAUTH2 with a token')
    return ('auth', '%s does not offer %s (it offers %s)' % (where, error.need, offered),
            'set auth_method to one it offers (%s), or to auto' % ', '.join(name.lower() for name in error.offered))


def _classify_timeout(step, settings, where):
    msg = 'no answer from %s within %ss, waiting for %s' % (where, settings['timeout'], _waiting_for(step))
    if step == 'connect':
        return ('timeout', msg, 'nothing answered: a firewall drops the traffic or the host is down; '
                'check host, port and outbound firewall rules (many networks block port 25)')
    if step == 'banner' and settings['security'] != 'ssl':
        return ('timeout', msg, _implicit_tls_hint(settings) + '; otherwise the server is overloaded')
    if step == 'tls':
        return ('timeout', msg, 'the port may not speak TLS, or something in the path holds the handshake')
    return ('timeout', msg, 'the server is slow or overloaded: raise timeout, or try again later')


def _classify_certificate(error, settings, where):
    verify_code = getattr(error, 'verify_code', None)
    reason = getattr(error, 'verify_message', None) or _one_line(error)
    msg = 'the certificate of %s is not trusted: %s' % (where, reason)
    if verify_code in CERT_EXPIRED:
        return ('certificate', msg, 'the certificate has expired (or is not valid yet): the server must renew it; '
                'ca_file cannot help here; ' + CERT_ESCAPE)
    if verify_code in CERT_NAME_MISMATCH:
        return ('certificate', msg, 'the certificate does not name %s: set host to a name it carries '
                "(the provider's documented SMTP host name); %s" % (settings['host'], CERT_ESCAPE))
    return ('certificate', msg, 'the certificate is signed by a CA this host does not trust (unknown CA): '
            "set ca_file to that CA's PEM bundle on the managed host; " + CERT_ESCAPE)


def _classify_tls(error, step, settings, where):
    text = _one_line(error)
    if getattr(error, 'library', None) in ('X509', 'PEM'):  # loading ca_file, not the handshake
        return ('certificate', 'cannot load ca_file %s: %s' % (settings['ca_file'], text),
                'ca_file must be a PEM file of CA certificates on the managed host')
    if step != 'tls':
        return ('protocol', 'TLS error with %s while this host waited for %s: %s' % (where, _waiting_for(step), text),
                "check the server's logs")
    if any(marker in text.lower() for marker in NOT_TLS_MARKERS):
        if settings['security'] == 'ssl':
            return ('tls', '%s did not answer in TLS: %s' % (where, text),
                    'this port speaks plain SMTP: use security: starttls (587) or none')
        return ('tls', '%s accepted STARTTLS but did not speak TLS: %s' % (where, text),
                'something between this host and the server (proxy, antivirus) interferes, or the server is broken')
    return ('tls', 'TLS handshake with %s failed: %s' % (where, text),
            'the server could not complete TLS (no shared protocol version or cipher, or no certificate): '
            'check its TLS configuration and logs, or the other security mode (starttls on 587, ssl on 465)')


def _classify_hang_up(step, settings, where):
    if step == 'banner':
        hint = 'the server refuses this host (access rules, block list, connection limit)'
        if settings['security'] != 'ssl':
            hint += ', or ' + _implicit_tls_hint(settings)
        return ('connect', '%s closed the connection without a greeting' % where, hint)
    if step == 'tls':
        return ('tls', '%s closed the connection during the TLS handshake' % where,
                'the server could not complete TLS: check its TLS configuration and logs')
    if step == 'data':
        return ('data', '%s closed the connection during DATA: the message was not accepted' % where,
                'nothing was delivered: a size limit, content filter or crash on the server cut it; '
                "check the server's logs, then retry")
    return ('protocol', '%s closed the connection while this host waited for %s' % (where, _waiting_for(step)),
            'the server ended the session (idle or connection limits, or it rejects this host): check its logs')


def _implicit_tls_hint(settings):
    """An implicit TLS port waits for a TLS handshake, so a client expecting a greeting hears nothing."""
    if settings['port'] == 465:
        return 'port 465 speaks implicit TLS: use security: ssl'
    return 'if port %s speaks implicit TLS (as 465 does), use security: ssl' % settings['port']


def _waiting_for(step):
    return STEP_WAITING_FOR.get(step, step)


def _one_line(value):
    return ' '.join(_decode(value).split())

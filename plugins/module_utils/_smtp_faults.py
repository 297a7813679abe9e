# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why an SMTP test session failed: an exception raised at a step of _smtp_client's session becomes an
SmtpFailure with a category, a stage, the server's code and a hint.

Internal to the email_ops.smtp collection; not a public API. Pure, so every row of the fault table is
unit-tested without a server. Apart from _smtp_client.py because a module compiles every file it imports on
every run (AnsiballZ keeps no bytecode), and a session that succeeds never needs this one.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import smtplib
import socket
import ssl

from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import (
    LIMITS, MAX_TEXT_CHARS, OAUTH_METHODS, STEP_STAGE, LimitError, RequirementError, SettingError, SmtpFailure,
    TokenRefused, _clip, _decode, _scrub, _secret_forms,
)

STEP_WAITING_FOR = dict(connect='the TCP connection', tls='the TLS handshake', banner="the server's greeting",
                        ehlo='the reply to EHLO', token='the OAuth2 token endpoint', auth='the reply to AUTH', mail='the reply to MAIL FROM',
                        rcpt='the reply to RCPT TO', data='the reply to DATA')

# Python 3.7+ raises SSLCertVerificationError; 3.6 an SSLError (reason CERTIFICATE_VERIFY_FAILED) for the
# chain and a CertificateError (a ValueError) for the host name.
CERTIFICATE_ERRORS = (getattr(ssl, 'SSLCertVerificationError', ssl.CertificateError), ssl.CertificateError)

CERT_EXPIRED = (9, 10)           # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
CERT_NAME_MISMATCH = (62, 64)    # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
NOT_TLS_MARKERS = ('wrong version number', 'unknown protocol', 'packet length too long', 'record layer failure',
                   'http request')
TRY_LATER = 'a 4xx reply is temporary: try again later'
CERT_ESCAPE = 'validate_certs: false skips the check, for tests only'


def classify(error, step, settings, recipient=None, sent=(), challenge=None):
    """Turn an exception raised at `step` of a session into an SmtpFailure (category, stage, code, hint, msg).

    Categories: dns, connect, timeout, tls, certificate, auth, sender, recipient, data, protocol.
    `recipient` is the address of the RCPT TO in flight; `sent` what the AUTH exchange sent (scrubbed too);
    `challenge` the server's 334 error challenge to an OAuth2 token. A token endpoint failure is category oauth.
    """
    if step == 'token':
        from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import OAuth2Failure
        if isinstance(error, OAuth2Failure):  # already classified, and scrubbed of the oauth2 secrets
            return SmtpFailure(error.msg, error.category, 'auth', error.code if isinstance(error.code, int) else None,
                               error.hint, reason=error.reason)
    where = '%s:%s' % (settings['host'], settings['port'])
    if isinstance(error, smtplib.SMTPServerDisconnected) and isinstance(error.__context__, OSError):
        error = error.__context__  # smtplib reports a time-out or reset while reading a reply as a disconnect
    code = None
    secrets = _secret_forms(settings, extra=sent)
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code > 0:
        code = error.smtp_code
        reply = _clip(_one_line(_scrub(_decode(error.smtp_error), secrets)))
        category, msg, hint = _classify_reply(code, reply, step, settings, where, recipient)
        if isinstance(error, TokenRefused) and error.challenge is not None:
            from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import parse_error_challenge
            refusal = parse_error_challenge(error.challenge, [sent_form for sent_form in sent if sent_form])
            msg, hint = '%s refused the login: %s (%s)' % (where, refusal['msg'], '%d %s' % (code, reply)), refusal['hint']
            if not settings.get('oauth2'):
                hint += '; a static token in password expires within the hour: put a fresh token there, or set oauth2'
    else:
        category, msg, hint = _classify_exception(error, step, settings, where)
    return SmtpFailure(_printable(_clip(_scrub(msg, secrets), 2 * MAX_TEXT_CHARS)), category,
                       STEP_STAGE.get(step, step), code, _printable(_scrub(hint, secrets)))


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
    if settings['auth_method'] in OAUTH_METHODS:
        return ('the access token was refused: it may have expired or lack the mail scope; set oauth2 so that '
                'the host fetches a fresh token, with username the mailbox it belongs to')
    if code == 534:
        return 'the provider wants an app password (2-step verification) or OAuth2 (auth_method: xoauth2)'
    if code == 504:
        return 'the server does not accept this mechanism after all: set auth_method to another one it offers'
    return ('check username and password; large providers (Gmail, Microsoft 365) need an app password '
            'or OAuth2 (auth_method: xoauth2)')


def _classify_exception(error, step, settings, where):
    if isinstance(error, RequirementError):
        return _classify_requirement(error, settings, where)
    if isinstance(error, SettingError):
        return (error.category, error.msg, error.hint)
    if isinstance(error, LimitError):
        return _classify_limit(error, step, settings, where)
    if isinstance(error, socket.gaierror):
        return ('dns', 'cannot resolve %s: %s' % (settings['host'], error.strerror or error),
                "check host for typos, and the managed host's DNS resolver: internal names may not resolve everywhere")
    if _is_certificate_error(error):
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
    if error.need == 'SMTPUTF8':
        return (error.role, '%s does not offer SMTPUTF8, which the %s %s needs (it is not all ASCII)'
                % (where, error.role, error.address),
                'use an ASCII address (an international domain works in its xn-- form), '
                'or a server that offers SMTPUTF8')
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


def _classify_limit(error, step, settings, where):
    return ('protocol', '%s sent more than %s while this host waited for %s: the session was ended'
            % (where, LIMITS[error.limit], _waiting_for(step)),
            'the server is broken or hostile, or this port does not speak SMTP: check host and port (%s)'
            % _implicit_tls_hint(settings) if step == 'banner' else
            "the server is broken or hostile: check host and port, and the server's logs")


def _classify_timeout(step, settings, where):
    # timeout bounds the whole session: a server that answers too slowly (a byte at a time) ends here too
    msg = 'no answer from %s within %ss (the timeout of the whole session), waiting for %s' % (
        where, settings['timeout'], _waiting_for(step))
    if step == 'connect':
        return ('timeout', msg, 'nothing answered: a firewall drops the traffic or the host is down; '
                'check host, port and outbound firewall rules (many networks block port 25)')
    if step == 'banner' and settings['security'] != 'ssl':
        return ('timeout', msg, _implicit_tls_hint(settings) + '; otherwise the server is overloaded')
    if step == 'tls':
        return ('timeout', msg, 'the port may not speak TLS, or something in the path holds the handshake')
    return ('timeout', msg, 'the server is slow or overloaded: raise timeout, or try again later')


def _is_certificate_error(error):
    return isinstance(error, CERTIFICATE_ERRORS) or (
        isinstance(error, ssl.SSLError) and getattr(error, 'reason', None) == 'CERTIFICATE_VERIFY_FAILED')


def _classify_certificate(error, settings, where):
    verify_code = getattr(error, 'verify_code', None)
    reason = getattr(error, 'verify_message', None) or _one_line(error)
    if verify_code is None and "doesn't match" in reason:
        verify_code = CERT_NAME_MISMATCH[0]  # Python 3.6: match_hostname's CertificateError has no code
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
    if any(marker in text.lower() for marker in ('protocol version', 'unsupported protocol')):
        return ('tls', 'TLS handshake with %s failed: %s' % (where, text),
                'no TLS version in common: this client requires TLS 1.2 or newer, and the server offers only older '
                'ones (or the reverse): the server must be upgraded')
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


def _printable(text):
    """Control characters a server sent (NUL, ESC) shown as '?', once secrets are scrubbed."""
    return ''.join('?' if ord(char) < 32 or 127 <= ord(char) < 160 else char for char in text)

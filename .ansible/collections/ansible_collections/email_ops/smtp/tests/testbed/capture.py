"""A well-behaved SMTP server (aiosmtpd) that keeps what it receives, in memory or as files.

Listeners on 127.0.0.1, all sharing one mailbox:

- starttls_port: STARTTLS required, then AUTH required (PLAIN, LOGIN, CRAM-MD5, XOAUTH2): a submission port.
- ssl_port: implicit TLS, then AUTH required: an smtps port.
- plain_port: clear text, AUTH offered (PLAIN, LOGIN, CRAM-MD5, XOAUTH2) but not required: a trusted relay.

In tests: the session fixture `capture_server` (call `.clear()` before a test that counts messages).
Standalone (the demo), writing each message to --maildir as <n>.eml, until killed:

    python -m tests.testbed.capture --port 2587 --ca-dir DIR --user U --password PW --maildir DIR [--ssl-port P]

It prints `ca_file: <path>` first, then one line per listener and per message received.
"""
import argparse
import base64
import email
import email.policy
import hmac
import json
import logging
import os
import signal
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult, auth_mechanism

from tests.testbed.net import free_port
from tests.testbed.pki import Pki

USERNAME = 'tester@example.test'
PASSWORD = 'S3cr3t-Pa55!word'
TOKEN = 'ya29.capture-test-token'

logging.getLogger('mail.log').setLevel(logging.ERROR)  # aiosmtpd logs its own deprecations on every login


class Received:
    """One message as it arrived: envelope, parsed message (email.message.EmailMessage), who sent it and how."""

    def __init__(self, sender, recipients, data, port, login, tls):
        self.sender = sender
        self.recipients = recipients
        self.data = data
        self.message = email.message_from_bytes(data, policy=email.policy.default)
        self.port = port
        self.login = login  # the authenticated user, or None
        self.tls = tls      # whether the session was encrypted

    def __repr__(self):
        return '<Received %s -> %s %r>' % (self.sender, self.recipients, self.message['Subject'])


class CaptureHandler:
    """aiosmtpd handler: stores messages and checks credentials for PLAIN/LOGIN (authenticator), CRAM-MD5 and XOAUTH2.

    A failed AuthResult needs handled=False, or aiosmtpd sends no reply at all and the client waits.
    """

    def __init__(self, capture):
        self.capture = capture

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode() == self.capture.username
              and hmac.compare_digest(auth_data.password, self.capture.password.encode()))
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

    @auth_mechanism('CRAM-MD5')
    async def auth_cram_md5(self, server, args):
        challenge = '<%d.%d@capture.example.test>' % (os.getpid(), time.time_ns())
        response = await server.challenge_auth(challenge)
        if response is MISSING:
            return AuthResult(success=False, handled=True)
        user, digest = response.decode().rsplit(' ', 1)
        expected = hmac.new(self.capture.password.encode(), challenge.encode(), 'md5').hexdigest()
        ok = user == self.capture.username and hmac.compare_digest(digest, expected)
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    @auth_mechanism('XOAUTH2')
    async def auth_xoauth2(self, server, args):
        blob = base64.b64decode(args[1]) if len(args) == 2 else await server.challenge_auth('')
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
        fields = dict(part.split('=', 1) for part in blob.decode().split('\x01') if '=' in part)
        if fields.get('user') == self.capture.username and fields.get('auth') == 'Bearer ' + self.capture.token:
            return AuthResult(success=True, auth_data=fields['user'])
        # As Gmail does: the error as a base64 JSON challenge, which the client answers with an empty line.
        await server.challenge_auth(json.dumps({'status': '401', 'schemes': 'bearer',
                                                'scope': 'https://mail.google.com/'}))
        return AuthResult(success=False, handled=False, message='535 5.7.8 Username and Password not accepted')

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # AUTH required here rather than with aiosmtpd's auth_required, which would also insist on STARTTLS
        # for the implicit TLS listener (it counts only STARTTLS as TLS).
        if self.capture.requires_auth(server) and not session.authenticated:
            return '530 5.7.0 Authentication required'
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return '250 2.1.0 Ok'

    async def handle_DATA(self, server, session, envelope):
        self.capture.store(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                    _port(server), session.auth_data if session.authenticated else None,
                                    server.transport.get_extra_info('sslcontext') is not None))
        return '250 2.0.0 Ok: queued'


class Capture:
    host = '127.0.0.1'
    domain = 'example.test'

    def __init__(self, pki, username=USERNAME, password=PASSWORD, token=TOKEN, maildir=None,
                 starttls_port=None, ssl_port=None, plain_port=None, implicit_tls=True, plain=True):
        self.pki = pki
        self.ca_file = pki.ca_file
        self.username, self.password, self.token = username, password, token
        self.maildir = maildir
        self.messages = []
        self._lock = threading.Lock()
        handler = CaptureHandler(self)
        common = dict(hostname=self.host, server_hostname='capture.example.test', authenticator=handler.authenticator)
        self.starttls_port = starttls_port or free_port()
        self.controllers = [Controller(handler, port=self.starttls_port, tls_context=pki.server_context(),
                                       require_starttls=True, **common)]
        self.ssl_port = self.plain_port = None
        if implicit_tls:
            self.ssl_port = ssl_port or free_port()
            self.controllers.append(Controller(handler, port=self.ssl_port, ssl_context=pki.server_context(),
                                               auth_require_tls=False, **common))
        if plain:
            self.plain_port = plain_port or free_port()
            self.controllers.append(Controller(handler, port=self.plain_port, auth_require_tls=False, **common))

    def start(self):
        for controller in self.controllers:
            controller.start()
        return self

    def stop(self):
        for controller in self.controllers:
            controller.stop()

    def requires_auth(self, server):
        return _port(server) in (self.starttls_port, self.ssl_port)

    def clear(self):
        with self._lock:
            del self.messages[:]

    def store(self, received):
        with self._lock:
            self.messages.append(received)
            count = len(self.messages)
        if self.maildir:
            path = os.path.join(self.maildir, '%d.eml' % count)
            envelope = 'Return-Path: <%s>\r\nDelivered-To: %s\r\n' % (received.sender, ', '.join(received.recipients))
            with open(path + '.tmp', 'wb') as handle:
                handle.write(envelope.encode() + received.data)
            os.replace(path + '.tmp', path)
            print('received %s -> %s: %s' % (received.sender, ', '.join(received.recipients), path), flush=True)

    def settings(self, **overrides):
        """A settings document for the STARTTLS listener, trusting the test CA; override any key."""
        settings = dict(host=self.host, port=self.starttls_port, security='starttls', username=self.username,
                        password=self.password, from_email=self.username, from_name='Capture test',
                        test_email='ops@' + self.domain, ca_file=self.ca_file, timeout=10)
        settings.update(overrides)
        return settings


def _port(server):
    return server.transport.get_extra_info('sockname')[1]


@pytest.fixture(scope='session')
def capture_server(pki):
    server = Capture(pki).start()
    yield server
    server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description='Capture SMTP server for demos: STARTTLS + AUTH, messages to files.')
    parser.add_argument('--port', type=int, required=True, help='STARTTLS listener (AUTH required)')
    parser.add_argument('--ssl-port', type=int, help='optional implicit TLS listener (AUTH required)')
    parser.add_argument('--plain-port', type=int, help='optional clear-text listener (AUTH optional)')
    parser.add_argument('--ca-dir', required=True, help='where the test CA and server certificate are written')
    parser.add_argument('--user', default=USERNAME)
    parser.add_argument('--password', default=PASSWORD)
    parser.add_argument('--token', default=TOKEN, help='the OAuth2 access token XOAUTH2 accepts')
    parser.add_argument('--maildir', required=True, help='each message lands here as <n>.eml')
    args = parser.parse_args(argv)
    os.makedirs(args.ca_dir, exist_ok=True)
    os.makedirs(args.maildir, exist_ok=True)
    capture = Capture(Pki(args.ca_dir), username=args.user, password=args.password, token=args.token,
                      maildir=args.maildir, starttls_port=args.port, ssl_port=args.ssl_port,
                      plain_port=args.plain_port, implicit_tls=bool(args.ssl_port), plain=bool(args.plain_port))
    capture.start()
    print('ca_file: %s' % capture.ca_file, flush=True)
    for name in ('starttls_port', 'ssl_port', 'plain_port'):
        if getattr(capture, name):
            print('%s: %s:%d' % (name, capture.host, getattr(capture, name)), flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(1):
        pass
    capture.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())

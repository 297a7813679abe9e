"""SMTP servers on 127.0.0.1 that misbehave on purpose, one way each, for smtp_test's failure paths.

aiosmtpd where it can misbehave the way needed; a few lines of raw socket script where it cannot
(a 421 greeting, silence, a broken STARTTLS, a hang-up in the middle of DATA).

The session fixture `faults` starts them all; each is a port attribute:

| attribute        | what it does                                                                           |
|------------------|----------------------------------------------------------------------------------------|
| picky            | STARTTLS, any login; refuses by address: MAIL FROM REJECTED_SENDER (550),              |
|                  | RCPT TO UNKNOWN_RECIPIENT (550) or GREYLISTED_RECIPIENT (451), DATA for SPAMTRAP (554) |
| plain            | clear text only: no STARTTLS, no AUTH                                                  |
| wrong_name       | STARTTLS with a certificate for mail.other.test, from the test CA                      |
| expired          | STARTTLS with an expired certificate for localhost/127.0.0.1, from the test CA         |
| greeting_421     | greets with 421 and hangs up                                                           |
| silent           | accepts TCP and never says a word                                                      |
| starttls_garbage | answers STARTTLS with 220, then the ClientHello in clear text                          |
| starttls_hangup  | answers STARTTLS with 220, then hangs up during the handshake                          |
| drop_in_data     | accepts the envelope, answers DATA with 354, hangs up after the first line             |
"""
import socketserver
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.testbed.net import free_port

HOST = '127.0.0.1'
REJECTED_SENDER = 'blocked@example.test'
UNKNOWN_RECIPIENT = 'unknown@example.test'
GREYLISTED_RECIPIENT = 'greylisted@example.test'
SPAMTRAP = 'spamtrap@example.test'


class PickyHandler:
    """Accepts any login, refuses particular addresses at MAIL FROM, RCPT TO and DATA; keeps nothing."""

    @staticmethod
    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=True)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address == REJECTED_SENDER:
            return '550 5.7.1 <%s>: Sender address rejected: not owned by user' % address
        envelope.mail_from = address
        return '250 2.1.0 Ok'

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == UNKNOWN_RECIPIENT:
            return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address
        if address == GREYLISTED_RECIPIENT:
            return '451 4.7.1 <%s>: Recipient address rejected: Greylisted, try again in 300 seconds' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 Ok'

    async def handle_DATA(self, server, session, envelope):
        if SPAMTRAP in envelope.rcpt_tos:
            return '554 5.7.1 Message rejected: content looks like spam'
        return '250 2.0.0 Ok: queued'


class Conversation:
    """One raw SMTP connection, seen from the server: say lines, hear commands."""

    def __init__(self, sock):
        self.sock = sock
        self.file = sock.makefile('rb')

    def say(self, *lines):
        self.sock.sendall(''.join(line + '\r\n' for line in lines).encode())

    def hear(self):
        return self.file.readline().decode('ascii', 'replace').strip()

    def greet_and_ehlo(self, *features):
        self.say('220 faults.example.test ESMTP')
        self.hear()
        self.say(*['250-faults.example.test'] + ['250-' + name for name in features] + ['250 8BITMIME'])

    def wait_for_hang_up(self):
        while self.sock.recv(4096):
            pass


def greeting_421(talk):
    talk.say('421 4.7.0 faults.example.test Too many connections from your host, try again later')


def silent(talk):
    talk.wait_for_hang_up()


def starttls_garbage(talk):
    talk.greet_and_ehlo('STARTTLS')
    talk.hear()
    talk.say('220 2.0.0 Ready to start TLS')
    talk.sock.recv(4096)  # the ClientHello, answered in clear text as if it were a command
    talk.say('500 5.5.2 Error: command not recognized')
    talk.wait_for_hang_up()


def starttls_hangup(talk):
    talk.greet_and_ehlo('STARTTLS')
    talk.hear()
    talk.say('220 2.0.0 Ready to start TLS')
    talk.sock.recv(4096)  # the ClientHello, read so that closing sends FIN rather than RST


def drop_in_data(talk):
    talk.greet_and_ehlo()
    while True:
        command = talk.hear().upper()
        if command.startswith(('MAIL', 'RCPT', 'RSET')):
            talk.say('250 2.0.0 Ok')
        elif command == 'DATA':
            talk.say('354 End data with <CR><LF>.<CR><LF>')
            talk.hear()
            return  # hang up after the first line of the message
        else:
            talk.say('221 2.0.0 Bye')
            return


class ScriptedServer:
    """A threaded TCP server on 127.0.0.1 running `script(Conversation)` for every connection."""

    def __init__(self, script):
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    script(Conversation(self.request))
                except OSError:
                    pass  # the client gave up first: that is what these scripts provoke

        self.server = socketserver.ThreadingTCPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Faults:
    host = HOST
    scripts = dict(greeting_421=greeting_421, silent=silent, starttls_garbage=starttls_garbage,
                   starttls_hangup=starttls_hangup, drop_in_data=drop_in_data)

    def __init__(self, pki):
        self.ca_file = pki.ca_file
        handler = PickyHandler()

        def aiosmtpd(**kwargs):
            return Controller(handler, hostname=HOST, port=free_port(), server_hostname='faults.example.test', **kwargs)

        self.controllers = dict(
            picky=aiosmtpd(tls_context=pki.server_context(), authenticator=handler.authenticator),
            plain=aiosmtpd(),
            wrong_name=aiosmtpd(tls_context=pki.server_context(pki.issue('other-name', 'mail.other.test'))),
            expired=aiosmtpd(tls_context=pki.server_context(pki.expired('expired', 'localhost', HOST))),
        )
        self.scripted = dict((name, ScriptedServer(script)) for name, script in self.scripts.items())
        for name, controller in self.controllers.items():
            setattr(self, name, controller.port)
        for name, server in self.scripted.items():
            setattr(self, name, server.port)

    def start(self):
        for controller in self.controllers.values():
            controller.start()
        for server in self.scripted.values():
            server.start()
        return self

    def stop(self):
        for controller in self.controllers.values():
            controller.stop()
        for server in self.scripted.values():
            server.stop()


@pytest.fixture(scope='session')
def faults(pki):
    servers = Faults(pki).start()
    yield servers
    servers.stop()

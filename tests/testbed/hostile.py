"""Hostile SMTP servers on 127.0.0.1, and a way to run one client session against them in its own process.

Each server plays one attack a broken or hostile peer (or anyone on the path before TLS) can make:

| attribute        | what it does                                                                           |
|------------------|----------------------------------------------------------------------------------------|
| endless_greeting | `220-` greeting lines, as fast as the client takes them, never the last line           |
| endless_line     | `220 ` and then one line that never ends (no newline)                                  |
| endless_ehlo     | greets, then answers EHLO with `250-` continuation lines forever                       |
| drip             | a greeting of one byte every 0.5 s, forever                                            |
| tls_drip         | implicit TLS whose handshake comes one byte every 0.5 s, forever                       |
| huge_replies     | every reply just under the caps (90 lines of 4000 bytes): the session total grows      |
| endless_challenge| offers AUTH PLAIN, then answers every AUTH line with another 334 challenge             |
| echo_auth        | AUTH PLAIN, LOGIN, CRAM-MD5, XOAUTH2 in clear text; answers with a 535 that echoes what |
|                  | it received: base64 as sent, decoded, repr() of the bytes, and re-wrapped whitespace   |
| starttls_inject  | answers STARTTLS with `220` plus injected plaintext replies in the same segment, then  |
|                  | speaks TLS honestly (EHLO after TLS offers AUTH PLAIN; the injection offers INJECTED)  |
| tls11            | implicit TLS that offers TLS 1.0 and 1.1 only                                          |
| utf8 / ascii     | aiosmtpd, clear text, with and without SMTPUTF8; record every RCPT TO and each message |

Every server loop is bounded in count and time (FLOOD_SECONDS), and ends when the client hangs up.

`isolated_session(settings, ...)` runs `run_session` in a child Python (any version: the 3.6 check uses it)
and returns what it printed, how long it took and its peak memory (VmHWM), so that a flood that grows
the client is measured, and cannot grow the test run (RLIMIT_AS).
"""
import base64
import json
import os
import resource
import ssl
import subprocess
import sys
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import COLLECTIONS_ROOT
from tests.testbed.faults import HOST, Conversation, ScriptedServer
from tests.testbed.net import free_port

FLOOD_SECONDS = 60       # no server script runs longer, whatever the client does
DRIP_INTERVAL = 0.5
CHILD_MEMORY_LIMIT = 1024 * 1024 * 1024  # bytes of address space for the child session
INJECTED = ('250-injected.example.test', '250 AUTH INJECTED')

CHILD = r'''
import json, sys, time
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import SmtpFailure, run_session
args = json.loads(sys.stdin.read())
started = time.monotonic()
try:
    out = dict(ok=True, facts=run_session(args['settings'], stage=args['stage'], to=args['to']))
except SmtpFailure as failure:
    out = dict(ok=False, msg=failure.msg, failure=failure.as_dict(), facts=failure.facts)
out['seconds'] = time.monotonic() - started
# VmHWM, the peak of this process image: ru_maxrss would carry over the parent's size from before exec (Linux keeps it)
with open('/proc/self/status') as status:
    out['maxrss_kb'] = int([line.split()[1] for line in status if line.startswith('VmHWM:')][0])
sys.stdout.write(json.dumps(out))
'''


class Isolated:
    """What a child session printed: `result` (parsed), `output` (stdout + stderr as text), `seconds`, `maxrss_mb`."""

    def __init__(self, proc, seconds, killed):
        self.output = proc.stdout + proc.stderr if proc else ''
        self.returncode = proc.returncode if proc else None
        self.seconds = seconds
        self.killed = killed
        try:
            self.result = json.loads(proc.stdout) if proc else None
        except ValueError:
            self.result = None
        self.maxrss_mb = self.result['maxrss_kb'] / 1024.0 if self.result else None

    def __repr__(self):
        return 'Isolated(rc=%s, killed=%s, %.1fs, %s MB)\n%s' % (
            self.returncode, self.killed, self.seconds, self.maxrss_mb, self.output[-3000:])


def isolated_session(settings, stage='send', to=None, python=sys.executable, wall=None):
    """run_session(settings, stage, to) in a child `python`; killed after `wall` seconds (default timeout + 30)."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_LIMIT, CHILD_MEMORY_LIMIT))

    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT, PYTHONIOENCODING='utf-8')
    started = time.monotonic()
    try:
        proc = subprocess.run([python, '-c', CHILD], input=json.dumps(dict(settings=settings, stage=stage, to=to)),
                              capture_output=True, text=True, encoding='utf-8', errors='replace', env=env,
                              timeout=wall or settings['timeout'] + 30, preexec_fn=limit_memory, check=False)
        killed = False
    except subprocess.TimeoutExpired as expired:
        proc, killed = None, True
        del expired
    return Isolated(proc, time.monotonic() - started, killed)


def flood(talk, line):
    """Send `line` (bytes) again and again until the client hangs up or FLOOD_SECONDS pass."""
    chunk = line * max(1, 65536 // len(line))
    deadline = time.monotonic() + FLOOD_SECONDS
    while time.monotonic() < deadline:
        talk.sock.sendall(chunk)


def endless_greeting(talk):
    flood(talk, b'220-hostile.example.test flooding the greeting, never the last line\r\n')


def endless_line(talk):
    talk.sock.sendall(b'220 ')
    flood(talk, b'x' * 1024)


def endless_ehlo(talk):
    talk.say('220 hostile.example.test ESMTP')
    talk.hear()
    flood(talk, b'250-FEATURE-THAT-NEVER-ENDS\r\n')


def drip(talk):
    greeting = b'220 hostile.example.test ESMTP, one byte at a time ' + b'.' * 1000
    for count in range(int(FLOOD_SECONDS / DRIP_INTERVAL)):
        talk.sock.sendall(greeting[count % len(greeting):][:1])
        time.sleep(DRIP_INTERVAL)


def tls_drip(talk):
    """For security ssl: a TLS record header announcing a long handshake message, then its body a byte at a time."""
    talk.sock.recv(4096)  # the ClientHello
    talk.sock.sendall(b'\x16\x03\x03\x3f\xff')
    for unused in range(int(FLOOD_SECONDS / DRIP_INTERVAL)):
        talk.sock.sendall(b'\x02')
        time.sleep(DRIP_INTERVAL)


def huge_replies(talk):
    for count in range(100):  # the client caps the session long before
        code = '220' if count == 0 else '250'
        talk.say(*['%s-%s' % (code, 'h' * 3990)] * 89 + ['%s ok' % code])
        if not talk.hear():
            return


def endless_challenge(talk):
    talk.greet_and_ehlo('AUTH PLAIN LOGIN')
    talk.hear()
    for unused in range(10000):
        talk.say('334 ' + base64.b64encode(b'again').decode())
        if not talk.hear():
            return


class EchoAuth:
    """Answers each AUTH with a multi-line 535 echoing every form of what it received; keeps what it received."""

    def __init__(self):
        self.received = []  # each AUTH line as sent (base64)
        self.lock = threading.Lock()

    def __call__(self, talk):
        talk.greet_and_ehlo('AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2')
        command = talk.hear()
        words = command.split()
        mechanism = words[1].upper() if len(words) > 1 else ''
        lines = words[2:3]
        if mechanism == 'LOGIN':
            talk.say('334 ' + base64.b64encode(b'Password:').decode())
            lines.append(talk.hear())
        elif mechanism == 'CRAM-MD5':
            talk.say('334 ' + base64.b64encode(b'<1234.5678@hostile.example.test>').decode())
            lines.append(talk.hear())
        with self.lock:
            self.received.extend(lines)
        echo = []
        for line in lines:
            decoded = base64.b64decode(line)
            echo += ['got ' + line, 'decoded ' + decoded.decode('utf-8', 'replace'), 'repr ' + repr(decoded),
                     'ascii ' + ascii(decoded.decode('utf-8', 'replace')), 'latin1 ' + decoded.decode('latin-1')]
            echo += ['wrapped ' + word for word in decoded.decode('utf-8', 'replace').split()]
            echo.append('spaced ' + '   '.join(decoded.decode('utf-8', 'replace').split()))
        talk.say(*['535-5.7.8 ' + text.replace('\r', ' ').replace('\n', ' ') for text in echo]
                 + ['535 5.7.8 Authentication credentials invalid'])
        talk.hear()


class StartTlsInject:
    """STARTTLS answered with 220 and, in the same segment, plaintext replies a client must never believe."""

    def __init__(self, server_context):
        self.context = server_context

    def __call__(self, talk):
        talk.greet_and_ehlo('STARTTLS')
        talk.hear()
        talk.sock.sendall(('220 2.0.0 Ready to start TLS\r\n' + ''.join(line + '\r\n' for line in INJECTED)).encode())
        tls = Conversation(self.context.wrap_socket(talk.sock, server_side=True))
        tls.hear()  # EHLO, now encrypted
        tls.say('250-secure.example.test', '250 AUTH PLAIN')
        for unused in range(20):
            command = tls.hear().upper()
            if command.startswith('AUTH'):
                tls.say('235 2.7.0 Authentication successful')
            elif command.startswith(('MAIL', 'RCPT', 'RSET')):
                tls.say('250 2.0.0 Ok')
            else:
                tls.say('221 2.0.0 Bye')
                return


class TlsOnly11:
    """Implicit TLS offering TLS 1.0 and 1.1 only (SECLEVEL 0, or OpenSSL 3 would not offer them at all)."""

    def __init__(self, pki):
        self.context = tls11_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(*pki.server)

    def __call__(self, talk):
        tls = Conversation(self.context.wrap_socket(talk.sock, server_side=True))
        tls.say('220 old.example.test ESMTP')
        tls.wait_for_hang_up()


def tls11_context(purpose):
    """A context that speaks TLS 1.0 and 1.1 only: the server's, or (CLIENT side) a permissive client's."""
    import warnings
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if purpose is ssl.Purpose.CLIENT_AUTH else ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers('DEFAULT:@SECLEVEL=0')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


class Recorder:
    """aiosmtpd handler: accepts everything, records each RCPT TO (with the MAIL options) and each message."""

    def __init__(self):
        self.rcpts = []
        self.mail_options = []
        self.messages = []

    def clear(self):
        del self.rcpts[:], self.mail_options[:], self.messages[:]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        self.mail_options.append((address, list(mail_options)))
        return '250 2.1.0 Ok'

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        if address.startswith('refused'):
            return '550 5.1.1 <%s>: Recipient address rejected: User unknown' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 Ok'

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return '250 2.0.0 Ok: queued'


class Hostile:
    host = HOST
    scripts = dict(endless_greeting=endless_greeting, endless_line=endless_line, endless_ehlo=endless_ehlo,
                   drip=drip, tls_drip=tls_drip, huge_replies=huge_replies, endless_challenge=endless_challenge)

    def __init__(self, pki):
        self.ca_file = pki.ca_file
        self.echo = EchoAuth()
        scripts = dict(self.scripts, echo_auth=self.echo, starttls_inject=StartTlsInject(pki.server_context()),
                       tls11=TlsOnly11(pki))
        self.scripted = dict((name, ScriptedServer(script)) for name, script in scripts.items())
        for name, server in self.scripted.items():
            setattr(self, name, server.port)
        self.recorder = Recorder()
        self.controllers = dict(
            utf8=Controller(self.recorder, hostname=HOST, port=free_port(), enable_SMTPUTF8=True,
                            server_hostname='utf8.example.test'),
            ascii=Controller(self.recorder, hostname=HOST, port=free_port(), enable_SMTPUTF8=False,
                             server_hostname='ascii.example.test'),
        )
        for name, controller in self.controllers.items():
            setattr(self, name, controller.port)

    def start(self):
        for server in self.scripted.values():
            server.start()
        for controller in self.controllers.values():
            controller.start()
        return self

    def stop(self):
        for server in self.scripted.values():
            server.stop()
        for controller in self.controllers.values():
            controller.stop()


@pytest.fixture(scope='session')
def hostile(pki):
    servers = Hostile(pki).start()
    yield servers
    servers.stop()

"""smtp_test through real ansible-playbook runs (-vvvv) against SMTP servers on loopback.

Servers: the capture server (tests/testbed/capture.py) for what works, the misbehaving ones
(tests/testbed/faults.py) for what does not. To stay fast, one playbook holds every fault and one
every success case (ignore_errors + the recording callback); each test reads its task's result.
"""
import json
import os
from types import SimpleNamespace

import pytest

from tests.testbed.ansible import Ansible
from tests.testbed.capture import PASSWORD
from tests.testbed.net import free_port
from tests.testbed.faults import GREYLISTED_RECIPIENT, REJECTED_SENDER, SPAMTRAP, UNKNOWN_RECIPIENT

WRONG_PASSWORD = 'Wr0ng-S3cr3t-Pa55!word'
DOMAIN = 'example.test'


def picky(faults, **overrides):  # pylint: disable=redefined-outer-name
    """Settings for a fault server: a login that would work, and the test CA."""
    settings = dict(host=faults.host, port=faults.picky, username='app@' + DOMAIN, password=PASSWORD,
                    from_email='app@' + DOMAIN, test_email='ops@' + DOMAIN, ca_file=faults.ca_file, timeout=5)
    settings.update(overrides)
    return settings


def without(settings, *keys):
    return dict((key, value) for key, value in settings.items() if key not in keys)


# name -> (settings from (capture, faults), extra task args, (category, stage, code, words of the hint))
FAULTS = {
    'implicit TLS port with starttls': (lambda c, f: c.settings(port=c.ssl_port, timeout=1), {},
                                        ('timeout', 'connect', None, 'implicit TLS (as 465 does), use security: ssl')),
    'ssl against a plain port': (lambda c, f: picky(f, port=f.plain, security='ssl'), {},
                                 ('tls', 'tls', None, 'this port speaks plain SMTP: use security: starttls')),
    'STARTTLS not offered': (lambda c, f: picky(f, port=f.plain), {},
                             ('tls', 'tls', None, 'never falls back to clear text')),
    'STARTTLS answered in clear text': (lambda c, f: picky(f, port=f.starttls_garbage), {},
                                        ('tls', 'tls', None, 'proxy')),
    'hang-up during TLS handshake': (lambda c, f: picky(f, port=f.starttls_hangup), {},
                                     ('tls', 'tls', None, 'could not complete TLS')),
    'certificate for another name': (lambda c, f: picky(f, port=f.wrong_name), {},
                                     ('certificate', 'tls', None, 'does not name 127.0.0.1')),
    'expired certificate': (lambda c, f: picky(f, port=f.expired), {},
                            ('certificate', 'tls', None, 'has expired')),
    'unknown CA': (lambda c, f: without(c.settings(), 'ca_file'), {},
                   ('certificate', 'tls', None, 'unknown CA): set ca_file')),
    '421 at greeting': (lambda c, f: picky(f, port=f.greeting_421), {},
                        ('connect', 'connect', 421, 'try again later')),
    'server never answers': (lambda c, f: picky(f, port=f.silent, timeout=1), {},
                             ('timeout', 'connect', None, 'use security: ssl; otherwise the server is overloaded')),
    'connection refused': (lambda c, f: picky(f, port=free_port()), {},
                           ('connect', 'connect', None, 'nothing listens on 127.0.0.1:')),
    'DNS failure': (lambda c, f: picky(f, host='smtp.nonexistent.invalid'), {},
                    ('dns', 'connect', None, 'check host for typos')),
    'AUTH not offered': (lambda c, f: picky(f, port=f.plain, security='none', allow_insecure_auth=True), {},
                         ('auth', 'auth', None, 'auth_method: none')),
    'mechanism not offered': (lambda c, f: picky(f, auth_method='cram-md5'), {},
                              ('auth', 'auth', None, 'set auth_method to one it offers (login, plain)')),
    '535 bad credentials': (lambda c, f: c.settings(password=WRONG_PASSWORD), {},
                            ('auth', 'auth', 535, 'app password or OAuth2')),
    '535 bad token': (lambda c, f: c.settings(auth_method='xoauth2', password=WRONG_PASSWORD), {},
                      ('auth', 'auth', 535, 'fresh token')),
    '530 auth required at MAIL FROM': (lambda c, f: c.settings(auth_method='none'), {},
                                       ('auth', 'rcpt', 530, 'set username and password')),
    '550 on MAIL FROM': (lambda c, f: picky(f, from_email=REJECTED_SENDER), {},
                         ('sender', 'rcpt', 550, 'use an address it owns')),
    '550 on RCPT': (lambda c, f: picky(f), {'to': UNKNOWN_RECIPIENT},
                    ('recipient', 'rcpt', 550, 'check the address')),
    '451 on RCPT': (lambda c, f: picky(f), {'to': GREYLISTED_RECIPIENT},
                    ('recipient', 'rcpt', 451, 'temporary: try again later')),
    '554 at DATA': (lambda c, f: picky(f), {'to': SPAMTRAP},
                    ('data', 'send', 554, 'filter rejected the message')),
    'connection dropped mid-DATA': (lambda c, f: picky(f, port=f.drop_in_data, security='none', auth_method='none'), {},
                                    ('data', 'send', None, 'nothing was delivered')),
}

# name -> (settings from capture, extra task args)
SUCCESSES = {
    'starttls auto': (lambda c: c.settings(), {'to': 'starttls-auto@' + DOMAIN}),
    'auth plain': (lambda c: c.settings(auth_method='plain'), {'to': 'auth-plain@' + DOMAIN}),
    'auth login': (lambda c: c.settings(auth_method='login'), {'to': 'auth-login@' + DOMAIN}),
    'auth cram-md5': (lambda c: c.settings(auth_method='cram-md5'), {'to': 'auth-cram-md5@' + DOMAIN}),
    'auth xoauth2': (lambda c: c.settings(auth_method='xoauth2', password=c.token), {'to': 'auth-xoauth2@' + DOMAIN}),
    'security ssl': (lambda c: c.settings(port=c.ssl_port, security='ssl'), {'to': 'security-ssl@' + DOMAIN}),
    'security none with login': (lambda c: c.settings(port=c.plain_port, security='none', auth_method='login',
                                                      allow_insecure_auth=True), {'to': 'security-none@' + DOMAIN}),
    'security none without login': (lambda c: without(c.settings(port=c.plain_port, security='none'),
                                                      'username', 'password'), {'to': 'anonymous@' + DOMAIN}),
    'certificate not validated': (lambda c: without(c.settings(validate_certs=False), 'ca_file'),
                                  {'to': 'unvalidated@' + DOMAIN}),
    'own subject and body': (lambda c: c.settings(), {'to': 'custom@' + DOMAIN, 'subject': 'Quarterly mail check',
                                                      'body': 'Nothing to see here.\n'}),
    'check mode': (lambda c: c.settings(), {'to': 'check-mode@' + DOMAIN, 'check_mode': True}),
    'no recipient needed to connect': (lambda c: without(c.settings(), 'test_email'), {'stage': 'connect'}),
    'no recipient to send to': (lambda c: without(c.settings(), 'test_email'), {}),
}
for _stage in ('connect', 'tls', 'auth', 'rcpt', 'send'):
    SUCCESSES['stage ' + _stage] = (lambda c: c.settings(), {'stage': _stage, 'to': 'stage-%s@%s' % (_stage, DOMAIN)})


def run_tasks(ansible, cases):  # pylint: disable=redefined-outer-name
    """One playbook, one smtp_test task per case: {name: (settings, task args)} -> (run, {name: result}).

    Settings come from the extra vars file, never the command line; -vvvv shows everything a leak would.
    """
    tasks = []
    for name, (settings, args) in cases.items():
        args = dict(args)
        task = {'name': name, 'ignore_errors': True, 'check_mode': args.pop('check_mode', False)}
        task['email_ops.smtp.smtp_test'] = dict(args, settings='{{ cases[%s] }}' % json.dumps(name))
        tasks.append(task)
    play = [{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}]
    extra_vars = {'cases': dict((name, settings) for name, (settings, unused) in cases.items())}
    run, results = ansible.playbook_json(json.dumps(play, indent=1), '-vvvv', extra_vars=extra_vars)
    assert run.stats, run  # the playbook ran to its end
    return run, dict((name, results[name]['localhost']) for name in cases)


@pytest.fixture(scope='module')
def fault_run(tmp_path_factory, capture_server, faults):  # pylint: disable=redefined-outer-name
    cases = dict((name, (case[0](capture_server, faults), case[1])) for name, case in FAULTS.items())
    run, results = run_tasks(Ansible(str(tmp_path_factory.mktemp('faults'))), cases)
    return SimpleNamespace(run=run, results=results)


@pytest.fixture(scope='module')
def success_run(tmp_path_factory, capture_server):  # pylint: disable=redefined-outer-name
    capture_server.clear()
    cases = dict((name, (settings(capture_server), args)) for name, (settings, args) in SUCCESSES.items())
    run, results = run_tasks(Ansible(str(tmp_path_factory.mktemp('successes'))), cases)
    return SimpleNamespace(run=run, results=results, messages=list(capture_server.messages))


def delivered_to(messages, address):
    return [received for received in messages if received.recipients == [address]]


@pytest.mark.parametrize('name', list(FAULTS))
def test_fault(fault_run, name):
    run, results = fault_run.run, fault_run.results
    category, stage, code, hint_words = FAULTS[name][2]
    result = results[name]
    assert result['_status'] == 'failed', result
    assert (result['failure']['category'], result['failure']['stage'], result['failure']['code']) == \
        (category, stage, code), result
    assert hint_words in result['failure']['hint']
    assert result['msg'] and '\n' not in result['msg'] and result['sent'] is False
    assert 'Traceback' not in json.dumps(result)
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in run.all_output


def test_fault_results_keep_what_was_learnt(fault_run):
    results = fault_run.results
    refused = results['550 on RCPT']
    assert refused['stage_reached'] == 'auth' and refused['auth_mechanism'] in ('plain', 'login')
    assert refused['tls']['version'].startswith('TLS') and refused['banner']
    assert {'connect', 'banner', 'ehlo', 'tls', 'auth', 'mail', 'rcpt', 'total'} <= set(refused['timings_ms'])
    assert results['connection refused']['stage_reached'] is None


@pytest.mark.parametrize('name', ['starttls auto', 'auth plain', 'auth login', 'auth cram-md5', 'auth xoauth2',
                                  'security ssl', 'security none with login', 'security none without login',
                                  'certificate not validated'])
def test_send(success_run, capture_server, name):  # pylint: disable=redefined-outer-name
    run, results, messages = success_run.run, success_run.results, success_run.messages
    result = results[name]
    to = SUCCESSES[name][1]['to']
    assert result['_status'] == 'ok' and result['changed'] is True, result
    assert result['sent'] is True and result['stage_reached'] == 'send'
    (received,) = delivered_to(messages, to)
    assert received.message['Message-ID'] == result['message_id']
    assert received.tls is (result['tls'] is not None)
    expected_login = {'security none without login': None}.get(name, capture_server.username)
    assert received.login == expected_login
    method = name.replace('auth ', '') if name.startswith('auth ') else None
    assert result['auth_mechanism'] == (method or {'starttls auto': 'cram-md5', 'security none with login': 'login',
                                                   'security none without login': None}.get(name, 'cram-md5'))
    assert PASSWORD not in run.all_output and capture_server.token not in run.all_output


def test_facts_an_engineer_debugs_with(success_run, capture_server):  # pylint: disable=redefined-outer-name
    results, messages = success_run.results, success_run.messages
    result = results['starttls auto']
    assert result['banner'].startswith('capture.example.test')
    assert 'auth' in result['esmtp_features'] and 'starttls' not in result['esmtp_features']  # the EHLO after TLS
    assert result['tls']['version'] in ('TLSv1.2', 'TLSv1.3') and result['tls']['cipher']
    certificate = result['tls']['peer_certificate']
    assert 'email_ops test CA' in certificate['issuer'] and certificate['not_after'].endswith('Z')
    assert 'IP Address:127.0.0.1' in certificate['subject_alt_names']
    assert set(result['timings_ms']) == {'connect', 'banner', 'ehlo', 'tls', 'auth', 'mail', 'rcpt', 'data', 'total'}
    assert result['message_id'].endswith('@%s>' % DOMAIN)
    assert results['certificate not validated']['tls']['peer_certificate'] is None

    message = delivered_to(messages, 'starttls-auto@' + DOMAIN)[0].message
    assert message['Subject'].startswith('SMTP test from ')
    assert message['From'].addresses[0].display_name == 'Capture test'
    assert message['From'].addresses[0].addr_spec == capture_server.username
    assert message['To'] == 'starttls-auto@' + DOMAIN and message['Date']
    assert 'This test message was sent by' in message.get_content()


def test_own_subject_and_body(success_run):
    results, messages = success_run.results, success_run.messages
    assert results['own subject and body']['sent'] is True
    message = delivered_to(messages, 'custom@' + DOMAIN)[0].message
    assert message['Subject'] == 'Quarterly mail check' and message.get_content().strip() == 'Nothing to see here.'


@pytest.mark.parametrize('stage', ['connect', 'tls', 'auth', 'rcpt', 'send'])
def test_stage(success_run, stage):
    results, messages = success_run.results, success_run.messages
    result = results['stage ' + stage]
    assert result['_status'] == 'ok' and result['stage_reached'] == stage, result
    assert result['sent'] is (stage == 'send') and result['changed'] is (stage == 'send')
    assert len(delivered_to(messages, 'stage-%s@%s' % (stage, DOMAIN))) == (1 if stage == 'send' else 0)
    assert (result['tls'] is None) is (stage == 'connect')
    assert (result['auth_mechanism'] is None) is (stage in ('connect', 'tls'))
    assert (result['message_id'] is None) is (stage != 'send')


def test_check_mode_proves_all_but_delivery(success_run):
    results, messages = success_run.results, success_run.messages
    result = results['check mode']
    assert result['_status'] == 'ok' and result['stage_reached'] == 'rcpt', result
    assert result['sent'] is False and result['changed'] is False
    assert not delivered_to(messages, 'check-mode@' + DOMAIN)


def test_recipient_needed_only_from_rcpt_on(success_run):
    results = success_run.results
    assert results['no recipient needed to connect']['stage_reached'] == 'connect'
    refused = results['no recipient to send to']
    assert refused['_status'] == 'failed' and 'set to, or settings.test_email' in refused['msg']


def test_capture_server_standalone_writes_messages(tmp_path):
    """The demo's mode: prints its CA file, stays up, writes each message to --maildir."""
    import smtplib
    import ssl
    import subprocess
    import sys
    from tests.conftest import REPO

    port, maildir = free_port(), tmp_path / 'mail'
    proc = subprocess.Popen([sys.executable, '-m', 'tests.testbed.capture', '--port', str(port), '--ca-dir',
                             str(tmp_path / 'ca'), '--user', 'u@example.test', '--password', 'pw', '--maildir',
                             str(maildir)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith('ca_file: ')
        ca_file = first.split(': ', 1)[1].strip()
        assert os.path.exists(ca_file)
        with smtplib.SMTP('127.0.0.1', port, timeout=10) as client:
            client.starttls(context=ssl.create_default_context(cafile=ca_file))
            client.login('u@example.test', 'pw')
            client.sendmail('u@example.test', ['ops@example.test'], b'Subject: demo\r\n\r\nhello\r\n')
        said = [proc.stdout.readline(), proc.stdout.readline()]  # the listener, then the message
        assert 'received u@example.test -> ops@example.test' in said[1], said
        (written,) = maildir.glob('*.eml')
        assert b'Subject: demo' in written.read_bytes() and b'Delivered-To: ops@example.test' in written.read_bytes()
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_real_postfix(ansible, mailbox):  # pylint: disable=redefined-outer-name
    """Debian's Postfix: a send through each listener, check mode, and both wrong security modes."""
    cases = {
        'submission': (mailbox.settings('submission'), {'to': 'via-submission@' + mailbox.domain}),
        'smtps': (mailbox.settings('smtps'), {'to': 'via-smtps@' + mailbox.domain}),
        'plain': (mailbox.settings('plain'), {'to': 'via-plain@' + mailbox.domain}),
        'check mode': (mailbox.settings('submission'), {'to': 'via-check@' + mailbox.domain, 'check_mode': True}),
        'starttls on the smtps port': (mailbox.settings('smtps', security='starttls', timeout=2), {}),
        'ssl on the submission port': (mailbox.settings('submission', security='ssl'), {}),
    }
    run, results = run_tasks(ansible, cases)
    assert mailbox.password not in run.all_output

    for listener in ('submission', 'smtps', 'plain'):
        result = results[listener]
        assert result['sent'] is True and result['changed'] is True, result
        (delivered,) = mailbox.wait_for(1, recipient='via-%s@%s' % (listener, mailbox.domain))
        assert delivered['Message-ID'] == result['message_id']
        assert result['banner'].startswith('mail.example.test ESMTP')
        assert (result['auth_mechanism'] is None) is (listener == 'plain')
    assert results['check mode']['stage_reached'] == 'rcpt' and results['check mode']['sent'] is False
    assert not mailbox.messages(recipient='via-check@' + mailbox.domain)
    assert 'use security: ssl' in results['starttls on the smtps port']['failure']['hint']
    assert 'this port speaks plain SMTP' in results['ssl on the submission port']['failure']['hint']

"""Daemons and clients send through the Postfix test bed with the files `email_ops.smtp.smtp_config` wrote.

For each app (Debian packages installed by scripts/bootstrap.sh; Apprise from its venv, tests/apps/apprise.txt):
a real ansible-playbook run writes the app's file with `smtp_config` (app: <name>, the file under tmp_path, next to
what the admin already had in it), then THE APP ITSELF sends and the message is read from the Maildir, addressed to
the error recipients: git send-email (a patch of a tmp repo), s-nail, apprise (its CLI), monit (its own instance with
a short cycle: the "Monit instance changed" event) and Prometheus Alertmanager (its own instance; an alert posted
with amtool). Both TLS modes each; the implicit-TLS run uses the test bed user whose password breaks naive quoting,
except for monit, which cannot carry it (its refusal is asserted instead).

monit and Alertmanager pick STARTTLS or implicit TLS from the port number (FIELD-GUIDE pitfall 1), so they are proven
on the test bed's well-known listeners: wellknown_host:587 (STARTTLS) and wellknown_host:465 (implicit TLS).
"""
import os
import signal
import stat
import subprocess
import time
import urllib.request
import uuid

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import secret_forms
from tests.testbed.appvenv import app_venv
from tests.testbed.net import free_port

ERRORS = [{'email': 'ops-errors@example.test', 'name': 'Ops'}, {'email': 'oncall@example.test'}]
MODES = ['starttls', 'implicit']


def configure(ansible, app, paths, settings, *flags):
    run, result = ansible.smtp_config(settings, '--diff', *flags, app=app, paths=paths)
    # The password in no output (diff included), in none of the forms a file or a message may quote it.
    for form in secret_forms(settings['password']):
        assert form not in run.all_output, 'a form of the password is in the output of %s' % app
    return run, result


def settings_for(mailbox, listener, special, **overrides):
    settings = mailbox.settings(listener, error_recipients=ERRORS, **overrides)
    if special:
        settings.update(username=mailbox.special_username, password=mailbox.special_password)
    return settings


def assert_delivered(mailbox, subject, username, recipients=('ops-errors@example.test', 'oncall@example.test'),
                     timeout=30):
    """Each recipient got one message whose Subject holds `subject`, over TLS, authenticated as `username`."""
    for recipient in recipients:
        got = mailbox.wait_for(1, recipient=recipient, timeout=timeout, subject=subject)
        assert len(got) >= 1, mailbox.diagnostics()
        assert got[0].received_over_tls_as(username), got[0].get_all('Received')


def assert_mode(path, mode):
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == mode


def stop(proc):
    """End a daemon started in its own process group, and everything it forked."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def run(args, **kwargs):
    kwargs.setdefault('timeout', 120)
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)


# -- git send-email -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('mode', MODES)
def test_git_send_email_sends_a_patch_with_the_config_we_wrote(ansible, mailbox, tmp_path, mode):
    settings = settings_for(mailbox, 'submission' if mode == 'starttls' else 'smtps', mode == 'implicit')
    gitconfig = tmp_path / 'gitconfig'
    gitconfig.write_text('[user]\n\tname = Patch Author\n\temail = author@example.test\n'
                         '[sendemail]\n\tconfirm = never\n\tsuppresscc = all\n[alias]\n\tco = checkout\n')
    outcome, result = configure(ansible, 'git', {'config': str(gitconfig)}, settings)
    assert outcome.rc == 0 and result['changed'], outcome
    assert_mode(gitconfig, 0o600)
    text = gitconfig.read_text()
    assert 'name = Patch Author' in text and 'co = checkout' in text and 'confirm = never' in text
    # What git itself reads back is the password, whatever its quoting.
    got = run(['git', 'config', '--file', str(gitconfig), '--get', 'sendemail.smtpPass'])
    assert got.returncode == 0 and got.stdout[:-1] == settings['password']

    repo = tmp_path / 'repo'
    env = dict(os.environ, GIT_CONFIG_GLOBAL=str(gitconfig), GIT_CONFIG_NOSYSTEM='1', HOME=str(tmp_path),
               GIT_COMMITTER_NAME='Patch Author', GIT_COMMITTER_EMAIL='author@example.test')
    subject = 'git-send-email-%s-%s' % (mode, uuid.uuid4().hex[:8])
    assert run(['git', 'init', '-q', str(repo)], env=env).returncode == 0
    (repo / 'file.txt').write_text('a change\n')
    assert run(['git', 'add', 'file.txt'], cwd=str(repo), env=env).returncode == 0
    assert run(['git', 'commit', '-q', '-m', subject], cwd=str(repo), env=env).returncode == 0
    sent = run(['git', 'send-email', '-1'], cwd=str(repo), env=env, stdin=subprocess.DEVNULL)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert settings['password'] not in sent.stdout + sent.stderr
    assert_delivered(mailbox, subject, settings['username'])
    # a second run changes nothing
    outcome, result = configure(ansible, 'git', {'config': str(gitconfig)}, settings)
    assert outcome.rc == 0 and not result['changed'], outcome


# -- s-nail ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('mode', MODES)
def test_s_nail_sends_with_the_resource_file_we_wrote(ansible, mailbox, tmp_path, mode):
    # s-nail 14.9 matches the certificate against DNS names only (not an IP address SAN): host localhost.
    settings = settings_for(mailbox, 'submission' if mode == 'starttls' else 'smtps', mode == 'implicit',
                            host='localhost')
    rc_file = tmp_path / 's-nail.rc'
    rc_file.write_text('# the admin\'s own lines\nset ask\nset crt=25\nset mta=smtp://old.example.test\n')
    outcome, result = configure(ansible, 's-nail', {'rc': str(rc_file)}, settings)
    assert outcome.rc == 0 and result['changed'], outcome
    assert_mode(rc_file, 0o600)
    text = rc_file.read_text()
    assert text.startswith("# the admin's own lines\nset ask\nset crt=25\n") and 'old.example.test' not in text
    subject = 's-nail-%s-%s' % (mode, uuid.uuid4().hex[:8])
    recipients = [item['email'] for item in ERRORS]
    sent = run(['s-nail', '-n', '-s', subject] + recipients, input='sent by s-nail\n',
               env=dict(os.environ, MAILRC=str(rc_file), HOME=str(tmp_path)))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert settings['password'] not in sent.stdout + sent.stderr
    assert_delivered(mailbox, subject, settings['username'])


# -- apprise --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def apprise_bin():
    return os.path.join(app_venv('apprise'), 'bin', 'apprise')


@pytest.mark.parametrize('mode', MODES)
def test_apprise_notifies_the_error_recipients_with_the_file_we_wrote(ansible, mailbox, tmp_path, apprise_bin, mode):
    # Apprise verifies with the system store or SSL_CERT_FILE only: no ca_file (refused, see the next test).
    settings = settings_for(mailbox, 'submission' if mode == 'starttls' else 'smtps', mode == 'implicit',
                            ca_file=None)
    settings.pop('ca_file')
    config = tmp_path / 'apprise.yml'
    outcome, result = configure(ansible, 'apprise', {'config': str(config)}, settings)
    assert outcome.rc == 0 and result['changed'], outcome
    assert_mode(config, 0o600)
    subject = 'apprise-%s-%s' % (mode, uuid.uuid4().hex[:8])
    sent = run([apprise_bin, '--config', str(config), '-t', subject, '-b', 'sent by apprise'],
               env=dict(os.environ, SSL_CERT_FILE=mailbox.ca_file, HOME=str(tmp_path)))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert settings['password'] not in sent.stdout + sent.stderr
    assert_delivered(mailbox, subject, settings['username'])


def test_apprise_refuses_a_ca_file_and_says_what_works(ansible, mailbox, tmp_path):
    config = tmp_path / 'apprise.yml'
    outcome, result = configure(ansible, 'apprise', {'config': str(config)}, settings_for(mailbox, 'submission', False))
    assert outcome.rc != 0 and result['failed'], outcome
    assert 'app apprise' in result['msg'] and 'SSL_CERT_FILE' in result['msg'] and 'Traceback' not in outcome.all_output
    assert not config.exists()


# -- monit ----------------------------------------------------------------------------------------------------------

def monit_alerts(tmp_path, include, timeout=30):
    """A monit instance of our own (control file including `include`), run until its start event is mailed."""
    work = tmp_path / 'monit'
    work.mkdir()
    control = work / 'monitrc'
    control.write_text('set daemon 1\nset logfile %(w)s/log\nset pidfile %(w)s/pid\nset idfile %(w)s/id\n'
                       'set statefile %(w)s/state\ninclude %(inc)s\n' % dict(w=work, inc=include))
    os.chmod(str(control), 0o600)
    checked = run(['monit', '-t', '-c', str(control)])
    assert checked.returncode == 0 and 'Control file syntax OK' in checked.stdout + checked.stderr, checked
    return subprocess.Popen(['monit', '-c', str(control), '-I'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True), work


@pytest.mark.parametrize('mode', MODES)
def test_monit_alerts_the_error_recipients_with_the_include_file_we_wrote(ansible, mailbox, tmp_path, mode):
    settings = settings_for(mailbox, 'submission-587' if mode == 'starttls' else 'smtps-465', False)
    include = tmp_path / 'email-ops-smtp'
    outcome, result = configure(ansible, 'monit', {'mail': str(include)}, settings)
    assert outcome.rc == 0 and result['changed'], outcome
    assert_mode(include, 0o600)
    proc, work = monit_alerts(tmp_path, include)
    try:
        assert_delivered(mailbox, 'Monit instance changed', settings['username'])
    finally:
        stop(proc)
    log = (work / 'log').read_text()
    assert settings['password'] not in log
    listener = 'submission-587' if mode == 'starttls' else 'smtps-465'
    assert 'postfix/%s' % listener in mailbox.log_tail(400)


def test_monit_refuses_what_it_cannot_express(ansible, mailbox, tmp_path):
    include = tmp_path / 'email-ops-smtp'
    # A password with both quote characters: monit's strings have no escapes.
    outcome, result = configure(ansible, 'monit', {'mail': str(include)}, settings_for(mailbox, 'smtps-465', True))
    assert outcome.rc != 0 and 'app monit' in result['msg'] and 'both a double and a single quote' in result['msg']
    # STARTTLS on a port other than 25/587: monit would speak implicit TLS there.
    outcome, result = configure(ansible, 'monit', {'mail': str(include)}, settings_for(mailbox, 'submission', False))
    assert outcome.rc != 0 and 'app monit' in result['msg'] and 'only on ports 25 and 587' in result['msg']
    assert 'Traceback' not in outcome.all_output and not include.exists()


# -- Prometheus Alertmanager ----------------------------------------------------------------------------------------

AM_BASE = '''\
# the admin's Alertmanager configuration
global:
  resolve_timeout: 5m
route:
  receiver: email-ops-errors
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: 'null'
'''


def wait_http(url, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError('%s did not answer %s within %ss' % (what, url, timeout))
        time.sleep(0.1)


@pytest.mark.parametrize('mode', MODES)
def test_alertmanager_mails_an_alert_to_the_receiver_we_wrote(ansible, mailbox, tmp_path, mode):
    settings = settings_for(mailbox, 'submission' if mode == 'starttls' else 'smtps-465', mode == 'implicit')
    config = tmp_path / 'alertmanager.yml'
    config.write_text(AM_BASE)
    outcome, result = configure(ansible, 'alertmanager', {'config': str(config)}, settings)
    assert outcome.rc == 0 and result['changed'], outcome
    assert_mode(config, 0o640)
    text = config.read_text()
    assert 'resolve_timeout: 5m' in text and "name: 'null'" in text
    port = free_port()
    url = 'http://127.0.0.1:%d' % port
    log = open(str(tmp_path / 'alertmanager.log'), 'w')
    proc = subprocess.Popen(['prometheus-alertmanager', '--config.file=%s' % config,
                             '--storage.path=%s' % (tmp_path / 'data'), '--web.listen-address=127.0.0.1:%d' % port,
                             '--cluster.listen-address='], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(url + '/-/ready', 'alertmanager')
        name = 'EmailOps%s%s' % (mode.capitalize(), uuid.uuid4().hex[:8])
        posted = run(['amtool', '--alertmanager.url=%s' % url, 'alert', 'add', 'alertname=%s' % name, 'severity=page'])
        assert posted.returncode == 0, posted.stdout + posted.stderr
        assert_delivered(mailbox, name, settings['username'])
    finally:
        stop(proc)
        log.close()
    assert settings['password'] not in (tmp_path / 'alertmanager.log').read_text()
    # a second run changes nothing; the receiver is ours by name
    outcome, result = configure(ansible, 'alertmanager', {'config': str(config)}, settings)
    assert outcome.rc == 0 and not result['changed'], outcome

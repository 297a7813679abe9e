"""Server apps send through the Postfix test bed with the files `email_ops.smtp.smtp_config` wrote (app profiles
synapse, airflow, mailman3, redmine; FIELD-GUIDE 3.17, 3.19, 3.20, 3.23).

Each app is set up once per module, in its own folder (never the system instance): a copy of Debian's Redmine
tree with its own instance and a copy of its sqlite database (`rake redmine:email:test[admin]`); a Synapse
homeserver from its own --generate-config on a free loopback port (a 3PID validation mail); an AIRFLOW_HOME with
its own airflow.cfg (Airflow's send_email); a private Mailman 3 (own mailman.cfg and var dir; a list-creation
notice and an -owner message through single runners). A real ansible-playbook run writes the app's files (a
second run changes nothing), then THE APP ITSELF sends and the message is found in the Maildir, its Received
header showing ESMTPSA and the SASL user. STARTTLS runs with the plain test user, implicit TLS with the user
whose password breaks naive quoting. Every output is grepped for the password, every file's mode is checked.
Synapse, Airflow and Mailman trust only the system store / SSL_CERT_FILE (their profiles refuse ca_file and say
how): the test CA reaches them through SSL_CERT_FILE in their own environment, never the machine's store.
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest
import yaml

from tests.testbed.appvenv import app_venv
from tests.testbed.net import free_port

REDMINE = '/usr/share/redmine'
REDMINE_DB = '/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default'
REDMINE_FROM = 'Scout Redmine <redmine-from@example.test>'
LISTENERS = ['submission', 'smtps']


def configure(ansible, settings, app, paths, *flags):
    return ansible.smtp_config(settings, *flags, app=app, paths=paths)


def write_files(ansible, settings, app, paths):
    """smtp_config writes the app's files (--diff: the diff masks the password in the file's own quoting);
    a second run with the same settings changes nothing."""
    run, result = configure(ansible, settings, app, paths, '--diff')
    assert run.rc == 0 and result['changed'] and result.get('diff'), run
    assert '********' in json.dumps(result['diff'])
    again_run, again = configure(ansible, settings, app, paths)
    assert again_run.rc == 0 and not again['changed'], again_run
    for output in (run.all_output, again_run.all_output):
        assert settings['password'] not in output
    return result


def listener_settings(mailbox, listener, **overrides):
    """STARTTLS with the plain test user; implicit TLS with the user whose password breaks naive quoting."""
    if listener == 'smtps':
        overrides = dict(dict(username=mailbox.special_username, password=mailbox.special_password), **overrides)
    return mailbox.settings(listener, **overrides)


def mode_of(path):
    return oct(os.stat(str(path)).st_mode & 0o777)


# -- Redmine ---------------------------------------------------------------------------------------------------

class Redmine:
    """A copy of Debian's Redmine tree with an instance `scout` (REDMINE_INSTANCE) and a copy of its database."""

    def __init__(self, base):
        self.root = os.path.join(base, 'redmine')
        shutil.copytree(REDMINE, self.root, symlinks=True)
        # Debian links instances/ and Gemfile.lock to /var/lib/redmine: the copy gets its own, the system's stay untouched.
        for name in ('instances', 'Gemfile.lock'):
            os.unlink(os.path.join(self.root, name))
        os.mkdir(os.path.join(self.root, 'instances'))
        shutil.copyfile(os.path.join(REDMINE, 'Gemfile.lock'), os.path.join(self.root, 'Gemfile.lock'))
        self.instance = os.path.join(self.root, 'instances', 'scout')
        assert os.path.realpath(self.instance).startswith(os.path.realpath(base) + os.sep)
        for sub in ('config', 'log', 'tmp', 'files'):
            os.makedirs(os.path.join(self.instance, sub))
        self.database = os.path.join(base, 'redmine.sqlite3')
        shutil.copyfile(REDMINE_DB, self.database)
        with open(os.path.join(self.instance, 'config', 'secret_key.txt'), 'w') as handle:
            handle.write(uuid.uuid4().hex + uuid.uuid4().hex)
        with open(os.path.join(self.instance, 'config', 'database.yml'), 'w') as handle:
            handle.write('production:\n  adapter: sqlite3\n  database: %s\n  encoding: utf8\n' % self.database)
        self.config = os.path.join(self.instance, 'config', 'configuration.yml')
        # What lives in Redmine's database, not in configuration.yml: the admin's address and the sender.
        self.admin_mail = 'redmine-admin@example.test'
        self.run('rails', 'runner', 'u = User.find_by_login("admin"); u.mail = "%s"; u.save!(validate: false); '
                 'Setting.mail_from = "%s"' % (self.admin_mail, REDMINE_FROM), check=True)

    def run(self, *args, check=False):
        env = dict(os.environ, REDMINE_INSTANCE='scout', RAILS_ENV='production')
        command = ['bin/rails' if args[0] == 'rails' else args[0]] + list(args[1:])
        proc = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True, timeout=180, check=False)
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def email_test(self):
        return self.run('rake', 'redmine:email:test[admin]')


@pytest.fixture(scope='module')
def redmine(tmp_path_factory):
    return Redmine(str(tmp_path_factory.mktemp('redmine')))


@pytest.mark.parametrize('listener', LISTENERS)
def test_redmine_sends_its_test_email_with_the_file_we_wrote(ansible, mailbox, redmine, listener):
    settings = listener_settings(mailbox, listener, helo_name='redmine.example.test')
    with open(redmine.config, 'w') as handle:  # the admin's own settings survive
        handle.write('default:\n  attachments_storage_path: %s\nproduction:\n  scm_git_command: git\n'
                     % os.path.join(redmine.instance, 'files'))
    result = write_files(ansible, settings, 'redmine', {'main': redmine.config})
    assert any('Emission email address' in warning for warning in result.get('warnings', [])), result
    assert mode_of(redmine.config) == '0o640'
    text = open(redmine.config).read()
    assert 'attachments_storage_path' in text and 'scm_git_command: git' in text

    sent = redmine.email_test()
    assert sent.returncode == 0 and redmine.admin_mail in sent.stdout, sent.stdout + sent.stderr
    with open(os.path.join(redmine.instance, 'log', 'production.log'), errors='replace') as handle:
        assert settings['password'] not in sent.stdout + sent.stderr + handle.read()
    (got,) = mailbox.wait_for(1, timeout=30, recipient=redmine.admin_mail)
    assert got.received_over_tls_as(settings['username']), got
    assert got['From'] == REDMINE_FROM


def test_redmine_without_the_ca_fails_to_verify(ansible, mailbox, redmine):
    settings = mailbox.settings('submission')
    del settings['ca_file']  # the test CA is in no system store: the mail gem must refuse the server
    run, result = configure(ansible, settings, 'redmine', {'main': redmine.config})
    assert run.rc == 0, run
    sent = redmine.email_test()
    assert sent.returncode != 0 and 'certificate verify failed' in sent.stderr + sent.stdout, sent
    assert settings['password'] not in sent.stdout + sent.stderr
    assert mailbox.messages(recipient=redmine.admin_mail) == []


def test_redmine_refuses_another_delivery_method(ansible, mailbox, redmine):
    with open(redmine.config, 'w') as handle:
        handle.write('default:\n  email_delivery:\n    delivery_method: :sendmail\n')
    run, result = configure(ansible, mailbox.settings('submission'), 'redmine', {'main': redmine.config})
    assert run.rc != 0 and 'delivery_method is :sendmail, not :smtp' in result['msg'], run
    assert 'Traceback' not in run.all_output and mailbox.password not in run.all_output
    assert open(redmine.config).read() == 'default:\n  email_delivery:\n    delivery_method: :sendmail\n'


# -- Matrix Synapse --------------------------------------------------------------------------------------------

class Synapse:
    """A homeserver made by Synapse's own --generate-config in a temp folder, listening on a free loopback port.
    Synapse takes its CA from SSL_CERT_FILE (the profile refuses ca_file and says so): the test CA goes there."""

    def __init__(self, base, ca_file):
        self.venv = app_venv('synapse')
        self.dir = base
        self.config = os.path.join(base, 'homeserver.yaml')
        self.ca_file = ca_file
        self.proc = None
        self.port = None
        proc = self._python('-m', 'synapse.app.homeserver', '--server-name', 'scout.test', '--config-path', self.config,
                            '--data-directory', base, '--generate-config', '--report-stats=no')
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def _python(self, *args):
        return subprocess.run([os.path.join(self.venv, 'bin', 'python')] + list(args), cwd=self.dir, capture_output=True,
                              text=True, timeout=120, check=False)

    def listen_here(self):
        """The admin's own part of homeserver.yaml: a loopback listener and public_baseurl (kept by smtp_config)."""
        with open(self.config) as handle:
            config = yaml.safe_load(handle)
        self.port = free_port()
        config['listeners'] = [{'port': self.port, 'bind_addresses': ['127.0.0.1'], 'type': 'http', 'tls': False,
                                'x_forwarded': False, 'resources': [{'names': ['client'], 'compress': False}]}]
        config['public_baseurl'] = 'http://127.0.0.1:%d/' % self.port
        with open(self.config, 'w') as handle:
            yaml.safe_dump(config, handle)

    def check(self):
        return self._python('-m', 'synapse.config', '-c', self.config)

    def start(self):
        env = dict(os.environ, SSL_CERT_FILE=self.ca_file)
        self.log = open(os.path.join(self.dir, 'synapse.out'), 'w')
        self.proc = subprocess.Popen([os.path.join(self.venv, 'bin', 'python'), '-m', 'synapse.app.homeserver', '-c',
                                      self.config], cwd=self.dir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen('http://127.0.0.1:%d/health' % self.port, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError('synapse did not answer /health within 90 s\n' + self.output())

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
            self.log.close()

    def output(self):
        with open(os.path.join(self.dir, 'synapse.out'), errors='replace') as handle:
            return handle.read()[-4000:]

    def request_token(self, address):
        """3PID validation: Synapse mails a token to `address` (the request hangs if TLS fails: bounded)."""
        body = json.dumps({'client_secret': uuid.uuid4().hex, 'email': address, 'send_attempt': 1}).encode()
        request = urllib.request.Request('http://127.0.0.1:%d/_matrix/client/v3/account/3pid/email/requestToken' % self.port,
                                         data=body, headers={'Content-Type': 'application/json'}, method='POST')
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())


@pytest.fixture(scope='module')
def synapse(tmp_path_factory, postfix):
    server = Synapse(str(tmp_path_factory.mktemp('synapse')), postfix.ca_file)
    server.listen_here()
    yield server
    server.stop()


@pytest.mark.parametrize('listener', LISTENERS)
def test_synapse_mails_a_validation_token_with_the_file_we_wrote(ansible, mailbox, synapse, listener):
    settings = listener_settings(mailbox, listener, from_name='Scout 100% Matrix')
    del settings['ca_file']  # Synapse trusts SSL_CERT_FILE only
    write_files(ansible, settings, 'synapse', {'main': synapse.config})
    assert mode_of(synapse.config) == '0o600'
    checked = synapse.check()
    assert checked.returncode == 0 and 'Config parses OK' in checked.stdout + checked.stderr, checked
    with open(synapse.config) as handle:
        written = yaml.safe_load(handle)
    assert written['listeners'][0]['port'] == synapse.port and written['public_baseurl']  # the admin's keys stay
    assert written['email']['smtp_pass'] == settings['password']

    synapse.start()
    try:
        address = 'synapse-%s@example.test' % listener
        status, answer = synapse.request_token(address)
        assert status == 200 and answer.get('sid'), answer
        (got,) = mailbox.wait_for(1, timeout=30, recipient=address)
    finally:
        synapse.stop()
    assert settings['password'] not in synapse.output()
    assert got.received_over_tls_as(settings['username']), got
    (sender,) = got['From'].addresses
    assert sender.display_name == 'Scout 100% Matrix' and sender.addr_spec == settings['from_email']
    assert 'Validate your email' in got['Subject']


# -- Apache Airflow --------------------------------------------------------------------------------------------

AIRFLOW_SEND = '''
import sys
from airflow.utils.email import send_email
send_email(to=sys.argv[1], subject=sys.argv[2], html_content="<p>sent by Airflow's send_email</p>")
'''


@pytest.fixture(scope='module')
def airflow_home(tmp_path_factory):
    """AIRFLOW_HOME with the admin's own airflow.cfg (sqlite metadata DB, no examples); smtp_config adds ours."""
    home = tmp_path_factory.mktemp('airflow')
    (home / 'airflow.cfg').write_text('[core]\nload_examples = False\n\n[database]\nsql_alchemy_conn = sqlite:///%s\n\n'
                                      '[smtp]\nsmtp_retry_limit = 0\n' % (home / 'airflow.db'))
    return home


@pytest.mark.parametrize('listener', LISTENERS)
def test_airflow_send_email_uses_the_files_we_wrote(ansible, mailbox, airflow_home, listener):
    venv = app_venv('airflow')
    settings = listener_settings(mailbox, listener, from_name='Scout 100% Airflow')
    del settings['ca_file']  # Airflow trusts the system store / SSL_CERT_FILE only (the profile says so)
    paths = {'main': str(airflow_home / 'airflow.cfg'), 'connections': str(airflow_home / 'connections.json')}
    write_files(ansible, settings, 'airflow', paths)
    assert mode_of(paths['connections']) == '0o600' and mode_of(paths['main']) == '0o640'
    assert settings['password'] not in (airflow_home / 'airflow.cfg').read_text()
    assert 'smtp_retry_limit = 0' in (airflow_home / 'airflow.cfg').read_text()

    address = 'airflow-%s@example.test' % listener
    subject = 'sent by airflow %s' % uuid.uuid4().hex
    env = dict(os.environ, AIRFLOW_HOME=str(airflow_home), SSL_CERT_FILE=mailbox.ca_file)
    sent = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c', AIRFLOW_SEND, address, subject], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert sent.returncode == 0, sent.stdout[-3000:] + sent.stderr[-3000:]
    assert settings['password'] not in sent.stdout + sent.stderr
    (got,) = mailbox.wait_for(1, timeout=30, recipient=address)
    assert got['Subject'] == subject and got.received_over_tls_as(settings['username']), got
    (sender,) = got['From'].addresses
    assert sender.display_name == 'Scout 100% Airflow' and sender.addr_spec == settings['from_email']


# -- GNU Mailman 3 ---------------------------------------------------------------------------------------------

MAILMAN_CFG = '''# the admin's own mailman.cfg for a private instance (never the system one)
[mailman]
site_owner: changeme@example.com
noreply_address: noreply
layout: scout

[paths.scout]
var_dir: {var}
queue_dir: $var_dir/queue
bin_dir: /usr/lib/mailman3/bin
list_data_dir: $var_dir/lists
log_dir: $var_dir/logs
lock_dir: $var_dir/locks
data_dir: $var_dir/data
cache_dir: $var_dir/cache
etc_dir: {etc}
ext_dir: $var_dir/ext
messages_dir: $var_dir/messages
archive_dir: $var_dir/archives
template_dir: $var_dir/templates
pid_file: $var_dir/master.pid
lock_file: $lock_dir/master.lck

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///{var}/data/mailman.db

[webservice]
hostname: 127.0.0.1
port: {rest_port}
admin_user: restadmin
admin_pass: not-a-secret-{token}

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
# Debian's defaults, in lazr.config's `key: value` lines: smtp_config edits them in place
smtp_host: localhost
smtp_port: 25
smtp_user:
smtp_pass:
lmtp_host: 127.0.0.1
lmtp_port: {lmtp_port}

[archiver.prototype]
enable: no
'''


class Mailman:
    """A private Mailman 3 (its own var dir and mailman.cfg) driven by Debian's `mailman` and a single runner,
    which gets the test CA through SSL_CERT_FILE (FIELD-GUIDE 3.19; the profile refuses ca_file and says why)."""

    def __init__(self, base, ca_file):
        self.dir = base
        self.config = os.path.join(base, 'mailman.cfg')
        self.ca_file = ca_file
        with open(self.config, 'w') as handle:
            handle.write(MAILMAN_CFG.format(var=os.path.join(base, 'var'), etc=base, rest_port=free_port(),
                                            lmtp_port=free_port(), token=uuid.uuid4().hex))

    def mailman(self, *args):
        return subprocess.run(['/usr/bin/mailman', '--run-as-root', '-C', self.config] + list(args), cwd=self.dir,
                              capture_output=True, text=True, timeout=120, check=False)

    def runner(self, name):
        env = dict(os.environ, SSL_CERT_FILE=self.ca_file)
        return subprocess.run(['/usr/bin/python3', '/usr/lib/mailman3/bin/runner', '-C', self.config, '--runner=%s' % name,
                               '--once'], cwd=self.dir, env=env, capture_output=True, text=True, timeout=120, check=False)

    def logs(self):
        found = []
        for name in ('mailman.log', 'smtp.log'):
            path = os.path.join(self.dir, 'var', 'logs', name)
            if os.path.exists(path):
                with open(path, errors='replace') as handle:
                    found.append(handle.read()[-3000:])
        return '\n'.join(found)


@pytest.fixture(scope='module')
def mailman(tmp_path_factory, postfix):
    return Mailman(str(tmp_path_factory.mktemp('mailman')), postfix.ca_file)


@pytest.mark.parametrize('listener', LISTENERS)
def test_mailman_out_runner_delivers_a_list_notice_with_the_file_we_wrote(ansible, mailbox, mailman, listener):
    site_owner = 'mm-site-owner-%s@example.test' % listener
    settings = listener_settings(mailbox, listener, error_recipients=[{'email': site_owner}])
    del settings['ca_file']  # Mailman trusts the system store only; this runner gets SSL_CERT_FILE
    write_files(ansible, settings, 'mailman3', {'main': mailman.config})
    assert mode_of(mailman.config) == '0o640'
    shown = mailman.mailman('conf', '-s', 'mta')
    assert shown.returncode == 0, shown.stdout + shown.stderr
    # `[mta] smtp_port: 2587` lines: what lazr.config read from the file
    effective = dict(re.match(r'\[mta\] ([^:]+): ?(.*)$', line).groups() for line in shown.stdout.splitlines())
    assert effective['smtp_port'] == str(settings['port']), shown.stdout
    assert effective['smtp_secure_mode'] == {'submission': 'starttls', 'smtps': 'smtps'}[listener]
    assert effective['smtp_pass'] == settings['password']
    owner = mailman.mailman('conf', '-s', 'mailman', '-k', 'site_owner')
    assert owner.stdout.strip() == site_owner, owner

    list_owner = 'mm-owner-%s@example.test' % listener
    created = mailman.mailman('create', '-o', list_owner, '--notify', 'scout-%s@example.test' % listener)
    assert created.returncode == 0, created.stdout + created.stderr
    for name in ('virgin', 'out'):
        ran = mailman.runner(name)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert settings['password'] not in ran.stdout + ran.stderr
    got = mailbox.wait_for(1, timeout=30, recipient=list_owner)
    assert 'scout-%s@example.test' % listener in got[0]['Subject'], got[0]
    assert got[0].received_over_tls_as(settings['username']), mailman.logs()

    # The error recipient: mail for the -owner of a list that has no owner goes to the site owner.
    orphan = 'orphan-%s@example.test' % listener
    created = mailman.mailman('create', orphan)
    assert created.returncode == 0, created.stdout + created.stderr
    subject = 'for the owner of %s %s' % (orphan, uuid.uuid4().hex)
    message = os.path.join(mailman.dir, 'owner-%s.eml' % listener)
    with open(message, 'w') as handle:
        handle.write('From: someone@example.test\nTo: %s\nSubject: %s\nMessage-ID: <%s@example.test>\n\nhello owner\n'
                     % (orphan.replace('@', '-owner@'), subject, uuid.uuid4().hex))
    injected = mailman.mailman('inject', '-q', 'in', '-m', 'to_owner=True', '-f', message, orphan)
    assert injected.returncode == 0, injected.stdout + injected.stderr
    for name in ('in', 'pipeline', 'out'):
        ran = mailman.runner(name)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    (forwarded,) = mailbox.wait_for(1, timeout=30, recipient=site_owner)
    assert forwarded['Subject'] == subject and forwarded.received_over_tls_as(settings['username']), mailman.logs()
    assert settings['password'] not in mailman.logs()

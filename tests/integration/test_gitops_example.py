"""examples/gitops, run for real: the pipeline's own commands (read from its .gitlab-ci.yml) on a copy of the
repository, against local SMTP servers, one per environment's account.

The copy is pointed at the test bed the way a merge request would do it: smtp.yml gets the server's address,
port and CA; host_vars give each local host its own config file and a restart command that leaves a mark.
"""
import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO
from tests.testbed.ansible import CALLBACKS, Run
from tests.testbed.capture import Capture

EXAMPLE = os.path.join(REPO, 'examples', 'gitops')
VAULT_PASSWORD_FILE = '.vault-pass.test'
CONFIG_TASK = 'email_ops.smtp.configure : Prove the new email settings from this host, then write them'
APP_CONFIG = '{\n  "name": "billing",\n  "db": {"host": "db.internal", "port": 5432}\n}\n'
NEW_PASSWORD = 'rotated-App-Passw0rd-2'
WRONG_PASSWORD = 'mistyped-App-Passw0rd-2'


class GitopsRepo:
    """A copy of examples/gitops in tmp_path/repo, wired to the test bed, and a runner for its pipeline jobs."""

    def __init__(self, ansible, tmp_path, pki):
        self.ansible = ansible
        self.dir = str(tmp_path / 'repo')
        self.apps = str(tmp_path / 'hosts')  # each host's app folder
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns('collections'))
        with open(self.path('.gitlab-ci.yml')) as handle:
            self.pipeline = yaml.safe_load(handle)
        self.vault_password = open(self.path(VAULT_PASSWORD_FILE)).read().strip()
        self.servers = {}
        for env in ('staging', 'production'):
            settings = self.vars(env)['smtp_settings']
            server = Capture(pki, username=settings['username'], password=self.vault(env), implicit_tls=False,
                             plain=False).start()
            self.servers[env] = server
            self._point_at(env, server)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def group_vars(self, env, name):
        return self.path('inventories', env, 'group_vars', 'all', name)

    def vars(self, env):
        with open(self.group_vars(env, 'smtp.yml')) as handle:
            return yaml.safe_load(handle)

    def hosts(self, env):
        with open(self.path('inventories', env, 'hosts.yml')) as handle:
            return list(yaml.safe_load(handle)['all']['children']['billing']['hosts'])

    def vault(self, env):
        """vault_smtp_password, decrypted with the example's test vault password."""
        proc = subprocess.run(['ansible-vault', 'view', self.group_vars(env, 'vault.yml')], cwd=self.dir,
                              env=self.env(), capture_output=True, text=True, check=True)
        return yaml.safe_load(proc.stdout)['vault_smtp_password']

    def _point_at(self, env, server):
        smtp_yml = self.group_vars(env, 'smtp.yml')
        with open(smtp_yml) as handle:
            text = handle.read()
        text = text.replace('host: smtp.office365.com', 'host: %s' % server.host)
        text = text.replace('port: 587', 'port: %d\n  ca_file: %s' % (server.starttls_port, server.ca_file))
        with open(smtp_yml, 'w') as handle:
            handle.write(text)
        os.makedirs(self.path('inventories', env, 'host_vars'))
        for host in self.hosts(env):
            folder = os.path.join(self.apps, host)
            os.makedirs(folder)
            with open(os.path.join(folder, 'config.json'), 'w') as handle:
                handle.write(APP_CONFIG)  # the app's own config, before email settings are managed
            with open(self.path('inventories', env, 'host_vars', host + '.yml'), 'w') as handle:
                yaml.safe_dump(dict(smtp_config_path=os.path.join(folder, 'config.json'),
                                    smtp_service_action='command',
                                    smtp_service_command='touch %s' % os.path.join(folder, 'restarted')), handle)

    def config(self, host):
        with open(os.path.join(self.apps, host, 'config.json'), 'rb') as handle:
            return handle.read()

    def restarted(self, host):
        mark = os.path.join(self.apps, host, 'restarted')
        found = os.path.exists(mark)
        if found:
            os.unlink(mark)
        return found

    def env(self, **extra):
        env = self.ansible.env(ANSIBLE_VAULT_PASSWORD_FILE=self.path(VAULT_PASSWORD_FILE),
                               COLLECTION_DIR=REPO, **extra)
        env.pop('ANSIBLE_CONFIG', None)  # the repository's ansible.cfg applies
        return env

    def job(self, name, env_name=None):
        """Run a pipeline job's script lines as CI would (before_script installs are already in .venv).

        Returns (run, {task: {host: result}}), like Ansible.playbook_json."""
        job = self.pipeline[name]
        script = job.get('script') or self.pipeline[job['extends']]['script']
        record_file = os.path.join(self.ansible.workdir, 'results.json')
        log_file = os.path.join(self.ansible.workdir, 'ansible.log')
        for stale in (record_file, log_file):
            if os.path.exists(stale):
                os.unlink(stale)
        env = self.env(ENV=env_name or job.get('variables', {}).get('ENV', ''), RECORD_RESULTS_FILE=record_file,
                       ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED='record_results')
        proc = subprocess.run(['bash', '-euo', 'pipefail', '-c', '\n'.join(script)], cwd=self.dir, env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        run = Run(proc, open(log_file).read() if os.path.exists(log_file) else '')
        results = {}
        if os.path.exists(record_file):
            with open(record_file) as handle:
                text = handle.read()
            run.all_output += text
            for record in json.loads(text)['records']:
                results.setdefault(record['task'], {})[record['host']] = record['result']
        return run, results

    def rotate(self, env, secret):
        """The runbook's step 2: rotate.sh reads the new secret from stdin and re-encrypts the vault."""
        return subprocess.run([self.path('rotate.sh'), env], input=secret + '\n', cwd=self.dir, env=self.env(),
                              capture_output=True, text=True, timeout=120, check=False)

    def stop(self):
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def repo(ansible, tmp_path, pki):
    gitops = GitopsRepo(ansible, tmp_path, pki)
    yield gitops
    gitops.stop()


def assert_no_secrets(run, repo, *secrets):
    for secret in (repo.vault_password,) + secrets:
        assert secret not in run.all_output


def test_validate_stage_checks_vars_files_against_the_schema(repo):
    proc = subprocess.run(['bash', '-c', '\n'.join(repo.pipeline['validate']['script'])], cwd=repo.dir,
                          env=repo.env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # A merge request with a typo and a port out of range: the push fails, each problem with file and path.
    broken = repo.group_vars('staging', 'smtp.yml')
    with open(broken) as handle:
        text = handle.read().replace('  port: ', '  port: 70000\n  prot: ', 1)
    with open(broken, 'w') as handle:
        handle.write(text.replace('from_email:', 'from_email: not-an-address #', 1))
    proc = subprocess.run(['bash', '-c', '\n'.join(repo.pipeline['validate']['script'])], cwd=repo.dir,
                          env=repo.env(), capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    where = 'inventories/staging/group_vars/all/smtp.yml::$.smtp_settings'
    assert where + '.port: 70000 is greater than the maximum of 65535' in out
    assert where + ": Additional properties are not allowed ('prot' was unexpected)" in out
    assert where + '.from_email' in out
    assert 'inventories/production' not in out


def test_plan_on_merge_request_then_apply_on_merge(repo):
    env, hosts = 'production', repo.hosts('production')
    password = repo.vault(env)
    server = repo.servers[env]

    # Plan: every host probes the server (connect, STARTTLS, AUTH, RCPT) and predicts the change.
    run, results = repo.job('plan', env)
    assert run.rc == 0, run
    planned = results[CONFIG_TASK]
    assert sorted(planned) == sorted(hosts)
    for host in hosts:
        assert planned[host]['changed'] is True, planned[host]
        assert planned[host]['verification']['mode'] == 'probe'
        assert repo.config(host) == APP_CONFIG.encode(), 'the plan must not write'
        assert not repo.restarted(host), 'the plan must not restart'
    assert server.messages == [], 'the plan must not deliver'
    assert '"password": "******** (changed)"' in run.stdout, 'the diff shows the secret masked'
    assert_no_secrets(run, repo, password)

    # Apply: canary first; the canary delivers the test message (smtp_verify_deliveries: once), every other host
    # proves the same document with a probe; each then writes and restarts the app.
    run, results = repo.job('apply:production')
    assert run.rc == 0, run
    applied = results[CONFIG_TASK]
    for host in hosts:
        result = applied[host]
        assert result['changed'] is True and result['verification']['sent'] is (host == hosts[0]), result
        assert result['verification']['stage_reached'] == ('send' if host == hosts[0] else 'rcpt'), result
        written = json.loads(repo.config(host))
        assert written['db'] == {'host': 'db.internal', 'port': 5432}, 'the rest of the app config survives'
        assert written['smtp']['host'] == server.host and written['smtp']['password'] == password
        assert repo.restarted(host)
    assert [m.message['Message-ID'] for m in server.messages] == [applied[hosts[0]]['verification']['message_id']], \
        'one test message, the canary\'s'
    assert {m.login for m in server.messages} == {server.username}
    assert all(m.recipients == ['mail-canary@example.com'] for m in server.messages)
    assert_no_secrets(run, repo, password)

    # Staging has its own account and server.
    run, results = repo.job('apply:staging')
    assert run.rc == 0, run
    assert len(repo.hosts('staging')) == len(results[CONFIG_TASK]) == 2
    assert len(repo.servers['staging'].messages) == 1, 'one test message for the staging document'


def test_credential_rotation_runbook(repo):
    env, hosts = 'production', repo.hosts('production')
    server = repo.servers[env]
    old_password = repo.vault(env)
    run, _results = repo.job('apply:production')
    assert run.rc == 0, run
    old = dict((host, repo.config(host)) for host in hosts)
    for host in hosts:
        repo.restarted(host)
    server.clear()

    # A mistyped new secret reaches main: the canary's test send is refused, nothing else is touched.
    proc = repo.rotate(env, WRONG_PASSWORD)
    assert proc.returncode == 0, proc.stderr
    assert repo.vault(env) == WRONG_PASSWORD
    run, results = repo.job('apply:production')
    assert run.rc != 0, run
    attempted = results[CONFIG_TASK]
    assert list(attempted) == [hosts[0]], 'only the canary tried'
    assert attempted[hosts[0]]['failure']['category'] == 'auth', attempted
    for host in hosts:
        assert repo.config(host) == old[host], '%s must keep its old file byte for byte' % host
        assert not repo.restarted(host)
    assert server.messages == []
    assert 'not reached, the rollout stopped before its batch' in run.stdout
    assert_no_secrets(run, repo, old_password, WRONG_PASSWORD)

    # The right secret: the provider accepts it (this capture server takes one password at a time).
    server.password = NEW_PASSWORD
    proc = repo.rotate(env, NEW_PASSWORD)
    assert proc.returncode == 0, proc.stderr
    run, results = repo.job('plan', env)
    assert run.rc == 0, run
    assert '******** (changed)' in run.stdout
    assert server.messages == []
    run, results = repo.job('apply:production')
    assert run.rc == 0, run
    applied = results[CONFIG_TASK]
    for host in hosts:
        assert applied[host]['verification']['sent'] is (host == hosts[0]) and applied[host]['secret_changed'] is True
        assert json.loads(repo.config(host))['smtp']['password'] == NEW_PASSWORD
        assert repo.restarted(host)
        with open(applied[host]['backup_file'], 'rb') as handle:
            assert handle.read() == old[host], 'the previous file is kept next to the new one'
    assert len(server.messages) == 1, 'the canary delivered the one test message; the other hosts probed'
    assert_no_secrets(run, repo, old_password, NEW_PASSWORD)

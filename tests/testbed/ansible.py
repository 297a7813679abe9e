"""Run real ansible-playbook against the collection in this checkout and read what it did."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import COLLECTIONS_ROOT

BIN = os.path.dirname(sys.executable)
CALLBACKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'callback_plugins')


class Run:
    def __init__(self, proc, log_text):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.log = log_text
        # Everything a user could see or a log could keep, for secret greps.
        self.all_output = proc.stdout + proc.stderr + log_text

    def __repr__(self):
        return 'Run(rc=%s)\n--- stdout ---\n%s\n--- stderr ---\n%s' % (self.rc, self.stdout[-6000:], self.stderr[-3000:])


class Ansible:
    """`ansible.playbook(text)` runs a playbook (YAML text) in a temp project dir with the collection installed."""

    def __init__(self, workdir):
        self.workdir = workdir

    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS_ROOT,
            'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
            'ANSIBLE_HOST_KEY_CHECKING': 'false',
            'ANSIBLE_RETRY_FILES_ENABLED': 'false',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_FORCE_COLOR': '0',
            'ANSIBLE_LOCALHOST_WARNING': 'false',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
            'ANSIBLE_PYTHON_INTERPRETER': sys.executable,
            'ANSIBLE_LOG_PATH': os.path.join(self.workdir, 'ansible.log'),
            'PATH': BIN + os.pathsep + env.get('PATH', ''),
        })
        env.update(extra)
        return env

    def write(self, name, text):
        path = os.path.join(self.workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(textwrap.dedent(text) if isinstance(text, str) else json.dumps(text))
        return path

    def playbook(self, playbook, *args, inventory=None, extra_vars=None, env=None, timeout=600):
        """Run ansible-playbook; `playbook` is YAML text or a playbook name (FQCN or path)."""
        if '\n' in playbook:
            playbook = self.write('playbook.yml', playbook)
        cmd = [os.path.join(BIN, 'ansible-playbook'), playbook]
        cmd += ['-i', inventory or 'localhost,']
        if extra_vars is not None:
            cmd += ['-e', '@' + self.write('extra_vars.json', json.dumps(extra_vars))]
        cmd += list(args)
        log_path = os.path.join(self.workdir, 'ansible.log')
        if os.path.exists(log_path):
            os.unlink(log_path)
        proc = subprocess.run(cmd, cwd=self.workdir, env=self.env(**(env or {})), capture_output=True,
                              text=True, timeout=timeout, check=False)
        log_text = open(log_path).read() if os.path.exists(log_path) else ''
        return Run(proc, log_text)

    def smtp_config(self, settings, *flags, env=None, **task_args):
        """One real run of email_ops.smtp.smtp_config on localhost, `settings` passed as extra vars (never in the
        playbook text): (run, the task's result)."""
        text = one_task_playbook('email_ops.smtp.smtp_config', settings='{{ settings }}', **task_args)
        run, results = self.playbook_json(text, *flags, extra_vars={'settings': settings}, env=env)
        return run, results.get('config', {}).get('localhost', {})

    def playbook_json(self, playbook, *args, **kwargs):
        """Like playbook(), also recording results; returns (run, {task name: {host: result}}).

        run.records lists every result in order (a task run in several batches appears once per host);
        run.stats is the recap per host.
        """
        record_file = os.path.join(self.workdir, 'results.json')
        if os.path.exists(record_file):
            os.unlink(record_file)
        env = dict(kwargs.pop('env', None) or {})
        env.update({'ANSIBLE_CALLBACK_PLUGINS': CALLBACKS, 'ANSIBLE_CALLBACKS_ENABLED': 'record_results',
                    'RECORD_RESULTS_FILE': record_file})
        run = self.playbook(playbook, *args, env=env, **kwargs)
        data = {'records': [], 'stats': {}}
        if os.path.exists(record_file):
            with open(record_file) as handle:
                text = handle.read()
            run.all_output += text
            data = json.loads(text)
        run.records, run.stats = data['records'], data['stats']
        results = {}
        for record in run.records:
            result = dict(record['result'], _status=record['status'], failed=record['status'] == 'failed')
            results.setdefault(record['task'], {})[record['host']] = result
        return run, results


def one_task_playbook(module, hosts='localhost', **task_args):
    """A playbook of one task named `config`; pass secrets as extra vars (e.g. settings='{{ settings }}')."""
    return '''
- hosts: %s
  gather_facts: false
  connection: local
  tasks:
    - name: config
      %s: %s
''' % (hosts, module, json.dumps(task_args))


def role_playbook(**role_vars):
    """A playbook applying the configure role to localhost with `role_vars` (e.g. smtp_settings='{{ settings }}')."""
    return '''
- hosts: localhost
  gather_facts: false
  connection: local
  roles:
    - role: email_ops.smtp.configure
      vars: %s
''' % json.dumps(role_vars)


@pytest.fixture
def ansible(tmp_path):
    return Ansible(str(tmp_path))

"""`ansible-playbook email_ops.smtp.rollout` over real SSH to three hosts, each running a real Django project:
`smtp_app: django` writes each project's settings.py block, and the role's apply step is Django itself
(`manage.py sendtestemail --admins`), so every host proves that its app sends with what was written. A host whose
app does not take the change is rolled back and stops the rollout."""
import os
import subprocess
import uuid

import yaml

from tests.testbed.appvenv import app_venv

ROLLOUT = 'email_ops.smtp.rollout'
HOSTS = {'web-%d' % n: '127.0.0.%d' % n for n in range(2, 5)}  # inventory order: web-2 is the canary
LAST = 'web-4'
ADMINS = 'shop-admins@%s'
FAIL_TASK = 'email_ops.smtp.configure : Fail the host, the app did not take the new settings'


class DjangoFleet:
    """Three hosts through the test sshd, each with its own Django project made by django-admin startproject."""

    def __init__(self, sshd, postfix, ansible, tmp_path):
        self.sshd, self.postfix, self.ansible, self.dir = sshd, postfix, ansible, tmp_path
        self.venv = app_venv('django')
        self.settings_py = {}
        for name in HOSTS:
            project = tmp_path / name
            project.mkdir()
            subprocess.run([os.path.join(self.venv, 'bin', 'django-admin'), 'startproject', 'shop', str(project)],
                           check=True, capture_output=True, timeout=120)
            self.settings_py[name] = project / 'shop' / 'settings.py'
        self.original = dict((name, path.read_text()) for name, path in self.settings_py.items())

    def manage(self, name, *args):
        return '%s %s %s' % (os.path.join(self.venv, 'bin', 'python'), self.settings_py[name].parent.parent / 'manage.py',
                             ' '.join(args))

    def settings(self, **overrides):
        # Django takes the CA from the environment (smtp_rollout_environment below), not from ca_file.
        settings = self.postfix.settings('submission', test_email='{{ inventory_hostname }}@' + self.postfix.domain,
                                         from_name='Shop', error_recipients=[{'email': ADMINS % self.postfix.domain,
                                                                              'name': 'Shop Ops'}])
        del settings['ca_file']
        settings.update(overrides)
        return settings

    def rollout(self, host_vars=None, **group_vars):
        hosts = {}
        for name, address in HOSTS.items():
            hosts[name] = dict(ansible_host=address, smtp_config_path=str(self.settings_py[name]),
                               smtp_service_command=self.manage(name, 'sendtestemail', '--admins'))
            hosts[name].update((host_vars or {}).get(name, {}))
        path = self.sshd.inventory(hosts, path=str(self.dir / 'inventory.yml'))
        with open(path) as handle:
            inventory = yaml.safe_load(handle)
        inventory['all']['vars'] = dict(
            smtp_settings=self.settings(), smtp_app='django', smtp_verify='send', smtp_service_action='command',
            smtp_rollout_environment={'SSL_CERT_FILE': self.postfix.ca_file, 'PYTHONDONTWRITEBYTECODE': '1'})
        inventory['all']['vars'].update(group_vars)
        with open(path, 'w') as handle:
            yaml.safe_dump(inventory, handle)
        run, results = self.ansible.playbook_json(ROLLOUT, inventory=path)
        assert self.postfix.password not in run.all_output, 'the password leaked into the output'
        return run, results


def test_django_on_three_hosts_sends_through_what_the_rollout_wrote(sshd, mailbox, ansible, tmp_path):
    fleet = DjangoFleet(sshd, mailbox, ansible, tmp_path)

    run, results = fleet.rollout()
    assert run.rc == 0, run
    for name, path in fleet.settings_py.items():
        text = path.read_text()
        assert text.startswith(fleet.original[name]) and "EMAIL_HOST = '%s'" % mailbox.host in text
        assert "DEFAULT_FROM_EMAIL = 'Shop <%s>'" % mailbox.username in text
        assert path.stat().st_mode & 0o777 == 0o640
    # Django's own mail_admins, run by the role on each host over SSH: one per host, sent with the new settings.
    admins = mailbox.wait_for(3, recipient=ADMINS % mailbox.domain)
    assert len(admins) == 3, mailbox.diagnostics()
    for message in admins:
        assert str(message['Subject']).startswith('[Django] ') and message.sender == mailbox.username
        assert message.received_over_tls_as(mailbox.username), message.get_all('Received')
    # One test message for the three hosts' identical document: the canary's; the others probed to RCPT TO.
    tests = [m for name in HOSTS for m in mailbox.messages(recipient='%s@%s' % (name, mailbox.domain))]
    assert [m.recipient for m in tests] == ['web-2@%s' % mailbox.domain], tests

    # A second rollout changes nothing, and no app is asked to re-read anything.
    mailbox.clear()
    run, _results = fleet.rollout()
    assert run.rc == 0 and all(run.stats[name]['changed'] == 0 for name in HOSTS), run
    assert mailbox.messages() == []

    # New sender name; the last host's app does not take it (its command fails): that host gets its old
    # settings.py back and fails, the hosts before it keep the new one.
    before = dict((name, path.read_text()) for name, path in fleet.settings_py.items())
    run, results = fleet.rollout(smtp_settings=fleet.settings(from_name='Shop ' + uuid.uuid4().hex[:6]),
                                 host_vars={LAST: {'smtp_service_command': fleet.manage(LAST, 'no-such-command')}})
    assert run.rc != 0 and list(results[FAIL_TASK]) == [LAST], run
    assert 'Rolled back' in results[FAIL_TASK][LAST]['msg'], results[FAIL_TASK]
    assert fleet.settings_py[LAST].read_text() == before[LAST]
    for name in HOSTS:
        if name != LAST:
            assert fleet.settings_py[name].read_text() != before[name]

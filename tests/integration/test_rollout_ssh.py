"""`ansible-playbook email_ops.smtp.rollout` over real SSH (five hosts on 127.0.0.2-6) against the real Postfix
(submission port: STARTTLS, then AUTH): canary first, stop on failure, idempotence, rollback, check mode, secrets."""
import json
import os
import stat
import time

import yaml

ROLLOUT = 'email_ops.smtp.rollout'
HOSTS = {'app-%d' % n: '127.0.0.%d' % n for n in range(2, 7)}  # inventory order: app-2 is the canary
CANARY = 'app-2'
WRONG_PASSWORD = 'Wr0ng-canary-Passw0rd'
OLD_PASSWORD = 'Old-Passw0rd-in-file'
CONFIG_TASK = 'email_ops.smtp.configure : Prove the new email settings from this host, then write them'
FAIL_TASK = 'email_ops.smtp.configure : Fail the host, the app did not take the new settings'
SUMMARY_TASK = 'Show the rollout summary'
QUIET = 1.5  # seconds to wait before concluding that Postfix delivered nothing


class Fleet:
    """Five hosts reached through the test sshd, each with its own config file under tmp_path."""

    def __init__(self, sshd, postfix, ansible, tmp_path):
        self.sshd, self.postfix, self.ansible, self.dir = sshd, postfix, ansible, tmp_path
        self.paths = {}
        for name in HOSTS:
            (tmp_path / name).mkdir()
            self.paths[name] = tmp_path / name / 'app.json'

    def inventory(self, host_vars=None, **group_vars):
        """Settings as group vars of `all` (each host's test message goes to <host>@<test domain>);
        `host_vars` ({host: vars}) override them, as in a real inventory."""
        hosts = {}
        for name, address in HOSTS.items():
            hosts[name] = dict(ansible_host=address, smtp_config_path=str(self.paths[name]))
            hosts[name].update((host_vars or {}).get(name, {}))
        path = self.sshd.inventory(hosts, path=str(self.dir / 'inventory.yml'))
        with open(path) as handle:
            inventory = yaml.safe_load(handle)
        inventory['all']['vars'] = dict(smtp_settings=self.settings(), **group_vars)
        with open(path, 'w') as handle:
            yaml.safe_dump(inventory, handle)
        return path

    def settings(self, **overrides):
        return self.postfix.settings('submission', test_email='{{ inventory_hostname }}@' + self.postfix.domain,
                                     **overrides)

    def rollout(self, *flags, host_vars=None, extra_vars=None, **group_vars):
        run, results = self.ansible.playbook_json(ROLLOUT, *flags, inventory=self.inventory(host_vars, **group_vars),
                                                  extra_vars=extra_vars)
        for secret in (self.postfix.password, WRONG_PASSWORD, OLD_PASSWORD):
            assert secret not in run.all_output, 'a password leaked into the output'
        return run, results

    def snapshot(self):
        """{host: (bytes, mode)} of every config file, None where absent."""
        return dict((name, (path.read_bytes(), stat.S_IMODE(path.stat().st_mode)) if path.exists() else None)
                    for name, path in self.paths.items())

    def write_old_config(self, *names, mode=0o640):
        for name in names:
            old = {'host': 'old.example.com', 'username': 'old', 'password': OLD_PASSWORD,
                   'from_email': 'old@example.com'}
            self.paths[name].write_text(json.dumps({'name': name, 'smtp': old}))
            os.chmod(self.paths[name], mode)


def summary(results):
    """The summary the last batch printed: {host: status}."""
    shown = [r for r in results[SUMMARY_TASK].values() if r['_status'] == 'ok']
    assert len(shown) == 1, results[SUMMARY_TASK]
    return shown[0]['msg']


def host_order(run):
    """Each host's first and last index in the recorded results."""
    spans = {}
    for index, record in enumerate(run.records):
        first, _last = spans.get(record['host'], (index, index))
        spans[record['host']] = (first, index)
    return spans


def test_canary_first_then_batches_then_nothing_to_do(sshd, postfix, ansible, tmp_path):
    fleet = Fleet(sshd, postfix, ansible, tmp_path)
    postfix.clear()

    run, results = fleet.rollout()
    assert run.rc == 0, run

    # serial [1, 25%, 100%] over five hosts: [app-2] (canary), [app-3], [app-4, app-5, app-6], each finished
    # before the next starts.
    spans = host_order(run)
    assert spans[CANARY][1] < min(spans[h][0] for h in HOSTS if h != CANARY), run.records
    assert spans['app-3'][1] < min(spans[h][0] for h in ('app-4', 'app-5', 'app-6')), run.records
    assert run.records[0]['host'] == CANARY

    settings = fleet.settings()
    for name, path in fleet.paths.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        written = json.loads(path.read_text())['smtp']
        assert written['host'] == settings['host'] and written['port'] == settings['port']
        assert written['username'] == settings['username'] and written['ca_file'] == settings['ca_file']
        assert written['test_email'] == '%s@%s' % (name, postfix.domain)
    # smtp_verify_deliveries once (the default): the documents differ only in test_email, so the canary delivers
    # and every other host proves its own path with a probe to RCPT TO.
    modes = dict((name, results[CONFIG_TASK][name]['verification']['mode']) for name in HOSTS)
    assert modes == dict((name, 'send' if name == CANARY else 'probe') for name in HOSTS)
    assert len(postfix.wait_for(1, recipient='%s@%s' % (CANARY, postfix.domain))) == 1
    time.sleep(QUIET)
    assert len(postfix.messages()) == 1, postfix.messages()
    assert summary(results) == dict((h, 'changed, verified by %s' % modes[h]) for h in HOSTS)

    # Second run: nothing changes, nothing is verified (verify_when: changed), nothing is sent.
    postfix.clear()
    before = fleet.snapshot()
    run, results = fleet.rollout()
    assert run.rc == 0, run
    assert all(stats['changed'] == 0 for stats in run.stats.values()), run.stats
    assert fleet.snapshot() == before
    assert summary(results) == dict((h, 'unchanged') for h in HOSTS)
    time.sleep(QUIET)
    assert postfix.messages() == []


def test_every_host_delivers_its_own_test_message_when_asked(sshd, postfix, ansible, tmp_path):
    fleet = Fleet(sshd, postfix, ansible, tmp_path)
    postfix.clear()
    run, results = fleet.rollout(smtp_verify_deliveries='every_host')
    assert run.rc == 0, run
    for name in HOSTS:  # one test message per host, sent from that host's own run
        assert results[CONFIG_TASK][name]['verification']['mode'] == 'send'
        assert len(postfix.wait_for(1, recipient='%s@%s' % (name, postfix.domain))) == 1
    time.sleep(QUIET)
    assert len(postfix.messages()) == len(HOSTS), postfix.messages()


def test_bad_password_on_the_canary_stops_the_fleet(sshd, postfix, ansible, tmp_path):
    fleet = Fleet(sshd, postfix, ansible, tmp_path)
    fleet.write_old_config(CANARY, 'app-4')
    before = fleet.snapshot()
    postfix.clear()

    # -vvvv: the password must not show even in the most verbose output.
    canary_vars = {'smtp_settings': fleet.settings(password=WRONG_PASSWORD)}
    run, results = fleet.rollout('-vvvv', host_vars={CANARY: canary_vars})
    assert run.rc == 2, run

    canary = results[CONFIG_TASK][CANARY]
    assert canary['_status'] == 'failed' and canary['failure']['category'] == 'auth', canary
    assert 'left as it was' in canary['msg']
    assert list(results[CONFIG_TASK]) == [CANARY], 'hosts after the canary must not be touched'
    assert fleet.snapshot() == before  # the canary's old file and every other host's file (or its absence)
    assert set(run.stats) == {CANARY}

    shown = summary(results)
    assert shown[CANARY].startswith('FAILED (auth): '), shown
    assert all(shown[h] == 'not reached, the rollout stopped before its batch' for h in HOSTS if h != CANARY), shown
    time.sleep(QUIET)
    assert postfix.messages() == []


def test_failed_service_command_rolls_back_and_stops(sshd, postfix, ansible, tmp_path):
    fleet = Fleet(sshd, postfix, ansible, tmp_path)
    fleet.write_old_config(CANARY)  # app-3 has no file yet: the rollback must remove the one it gets
    before = fleet.snapshot()

    run, results = fleet.rollout(
        extra_vars={'smtp_rollout_batches': [2, '100%']},  # both land in the first batch
        smtp_verify='probe', smtp_service_action='command',
        smtp_service_command='/bin/sh -c "echo app refused its config >&2; exit 3"')
    assert run.rc == 2, run

    for name in (CANARY, 'app-3'):
        assert results[CONFIG_TASK][name]['changed'] is True  # the settings were proven and written...
        failed = results[FAIL_TASK][name]
        assert failed['_status'] == 'failed'
        assert 'failed after the new settings were written' in failed['msg']
        assert 'rc 3' in failed['msg'] and 'app refused its config' in failed['msg']
        assert 'Rolled back' in failed['msg']
    assert 'holds the previous settings again' in results[FAIL_TASK][CANARY]['msg']
    assert 'created by this run, was removed' in results[FAIL_TASK]['app-3']['msg']
    assert fleet.snapshot() == before  # ...and rolled back: byte for byte, mode too; app-3's file removed again
    assert set(run.stats) == {CANARY, 'app-3'}

    shown = summary(results)
    assert shown[CANARY].startswith('FAILED (service): command ') and shown['app-3'].startswith('FAILED (service): ')
    assert shown['app-6'] == 'not reached, the rollout stopped before its batch'


def test_check_mode_probes_for_real_and_changes_nothing(sshd, postfix, ansible, tmp_path):
    fleet = Fleet(sshd, postfix, ansible, tmp_path)
    fleet.write_old_config(CANARY)
    before = fleet.snapshot()
    postfix.clear()

    run, results = fleet.rollout('--check', '--diff', smtp_service_action='command', smtp_service_command='/bin/false')
    assert run.rc == 0, run
    assert fleet.snapshot() == before
    assert summary(results) == dict((h, 'would change, verified by probe') for h in HOSTS)
    for name in HOSTS:
        assert results[CONFIG_TASK][name]['verification']['stage_reached'] == 'rcpt'  # a real probe, no delivery
    assert '********' in run.stdout and '"host": "old.example.com"' in run.stdout  # the masked diff
    time.sleep(QUIET)
    assert postfix.messages() == []

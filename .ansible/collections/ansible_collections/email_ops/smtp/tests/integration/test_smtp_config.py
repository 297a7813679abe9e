"""smtp_config through real ansible-playbook runs on localhost: idempotence, check, diff, secrets, errors."""
import json
import os
import stat
import subprocess

import pytest

from tests.testbed.ansible import one_task_playbook


PASSWORD = 'Pa55-w0rd!"quoted" #hash $dollar'
NEW_PASSWORD = 'Rotated-T0ken-9f8e7d'
SETTINGS = {
    'host': 'smtp.example.com',
    'port': 587,
    'username': 'alerts@example.com',
    'password': PASSWORD,
    'from_email': 'alerts@example.com',
    'from_name': 'Alerts',
    'test_email': 'ops@example.com',
    'error_recipients': [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com'}],
}


def playbook(hosts='localhost', **task_args):
    """One smtp_config task; settings come from the extra vars file, never from the command line."""
    task_args.setdefault('settings', '{{ settings }}')
    return one_task_playbook('email_ops.smtp.smtp_config', hosts=hosts, **task_args)


def apply(ansible, path, *flags, settings=None, **task_args):
    run, results = ansible.playbook_json(playbook(path=str(path), **task_args), *flags,
                                         extra_vars={'settings': settings or SETTINGS})
    return run, results.get('config', {}).get('localhost', {})


def assert_no_secret(run, *secrets):
    for secret in secrets or (PASSWORD, NEW_PASSWORD):
        assert secret not in run.all_output


SAMPLES = {
    'app.json': ('{\n  "name": "myapp",\n  "smtp": {"host": "old.example.com", "legacy": true},\n  "db": {"port": 5432}\n}\n',
                 ['"name": "myapp"', '"port": 5432']),
    'app.yml': ('name: myapp\nsmtp:\n  host: old.example.com\ndb:\n  port: 5432\n', ['name: myapp', 'port: 5432']),
    'app.ini': ('; app settings\n[main]\nname = myapp\n\n# mail below\n[smtp]\nhost = old.example.com\n\n[db]\nport=5432 ; local\n',
                ['; app settings\n[main]\nname = myapp\n', '# mail below\n[smtp]\n', '[db]\nport=5432 ; local\n']),
    'app.env': ('# myapp\nAPP_NAME=myapp\nSMTP_HOST=old.example.com\nexport DB_PORT=5432\n',
                ['# myapp\nAPP_NAME=myapp\n', 'export DB_PORT=5432\n']),
}


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_four_runs_idempotent_and_rest_of_file_survives(ansible, tmp_path, name):
    path = tmp_path / name
    original, survivors = SAMPLES[name]
    path.write_text(original)

    run, result = apply(ansible, path, '--check')
    assert run.rc == 0, run
    assert result['changed'] is True
    assert path.read_text() == original, 'check mode must not touch the file'

    run, result = apply(ansible, path)
    assert run.rc == 0 and result['changed'] is True, run
    written = path.read_text()
    for piece in survivors:
        assert piece in written
    assert 'old.example.com' not in written and 'smtp.example.com' in written
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    mtime = os.stat(path).st_mtime_ns

    run, result = apply(ansible, path, '--check')
    assert run.rc == 0 and result['changed'] is False, run
    run, result = apply(ansible, path)
    assert run.rc == 0 and result['changed'] is False, run
    assert os.stat(path).st_mtime_ns == mtime and path.read_text() == written
    assert_no_secret(run)


def test_json_block_content(ansible, tmp_path):
    path = tmp_path / 'config.json'
    run, result = apply(ansible, path, key='notifications.smtp')
    assert run.rc == 0 and result['created'] is True, run
    block = json.loads(path.read_text())['notifications']['smtp']
    assert block['host'] == 'smtp.example.com' and block['port'] == 587 and block['password'] == PASSWORD
    assert block['security'] == 'starttls' and block['validate_certs'] is True  # schema defaults written
    assert block['error_recipients'] == [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com'}]


def test_ini_recipients_comma_separated(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    run = apply(ansible, path)[0]
    assert run.rc == 0, run
    assert 'error_recipients = Ops <ops@example.com>, dev@example.com\n' in path.read_text()


def test_diff_masks_secrets_and_marks_rotation_even_at_vvvv(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    run = apply(ansible, path)[0]
    assert run.rc == 0, run
    rotated = dict(SETTINGS, password=NEW_PASSWORD)
    run, result = apply(ansible, path, '--diff', '-vvvv', settings=rotated)
    assert run.rc == 0 and result['changed'] and result['secret_changed'], run
    diff = result['diff'][0] if isinstance(result['diff'], list) else result['diff']
    assert 'password = ********\n' in diff['before']
    assert 'password = ******** (changed)\n' in diff['after']
    assert_no_secret(run)
    # the same through the default callback a person reads, with every log line
    path.write_text('')
    human = ansible.playbook(playbook(path=str(path)), '--diff', '-vvvv', extra_vars={'settings': SETTINGS})
    assert human.rc == 0, human
    assert '+password = ******** (changed)' in human.stdout
    assert_no_secret(human)
    assert PASSWORD in path.read_text()


def test_invalid_settings_name_every_path_and_write_nothing(ansible, tmp_path):
    path = tmp_path / 'app.json'
    bad = dict(SETTINGS, port=70000, hots='typo', from_email='not-an-address', security='tls',
               from_name='x\r\nBcc: victim@example.com')
    run, result = apply(ansible, path, settings=bad)
    assert run.rc != 0 and result['failed'], run
    for expected in ('settings.port: 70000 is greater than the maximum of 65535',
                     "settings.hots: unknown key; did you mean 'host'?",
                     'settings.from_email:', 'settings.security:', 'settings.from_name:'):
        assert expected in result['msg'], result['msg']
    assert len(result['problems']) == 5
    assert not path.exists()
    assert 'Traceback' not in run.all_output
    assert_no_secret(run)


def test_cr_lf_in_password_refused_without_echo(ansible, tmp_path):
    path = tmp_path / 'app.env'
    path.write_text('KEEP=1\n')
    run, result = apply(ansible, path, '-vvvv', settings=dict(SETTINGS, password=PASSWORD + '\r\nX-Evil: 1'))
    assert run.rc != 0 and 'settings.password: ' in result['msg'] and 'one line' in result['msg'], run
    assert path.read_text() == 'KEEP=1\n'
    assert_no_secret(run)


def test_unparsable_file_is_left_intact(ansible, tmp_path):
    path = tmp_path / 'app.json'
    path.write_text('{"broken": \n')
    run, result = apply(ansible, path)
    assert run.rc != 0 and 'cannot parse' in result['msg'] and 'line' in result['msg'], run
    assert path.read_text() == '{"broken": \n'
    assert 'Traceback' not in run.all_output


def test_missing_parent_folder_is_a_clear_error(ansible, tmp_path):
    run, result = apply(ansible, tmp_path / 'missing' / 'app.json')
    assert run.rc != 0 and 'does not exist: create it first' in result['msg'], run


def test_validate_command_failure_keeps_old_file(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    path.write_text('[smtp]\nhost = old.example.com\n')
    run, result = apply(ansible, path, validate='grep -q never-there %s')
    assert run.rc != 0 and 'validate command failed' in result['msg'], run
    assert path.read_text() == '[smtp]\nhost = old.example.com\n'
    assert [p for p in os.listdir(tmp_path) if p.endswith('.tmp')] == []
    run, result = apply(ansible, path, validate='grep -q smtp.example.com %s')
    assert run.rc == 0 and result['changed'], run


def test_validate_output_with_the_password_is_scrubbed(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    run, result = apply(ansible, path, '-vvvv', validate='sh -c "cat %s; exit 1"')
    assert run.rc != 0 and 'validate command failed' in result['msg'], run
    assert_no_secret(run)


def test_backup_keeps_previous_file(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    path.write_text('[smtp]\nhost = old.example.com\n')
    run, result = apply(ansible, path, backup=True)
    assert run.rc == 0, run
    assert open(result['backup_file']).read() == '[smtp]\nhost = old.example.com\n'


def test_mode_owner_options_and_default_0600(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    path.write_text('[other]\n')
    os.chmod(path, 0o644)
    run, result = apply(ansible, path)
    assert run.rc == 0 and stat.S_IMODE(os.stat(path).st_mode) == 0o600, run
    run, result = apply(ansible, path, mode='0640')
    assert run.rc == 0 and result['changed'] and stat.S_IMODE(os.stat(path).st_mode) == 0o640, run


def test_state_absent_removes_only_our_block(ansible, tmp_path):
    path = tmp_path / 'app.ini'
    path.write_text('[main]\nname = myapp\n')
    assert apply(ansible, path)[0].rc == 0
    run, result = apply(ansible, path, state='absent')
    assert run.rc == 0 and result['changed'], run
    assert path.read_text() == '[main]\nname = myapp\n'
    run, result = apply(ansible, path, state='absent')
    assert run.rc == 0 and not result['changed'], run


def test_update_password_on_create_keeps_existing_secret(ansible, tmp_path):
    path = tmp_path / 'app.env'
    assert apply(ansible, path)[0].rc == 0
    run, result = apply(ansible, path, update_password='on_create', settings=dict(SETTINGS, password=NEW_PASSWORD))
    assert run.rc == 0 and result['changed'] is False, run
    assert NEW_PASSWORD not in path.read_text()
    run, result = apply(ansible, path, settings=dict(SETTINGS, password=NEW_PASSWORD))
    assert run.rc == 0 and result['changed'] and result['secret_changed'], run


def test_unknown_app_lists_known_ones(ansible, tmp_path):
    run, result = apply(ansible, tmp_path / 'x.conf', app='nginx')
    assert run.rc != 0 and "unknown app 'nginx'" in result['msg'] and 'msmtp' in result['msg'], run


def test_msmtp_profile_is_read_by_real_msmtp(ansible, tmp_path):
    path = tmp_path / 'msmtprc'
    path.write_text('# system defaults\ndefaults\nlogfile ~/.msmtp.log\n\naccount other\nhost other.example.com\nfrom other@example.com\n')
    run, result = apply(ansible, path, app='msmtp', settings=dict(SETTINGS, ca_file='/etc/ssl/certs/ca-certificates.crt'))
    assert run.rc == 0 and result['format'] == 'msmtp' and result['key'] == 'default', run
    text = path.read_text()
    assert text.startswith('# system defaults\ndefaults\nlogfile ~/.msmtp.log\n\naccount other\n')
    assert 'account default\n' in text and 'tls_starttls on\n' in text and 'auth on\n' in text
    pretend = subprocess.run(['msmtp', '-C', str(path), '--pretend', 'ops@example.com'],
                             capture_output=True, text=True, input='Subject: x\n\nbody\n', check=False)
    assert pretend.returncode == 0, pretend.stderr
    for line in ('host = smtp.example.com', 'port = 587', 'tls = on', 'tls_starttls = on', 'auth = choose',
                 'user = alerts@example.com', 'from = alerts@example.com'):
        assert line in pretend.stdout, pretend.stdout


def test_schema_compiled_once_per_run_not_per_host(ansible, tmp_path):
    """The validator is built at import; the strategy imports the action plugin before forking per host."""
    inventory = ansible.write('hosts.ini', '[apps]\n' + '\n'.join('h%d' % n for n in range(5)) +
                              '\n[apps:vars]\nansible_connection=local\n')
    text = playbook(hosts='apps', path=str(tmp_path / '{{ inventory_hostname }}.json'))
    run = ansible.playbook(text, inventory=inventory, extra_vars={'settings': dict(SETTINGS, port=0)},
                           env={'PYTHONPROFILEIMPORTTIME': '1'})
    failed = [line for line in run.stdout.splitlines()
              if line.startswith('fatal: [h') and 'settings.port: 0 is less than the minimum of 1' in line]
    assert len(failed) == 5, run
    imports = [line for line in run.stderr.splitlines() if line.endswith('plugin_utils._settings_schema')]
    assert len(imports) == 1, imports

"""App profiles through real ansible-playbook runs: several files per app, all or nothing, ownership,
and Postfix's own tools (postfix check, postmap) on the files we wrote."""
import json
import os
import shutil
import stat
import subprocess

from tests.testbed.ansible import one_task_playbook, role_playbook

PASSWORD = 'p"a\'s\\s#w;o:r%d$ x'       # every character that breaks naive quoting
SETTINGS = {
    'host': 'localhost', 'port': 2587, 'security': 'starttls', 'username': 'relay@example.test', 'password': PASSWORD,
    'from_email': 'relay@example.test', 'error_recipients': [{'email': 'ops@example.test', 'name': 'Ops'}],
}
MAIN_CF = '# our own settings\ncompatibility_level = 3.6\nmyhostname = nullclient.example.test\nrelayhost =\n'


def apply(ansible, *flags, settings=None, **task_args):
    task_args.setdefault('settings', '{{ settings }}')
    run, results = ansible.playbook_json(one_task_playbook('email_ops.smtp.smtp_config', **task_args), *flags,
                                         extra_vars={'settings': settings or SETTINGS})
    assert PASSWORD not in run.all_output
    return run, results.get('config', {}).get('localhost', {})


def postfix_dir(tmp_path):
    conf = tmp_path / 'postfix'
    conf.mkdir()
    shutil.copy('/etc/postfix/master.cf', str(conf / 'master.cf'))
    (conf / 'main.cf').write_text(MAIN_CF)
    (conf / 'virtual').write_text('abuse@example.test ops@example.test\n')
    return conf


def paths_of(conf):
    return {'main': str(conf / 'main.cf'), 'sasl_passwd': str(conf / 'sasl_passwd'), 'virtual': str(conf / 'virtual')}


def snapshot(folder):
    return dict((name, ((folder / name).read_bytes(), os.stat(str(folder / name)).st_mtime_ns))
                for name in sorted(os.listdir(str(folder))))


def test_postfix_files_pass_postfix_check_and_postmap(ansible, tmp_path):
    conf = postfix_dir(tmp_path)
    before = snapshot(conf)
    run, result = apply(ansible, '--check', '--diff', app='postfix', paths=paths_of(conf))
    assert run.rc == 0 and result['changed'] is True, run
    assert snapshot(conf) == before, 'check mode touches no file'

    run, result = apply(ansible, '--diff', app='postfix', paths=paths_of(conf))
    assert run.rc == 0 and result['changed'] is True, run
    assert sorted(result['files']) == ['main', 'sasl_passwd', 'virtual']
    assert all(item['changed'] for item in result['files'].values())
    headers = [diff['after_header'] for diff in result['diff']]
    assert headers == ['%s (content)' % path for path in paths_of(conf).values()]
    assert '********' in json.dumps(result['diff'])

    main = (conf / 'main.cf').read_text()
    assert main.startswith(MAIN_CF.replace('relayhost =\n', 'relayhost = [localhost]:2587\n'))
    assert 'smtp_sasl_password_maps = hash:%s/sasl_passwd\n' % conf in main
    assert 'sender_canonical_maps = static:relay@example.test\n' in main
    assert (conf / 'virtual').read_text() == ('abuse@example.test ops@example.test\nroot ops@example.test\n'
                                              'postmaster ops@example.test\n')
    assert stat.S_IMODE(os.stat(str(conf / 'sasl_passwd')).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(conf / 'main.cf')).st_mode) == 0o644
    # Postfix's own tools read what we wrote: the module ran postmap and postfix check; check again here.
    check = subprocess.run(['postfix', '-c', str(conf), 'check'], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    looked_up = subprocess.run(['postmap', '-c', str(conf), '-q', '[localhost]:2587', 'hash:%s/sasl_passwd' % conf],
                               capture_output=True, text=True, check=False)
    assert looked_up.stdout == 'relay@example.test:%s\n' % PASSWORD
    root = subprocess.run(['postmap', '-c', str(conf), '-q', 'root', 'hash:%s/virtual' % conf],
                          capture_output=True, text=True, check=False)
    assert root.stdout == 'ops@example.test\n'
    relayhost = subprocess.run(['postconf', '-c', str(conf), '-h', 'relayhost'], capture_output=True, text=True, check=False)
    assert relayhost.stdout == '[localhost]:2587\n'

    written = snapshot(conf)
    run, result = apply(ansible, '--check', app='postfix', paths=paths_of(conf))
    assert run.rc == 0 and result['changed'] is False, run
    run, result = apply(ansible, app='postfix', paths=paths_of(conf))
    assert run.rc == 0 and result['changed'] is False, run
    assert not any(item['changed'] for item in result['files'].values())
    assert snapshot(conf) == written, 'a second run rewrites nothing'

    # a key we do not own, added by hand, survives a change of ours
    (conf / 'main.cf').write_text(main + 'smtp_tls_loglevel = 1\n')
    run, result = apply(ansible, app='postfix', paths=paths_of(conf), settings=dict(SETTINGS, port=2465, security='ssl'))
    assert run.rc == 0 and result['files']['main']['changed'] and result['files']['sasl_passwd']['changed'], run
    main = (conf / 'main.cf').read_text()
    assert 'smtp_tls_loglevel = 1\n' in main and 'smtp_tls_wrappermode = yes\n' in main and '# our own settings\n' in main


def test_failed_postfix_check_restores_every_file(ansible, tmp_path):
    conf = postfix_dir(tmp_path)
    os.unlink(str(conf / 'master.cf'))   # postfix check fails without master.cf
    before = snapshot(conf)
    run, result = apply(ansible, app='postfix', paths=paths_of(conf))
    assert run.rc != 0 and 'postfix check failed' in result['msg'] and 'restored' in result['msg'], run
    assert snapshot(conf).keys() >= before.keys()
    for name, (content, _mtime) in before.items():
        assert (conf / name).read_bytes() == content
    assert not (conf / 'sasl_passwd').exists(), 'a file this run created is removed again'


TWO_FILES = '''description: two files, the second one validated
files:
  - id: first
    path: %(dir)s/first.conf
    formats: [assign]
    own: keys
    entries:
      host: host
  - id: second
    path: %(dir)s/second.conf
    formats: [equals]
    own: keys
    validate: "%(validate)s %%s"
    entries:
      mailhub: "{{ host }}:{{ port }}"
'''


def test_user_profile_beside_playbook_and_second_file_failure_leaves_first(ansible, tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    (data / 'first.conf').write_text('keep = me\nhost = old\n')
    ansible.write('profiles/twofiles.yml', TWO_FILES % {'dir': data, 'validate': 'false'})
    run, result = apply(ansible, profile='twofiles.yml')
    assert run.rc != 0 and 'validate command failed' in result['msg'] and 'second' in result['msg'], run
    assert (data / 'first.conf').read_text() == 'keep = me\nhost = old\n'
    assert not (data / 'second.conf').exists()

    ansible.write('profiles/twofiles.yml', TWO_FILES % {'dir': data, 'validate': 'grep -q mailhub='})
    run, result = apply(ansible, profile='twofiles.yml')
    assert run.rc == 0 and result['app'] == 'twofiles' and result['changed'], run
    assert (data / 'first.conf').read_text() == 'keep = me\nhost = localhost\n'
    assert (data / 'second.conf').read_text() == 'mailhub=localhost:2587\n'
    run, result = apply(ansible, profile='twofiles.yml')
    assert run.rc == 0 and result['changed'] is False, run


def test_bad_profile_is_one_clear_error(ansible, tmp_path):
    ansible.write('profiles/bad.yml', 'description: bad\nfiles:\n  - id: main\n    formats: [xml]\n    entries: {}\n')
    run, result = apply(ansible, profile='bad.yml', path=str(tmp_path / 'x.conf'))
    assert run.rc != 0 and 'bad.yml is not a valid app profile' in result['msg'] and '$.files[0].formats[0]' in result['msg'], run
    assert 'Traceback' not in run.all_output
    run, result = apply(ansible, profile='missing.yml', path=str(tmp_path / 'x.conf'))
    assert run.rc != 0 and 'profile missing.yml not found' in result['msg'], run


def test_missing_default_folder_is_a_clear_error(ansible, tmp_path):
    paths = {'main': str(tmp_path / 'nope' / 'main.cf'), 'sasl_passwd': str(tmp_path / 's'), 'virtual': str(tmp_path / 'v')}
    run, result = apply(ansible, '--check', app='postfix', paths=paths)
    assert run.rc != 0 and 'postfix file main' in result['msg'] and 'does not exist: create it first' in result['msg'], run


def test_missing_folder_of_a_default_path_is_a_clear_error(ansible):
    assert not os.path.exists('/etc/dma'), 'this test needs a host without dma'
    run, result = apply(ansible, '--check', app='dma')
    assert run.rc != 0 and 'dma file conf (/etc/dma/dma.conf)' in result['msg'], run
    assert 'the folder /etc/dma does not exist: create it first' in result['msg'], run


def test_app_that_cannot_express_a_setting_fails_naming_app_and_setting(ansible, tmp_path):
    run, result = apply(ansible, '--check', app='ssmtp',
                        paths={'main': str(tmp_path / 'ssmtp.conf'), 'revaliases': str(tmp_path / 'revaliases')})
    assert run.rc != 0 and 'app ssmtp cannot express' in result['msg'] and 'password' in result['msg'], run
    assert not (tmp_path / 'ssmtp.conf').exists()


def test_warning_for_an_app_that_cannot_verify(ansible, tmp_path):
    conf = tmp_path / 'dma'
    conf.mkdir()
    paths = {'conf': str(conf / 'dma.conf'), 'auth': str(conf / 'auth.conf'), 'aliases': str(conf / 'aliases')}
    run, result = apply(ansible, app='dma', paths=paths, group=None)
    assert run.rc == 0, run
    assert any('dma does not verify' in warning for warning in result.get('warnings', [])), result
    assert (conf / 'auth.conf').read_text() == 'relay@example.test|localhost:%s\n' % PASSWORD


def test_msmtp_mta_files_are_read_by_real_msmtp(ansible, tmp_path):
    paths = {'main': str(tmp_path / 'msmtprc'), 'aliases': str(tmp_path / 'aliases')}
    (tmp_path / 'aliases').write_text('postmaster: root\n')
    run, result = apply(ansible, app='msmtp-mta', paths=paths)
    assert run.rc == 0 and result['changed'] and result['service'] == {'action': 'none'}, run
    assert (tmp_path / 'aliases').read_text() == 'postmaster: root\nroot: ops@example.test\ndefault: ops@example.test\n'
    pretend = subprocess.run(['msmtp', '-C', paths['main'], '--pretend', 'root'], capture_output=True, text=True,
                             input='Subject: x\n\nbody\n', check=False)
    assert pretend.returncode == 0, pretend.stderr
    for line in ('host = localhost', 'port = 2587', 'tls_starttls = on', 'from = relay@example.test',
                 'set_from_header = on', 'aliases = %s' % paths['aliases'], 'password = *'):
        assert line in pretend.stdout, pretend.stdout
    run, result = apply(ansible, app='msmtp-mta', paths=paths)
    assert run.rc == 0 and result['changed'] is False, run


BILLING = '''\
description: Billing app, JSON config
service: {action: command, command: "touch %s"}
files:
  - id: main
    formats: [json]
    key: mail
    own: block
    entries:
      server: "{{ host }}:{{ port }}"
'''


def test_app_named_by_a_profile_beside_the_playbook(ansible, tmp_path):
    """app: billing is profiles/billing.yml beside the playbook, for the module as for the role's service defaults
    (lookup email_ops.smtp.app_profile); a name that is neither there nor in the collection is one clear error."""
    marker = tmp_path / 'reloaded'
    ansible.write('profiles/billing.yml', BILLING % marker)
    config = tmp_path / 'billing.json'
    run, result = apply(ansible, app='billing', path=str(config), verify='none')
    assert run.rc == 0 and result['app'] == 'billing' and result['changed'], run
    assert json.loads(config.read_text()) == {'mail': {'server': 'localhost:2587'}}

    playbook = '''
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: service
      ansible.builtin.debug:
        msg: "{{ lookup('email_ops.smtp.app_profile', 'billing').service }}"
    - name: collection
      ansible.builtin.debug:
        msg: "{{ lookup('email_ops.smtp.app_profile', 'postfix').service }}"
    - name: user file
      ansible.builtin.debug:
        msg: "{{ lookup('email_ops.smtp.app_profile', '', profile='billing.yml').description }}"
    - name: unknown
      ansible.builtin.debug:
        msg: "{{ lookup('email_ops.smtp.app_profile', 'nope') }}"
      ignore_errors: true
'''
    run, results = ansible.playbook_json(playbook)
    assert run.rc == 0, run
    assert results['service']['localhost']['msg'] == {'action': 'command', 'command': 'touch %s' % marker}
    assert results['collection']['localhost']['msg'] == {'action': 'reload', 'name': 'postfix'}
    assert results['user file']['localhost']['msg'] == 'Billing app, JSON config'
    assert "unknown app 'nope'" in results['unknown']['localhost']['msg'] and 'Traceback' not in run.all_output

    config.unlink()
    role = role_playbook(smtp_settings='{{ settings }}', smtp_app='billing', smtp_config_path=str(config),
                         smtp_verify='none')
    run, _results = ansible.playbook_json(role, extra_vars={'settings': SETTINGS})
    assert run.rc == 0 and marker.exists(), 'the service command of profiles/billing.yml ran: %r' % run
    assert PASSWORD not in run.all_output


def test_role_runs_no_handler_for_an_app_that_reads_its_file_on_every_use(ansible, tmp_path):
    """generic has no service step: the changed file notifies nothing (a skipped handler would still cost every
    changed host a round of the strategy)."""
    role = role_playbook(smtp_settings='{{ settings }}', smtp_config_path=str(tmp_path / 'app.json'), smtp_verify='none')
    run = ansible.playbook(role, extra_vars={'settings': SETTINGS})
    assert run.rc == 0 and 'changed=1' in run.stdout, run
    assert 'RUNNING HANDLER' not in run.stdout, run

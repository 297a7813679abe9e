"""Every relay profile through the module's own multi-file code (AppFiles over ConfigFile), on real files in a
temp folder, with the module's real AnsibleModule (only the apps' commands recorded): what we do not own survives, a second run changes nothing on
any file, check mode touches nothing, commands run only after a change, and a failure restores every file."""
import json
import os
import stat

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.email_ops.smtp.plugins.module_utils._app_files import AppFiles
from ansible_collections.email_ops.smtp.plugins.module_utils._config_file import ConfigError
from ansible_collections.email_ops.smtp.plugins.module_utils._settings_module import SettingsModule
from ansible_collections.email_ops.smtp.plugins.modules import smtp_config
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import get_profile, render_plan

PASSWORD = 'p"a\'s\\s;o:r%d$'
SETTINGS = dict(host='smtp.example.com', port=587, username='relay@example.com', password=PASSWORD,
                from_email='alerts@example.com', error_recipients=[{'email': 'ops@example.com'}])
# What the admin already has in each file: none of it is ours, all of it must survive.
FOREIGN = {
    ('postfix', 'main'): '# Debian\nmyhostname = h.example.com\nsmtpd_banner = $myhostname ESMTP\n',
    ('postfix', 'virtual'): 'abuse ops@example.com\n',
    ('dma', 'conf'): '# dma\nSPOOLDIR /var/spool/dma\n',
    ('dma', 'aliases'): 'postmaster: root\n',
    ('exim4', 'conf'): "dc_other_hostnames='h.example.com'\ndc_local_interfaces='127.0.0.1'\n",
    ('exim4', 'macros'): 'MAIN_TLS_ENABLE = 1\n',
    ('exim4', 'aliases'): 'postmaster: root\n',
    ('exim4', 'email_addresses'): 'www-data: web@example.com\n',
    ('opensmtpd', 'aliases'): 'postmaster: root\n',
    ('ssmtp', 'main'): '# ssmtp\nDebug=NO\n',
    ('ssmtp', 'revaliases'): 'www-data:web@example.com:smtp.example.com:587\n',
    ('msmtp-mta', 'main'): '# system\ndefaults\nlogfile /var/log/msmtp\n\naccount other\nhost other.example.com\n',
    ('msmtp-mta', 'aliases'): 'postmaster: root\n',
}
RELAYS = ['postfix', 'nullmailer', 'dma', 'exim4', 'opensmtpd', 'ssmtp', 'msmtp-mta']


class RecordingModule(SettingsModule):
    """The real AnsibleModule of smtp_config (file helpers, check mode, diff, masking); only the app's own commands
    (postmap, postfix check, update-exim4.conf), which are not installed here, are recorded instead of run."""

    def __init__(self, plan, settings, check_mode=False, fail_on=None):
        args = dict(settings=settings, app=plan['app'], plan=plan, _ansible_check_mode=check_mode, _ansible_diff=True)
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args}))  # pylint: disable=protected-access
        if hasattr(basic, '_ANSIBLE_PROFILE'):  # ansible-core 2.19+: how the arguments are serialized
            basic._ANSIBLE_PROFILE = 'legacy'  # pylint: disable=protected-access
        super(RecordingModule, self).__init__(argument_spec=smtp_config.argument_spec(), add_file_common_args=True,
                                              supports_check_mode=True)
        self.commands, self.fail_on = [], fail_on

    def run_command(self, args, *unused, **kwargs):  # pylint: disable=arguments-differ
        self.commands.append(args)
        return (1, '', 'refused') if self.fail_on and self.fail_on in args else (0, '', '')


def plan_for(app, folder, settings=None):
    paths = dict((item['id'], str(folder / item['id'])) for item in get_profile(app)['files'])
    plan, _warnings = render_plan(app, get_profile(app), settings or SETTINGS, paths=paths,
                                  overrides={'owner': None, 'group': None})
    for spec in plan['files']:
        spec['owner'] = spec['group'] = None  # the test user need not have the apps' groups
    return plan


def state(folder):
    found = {}
    for name in sorted(os.listdir(str(folder))):
        info = os.stat(str(folder / name))
        found[name] = ((folder / name).read_text(), info.st_mtime_ns, stat.S_IMODE(info.st_mode))
    return found


@pytest.mark.parametrize('app', RELAYS)
def test_relay_files_four_runs(app, tmp_path):
    for (name, file_id), text in FOREIGN.items():
        if name == app:
            (tmp_path / file_id).write_text(text)
    plan = plan_for(app, tmp_path)
    before = state(tmp_path)

    module = RecordingModule(plan, SETTINGS, check_mode=True)
    result = AppFiles(module).run()
    assert result['changed'] and state(tmp_path) == before and module.commands == []
    assert len(result['diff']) == len(plan['files']) > 1

    module = RecordingModule(plan, SETTINGS)
    result = AppFiles(module).run()
    assert result['changed'] and sorted(result['files']) == sorted(item['id'] for item in plan['files'])
    assert PASSWORD in module.no_log_values
    for (name, file_id), text in FOREIGN.items():
        if name == app:
            written = (tmp_path / file_id).read_text()
            for line in text.splitlines(True):
                assert line in written, '%s %s lost %r' % (app, file_id, line)
    expected = [spec['after_change'] for spec in plan['files'] if spec.get('after_change')] + plan['checks']
    assert module.commands == expected
    assert PASSWORD not in repr(result['diff'])
    written = state(tmp_path)

    for check_mode in (True, False):
        module = RecordingModule(plan, SETTINGS, check_mode=check_mode)
        result = AppFiles(module).run()
        assert result['changed'] is False and not any(item['changed'] for item in result['files'].values())
        assert state(tmp_path) == written and module.commands == []


@pytest.mark.parametrize('app', ['postfix', 'exim4', 'opensmtpd'])
def test_failed_check_restores_every_file(app, tmp_path):
    for (name, file_id), text in FOREIGN.items():
        if name == app:
            (tmp_path / file_id).write_text(text)
    before = dict((name, text) for name, (text, _mtime, _mode) in state(tmp_path).items())
    plan = plan_for(app, tmp_path)
    module = RecordingModule(plan, SETTINGS, fail_on=plan['checks'][0].split()[0])
    with pytest.raises(ConfigError, match='check failed with rc 1: refused; the files were restored'):
        AppFiles(module).run()
    after = dict((name, text) for name, (text, _mtime, _mode) in state(tmp_path).items())
    assert after == before


def test_changed_settings_touch_only_the_files_they_concern(tmp_path):
    plan = plan_for('postfix', tmp_path)
    AppFiles(RecordingModule(plan, SETTINGS)).run()
    changed = dict(SETTINGS, error_recipients=[{'email': 'noc@example.com'}])
    module = RecordingModule(plan_for('postfix', tmp_path, changed), changed)
    result = AppFiles(module).run()
    assert [name for name, item in sorted(result['files'].items()) if item['changed']] == ['virtual']
    assert module.commands == ['postmap -c %s hash:%s' % (tmp_path, tmp_path / 'virtual'), 'postfix -c %s check' % tmp_path]


def test_a_file_refused_by_its_validate_command_stops_every_rename(tmp_path):
    """Each new file is validated in a `.check` copy beside it before the first rename; a refusal leaves every
    file as it was, names the file, and no copy (it holds the password) is left behind."""
    (tmp_path / 'main').write_text(FOREIGN[('postfix', 'main')])
    before = dict((name, text) for name, (text, _mtime, _mode) in state(tmp_path).items())
    plan = plan_for('postfix', tmp_path)
    plan['files'][1]['validate'] = 'refuse-sasl %s'  # sasl_passwd, validated after main.cf
    module = RecordingModule(plan, SETTINGS, fail_on='refuse-sasl')
    with pytest.raises(ConfigError, match='postfix file sasl_passwd .*validate command failed with rc 1'):
        AppFiles(module).run()
    assert dict((name, text) for name, (text, _mtime, _mode) in state(tmp_path).items()) == before
    (checked,) = [command for command in module.commands if command.startswith('refuse-sasl')]
    assert checked.startswith('refuse-sasl %s/.sasl_passwd.' % tmp_path) and checked.endswith('.check'), checked

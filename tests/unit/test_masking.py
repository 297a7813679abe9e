# -*- coding: utf-8 -*-
"""_masking: every form a secret takes is known, registered with the module, and scrubbed."""
import base64
import json
import logging
import shlex
import sys
import syslog

import pytest
import yaml

from ansible.module_utils import basic

from ansible_collections.email_ops.smtp.plugins.module_utils import _masking
from ansible_collections.email_ops.smtp.plugins.module_utils._formats import get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MASK, register_secret, scrub, secret_forms
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import add_secret, protect_secrets, settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.module_utils._settings_module import SettingsModule

# Every character a quoting style treats specially, whitespace runs and a non-ASCII letter.
PASSWORD = 'Pa"ss\'w\\rd $HOME `id` #h ;s  \u00e9\u20ac!'
USER = 'alerts@example.com'


def leaks(text, secret=PASSWORD):
    """The forms of `secret` still readable in `text` after scrubbing."""
    cleaned = scrub(text, [secret])
    return [form for form in secret_forms(secret, USER) if form in cleaned]


@pytest.mark.parametrize('name', ['json', 'yaml', 'ini', 'env', 'msmtp'])
def test_each_format_writes_a_form_we_know(name):
    """What _formats really writes for the password is one of the forms, and scrubbing removes it."""
    text = get_format(name).write_block('', 'smtp' if name != 'env' else 'SMTP_', {'host': 'h', 'password': PASSWORD})
    assert any(form in text for form in secret_forms(PASSWORD)), text
    assert leaks(text) == []
    assert 'host' in scrub(text, [PASSWORD]).lower()


@pytest.mark.parametrize('encode', [
    json.dumps,
    lambda p: json.dumps(p, ensure_ascii=False),
    lambda p: json.dumps({'password': p}),
    lambda p: yaml.safe_dump({'password': p}),
    lambda p: yaml.safe_dump({'password': p}, allow_unicode=True),
    lambda p: yaml.safe_dump({'password': p}, default_style='"'),
    lambda p: yaml.safe_dump({'password': p}, default_style="'", allow_unicode=True),
    repr,
    lambda p: repr({'password': p}),
    lambda p: str([p]),
    ascii,
    lambda p: repr(p.encode('utf-8')),
    shlex.quote,
    lambda p: 'export PASSWORD="%s"' % p.replace('\\', '\\\\').replace('"', '\\"').replace('$', '\\$').replace('`', '\\`'),
    lambda p: base64.b64encode(p.encode()).decode(),
    lambda p: base64.b64encode(('\0%s\0%s' % (USER, p)).encode()).decode(),
    lambda p: base64.b64encode(('user=%s\x01auth=Bearer %s\x01\x01' % (USER, p)).encode()).decode(),
    lambda p: base64.b64encode(('n,a=%s,\x01auth=Bearer %s\x01\x01' % (USER, p)).encode()).decode(),
    lambda p: '535 5.7.8 %s rejected' % ' '.join(p.split()),
])
def test_known_encodings_are_masked(encode):
    text = encode(PASSWORD)
    cleaned = scrub(text, [PASSWORD])
    assert MASK in cleaned
    assert leaks(text) == []


@pytest.mark.parametrize('prefix', [b'', b'x', b'xy', b'AUTH:'])
def test_base64_inside_a_longer_blob_is_masked_at_any_alignment(prefix):
    blob = base64.b64encode(prefix + PASSWORD.encode('utf-8') + b' and more bytes after it').decode()
    assert MASK in scrub(blob, [PASSWORD])


def test_whitespace_normalised_form_a_server_echoes():
    secret = '  two   words\tand  tab '
    assert scrub('535 bad password two words and tab here', [secret]) == '535 bad password %s here' % MASK


def test_longest_form_is_masked_first_leaving_no_tail():
    secret = 'abc"defgh'
    text = json.dumps({'p': secret}) + ' ' + secret
    assert scrub(text, [secret]) == '{"p": "%s"} %s' % (MASK, MASK)


def test_short_derived_forms_are_left_out_but_the_raw_value_is_kept():
    forms = secret_forms('a"')
    assert 'a"' in forms
    assert all(len(form) >= _masking.MIN_FORM_LENGTH for form in forms - {'a"'})
    assert secret_forms('') == set() and secret_forms(None) == set()


def test_non_string_secret_is_masked_as_text():
    assert '12345' in secret_forms(12345)


def test_forms_are_computed_without_pyyaml(monkeypatch):
    monkeypatch.setitem(sys.modules, 'yaml', None)  # `import yaml` raises ImportError
    forms = secret_forms(PASSWORD)
    assert json.dumps(PASSWORD)[1:-1] in forms and PASSWORD in forms


class FakeModule:
    def __init__(self):
        self.no_log_values = set()


def test_register_secret_adds_every_form():
    module = FakeModule()
    register_secret(module, PASSWORD, USER)
    assert module.no_log_values == secret_forms(PASSWORD, USER)
    assert json.dumps(PASSWORD)[1:-1] in module.no_log_values


def test_settings_helpers_register_every_form():
    module = FakeModule()
    protect_secrets(module, {'username': USER, 'password': PASSWORD})
    assert base64.b64encode(('\0%s\0%s' % (USER, PASSWORD)).encode()).decode() in module.no_log_values
    other = FakeModule()
    add_secret(other, 'from-the-file"\\')
    assert 'from-the-file\\"\\\\' in other.no_log_values
    protect_secrets(other, 'not a mapping')  # nothing to register, no exception
    add_secret(other, None)
    add_secret(other, '')


def test_ansible_remove_values_scrubs_every_form_in_a_result():
    """What exit_json/fail_json do with no_log_values: the result, diff and warnings come out clean."""
    module = FakeModule()
    register_secret(module, PASSWORD, USER)
    result = {
        'msg': 'validate failed: %s' % json.dumps({'password': PASSWORD}),
        'diff': {'before': yaml.safe_dump({'password': PASSWORD}), 'after': repr(PASSWORD)},
        'warnings': ['server said %s' % base64.b64encode(PASSWORD.encode()).decode()],
    }
    cleaned = json.dumps(basic.remove_values(result, module.no_log_values))
    assert not any(form in cleaned for form in [PASSWORD, json.dumps(PASSWORD)[1:-1], repr(PASSWORD)[1:-1]])
    assert not [form for form in secret_forms(PASSWORD, USER) if form in cleaned]


def test_settings_module_logs_the_invocation_without_any_form(monkeypatch, capsys):
    """ansible-core logs `settings` as its repr to syslog/journal; SettingsModule registers the forms first."""
    logged = []
    monkeypatch.setattr(basic, 'has_journal', False)
    monkeypatch.setattr(syslog, 'syslog', lambda priority, message: logged.append(message))
    settings = {'host': 'smtp.example.com', 'from_email': 'a@example.com', 'username': USER, 'password': PASSWORD}
    args = json.dumps({'ANSIBLE_MODULE_ARGS': {'settings': settings, '_ansible_no_log': False}})
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', args.encode('utf-8'))
    if hasattr(basic, '_ANSIBLE_PROFILE'):
        monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy')

    plain = basic.AnsibleModule(argument_spec=settings_argument_spec())
    assert len(logged) == 1 and "'security': 'starttls'" in logged[0]
    # ansible-core alone: the raw value is masked, its repr escape is not
    assert PASSWORD not in logged[0] and repr(PASSWORD)[1:-1] in logged[0]
    assert plain.params['settings']['password'] == PASSWORD

    logged[:] = []
    ours = SettingsModule(argument_spec=settings_argument_spec())
    assert len(logged) == 1 and "'security': 'starttls'" in logged[0]
    assert [form for form in secret_forms(PASSWORD, USER) if form in logged[0]] == []
    assert ours.params['settings']['password'] == PASSWORD
    logging.shutdown()


def test_mask_secrets_filter_masks_texts_lists_and_mappings():
    from ansible.errors import AnsibleFilterError
    from ansible_collections.email_ops.smtp.plugins.filter.mask_secrets import FilterModule
    mask = FilterModule().filters()['mask_secrets']
    settings = {'host': 'h', 'username': USER, 'password': PASSWORD}
    shown = mask({'stderr': 'bad line: password = "%s"' % json.dumps(PASSWORD)[1:-1], 'rc': 3,
                  'lines': [PASSWORD, 'ok']}, settings)
    assert shown == {'stderr': 'bad line: password = "%s"' % MASK, 'rc': 3, 'lines': [MASK, 'ok']}
    assert mask('nothing secret', {'host': 'h'}) == 'nothing secret'
    with pytest.raises(AnsibleFilterError, match='needs the settings document'):
        mask('x', 'not a mapping')


def test_masking_runs_on_python_3_6(tmp_path):
    """_masking runs on managed hosts: the oldest Python we support computes the same forms, and _settings
    (which the SMTP client imports) needs no ansible-core to import."""
    import os
    import subprocess
    from tests.conftest import COLLECTIONS_ROOT
    python36 = os.path.expanduser('~/.pyenv/versions/3.6.15/bin/python')
    script = ('import json, sys\n'
              'sys.modules["yaml"] = None\n'  # the managed host may lack PyYAML
              'from ansible_collections.email_ops.smtp.plugins.module_utils._masking import secret_forms\n'
              'from ansible_collections.email_ops.smtp.plugins.module_utils import _settings\n'
              'print(json.dumps(sorted(secret_forms(%r, %r))))\n' % (PASSWORD, USER))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT, PYTHONIOENCODING='utf-8')
    done = subprocess.run([python36, '-c', script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert done.returncode == 0, done.stderr.decode()
    old = set(json.loads(done.stdout.decode()))
    from unittest import mock
    with mock.patch.dict(sys.modules, {'yaml': None}):
        assert old == secret_forms(PASSWORD, USER)

"""The settings schema and its messages: every problem at once, each with its path, no secret repeated."""
import json
import os
import subprocess
import sys

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import (
    SCHEMA, format_problems, validate_settings,
)
from tests.conftest import REPO

SECRET = 'Hunter2-Secret!'
GOOD = {'host': 'smtp.example.com', 'from_email': 'app@example.com'}


def problems(**changes):
    settings = dict(GOOD, **changes)
    return dict((p['path'], p['message']) for p in validate_settings(settings))


def test_minimal_document_is_valid():
    assert validate_settings(GOOD) == []


def test_full_document_is_valid():
    full = dict(GOOD, connection_type='smtp', port=465, security='ssl', auth_method='cram-md5', username='u',
                password=SECRET, from_name='App', test_email='t@example.com', timeout=10, validate_certs=False,
                ca_file='/etc/ssl/ca.pem', helo_name='app.example.com', allow_insecure_auth=False,
                error_recipients=[{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com'}])
    assert validate_settings(full) == []


def test_port_out_of_range_says_the_limit():
    assert problems(port=70000) == {'settings.port': '70000 is greater than the maximum of 65535'}


def test_every_problem_is_reported_at_once_sorted_by_path():
    found = validate_settings({'hots': 'smtp.example.com', 'port': 0, 'security': 'tls', 'from_email': 'nope'})
    paths = [p['path'] for p in found]
    assert paths == sorted(paths)
    assert set(paths) == {'settings.from_email', 'settings.host', 'settings.hots', 'settings.port', 'settings.security'}


def test_unknown_key_suggests_the_known_one():
    message = problems(hots='x')['settings.hots']
    assert "did you mean 'host'" in message and 'known keys:' in message


def test_missing_required_key_is_named_by_its_path():
    assert validate_settings({'host': 'h'}) == [{'path': 'settings.from_email', 'message': 'is required'}]


@pytest.mark.parametrize('key', ['host', 'username', 'from_name', 'helo_name', 'ca_file'])
def test_cr_lf_refused_in_every_string(key):
    found = problems(**{key: "evil\r\nBcc: victim@example.com"}) if key != "username" else problems(username="a\nb")
    assert 'settings.%s' % key in found


def test_cr_lf_in_address_and_nested_name_refused():
    found = problems(from_email='a@example.com\nBcc: x@example.com',
                     error_recipients=[{'email': 'ops@example.com', 'name': 'Ops\r\nX-Evil: 1'}])
    assert set(found) == {'settings.from_email', 'settings.error_recipients[0].name'}


def test_auth_method_needs_username():
    assert problems(auth_method='login') == {'settings.username': 'auth_method login needs a username'}


def test_password_over_plaintext_needs_explicit_consent():
    found = problems(security='none', username='u', password=SECRET)
    assert list(found) == ['settings.allow_insecure_auth']
    assert 'clear text' in found['settings.allow_insecure_auth']
    assert problems(security='none', username='u', password=SECRET, allow_insecure_auth=True) == {}
    assert problems(security='none', auth_method='none', username='u', password=SECRET) == {}


@pytest.mark.parametrize('address', ['nope', 'a@b', 'a b@example.com', '<a@example.com>'])
def test_bad_addresses_refused(address):
    assert 'settings.test_email' in problems(test_email=address)


@pytest.mark.parametrize('host', ['bad host', 'under_score.example.com', '-x.example.com'])
def test_bad_host_refused(host):
    assert 'settings.host' in problems(host=host)


@pytest.mark.parametrize('host', ['127.0.0.1', '::1', 'localhost', 'smtp.office365.com'])
def test_good_hosts_accepted(host):
    assert problems(host=host) == {}


def test_secret_never_repeated_in_messages():
    for bad in ([SECRET], SECRET + '\n', {'x': SECRET}):
        found = validate_settings(dict(GOOD, username='u', password=bad, security='none'))
        text = format_problems(found) + json.dumps(found)
        assert SECRET not in text
        assert 'settings.password' in text


def test_wrong_type_of_document():
    assert validate_settings('smtp.example.com') == [
        {'path': 'settings', 'message': '"smtp.example.com" is not of type object'}]
    assert validate_settings(None) == [{'path': 'settings', 'message': 'is required'}]


def test_argument_spec_mirrors_schema():
    """Module-side spec and JSON Schema agree on keys, defaults and choices."""
    options = settings_argument_spec()['settings']['options']
    properties = SCHEMA['properties']
    assert set(options) == set(properties)
    for key, prop in properties.items():
        assert options[key].get('default') == prop.get('default'), key
        if 'enum' in prop:
            assert options[key]['choices'] == prop['enum'], key
    assert set(SCHEMA['required']) == set(k for k, o in options.items() if o.get('required'))


def test_schema_is_valid_2020_12_with_id():
    from jsonschema import Draft202012Validator
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA['$schema'].endswith('2020-12/schema') and SCHEMA['$id']


def test_vars_file_checked_without_ansible(tmp_path):
    """A GitOps pipeline runs check-jsonschema on group_vars with the same schema."""
    good = tmp_path / 'good.yml'
    good.write_text('smtp_settings:\n  host: smtp.example.com\n  from_email: app@example.com\nother_var: 1\n')
    bad = tmp_path / 'bad.yml'
    bad.write_text('smtp_settings:\n  host: smtp.example.com\n  from_email: app@example.com\n  port: 70000\n')
    cli = os.path.join(os.path.dirname(sys.executable), 'check-jsonschema')
    schema = os.path.join(REPO, 'schemas', 'smtp_vars.schema.json')
    ok = subprocess.run([cli, '--schemafile', schema, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ko = subprocess.run([cli, '--schemafile', schema, str(bad)], capture_output=True, text=True, check=False)
    assert ko.returncode == 1
    assert '$.smtp_settings.port: 70000 is greater than the maximum of 65535' in ko.stdout


@pytest.mark.parametrize('key', ['host', 'from_email', 'from_name', 'password'])
def test_trailing_newline_refused(key):
    """Python's `$` matches before a final newline; the schema must not rely on it."""
    assert 'settings.%s' % key in problems(username='u', **{key: dict(GOOD, from_name='A', password='p').get(key) + '\n'})

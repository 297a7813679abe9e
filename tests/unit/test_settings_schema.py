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


def test_auth_method_needs_username_and_password():
    found = validate_settings(dict(GOOD, auth_method='login', password=SECRET))
    assert [p['path'] for p in found] == ['settings.username', 'settings.username']
    assert 'auth_method login needs a username' in [p['message'] for p in found]
    found = problems(auth_method='plain', username='u')
    assert list(found) == ['settings.password'] and 'auth_method plain needs a password' in found['settings.password']
    assert problems(auth_method='xoauth2', username='u', password=SECRET) == {}


@pytest.mark.parametrize('security', ['starttls', 'ssl', 'none'])
def test_username_without_password_means_no_auth(security):
    """The rule the SMTP client matches: a username alone is accepted with auth_method auto or none, and no AUTH is sent."""
    assert problems(security=security, username='u') == {}
    assert problems(security=security, username='u', auth_method='none') == {}
    assert list(problems(security=security, username='u', auth_method='cram-md5')) == ['settings.password']


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
        {'path': 'settings', 'message': 'must be a mapping (the settings document), not a string of 16 characters; '
                                        'if it holds JSON or YAML, parse it first (settings: "{{ smtp_settings | from_json }}"), '
                                        'or pass the variable itself (settings: "{{ smtp_settings }}")'}]
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


# --- issue 7: nothing echoed, every input handled, everything refused that the module cannot handle ------------

DOC_WITH_SECRET = dict(GOOD, username='u', password=SECRET)


@pytest.mark.parametrize('document', [
    json.dumps(DOC_WITH_SECRET),  # settings given as a JSON string
    'host=smtp.example.com password=%s' % SECRET,  # key=value string, as AnsibleModule would parse it
    [DOC_WITH_SECRET],  # a lookup's result (a list)
    [json.dumps(DOC_WITH_SECRET)],
    12345, 1.5, True,
])
def test_a_document_that_is_not_a_mapping_is_never_echoed(document):
    found = validate_settings(document)
    assert len(found) == 1 and found[0]['path'] == 'settings'
    assert found[0]['message'].startswith('must be a mapping (the settings document), not ')
    text = json.dumps(found)
    assert SECRET not in text and 'smtp.example.com' not in text


@pytest.mark.parametrize('key', ['host', 'port', 'username', 'from_email', 'from_name', 'test_email', 'timeout',
                                 'validate_certs', 'ca_file', 'helo_name', 'allow_insecure_auth', 'security',
                                 'auth_method', 'error_recipients', 'connection_type'])
@pytest.mark.parametrize('value', [[SECRET * 5], {'nested': SECRET}, 3.5, ['x', SECRET * 5 + '\n'], None])
def test_wrong_type_at_any_key_says_the_path_and_never_a_long_value(key, value):
    found = dict((p['path'], p['message']) for p in validate_settings(dict(DOC_WITH_SECRET, **{key: value})))
    assert any(path.startswith('settings.%s' % key) for path in found), found
    assert SECRET not in json.dumps(found)


def test_password_of_wrong_type_is_never_shown():
    for value in ([SECRET], {'a': SECRET}, 12345678901234567890, SECRET * 10000 + '\n'):
        found = validate_settings(dict(DOC_WITH_SECRET, password=value))
        assert 'settings.password' in json.dumps(found)
        assert SECRET not in json.dumps(found) and '12345678901234567890' not in json.dumps(found)


def test_huge_string_is_described_not_repeated():
    huge = 'x' * 100000
    found = validate_settings(dict(GOOD, host=huge, from_name=huge + '\n', **{huge: huge}))
    text = json.dumps(found)
    assert len(text) < 3000, text[:500]
    assert set(p['path'] for p in found) == {'settings.host', 'settings.from_name', 'settings.<a key of 100000 characters>'}
    assert 'a string of 100000 characters' in text


@pytest.mark.parametrize('port', [99999999999999999999999, 10 ** 5000, -10 ** 5000], ids=['23-digits', '5001-digits', 'negative'])
def test_numbers_with_many_digits_are_described(port):
    found = problems(port=port)
    assert list(found) == ['settings.port']
    assert found['settings.port'].startswith('a number of more than 18 digits is ')
    assert 'maximum of 65535' in found['settings.port'] or 'minimum of 1' in found['settings.port']


def test_digit_strings_are_read_as_the_module_would_without_int_limits():
    from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import _templated_scalars
    assert _templated_scalars(dict(GOOD, port='587'))['port'] == 587
    assert _templated_scalars(dict(GOOD, port=' 25 '))['port'] == 25
    for text in ('9' * 5000, '99999999999999999999999', '\u00b2', '\u0663', '1_000'):  # superscript 2, Arabic 3
        converted = _templated_scalars(dict(GOOD, port=text))
        assert converted['port'] == text
        found = validate_settings(converted)
        assert [p['path'] for p in found] == ['settings.port']
        assert text not in json.dumps(found) or len(text) <= 64
    found = validate_settings(_templated_scalars(dict(GOOD, port='9' * 5000)))
    assert found == [{'path': 'settings.port', 'message': 'a string of 5000 characters is not of type integer'}]


def test_deep_nesting_is_refused_with_a_path():
    deep = ['x']
    for _unused in range(5000):
        deep = [deep]
    found = validate_settings(dict(GOOD, error_recipients=deep))
    assert len(found) == 1 and found[0]['path'].startswith('settings.error_recipients[0][0]')
    assert 'nests deeper than 32 levels' in found[0]['message']


@pytest.mark.parametrize('key', ['host', 'username', 'password', 'from_name', 'ca_file', 'helo_name', 'from_email',
                                 'test_email'])
def test_nul_refused_in_every_string(key):
    value = {'from_email': 'a\0b@example.com', 'test_email': 'a@exa\0mple.com'}.get(key, 'abc\0def')
    found = problems(**dict({'username': 'u', 'password': 'p'}, **{key: value}))
    assert 'settings.%s' % key in found
    assert '\0' not in json.dumps(found)


def test_nul_refused_in_error_recipients():
    found = problems(error_recipients=[{'email': 'ops@example.com', 'name': 'O\0ps'}, {'email': 'd\0ev@example.com'}])
    assert set(found) == {'settings.error_recipients[0].name', 'settings.error_recipients[1].email'}


@pytest.mark.parametrize('helo', ['app.example.com', 'localhost', 'app.example.com.', '[192.0.2.1]', '[IPv6:2001:db8::1]',
                                  'a' * 63 + '.example.com'])
def test_helo_name_accepts_rfc5321_domains_and_address_literals(helo):
    assert problems(helo_name=helo) == {}


@pytest.mark.parametrize('helo', ['bad name', 'h\u00e9l\u00f6.example.com', 'tab\there', '', '-x.example.com', '[1.2.3]',
                                  'x' * 64 + '.example.com', 'a_b.example.com', 'a' * 300])
def test_helo_name_refuses_what_ehlo_cannot_carry(helo):
    found = problems(helo_name=helo)
    assert list(found) == ['settings.helo_name'], found
    assert 'must be a domain' in found['settings.helo_name'] or 'longer than' in found['settings.helo_name']


@pytest.mark.parametrize('address', ['j\u00f6rg@example.com', '\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a', 'a.b+tag@example.co.uk'])
def test_utf8_addresses_accepted_for_smtputf8(address):
    assert problems(from_email=address, test_email=address, error_recipients=[{'email': address}]) == {}


@pytest.mark.parametrize('address', ['a\tb@example.com', 'a\x7fb@example.com', 'a\x1bb@example.com', 'a\x85b@example.com',
                                     'a@example..com', 'a@.example.com', 'a@example.com.', 'a\u00a0b@example.com',
                                     'x' * 250 + '@example.com'])
def test_addresses_with_controls_or_empty_labels_refused(address):
    assert 'settings.test_email' in problems(test_email=address)


def test_ca_file_must_be_a_path_without_nul():
    assert problems(ca_file='/etc/ssl/ca.pem') == {}
    assert list(problems(ca_file='/etc/ssl/\0ca.pem')) == ['settings.ca_file']
    assert list(problems(ca_file='')) == ['settings.ca_file']


def test_values_outside_the_document_use_the_same_definitions():
    from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import validate_value
    assert validate_value('ops@example.com', 'email', 'to') == []
    assert [p['path'] for p in validate_value('ops@example.com\r\nBcc: x@example.com', 'email', 'to')] == ['to']
    assert [p['path'] for p in validate_value(['ops@example.com'], 'email', 'to')] == ['to']
    assert validate_value('Hello', 'line', 'subject') == []
    assert [p['path'] for p in validate_value('Hi\0there', 'line', 'subject')] == ['subject']
    assert format_problems(validate_value('x', 'email', 'to'), 'arguments').startswith('arguments is invalid (1 problem): to: ')


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pattern':
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


# Inputs that make a backtracking pattern explode: long runs of what a repetition takes, ending in what it refuses.
ADVERSARIAL = [
    lambda n: 'a' * n + '!',
    lambda n: 'a.' * (n // 2) + '!',
    lambda n: 'a@' + 'a.' * (n // 2) + ' ',
    lambda n: 'a@' + 'a.' * (n // 2),
    lambda n: '-' * n + '\n',
    lambda n: 'a-' * (n // 2) + '-',
    lambda n: '[' + '1.' * (n // 2) + ']',
    lambda n: '[IPv6:' + ':' * n,
    lambda n: '@' * n,
    lambda n: 'a' * n + '@' + 'b' * n + '.' + '\t',
]


def _time_per_document(n, runs=3):
    import time
    documents = []
    for make in ADVERSARIAL:
        text = make(n)
        document = dict((key, text) for key in ('host', 'username', 'from_email', 'from_name', 'test_email',
                                                'ca_file', 'helo_name', 'password'))
        document['error_recipients'] = [{'email': text, 'name': text}]
        documents.append(document)
    best = None
    for _unused in range(runs):
        started = time.perf_counter()
        for document in documents:
            validate_settings(document)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def test_the_schema_patterns_are_the_ones_measured():
    assert len(set(_patterns(SCHEMA))) >= 4  # host, helo, email, the CR/LF/NUL guard


def test_validation_time_is_linear_in_the_input():
    """100 KB adversarial strings in every string field: 10x the input may cost at most 30x the time."""
    small = _time_per_document(10000)
    large = _time_per_document(100000)
    assert large < 30 * small + 0.05, (small, large)
    assert large < 10, large


@pytest.mark.parametrize('pattern', sorted(set(_patterns(SCHEMA))))
def test_each_pattern_alone_is_linear(pattern):
    import re
    import time
    compiled = re.compile(pattern)

    def measure(n):
        best = None
        for _unused in range(3):
            started = time.perf_counter()
            for make in ADVERSARIAL:
                compiled.search(make(n))
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        return best
    small, large = measure(10000), measure(100000)
    assert large < 30 * small + 0.02, (pattern, small, large)


def test_an_ansible_core_older_than_2_16_is_named_with_the_fix():
    from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import core_too_old
    assert core_too_old('2.16.0') is None and core_too_old('2.21.5') is None and core_too_old('2.19.0b1') is None
    assert core_too_old('2.15.13') == ('email_ops.smtp needs ansible-core 2.16 or later on the controller; this is '
                                       'ansible-core 2.15.13: pip install "ansible-core>=2.16"')

# -*- coding: utf-8 -*-
"""A seeded fuzz of settings documents through the controller's validation.

Mutations of a valid document: wrong types, unicode, control characters, huge values, nested junk,
missing and unknown keys. For every one: no exception, every problem has a path and a bounded
message, and no message shows the password. Every document the schema accepts passes the modules'
own argument spec too (whatever the schema accepts, the module takes).
tests/integration/test_secret_leaks.py runs a sample of the same documents through ansible-playbook.
"""
import json
import random

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import format_problems, validate_settings
from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import _plain, _templated_scalars

SEED = 20261203
COUNT = 400
SECRET = 'Fz-S3cret "q" \'s\' \\ $x `y` #h ;s \u00e9'

VALID = {
    'host': 'smtp.example.com', 'port': 587, 'security': 'starttls', 'auth_method': 'auto',
    'username': 'alerts@example.com', 'password': SECRET, 'from_email': 'alerts@example.com',
    'from_name': 'Alerts', 'test_email': 'ops@example.com', 'timeout': 30, 'validate_certs': True,
    'ca_file': '/etc/ssl/certs/ca-certificates.crt', 'helo_name': 'app.example.com', 'allow_insecure_auth': False,
    'error_recipients': [{'email': 'ops@example.com', 'name': 'Ops'}],
}

ODD_STRINGS = [
    '', ' ', '\0', '\r\n', '\n', 'a\x1bb', '\u00e9\u20ac', '\U0001f4e7', '\ud800', '\u202e', '\ufeff', 'x' * 5000,
    '9' * 5000, '99999999999999999999999', '-1', '0', '65536', '587', ' 587 ', '\u0663', 'yes', 'no', 'null', '{}', '[]',
    '{"host": "h"}', '%s', '{host}', '{0}', '${x}', '{{ x }}', 'a@b', 'a@b.c', '[127.0.0.1]', 'j\u00f6rg@example.com',
    'a\0b@example.com', 'under_score.example.com', '::1', '127.0.0.1', 'smtp.example.com.', SECRET, SECRET + '\n',
]


def odd_value(rnd, depth=0):
    """A value of any JSON type, sometimes a deep or wide one."""
    kind = rnd.randrange(12)
    if kind < 4:
        return rnd.choice(ODD_STRINGS)
    if kind == 4:
        return rnd.choice([0, -1, 1, 65535, 65536, 10 ** 30, 10 ** 5000, -10 ** 5000, 2 ** 63])
    if kind == 5:
        return rnd.choice([0.5, 587.0, float('inf'), float('-inf'), float('nan'), 1e308])
    if kind == 6:
        return rnd.choice([True, False, None])
    if kind == 7 and depth < 6:
        return [odd_value(rnd, depth + 1) for _unused in range(rnd.randrange(4))]
    if kind == 8 and depth < 6:
        return dict((rnd.choice(list(VALID) + ['x', 'password', '']), odd_value(rnd, depth + 1)) for _unused in range(rnd.randrange(4)))
    if kind == 9:
        nested = SECRET
        for _unused in range(rnd.choice([10, 40, 200])):
            nested = [nested] if rnd.random() < 0.5 else {'k': nested}
        return nested
    if kind == 10:
        return ''.join(chr(rnd.randrange(0, 0x3000)) for _unused in range(rnd.randrange(1, 40)))
    return rnd.choice(ODD_STRINGS) * rnd.randrange(1, 50)


def mutate(rnd):
    """A document: the valid one with 1-4 mutations, or (now and then) not a mapping at all."""
    if rnd.random() < 0.05:
        return rnd.choice([json.dumps(VALID), [VALID], [json.dumps(VALID)], 42, SECRET, None])
    document = json.loads(json.dumps(VALID))
    pasted_as_key = False
    for _unused in range(rnd.randrange(1, 5)):
        action = rnd.randrange(6)
        key = rnd.choice(sorted(VALID))
        if action == 0:
            document.pop(key, None)
        elif action in (1, 2):
            document[key] = odd_value(rnd)
        elif action == 3:
            junk_key = rnd.choice(['hots', 'passwd', 'x' * 300, '\0', 'smtp_password', SECRET])
            document[junk_key] = odd_value(rnd)
            pasted_as_key = pasted_as_key or junk_key == SECRET
        elif action == 4:
            recipients = document.setdefault('error_recipients', [])
            if isinstance(recipients, list):
                recipients.append(rnd.choice([{'email': odd_value(rnd)}, {'name': odd_value(rnd)}, odd_value(rnd),
                                              {'email': 'a@example.com', 'extra': odd_value(rnd)}]))
        else:
            document['password'] = rnd.choice([SECRET, [SECRET], {'v': SECRET}, SECRET * 3000, SECRET + '\r\n', 12345,
                                               SECRET + '\0'])
    if pasted_as_key:  # the password pasted as a key too (a YAML slip): masked there like the value
        document['password'] = SECRET
    return document


def documents():
    rnd = random.Random(SEED)
    return [mutate(rnd) for _unused in range(COUNT)]


def describe_outcome(document):
    """What the controller does with `document`: (problems, the document the module would get)."""
    settings = _templated_scalars(_plain(document))
    return validate_settings(settings), settings


def test_fuzz_never_raises_always_names_a_path_and_never_echoes_the_secret():
    accepted = refused = 0
    for number, document in enumerate(documents()):
        problems, settings = describe_outcome(document)
        if not problems:
            accepted += 1
            continue
        refused += 1
        message = format_problems(problems)
        for problem in problems:
            assert problem['path'] == 'settings' or problem['path'].startswith(('settings.', 'settings[')), (number, problem)
            assert problem['message'] and len(problem['message']) < 1000, (number, problem['path'])
        assert SECRET not in message and SECRET not in json.dumps(problems), number
        assert 'Traceback' not in message
        assert len(message) < 20000, number
    # the generator really explores both sides of the schema
    assert refused > COUNT * 0.6 and accepted >= 5, (accepted, refused)


def test_whatever_the_schema_accepts_the_module_argument_spec_accepts():
    spec = settings_argument_spec()
    accepted = 0
    for number, document in enumerate(documents()):
        problems, settings = describe_outcome(document)
        if problems:
            continue
        accepted += 1
        result = ArgumentSpecValidator(spec).validate({'settings': settings})
        assert not result.error_messages, (number, [m.replace(SECRET, '<secret>') for m in result.error_messages])
        assert result.validated_parameters['settings']['password'] in (None, SECRET, settings.get('password'))
    assert accepted >= 5


@pytest.mark.parametrize('number', range(0, COUNT, 40))
def test_fuzz_documents_are_reproducible(number):
    """The seed fixes the documents, so a failure names a document anyone can rebuild."""
    first, second = documents()[number], documents()[number]
    assert json.dumps(_plain(first), default=str) == json.dumps(_plain(second), default=str)

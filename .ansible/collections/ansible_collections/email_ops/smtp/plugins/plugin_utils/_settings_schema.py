# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a settings document against schemas/smtp_settings.schema.json, on the controller.

Internal to the email_ops.smtp collection; not a public API.

The validator is compiled when this file is imported. Ansible's strategy imports action plugins in the
main process before it forks a worker per host, so the schema is compiled once per run, not per host.
Messages are built here rather than taken from jsonschema, whose messages can repeat the whole
instance (and with it the password).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import difflib
import json
import os

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:  # reported by validate_settings(), not at import time
    jsonschema = None

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import SECRET_KEYS

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'schemas', 'smtp_settings.schema.json')
with open(SCHEMA_PATH) as _schema_file:
    SCHEMA = json.load(_schema_file)


class SettingsLibraryMissing(Exception):
    pass


def _compile():
    if jsonschema is None:
        return None
    return Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


VALIDATOR = _compile()


def validate_settings(settings, root='settings'):
    """Return every problem of `settings` as [{'path': 'settings.port', 'message': '...'}], sorted by path."""
    if VALIDATOR is None:
        raise SettingsLibraryMissing(missing_required_lib('jsonschema') + ' (on the Ansible controller)')
    if settings is None:
        return [{'path': root, 'message': 'is required'}]
    problems = []
    for error in VALIDATOR.iter_errors(settings):
        for path, message in _describe(error, settings):
            problem = {'path': _format_path(root, path), 'message': message}
            if problem not in problems:
                problems.append(problem)
    return sorted(problems, key=lambda problem: problem['path'])


def format_problems(problems):
    """One message for fail_json: a count, then one line per problem."""
    lines = ['%s: %s' % (problem['path'], problem['message']) for problem in problems]
    return 'settings are invalid (%d problem%s): %s' % (len(lines), '' if len(lines) == 1 else 's', '; '.join(lines))


def _format_path(root, path):
    text = root
    for part in path:
        text += '[%d]' % part if isinstance(part, int) else '.%s' % part
    return text


def _is_secret(path):
    return any(part in SECRET_KEYS for part in path)


def _shown(value, path):
    return '(secret value)' if _is_secret(path) else json.dumps(value)


def _custom_message(error):
    """The nearest `errorMessage` on the schema path of `error` (our schema's plain-language reasons)."""
    node, message = SCHEMA, None
    for part in error.absolute_schema_path:
        if isinstance(node, dict) and '$ref' in node and part not in node:
            # jsonschema leaves '$ref' out of the path: step into the referenced definition
            node = _resolve_local_ref(node['$ref'])
            message = node.get('errorMessage', message)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and 'errorMessage' in node:
            message = node['errorMessage']
    return message


def _resolve_local_ref(ref):
    node = SCHEMA
    for part in ref.lstrip('#/').split('/'):
        node = node[part]
    return node


def _describe(error, settings):
    """Yield (path, message) for one jsonschema error, without repeating secret values."""
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == 'additionalProperties':
        known = sorted(error.schema.get('properties', {}))
        for key in sorted(set(instance) - set(known)):
            guess = difflib.get_close_matches(key, known, n=1)
            hint = "did you mean '%s'? " % guess[0] if guess else ''
            yield path + [key], 'unknown key; %sknown keys: %s' % (hint, ', '.join(known))
        return
    if error.validator == 'required':
        custom = _custom_message(error)
        for key in error.validator_value:
            if isinstance(instance, dict) and key not in instance:
                yield path + [key], custom.format_map(_plain_values(settings)) if custom else 'is required'
        return
    custom = _custom_message(error)
    if custom:
        shown = '' if isinstance(instance, (dict, list)) else _shown(instance, path) + ' '
        yield path, shown + custom.format_map(_plain_values(settings))
    elif error.validator == 'type':
        yield path, '%s is not of type %s' % (_shown(instance, path), error.validator_value)
    elif error.validator == 'enum':
        yield path, '%s is not one of %s' % (_shown(instance, path), ', '.join(json.dumps(v) for v in error.validator_value))
    elif error.validator in ('minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength',
                             'minItems', 'maxItems') and not _is_secret(path):
        yield path, error.message
    elif error.validator == 'const':
        yield path, 'must be %s' % json.dumps(error.validator_value)
    else:
        yield path, 'does not satisfy %s' % error.validator


def _plain_values(settings):
    """Non-secret values for str.format of an errorMessage; unknown placeholders stay harmless."""
    values = dict((key, value) for key, value in settings.items() if key not in SECRET_KEYS) if isinstance(settings, dict) else {}
    return _Defaulting(values)


class _Defaulting(dict):
    def __missing__(self, key):
        return '<%s>' % key

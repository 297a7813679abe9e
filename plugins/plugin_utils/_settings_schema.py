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
import re

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:  # reported by validate_settings(), not at import time
    jsonschema = None

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MIN_FORM_LENGTH, all_forms, scrub_forms
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import SECRET_KEYS

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'schemas', 'smtp_settings.schema.json')
with open(SCHEMA_PATH) as _schema_file:
    SCHEMA = json.load(_schema_file)


class SettingsLibraryMissing(Exception):
    pass


# Values are shown in messages only when short; a long input is described, never repeated.
SHOWN_STRING_LENGTH = 64
SHOWN_NUMBER_LIMIT = 10 ** 18
# The settings document is three levels deep (settings.error_recipients[0].email); deeper junk is refused whole.
MAX_DEPTH = 32


def _compile(schema):
    if jsonschema is None:
        return None
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _definition(name):
    """A schema of one of our $defs (an address, a line), for values outside the settings document."""
    return {'$defs': SCHEMA['$defs'], '$ref': '#/$defs/%s' % name}


VALIDATOR = _compile(SCHEMA)
DEFINITION_VALIDATORS = dict((name, _compile(_definition(name))) for name in ('email', 'line'))


def validate_settings(settings, root='settings'):
    """Return every problem of `settings` as [{'path': 'settings.port', 'message': '...'}], sorted by path."""
    return _validate(VALIDATOR, SCHEMA, settings, root)


def validate_value(value, definition, root):
    """Problems of one value against one of the schema's $defs ('email', 'line'), e.g. smtp_test's `to`."""
    return _validate(DEFINITION_VALIDATORS.get(definition), _definition(definition), value, root)


def _validate(validator, schema, document, root):
    if validator is None:
        raise SettingsLibraryMissing(missing_required_lib('jsonschema') + ' (on the Ansible controller)')
    if document is None:
        return [{'path': root, 'message': 'is required'}]
    if root == 'settings' and not isinstance(document, dict):
        # The document itself is never shown: it holds the password (a JSON string, a lookup's result).
        return [{'path': root, 'message': _not_a_mapping(document)}]
    try:
        document, huge = _bounded(document)
    except _TooDeep as exc:
        return [{'path': _format_path(root, exc.path), 'message': 'nests deeper than %d levels; the settings document '
                 'is a mapping of strings, numbers, booleans and a list of {email, name}' % MAX_DEPTH}]
    problems = []
    for error in validator.iter_errors(document):
        for path, message in _describe(error, document, schema, huge):
            problem = {'path': _format_path(root, path), 'message': message}
            if problem not in problems:
                problems.append(problem)
    if problems and isinstance(document, dict):
        # a secret pasted where a key or another value belongs is masked too
        forms = all_forms(_secret_pieces(document))
        problems = [dict((name, scrub_forms(text, forms)) for name, text in problem.items()) for problem in problems]
    return sorted(problems, key=lambda problem: problem['path'])


def _secret_pieces(document):
    """Each secret string of the document (inside a list or mapping given where a string belongs, too),
    and for a refused one (a stray newline, a NUL) its pieces."""
    pending = [document.get(key) for key in SECRET_KEYS]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            yield value
            for piece in re.split(r'[\x00-\x1f\x7f]+', value):
                if piece != value and len(piece.strip()) >= MIN_FORM_LENGTH:
                    yield piece.strip()


def format_problems(problems, what='settings'):
    """One message for fail_json: a count, then one line per problem."""
    lines = ['%s: %s' % (problem['path'], problem['message']) for problem in problems]
    return '%s %s invalid (%d problem%s): %s' % (what, 'are' if what == 'settings' else 'is', len(lines),
                                                 '' if len(lines) == 1 else 's', '; '.join(lines))


def _not_a_mapping(document):
    kind = _kind(document)
    hint = ''
    if isinstance(document, str):
        hint = ('; if it holds JSON or YAML, parse it first (settings: "{{ smtp_settings | from_json }}"), '
                'or pass the variable itself (settings: "{{ smtp_settings }}")')
    elif isinstance(document, list):
        hint = '; a lookup returns a list unless called with wantlist=false, or use query(...)[0]'
    return 'must be a mapping (the settings document), not %s%s' % (kind, hint)


def _kind(value):
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, str):
        return 'a string of %d characters' % len(value) if value else 'an empty string'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, list):
        return 'a list of %d items' % len(value)
    return 'a %s' % type(value).__name__


class _TooDeep(Exception):
    def __init__(self, path):
        super(_TooDeep, self).__init__()
        self.path = path


def _bounded(document):
    """`document` with numbers too large to print (Python refuses str() of ints over 4300 digits)
    replaced by a bound of the same sign, and the paths of those replaced; refuses deep nesting."""
    huge = set()

    def walk(value, path):
        if len(path) > MAX_DEPTH:
            raise _TooDeep(path[:MAX_DEPTH])
        if isinstance(value, dict):
            return dict((key, walk(item, path + [key])) for key, item in value.items())
        if isinstance(value, list):
            return [walk(item, path + [index]) for index, item in enumerate(value)]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= SHOWN_NUMBER_LIMIT:
            huge.add(tuple(path))
            return SHOWN_NUMBER_LIMIT if value > 0 else -SHOWN_NUMBER_LIMIT
        return value
    return walk(document, []), huge


def _format_path(root, path):
    text = root
    for part in path:
        if isinstance(part, int):
            text += '[%d]' % part
        elif len(part) > SHOWN_STRING_LENGTH or not part.isprintable():
            text += '.<a key of %d characters>' % len(part)
        else:
            text += '.%s' % part
    return text


def _is_secret(path):
    return any(part in SECRET_KEYS for part in path)


def _shown(value, path, huge=()):
    """How a message shows `value`: itself when short and not secret, otherwise what it is."""
    if _is_secret(path):
        return '(secret value)'
    if tuple(path) in huge:
        return 'a number of more than %d digits' % (len(str(SHOWN_NUMBER_LIMIT)) - 1)
    if isinstance(value, (dict, list)) or (isinstance(value, str) and len(value) > SHOWN_STRING_LENGTH):
        return _kind(value)
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return _kind(value)


def _custom_message(error, schema):
    """The nearest `errorMessage` on the schema path of `error` (our schema's plain-language reasons)."""
    node, message = schema, None
    for part in error.absolute_schema_path:
        if isinstance(node, dict) and '$ref' in node and part not in node:
            # jsonschema leaves '$ref' out of the path: step into the referenced definition
            node = _resolve_local_ref(schema, node['$ref'])
            message = node.get('errorMessage', message)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and 'errorMessage' in node:
            message = node['errorMessage']
    return message


def _resolve_local_ref(schema, ref):
    node = schema
    for part in ref.lstrip('#/').split('/'):
        node = node[part]
    return node


_LIMITS = {
    'minimum': 'is less than the minimum of %s',
    'maximum': 'is greater than the maximum of %s',
    'exclusiveMinimum': 'is less than or equal to the minimum of %s',
    'exclusiveMaximum': 'is greater than or equal to the maximum of %s',
    'minLength': 'is shorter than %s characters',
    'maxLength': 'is longer than %s characters',
    'minItems': 'has fewer than %s items',
    'maxItems': 'has more than %s items',
}


def _describe(error, settings, schema, huge):
    """Yield (path, message) for one jsonschema error, without repeating secret values or long inputs.

    jsonschema's own messages repeat the instance (the whole document for an error at its root), so
    every message is built here.
    """
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == 'additionalProperties':
        known = sorted(error.schema.get('properties', {}))
        for key in sorted(set(instance) - set(known)):
            guess = difflib.get_close_matches(key, known, n=1) if len(key) <= SHOWN_STRING_LENGTH else []
            hint = "did you mean '%s'? " % guess[0] if guess else ''
            yield path + [key], 'unknown key; %sknown keys: %s' % (hint, ', '.join(known))
        return
    if error.validator == 'required':
        custom = _custom_message(error, schema)
        for key in error.validator_value:
            if isinstance(instance, dict) and key not in instance:
                yield path + [key], custom.format_map(_plain_values(settings)) if custom else 'is required'
        return
    custom = _custom_message(error, schema)
    shown = _shown(instance, path, huge)
    if custom:
        shown = '' if isinstance(instance, (dict, list)) else shown + ' '
        yield path, shown + custom.format_map(_plain_values(settings))
    elif error.validator == 'type':
        yield path, '%s is not of type %s' % (shown, error.validator_value)
    elif error.validator == 'enum':
        yield path, '%s is not one of %s' % (shown, ', '.join(json.dumps(v) for v in error.validator_value))
    elif error.validator in _LIMITS:
        yield path, '%s %s' % (shown, _LIMITS[error.validator] % error.validator_value)
    elif error.validator == 'const':
        yield path, 'must be %s' % json.dumps(error.validator_value)
    else:
        yield path, 'does not satisfy %s' % error.validator


def _plain_values(settings):
    """Short non-secret values for str.format of an errorMessage; unknown placeholders stay harmless."""
    values = {}
    if isinstance(settings, dict):
        for key, value in settings.items():
            if key not in SECRET_KEYS and isinstance(value, (str, int, float, bool)) and len(str(value)) <= SHOWN_STRING_LENGTH:
                values[key] = value
    return _Defaulting(values)


class _Defaulting(dict):
    def __missing__(self, key):
        return '<%s>' % key

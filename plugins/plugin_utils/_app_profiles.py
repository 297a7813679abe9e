# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App profiles (profiles/<app>.yml, or a user's own file): loaded and checked against
schemas/app_profile.schema.json, then rendered on the controller into the module's `plan`.

Internal to the email_ops.smtp collection; not a public API.

Templates run in jinja2's SandboxedEnvironment and see only the settings document (defaults
filled in) and `paths`, the files' paths by id. A rendered value of '' means "not set": the key is
left out (and removed where we own it).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import posixpath

from email.utils import formataddr

import yaml
from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError, TemplateRuntimeError
from jinja2.sandbox import SandboxedEnvironment

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import DESTINATION_KEYS, SECRET_KEYS, settings_argument_spec

PROFILES_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'profiles')
SCHEMA_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'schemas', 'app_profile.schema.json')
# libyaml's loader where PyYAML has it: the role reads a profile in every forked worker.
_YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)


class ProfileProblem(Exception):
    """A broken profile or a setting the app cannot express: the message names the file or the app."""


_VALIDATOR = []


def _validator():
    """The profile schema's validator, built on first use: jsonschema is a tenth of a second to import, and the
    role's lookups run in forked workers that may not have it yet (None without jsonschema)."""
    if not _VALIDATOR:
        try:
            from jsonschema import Draft202012Validator
        except ImportError:  # the settings validation reports the missing library first
            Draft202012Validator = None
        with open(SCHEMA_PATH) as handle:
            _VALIDATOR.append(Draft202012Validator(json.load(handle)) if Draft202012Validator else None)
    return _VALIDATOR[0]


def load_profile(path, check=True):
    """The profile in the YAML file `path`, checked against the schema; ProfileProblem names every problem.

    `check=False` for the collection's own profiles, which its tests check (tests/unit/test_profiles.py)."""
    try:
        with open(path) as handle:
            data = yaml.load(handle, Loader=_YAML_LOADER)  # nosec: a safe loader
    except (IOError, OSError) as exc:
        raise ProfileProblem('cannot read profile %s: %s' % (path, exc.strerror))
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = ' at line %d' % (mark.line + 1) if mark else ''
        raise ProfileProblem('profile %s is not valid YAML%s: %s' % (path, where, getattr(exc, 'problem', exc)))
    validator = _validator() if check else None
    if validator is not None:
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            raise ProfileProblem('profile %s is not a valid app profile (schemas/app_profile.schema.json): %s'
                                 % (path, '; '.join('%s: %s' % (e.json_path, e.message) for e in errors)))
    ids = [item['id'] for item in data['files']]
    if len(set(ids)) != len(ids):
        raise ProfileProblem('profile %s: file ids must be unique, got %s' % (path, ', '.join(ids)))
    return data


def _load_all():
    return dict((name[:-len('.yml')], os.path.join(PROFILES_DIR, name))
                for name in sorted(os.listdir(PROFILES_DIR)) if name.endswith('.yml'))


PROFILE_FILES = _load_all()


def get_profile(app):
    """The collection's profile for `app`, or None; `known_apps()` lists the names for an error message."""
    return _load_cached(PROFILE_FILES[app], check=False) if app in PROFILE_FILES else None


def known_apps():
    return sorted(PROFILE_FILES)


def find_profile(app, profile, find_file):
    """The (app, profile) a task names, for the smtp_config action and the role (lookup email_ops.smtp.app_profile).

    `profile`: the user's file, through `find_file` (the profiles/ folders beside the playbook or role, then as a
    path); the app is named after the file unless `app` is given. Else `app` (default generic): profiles/<app>.yml
    beside the playbook or role, else the collection's. `find_file(name)` returns a path or None.
    Parsed files are kept per process: the role asks once per variable that needs the profile's service.
    """
    if profile:
        path = find_file(profile)
        if path is None:
            raise ProfileProblem('profile %s not found (looked in the profiles/ folders beside the playbook and role, '
                                 'and as a path)' % profile)
        return app or posixpath.splitext(posixpath.basename(profile))[0], _load_cached(path)
    app = app or 'generic'
    path = find_file('profiles/%s.yml' % app) if '/' not in app else None
    if path is not None:
        return app, _load_cached(path)
    if app not in PROFILE_FILES:
        raise ProfileProblem('unknown app %r: known apps are %s (or give profile: <file>)' % (app, ', '.join(known_apps())))
    return app, get_profile(app)


_LOADED = {}  # (real path, mtime, size) -> profile: each file is parsed once per process


def _load_cached(path, check=True):
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:
        _LOADED[key] = load_profile(path, check)
    return _LOADED[key]


# Rendering

def _environment():
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False,
                               trim_blocks=True, lstrip_blocks=True)
    env.filters['dirname'] = posixpath.dirname
    env.filters['basename'] = posixpath.basename
    env.filters['sh_quote'] = lambda value: "'%s'" % str(value).replace("'", "'\\''")
    env.filters['url_quote'] = _url_quote
    env.filters['emails'] = lambda recipients: [item['email'] for item in recipients or []]
    env.filters['address'] = _address
    env.filters['py_literal'] = _py_literal
    env.filters['php_literal'] = lambda value: _literal(value, 'PHP', ('true', 'false', 'null'), '[%s]', '%s => %s', '[%s]')
    env.filters['rb_literal'] = lambda value: _literal(value, 'Ruby', ('true', 'false', 'nil'), '[%s]', '%s => %s', '{%s}')
    return env


def _address(email, name=None):
    """`Name <email>` (RFC 5322 quoting where the name needs it), or the bare address without a name."""
    return formataddr((name or '', email))


# Literal quoting for code-as-config (the python, php and ruby formats): any value becomes data, never code.

def _py_literal(value):
    """A Python literal: repr() of str, bool, int, None, and lists, tuples and dicts of them."""
    if isinstance(value, (list, tuple)):
        items = [_py_literal(item) for item in value]
        if isinstance(value, tuple):
            return '(%s)' % (', '.join(items) + (',' if len(items) == 1 else ''))
        return '[%s]' % ', '.join(items)
    if isinstance(value, dict):
        return '{%s}' % ', '.join('%s: %s' % (_py_literal(key), _py_literal(item)) for key, item in value.items())
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TemplateRuntimeError('py_literal takes text, numbers, booleans, none, lists and mappings, not %s' % type(value).__name__)


def _literal(value, language, words, list_form, pair_form, map_form):
    """A PHP or Ruby literal. Strings are single-quoted, where neither language interpolates (`$x`, `#{x}`): only a
    backslash and a quote are escaped. A line break is refused: the block holds one entry per line."""
    if isinstance(value, bool):
        return words[0] if value else words[1]
    if value is None:
        return words[2]
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if '\n' in value or '\r' in value:
            raise TemplateRuntimeError('a %s string in a config block cannot hold a line break' % language)
        return "'%s'" % value.replace('\\', '\\\\').replace("'", "\\'")
    forms = (language, words, list_form, pair_form, map_form)
    if isinstance(value, (list, tuple)):
        return list_form % ', '.join(_literal(item, *forms) for item in value)
    if isinstance(value, dict):
        return map_form % ', '.join(pair_form % (_literal(key, *forms), _literal(item, *forms)) for key, item in value.items())
    raise TemplateRuntimeError('%s literals take text, numbers, booleans, none, lists and mappings, not %s'
                               % (language, type(value).__name__))


def _url_quote(value):
    try:
        from urllib.parse import quote
    except ImportError:  # pragma: no cover (Python 2 controllers are not supported)
        from urllib import quote
    return quote(str(value), safe='')


_ENV = _environment()


def normalized_settings(settings):
    """The settings with the module's defaults filled in, as the module will see them."""
    result = ArgumentSpecValidator(settings_argument_spec()).validate({'settings': settings})
    return result.validated_parameters['settings']


def _is_template(text):
    return isinstance(text, str) and ('{{' in text or '{%' in text)


def _render(template, context, where):
    try:
        return _ENV.from_string(template).render(context)
    except TemplateError as exc:
        raise ProfileProblem('%s: %s' % (where, exc))
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError) as exc:
        # a filter or test applied to a value it cannot take (None | length): name the profile's entry
        raise ProfileProblem('%s: the template failed: %s: %s' % (where, type(exc).__name__, exc))


def _truth(text):
    return text.strip().lower() not in ('', 'false', 'none', '0', 'no')


def _as_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '' if value is None else str(value)


def _entry(spec, settings, context, where):
    """One entry's value: native for a settings key, text for a template; None when unset."""
    if isinstance(spec, str) and not _is_template(spec):
        return settings.get(spec)
    if isinstance(spec, str):
        return _render(spec, context, where) or None
    if 'value' in spec:
        return spec['value']
    if 'flag' in spec:
        return '' if _truth(_render(spec['flag'], context, where)) else None
    if 'native' in spec:  # JSON text (a boolean, a number, an object) for the json and yaml formats; '' is unset
        text = _render(spec['native'], context, where).strip()
        try:
            return json.loads(text) if text else None
        except ValueError as exc:  # the text may hold a secret: say where, not what
            raise ProfileProblem('%s: native must render JSON (use the tojson filter): %s at column %d'
                                 % (where, exc.msg, exc.colno))
    value = settings.get(spec['from'])
    if spec.get('unless_missing') and settings.get(spec['unless_missing']) in (None, ''):
        return spec.get('otherwise')
    if 'map' in spec and value is not None:
        value_map = dict((_as_text(key), mapped) for key, mapped in spec['map'].items())
        if _as_text(value) not in value_map:
            raise ProfileProblem('%s: the profile has no value for %s=%s' % (where, spec['from'], _as_text(value)))
        return value_map[_as_text(value)]
    return value


# Words that make a template's entry a secret: the password, and the OAuth2 client's secrets (oauth2.client_secret,
# oauth2.refresh_token) where an app takes OAuth2 client credentials itself.
_SECRET_WORDS = tuple(SECRET_KEYS) + ('client_secret', 'refresh_token')


def _uses_secret(spec):
    if isinstance(spec, dict):
        return spec.get('from') in SECRET_KEYS or any(word in spec.get('native', '') for word in _SECRET_WORDS)
    if _is_template(spec):
        return any(word in spec for word in _SECRET_WORDS)
    return spec in SECRET_KEYS


# Another value for each destination setting, to see which entries follow it.
_MOVED = dict(host=lambda value: 'moved.' + value, port=lambda value: value + 1 if value < 65535 else value - 1,
              security=lambda value: 'starttls' if value != 'starttls' else 'ssl', username=lambda value: (value or '') + '.moved')


def _destinations(specs, entries, settings, context, where):
    """{entry: [settings keys]} for the entries that say where the password goes (they change with host, port,
    security or username): update_password=on_create keeps a stored password only while these stay."""
    found = {}
    for key in DESTINATION_KEYS:
        moved = dict(settings, **{key: _MOVED[key](settings.get(key))})
        moved_context = dict(context, **{key: moved[key]})
        for name, spec in specs.items():
            if _is_template(name) or name not in entries:
                continue
            try:
                value = _entry(spec, moved, moved_context, where)
            except ProfileProblem:
                value = None  # no value for the other setting: it depends on it
            if value != entries[name]:
                found.setdefault(name, []).append(key)
    return found


def oauth2_helper_source():
    """The OAuth2 token helper an app's passwordeval runs (msmtp): module_utils/_oauth2.py itself, which is runnable
    (`oauth2-token CREDENTIALS.json` prints a fresh access token), so the token logic lives in one place."""
    return _OAUTH2_HELPER


def _read_oauth2_helper():
    with open(os.path.join(os.path.dirname(__file__), '..', 'module_utils', '_oauth2.py')) as handle:
        return '#!/usr/bin/python3\n' + handle.read().rstrip('\n')  # the whole format ends it with one


# Read at import: the strategy imports the action plugin (and so this file) in the controller's main process,
# so the forked workers share one copy instead of reading it once per host.
_OAUTH2_HELPER = _read_oauth2_helper()


def render_plan(app, profile, settings, paths=None, path=None, overrides=None):
    """The module's `plan`: every file with its path, format, key, entries (rendered) and commands.

    `paths` ({id: path}) and `path` (one-file apps) override the profile's default paths. `overrides`
    (format, key, mode, owner, group, validate) are the task's own options. Raises ProfileProblem.
    """
    overrides = overrides or {}
    paths = dict(paths or {})
    unknown = sorted(set(paths) - set(item['id'] for item in profile['files']))
    if unknown:
        raise ProfileProblem('app %s has no file %s: its files are %s'
                             % (app, ', '.join(unknown), ', '.join(item['id'] for item in profile['files'])))
    settings = normalized_settings(settings)
    # A file with `when` (msmtp's OAuth2 token helper) is the app's only with the settings that need it.
    files = [item for item in profile['files'] if 'when' not in item
             or _truth(_render(item['when'], dict(settings), 'app %s, file %s, when' % (app, item['id'])))]
    for name in [name for name in paths if name not in set(item['id'] for item in files)]:
        del paths[name]
    if path:
        if len(files) > 1:
            raise ProfileProblem('app %s has several files (%s): give paths: {<id>: <path>} instead of path'
                                 % (app, ', '.join(item['id'] for item in files)))
        paths[files[0]['id']] = path
    for item in files:
        paths.setdefault(item['id'], item.get('path'))
        if not paths[item['id']]:
            raise ProfileProblem('app %s: file %s has no default path: set path (or paths.%s)' % (app, item['id'], item['id']))

    context = dict(settings, paths=paths, oauth2_helper=oauth2_helper_source())
    for rule in profile.get('refuse') or []:
        if _truth(_render(rule['if'], context, 'app %s refuse rule' % app)):
            raise ProfileProblem('app %s cannot express these settings: %s' % (app, rule['msg']))
    warnings = ['app %s: %s' % (app, rule['msg']) for rule in profile.get('warn') or []
                if _truth(_render(rule['if'], context, 'app %s warn rule' % app))]

    plan_files = []
    for index, item in enumerate(files):
        where = 'app %s, file %s' % (app, item['id'])
        entries, secrets = {}, []
        for name, spec in item['entries'].items():
            key = _render(name, context, where) if _is_template(name) else name
            if not key:
                continue
            entries[key] = _entry(spec, settings, context, '%s, entry %s' % (where, name))
            if _uses_secret(spec):
                secrets.append(key)
        destinations = _destinations(item['entries'], entries, settings, context, where)
        spec = dict(id=item['id'], path=paths[item['id']], formats=item['formats'], key=item.get('key'),
                    own=item.get('own', 'block'), owned=[name for name in item['entries'] if not _is_template(name)],
                    entries=entries, secrets=secrets, destinations=destinations, mode=item.get('mode', '0600'),
                    owner=item.get('owner'), group=item.get('group'), validate=item.get('validate'), format=None)
        if item.get('after_change'):
            spec['after_change'] = _render(item['after_change'], dict(context, path=paths[item['id']]), where)
        if index == 0:  # the task's own options concern the app's main file
            if overrides.get('validate'):
                spec['validate'] = overrides['validate']
            if overrides.get('format'):
                spec['format'] = overrides['format']
            if overrides.get('key') is not None:
                spec['key'] = overrides['key']
        for attribute in ('mode', 'owner', 'group'):
            if overrides.get(attribute) is not None:
                spec[attribute] = overrides[attribute]
        plan_files.append(spec)
    checks = [_render(command, context, 'app %s check' % app) for command in profile.get('check') or []]
    service = dict(profile.get('service') or {'action': 'none'})
    if service.get('command'):
        service['command'] = _render(service['command'], context, 'app %s service command' % app)
    return dict(app=app, files=plan_files, checks=checks, service=service), warnings

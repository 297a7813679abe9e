# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a settings document into an application's own keys, as an app profile (profiles/*.yml) says.

Internal to the email_ops.smtp collection; not a public API.

A profile is data: `formats` the app's file can be, `key` where the block lives, and `fields`, each
app key taken from a settings key, optionally through a `map` of values. The action plugin reads the
profile on the controller and hands it to the module, so this file only interprets it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from email.utils import formataddr

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import SECRET_KEYS


class ProfileError(Exception):
    pass


def field_spec(spec):
    """A field is either a settings key or a mapping {from, map, unless_missing, otherwise}."""
    return {'from': spec} if isinstance(spec, str) else spec


def secret_fields(profile):
    """App keys that carry a secret: those taken from a secret settings key."""
    return [name for name, spec in profile['fields'].items() if field_spec(spec)['from'] in SECRET_KEYS]


def render_block(profile, settings, supports_lists):
    """The app's block for `settings`: {app key: value}, omitting unset values.

    Formats without lists or types (ini, env, msmtp) get strings; json and yaml keep native values.
    """
    block = {}
    for name, spec in profile['fields'].items():
        spec = field_spec(spec)
        value = settings.get(spec['from'])
        if spec.get('unless_missing') and settings.get(spec['unless_missing']) in (None, ''):
            value = spec.get('otherwise')
        elif 'map' in spec and value is not None:
            # The profile travels to the host as JSON, where a YAML key `true` becomes "true": compare as text.
            value_map = dict((_as_text(key), mapped) for key, mapped in spec['map'].items())
            if _as_text(value) not in value_map:
                raise ProfileError('the profile has no value for %s=%s in field %s' % (spec['from'], value, name))
            value = value_map[_as_text(value)]
        if value is None:
            continue
        block[name] = _without_none(value) if supports_lists else _as_text(value)
    return block


def _without_none(value):
    """Drop unset suboptions (error_recipients' missing `name`) so the file holds no nulls."""
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    if isinstance(value, dict):
        return dict((key, _without_none(item)) for key, item in value.items() if item is not None)
    return value


def _as_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, list):  # error_recipients: "Name <a@example.com>, b@example.com"
        return ', '.join(formataddr((item.get('name') or '', item['email'])) for item in value)
    return str(value)

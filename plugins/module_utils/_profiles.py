# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An app file's entries, as the action plugin rendered them from the app profile, in the file's terms.

Internal to the email_ops.smtp collection; not a public API.

The profile (profiles/<app>.yml) is read, checked and rendered on the controller
(plugins/plugin_utils/_app_profiles.py); the module receives, per file, the entries already in the
app's vocabulary. This file only turns them into what the file's format holds: native values for
json and yaml, text for the line formats.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from email.utils import formataddr


class ProfileError(Exception):
    pass


def render_block(entries, supports_lists):
    """{app key: value} for the format, omitting unset values.

    Formats without lists or types (ini, env, msmtp, the relays' files) get strings; json and yaml keep native values.
    """
    block = {}
    for name, value in (entries or {}).items():
        if value is None:
            continue
        block[name] = _without_none(value) if supports_lists else as_text(value)
    return block


def _without_none(value):
    """Drop unset suboptions (error_recipients' missing `name`) so the file holds no nulls."""
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    if isinstance(value, dict):
        return dict((key, _without_none(item)) for key, item in value.items() if item is not None)
    return value


def as_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, list):  # error_recipients: "Name <a@example.com>, b@example.com"
        return ', '.join(formataddr((item.get('name') or '', item['email'])) for item in value)
    return str(value)

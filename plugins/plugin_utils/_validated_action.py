# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base: validate `settings` on the controller, then run the module on the host.

Internal to the email_ops.smtp collection; not a public API.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.release import __version__ as ANSIBLE_CORE_VERSION
from ansible.plugins.action import ActionBase

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import (
    MAX_DEPTH, SettingsLibraryMissing, format_problems, validate_settings,
)


OLDEST_CORE = (2, 16)


def core_too_old(version=ANSIBLE_CORE_VERSION):
    """The message for an ansible-core older than the collection supports (meta/runtime.yml only warns), or None."""
    found = tuple(int(part) for part in re.findall(r'\d+', version)[:2])
    if found >= OLDEST_CORE:
        return None
    return ('email_ops.smtp needs ansible-core %d.%d or later on the controller; this is ansible-core %s: '
            'pip install "ansible-core>=%d.%d"' % (OLDEST_CORE + (version,) + OLDEST_CORE))


class ValidatedSettingsAction(ActionBase):
    """Fails the task with every schema problem at once, each with its path; nothing reaches the host."""

    TRANSFERS_FILES = False

    def module_args(self, args, task_vars):
        """Hook for subclasses: the arguments the module receives."""
        return args

    def other_problems(self, args):
        """Hook for subclasses: problems of the task's other options, as [{'path', 'message'}]."""
        return []

    def run(self, tmp=None, task_vars=None):
        result = super(ValidatedSettingsAction, self).run(tmp, task_vars)
        if core_too_old():
            raise AnsibleActionFail(core_too_old())
        args = dict(self._task.args)
        try:
            problems = validate_settings(_templated_scalars(_plain(args.get('settings'))))
            problems += self.other_problems(args)
        except SettingsLibraryMissing as exc:
            raise AnsibleActionFail(str(exc))
        if problems:
            # Nothing reaches the module: its own type errors would repeat the value (the password with it).
            what = 'settings' if all(p['path'].split('.')[0].split('[')[0] == 'settings' for p in problems) else 'arguments'
            result.update(failed=True, msg=format_problems(problems, what), problems=problems)
            return result
        args = self.module_args(args, task_vars)
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args,
                                           task_vars=task_vars))
        return result


def _plain(value, depth=0):
    """Plain JSON types for the validator (vaulted and tagged strings become str).

    Deeper than the validator looks (it refuses what nests beyond MAX_DEPTH), containers are cut off
    rather than copied, so no input reaches Python's recursion limit.
    """
    if depth > MAX_DEPTH + 1:
        return []
    if isinstance(value, Mapping):
        return dict((str(key), _plain(item, depth + 1)) for key, item in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return str(value)


# ASCII digits only ('\u00b2'.isdigit() is true, int() refuses it), and few enough for int(): Python 3.11+
# refuses to convert over 4300 digits. A longer string stays a string and is refused as one.
_DIGITS = re.compile(r'^[ \t]*[0-9]{1,18}[ \t]*$')
_OPTION_TYPES = dict((key, spec['type']) for key, spec in settings_argument_spec()['settings']['options'].items())


def _templated_scalars(settings):
    """Read "587" as 587 and "yes" as true, as the module itself will.

    Without native Jinja types (ansible-core < 2.19), `port: "{{ smtp_port }}"` arrives as a string;
    refusing it would reject documents the module accepts.
    """
    if not isinstance(settings, dict):
        return settings
    converted = dict(settings)
    for key, value in settings.items():
        if not isinstance(value, str):
            continue
        if _OPTION_TYPES.get(key) == 'int' and _DIGITS.match(value):
            converted[key] = int(value)
        elif _OPTION_TYPES.get(key) == 'bool' and value.lower() in BOOLEANS:
            converted[key] = boolean(value)
    return converted

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin base: validate `settings` on the controller, then run the module on the host.

Internal to the email_ops.smtp collection; not a public API.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import (
    SettingsLibraryMissing, format_problems, validate_settings,
)


class ValidatedSettingsAction(ActionBase):
    """Fails the task with every schema problem at once, each with its path; nothing reaches the host."""

    TRANSFERS_FILES = False

    def module_args(self, args, task_vars):
        """Hook for subclasses: the arguments the module receives."""
        return args

    def run(self, tmp=None, task_vars=None):
        result = super(ValidatedSettingsAction, self).run(tmp, task_vars)
        args = dict(self._task.args)
        try:
            problems = validate_settings(_templated_scalars(_plain(args.get('settings'))))
        except SettingsLibraryMissing as exc:
            raise AnsibleActionFail(str(exc))
        if problems:
            result.update(failed=True, msg=format_problems(problems), problems=problems)
            return result
        args = self.module_args(args, task_vars)
        result.update(self._execute_module(module_name=self._task.resolved_action, module_args=args,
                                           task_vars=task_vars))
        return result


def _plain(value):
    """Plain JSON types for the validator (vaulted and tagged strings become str)."""
    if isinstance(value, Mapping):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return str(value)


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
        if _OPTION_TYPES.get(key) == 'int' and value.strip().isdigit():
            converted[key] = int(value)
        elif _OPTION_TYPES.get(key) == 'bool' and value.lower() in BOOLEANS:
            converted[key] = boolean(value)
    return converted

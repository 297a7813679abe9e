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
            problems = validate_settings(_plain(args.get('settings')))
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

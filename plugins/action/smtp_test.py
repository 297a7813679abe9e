# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.email_ops.smtp.plugins.plugin_utils._settings_schema import validate_value
from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import ValidatedSettingsAction, _plain


class ActionModule(ValidatedSettingsAction):
    """Validate settings on the controller, then run the test send from the host."""

    def other_problems(self, args):
        """`to` is an address like settings.test_email; `subject` one line (no CR, LF or NUL)."""
        problems = []
        for name, definition in (('to', 'email'), ('subject', 'line')):
            if args.get(name) is not None:
                problems += validate_value(_plain(args[name]), definition, name)
        return problems

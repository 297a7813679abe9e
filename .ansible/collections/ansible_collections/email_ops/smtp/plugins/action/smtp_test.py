# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import ValidatedSettingsAction


class ActionModule(ValidatedSettingsAction):
    """Validate settings on the controller, then run the test send from the host."""

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail

from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import get_profile, known_apps
from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import ValidatedSettingsAction


class ActionModule(ValidatedSettingsAction):
    """Validate settings, then hand the module the app profile it writes with (profiles/<app>.yml)."""

    def module_args(self, args, task_vars):
        app = args.get('app') or 'generic'
        profile = get_profile(app)
        if profile is None:
            raise AnsibleActionFail('unknown app %r: known apps are %s' % (app, ', '.join(known_apps())))
        args['_profile'] = profile
        return args

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import (
    ProfileProblem, find_profile, render_plan,
)
from ansible_collections.email_ops.smtp.plugins.plugin_utils._deliveries import DeliveryClaim
from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import ValidatedSettingsAction, _plain


class ActionModule(ValidatedSettingsAction):
    """Validate settings, find the app profile (find_profile: the task's `profile` file, or profiles/<app>.yml in
    the playbook's or role's profiles/ folder, else the collection's), render it on the controller, and hand the
    module the result as its documented `plan` option. With verify_deliveries: once, only the first host of the run
    to verify a settings document delivers (_deliveries.py); the others probe."""

    def other_problems(self, args):
        settings = _plain(args.get('settings'))
        if (args.get('verify') == 'send' and args.get('state', 'present') == 'present' and isinstance(settings, dict)
                and not settings.get('test_email')):
            # on every host alike, not only on the one whose turn it is to deliver
            return [dict(path='settings.test_email', message='verify=send needs settings.test_email, the address the '
                                                             'test message goes to')]
        return []

    def module_args(self, args, task_vars):
        if args.get('plan') is not None:
            raise AnsibleActionFail('plan is set by the smtp_config action plugin from the app profile: do not set it')
        try:
            app, profile = find_profile(args.get('app'), args.get('profile'), self._find_profile_file)
            overrides = dict((name, args.get(name)) for name in ('format', 'key', 'mode', 'owner', 'group', 'validate'))
            plan, warnings = render_plan(app, profile, _plain(args.get('settings')), paths=args.get('paths'),
                                         path=args.get('path'), overrides=overrides)
        except ProfileProblem as exc:
            raise AnsibleActionFail(str(exc))
        self._profile_warnings = warnings
        args['app'] = app
        args['plan'] = plan
        if args.get('verify') == 'send' and args.get('verify_deliveries') == 'once':
            self._delivery = DeliveryClaim(C.DEFAULT_LOCAL_TMP, _plain(args['settings']))
            if not self._delivery.take():
                args['verify'] = 'probe'
        return args

    def _find_profile_file(self, name):
        try:
            return self._find_needle('profiles', name)
        except AnsibleError:
            return None

    def run(self, tmp=None, task_vars=None):
        self._profile_warnings = []
        self._delivery = None
        delivered = False
        try:
            result = super(ActionModule, self).run(tmp, task_vars)
            delivered = not result.get('failed') and (result.get('verification') or {}).get('mode') == 'send'
        finally:
            if self._delivery is not None:
                self._delivery.settle(delivered)
        if self._profile_warnings:
            result.setdefault('warnings', []).extend(self._profile_warnings)
        return result

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleError

from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import (
    ProfileProblem, get_profile, known_apps, load_profile, render_plan,
)
from ansible_collections.email_ops.smtp.plugins.plugin_utils._validated_action import ValidatedSettingsAction, _plain


class ActionModule(ValidatedSettingsAction):
    """Validate settings, load the app profile (the collection's, or the task's `profile` file, looked up
    in the playbook's or role's profiles/ folder first), render it on the controller, and hand the
    module the result as its documented `plan` option."""

    def module_args(self, args, task_vars):
        if args.get('plan') is not None:
            raise AnsibleActionFail('plan is set by the smtp_config action plugin from the app profile: do not set it')
        app = args.get('app') or 'generic'
        try:
            if args.get('profile'):
                try:
                    source = self._find_needle('profiles', args['profile'])
                except AnsibleError as exc:
                    raise AnsibleActionFail('profile %s not found (looked in the profiles/ folders beside the playbook '
                                            'and role, and as a path): %s' % (args['profile'], exc))
                profile = load_profile(source)
                if not args.get('app'):
                    app = args['profile'].rsplit('/', 1)[-1].rsplit('.', 1)[0]
            else:
                profile = get_profile(app)
                if profile is None:
                    raise AnsibleActionFail('unknown app %r: known apps are %s (or give profile: <file>)'
                                            % (app, ', '.join(known_apps())))
            overrides = dict((name, args.get(name)) for name in ('format', 'key', 'mode', 'owner', 'group', 'validate'))
            plan, warnings = render_plan(app, profile, _plain(args.get('settings')), paths=args.get('paths'),
                                         path=args.get('path'), overrides=overrides)
        except ProfileProblem as exc:
            raise AnsibleActionFail(str(exc))
        self._profile_warnings = warnings
        args['app'] = app
        args['plan'] = plan
        return args

    def run(self, tmp=None, task_vars=None):
        self._profile_warnings = []
        result = super(ActionModule, self).run(tmp, task_vars)
        if self._profile_warnings:
            result.setdefault('warnings', []).extend(self._profile_warnings)
        return result

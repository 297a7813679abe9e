# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: app_profile
author: email_ops maintainers (@email-ops)
version_added: 1.1.0
short_description: The app profile an smtp_config task would use
description:
  - Finds and reads the app profile exactly as M(email_ops.smtp.smtp_config) does, and returns it checked against the
    profile schema. With O(profile), the user's file, looked up in the C(profiles/) folders beside the playbook or
    role, then as a path. Else C(profiles/<app>.yml) beside the playbook or role, else the collection's profile.
  - The configure role takes the defaults of C(smtp_service_name), C(smtp_service_action) and
    C(smtp_service_command) from the profile's C(service) this way.
  - Each profile file is read once per process.
options:
  _terms:
    description: The app, for example V(postfix). Empty means V(generic).
    type: list
    elements: str
    required: true
  profile:
    description: The user's own profile file, instead of the app's. The app is then named after the file.
    type: str
    default: ''
'''

EXAMPLES = r'''
- name: Show how the app takes a new config file
  ansible.builtin.debug:
    msg: "{{ lookup('email_ops.smtp.app_profile', 'postfix').service }}"
'''

RETURN = r'''
_raw:
  description: The profile, one mapping per term (keys C(description), C(service), C(files); see docs/app-profiles.md).
  type: list
  elements: dict
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import ProfileProblem, find_profile


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}

        def find_file(name):
            return self.find_file_in_search_path(variables, 'profiles', name, ignore_missing=True)

        profiles = []
        for term in terms:
            try:
                profiles.append(find_profile(term, self.get_option('profile'), find_file)[1])
            except ProfileProblem as exc:
                raise AnsibleLookupError(str(exc))
        return profiles

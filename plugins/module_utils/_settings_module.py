# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AnsibleModule for the modules that take `settings` (smtp_config, smtp_test).

Internal to the email_ops.smtp collection; not a public API.
Apart from _settings so that the pure logic (_settings, _masking, the SMTP client) imports without ansible-core.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.email_ops.smtp.plugins.module_utils._settings import protect_secrets


class SettingsModule(AnsibleModule):
    """Every form of the settings' secrets is registered before ansible-core logs the invocation to syslog or the journal.

    ansible-core logs `settings` as str(dict), that is its repr(): a password holding a backslash, both
    quote characters or a control character shows there in escaped form, which the raw no_log value
    does not match. Use it as AnsibleModule: SettingsModule(argument_spec=..., supports_check_mode=True).
    """

    def _log_invocation(self):
        protect_secrets(self, self.params.get('settings'))
        super(SettingsModule, self)._log_invocation()

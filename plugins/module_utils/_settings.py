# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settings document as modules see it: argument spec, defaults, which keys are secret.

Internal to the email_ops.smtp collection; not a public API.
The JSON Schema in schemas/smtp_settings.schema.json is the contract users validate against on the
controller; this spec mirrors it for the module side (types, defaults, no_log), and a unit test
keeps the two in step.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MASK, register_secret

SECRET_KEYS = ('password',)
# Where the password goes: update_password=on_create keeps a stored one only while these stay the same.
DESTINATION_KEYS = ('host', 'port', 'security', 'username')
__all__ = ['DESTINATION_KEYS', 'MASK', 'SECRET_KEYS', 'add_secret', 'protect_secrets', 'settings_argument_spec']

SECURITY_CHOICES = ['starttls', 'ssl', 'none']
AUTH_METHOD_CHOICES = ['auto', 'plain', 'login', 'cram-md5', 'xoauth2', 'oauthbearer', 'none']


def settings_argument_spec():
    """The `settings` option shared by smtp_config and smtp_test (docs: doc fragment email_ops.smtp.settings)."""
    return dict(
        settings=dict(
            type='dict',
            required=True,
            options=dict(
                connection_type=dict(type='str', default='smtp', choices=['smtp']),
                host=dict(type='str', required=True),
                port=dict(type='int', default=587),
                security=dict(type='str', default='starttls', choices=SECURITY_CHOICES),
                auth_method=dict(type='str', default='auto', choices=AUTH_METHOD_CHOICES),
                username=dict(type='str'),
                password=dict(type='str', no_log=True),
                oauth2=dict(
                    type='dict',
                    options=dict(
                        token_url=dict(type='str', required=True, no_log=False), client_id=dict(type='str', required=True),
                        client_secret=dict(type='str', required=True, no_log=True), scope=dict(type='str'),
                        refresh_token=dict(type='str', no_log=True), ca_file=dict(type='path'),
                    ),
                ),
                from_email=dict(type='str', required=True),
                from_name=dict(type='str'),
                test_email=dict(type='str'),
                error_recipients=dict(
                    type='list', elements='dict',
                    options=dict(email=dict(type='str', required=True), name=dict(type='str')),
                ),
                timeout=dict(type='int', default=30),
                validate_certs=dict(type='bool', default=True),
                ca_file=dict(type='path'),
                helo_name=dict(type='str'),
                allow_insecure_auth=dict(type='bool', default=False),
            ),
        ),
    )


def protect_secrets(module, settings):
    """Register every form of every secret of a settings mapping with the module, so Ansible scrubs it from all output.

    no_log on the suboption hides the raw value in `invocation`; this also covers the escaped forms a
    file format writes (msg, diff, warnings, the output of a `validate` command that prints the file)
    and the base64 forms an SMTP server may echo (see _masking.secret_forms).
    """
    if not isinstance(settings, dict):
        return
    for key in SECRET_KEYS:
        add_secret(module, settings.get(key), settings.get('username'))
    if settings.get('oauth2'):
        from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import secret_values  # only for settings that use it (see _smtp_client)
        for value in secret_values(settings['oauth2']):
            add_secret(module, value)


def add_secret(module, value, username=None):
    """Register `value` (a secret read from the settings or from a file) in every form it can take."""
    if value not in (None, ''):
        register_secret(module, value, username)

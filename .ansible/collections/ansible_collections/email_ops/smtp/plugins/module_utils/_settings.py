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

SECRET_KEYS = ('password',)
MASK = '********'

SECURITY_CHOICES = ['starttls', 'ssl', 'none']
AUTH_METHOD_CHOICES = ['auto', 'plain', 'login', 'cram-md5', 'xoauth2', 'none']


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
    """Register every secret of a settings mapping with the module so Ansible scrubs it from all output.

    no_log on the suboption hides it in `invocation`; this also covers msg, diff, warnings and the
    output of a `validate` command that happens to print the file.
    """
    for key in SECRET_KEYS:
        add_secret(module, settings.get(key))


def add_secret(module, value):
    if value not in (None, ''):
        module.no_log_values.add(str(value))

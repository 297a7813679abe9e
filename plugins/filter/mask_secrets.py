# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mask_secrets filter: the role's way to show a command's output without the settings' secrets."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import all_forms, scrub_forms
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import SECRET_KEYS


def mask_secrets(value, settings):
    """`value` (text, or a list or mapping of texts) with every form of every secret of `settings` masked."""
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError('mask_secrets needs the settings document (a mapping) as its argument')
    secrets = [to_text(settings.get(key)) for key in SECRET_KEYS if settings.get(key) not in (None, '')]
    forms = all_forms(secrets)
    return _mask(value, forms)


def _mask(value, forms):
    if isinstance(value, Mapping):
        return dict((key, _mask(item, forms)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_mask(item, forms) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub_forms(to_text(value), forms)


class FilterModule(object):
    def filters(self):
        return {'mask_secrets': mask_secrets}

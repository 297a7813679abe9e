# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fail clearly on a managed host whose Python is older than the collection supports (ansible-core 2.16 still
drives Python 2.7 hosts). Internal to the email_ops.smtp collection; not a public API.

Kept in Python 2 syntax on purpose: the modules import it before the module_utils that need Python 3.6.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys

MINIMUM = (3, 6)


def fail_if_unsupported(import_error):
    """Called first in main(): `import_error` is what importing the Python 3 module_utils raised, if anything."""
    if sys.version_info >= MINIMUM and import_error is None:
        return
    if sys.version_info >= MINIMUM:
        raise import_error
    # Every argument taken as it is (no check that could fail first), none of them logged (no_log) or returned
    # (params emptied): they hold the password.
    import platform
    from ansible.module_utils.basic import AnsibleModule, _load_params
    accept_all = dict((name, dict(type='raw')) for name in _load_params())
    module = AnsibleModule(argument_spec=accept_all, supports_check_mode=True, no_log=True)
    module.params = {}
    module.fail_json(msg='email_ops.smtp needs Python %d.%d or later on the managed host; this host runs Python %s (%s). '
                         'Set ansible_python_interpreter to a newer Python on it.'
                     % (MINIMUM[0], MINIMUM[1], platform.python_version(), sys.executable))

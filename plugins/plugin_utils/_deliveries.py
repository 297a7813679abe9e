# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One test delivery per settings document and ansible-playbook run (smtp_config's verify_deliveries: once).

Internal to the email_ops.smtp collection; not a public API.

The smtp_config action runs on the controller, in workers forked from one ansible-playbook process, so the hosts
agree through files in that process's own temporary directory (ansible-core's DEFAULT_LOCAL_TMP: private, and
removed when the run ends). The first host to verify a document claims it and delivers; a host that finds it claimed
probes. A claim whose host did not deliver (its file unchanged, check mode, a failure) is given up, so that a later
host with the same document delivers. Nothing depends on which hosts run the task, on hostvars or on batches.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os


class DeliveryClaim(object):

    def __init__(self, directory, settings):
        document = dict((key, value) for key, value in settings.items() if key != 'test_email')
        # The document holds the password: the name is a hash of it, salted with the run's random directory name.
        text = directory + json.dumps(document, sort_keys=True, default=str)
        self.path = os.path.join(directory, 'email_ops_smtp_delivery_' + hashlib.sha256(text.encode('utf-8')).hexdigest())
        self.held = False

    def take(self):
        """True when no other host of this run holds the document: this host delivers its test message."""
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        self.held = True
        return True

    def settle(self, delivered):
        """Keep the claim when the test message went out; otherwise give it up for a later host."""
        if self.held and not delivered:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.held = False

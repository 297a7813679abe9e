# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""App profiles (profiles/<app>.yml), read on the controller once per run.

Internal to the email_ops.smtp collection; not a public API.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import yaml

PROFILES_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'profiles')


def _load_all():
    profiles = {}
    for name in sorted(os.listdir(PROFILES_DIR)):
        if name.endswith('.yml'):
            with open(os.path.join(PROFILES_DIR, name)) as handle:
                profiles[name[:-len('.yml')]] = yaml.safe_load(handle)
    return profiles


PROFILES = _load_all()


def get_profile(app):
    """The profile for `app`, or None; `known_apps()` lists the names for an error message."""
    return PROFILES.get(app)


def known_apps():
    return sorted(PROFILES)

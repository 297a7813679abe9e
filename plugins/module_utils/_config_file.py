# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_config's backend: put the settings block into an app's config file, prove it, write it safely.

Internal to the email_ops.smtp collection; not a public API.
Uses from the module object: params, check_mode, _diff, no_log_values and ansible-core's file helpers
(atomic_move, backup_local, run_command, load_file_common_arguments, set_fs_attributes_if_different).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, format_for_path, get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._profiles import ProfileError, render_block
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import MASK, add_secret, protect_secrets
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import SmtpFailure, run_session

MASK_CHANGED = MASK + ' (changed)'


class ConfigError(Exception):
    """A problem the user can fix; the file is left as it was. `details` go into the failed result."""

    def __init__(self, msg, details=None):
        super(ConfigError, self).__init__(msg)
        self.details = details or {}


class ConfigFile(object):
    """One file of an app. `spec` is that file's part of the plan the action plugin rendered from the
    app profile (see _app_files.py): path, formats, key, what we own, entries, secrets, mode, commands."""

    def __init__(self, module, spec):
        self.module = module
        self.spec = spec
        # Per-file view of the options: the file's own path, mode and validate command.
        self.params = dict(module.params, path=spec['path'], validate=spec.get('validate'),
                           mode=spec.get('mode'), owner=spec.get('owner'), group=spec.get('group'))
        self.path = self.params['path']
        self.settings = module.params['settings']
        self.format = get_format(self._format_name())
        self.key = self._profile_key()
        self.secrets = list(spec.get('secrets') or [])
        protect_secrets(module, self.settings)
        for name in self.secrets:  # the rendered form of a secret (user:password, an escaped value)
            add_secret(module, (spec.get('entries') or {}).get(name))

    def _format_name(self):
        allowed = self.spec['formats']
        name = self.spec.get('format')
        if name is None:
            name = allowed[0] if len(allowed) == 1 else format_for_path(self.path)
        if name not in allowed:
            raise ConfigError('app %s writes %s, not %s' % (self.params['app'], ' or '.join(allowed), name))
        return name

    def _profile_key(self):
        key = self.spec.get('key')
        return key.get(self.format.name) if isinstance(key, dict) else key

    def run(self):
        old_text = self._read()
        old_block = self._read_block(old_text)
        for name in self.secrets:
            add_secret(self.module, (old_block or {}).get(name))

        if self.params['state'] == 'present':
            new_block = self._desired_block(old_block)
            content_changed = new_block != old_block
            new_text = self.format.write_block(old_text, self.key, new_block) if content_changed else old_text
        else:
            new_block = None
            content_changed = old_block is not None
            new_text = self.format.remove_block(old_text, self.key) if content_changed else old_text

        result = dict(changed=content_changed, path=self.path, format=self.format.name, key=self.key,
                      created=content_changed and not os.path.exists(self.path))
        result['secret_changed'] = any((old_block or {}).get(n) != (new_block or {}).get(n) for n in self.secrets)

        verification = self._verify(content_changed)
        if verification is not None:
            result['verification'] = verification

        if content_changed and not self.module.check_mode:
            backup_file = self._write(new_text)
            if backup_file:
                result['backup_file'] = backup_file

        if self.params['state'] == 'present' or os.path.exists(self.path):
            result['changed'] = self._apply_file_attributes(result['changed'])

        if self.module._diff:
            result['diff'] = self._diff(old_text, old_block, new_block)
        result['msg'] = self._summary(result)
        return result

    def _read(self):
        if os.path.isdir(self.path):
            raise ConfigError('%s is a directory; path must name the config file' % self.path)
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise ConfigError('the folder %s does not exist: create it first (ansible.builtin.file state=directory)' % parent)
        if not os.path.exists(self.path):
            return ''
        try:
            with open(self.path, 'rb') as handle:
                return to_text(handle.read(), errors='strict')
        except UnicodeDecodeError:
            raise ConfigError('%s is not UTF-8 text; it was left as it is' % self.path)
        except (IOError, OSError) as exc:
            raise ConfigError('cannot read %s: %s' % (self.path, exc.strerror))

    def _read_block(self, text):
        try:
            return self.format.read_block(text, self.key)
        except FormatError as exc:
            raise ConfigError('cannot parse %s as %s, so it was left as it is: %s' % (self.path, self.format.name, exc))

    def _desired_block(self, old_block):
        """What our part of the file should hold: the rendered entries, plus, where we own only
        some keys, every other key of the block as it is."""
        try:
            block = render_block(self.spec['entries'], self.format.supports_lists)
        except ProfileError as exc:
            raise ConfigError('app %s: %s' % (self.params['app'], exc))
        if self.spec.get('own') == 'keys' and old_block:
            owned = set(self.spec.get('owned') or []) | set(block)
            kept = dict((name, value) for name, value in old_block.items() if name not in owned)
            kept.update(block)
            block = kept
        if self.params['update_password'] == 'on_create' and old_block is not None:
            # An existing block keeps its secret (or its lack of one): rotate it elsewhere.
            for name in self.secrets:
                block.pop(name, None)
                if name in old_block:
                    block[name] = old_block[name]
        return block

    def _verify(self, content_changed):
        """Prove the new settings from this host before they are written (verify, verify_when)."""
        mode = self.params['verify']
        if self.params['state'] != 'present' or mode == 'none':
            return None
        if not content_changed and self.params['verify_when'] == 'changed':
            return None
        if self.module.check_mode and mode == 'send':
            mode = 'probe'  # check mode proves everything but delivery
        # probe stops after RCPT TO (then RSET, QUIT): nothing is delivered
        stage = 'send' if mode == 'send' else 'rcpt'
        to = self.settings['test_email'] or (self.settings['from_email'] if stage == 'rcpt' else None)
        if not to:
            raise ConfigError('verify=send needs settings.test_email, the address the test message goes to')
        try:
            facts = run_session(self.settings, stage=stage, to=to)
        except SmtpFailure as exc:
            raise ConfigError('verification (%s) failed, so %s was left as it was: %s' % (mode, self.path, exc.msg),
                              dict(failure=exc.as_dict(), verification=exc.facts))
        facts['mode'] = mode
        return facts

    def _write(self, text):
        """Temp file in the same folder (0600 from the start), validate, back up, then atomic rename."""
        folder, name = os.path.split(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=folder)
        try:
            try:
                with os.fdopen(fd, 'wb') as handle:
                    handle.write(to_bytes(text))
                    handle.flush()
                    os.fsync(handle.fileno())
            except (IOError, OSError) as exc:
                raise ConfigError('cannot write %s (%s); %s was left as it was' % (tmp, exc.strerror, self.path))
            self._validate(tmp)
            backup_file = self.module.backup_local(self.path) if self.params['backup'] and os.path.exists(self.path) else None
            # atomic_move gives a new file umask-based permissions before we set `mode`: keep that window private.
            old_umask = os.umask(0o077)
            try:
                self.module.atomic_move(tmp, self.path, unsafe_writes=self.params['unsafe_writes'])
            finally:
                os.umask(old_umask)
            return backup_file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _validate(self, tmp):
        command = self.params['validate']
        if not command:
            return
        if '%s' not in command:
            raise ConfigError('validate must contain %%s for the file to check: %s' % command)
        rc, out, err = self.module.run_command(command % tmp)
        if rc != 0:
            raise ConfigError('validate command failed with rc %d, so %s was left as it was: %s'
                              % (rc, self.path, to_native(err or out).strip()))

    def _apply_file_attributes(self, changed):
        file_args = self.module.load_file_common_arguments(self.params)
        if not os.path.exists(self.path):
            return True  # check mode on a file not yet created: it would be created with these attributes
        return self.module.set_fs_attributes_if_different(file_args, changed)

    def _masked(self, block, other):
        """`block` with each secret shown as MASK, or MASK_CHANGED where it differs from `other`."""
        masked = dict(block)
        for name in self.secrets:
            if name in masked:
                masked[name] = MASK if other is not None and other.get(name) == block[name] else MASK_CHANGED
        return masked

    def _diff(self, old_text, old_block, new_block):
        before = old_text
        if old_block is not None:
            before = self.format.write_block(old_text, self.key, self._masked(old_block, old_block))
        if new_block is None:
            after = self.format.remove_block(old_text, self.key) if old_block is not None else old_text
        else:
            after = self.format.write_block(old_text, self.key, self._masked(new_block, old_block))
        header = '%s (content)' % self.path
        return dict(before=before, after=after, before_header=header, after_header=header)

    def _summary(self, result):
        if not result['changed']:
            return 'settings already in place'
        if self.params['state'] == 'absent':
            return 'settings block removed'
        verb = 'would be written' if self.module.check_mode else 'written'
        proven = result.get('verification')
        return 'settings %s%s' % (verb, ' after a verified %s' % proven['mode'] if proven else '')

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_config across all the files of an app: one ConfigFile per file, one result, all or nothing.

Internal to the email_ops.smtp collection; not a public API.

The plan (module option `plan`, set by the action plugin from the app profile) lists the files, each
with its entries already rendered, and the app's `check` commands. The run:
  1. reads every file and works out its new text (nothing written yet);
  2. verifies the settings once, before anything is written (verify, verify_when);
  3. writes every changed file to a temp file and runs its validate command, before renaming any;
  4. renames them in turn; if one fails, the files already renamed get their old text back;
  5. runs each changed file's after-change command, then the app's check commands; if one fails,
     every changed file gets its old text back and the task fails.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.email_ops.smtp.plugins.module_utils._config_file import ConfigError, ConfigFile


class AppFiles(object):
    def __init__(self, module):
        self.module = module
        self.plan = module.params['plan']
        self.files = []
        for spec in self.plan['files']:
            try:
                self.files.append(ConfigFile(module, spec))
            except ConfigError as exc:
                raise self._named(spec, exc)
        self.several = len(self.files) > 1

    def _named(self, spec, exc):
        if len(self.plan['files']) == 1:
            return exc
        return ConfigError('%s file %s (%s): %s' % (self.plan['app'], spec['id'], spec['path'], exc), exc.details)

    def run(self):
        state = self.module.params['state']
        steps = []
        for config in self.files:
            try:
                steps.append(config.prepare(state))
            except ConfigError as exc:
                raise self._named(config.spec, exc)
        any_changed = any(step['changed'] for step in steps)

        verification = self.files[0]._verify(any_changed)

        if not self.module.check_mode:
            for config in self.files:
                config._remove_stale_temp_files()  # left by a run that was killed mid-write
            if any_changed:
                self._write_all(steps)

        results = {}
        for config, step in zip(self.files, steps):
            entry = dict(path=config.path, format=config.format.name, key=config.key, changed=step['changed'],
                         created=step['changed'] and step['old_text'] == '' and not step['existed'],
                         secret_changed=step['secret_changed'])
            if step.get('backup_file'):
                entry['backup_file'] = step['backup_file']
                entry['previous_mode'] = config.previous_mode()
            if step['changed'] and config.spec.get('after_change'):
                entry['after_change'] = config.spec['after_change']  # a rollback runs it again (postmap...)
            if state == 'present' or os.path.exists(config.path):
                entry['changed'] = config._apply_file_attributes(entry['changed'])
            results[config.spec['id']] = entry

        first = results[self.files[0].spec['id']]
        result = dict(first, changed=any(item['changed'] for item in results.values()),
                      secret_changed=any(item['secret_changed'] for item in results.values()), app=self.plan['app'])
        result.pop('backup_file', None)
        result.pop('previous_mode', None)
        if first.get('backup_file'):
            result['backup_file'], result['previous_mode'] = first['backup_file'], first['previous_mode']
        result['files'] = results
        result['service'] = self.plan.get('service') or {'action': 'none'}
        if verification is not None:
            result['verification'] = verification
        if self.module._diff:
            diffs = [config._diff(step['old_text'], step['old_block'], step['new_block'])
                     for config, step in zip(self.files, steps)]
            result['diff'] = diffs[0] if len(diffs) == 1 else diffs
        result['msg'] = self.files[0]._summary(result)
        return result

    def _write_all(self, steps):
        pairs = [(config, step) for config, step in zip(self.files, steps) if step['changed']]
        if self.several:
            for config, step in pairs:  # every new file proven before the first rename
                self._prevalidate(config, step['new_text'])
        done = []
        try:
            for config, step in pairs:
                try:
                    step['backup_file'] = config._write(step['new_text'])
                except ConfigError as exc:
                    raise self._named(config.spec, exc)
                done.append((config, step))
            for config, step in pairs:
                self._run(config.spec.get('after_change'), config.spec, 'after-change command')
            if pairs:
                for command in self.plan.get('checks') or []:
                    self._run(command, None, 'check')
        except ConfigError as exc:
            self._restore(done)
            raise ConfigError('%s; the files were restored' % exc if done and self.several else str(exc), exc.details)

    def _prevalidate(self, config, text):
        try:
            config._prevalidate(text)
        except ConfigError as exc:
            raise self._named(config.spec, exc)

    def _run(self, command, spec, what):
        if not command:
            return
        rc, out, err = self.module.run_command(command, use_unsafe_shell=False)
        if rc != 0:
            where = ' for file %s' % spec['id'] if spec else ''
            raise ConfigError('%s %s%s failed with rc %d: %s' % (self.plan['app'], what, where, rc, to_native(err or out).strip()))

    def _restore(self, done):
        for config, step in reversed(done):
            if not step['existed']:
                if os.path.exists(config.path):
                    os.unlink(config.path)
                continue
            params = config.params
            config.params = dict(params, validate=None, backup=False)
            try:
                config._write(step['old_text'])
            finally:
                config.params = params
            try:
                self._run(config.spec.get('after_change'), config.spec, 'after-change command')
            except ConfigError:
                pass  # the old file is back; the failure being reported is the one that matters

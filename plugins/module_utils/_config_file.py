# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_config's backend: put the settings block into an app's config file, prove it, write it safely.

Internal to the email_ops.smtp collection; not a public API.
Uses from the module object: params, check_mode, _diff, no_log_values and ansible-core's file helpers
(run_command, load_file_common_arguments, set_fs_attributes_if_different, the selinux helpers, and
atomic_move where a plain rename is not possible).

Every file written here holds a secret, and the folder may belong to someone else (/etc/myapp owned by
the app's user, the playbook running as root), so:
- path is opened without following a link (O_NOFOLLOW) and without blocking (O_NONBLOCK), and only a
  regular file of at most MAX_BYTES is read; a link at path is refused unless `follow`, which resolves
  it once and then reads and writes that same file;
- the temp file (`.<name>.XXXXXXXX.tmp`, created exclusively by mkstemp) gets its final owner, group
  and mode on its descriptor before a byte is written, and is locked while it lives; temp files of a
  killed run (our exact prefix and suffix, regular, unlocked) are removed by the next run;
- backups are our own: `<file>.<random>.<time>~`, created O_EXCL|O_NOFOLLOW with the final owner and
  a mode no wider than the old file's nor the new one's, holding the bytes read from the old file;
- the temp file is renamed over the target (a rename replaces a link, it never writes through one).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import binascii
import errno
import grp
import os
import pwd
import re
import stat
import tempfile
import time

try:
    import fcntl
except ImportError:  # not on POSIX: no locks, stale temp files are then left alone
    fcntl = None

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, format_for_path, get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._profiles import ProfileError, render_block
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import DESTINATION_KEYS, MASK, add_secret, protect_secrets
from ansible_collections.email_ops.smtp.plugins.module_utils._smtp_client import SmtpFailure, run_session

MASK_CHANGED = MASK + ' (changed)'
MAX_BYTES = 16 * 1024 * 1024  # larger is no config file we would edit: refuse rather than fill the host's memory
BOM = b'\xef\xbb\xbf'
_OPEN_READ = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0)
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
INTEGER_MODE_HINT = ('mode must be a quoted string such as \'0600\' or \'u=rw,g=,o=\', not the integer %d: modes are octal, '
                     'and a YAML integer (644, or 0644 read as 420) does not mean what chmod means. For consistent results, '
                     'quote octal numbers (for example, \'644\' or \'1777\') so Ansible receives a string and can do its '
                     'own conversion from string into number.')


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
        protect_secrets(module, self.settings)
        if not os.path.isabs(self.path):
            raise ConfigError('path must be absolute: %s is relative to a working directory that is not yours to choose; '
                              'give the full path, nothing was written' % self.path)
        self.format = get_format(self._format_name())
        self.key = self._profile_key()
        self.secrets = list(spec.get('secrets') or [])
        for name in self.secrets:  # the rendered form of a secret (user:password, an escaped value)
            add_secret(module, (spec.get('entries') or {}).get(name))
        self.target = self._target()
        self.stat = None  # the old file's fstat, once read
        self.raw = None  # the old file's bytes, as read
        self.bom = False

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

    def prepare(self, state):
        """Read the file and work out its new text; nothing is written. Returns the step AppFiles carries on with.

        Every secret met on the way is registered for masking: ours in the old block, and values under a secret
        key's name elsewhere in the file (a block under an old key, another section, another case)."""
        old_text = self._read()
        old_block = self._read_block(old_text)
        for name in self.secrets:
            add_secret(self.module, (old_block or {}).get(name))
        for value in self._secrets_elsewhere(old_text):
            add_secret(self.module, value)
        self.mode, self.uid, self.gid = self._final_attributes()
        own = self.spec.get('own', 'block')
        if state == 'present':
            new_block = self._desired_block(old_block)
        elif own == 'keys':  # absent: drop only the keys we own, keep the app's own
            owned = set(self.spec.get('owned') or []) | set(self.spec.get('entries') or {})
            new_block = dict((n, v) for n, v in (old_block or {}).items() if n not in owned) or None
        else:
            new_block = None
        changed = (old_block or {}) != (new_block or {})
        if not changed:
            new_text = old_text
        elif new_block is None and own != 'keys':
            new_text = self.format.remove_block(old_text, self.key)
        else:
            new_text = self.format.write_block(old_text, self.key, new_block or {})
        secret_changed = any((old_block or {}).get(n) != (new_block or {}).get(n) for n in self.secrets)
        return dict(old_text=old_text, old_block=old_block, new_block=new_block, new_text=new_text,
                    changed=changed, secret_changed=secret_changed, existed=self.stat is not None)

    def previous_mode(self):
        """The old file's mode: a backup may be narrower than the file was (it holds a secret), restoring it takes this."""
        return '%04o' % stat.S_IMODE(self.stat.st_mode) if self.stat is not None else None

    def _target(self):
        """The file to read and write: path itself, or with follow=true what a link at path points to."""
        try:
            info = os.lstat(self.path)
        except OSError:
            return self.path  # missing (or unreadable: _read says so)
        if not stat.S_ISLNK(info.st_mode):
            return self.path
        if not self.params.get('follow'):
            raise ConfigError('%s is a symbolic link: nothing was read or written. Set follow=true to edit the file it '
                              'points to, or give that file as path' % self.path)
        return os.path.realpath(self.path)

    def _read(self):
        """The old file's text ('' when missing), read without following a link or blocking on a FIFO."""
        parent = os.path.dirname(self.target)
        if not os.path.isdir(parent):
            raise ConfigError('the folder %s does not exist: create it first (ansible.builtin.file state=directory)' % parent)
        try:
            info = os.lstat(self.target)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return ''
            raise ConfigError('cannot read %s: %s' % (self.target, exc.strerror))
        self._check_regular(info)  # before opening: opening a device can have effects of its own
        try:
            fd = os.open(self.target, _OPEN_READ)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ConfigError('%s became a symbolic link while it was read; it was left as it is' % self.target)
            raise ConfigError('cannot read %s: %s' % (self.target, exc.strerror))
        try:
            info = os.fstat(fd)
            self._check_regular(info)
            if info.st_size > MAX_BYTES:
                raise ConfigError(self._too_large())
            chunks, size = [], 0
            while size <= MAX_BYTES:
                chunk = os.read(fd, 1024 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > MAX_BYTES:
                raise ConfigError(self._too_large())
        except (IOError, OSError) as exc:
            raise ConfigError('cannot read %s: %s' % (self.target, exc.strerror))
        finally:
            os.close(fd)
        self.stat, self.raw = info, b''.join(chunks)
        data = self.raw
        if data.startswith(BOM):  # kept: written back with the BOM the app's editor put there
            self.bom, data = True, data[len(BOM):]
        try:
            return to_text(data, errors='strict')
        except UnicodeDecodeError:
            raise ConfigError('%s is not UTF-8 text; it was left as it is' % self.target)

    def _too_large(self):
        return '%s is larger than %d MiB, more than a config file we edit; it was left as it is' % (self.target, MAX_BYTES // 1048576)

    def _check_regular(self, info):
        if stat.S_ISREG(info.st_mode):
            return
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError('%s is a directory; path must name the config file' % self.target)
        kind = 'a FIFO' if stat.S_ISFIFO(info.st_mode) else 'a device' if (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)) \
            else 'a socket' if stat.S_ISSOCK(info.st_mode) else 'a symbolic link' if stat.S_ISLNK(info.st_mode) else 'not a file'
        raise ConfigError('%s is %s, not a regular file: nothing was read or written; path must name the config file'
                          % (self.target, kind))

    def _secrets_elsewhere(self, text):
        secrets_in = getattr(self.format, 'secrets_in', None)  # formats whose block is not the whole file
        if secrets_in is None:
            return []
        try:
            return secrets_in(text, [name.lower() for name in self.secrets])
        except FormatError:
            return []

    def _final_attributes(self):
        """(mode, uid, gid) the file ends with; an owner, group or mode that cannot be fails here, before any write."""
        mode = self.params['mode']
        if isinstance(mode, int) and not isinstance(mode, bool):
            raise ConfigError(INTEGER_MODE_HINT % mode)
        base = self.stat.st_mode if self.stat is not None else stat.S_IFREG | 0o600
        if mode is None:
            final_mode = stat.S_IMODE(base)
        elif re.match(r'^0?[0-7]{1,4}$', str(mode)):
            final_mode = int(str(mode), 8)
        else:
            try:
                final_mode = self.module._symbolic_mode_to_octal(_Mode(base), str(mode))  # pylint: disable=protected-access
            except Exception:  # ansible-core raises ValueError (older: a bare Exception) for a bad symbolic mode
                raise ConfigError('mode %s is neither octal (\'0600\') nor symbolic (\'u=rw,g=,o=\'); nothing was written' % mode)
        folder = os.path.dirname(self.target)
        uid = self._id(self.params['owner'], pwd.getpwnam, 'owner', 'user')
        gid = self._id(self.params['group'], grp.getgrnam, 'group', 'group')
        if uid is None:
            uid = self.stat.st_uid if self.stat is not None else os.geteuid()
        if gid is None:
            if self.stat is not None:
                gid = self.stat.st_gid
            else:
                folder_info = os.stat(folder)
                gid = folder_info.st_gid if folder_info.st_mode & stat.S_ISGID else os.getegid()
        return final_mode & 0o7777, uid, gid

    @staticmethod
    def _id(name, lookup, option, what):
        if name in (None, ''):
            return None
        if re.match(r'^[0-9]+$', str(name)):
            return int(name)
        try:
            entry = lookup(str(name))
        except KeyError:
            raise ConfigError('%s %s: no such %s on this host; nothing was written' % (option, name, what))
        return entry[2]

    def _read_block(self, text):
        try:
            return self.format.read_block(text, self.key)
        except FormatError as exc:
            raise ConfigError('cannot parse %s as %s, so it was left as it is: %s' % (self.path, self.format.name, exc))

    def _desired_block(self, old_block):
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
            # An existing block keeps its secret (or its lack of one): rotate it elsewhere. The secret stays
            # only with the destination it was given for: a new host would otherwise receive the old password.
            if any(old_block.get(name) not in (None, '') for name in self.secrets):
                moved = [name for name in self._destination_fields() if old_block.get(name) != block.get(name)]
                if moved:
                    raise ConfigError('update_password=on_create keeps the stored password only for the same destination, '
                                      'but %s changed (%s), so the old password would go to a new destination; nothing '
                                      'was written. Give the password for it with update_password=always'
                                      % (', '.join(self._destination_settings(moved)), ', '.join(sorted(moved))))
            for name in self.secrets:
                block.pop(name, None)
                if name in old_block:
                    block[name] = old_block[name]
        return block

    def _destination_fields(self):
        """The app's keys that say where the password goes: those the plan found to follow host, port, security
        or username (`destinations`: {entry: [settings keys]})."""
        return sorted(self.spec.get('destinations') or {})

    def _destination_settings(self, names):
        found = set()
        for name in names:
            found.update(self.spec['destinations'][name])
        return ['settings.%s' % key for key in DESTINATION_KEYS if key in found]

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
            facts = run_session(self.settings, stage=stage, to=to, on_secret=lambda value: add_secret(self.module, value))
        except SmtpFailure as exc:
            raise ConfigError('verification (%s) failed, so %s was left as it was: %s' % (mode, self.path, exc.msg),
                              dict(failure=exc.as_dict(), verification=exc.facts))
        facts['mode'] = mode
        return facts

    def _prevalidate(self, text):
        """Run the validate command on `text` in a temp file (`.<name>.XXXXXXXX.check`) beside the target, before
        any file of a several-file app is renamed; removed after, or by the next run if this one dies."""
        if not self.params['validate']:
            return
        fd, tmp = self._temp_file('.check', text, None)
        try:
            self._validate(tmp)
        finally:
            os.close(fd)
            os.unlink(tmp)

    def _write(self, text):
        """Temp file with its final owner and mode, validate, back up, then rename it over the target."""
        fd, tmp = self._temp_file('.tmp', text, self.mode)
        try:
            self._validate(tmp)
            backup_file = self._backup() if self.params['backup'] and self.stat is not None else None
            self._rename(tmp)
            return backup_file
        finally:
            os.close(fd)
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def _temp_file(self, suffix, text, mode):
        """(fd, path) of a new temp file beside the target holding `text`: created exclusively, locked while this
        run lives (the next run's cleanup leaves it alone), given its final owner and `mode` before any byte."""
        folder, name = os.path.split(self.target)
        try:
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix=suffix, dir=folder)
        except (IOError, OSError) as exc:
            raise ConfigError('cannot create a temporary file in %s (%s); %s was left as it was' % (folder, exc.strerror, self.path))
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if mode is not None:
                self._set_owner_and_mode(fd, mode)
            _write_all(fd, (BOM if self.bom else b'') + to_bytes(text))
        except (IOError, OSError) as exc:
            os.close(fd)
            os.unlink(tmp)
            raise ConfigError('cannot write a temporary file in %s (%s); %s was left as it was' % (folder, exc.strerror, self.path))
        return fd, tmp

    def _set_owner_and_mode(self, fd, mode):
        info = os.fstat(fd)
        if (info.st_uid, info.st_gid) != (self.uid, self.gid):
            try:
                os.fchown(fd, self.uid, self.gid)
            except OSError as exc:
                # Without root, keeping the old file's owner may not be ours to do (atomic_move shrugs too);
                # an owner or group the task asks for must be given.
                if exc.errno != errno.EPERM or self.params['owner'] or self.params['group']:
                    raise
        os.fchmod(fd, mode)

    def _backup(self):
        """A copy of the bytes we read, in a file only we create, never wider than the old or the new file."""
        mode = stat.S_IMODE(self.stat.st_mode) & self.mode & 0o777
        fd = name = None
        for dummy in range(10):
            name = '%s.%s.%s~' % (self.target, to_text(binascii.hexlify(os.urandom(8))), time.strftime('%Y-%m-%d@%H:%M:%S'))
            try:
                fd = os.open(name, _OPEN_NEW, 0o600)
                break
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise ConfigError('cannot create a backup of %s (%s); it was left as it was' % (self.target, exc.strerror))
        if fd is None:
            raise ConfigError('cannot create a backup of %s: every name tried was taken; it was left as it was' % self.target)
        try:
            self._set_owner_and_mode(fd, mode)
            _write_all(fd, self.raw)
            if os.utime in getattr(os, 'supports_fd', ()):
                os.utime(fd, (self.stat.st_atime, self.stat.st_mtime))
        except (IOError, OSError) as exc:
            os.close(fd)
            os.unlink(name)
            raise ConfigError('cannot write a backup of %s (%s); it was left as it was' % (self.target, exc.strerror))
        os.close(fd)
        return name

    def _rename(self, tmp):
        """rename(2) the temp file over the target: the target's SELinux context first, as atomic_move does.

        Not atomic_move itself: it copies the old file's mode onto the temp file (a 0644 window for the
        new secret) and changes a new file's mode through its path after the rename. It stays the fallback
        where a rename is refused (bind mounts, vboxsf), with its unsafe_writes.
        """
        if self.module.selinux_enabled():
            if self.stat is not None:
                context = self.module.selinux_context(self.target)
            else:
                context = self.module.selinux_default_context(self.target)
            self.module.set_context_if_different(tmp, context, False)
        try:
            os.rename(tmp, self.target)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EACCES, errno.ETXTBSY, errno.EBUSY):
                raise ConfigError('cannot replace %s (%s); it was left as it was' % (self.target, exc.strerror))
            self.module.atomic_move(tmp, self.target, unsafe_writes=self.params['unsafe_writes'])

    def _remove_stale_temp_files(self):
        """Remove temp files a killed run of ours left in the folder: our exact name pattern, a regular file
        owned by us (or by the owner we give files), and not locked by a run still going."""
        folder, name = os.path.split(self.target)
        pattern = re.compile(r'^\.%s\.[a-z0-9_]{8}\.(?:tmp|check)$' % re.escape(name))
        try:
            entries = [entry for entry in os.listdir(folder) if pattern.match(entry)]
        except OSError:
            return
        for entry in entries[:1000]:
            path = os.path.join(folder, entry)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # a link, FIFO or device at our name is not ours: never opened
                fd = os.open(path, _OPEN_READ)
            except OSError:
                continue  # a link (O_NOFOLLOW), gone, or not ours to read
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode) or info.st_uid not in (os.geteuid(), self.uid):
                    continue
                if fcntl is None:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except (IOError, OSError):
                    continue  # a run in progress holds it
                same = os.lstat(path)
                if (same.st_dev, same.st_ino) == (info.st_dev, info.st_ino):
                    os.unlink(path)
            except OSError:
                continue
            finally:
                os.close(fd)

    def _validate(self, tmp):
        command = self.params['validate']
        if not command:
            return
        if '%s' not in command:
            raise ConfigError('validate must contain %%s for the file to check: %s' % command)
        try:
            command = command % tmp  # as ansible.builtin.template does: %% stands for a literal percent sign
        except (TypeError, ValueError):
            raise ConfigError('validate must contain %%s exactly once, for the file to check (write %%%% for a literal '
                              'percent sign); %s was left as it was' % self.path)
        rc, out, err = self.module.run_command(command)
        if rc != 0:
            raise ConfigError('validate command failed with rc %d, so %s was left as it was: %s'
                              % (rc, self.path, to_native(err or out).strip()))

    def _apply_file_attributes(self, changed):
        file_args = self.module.load_file_common_arguments(self.params, path=self.target)
        if not os.path.lexists(self.target):
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
        header = '%s (content)' % self.target
        return dict(before=before, after=after, before_header=header, after_header=header)

    def _summary(self, result):
        if not result['changed']:
            return 'settings already in place'
        if self.params['state'] == 'absent':
            return 'settings block removed'
        verb = 'would be written' if self.module.check_mode else 'written'
        proven = result.get('verification')
        return 'settings %s%s' % (verb, ' after a verified %s' % proven['mode'] if proven else '')


class _Mode(object):
    """What ansible-core's symbolic mode parser reads from a stat result, for a file not yet created."""

    def __init__(self, st_mode):
        self.st_mode = st_mode


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)

# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read, write and remove our settings block in a config file's text, leaving the rest of the file alone.

Internal to the email_ops.smtp collection; not a public API.

Pure logic, text in and text out: the caller reads and writes the file. It runs on managed nodes, so
it needs Python's standard library only; the yaml format alone needs PyYAML on the node.

get_format(name) gives an object with `name`, `supports_lists` and
  read_block(text, key)         -> dict, or None when our block is absent ('' is a missing or empty file)
  write_block(text, key, block) -> the new text, our block set to exactly `block` (None values left out)
  remove_block(text, key)       -> the new text without our block; `text` itself when the block is absent
read_block(write_block(T, k, B), k) equals B without its None values, and writing the same block twice
gives the same text, so comparing read_block with the desired block tells whether anything changes.

json, yaml  `key` is a dotted path to an object ('smtp', 'mail.smtp'); '' or None is the whole
            top-level object. The file is parsed and dumped again: other keys and their order survive,
            its layout does not, and YAML comments are lost (PyYAML cannot keep them).
ini         `key` is the section. Edited line by line, so comments, blank lines, order and the other
            sections survive byte for byte. Only `name = value` lines are keys (not `name: value`);
            values are written raw, as INI readers expect.
env         `key` is a variable prefix ('SMTP_'): block key `host` is SMTP_HOST, and every variable that
            starts with the prefix belongs to the block. Values are quoted for POSIX sh (`. file`) and
            systemd's EnvironmentFile; docker --env-file takes quotes literally, so it only suits values
            that need none.
msmtp       `key` is the account name in an msmtprc. Edited line by line like ini.
When a key appears twice in our block, the last one counts (as in the apps that read these files); a
write keeps the first line, updated, and removes the others. ini is the exception: a file Python's
configparser (strict) would reject (an unclosed `[section`, a section or a key given twice, a line that
is neither) is refused, never edited; so is an env variable of ours whose quoted value spans lines
(other variables' multi-line values are skipped over whole).
Reading is bounded: nesting too deep for the parser, YAML aliases that expand past MAX_NODES nodes.
secrets_in(text, names) lists every value held under one of `names` anywhere in the file (any case,
any section, any prefix), so the caller can mask secrets that live outside our block.
FormatError messages name lines and keys, never values: values may be secrets.
ini, env and msmtp live in _line_formats.py, and the apps' own formats (APP_FORMATS: postfix's main.cf, code blocks,
go-ini...) in _app_formats.py: get_format() imports each only when it is used, since a module compiles every file it
imports on every run.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os


FORMATS = ('json', 'yaml', 'ini', 'env', 'msmtp')
LINE_FORMATS = ('ini', 'env', 'msmtp')  # in _line_formats.py, imported by get_format() only when used
MAX_NODES = 200000  # values a parsed json/yaml document may hold, counting each alias expansion
_SUFFIXES = (('.json', 'json'), ('.yml', 'yaml'), ('.yaml', 'yaml'),
             ('.ini', 'ini'), ('.cfg', 'ini'), ('.conf', 'ini'), ('.env', 'env'))


class FormatError(Exception):
    """A problem a human can act on. Never carries a value from the file or the block."""


# The apps' own formats, used by app profiles (FORMATS lists those `format` picks for generic). Their classes are in
# _app_formats.py, imported only when a profile uses one.
APP_FORMATS = ('assign', 'equals', 'map', 'aliases', 'colon', 'shellvars', 'whole', 'goini', 'python', 'php', 'ruby',
               'gitconfig', 'mailrc', 'yamlpaths', 'ini_sections', 'ini_colon_sections')


def get_format(name):
    """The format called `name`, one of FORMATS or APP_FORMATS."""
    if name in APP_FORMATS:
        from ansible_collections.email_ops.smtp.plugins.module_utils._app_formats import APP_CLASSES
        return APP_CLASSES[name]()
    if name in LINE_FORMATS:
        from ansible_collections.email_ops.smtp.plugins.module_utils._line_formats import LINE_CLASSES
        return LINE_CLASSES[name]()
    if name not in _CLASSES:
        raise FormatError('unknown format %s: use one of %s' % (name, ', '.join(FORMATS)))
    return _CLASSES[name]()


def format_for_path(path):
    """The format a file's name implies (a file named just `.env` is env too)."""
    filename = os.path.basename(path).lower()
    for suffix, name in _SUFFIXES:
        if filename.endswith(suffix):
            return name
    raise FormatError('cannot tell the format of %s from its name: set format to one of %s'
                      % (path, ', '.join(FORMATS)))


def _present(block):
    return dict((name, value) for name, value in block.items() if value is not None)


# json and yaml: parse the whole document, change one object, dump it again.

class _TreeFormat(object):
    supports_lists = True

    def read_block(self, text, key):
        holder, path = self._open(text, key)
        parent = self._walk(holder, path, create=False)
        return None if parent is None else parent.get(path[-1])

    def write_block(self, text, key, block):
        holder, path = self._open(text, key)
        self._walk(holder, path, create=True)[path[-1]] = _present(block)
        return self._dump(holder[None])

    def remove_block(self, text, key):
        holder, path = self._open(text, key)
        parent = self._walk(holder, path, create=False)
        if parent is None or parent.get(path[-1]) is None:
            return text
        if len(path) == 1:  # the whole document was ours
            return ''
        del parent[path[-1]]
        return self._dump(holder[None])

    def secrets_in(self, text, names):
        if not text.strip():
            return []
        found, stack = [], [self._load(text)]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for name, value in node.items():
                    if str(name).lower() in names and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                        found.append(str(value))
                    stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
        return found

    def _open(self, text, key):
        # The document sits in a holder under the name None, so the top level is walked like any other.
        parts = key.split('.') if key else []
        if '' in parts:
            raise FormatError('key %s is not a dotted path such as mail.smtp' % key)
        return {None: self._load(text) if text.strip() else None}, [None] + parts

    def _walk(self, holder, path, create):
        """The object that holds our block (under path[-1]); None when a level is missing and not created."""
        node = holder
        for depth, part in enumerate(path):
            child = node.get(part)
            if child is not None and not isinstance(child, dict):
                where = "key '%s'" % '.'.join(path[1:depth + 1]) if depth else 'the top level'
                raise FormatError('%s of the %s document is %s, not an object, so it cannot hold the settings: '
                                  'choose another key or fix the file' % (where, self.name, _kind(child)))
            if depth == len(path) - 1:
                return node
            if child is None:
                if not create:
                    return None
                child = node[part] = {}
            node = child


def _kind(value):
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, list):
        return 'a list'
    return 'a %s' % type(value).__name__


def _bounded(data, kind):
    """`data` itself, once we know walking it (each alias expanded) visits at most MAX_NODES values."""
    seen, stack = 0, [data]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise FormatError('the %s document holds more than %d values (counting each alias expansion); '
                              'it was left as it is' % (kind, MAX_NODES))
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return data


def _too_deep(kind):
    return FormatError('the %s document is nested too deeply to read safely; it was left as it is' % kind)


class _Json(_TreeFormat):
    name = 'json'

    def _load(self, text):
        try:
            return json.loads(text)
        except RecursionError:
            raise _too_deep('JSON')
        except ValueError as exc:
            # JSONDecodeError.msg says what was expected without quoting the document.
            if getattr(exc, 'lineno', None) is None:
                raise FormatError('invalid JSON')
            raise FormatError('invalid JSON at line %d, column %d: %s' % (exc.lineno, exc.colno, exc.msg))

    def _dump(self, data):
        try:
            return json.dumps(data, indent=2, ensure_ascii=False) + '\n'
        except RecursionError:
            raise _too_deep('JSON')


class _Yaml(_TreeFormat):
    name = 'yaml'

    def _load(self, text):
        yaml = _import_yaml()
        try:
            return _bounded(yaml.safe_load(text), 'YAML')
        except RecursionError:
            raise _too_deep('YAML')
        except yaml.YAMLError as exc:
            # str(exc) quotes the offending lines, which may hold a secret: keep only the position and problem.
            problem = getattr(exc, 'problem', None) or 'not a YAML document'
            mark = getattr(exc, 'problem_mark', None)
            if mark is None:
                raise FormatError('invalid YAML: %s' % problem)
            raise FormatError('invalid YAML at line %d, column %d: %s' % (mark.line + 1, mark.column + 1, problem))

    def _dump(self, data):
        try:
            return self._safe_dump(data)
        except RecursionError:
            raise _too_deep('YAML')

    def _safe_dump(self, data):
        # width: never fold a long value over two lines (a folded secret would escape masking)
        return _import_yaml().safe_dump(data, default_flow_style=False, sort_keys=False, allow_unicode=True,
                                        width=float('inf'))


def _import_yaml():
    try:
        import yaml
    except ImportError:
        raise FormatError('the yaml format needs PyYAML on the managed host: install python3-yaml')
    return yaml


_CLASSES = {'json': _Json, 'yaml': _Yaml}

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
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import configparser

from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MASK

FORMATS = ('json', 'yaml', 'ini', 'env', 'msmtp')
MAX_NODES = 200000  # values a parsed json/yaml document may hold, counting each alias expansion
_SUFFIXES = (('.json', 'json'), ('.yml', 'yaml'), ('.yaml', 'yaml'),
             ('.ini', 'ini'), ('.cfg', 'ini'), ('.conf', 'ini'), ('.env', 'env'))


class FormatError(Exception):
    """A problem a human can act on. Never carries a value from the file or the block."""


def get_format(name):
    """The format called `name`, one of FORMATS."""
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


# ini, env, msmtp: edit line by line, so everything outside our lines stays byte for byte.

def _split(text):
    """Lines with their line ends. Only '\\n' ends a line, as for the apps reading these files
    (str.splitlines would also split on characters a password may hold, such as U+2028)."""
    lines = [line + '\n' for line in text.split('\n')]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _strip_eol(line):
    """The line without its line end ('\\n' or '\\r\\n'), and that line end."""
    body = line[:-1] if line.endswith('\n') else line
    if line.endswith('\n') and body.endswith('\r'):
        body = body[:-1]
    return body, line[len(body):]


class _LineFormat(object):
    """What ini, env and msmtp share. A subclass says where our lines are (_scan), how a new block
    looks (_new_block), how a line reads and is written (_value, _render) and which names it accepts."""
    supports_lists = False
    comments = '#'

    def read_block(self, text, key):
        self._check_key(key)
        self._check_text(text)
        found = self._scan(_split(text), key)
        if found is None:
            return None
        block = {}
        for index, name, match in found[0]:
            block[name] = self._value(match, index + 1)  # a later duplicate wins, as in the apps
        return block

    def write_block(self, text, key, block):
        self._check_key(key)
        self._check_text(text)
        block = self._check_block(block)
        lines = _split(text)
        newline = '\r\n' if lines and lines[0].endswith('\r\n') else '\n'
        found = self._scan(lines, key)
        if found is None:
            if text and not text.endswith('\n'):
                text += newline
            new = self._new_block(text, key, block)
            return text + ''.join(line + newline for line in new)

        entries, insert_at = found
        updated, drop = set(), set()
        for index, name, match in entries:
            if name in block and name not in updated:
                updated.add(name)
                lines[index] = self._render(key, name, block[name], match) + _strip_eol(lines[index])[1]
            else:
                drop.add(index)
        new = [self._render(key, name, value, None) + newline
               for name, value in block.items() if name not in updated]
        head = [line for index, line in enumerate(lines[:insert_at]) if index not in drop]
        tail = [line for index, line in enumerate(lines) if index >= insert_at and index not in drop]
        if new and head and not head[-1].endswith('\n'):
            head[-1] += newline
        return ''.join(head + new + tail)

    def _is_comment(self, body):
        return body.strip().startswith(tuple(self.comments))

    def _check_text(self, text):
        pass

    def secrets_in(self, text, names):
        """Values of entries named like a secret (any case), wherever they are in the file."""
        self._check_text(text)
        found = []
        for index, name, match in self._entries(_split(text)):
            if self._secret_name(name.lower(), names):
                try:
                    found.append(self._value(match, index + 1))
                except FormatError:
                    found.append(match.group('value'))
        return found

    def _secret_name(self, name, names):
        return name in names

    def _entries(self, lines):
        for index, line in enumerate(lines):
            body = _strip_eol(line)[0]
            match = None if self._is_comment(body) else self._ENTRY.match(body)
            if match:
                yield index, match.group('name').strip(), match

    def _check_block(self, block):
        block = _present(block)
        for name, value in block.items():
            self._check_name(name)
            if not isinstance(value, str):
                raise FormatError('%s: the %s format holds text only; the value is %s'
                                  % (name, self.name, _kind(value)))
            if '\r' in value or '\n' in value:
                raise FormatError('%s: a value in the %s format cannot contain a line break' % (name, self.name))
            self._check_value(name, value)
        return block

    def _check_value(self, name, value):
        pass


class _SectionFormat(_LineFormat):
    """A file of sections, each a header line and the lines up to the next header (ini, msmtp)."""

    def _span(self, lines, key):
        """(header index, end index) of the first section called `key`, or None."""
        start = None
        for index, line in enumerate(lines):
            name = self._header(_strip_eol(line)[0])
            if name is None:
                continue
            if start is not None:
                return start, index
            if name == key:
                start = index
        return None if start is None else (start, len(lines))

    def _scan(self, lines, key):
        """Our entries as (index, name, match), and where new ones go: after the last content line,
        or else after the header and the comments that hug it, so blank and comment lines that
        lead to the next section stay in front of it."""
        span = self._span(lines, key)
        if span is None:
            return None
        start, end = span
        entries, anchor, hugging = [], start, True
        for index in range(start + 1, end):
            body = _strip_eol(lines[index])[0]
            if not body.strip():
                hugging = False
            elif self._is_comment(body):
                anchor = index if hugging else anchor
            else:
                hugging, anchor = False, index
                match = self._ENTRY.match(body)
                if match:
                    entries.append((index, match.group('name'), match))
        return entries, anchor + 1

    def _new_block(self, text, key, block):
        blank_line = [''] if text and text.split('\n')[-2].strip() else []
        return blank_line + [self._header_line(key)] + [self._render(key, n, v, None) for n, v in block.items()]

    def remove_block(self, text, key):
        """Remove every section called `key`, but not the comments that lead to the next section
        (those after a blank line at the end of ours)."""
        self._check_key(key)
        self._check_text(text)
        lines = _split(text)
        span = self._span(lines, key)
        if span is None:
            return text
        while span is not None:
            start, end = span
            tail = end
            while tail > start + 1 and (self._is_comment(lines[tail - 1]) or not lines[tail - 1].strip()):
                tail -= 1
            cut, seen_blank = end, False
            for index in range(tail, end):
                if not lines[index].strip():
                    seen_blank = True
                elif seen_blank:
                    cut = index
                    break
            if cut == len(lines):  # ours was the last section: drop the blank lines that led to it too
                while start > 0 and not lines[start - 1].strip():
                    start -= 1
            lines = lines[:start] + lines[cut:]
            span = self._span(lines, key)
        return ''.join(lines)


class _Ini(_SectionFormat):
    name = 'ini'
    comments = '#;'
    _TOP = '[ before the first section ]\n'
    _HEADER = re.compile(r'^[ \t]*\[([^\]]*)\]')
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<name>[^ \t=#;\[][^=]*?)'
                        r'(?P<left>[ \t]*)=(?P<right>[ \t]*)(?P<value>.*)$')

    def _header(self, body):
        match = self._HEADER.match(body)
        return match.group(1).strip() if match else None

    def _header_line(self, key):
        return '[%s]' % key

    def _check_text(self, text):
        """Refuse what Python's configparser (strict) refuses, naming the line, never quoting it."""
        for lineno, line in enumerate(_split(text), 1):
            body = _strip_eol(line)[0]
            if body.strip().startswith('[') and not self._HEADER.match(body):
                raise FormatError('line %d: a [section header that does not close; an INI reader refuses the file' % lineno)
        # Keys before the first section are common in INI dialects (and ini_file takes them): read them
        # as a section of their own. Line numbers below count from the file's first line.
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        try:
            parser.read_string(self._TOP + text)
        except configparser.DuplicateSectionError as exc:
            raise FormatError('line %s: section [%s] appears twice; an INI reader refuses the file (or reads only one of '
                              'them): merge the two sections' % (exc.lineno - 1, exc.section))
        except configparser.DuplicateOptionError as exc:
            raise FormatError('line %s: key %s appears twice in section [%s] (INI keys ignore case); an INI reader '
                              'refuses the file: keep one' % (exc.lineno - 1, exc.option, exc.section))
        except configparser.ParsingError as exc:
            lines = ', '.join(str(lineno - 1) for lineno, line in exc.errors[:5])
            raise FormatError('line %s: neither a [section] header, a comment nor a key = value (an unclosed [section?); '
                              'an INI reader refuses the file' % lines)
        except configparser.Error:
            raise FormatError('an INI reader refuses the file')

    def _value(self, match, lineno):
        return match.group('value').strip()

    def _render(self, key, name, value, match):
        if match is None:
            return '%s = %s' % (name, value) if value else '%s =' % name
        left, right = match.group('left'), match.group('right')
        if not value:
            right = ''
        elif left and not right:  # was `name =` with no value
            right = ' '
        return match.group('indent') + name + left + '=' + right + value

    def _check_key(self, key):
        if not isinstance(key, str) or not key or key != key.strip() or re.search(r'[\]\r\n]', key):
            raise FormatError('ini key must be a section name without ], line breaks or surrounding spaces')

    def _check_name(self, name):
        if not name or name != name.strip() or name[0] in '[#;' or re.search(r'[=\r\n]', name):
            raise FormatError("%s is not a usable ini key: no '=', line breaks or surrounding spaces, "
                              "and not starting with [, # or ;" % name)

    def _check_value(self, name, value):
        if value != value.strip():
            raise FormatError('%s: an ini value cannot start or end with spaces (INI readers strip them)' % name)


class _Msmtp(_SectionFormat):
    """msmtprc: `command argument` lines; `account NAME [: OTHER, ...]` and `defaults` start sections.

    msmtp 1.8 strips one pair of double quotes around a whole argument and knows no escapes, so a
    value is written verbatim between quotes; only a line starting with # is a comment.
    """
    name = 'msmtp'
    _HEADER = re.compile(r'^[ \t]*(account|defaults)(?:[ \t]+(.*))?$')
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<name>[^ \t#][^ \t]*)(?:(?P<sep>[ \t]+)(?P<value>.*))?$')
    _NEEDS_QUOTES = re.compile(r'[\s#"\\]')

    def _header(self, body):
        match = self._HEADER.match(body)
        if not match:
            return None
        if match.group(1) == 'defaults':
            return ''  # a boundary that no account key can equal
        return _msmtp_unquote((match.group(2) or '').split(':', 1)[0])

    def _header_line(self, key):
        return 'account %s' % key

    def _value(self, match, lineno):
        return _msmtp_unquote(match.group('value') or '')

    def _render(self, key, name, value, match):
        indent = match.group('indent') if match else ''
        sep = (match.group('sep') if match else None) or ' '
        quoted = '"%s"' % value if not value or self._NEEDS_QUOTES.search(value) else value
        return indent + name + sep + quoted

    def _check_key(self, key):
        if not isinstance(key, str) or not re.match(r'^[^\s:,#"]+$', key):
            raise FormatError('msmtp key must be an account name without spaces, :, ",", # or quotes')

    def _check_name(self, name):
        if not re.match(r'^[^\s#"]+$', name) or name in ('account', 'defaults'):
            raise FormatError('%s is not a usable msmtp command name' % name)


def _msmtp_unquote(argument):
    argument = argument.strip(' \t')
    if len(argument) >= 2 and argument[0] == '"' and argument[-1] == '"':
        return argument[1:-1]
    return argument


class _Env(_LineFormat):
    """Shell-style `NAME=value` lines, optionally `export NAME=value`; our block is every variable
    with the prefix, wherever it is in the file. New variables go after the last of ours."""
    name = 'env'
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<export>export[ \t]+)?(?P<var>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$')
    _BARE = re.compile(r'^[A-Za-z0-9_@%+=:,./-]*$')

    def _scan(self, lines, prefix):
        entries = []
        for index, var, match, last in self._assignments(lines):
            if var.startswith(prefix):
                if last != index:
                    raise FormatError('line %d: the quoted value of %s spans lines %d to %d; the env format edits '
                                      'one-line values only: put it on one line' % (index + 1, var, index + 1, last + 1))
                entries.append((index, var[len(prefix):].lower(), match))
        return (entries, entries[-1][0] + 1) if entries else None

    def _assignments(self, lines):
        """(index, variable, match, index of its last line) for each assignment, the way sh reads them: a quoted
        value that does not close on its line goes on over the next lines, which are not assignments."""
        index = 0
        while index < len(lines):
            match = self._ENTRY.match(_strip_eol(lines[index])[0])
            if not match:
                index += 1
                continue
            raw, last = match.group('value'), index
            quote = raw[:1] if raw[:1] in ('"', "'") else None
            rest = raw[1:]
            while quote is not None and _quote_end(rest, quote) < 0:
                last += 1
                if last >= len(lines):
                    raise FormatError('line %d: the value of %s opens a quote it does not close'
                                      % (index + 1, match.group('var')))
                rest = lines[last]
            yield index, match.group('var'), match, last
            index = last + 1

    def _entries(self, lines):
        for index, var, match, last in self._assignments(lines):
            yield index, var, match

    def _secret_name(self, name, names):
        return any(name == secret or name.endswith('_' + secret) for secret in names)

    def _new_block(self, text, key, block):
        return [self._render(key, name, value, None) for name, value in block.items()]

    def _check_block(self, block):
        block = super(_Env, self)._check_block(block)
        if not block:  # no variable with the prefix is how an absent block reads
            raise FormatError('the env format cannot hold an empty block: remove the block instead')
        return block

    def remove_block(self, text, key):
        self._check_key(key)
        lines = _split(text)
        found = self._scan(lines, key)
        if found is None:
            return text
        ours = set(index for index, name, match in found[0])
        return ''.join(line for index, line in enumerate(lines) if index not in ours)

    def _render(self, prefix, name, value, match):
        start = match.group('indent') + (match.group('export') or '') if match else ''
        if not self._BARE.match(value):
            value = '"%s"' % re.sub(r'([\\"$`])', r'\\\1', value)
        return '%s%s%s=%s' % (start, prefix, name.upper(), value)

    def _value(self, match, lineno):
        raw = match.group('value')
        if raw[:1] == "'":
            end = raw.find("'", 1)
            if end < 0:
                raise FormatError('line %d: the value of %s opens a quote it does not close'
                                  % (lineno, match.group('var')))
            return raw[1:end]
        if raw[:1] == '"':
            end = _quote_end(raw[1:], '"')
            if end < 0:
                raise FormatError('line %d: the value of %s opens a quote it does not close'
                                  % (lineno, match.group('var')))
            return re.sub(r'\\([\\"$`])', r'\1', raw[1:end + 1])
        return re.sub(r'[ \t]+#.*$', '', raw).strip()

    def _check_key(self, key):
        if not isinstance(key, str) or not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', key):
            raise FormatError('env key must be a variable name prefix such as SMTP_')

    def _check_name(self, name):
        if not re.match(r'^[a-z0-9_]+$', name):
            raise FormatError('%s is not a usable env block key: use lowercase letters, digits and _' % name)


def _quote_end(text, quote):
    """Where `quote` closes in `text` (after the opening one), or -1; in double quotes a backslash escapes."""
    index = 0
    while index < len(text):
        char = text[index]
        if quote == '"' and char == '\\':
            index += 2
            continue
        if char == quote:
            return index
        index += 1
    return -1


_CLASSES = {'json': _Json, 'yaml': _Yaml, 'ini': _Ini, 'env': _Env, 'msmtp': _Msmtp}


# Formats for the relays' files (added for app profiles). All are sectionless: the block is every
# `name value` line of the file, so a profile that owns only some keys passes the others back unchanged.

class _Pairs(_LineFormat):
    """One `name<sep>value` entry per line, no sections (postfix main.cf, lookup tables, dma.conf,
    aliases). `key` is not used: the whole file is the block. A line starting with white space
    continues the entry above (postfix, aliases(5)): read joined with one space, and written back
    as one line. A value is written verbatim: the profile refuses what the app cannot carry."""
    _ENTRY = None
    sep = ' '
    continuation = True

    def _continuations(self, lines):
        """{entry line index: [indexes of the lines that continue it]}."""
        found, current = {}, None
        for index, line in enumerate(lines):
            body = _strip_eol(line)[0]
            if self.continuation and current is not None and body[:1] in (' ', '\t') and body.strip() \
                    and not self._is_comment(body):
                found.setdefault(current, []).append(index)
            elif body.strip() and not self._is_comment(body):
                current = index if self._ENTRY.match(body) else None
        return found

    def read_block(self, text, key):
        block = super(_Pairs, self).read_block(text, key)
        lines = _split(text)
        for index, more in self._continuations(lines).items():
            match = self._ENTRY.match(_strip_eol(lines[index])[0])
            name = match.group('name')
            if block is not None and name in block:
                joined = [self._value(match, index + 1)] + [_strip_eol(lines[i])[0].strip() for i in more]
                block[name] = ' '.join(part for part in joined if part)
        return block

    def write_block(self, text, key, block):
        lines = _split(text)
        drop = set(i for more in self._continuations(lines).values() for i in more)
        if drop:
            text = ''.join(line for index, line in enumerate(lines) if index not in drop)
        return super(_Pairs, self).write_block(text, key, block)

    def _scan(self, lines, key):
        entries = []
        for index, line in enumerate(lines):
            body = _strip_eol(line)[0]
            if self._is_comment(body) or not body.strip():
                continue
            match = self._ENTRY.match(body)
            if match:
                entries.append((index, match.group('name'), match))
        return (entries, entries[-1][0] + 1) if entries else None

    def _new_block(self, text, key, block):
        return [self._render(key, name, value, None) for name, value in block.items()]

    def remove_block(self, text, key):
        lines = _split(text)
        found = self._scan(lines, key)
        if found is None:
            return text
        ours = set(index for index, name, match in found[0])
        return ''.join(line for index, line in enumerate(lines) if index not in ours)

    def _value(self, match, lineno):
        return (match.group('value') or '').strip()

    def _render(self, key, name, value, match):
        if match is not None and match.group('sep'):
            sep = match.group('sep')
        else:
            sep = self.sep
        start = match.group('indent') if match is not None else ''
        return start + name + (sep + value if value else '')

    def _check_key(self, key):
        if key not in (None, ''):
            raise FormatError('the %s format has no sections or prefixes: leave key empty' % self.name)

    _NOT_IN_NAME = r'[\s#]'  # what cannot stand in a key of this format (also ':' where it separates the value)

    def _check_name(self, name):
        if not name or re.search(self._NOT_IN_NAME, name):
            raise FormatError('%s is not a usable %s key' % (name, self.name))

    def _check_value(self, name, value):
        if value != value.strip():
            raise FormatError('%s: a %s value cannot start or end with spaces' % (name, self.name))


class _Assign(_Pairs):
    """`name = value` (postfix main.cf, exim4 macros)."""
    name = 'assign'
    sep = ' = '
    _ENTRY = re.compile(r'^(?P<indent>)(?P<name>[A-Za-z0-9_.-]+)(?P<sep>[ \t]*=[ \t]*)(?P<value>.*)$')

    def _render(self, key, name, value, match):
        sep = match.group('sep') if match is not None else self.sep
        if not value:
            sep = sep.rstrip()
        elif not sep.endswith((' ', '\t')) and sep.startswith((' ', '\t')):
            sep += ' '
        return name + sep + value

    def _check_name(self, name):
        if not re.match(r'^[A-Za-z0-9_.-]+$', name):
            raise FormatError('%s is not a usable %s key' % (name, self.name))


class _Equals(_Assign):
    """`name=value` (ssmtp.conf)."""
    name = 'equals'
    sep = '='


class _Map(_Pairs):
    """`key value` (postfix lookup tables, OpenSMTPD tables, dma.conf); a key alone is a flag."""
    name = 'map'
    _ENTRY = re.compile(r'^(?P<indent>)(?P<name>[^\s#]+)(?:(?P<sep>[ \t]+)(?P<value>.*))?$')


class _Aliases(_Pairs):
    """`name: value` (/etc/aliases)."""
    name = 'aliases'
    sep = ': '
    _ENTRY = re.compile(r'^(?P<indent>)(?P<name>[^\s#:]+)(?P<sep>[ \t]*:[ \t]*)(?P<value>.*)$')
    _NOT_IN_NAME = r'[\s#:]'


class _Colon(_Pairs):
    """`key:value` (exim4 passwd.client `host:login:password`, dma auth.conf `user|host:password`)."""
    name = 'colon'
    sep = ':'
    _ENTRY = re.compile(r'^(?P<indent>)(?P<name>[^\s#:]+)(?P<sep>:)(?P<value>.*)$')
    _NOT_IN_NAME = r'[\s#:]'


class _ShellVars(_Pairs):
    """`name='value'` as sourced by sh (Debian's update-exim4.conf.conf)."""
    name = 'shellvars'
    continuation = False
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<sep>=)(?P<value>.*)$')

    def _value(self, match, lineno):
        raw = match.group('value').strip()
        if raw[:1] in ('"', "'"):
            end = raw.rfind(raw[0])
            if end <= 0:
                raise FormatError('line %d: the value of %s opens a quote it does not close' % (lineno, match.group('name')))
            return raw[1:end].replace("'\\''", "'")
        return raw

    def _render(self, key, name, value, match):
        start = match.group('indent') if match is not None else ''
        return "%s%s='%s'" % (start, name, value.replace("'", "'\\''"))

    def _check_value(self, name, value):
        pass

    def _check_name(self, name):
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
            raise FormatError('%s is not a usable shell variable name' % name)


class _Whole(object):
    """The whole file is ours: one entry `content` (nullmailer's remotes, adminaddr; a managed smtpd.conf)."""
    name = 'whole'
    supports_lists = False

    def read_block(self, text, key):
        if not text:
            return None
        return {'content': text[:-1] if text.endswith('\n') else text}

    def write_block(self, text, key, block):
        content = _present(block).get('content')
        if set(_present(block)) - set(['content']):
            raise FormatError('the whole format holds one entry, content')
        if not content:
            return ''
        if not isinstance(content, str):
            raise FormatError('content: the whole format holds text only')
        return content + '\n'

    def remove_block(self, text, key):
        return ''


class _GoIni(_Ini):
    """INI as Go's gopkg.in/ini.v1 (go-ini) reads it: Grafana's grafana.ini, Gitea's app.ini.

    go-ini cuts a plain value at the first # or ; (an inline comment), strips one pair of surrounding
    quotes, and joins a value ending in a backslash with the next line. A value wrapped in backticks
    (or triple double quotes) is taken verbatim up to the LAST backtick on the line, with no escapes.
    So a value that any of these rules would change is written between backticks, which carries every
    one-line value unchanged; other values are written plain, as the apps' own examples do.
    """
    name = 'goini'

    def _value(self, match, lineno):
        return _goini_read(match.group('value'), lineno, match.group('name').strip())

    def _render(self, key, name, value, match):
        return super(_GoIni, self)._render(key, name, _goini_quote(value), match)

    def _check_value(self, name, value):
        pass  # quoted when needed: any one-line value fits


def _goini_quoted_by(line):
    if line.startswith('"""'):  # go-ini counts the line end: a bare """ opens a multi-line value too
        return '"""'
    return '`' if line.startswith('`') else None


def _goini_surrounded(value, quote):
    return len(value) >= 2 and value[0] == quote and value[-1] == quote and value.find(quote, 1) == len(value) - 1


def _goini_read(raw, lineno, name):
    """The value go-ini (default options) reads from the text after `name =`."""
    line = raw.lstrip()
    if not line:
        return ''
    quote = _goini_quoted_by(line)
    if quote:
        end = line.rfind(quote, len(quote))
        if end < len(quote):
            raise FormatError('line %d: the quoted value of %s goes on over the next lines; edit it to one line' % (lineno, name))
        return line[len(quote):end]
    line = line.strip()
    if line.endswith('\\'):
        raise FormatError('line %d: the value of %s ends with a backslash, which continues it on the next line; '
                          'edit it to one line' % (lineno, name))
    cut = min([index for index in (line.find('#'), line.find(';')) if index >= 0] or [len(line)])
    line = line[:cut].strip()
    if _goini_surrounded(line, '"') or _goini_surrounded(line, "'"):
        line = line[1:-1]
    return line


def _goini_quote(value):
    """`value` as written so that go-ini reads it back unchanged."""
    if value and (value != value.strip() or re.search(r'[#;`]', value) or value.endswith('\\')
                  or value.startswith('"""') or _goini_surrounded(value, '"') or _goini_surrounded(value, "'")):
        return '`%s`' % value
    return value


_CLASSES.update({'assign': _Assign, 'equals': _Equals, 'map': _Map, 'aliases': _Aliases, 'colon': _Colon,
                 'shellvars': _ShellVars, 'whole': _Whole, 'goini': _GoIni})
# The relays' formats, used by app profiles (FORMATS above lists those `format` picks for generic).
APP_FORMATS = ('assign', 'equals', 'map', 'aliases', 'colon', 'shellvars', 'whole', 'goini')


# Code-as-config (Django settings.py, MediaWiki LocalSettings.php, Roundcube config.inc.php, GitLab gitlab.rb):
# a marked block, as ansible.builtin.blockinfile writes it, holding one `name = literal` line per entry.

class _CodeBlock(object):
    """Our block is the lines between `<comment> BEGIN <label>` and `<comment> END <label>` (label: the key, or
    `email_ops.smtp managed block`), each `name = literal` (`;` ended in PHP). A new block goes at the end
    of the file, after the app's own assignments, so ours win (in PHP before a closing `?>`); an existing
    one is replaced where it is, and every line outside it is kept byte for byte.

    A value is the text of a literal of the language (the profile's py_literal, php_literal, rb_literal
    filters write them): the format checks that it is nothing else (no name, call or interpolation), so
    a value is always data, never code. A name is a variable, optionally indexed by quoted words
    (`EMAIL_HOST`, `$config['smtp_host']`, `gitlab_rails['smtp_address']`).
    """
    supports_lists = False
    comment = '#'
    terminator = ''
    opening = ''  # what a new file starts with
    LABEL = 'email_ops.smtp managed block'
    _NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\['[A-Za-z0-9_.-]+'\])*$")

    def _markers(self, key):
        if (key is not None and not isinstance(key, str)) or (key and not re.match(r'^[A-Za-z0-9_. -]+$', key)):
            raise FormatError('the %s format takes as key a marker label of letters, digits, spaces, _ . -' % self.name)
        label = key or self.LABEL
        return '%s BEGIN %s' % (self.comment, label), '%s END %s' % (self.comment, label)

    def _span(self, lines, key):
        """(BEGIN index, END index) of our block, or None; a BEGIN without its END is refused."""
        begin, end = self._markers(key)
        start = None
        for index, line in enumerate(lines):
            body = _strip_eol(line)[0].strip()
            if start is None and body == begin:
                start = index
            elif start is not None and body == end:
                return start, index
        if start is not None:
            raise FormatError('line %d: the %s marker has no matching END marker; fix the file (or remove the marker) '
                              'so the block can be found' % (start + 1, begin))
        return None

    def read_block(self, text, key):
        lines = _split(text)
        span = self._span(lines, key)
        if span is None:
            return None
        block = {}
        for index in range(span[0] + 1, span[1]):
            body = _strip_eol(lines[index])[0].strip()
            if not body or body.startswith(self.comment):
                continue
            name, sep, value = body.partition(' = ')
            if not sep or not self._NAME.match(name):
                raise FormatError('line %d in our %s block is not `name = value`; fix or remove the block' % (index + 1, self.name))
            if self.terminator and value.endswith(self.terminator):
                value = value[:-len(self.terminator)]
            block[name] = value
        return block

    def write_block(self, text, key, block):
        block = self._check_block(block)
        lines = _split(text)
        newline = '\r\n' if lines and lines[0].endswith('\r\n') else '\n'
        begin, end = self._markers(key)
        new = [begin + newline] + ['%s = %s%s%s' % (name, value, self.terminator, newline)
                                   for name, value in block.items()] + [end + newline]
        span = self._span(lines, key)
        if span is not None:
            return ''.join(lines[:span[0]] + new + lines[span[1] + 1:])
        if not text.strip():
            return (self.opening + newline if self.opening else '') + ''.join(new)
        head, tail = self._split_end(text)
        if head and not head.endswith('\n'):
            head += newline
        return head + ''.join(new) + tail

    def _split_end(self, text):
        """(text before where a new block goes, text after it)."""
        return text, ''

    def remove_block(self, text, key):
        lines = _split(text)
        span = self._span(lines, key)
        if span is None:
            return text
        return ''.join(lines[:span[0]] + lines[span[1] + 1:])

    def _check_block(self, block):
        block = _present(block)
        for name, value in block.items():
            if not self._NAME.match(name):
                raise FormatError('%s is not a usable %s name: a variable, optionally indexed by quoted words' % (name, self.name))
            if not isinstance(value, str):
                raise FormatError('%s: the %s format holds literal texts only; the value is %s' % (name, self.name, _kind(value)))
            if '\r' in value or '\n' in value:
                raise FormatError('%s: a value in the %s format cannot contain a line break' % (name, self.name))
            if value in _MASKED:  # a diff shows a secret masked, not written
                continue
            if not self._is_literal(value):
                raise FormatError('%s: the value is not a %s literal (a string, number, boolean, null, list or map of '
                                  'them): write it with the profile filter %s' % (name, self.language, self.filter))
        return block


class _PythonBlock(_CodeBlock):
    name = 'python'
    language = 'Python'
    filter = 'py_literal'

    def _check_block(self, block):
        import keyword
        for name in _present(block):
            if keyword.iskeyword(name.split('[')[0]):
                raise FormatError('%s is a Python keyword, not a usable name' % name)
        return super(_PythonBlock, self)._check_block(block)

    def _is_literal(self, value):
        import ast
        try:
            ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return False
        return True


class _PhpBlock(_CodeBlock):
    """PHP: `//` markers, `;` ends each line, a new file starts with `<?php`, and a new block goes before
    a closing `?>` at the end of the file."""
    name = 'php'
    language = 'PHP'
    filter = 'php_literal'
    comment = '//'
    terminator = ';'
    opening = '<?php'
    _NAME = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*(\['[A-Za-z0-9_.-]+'\])*$")
    _CLOSING = re.compile(r'\?>\s*$')

    def _split_end(self, text):
        if '<?php' not in text:
            raise FormatError('the file has no <?php opening tag, so PHP would print our block as text: '
                              'is it the app\'s PHP config file?')
        match = self._CLOSING.search(text)
        if match is None:
            return text, ''
        return text[:match.start()], text[match.start():]

    def _is_literal(self, value):
        return _literal_end(value, 0, _PHP_WORDS, '[', ']') == len(value)


class _RubyBlock(_CodeBlock):
    name = 'ruby'
    language = 'Ruby'
    filter = 'rb_literal'

    def _is_literal(self, value):
        return _literal_end(value, 0, _RUBY_WORDS, '[', ']', '{', '}') == len(value)


_MASKED = (MASK, MASK + ' (changed)')
_PHP_WORDS = re.compile(r'(?i)(true|false|null)\b')
_RUBY_WORDS = re.compile(r'(true|false|nil)\b')
_NUMBER = re.compile(r'-?[0-9]+(\.[0-9]+)?\b')
_SINGLE_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")  # PHP and Ruby single quotes: no interpolation, \\ and \' only


def _literal_end(text, pos, words, *brackets):
    """Where the literal starting at `pos` ends, or -1: a single-quoted string, a number, one of `words`,
    or a bracketed list of literals and `literal => literal` pairs (the brackets given in pairs)."""
    pos = _skip_spaces(text, pos)
    if pos < 0:
        return -1
    for pattern in (_SINGLE_QUOTED, _NUMBER, words):
        match = pattern.match(text, pos)
        if match:
            return match.end()
    pairs = dict(zip(brackets[::2], brackets[1::2]))
    if text[pos:pos + 1] not in pairs:
        return -1
    close, pos = pairs[text[pos]], _skip_spaces(text, pos + 1)
    while text[pos:pos + 1] != close:
        pos = _literal_end(text, pos, words, *brackets)
        if pos < 0:
            return -1
        pos = _skip_spaces(text, pos)
        if text.startswith('=>', pos):
            pos = _skip_spaces(text, _literal_end(text, pos + 2, words, *brackets))
            if pos < 0:
                return -1
        if text[pos:pos + 1] == ',':
            pos = _skip_spaces(text, pos + 1)
        elif text[pos:pos + 1] != close:
            return -1
    return pos + 1


def _skip_spaces(text, pos):
    if pos < 0:
        return pos
    while text[pos:pos + 1] in (' ', '\t') and pos < len(text):
        pos += 1
    return pos


_CLASSES.update({'python': _PythonBlock, 'php': _PhpBlock, 'ruby': _RubyBlock})
APP_FORMATS += ('python', 'php', 'ruby')


# Formats added for the daemons and clients (git send-email, s-nail, Alertmanager).

class _GitConfig(_Ini):
    """git-config(1) files: `[section]` or `[section "subsection"]`, `name = value`. `key` is the section
    ('sendemail'). Section and key names ignore case (read lowercased: profiles use lowercase names);
    a value holding `#`, `;`, `"`, `\\`, a tab or edge spaces is written between double quotes with
    git's escapes. Keys may repeat (multi-valued variables): the file is not held to INI's rules."""
    name = 'gitconfig'
    _HEADER = re.compile(r'^[ \t]*\[[ \t]*([A-Za-z0-9.-]+)(?:[ \t]+"((?:[^"\\]|\\.)*)")?[ \t]*\]')
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<name>[A-Za-z][A-Za-z0-9-]*)'
                        r'(?P<left>[ \t]*)=(?P<right>[ \t]*)(?P<value>.*)$')
    _NEEDS_QUOTES = re.compile(r'[#;"\\\t]|^ | $')

    def _header(self, body):
        match = self._HEADER.match(body)
        if not match:
            return None
        section = match.group(1).lower()
        if match.group(2) is not None:
            section += ' "%s"' % re.sub(r'\\(.)', r'\1', match.group(2))
        return section

    def _header_line(self, key):
        section, _sep, sub = key.partition(' ')
        return '[%s%s]' % (section, ' ' + sub if sub else '')

    def _check_text(self, text):
        for lineno, line in enumerate(_split(text), 1):
            body = _strip_eol(line)[0]
            if body.strip().startswith('[') and not self._HEADER.match(body):
                raise FormatError('line %d: a [section header git cannot read; git refuses the file' % lineno)

    def _entries(self, lines):
        for index, name, match in super(_GitConfig, self)._entries(lines):
            yield index, name.lower(), match

    def _scan(self, lines, key):
        found = super(_GitConfig, self)._scan(lines, key)
        if found is None:
            return None
        entries, insert_at = found
        return [(index, name.lower(), match) for index, name, match in entries], insert_at

    def _value(self, match, lineno):
        return _git_unquote(match.group('value'), lineno)

    def _render(self, key, name, value, match):
        if match is not None and self._value(match, 0) == value:
            return match.string  # an unchanged value keeps its line as written
        if value and self._NEEDS_QUOTES.search(value):
            value = '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"').replace('\t', '\\t')
        if match is None:
            return '\t%s = %s' % (name, value)
        return super(_GitConfig, self)._render(key, match.group('name'), value, match)  # the name keeps its case

    def _check_key(self, key):
        if not isinstance(key, str) or not re.match(r'^[a-z0-9.-]+( "[^"\\\r\n]*")?$', key):
            raise FormatError('gitconfig key must be a lowercase section name, optionally with a "subsection"')

    def _check_name(self, name):
        if not re.match(r'^[a-z][a-z0-9-]*$', name):
            raise FormatError('%s is not a usable git config key: a lowercase letter, then letters, digits or -' % name)

    def _check_value(self, name, value):
        pass


def _git_unquote(raw, lineno):
    """A git config value as git reads it: quotes removed, escapes resolved, a comment outside quotes dropped,
    white space at either end outside quotes trimmed."""
    out, quoted, index, kept = [], False, 0, 0
    escapes = {'\\': '\\', '"': '"', 'n': '\n', 't': '\t', 'b': '\b'}
    while index < len(raw):
        char = raw[index]
        if char == '\\':
            if index + 1 >= len(raw) or raw[index + 1] not in escapes:
                raise FormatError('line %d: a value with an escape git does not know' % lineno)
            out.append(escapes[raw[index + 1]])
            index += 2
            kept = len(out)
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in '#;':
            break
        else:
            out.append(char)
            if quoted or not char.isspace():
                kept = len(out)
        index += 1
    if quoted:
        raise FormatError('line %d: a value opens a double quote it does not close' % lineno)
    return ''.join(out[:kept])


class _Mailrc(_Pairs):
    """s-nail / mailx resource files (`/etc/s-nail.rc`, `~/.mailrc`): one `set name=value` (or `set name`, a
    flag) per line; only such lines with one assignment are entries, every other line is kept. A value is
    written in sh-style single quotes (`'\\''` for a quote), which s-nail's `set` reads."""
    name = 'mailrc'
    continuation = False
    _WORD = r"(?:[^\s'\"\\]|\\.|'[^']*'|\"(?:[^\"\\]|\\.)*\")+"
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*set[ \t]+)(?P<name>[A-Za-z0-9_@%.+-]+)(?:(?P<sep>=)(?P<value>'
                        + _WORD + r'))?[ \t]*$')

    def _value(self, match, lineno):
        raw, out, index = match.group('value') or '', [], 0
        while index < len(raw):
            char = raw[index]
            if char == "'":
                end = raw.index("'", index + 1)
                out.append(raw[index + 1:end])
                index = end + 1
            elif char == '"':
                index += 1
                while raw[index] != '"':
                    if raw[index] == '\\' and raw[index + 1] in '"\\$`':
                        index += 1
                    out.append(raw[index])
                    index += 1
                index += 1
            elif char == '\\':
                out.append(raw[index + 1])
                index += 2
            else:
                out.append(char)
                index += 1
        return ''.join(out)

    def _render(self, key, name, value, match):
        if match is not None and self._value(match, 0) == value:
            return match.string  # an unchanged value keeps its line as written
        start = match.group('indent') if match is not None else 'set '
        if value == '':
            return start + name
        return "%s%s='%s'" % (start, name, value.replace("'", "'\\''"))

    def _check_name(self, name):
        if not re.match(r'^[A-Za-z0-9_@%.+-]+$', name):
            raise FormatError('%s is not a usable mailrc variable name' % name)

    def _check_value(self, name, value):
        pass


class _YamlPaths(_Yaml):
    """YAML with entries at several places of one document (Alertmanager's `global.smtp_*` keys and a receiver
    of ours). `key` is not used; an entry's name is a path: `global.smtp_from`, `receivers[name=ops].email_configs[0].to`.
    A list whose items all are objects is walked into: by `[name=X]` when each item has its own name, else by
    index `[0]`; any other value is one entry. The block read is every such entry of the document, so `own: keys`
    keeps the rest; removing an entry also removes the objects and named items it leaves empty.
    The document is dumped again (comments are lost, as with yaml)."""
    name = 'yamlpaths'
    _SIMPLE = re.compile(r'^[A-Za-z0-9_-]+$')
    _SEGMENT = re.compile(r'([A-Za-z0-9_-]+)|\[name=([^\]]+)\]|\[([0-9]+)\]|(\.)')

    def read_block(self, text, key):
        self._check_key(key)
        if not text.strip():
            return None
        data = self._load(text)
        if data is None:
            return None
        if not isinstance(data, dict):
            raise FormatError('the top level of the YAML document is %s, not an object' % _kind(data))
        found = {}
        self._flatten(data, '', found)
        return found

    def write_block(self, text, key, block):
        self._check_key(key)
        block = _present(block)
        data = (self._load(text) if text.strip() else None) or {}
        if not isinstance(data, dict):
            raise FormatError('the top level of the YAML document is %s, not an object' % _kind(data))
        old = {}
        self._flatten(data, '', old)
        gone = [self._parse(path) for path in old if path not in block]
        for segments in sorted(gone, key=lambda parts: [(p[0], p[1] if p[0] == 'index' else 0, str(p[1])) for p in parts],
                               reverse=True):
            self._delete(data, segments)
        for path, value in block.items():
            if path not in old or old[path] != value:
                self._set(data, self._parse(path), value)
        return self._dump(data) if data else ''

    def remove_block(self, text, key):
        return ''

    def secrets_in(self, text, names):
        block = self.read_block(text, '') or {}
        return [str(value) for path, value in block.items()
                if (path.lower() in names or self._parse(path)[-1][1] in names) and isinstance(value, (str, int, float))
                and not isinstance(value, bool)]

    def _check_key(self, key):
        if key not in (None, ''):
            raise FormatError('the yamlpaths format names places in its entries: leave key empty')

    def _flatten(self, node, path, found):
        if not path:  # the top level: every key is a place of its own
            for name, value in node.items():
                if not (isinstance(name, str) and self._SIMPLE.match(name)):
                    raise FormatError('the top-level key %r is not one the yamlpaths format can name' % (name,))
                self._flatten(value, name, found)
            return
        if isinstance(node, dict) and node and all(isinstance(k, str) and self._SIMPLE.match(k) for k in node):
            for name, value in node.items():
                self._flatten(value, '%s.%s' % (path, name) if path else name, found)
            return
        if isinstance(node, list) and node and path and all(isinstance(item, dict) for item in node):
            names = [item.get('name') for item in node]
            named = all(isinstance(n, str) and n and ']' not in n for n in names) and len(set(names)) == len(names)
            for index, item in enumerate(node):
                where = '%s[name=%s]' % (path, item['name']) if named else '%s[%d]' % (path, index)
                rest = dict((k, v) for k, v in item.items() if not (named and k == 'name'))
                if rest:
                    self._flatten(rest, where, found)
                else:
                    found[where] = {}
            return
        found[path] = node

    def _parse(self, path):
        segments, index = [], 0
        while index < len(path):
            match = self._SEGMENT.match(path, index)
            if not match:
                raise FormatError('%s is not a yamlpaths entry name (a.b, a[name=x].b, a[0].b)' % path)
            if match.group(1):
                segments.append(('key', match.group(1)))
            elif match.group(2):
                segments.append(('name', match.group(2)))
            elif match.group(3):
                segments.append(('index', int(match.group(3))))
            index = match.end()
        if not segments or segments[0][0] != 'key':
            raise FormatError('%s is not a yamlpaths entry name (a.b, a[name=x].b, a[0].b)' % path)
        return segments

    @staticmethod
    def _child(node, segment, create, last_value=None):
        kind, part = segment
        if kind == 'key':
            if not isinstance(node, dict):
                raise FormatError('%s cannot hold key %s: it is %s' % ('an entry', part, _kind(node)))
            if part not in node and create:
                node[part] = last_value
            return node.get(part)
        if not isinstance(node, list):
            raise FormatError('an entry holding [%s] is %s, not a list' % (part, _kind(node)))
        if kind == 'name':
            for item in node:
                if isinstance(item, dict) and item.get('name') == part:
                    return item
            if create:
                node.append({'name': part})
                return node[-1]
            return None
        if part < len(node):
            return node[part]
        if create and part == len(node):
            node.append({})
            return node[-1]
        return None

    def _set(self, data, segments, value):
        node = data
        for position, segment in enumerate(segments[:-1]):
            following = segments[position + 1][0]
            holder = node
            node = self._child(holder, segment, True, [] if following in ('name', 'index') else {})
            if node is None and segment[0] == 'key':
                node = holder[segment[1]] = [] if following in ('name', 'index') else {}
        kind, part = segments[-1]
        if kind == 'key':
            if not isinstance(node, dict):
                raise FormatError('an entry holding %s is %s, not an object' % (part, _kind(node)))
            node[part] = value
        else:
            item = self._child(node, segments[-1], True)
            if item is None:
                raise FormatError('list index %s is past the end of its list' % part)
            if isinstance(value, dict):
                keep = {'name': item['name']} if kind == 'name' else {}
                item.clear()
                item.update(keep)
                item.update(value)

    def _delete(self, data, segments):
        """Remove the entry at `segments`, then every object or named item that holds nothing more."""
        trail, node = [data], data
        for segment in segments:
            node = self._child(node, segment, False)
            if node is None:
                return
            trail.append(node)
        for depth in range(len(segments) - 1, -1, -1):
            parent, child, (kind, part) = trail[depth], trail[depth + 1], segments[depth]
            if depth < len(segments) - 1:
                rest = [k for k in child if k != 'name'] if kind == 'name' and isinstance(child, dict) else child
                if rest:
                    return
            if kind == 'name':
                del parent[[i for i, item in enumerate(parent) if item is child][0]]
            else:
                del parent[part]


_CLASSES.update({'gitconfig': _GitConfig, 'mailrc': _Mailrc, 'yamlpaths': _YamlPaths})
APP_FORMATS += ('gitconfig', 'mailrc')  # yamlpaths keeps native values (lists, booleans), as yaml does


# Several sections of one INI file as one block (server apps: Airflow's [smtp] + [email] + [secrets],
# Mailman's [mta] + [mailman]).

class _IniColon(_Ini):
    """INI whose entries read `name: value` or `name = value` (Python's configparser takes both); new entries
    are written `name: value`, as Mailman's lazr.config files are."""
    name = 'ini_colon'
    _ENTRY = re.compile(r'^(?P<indent>[ \t]*)(?P<name>[^ \t:=#;\[][^:=]*?)'
                        r'(?P<left>[ \t]*)(?P<sep>[:=])(?P<right>[ \t]*)(?P<value>.*)$')

    def _render(self, key, name, value, match):
        if match is None:
            return '%s: %s' % (name, value) if value else '%s:' % name
        left, right = match.group('left'), match.group('right')
        if not value:
            right = ''
        elif not right:
            right = ' '
        return match.group('indent') + name + left + match.group('sep') + right + value

    def _check_name(self, name):
        if not name or name != name.strip() or name[0] in '[#;' or re.search(r'[:=\r\n]', name):
            raise FormatError("%s is not a usable ini key: no ':', '=', line breaks or surrounding spaces, "
                              "and not starting with [, # or ;" % name)


class _IniSections(object):
    """`key` lists the sections (comma-separated, in the order new ones are added); each entry is named
    `section.option` (the option is after the last dot: section names such as paths.debian keep theirs).
    Each section is edited as the ini format edits one; everything else in the file stays."""
    supports_lists = False
    name = 'ini_sections'
    _one = _Ini

    def __init__(self):
        self.one = self._one()

    def _sections(self, key):
        sections = [part.strip() for part in key.split(',')] if isinstance(key, str) else []
        if not sections or '' in sections:
            raise FormatError('the %s format needs key: the sections, comma-separated (smtp,email)' % self.name)
        for section in sections:
            self.one._check_key(section)
        return sections

    def read_block(self, text, key):
        block, found = {}, False
        for section in self._sections(key):
            part = self.one.read_block(text, section)
            if part is not None:
                found = True
                block.update(('%s.%s' % (section, name), value) for name, value in part.items())
        return block if found else None

    def write_block(self, text, key, block):
        sections = self._sections(key)
        grouped = dict((section, {}) for section in sections)
        for name, value in _present(block).items():
            section, _dot, option = name.rpartition('.')
            if section not in grouped or not option:
                raise FormatError('%s: an entry of the %s format is named section.option, the section one of %s'
                                  % (name, self.name, ', '.join(sections)))
            grouped[section][option] = value
        for section in sections:
            if grouped[section] or self.one.read_block(text, section) is not None:
                text = self.one.write_block(text, section, grouped[section])
        return text

    def remove_block(self, text, key):
        for section in self._sections(key):
            text = self.one.remove_block(text, section)
        return text

    def secrets_in(self, text, names):
        return self.one.secrets_in(text, names)


class _IniColonSections(_IniSections):
    name = 'ini_colon_sections'
    _one = _IniColon


_CLASSES.update({'ini_sections': _IniSections, 'ini_colon_sections': _IniColonSections})
APP_FORMATS += ('ini_sections', 'ini_colon_sections')

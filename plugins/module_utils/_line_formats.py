# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ini, env and msmtp formats of _formats.py (its docstring says how each behaves), edited line by line.

Internal to the email_ops.smtp collection; not a public API. Apart from _formats.py because a module compiles every
file it imports on every run (AnsiballZ keeps no bytecode): get_format() imports this one only for these formats.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, _kind, _present


# Everything outside our lines stays byte for byte.

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
        import configparser  # here: only an ini file pays for its import
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


LINE_CLASSES = {'ini': _Ini, 'env': _Env, 'msmtp': _Msmtp}

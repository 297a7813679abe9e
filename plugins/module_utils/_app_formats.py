# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The apps' own file formats (postfix's main.cf, shell variables, Python/PHP/Ruby code blocks, go-ini, gitconfig,
mailrc, YAML paths, INI with many sections...), for app profiles; see _formats.py for the interface they share.

Internal to the email_ops.smtp collection; not a public API.

Apart from _formats.py because a module compiles every file it imports on every run: get_format() imports this
one only for a profile that uses one of APP_FORMATS.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, _Yaml, _kind, _present
from ansible_collections.email_ops.smtp.plugins.module_utils._line_formats import _Ini, _LineFormat, _split, _strip_eol
from ansible_collections.email_ops.smtp.plugins.module_utils._masking import MASK


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


APP_CLASSES = {'assign': _Assign, 'equals': _Equals, 'map': _Map, 'aliases': _Aliases, 'colon': _Colon,
               'shellvars': _ShellVars, 'whole': _Whole, 'goini': _GoIni}


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


APP_CLASSES.update({'python': _PythonBlock, 'php': _PhpBlock, 'ruby': _RubyBlock})


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


APP_CLASSES.update({'gitconfig': _GitConfig, 'mailrc': _Mailrc, 'yamlpaths': _YamlPaths})


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


APP_CLASSES.update({'ini_sections': _IniSections, 'ini_colon_sections': _IniColonSections})

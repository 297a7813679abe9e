# -*- coding: utf-8 -*-
# Copyright: email_ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every form a secret can take in our output, and the one way to mask them.

Internal to the email_ops.smtp collection; not a public API.

A password is not only shown as itself. Written into a file it is escaped the way the format
quotes it (JSON, YAML, POSIX sh / env, PHP or Ruby literals); a Python message may carry its
repr(); an SMTP server may echo back the base64 of what AUTH sent, or a one-line copy of it with
whitespace collapsed; a URL carries it percent-encoded. secret_forms() lists them all, so that a
module registers them once with Ansible (register_secret) and Ansible's own no_log machinery scrubs
results, diffs, warnings, errors and the invocation it logs.

Short forms: a derived form shorter than MIN_FORM_LENGTH characters is left out, because masking
it would mask ordinary text everywhere (a one-character escape of a one-character password). The
raw value is always kept, whatever its length: Ansible masks a no_log value of any length anyway.

Runs on the managed host: Python 3.6+ standard library only (PyYAML used when present).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import re

try:
    from urllib.parse import quote, quote_plus
except ImportError:  # pragma: no cover - Python 2 is not supported, kept for import sanity
    from urllib import quote, quote_plus  # pylint: disable=ansible-bad-import-from

MASK = '********'
MIN_FORM_LENGTH = 4
# PyYAML is slow on long scalars, and folds them over lines anyway: longer values get no YAML form.
YAML_FORM_MAX_LENGTH = 4096
# A scalar of these characters only appears verbatim in every YAML style (no escape, no folding at width inf), so
# its raw form covers it and PyYAML is not even imported: most passwords, and every module run's start-up.
_YAML_VERBATIM = re.compile(r"[ !#-&(-\[\]-~]*\Z")

# Characters each quoting style escapes with a backslash.
_BACKSLASH_STYLES = (
    '\\"$`',  # POSIX sh double quotes, env files (`. file`, systemd EnvironmentFile)
    '\\"',  # C, Ruby, PHP and TOML double quotes, go-ini
    "\\'",  # PHP and Ruby single quotes, Python with the other quote
    '\\\'"',  # both quotes escaped
)


def secret_forms(value, username=None):
    """The set of strings under which `value` may appear in any output.

    `username` adds the base64 of the SASL strings that carry it with the password
    (PLAIN `\\0user\\0pass`, XOAUTH2, OAUTHBEARER); LOGIN sends the password alone, covered too.
    """
    if value is None:
        return set()
    if not isinstance(value, str):
        value = str(value)
    if value == '':
        return set()
    forms = set()
    for form in list(_text_forms(value)) + _yaml_forms(value):
        forms.add(form)
        forms.add(' '.join(form.split()))  # a server or a one-line message collapses whitespace
    for form in _encoded_forms(value, username):
        forms.add(form)
    forms = set(form for form in forms if len(form) >= MIN_FORM_LENGTH)
    forms.add(value)
    forms.discard('')
    return forms


def register_secret(module, value, username=None):
    """Add every form of `value` to module.no_log_values, so Ansible scrubs each from all output."""
    forms = secret_forms(value, username)
    module.no_log_values.update(forms)
    return forms


def scrub(text, values):
    """`text` with each form of each secret in `values` replaced by MASK, longest form first."""
    return scrub_forms(text, all_forms(values))


def all_forms(values):
    """The forms of several secrets, longest first: compute them once to scrub many texts."""
    forms = set()
    for value in values:
        forms.update(secret_forms(value))
    return sorted(forms, key=len, reverse=True)


def scrub_forms(text, forms):
    """`text` with each of `forms` (from all_forms) replaced by MASK.

    Longest first so that a form containing another (the escaped form holding the raw one) is
    masked whole, leaving no tail of it behind.
    """
    if not text:
        return text
    for form in forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def _text_forms(value):
    """The value as text: raw, escaped, quoted."""
    yield value
    for ensure_ascii in (True, False):
        yield json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]
    yield repr(value)[1:-1]
    yield ascii(value)[1:-1]
    yield repr(value.encode('utf-8', 'surrogatepass'))[2:-1]
    for escaped in _BACKSLASH_STYLES:
        yield re.sub('([%s])' % re.escape(escaped), r'\\\1', value)
    yield value.replace("'", "'\\''")  # sh single quotes: 'it'\''s'
    yield value.replace("'", "'\"'\"'")  # sh single quotes, the other idiom: 'it'"'"'s'
    yield value.replace("'", "''")  # YAML and SQL single quotes
    yield value.replace('"', '""')  # CSV, go-ini and systemd double quotes
    yield value.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;').replace("'", '&#x27;')
    yield value.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;').replace('"', '&quot;').replace("'", '&#39;')
    yield quote(value, safe='')
    yield quote_plus(value, safe='')
    yield quote(value)


def _yaml_forms(value):
    """The scalar as PyYAML writes it in each style, on one line (width unbounded)."""
    forms = []
    if len(value) > YAML_FORM_MAX_LENGTH or _YAML_VERBATIM.match(value):
        return forms
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
        return forms
    for style in (None, "'", '"'):
        for allow_unicode in (True, False):
            try:
                text = yaml.safe_dump(value, default_style=style, allow_unicode=allow_unicode, width=float('inf'))
            except Exception:  # pylint: disable=broad-except  # a dumper quirk must never stop masking
                continue
            text = re.sub(r'\n(\.\.\.\n)?$', '', text)
            if style and len(text) >= 2:
                text = text[1:-1]
            forms.append(text)
    return forms


def _encoded_forms(value, username):
    """Base64 of the value (at every alignment inside a longer blob) and of the SASL strings that carry it."""
    raw = value.encode('utf-8', 'surrogatepass')
    yield _b64(raw)
    for offset in (0, 1, 2):
        # Inside a longer base64 blob the value starts at any byte offset: keep the characters that
        # depend on the value alone (the first and last ones also hold bits of their neighbours).
        encoded = _b64(b'\0' * offset + raw + b'\0\0')
        first = (offset * 8 + 5) // 6
        last = ((offset + len(raw)) * 8) // 6
        if last > first:
            yield encoded[first:last]
    user = username or ''
    for sasl in ('\0%s\0%s' % (user, value),  # PLAIN (RFC 4616)
                 '%s\0%s\0%s' % (user, user, value),  # PLAIN with an authorization identity
                 'user=%s\x01auth=Bearer %s\x01\x01' % (user, value),  # XOAUTH2
                 'n,a=%s,\x01auth=Bearer %s\x01\x01' % (user, value)):  # OAUTHBEARER (RFC 7628)
        yield _b64(sasl.encode('utf-8', 'surrogatepass'))


def _b64(data):
    return base64.b64encode(data).decode('ascii')

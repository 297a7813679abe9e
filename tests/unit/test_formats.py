# -*- coding: utf-8 -*-
"""Config file formats: our block is read, set and removed exactly, and the rest of the file survives."""
import shutil
import subprocess
import sys

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import (
    FORMATS, FormatError, format_for_path, get_format,
)

SECRET = 'p@ss w"rd #1 $HOME `id` \\ = ; \u00fc\u20ac'


def fmt(name):
    return get_format(name)


# --- get_format / format_for_path -------------------------------------------------------------------

def test_known_formats_and_list_support():
    assert [get_format(name).name for name in FORMATS] == ['json', 'yaml', 'ini', 'env', 'msmtp']
    assert [get_format(name).supports_lists for name in FORMATS] == [True, True, False, False, False]


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(FormatError, match='unknown format xml: use one of json, yaml, ini, env, msmtp'):
        get_format('xml')


@pytest.mark.parametrize('path, name', [
    ('/etc/app/settings.json', 'json'), ('a.yml', 'yaml'), ('a.YAML', 'yaml'), ('app.ini', 'ini'),
    ('setup.cfg', 'ini'), ('/etc/app.conf', 'ini'), ('/srv/app/.env', 'env'), ('prod.env', 'env'),
])
def test_format_for_path(path, name):
    assert format_for_path(path) == name


def test_format_for_path_without_known_suffix_says_to_set_format():
    with pytest.raises(FormatError, match=r'cannot tell the format of /etc/msmtprc from its name: set format'):
        format_for_path('/etc/msmtprc')


# --- json ---------------------------------------------------------------------------------------------

def test_json_create_in_empty_text_skips_none():
    text = fmt('json').write_block('', 'smtp', {'host': 'h', 'port': 587, 'tls': True, 'user': None})
    assert text == '{\n  "smtp": {\n    "host": "h",\n    "port": 587,\n    "tls": true\n  }\n}\n'


def test_json_update_keeps_other_keys_and_positions():
    old = '{"name": "app", "smtp": {"host": "old", "user": "u"}, "db": {"url": "x"}}'
    block = {'host': 'new', 'port': 25, 'error_recipients': [{'email': 'a@example.com', 'name': 'Ops \u00e9'}]}
    text = fmt('json').write_block(old, 'smtp', block)
    assert text == (
        '{\n  "name": "app",\n  "smtp": {\n    "host": "new",\n    "port": 25,\n    "error_recipients": [\n'
        '      {\n        "email": "a@example.com",\n        "name": "Ops \u00e9"\n      }\n    ]\n  },\n'
        '  "db": {\n    "url": "x"\n  }\n}\n')
    assert fmt('json').read_block(text, 'smtp') == block


def test_json_dotted_path_creates_levels_and_appends_at_end():
    text = fmt('json').write_block('{"a": 1, "mail": {"x": 2}}', 'mail.smtp', {'host': 'h'})
    assert text == '{\n  "a": 1,\n  "mail": {\n    "x": 2,\n    "smtp": {\n      "host": "h"\n    }\n  }\n}\n'
    text = fmt('json').write_block('{"a": 1}', 'app.mail.smtp', {'host': 'h'})
    assert fmt('json').read_block(text, 'app.mail.smtp') == {'host': 'h'}
    assert fmt('json').read_block(text, 'app.mail') == {'smtp': {'host': 'h'}}


def test_json_root_key_is_the_whole_object():
    for key in ('', None):
        text = fmt('json').write_block('{"old": 1}', key, {'host': 'h'})
        assert text == '{\n  "host": "h"\n}\n'
        assert fmt('json').read_block(text, key) == {'host': 'h'}
        assert fmt('json').remove_block(text, key) == ''
        assert fmt('json').read_block('', key) is None


def test_json_read_absent_and_remove():
    old = '{"a": 1, "smtp": {"host": "h"}, "b": 2}'
    assert fmt('json').read_block(old, 'mail.smtp') is None
    assert fmt('json').read_block('', 'smtp') is None
    assert fmt('json').read_block('{"smtp": null}', 'smtp') is None
    assert fmt('json').remove_block(old, 'smtp') == '{\n  "a": 1,\n  "b": 2\n}\n'
    odd = '{"a":1,   "b":2}'
    assert fmt('json').remove_block(odd, 'smtp') is odd
    assert fmt('json').remove_block(odd, 'x.smtp') is odd
    assert fmt('json').remove_block('', 'smtp') == ''


def test_json_invalid_names_line_and_column_without_values():
    with pytest.raises(FormatError, match="invalid JSON at line 3, column 3: Expecting ',' delimiter") as info:
        fmt('json').read_block('{\n  "password": "hunter2"\n  "x": 1\n}', 'smtp')
    assert 'hunter2' not in str(info.value)


@pytest.mark.parametrize('text, key, message', [
    ('{"mail": "smtp.example.com"}', 'mail.smtp', "key 'mail' of the json document is a string, not an object"),
    ('{"smtp": [1]}', 'smtp', "key 'smtp' of the json document is a list, not an object"),
    ('{"a": {"b": 3}}', 'a.b.c', "key 'a.b' of the json document is a number, not an object"),
    ('[1, 2]', 'smtp', 'the top level of the json document is a list, not an object'),
    ('"x"', '', 'the top level of the json document is a string'),
])
def test_json_non_object_in_path(text, key, message):
    for call in (lambda: fmt('json').read_block(text, key), lambda: fmt('json').write_block(text, key, {'a': 'b'})):
        with pytest.raises(FormatError, match=message):
            call()


def test_json_bad_dotted_key():
    with pytest.raises(FormatError, match='key mail..smtp is not a dotted path'):
        fmt('json').read_block('{}', 'mail..smtp')


# --- yaml ---------------------------------------------------------------------------------------------

def test_yaml_create_update_remove():
    yaml_fmt = fmt('yaml')
    assert yaml_fmt.write_block('', 'mail.smtp', {'host': 'h', 'port': 587, 'x': None}) == \
        'mail:\n  smtp:\n    host: h\n    port: 587\n'
    old = '# comments cannot survive PyYAML\nname: app\nsmtp:\n  host: old\n  user: u\ndb: {url: x}\n'
    block = {'host': 'new', 'validate_certs': False, 'password': 'yes', 'error_recipients': [{'email': 'a@b.c'}]}
    text = yaml_fmt.write_block(old, 'smtp', block)
    assert text == ("name: app\nsmtp:\n  host: new\n  validate_certs: false\n  password: 'yes'\n"
                    "  error_recipients:\n  - email: a@b.c\ndb:\n  url: x\n")
    assert yaml_fmt.read_block(text, 'smtp') == block
    assert yaml_fmt.remove_block(text, 'smtp') == 'name: app\ndb:\n  url: x\n'
    assert yaml_fmt.read_block('# only a comment\n', 'smtp') is None
    assert yaml_fmt.read_block('smtp:\n', 'smtp') is None


def test_yaml_errors():
    with pytest.raises(FormatError, match='invalid YAML at line 3, column 9: mapping values are not allowed') as info:
        fmt('yaml').read_block('smtp:\n  password: hunter2\n  bad: x: y\n', 'smtp')
    assert 'hunter2' not in str(info.value)
    with pytest.raises(FormatError, match="key 'smtp' of the yaml document is a string, not an object"):
        fmt('yaml').read_block('smtp: hunter2\n', 'smtp')
    with pytest.raises(FormatError, match='the top level of the yaml document is a list'):
        fmt('yaml').write_block('- a\n', 'smtp', {})


def test_yaml_without_pyyaml_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'yaml', None)  # makes `import yaml` raise ImportError
    with pytest.raises(FormatError, match='the yaml format needs PyYAML on the managed host: install python3-yaml'):
        fmt('yaml').read_block('smtp: {}\n', 'smtp')


# --- ini ----------------------------------------------------------------------------------------------

INI = """\
; global comment
top = level

[database]
# db comment
url = postgres://x

[smtp]
; our section
host=old.example.com
port   =   25
obsolete = yes
  # indented comment stays

# about the next section
[other]
host = not ours
"""


def test_ini_create_in_empty_text():
    assert fmt('ini').write_block('', 'smtp', {'host': 'h', 'port': '587', 'user': None, 'empty': ''}) == \
        '[smtp]\nhost = h\nport = 587\nempty =\n'


def test_ini_update_in_place_keeps_everything_else():
    text = fmt('ini').write_block(INI, 'smtp', {'host': 'new.example.com', 'port': '587', 'user': 'me'})
    assert text == INI.replace('host=old.example.com', 'host=new.example.com').replace(
        'port   =   25\nobsolete = yes\n', 'port   =   587\nuser = me\n')
    assert fmt('ini').read_block(text, 'smtp') == {'host': 'new.example.com', 'port': '587', 'user': 'me'}
    assert fmt('ini').read_block(text, 'other') == {'host': 'not ours'}


def test_ini_missing_section_is_appended_after_one_blank_line():
    assert fmt('ini').write_block('[a]\nx = 1', 'smtp', {'host': 'h'}) == '[a]\nx = 1\n\n[smtp]\nhost = h\n'
    assert fmt('ini').write_block('[a]\nx = 1\n\n', 'smtp', {'host': 'h'}) == '[a]\nx = 1\n\n[smtp]\nhost = h\n'


def test_ini_new_keys_in_section_with_only_comments():
    old = '[smtp]\n; mail settings\n\n; database follows\n[db]\n'
    assert fmt('ini').write_block(old, 'smtp', {'host': 'h'}) == \
        '[smtp]\n; mail settings\nhost = h\n\n; database follows\n[db]\n'
    assert fmt('ini').write_block('[smtp]\n[db]\n', 'smtp', {'host': 'h'}) == '[smtp]\nhost = h\n[db]\n'
    assert fmt('ini').write_block('[smtp]', 'smtp', {'host': 'h'}) == '[smtp]\nhost = h\n'


def test_ini_read_empty_and_absent_section():
    assert fmt('ini').read_block('[smtp]\n# nothing yet\n[db]\nx = 1\n', 'smtp') == {}
    assert fmt('ini').read_block(INI, 'mail') is None
    assert fmt('ini').read_block('', 'smtp') is None
    assert fmt('ini').read_block(INI, 'SMTP') is None  # case-sensitive


@pytest.mark.parametrize('text, message', [
    ('[smtp]\nhost = a\nport = 1\nhost = b\n', 'line 4: key host appears twice in section \\[smtp\\]'),
    ('[smtp]\nhost = a\nPASSWORD = s3cret-1\npassword = s3cret-2\n', 'line 4: key password appears twice'),
    ('[a]\nx = 1\n\n[smtp]\nh = 1\n\n[smtp]\nh = s3cret-2\n', 'line 7: section \\[smtp\\] appears twice'),
    ('top = 1\n[smtp\nhost = s3cret-1\n', 'line 2: a \\[section header that does not close'),
    ('[smtp]\nhost = a\njust-a-word-s3cret\n', 'line 3: neither a \\[section\\] header, a comment nor a key = value'),
])
def test_ini_that_configparser_refuses_is_refused_naming_the_line(text, message):
    for call in (lambda: fmt('ini').read_block(text, 'smtp'), lambda: fmt('ini').write_block(text, 'smtp', {'host': 'h'}),
                 lambda: fmt('ini').remove_block(text, 'smtp'), lambda: fmt('ini').secrets_in(text, ['password'])):
        with pytest.raises(FormatError, match=message) as info:
            call()
        assert 's3cret' not in str(info.value)


def test_ini_keys_before_the_first_section_are_still_fine():
    assert fmt('ini').write_block('top = 1\n', 'smtp', {'host': 'h'}) == 'top = 1\n\n[smtp]\nhost = h\n'


def test_ini_remove_block():
    expected = INI.replace('[smtp]\n; our section\nhost=old.example.com\nport   =   25\nobsolete = yes\n'
                           '  # indented comment stays\n\n', '')
    assert expected.endswith('\n[database]\n# db comment\nurl = postgres://x\n\n# about the next section\n'
                             '[other]\nhost = not ours\n')
    assert fmt('ini').remove_block(INI, 'smtp') == expected
    assert fmt('ini').remove_block(INI, 'nothere') is INI
    # the last section goes with the blank lines before it
    assert fmt('ini').remove_block('[a]\nx = 1\n\n[smtp]\nh = 1\n', 'smtp') == '[a]\nx = 1\n'


def test_ini_keeps_crlf_line_ends():
    old = '[smtp]\r\nhost = a\r\n\r\n[db]\r\nx = 1\r\n'
    assert fmt('ini').write_block(old, 'smtp', {'host': 'b', 'port': '2'}) == \
        '[smtp]\r\nhost = b\r\nport = 2\r\n\r\n[db]\r\nx = 1\r\n'


@pytest.mark.parametrize('block, message', [
    ({'password': 'a\nb'}, 'password: a value in the ini format cannot contain a line break'),
    ({'password': 'a\rb'}, 'password: a value in the ini format cannot contain a line break'),
    ({'password': ' padded'}, 'password: an ini value cannot start or end with spaces'),
    ({'port': 587}, 'port: the ini format holds text only; the value is a number'),
    ({'a=b': 'x'}, 'a=b is not a usable ini key'),
    ({'#a': 'x'}, '#a is not a usable ini key'),
])
def test_ini_rejects_what_it_cannot_write(block, message):
    with pytest.raises(FormatError, match=message) as info:
        fmt('ini').write_block(INI, 'smtp', block)
    assert 'padded' not in str(info.value)


def test_ini_rejects_bad_section_names():
    for key in ('', 'a]b', ' smtp', None):
        with pytest.raises(FormatError, match='ini key must be a section name'):
            fmt('ini').read_block(INI, key)


# --- env ----------------------------------------------------------------------------------------------

ENV = """\
# app settings
APP_NAME=demo
export SMTP_HOST=old.example.com
SMTP_PORT="25"   # inline comment in quotes line
OTHER_SMTP_HOST=not-ours
SMTPX=not-ours-either

# database
DB_URL='postgres://x'
"""


def test_env_create_and_quote():
    text = fmt('env').write_block('', 'SMTP_', {'host': 'h.example.com', 'password': SECRET, 'user': None, 'e': ''})
    assert text == ('SMTP_HOST=h.example.com\n'
                    'SMTP_PASSWORD="p@ss w\\"rd #1 \\$HOME \\`id\\` \\\\ = ; \u00fc\u20ac"\n'
                    'SMTP_E=\n')
    assert fmt('env').read_block(text, 'SMTP_') == {'host': 'h.example.com', 'password': SECRET, 'e': ''}


def test_env_update_in_place_and_append_after_our_last_variable():
    text = fmt('env').write_block(ENV, 'SMTP_', {'host': 'new.example.com', 'port': '587', 'user': 'me'})
    assert text == ENV.replace('export SMTP_HOST=old.example.com', 'export SMTP_HOST=new.example.com').replace(
        'SMTP_PORT="25"   # inline comment in quotes line\n', 'SMTP_PORT=587\nSMTP_USER=me\n')


def test_env_key_removal_and_remove_block():
    text = fmt('env').write_block(ENV, 'SMTP_', {'port': '25'})
    assert text == ENV.replace('export SMTP_HOST=old.example.com\n', '').replace(
        'SMTP_PORT="25"   # inline comment in quotes line', 'SMTP_PORT=25')
    assert fmt('env').remove_block(ENV, 'SMTP_') == ENV.replace('export SMTP_HOST=old.example.com\n', '').replace(
        'SMTP_PORT="25"   # inline comment in quotes line\n', '')
    assert fmt('env').remove_block(ENV, 'MAIL_') is ENV
    assert fmt('env').read_block(ENV, 'MAIL_') is None


def test_env_appends_at_end_when_none_of_ours_exist():
    assert fmt('env').write_block('A=1', 'SMTP_', {'host': 'h'}) == 'A=1\nSMTP_HOST=h\n'


def test_env_reads_every_quoting_style():
    text = ('SMTP_A=bare # comment\nSMTP_B=a#b\nSMTP_C=\'single "$x" \\n\'\nSMTP_D="d \\"q\\" \\$ \\` \\\\ \\n"\n'
            '  export   SMTP_E="x" # c\nSMTP_f=lower\nSMTP_G=\n')
    assert fmt('env').read_block(text, 'SMTP_') == {
        'a': 'bare', 'b': 'a#b', 'c': 'single "$x" \\n', 'd': 'd "q" $ ` \\ \\n', 'e': 'x', 'f': 'lower', 'g': ''}


def test_env_duplicates_last_read_first_updated():
    old = 'SMTP_HOST=a\nX=1\nSMTP_HOST=b\n'
    assert fmt('env').read_block(old, 'SMTP_') == {'host': 'b'}
    assert fmt('env').write_block(old, 'SMTP_', {'host': 'c'}) == 'SMTP_HOST=c\nX=1\n'


def test_env_errors():
    with pytest.raises(FormatError, match='line 2: the value of SMTP_PASSWORD opens a quote it does not close') as info:
        fmt('env').read_block('A=1\nSMTP_PASSWORD="hunter2\n', 'SMTP_')
    assert 'hunter2' not in str(info.value)
    with pytest.raises(FormatError, match="line 1: the value of SMTP_X opens a quote"):
        fmt('env').read_block("SMTP_X='x\n", 'SMTP_')
    with pytest.raises(FormatError, match='password: a value in the env format cannot contain a line break'):
        fmt('env').write_block('', 'SMTP_', {'password': 'a\r\nb'})
    with pytest.raises(FormatError, match='Host is not a usable env block key'):
        fmt('env').write_block('', 'SMTP_', {'Host': 'x'})
    with pytest.raises(FormatError, match='the env format cannot hold an empty block: remove the block instead'):
        fmt('env').write_block(ENV, 'SMTP_', {'host': None})
    for prefix in ('', 'SMTP-', '1X', None):
        with pytest.raises(FormatError, match='env key must be a variable name prefix such as SMTP_'):
            fmt('env').read_block('', prefix)


@pytest.mark.parametrize('shell', ['/bin/sh', 'bash'])
def test_env_file_is_read_back_by_the_shell(tmp_path, shell):
    assert shutil.which(shell), '%s is needed (scripts/bootstrap.sh runs on Debian, which has it)' % shell
    values = {'password': SECRET, 'quote': "it's", 'spaces': '  a  b  ', 'bare': 'a=b:c,d@e%f+g', 'empty': ''}
    path = tmp_path / 'app.env'
    path.write_text(fmt('env').write_block('', 'SMTP_', values), encoding='utf-8')
    for name, value in values.items():
        script = '. "$1"; printf %%s "$SMTP_%s"' % name.upper()
        out = subprocess.run([shell, '-c', script, 'sh', str(path)], check=True, stdout=subprocess.PIPE).stdout
        assert out.decode('utf-8') == value


# --- msmtp --------------------------------------------------------------------------------------------

MSMTP = """\
# Set default values for all following accounts.
defaults
auth           on
tls            on
logfile        ~/.msmtp.log

# Gmail
account        gmail
host           smtp.gmail.com
port           587
from           me@gmail.com

account        work : gmail
host           old.example.com
user           someone
  # indented comment

# Set a default account
account default : gmail
"""


def test_msmtp_create_in_empty_text():
    assert fmt('msmtp').write_block('', 'default', {'host': 'h', 'port': '587', 'user': None, 'password': SECRET}) == \
        'account default\nhost h\nport 587\npassword "%s"\n' % SECRET


def test_msmtp_update_in_place_keeps_alignment_and_other_accounts():
    text = fmt('msmtp').write_block(MSMTP, 'work', {'host': 'new.example.com', 'password': 'two words', 'from': ''})
    assert text == MSMTP.replace('host           old.example.com\nuser           someone\n',
                                 'host           new.example.com\npassword "two words"\nfrom ""\n')
    assert fmt('msmtp').read_block(text, 'work') == {'host': 'new.example.com', 'password': 'two words', 'from': ''}
    assert fmt('msmtp').read_block(text, 'gmail') == {'host': 'smtp.gmail.com', 'port': '587', 'from': 'me@gmail.com'}


def test_msmtp_account_with_inheritance_and_default():
    assert fmt('msmtp').read_block(MSMTP, 'default') == {}
    assert fmt('msmtp').write_block(MSMTP, 'default', {'host': 'h'}) == MSMTP + 'host h\n'
    assert fmt('msmtp').read_block(MSMTP, 'defaults') is None
    assert fmt('msmtp').write_block(MSMTP, 'new', {'host': 'h'}) == MSMTP + '\naccount new\nhost h\n'


def test_msmtp_reads_like_msmtp():
    text = 'account a\nhost h # not a comment\nfrom   "  spaced  "  \ntls_starttls\nuser "\n# c\npassword "a"b"\n'
    assert fmt('msmtp').read_block(text, 'a') == {
        'host': 'h # not a comment', 'from': '  spaced  ', 'tls_starttls': '', 'user': '"', 'password': 'a"b'}


def test_msmtp_remove_block():
    expected = MSMTP.replace('account        work : gmail\nhost           old.example.com\nuser           someone\n'
                             '  # indented comment\n\n', '')
    assert fmt('msmtp').remove_block(MSMTP, 'work') == expected
    assert fmt('msmtp').remove_block(MSMTP, 'default') == MSMTP.replace(
        '\n# Set a default account\naccount default : gmail\n', '\n# Set a default account\n')
    assert fmt('msmtp').remove_block(MSMTP, 'absent') is MSMTP


def test_msmtp_errors():
    with pytest.raises(FormatError, match='password: a value in the msmtp format cannot contain a line break'):
        fmt('msmtp').write_block(MSMTP, 'work', {'password': 'x\ny'})
    with pytest.raises(FormatError, match='msmtp key must be an account name'):
        fmt('msmtp').read_block(MSMTP, 'a:b')
    with pytest.raises(FormatError, match='account is not a usable msmtp command name'):
        fmt('msmtp').write_block(MSMTP, 'work', {'account': 'x'})


def test_msmtp_itself_reads_the_values_back(tmp_path):
    assert shutil.which('msmtp'), 'msmtp is needed: scripts/bootstrap.sh installs it'
    values = ['two words', ' lead', 'trail ', 'a"b', '"quoted"', 'back\\slash', '#hash', SECRET]
    for value in values:
        text = fmt('msmtp').write_block(MSMTP, 'work', {'host': 'localhost', 'port': '25', 'from': value,
                                                        'tls': 'off', 'auth': 'off'})
        rc = tmp_path / 'msmtprc'
        rc.write_text(text, encoding='utf-8')
        rc.chmod(0o600)
        out = subprocess.run(['msmtp', '-C', str(rc), '-a', 'work', '--pretend'], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode('utf-8')
        assert 'from = %s\n' % value in out


# --- properties every format keeps --------------------------------------------------------------------

SAMPLES = {
    'json': ('smtp', ['', '{}', '{"a": 1, "smtp": {"host": "x", "old": "y"}, "z": [1]}', '{"smtp": null}']),
    'yaml': ('mail.smtp', ['', '# c\n', 'a: 1\nmail:\n  smtp:\n    host: x\n    old: y\nz: [1]\n', 'mail: {}\n']),
    'ini': ('smtp', ['', '\n', '[a]\nx = 1', INI, '[smtp]\n', '[smtp]\nhost = a\nold = 1\n[b]\nhost = b\n',
                     '; c\r\n[smtp]\r\nhost=x\r\n\r\n[b]\r\n']),
    'env': ('SMTP_', ['', 'A=1', ENV, 'SMTP_HOST=a\nSMTP_HOST=b\nSMTP_OLD="x"\n']),
    'msmtp': ('work', ['', MSMTP, 'account work\n', 'defaults\nhost x\naccount work : x\nhost a\nhost b\n']),
}
LINE_BLOCKS = [
    {'host': 'smtp.example.com', 'port': '587', 'password': SECRET, 'username': '', 'from_name': None},
    {'port': '25', 'password': 'semi;colon = eq # hash', 'host': 'other.example.com'},
    {},
]
BLOCKS = {
    'json': LINE_BLOCKS + [{'host': 'h', 'port': 587, 'validate_certs': False, 'timeout': None,
                            'error_recipients': [{'email': 'a@example.com', 'name': 'A \u00e9'}, {'email': 'b@b.c'}]}],
    'yaml': LINE_BLOCKS + [{'host': 'h', 'port': 587, 'validate_certs': False, 'password': 'yes',
                            'error_recipients': [{'email': 'a@example.com'}]}],
    'ini': LINE_BLOCKS,
    'env': LINE_BLOCKS + [{'password': '  spaced  ', 'quote': "it's"}],
    'msmtp': LINE_BLOCKS + [{'password': '  spaced  ', 'from': '"quoted"'}],
}
BLOCKS['env'] = [block for block in BLOCKS['env'] if block]  # env reads an empty block as absent: tested above
CASES = [(name, text, block) for name in FORMATS for text in SAMPLES[name][1] for block in BLOCKS[name]]


@pytest.mark.parametrize('name, text, block', CASES)
def test_write_is_read_back_exactly_and_is_stable(name, text, block):
    form, key = get_format(name), SAMPLES[name][0]
    wanted = dict((k, v) for k, v in block.items() if v is not None)
    written = form.write_block(text, key, block)
    assert form.read_block(written, key) == wanted
    assert form.write_block(written, key, block) == written
    for other in BLOCKS[name]:  # from one block to another, and on to the same again
        moved = form.write_block(written, key, other)
        assert form.read_block(moved, key) == dict((k, v) for k, v in other.items() if v is not None)
        assert form.write_block(moved, key, other) == moved
    removed = form.remove_block(written, key)
    assert form.read_block(removed, key) is None
    assert form.remove_block(removed, key) is removed


@pytest.mark.parametrize('name, text, block', [case for case in CASES if case[0] in ('ini', 'env', 'msmtp')])
def test_line_formats_change_nothing_outside_the_block(name, text, block):
    form, key = get_format(name), SAMPLES[name][0]
    if text and not text.endswith('\n'):
        text += '\n'
    # Byte for byte, but for blank lines at the very end: removing the last section takes those before it.
    after = form.remove_block(form.write_block(text, key, block), key)
    assert after.rstrip('\r\n') == form.remove_block(text, key).rstrip('\r\n')


# --- hostile and unusual files (issue 7) -----------------------------------------------------------------

@pytest.mark.parametrize('name, text', [
    ('json', '[' * 100000 + ']' * 100000),
    ('json', '{"a":' * 100000 + '1' + '}' * 100000),
    ('yaml', '[' * 100000 + ']' * 100000),
    ('yaml', 'a:\n' + ''.join(' ' * n + 'b:\n' for n in range(1, 3000))),
])
def test_deep_nesting_is_a_clear_error(name, text):
    with pytest.raises(FormatError, match='nested too deeply to read safely'):
        fmt(name).read_block(text, 'smtp')


def test_yaml_alias_bomb_is_bounded():
    lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x]']
    lines += ['a%d: &a%d [%s]' % (n, n, ', '.join(['*a%d' % (n - 1)] * 9)) for n in range(1, 10)]
    with pytest.raises(FormatError, match='more than 200000 values'):
        fmt('yaml').read_block('\n'.join(lines) + '\n', 'smtp')
    # a few anchors, as real files use them, still work
    text = 'base: &base {a: 1}\nother: *base\nsmtp: {host: h}\n'
    assert fmt('yaml').read_block(text, 'smtp') == {'host': 'h'}


def test_env_multi_line_quoted_values_of_others_are_respected():
    text = 'CERT="-----BEGIN\nSMTP_HOST=inside-the-cert\n-----END"\nSMTP_PORT=25\nKEY=\'a\nSMTP_USER=also-inside\'\n'
    assert fmt('env').read_block(text, 'SMTP_') == {'port': '25'}
    written = fmt('env').write_block(text, 'SMTP_', {'port': '587', 'host': 'h'})
    assert written == text.replace('SMTP_PORT=25\n', 'SMTP_PORT=587\nSMTP_HOST=h\n')
    assert fmt('env').remove_block(text, 'SMTP_') == text.replace('SMTP_PORT=25\n', '')


def test_env_our_multi_line_value_is_refused_not_mangled():
    text = 'A=1\nSMTP_PASSWORD="s3cret\nmore"\n'
    with pytest.raises(FormatError, match='line 2: the quoted value of SMTP_PASSWORD spans lines 2 to 3') as info:
        fmt('env').write_block(text, 'SMTP_', {'host': 'h'})
    assert 's3cret' not in str(info.value)
    with pytest.raises(FormatError, match='line 1: the value of X opens a quote it does not close'):
        fmt('env').read_block('X="never closed\nSMTP_HOST=h\n', 'SMTP_')


@pytest.mark.parametrize('name, text, expected', [
    ('ini', '[smtp]\npassword = a\n[old]\nPassword=b\n[x]\nPASSWORD = c\nother = d\n', ['a', 'b', 'c']),
    ('env', 'SMTP_PASSWORD=a\nMAIL_PASSWORD="b \\"q\\""\nPASSWORD=c\nPASSWORDS=no\n', ['a', 'b "q"', 'c']),
    ('msmtp', 'account a\npassword "a"\naccount b\npassword b\n', ['a', 'b']),
    ('json', '{"smtp": {"password": "a"}, "old": {"mail": {"Password": "b"}}, "list": [{"PASSWORD": 3}]}', ['a', 'b', '3']),
    ('yaml', 'smtp: {password: a}\nold:\n  Password: b\n', ['a', 'b']),
])
def test_secrets_in_finds_secrets_outside_our_block(name, text, expected):
    assert sorted(fmt(name).secrets_in(text, ['password'])) == sorted(expected)


def test_yaml_never_folds_a_long_value_over_two_lines():
    """A folded passphrase would match no masked form of the secret (found by a validate command printing the file)."""
    passphrase = ' '.join(['correct horse battery staple'] * 8)
    text = get_format('yaml').write_block('', 'smtp', {'password': passphrase})
    assert passphrase in text, text

# -*- coding: utf-8 -*-
"""The relays' file formats: entries read back exactly, other lines survive byte for byte, a second
write changes nothing, and values the format cannot hold are refused without echoing them."""
import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import APP_FORMATS, FormatError, get_format

NASTY = 'p"a\'s\\s#w;o:r%d$ x'

SAMPLES = {
    'assign': ('# main.cf\nmyhostname = h.example.com\nsmtpd_banner = $myhostname ESMTP\n    $mail_name\nrelayhost=\n',
               {'myhostname': 'h.example.com', 'smtpd_banner': '$myhostname ESMTP $mail_name',
                'relayhost': '[smtp.example.com]:587', 'smtp_tls_CAfile': '/ca.pem'},
               '# main.cf\nmyhostname = h.example.com\nsmtpd_banner = $myhostname ESMTP $mail_name\n'
               'relayhost=[smtp.example.com]:587\nsmtp_tls_CAfile = /ca.pem\n'),
    'equals': ('# ssmtp\nroot=postmaster\nmailhub=mail\n',
               {'mailhub': 'smtp.example.com:587', 'AuthPass': 'x;y:z%$'},
               '# ssmtp\nmailhub=smtp.example.com:587\nAuthPass=x;y:z%$\n'),
    'map': ('# dma.conf\nSPOOLDIR /var/spool/dma\n#STARTTLS\n',
            {'SMARTHOST': 'smtp.example.com', 'SECURETRANSFER': '', '[h]:587': 'u:' + NASTY},
            '# dma.conf\nSMARTHOST smtp.example.com\nSECURETRANSFER\n[h]:587 u:%s\n#STARTTLS\n' % NASTY),
    'aliases': ('# /etc/aliases\npostmaster: root\nroot: admin\n',
                {'postmaster': 'root', 'root': 'ops@example.com, dev@example.com'},
                '# /etc/aliases\npostmaster: root\nroot: ops@example.com, dev@example.com\n'),
    'colon': ('# passwd.client\n*.example.org:u:p\n',
              {'smtp.example.com': 'relay@example.com:' + NASTY},
              '# passwd.client\nsmtp.example.com:relay@example.com:%s\n' % NASTY),
    'shellvars': ("# debconf\ndc_eximconfig_configtype='local'\ndc_other_hostnames='a; b'\n",
                  {'dc_eximconfig_configtype': 'smarthost', 'dc_other_hostnames': 'a; b', 'dc_smarthost': "it's::587"},
                  "# debconf\ndc_eximconfig_configtype='smarthost'\ndc_other_hostnames='a; b'\n"
                  "dc_smarthost='it'\\''s::587'\n"),
}


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_write_read_idempotent(name):
    old, block, expected = SAMPLES[name]
    fmt = get_format(name)
    text = fmt.write_block(old, '', block)
    assert text == expected
    assert fmt.read_block(text, '') == block
    assert fmt.write_block(text, '', block) == text


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_empty_file_and_remove(name):
    fmt = get_format(name)
    assert fmt.read_block('', '') is None
    old, block, _expected = SAMPLES[name]
    text = fmt.write_block('', '', block)
    assert fmt.read_block(text, '') == block
    assert fmt.read_block(fmt.remove_block(text, ''), '') is None
    assert fmt.remove_block('# only a comment\n', '') == '# only a comment\n'


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_line_breaks_refused_without_the_value(name):
    with pytest.raises(FormatError) as caught:
        get_format(name).write_block('', '', {'k': 'secret\nvalue'})
    assert 'secret' not in str(caught.value)


@pytest.mark.parametrize('name', ['assign', 'map', 'colon', 'aliases', 'equals'])
def test_sectionless_formats_take_no_key(name):
    with pytest.raises(FormatError, match='leave key empty'):
        get_format(name).read_block('', 'smtp')


def test_whole_file():
    fmt = get_format('whole')
    assert fmt.read_block('', None) is None
    text = fmt.write_block('old stuff\n', None, {'content': 'host smtp --pass=' + NASTY})
    assert text == 'host smtp --pass=%s\n' % NASTY
    assert fmt.read_block(text, None) == {'content': 'host smtp --pass=' + NASTY}
    assert fmt.write_block(text, None, {'content': None}) == ''
    with pytest.raises(FormatError, match='one entry, content'):
        fmt.write_block('', None, {'other': 'x'})


def test_app_formats_are_registered():
    assert [get_format(name).name for name in APP_FORMATS] == list(APP_FORMATS)
    # yamlpaths keeps native values (lists, booleans), as yaml does; the others hold text
    assert [name for name in APP_FORMATS if get_format(name).supports_lists] == ['yamlpaths']


def test_continued_entry_reads_joined_and_is_rewritten_whole():
    fmt = get_format('assign')
    old = 'relayhost =\n    [old.example.com]:25\nmydestination = a,\n  b\n'
    assert fmt.read_block(old, '') == {'relayhost': '[old.example.com]:25', 'mydestination': 'a, b'}
    text = fmt.write_block(old, '', {'relayhost': '[new.example.com]:587', 'mydestination': 'a, b'})
    assert text == 'relayhost = [new.example.com]:587\nmydestination = a, b\n'
    aliases = get_format('aliases')
    assert aliases.read_block('root: a@example.com,\n  b@example.com\n', '') == {'root': 'a@example.com, b@example.com'}


def test_module_imports_the_other_formats_oauth2_and_fault_classes_only_when_used():
    """A module compiles every file it imports on every run (AnsiballZ keeps no bytecode): the smtp_config module
    writing json or yaml imports neither the line formats, nor the apps' formats, nor the OAuth2 client and its
    http.client; nor the failure classification until a session fails."""
    import json
    import subprocess
    import sys
    prefix = 'ansible_collections.email_ops.smtp.plugins.'
    code = '''
import json, sys
import %(p)smodules.smtp_config
from %(p)smodule_utils._formats import get_format
from %(p)smodule_utils._smtp_client import SmtpFailure, run_session
LAZY = ('%(p)smodule_utils._app_formats', '%(p)smodule_utils._line_formats', '%(p)smodule_utils._oauth2',
        '%(p)smodule_utils._smtp_faults', 'http.client')
for name in ('json', 'yaml'):
    get_format(name)
before = [name for name in LAZY if name in sys.modules]
get_format('ini')
get_format('assign')
try:
    run_session(dict(host='127.0.0.1', port=1, security='none', timeout=5, ca_file=None, validate_certs=True,
                     helo_name='h.example.com', username=None, password=None, auth_method='none',
                     from_email='a@example.com', allow_insecure_auth=False), stage='connect')
except SmtpFailure as failure:
    category = failure.category
print(json.dumps([before, [name for name in LAZY if name in sys.modules], category]))
''' % {'p': prefix}
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=False,
                          env={'PYTHONPATH': ':'.join(sys.path), 'PATH': '/usr/bin:/bin'})
    assert proc.returncode == 0, proc.stderr
    lazy = ['app_formats', 'line_formats', 'smtp_faults']
    assert json.loads(proc.stdout) == [[], [prefix + 'module_utils._' + name for name in lazy], 'connect']

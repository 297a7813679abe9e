"""The daemons' and clients' profiles (alertmanager, monit, apprise, s-nail, git) rendered into the files the apps
read (golden texts), what each refuses or warns about, their formats (gitconfig, mailrc, yamlpaths) with the
password that breaks naive quoting, and two runs through the module's own multi-file code (AppFiles)."""
import re
import subprocess

import pytest
import yaml

from ansible_collections.email_ops.smtp.plugins.module_utils._app_files import AppFiles
from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._masking import secret_forms
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import ProfileProblem, get_profile, render_plan
from tests.unit.test_app_files import RecordingModule, plan_for, state
from tests.unit.test_profiles import NASTY, render, settings

APPS = ['alertmanager', 'monit', 'apprise', 's-nail', 'git']
TWO = [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'oncall@example.com'}]


def text_of(app, given, old=None):
    texts, _plan, warnings = render(app, given, old=old)
    assert len(texts) == 1
    return list(texts.values())[0], warnings


# -- goldens ----------------------------------------------------------------------------------------------------------

def test_git_golden_starttls_and_foreign_lines_kept():
    old = '[user]\n\tname = Me\n[sendEmail]\n\tconfirm = never\n\tsmtpServer = old.example.com\n[alias]\n\tco = checkout\n'
    text, warnings = text_of('git', settings(ca_file='/etc/ssl/ca.pem', helo_name='h.example.com', error_recipients=TWO,
                                             from_name='Alerts'), old={'config': old})
    assert text == ('[user]\n\tname = Me\n[sendEmail]\n\tconfirm = never\n\tsmtpServer = smtp.example.com\n'
                    '\tsmtpserverport = 587\n\tsmtpencryption = tls\n\tsmtpsslcertpath = /etc/ssl/ca.pem\n'
                    '\tsmtpuser = relay@example.com\n\tsmtppass = S3cret-pass\n\tsmtpdomain = h.example.com\n'
                    '\tfrom = Alerts <alerts@example.com>\n\tenvelopesender = alerts@example.com\n'
                    '\tto = ops@example.com, oncall@example.com\n[alias]\n\tco = checkout\n')
    assert warnings == []


def test_git_implicit_tls_and_the_password_git_reads_back(tmp_path):
    text, _warnings = text_of('git', settings(port=465, security='ssl', password=NASTY))
    assert '\tsmtpencryption = ssl\n' in text and '\tsmtpserverport = 465\n' in text
    path = tmp_path / 'gitconfig'
    path.write_text(text)
    got = subprocess.run(['git', 'config', '--file', str(path), '--get', 'sendemail.smtpPass'], capture_output=True,
                         text=True, check=True, timeout=30)
    assert got.stdout[:-1] == NASTY
    assert any(form in text for form in secret_forms(NASTY) if form != NASTY)  # masking knows the written form


def test_s_nail_golden_both_modes():
    text, _warnings = text_of('s-nail', settings(ca_file='/etc/ssl/ca.pem', helo_name='h.example.com'))
    assert text == ("set v15-compat\nset mta='smtp://relay%40example.com@smtp.example.com:587'\nset smtp-use-starttls\n"
                    "set password='S3cret-pass'\nset tls-ca-file='/etc/ssl/ca.pem'\nset tls-ca-no-defaults\n"
                    "set tls-verify='strict'\nset from='alerts@example.com'\nset smtp-hostname='h.example.com'\n"
                    "set sendwait\n")
    old = "# mine\nset ask\nset a=1 b=2\nset smtp-use-starttls\n"
    text, _warnings = text_of('s-nail', settings(port=465, security='ssl', password=NASTY), old={'rc': old})
    assert text.startswith("# mine\nset ask\nset a=1 b=2\n") and 'smtp-use-starttls' not in text
    assert "set mta='smtps://relay%40example.com@smtp.example.com:465'\n" in text
    assert "set password='p\"a'\\''s\\s#w;o:r%d$ x'\n" in text
    assert get_format('mailrc').read_block(text, '')['password'] == NASTY


def test_monit_golden_and_quoting():
    text, warnings = text_of('monit', settings(ca_file='/etc/ssl/ca.pem', error_recipients=TWO, from_name='Monit'))
    assert text == ('# Written by email_ops.smtp smtp_config: monit\'s mail server and alert recipients.\n'
                    'set mailserver smtp.example.com port 587\n'
                    '    username "relay@example.com" password "S3cret-pass"\n    using ssl\n    with timeout 30 seconds\n'
                    'set ssl {\n    verify: enable,\n    selfsigned: reject,\n    cacertificatefile: /etc/ssl/ca.pem\n}\n'
                    'set mail-format {\n    from: Monit <alerts@example.com>\n}\n'
                    'set alert ops@example.com\nset alert oncall@example.com\n')
    assert warnings == []
    text, _warnings = text_of('monit', settings(port=465, security='ssl', password='with "double" quotes'))
    assert 'password \'with "double" quotes\'' in text and 'port 465\n    username' in text


def test_apprise_golden_every_part_percent_encoded():
    text, _warnings = text_of('apprise', settings(port=465, security='ssl', password=NASTY, error_recipients=TWO,
                                                  from_name='Alerts & Co'))
    url = yaml.safe_load(text)['urls'][0]
    assert url == ('mailtos://relay%40example.com:p%22a%27s%5Cs%23w%3Bo%3Ar%25d%24%20x@smtp.example.com:465?mode=ssl'
                   '&smtp=smtp.example.com&name=Alerts%20%26%20Co&from=alerts%40example.com'
                   '&to=ops%40example.com%2Concall%40example.com')
    text, _warnings = text_of('apprise', settings(validate_certs=False))
    assert '?mode=starttls&smtp=smtp.example.com&verify=no&' in text


def test_alertmanager_golden_keeps_the_admins_keys_and_receivers():
    old = ("global:\n  resolve_timeout: 5m\n  smtp_smarthost: old:25\nroute:\n  receiver: team\n  routes:\n"
           "  - receiver: email-ops-errors\n    matchers: ['severity=\"page\"']\nreceivers:\n- name: team\n"
           "  webhook_configs:\n  - url: http://127.0.0.1:5001/\n- name: 'null'\n")
    text, warnings = text_of('alertmanager', settings(port=465, security='ssl', password=NASTY, ca_file='/etc/ssl/ca.pem',
                                                      error_recipients=TWO), old={'config': old})
    data = yaml.safe_load(text)
    assert data['global'] == {'resolve_timeout': '5m', 'smtp_smarthost': 'smtp.example.com:465',
                              'smtp_from': 'alerts@example.com', 'smtp_auth_username': 'relay@example.com',
                              'smtp_auth_password': NASTY, 'smtp_require_tls': False}
    assert data['route'] == yaml.safe_load(old)['route']
    assert data['receivers'] == [
        {'name': 'team', 'webhook_configs': [{'url': 'http://127.0.0.1:5001/'}]}, {'name': 'null'},
        {'name': 'email-ops-errors', 'email_configs': [{'to': 'ops@example.com, oncall@example.com',
                                                        'tls_config': {'ca_file': '/etc/ssl/ca.pem'}}]}]
    assert warnings == []
    text, _warnings = text_of('alertmanager', settings(validate_certs=False, error_recipients=TWO))
    data = yaml.safe_load(text)
    assert data['global']['smtp_require_tls'] is True
    assert data['receivers'][0]['email_configs'][0]['tls_config'] == {'insecure_skip_verify': True}


def test_alertmanager_cram_md5_writes_the_secret_key():
    text, _warnings = text_of('alertmanager', settings(auth_method='cram-md5'))
    data = yaml.safe_load(text)['global']
    assert data['smtp_auth_secret'] == 'S3cret-pass' and 'smtp_auth_password' not in data


# -- refusals and warnings --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('app,given,words', [
    ('alertmanager', dict(security='ssl', port=2465), 'implicit TLS only to port 465'),
    ('alertmanager', dict(security='starttls', port=465), 'not STARTTLS, to port 465'),
    ('monit', dict(security='starttls', port=2587), 'STARTTLS only on ports 25 and 587'),
    ('monit', dict(security='ssl', port=587), 'not implicit TLS, on ports 25 and 587'),
    ('monit', dict(password=NASTY), 'both a double and a single quote'),
    ('monit', dict(ca_file='/etc/my ca.pem'), 'cacertificatefile as a bare path'),
    ('apprise', dict(ca_file='/etc/ssl/ca.pem'), 'SSL_CERT_FILE=<ca_file>'),
    ('apprise', dict(error_recipients=None), 'needs at least one recipient'),
    ('git', dict(validate_certs=False), 'empty smtpSSLCertPath'),
    ('s-nail', dict(host='192.0.2.25'), 'DNS names only'),
    ('s-nail', dict(host='2001:db8::25'), 'DNS names only'),
] + [(app, dict(auth_method=method), method if app != 's-nail' else 'OAuth2')
     for app in APPS for method in ('xoauth2', 'oauthbearer')])
def test_refusals_name_the_app_and_the_reason(app, given, words):
    with pytest.raises(ProfileProblem) as caught:
        render_plan(app, get_profile(app), settings(**given))
    message = str(caught.value)
    assert message.startswith('app %s cannot express these settings: ' % app) and words in message
    assert 'S3cret-pass' not in message and NASTY not in message


@pytest.mark.parametrize('app,given,words', [
    ('monit', dict(validate_certs=False), 'will not verify'),
    ('apprise', dict(helo_name='h.example.com'), 'HELO'),
    ('apprise', dict(auth_method='login'), 'smtplib pick'),
    ('git', dict(security='none', port=25, allow_insecure_auth=True), 'without TLS'),
    ('alertmanager', dict(ca_file='/etc/ssl/ca.pem', error_recipients=None), 'per receiver'),
])
def test_warnings(app, given, words):
    _plan, warnings = render_plan(app, get_profile(app), settings(**given))
    assert any(words in warning and warning.startswith('app %s: ' % app) for warning in warnings), warnings


# -- formats ----------------------------------------------------------------------------------------------------------

def test_gitconfig_sections_and_keys_ignore_case_and_values_keep_their_quoting():
    fmt = get_format('gitconfig')
    text = '[Core]\n\tbare = false\n[SendEmail]\n\tSmtpPass = "a;b" ; comment\n\tsmtpuser = u\n[remote "origin"]\n\turl = x\n'
    assert fmt.read_block(text, 'sendemail') == {'smtppass': 'a;b', 'smtpuser': 'u'}
    assert fmt.read_block(text, 'remote "origin"') == {'url': 'x'}
    assert fmt.write_block(text, 'sendemail', {'smtppass': 'a;b', 'smtpuser': 'u'}) == text  # unchanged lines kept
    new = fmt.write_block(text, 'sendemail', {'smtppass': NASTY, 'smtpuser': 'u'})
    assert fmt.read_block(new, 'sendemail') == {'smtppass': NASTY, 'smtpuser': 'u'}
    assert '[remote "origin"]\n\turl = x\n' in new
    with pytest.raises(FormatError):
        fmt.read_block('[sendemail\n', 'sendemail')
    with pytest.raises(FormatError):
        fmt.write_block('', 'sendemail', {'smtpPass': 'x'})  # profiles name keys in lowercase


def test_mailrc_owns_only_single_set_lines():
    fmt = get_format('mailrc')
    text = "# c\nset ask\nset a=1 b=2\nset from=\"Me <me@example.com>\"\naccount x {\n}\n"
    assert fmt.read_block(text, '') == {'ask': '', 'from': 'Me <me@example.com>'}
    new = fmt.write_block(text, '', {'from': 'Me <me@example.com>', 'password': NASTY})
    assert new.startswith("# c\nset a=1 b=2\nset from=\"Me <me@example.com>\"\n")  # the unchanged line as it was
    assert fmt.read_block(new, '') == {'from': 'Me <me@example.com>', 'password': NASTY}
    assert fmt.remove_block(new, '') == "# c\nset a=1 b=2\naccount x {\n}\n"


def test_yamlpaths_places_named_items_and_prunes_what_it_empties():
    fmt = get_format('yamlpaths')
    text = ('global:\n  resolve_timeout: 5m\nreceivers:\n- name: a\n  email_configs:\n  - to: x@example.com\n'
            '    headers:\n      X-Weird.Key: v\n- name: b\n')
    block = fmt.read_block(text, '')
    assert block == {'global.resolve_timeout': '5m', 'receivers[name=a].email_configs[0].to': 'x@example.com',
                     'receivers[name=a].email_configs[0].headers': {'X-Weird.Key': 'v'}, 'receivers[name=b]': {}}
    ours = {'global.smtp_from': 'f@example.com', 'receivers[name=ours].email_configs[0].to': 'y@example.com',
            'receivers[name=ours].email_configs[0].tls_config.insecure_skip_verify': True}
    written = fmt.write_block(text, '', dict(block, **ours))
    assert fmt.read_block(written, '') == dict(block, **ours)
    assert yaml.safe_load(written)['receivers'][2] == {'name': 'ours', 'email_configs': [
        {'to': 'y@example.com', 'tls_config': {'insecure_skip_verify': True}}]}
    assert fmt.write_block(written, '', block) == fmt.write_block(text, '', block)  # ours gone, nothing left behind
    assert yaml.safe_load(fmt.write_block(written, '', block)) == yaml.safe_load(text)
    assert fmt.secrets_in('global:\n  smtp_auth_password: s3cret\n', ['smtp_auth_password']) == ['s3cret']
    with pytest.raises(FormatError):
        fmt.read_block('- a list\n', '')
    with pytest.raises(FormatError):
        fmt.write_block('', 'global', {})


# -- through the module's code: what is not ours survives, a second run changes nothing -------------------------------

FOREIGN = {
    'alertmanager': ('config', 'global:\n  resolve_timeout: 5m\nroute:\n  receiver: team\nreceivers:\n- name: team\n'),
    'git': ('config', '[user]\n\tname = Me\n[alias]\n\tco = checkout\n'),
    's-nail': ('rc', '# site\nset ask\nset crt=25\n'),
    'monit': ('mail', None),
    'apprise': ('config', None),
}


@pytest.mark.parametrize('app', APPS)
def test_two_runs_keep_foreign_content_and_mask_the_password(app, tmp_path):
    given = dict(password='with space and "double" quote', error_recipients=TWO)
    if app == 'monit':
        given.update(port=587)
    file_id, foreign = FOREIGN[app]
    if foreign:
        (tmp_path / file_id).write_text(foreign)
    plan = plan_for(app, tmp_path, settings(**given))
    module = RecordingModule(plan, settings(**given))
    result = AppFiles(module).run()
    assert result['changed'] and 'with space and "double" quote' not in repr(result)
    written = (tmp_path / file_id).read_text()
    if app == 'alertmanager':
        assert yaml.safe_load(written)['global']['resolve_timeout'] == '5m'
        assert yaml.safe_load(written)['receivers'][0] == {'name': 'team'}
    elif foreign:
        assert all(line in written for line in foreign.splitlines(True))
    before = state(tmp_path)
    module = RecordingModule(plan, settings(**given))
    result = AppFiles(module).run()
    assert result['changed'] is False and state(tmp_path) == before and module.commands == []


@pytest.mark.parametrize('app,given,pattern', [
    ('git', {}, r'\tsmtppass = "(.*)"\n'),
    ('s-nail', {}, r"set password='(.*)'\n"),
    ('apprise', {}, r'mailtos://relay%40example.com:(.*)@smtp'),
    ('alertmanager', {}, r'  smtp_auth_password: (.*)\n'),
    ('monit', {'password': NASTY.replace('"', '')}, r'password "(.*)"\n'),
])
def test_the_password_as_written_is_a_form_masking_knows(app, given, pattern):
    password = given.get('password', NASTY)
    text, _warnings = text_of(app, settings(password=password))
    written = re.search(pattern, text).group(1)
    assert written in secret_forms(password)


def test_monit_checks_debians_whole_control_file_only_where_it_includes_ours():
    plan, _warnings = render_plan('monit', get_profile('monit'), settings())
    assert plan['checks'] == ['monit -t -c /etc/monit/monitrc'] and plan['files'][0]['validate'] == 'monit -t -c %s'
    plan, _warnings = render_plan('monit', get_profile('monit'), settings(), paths={'mail': '/srv/monit/mail'})
    assert plan['checks'] == ['']  # an empty command is not run

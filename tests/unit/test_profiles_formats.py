"""Format-proven apps (not installable here, FIELD-GUIDE 4): Grafana and Gitea (go-ini), Mattermost and Keycloak
(JSON), Jenkins (JCasC YAML). Golden files from each app's documentation, read back with a parser that follows the
app's own rules (go-ini's parser.go for the INI files, json, yaml), secrets that survive every quoting rule, the
app's other keys kept, and what each app cannot express refused by name."""
import io
import json
import re

import pytest
import yaml

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, get_format
from ansible_collections.email_ops.smtp.plugins.module_utils._masking import scrub
from ansible_collections.email_ops.smtp.plugins.module_utils._oauth2 import main
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import ProfileProblem, oauth2_helper_source, render_plan, get_profile
from tests.testbed.net import free_port
from tests.testbed.postfix import Postfix
from tests.unit.test_profiles import NASTY, render, settings

APPS = ['grafana', 'gitea', 'mattermost', 'keycloak', 'jenkins']
SPECIAL = Postfix.special_password  # the test bed's password that breaks naive quoting
# Passwords each go-ini rule would change if written plain: inline comments, surrounding quotes, a line continuation,
# the quote marks themselves, spaces at the ends.
GOINI_HARD = [NASTY, SPECIAL, 'a#b', 'a;b', '"quoted"', "'single'", 'ends\\', ' lead and trail ', '`tick`', 'x`y', '"""t',
              'p"', '"p', '==', 'plain-Pass_1']
OAUTH2 = dict(token_url='https://login.example.com/tenant/oauth2/v2.0/token', client_id='app-id', client_secret=SPECIAL,
              scope='https://outlook.office365.com/.default')


def goini(text):
    """{section: {key: value}} as gopkg.in/ini.v1 (default LoadOptions) reads `text`: written from its parser.go
    (readKeyName, readValue, readMultilines, readContinuationLines), independently of the goini format."""
    sections, section, lines, index = {'DEFAULT': {}}, 'DEFAULT', text.split('\n'), 0
    while index < len(lines):
        line = lines[index].lstrip() + ('\n' if index < len(lines) - 1 else '')
        index += 1
        if not line.strip() or line[0] in '#;':
            continue
        if line[0] == '[':
            section = line[1:line.rindex(']')]
            sections.setdefault(section, {})
            continue
        cut = min(i for i in (line.find('='), line.find(':'), len(line)) if i >= 0)
        assert cut < len(line), 'go-ini: delimiter not found'
        name, value = line[:cut].strip(), line[cut + 1:].lstrip()
        quote = '"""' if len(value) > 3 and value.startswith('"""') else ('`' if value.startswith('`') else None)
        if quote:
            pos = value[len(quote):].rfind(quote)
            while pos == -1:  # readMultilines: the value goes on until a line holding the quote
                assert index < len(lines), 'go-ini: missing closing key quote'
                nxt = lines[index] + '\n'
                index += 1
                if nxt.rfind(quote) > -1:
                    value, pos = value + nxt[:nxt.rfind(quote)] + quote, len(value + nxt[:nxt.rfind(quote)]) - len(quote)
                else:
                    value += nxt
            sections[section][name] = value[len(quote):len(quote) + pos]
            continue
        value = value.strip()
        while value.endswith('\\'):  # readContinuationLines
            value = value[:-1] + (lines[index].strip() if index < len(lines) else '')
            index += 1
        cut = min([i for i in (value.find('#'), value.find(';')) if i >= 0] or [len(value)])
        value = value[:cut].strip()
        for mark in '\'"':
            if len(value) >= 2 and value[0] == mark and value[-1] == mark and value[1:].find(mark) == len(value) - 2:
                value = value[1:-1]
                break
        sections[section][name] = value
    return sections


GRAFANA_INI = '''##################### Grafana Configuration #####################
[server]
http_port = 3000

#################################### SMTP / Emailing ##########################
[smtp]
enabled = true
host = localhost:25
;user =
# If the password contains # or ; you have to wrap it with triple quotes. Ex """#password;"""
;password =
cert_file = /etc/grafana/client.pem
key_file = /etc/grafana/client.key

[emails]
welcome_email_on_sign_up = false
'''


def test_grafana_golden_file_keeps_enabled_and_the_other_keys():
    texts, plan, warnings = render('grafana', settings(password=SPECIAL, from_name='Grafana Alerts', helo_name='grafana.example.com'),
                                   old={'main': GRAFANA_INI})
    assert texts['main'] == GRAFANA_INI.replace('host = localhost:25\n', 'host = smtp.example.com:587\n').replace(
        'key_file = /etc/grafana/client.key\n',
        'key_file = /etc/grafana/client.key\n'
        'user = relay@example.com\n'
        'password = `%s`\n'
        'from_address = alerts@example.com\n'
        'from_name = Grafana Alerts\n'
        'startTLS_policy = MandatoryStartTLS\n'
        'skip_verify = false\n'
        'ehlo_identity = grafana.example.com\n' % SPECIAL)
    read = goini(texts['main'])
    assert read['smtp']['password'] == SPECIAL and read['smtp']['enabled'] == 'true'
    assert read['smtp']['cert_file'] == '/etc/grafana/client.pem' and read['server']['http_port'] == '3000'
    assert plan['files'][0]['secrets'] == ['password'] and plan['service'] == {'name': 'grafana-server', 'action': 'restart'}
    assert not warnings


def test_grafana_implicit_tls_is_port_465_only_and_ipv6_hosts_are_bracketed():
    texts, _plan, warnings = render('grafana', settings(security='ssl', port=465, host='2001:db8::25', validate_certs=False,
                                                        ca_file='/ca.pem'))
    smtp = goini(texts['main'])['smtp']
    assert smtp['host'] == '[2001:db8::25]:465' and smtp['skip_verify'] == 'true' and 'startTLS_policy' not in smtp
    assert any('does not verify' in w for w in warnings) and any('system CA store' in w for w in warnings)
    none = goini(render('grafana', settings(security='none', port=25, username=None, password=None))[0]['main'])['smtp']
    assert none['startTLS_policy'] == 'NoStartTLS' and 'user' not in none and 'password' not in none
    with pytest.raises(ProfileProblem, match='app grafana cannot express.*only on port 465'):
        render('grafana', settings(security='ssl', port=2465))
    with pytest.raises(ProfileProblem, match='app grafana cannot express.*port 465'):
        render('grafana', settings(security='starttls', port=465))


GITEA_INI = '''APP_NAME = Gitea: Git with a cup of tea
RUN_USER = git

[mailer]
ENABLED = false
SUBJECT_PREFIX = [git]
SMTP_ADDR = old.example.com

[service]
ENABLE_NOTIFY_MAIL = true
'''


@pytest.mark.parametrize('security, port, protocol', [('starttls', 587, 'smtp+starttls'), ('ssl', 465, 'smtps'),
                                                      ('ssl', 2465, 'smtps'), ('none', 25, 'smtp')])
def test_gitea_golden_file_for_each_protocol(security, port, protocol):
    given = settings(security=security, port=port, password=SPECIAL if security != 'none' else None,
                     username='relay@example.com' if security != 'none' else None, from_name='Gitea; "the" forge')
    texts, plan, _warnings = render('gitea', given, old={'main': GITEA_INI})
    mailer = goini(texts['main'])['mailer']
    assert mailer['ENABLED'] == 'true' and mailer['PROTOCOL'] == protocol and mailer['SMTP_PORT'] == str(port)
    assert mailer['SMTP_ADDR'] == 'smtp.example.com' and mailer['SUBJECT_PREFIX'] == '[git]'
    assert mailer['FROM'] == '"Gitea; \\"the\\" forge" <alerts@example.com>'   # RFC 5322 quoting, then go-ini's backticks
    assert mailer.get('PASSWD') == (SPECIAL if security != 'none' else None)
    assert goini(texts['main'])['service'] == {'ENABLE_NOTIFY_MAIL': 'true'}
    assert texts['main'].startswith('APP_NAME = Gitea: Git with a cup of tea\nRUN_USER = git\n\n[mailer]\nENABLED = true\n')
    assert plan['files'][0]['mode'] == '0640' and plan['files'][0]['group'] == 'git'


@pytest.mark.parametrize('password', GOINI_HARD)
def test_goini_writes_every_password_so_go_ini_reads_it_back(password):
    for app, key, name in (('grafana', 'smtp', 'password'), ('gitea', 'mailer', 'PASSWD')):
        text = render(app, settings(password=password))[0]['main']
        assert goini(text)[key][name] == password, (app, text)
        fmt = get_format('goini')
        assert fmt.read_block(text, key)[name] == password
        assert fmt.write_block(text, key, fmt.read_block(text, key)) == text  # idempotent
        assert password not in scrub(text, [password]) or password in ('==',)  # masking covers the written form


def test_goini_reads_the_apps_own_quoting_and_refuses_multi_line_values():
    fmt = get_format('goini')
    text = '[smtp]\npassword = """#pass;word"""\nuser = "relay" ; a comment\nhost = `a#b`\nfrom_name = Ops # team\n'
    assert fmt.read_block(text, 'smtp') == {'password': '#pass;word', 'user': 'relay', 'host': 'a#b', 'from_name': 'Ops'}
    assert goini(text)['smtp'] == fmt.read_block(text, 'smtp')
    for bad in ('[smtp]\npassword = """first\nsecond"""\n', '[smtp]\npassword = abc\\\n  def\n'):
        with pytest.raises(FormatError, match='line [23]') as caught:  # refused, never edited
            fmt.read_block(bad, 'smtp')
        assert 'first' not in str(caught.value) and 'abc' not in str(caught.value)


MATTERMOST_JSON = {'ServiceSettings': {'SiteURL': 'https://chat.example.com'},
                   'EmailSettings': {'EnableSignUpWithEmail': True, 'SMTPServer': '', 'SMTPPort': '10025',
                                     'ConnectionSecurity': '', 'SendEmailNotifications': False, 'PushNotificationContents': 'full'}}


@pytest.mark.parametrize('security, connection', [('starttls', 'STARTTLS'), ('ssl', 'TLS'), ('none', '')])
def test_mattermost_golden_config_json(security, connection):
    given = settings(security=security, password=SPECIAL if security != 'none' else None,
                     username=None if security == 'none' else 'relay@example.com', from_name='Mattermost')
    texts, plan, _warnings = render('mattermost', given, old={'main': json.dumps(MATTERMOST_JSON, indent=2)})
    config = json.loads(texts['main'])
    assert config['ServiceSettings'] == MATTERMOST_JSON['ServiceSettings']
    expected = {'EnableSignUpWithEmail': True, 'PushNotificationContents': 'full', 'SendEmailNotifications': True,
                'SMTPServer': 'smtp.example.com', 'SMTPPort': '587', 'ConnectionSecurity': connection,
                'EnableSMTPAuth': security != 'none', 'SkipServerCertificateVerification': False,
                'SMTPServerTimeout': 30, 'FeedbackEmail': 'alerts@example.com', 'FeedbackName': 'Mattermost'}
    if security != 'none':
        expected.update(SMTPUsername='relay@example.com', SMTPPassword=SPECIAL)
    assert config['EmailSettings'] == expected
    assert plan['files'][0]['secrets'] == ['SMTPPassword']
    assert SPECIAL not in scrub(texts['main'], [SPECIAL])


def test_keycloak_realm_json_has_string_values_and_token_auth_for_xoauth2():
    realm = {'realm': 'ops', 'enabled': True, 'smtpServer': {'replyTo': 'noreply@example.com', 'password': '**********'}}
    texts, plan, warnings = render('keycloak', settings(security='ssl', port=465, password=SPECIAL, from_name='Keycloak'),
                                   old={'main': json.dumps(realm)})
    smtp = json.loads(texts['main'])['smtpServer']
    assert smtp == {'replyTo': 'noreply@example.com', 'host': 'smtp.example.com', 'port': '465', 'from': 'alerts@example.com',
                    'fromDisplayName': 'Keycloak', 'envelopeFrom': 'alerts@example.com', 'ssl': 'true', 'starttls': 'false',
                    'auth': 'true', 'authType': 'basic', 'user': 'relay@example.com', 'password': SPECIAL}
    assert all(isinstance(value, str) for value in smtp.values()) and json.loads(texts['main'])['realm'] == 'ops'
    assert not warnings and 'password' in plan['files'][0]['secrets']

    token, plan, _warnings = render('keycloak', settings(auth_method='xoauth2', password=None, oauth2=OAUTH2),
                                    old={'main': texts['main']})
    smtp = json.loads(token['main'])['smtpServer']
    assert smtp['authType'] == 'token' and smtp['auth'] == 'true' and 'password' not in smtp
    assert (smtp['authTokenUrl'], smtp['authTokenClientId'], smtp['authTokenClientSecret'], smtp['authTokenScope']) == (
        OAUTH2['token_url'], 'app-id', SPECIAL, OAUTH2['scope'])
    assert 'authTokenClientSecret' in plan['files'][0]['secrets'] and SPECIAL not in scrub(token['main'], [SPECIAL])


@pytest.mark.parametrize('given, reason', [
    (dict(password='**********'), 'the mask Keycloak shows'),
    (dict(auth_method='xoauth2', password=None, oauth2=dict(OAUTH2, client_secret='**********')), 'mask Keycloak shows'),
    (dict(auth_method='xoauth2', password='static-token'), 'fetches its own OAuth2 tokens'),
    (dict(auth_method='xoauth2', password=None, oauth2=dict(OAUTH2, refresh_token='rt')), 'client-credentials grant only'),
    (dict(auth_method='oauthbearer', password=None, oauth2=OAUTH2), 'not OAUTHBEARER'),
    (dict(validate_certs=False), 'always verifies'),
])
def test_keycloak_refuses_what_it_cannot_express(given, reason):
    with pytest.raises(ProfileProblem, match='app keycloak cannot express these settings: .*%s' % re.escape(reason)):
        render('keycloak', settings(**given))


JENKINS_LOCATION = 'unclassified:\n  location:\n    url: https://ci.example.com/\n'


@pytest.mark.parametrize('security', ['starttls', 'ssl'])
def test_jenkins_jcasc_golden_files(security):
    texts, plan, _warnings = render('jenkins', settings(security=security, port=587 if security == 'starttls' else 465,
                                                        password=SPECIAL, from_name='Jenkins CI'),
                                    old={'location': JENKINS_LOCATION})
    mailer = yaml.safe_load(texts['mailer'])['unclassified']['mailer']
    assert mailer == {'smtpHost': 'smtp.example.com', 'smtpPort': '587' if security == 'starttls' else '465',
                      'useSsl': security == 'ssl', 'useTls': security == 'starttls', 'charset': 'UTF-8',
                      'authentication': {'username': 'relay@example.com', 'password': SPECIAL}}
    assert yaml.safe_load(texts['location']) == {'unclassified': {'location': {
        'url': 'https://ci.example.com/', 'adminAddress': 'Jenkins CI <alerts@example.com>'}}}
    assert plan['files'][0]['secrets'] == ['authentication'] and SPECIAL not in scrub(texts['mailer'], [SPECIAL])
    bare = yaml.safe_load(render('jenkins', settings(username=None, password=None))[0]['mailer'])['unclassified']['mailer']
    assert 'authentication' not in bare


@pytest.mark.parametrize('app', ['grafana', 'gitea', 'mattermost', 'jenkins'])
def test_apps_without_oauth2_smtp_refuse_it_by_name(app):
    for method in ('xoauth2', 'oauthbearer'):
        with pytest.raises(ProfileProblem, match='app %s cannot express these settings: .*OAuth2' % app):
            render(app, settings(auth_method=method, password=None, oauth2=OAUTH2))


def test_every_format_proven_app_warns_that_ca_file_is_not_written_except_where_it_refuses():
    for app in APPS:
        _texts, _plan, warnings = render(app, settings(ca_file='/etc/ssl/private-ca.pem'))
        assert any('ca_file is not written' in warning and warning.startswith('app %s: ' % app) for warning in warnings), app


def test_msmtp_oauth2_files_and_the_helper_is_the_oauth2_module_itself():
    texts, plan, _warnings = render('msmtp', settings(auth_method='xoauth2', password=None, oauth2=dict(OAUTH2, refresh_token=NASTY)))
    assert "passwordeval \"python3 '/usr/local/bin/email-ops-oauth2-token' '/etc/msmtprc.oauth2.json'\"\n" in texts['main']
    _texts, _plan, warnings = render('msmtp-mta', settings(auth_method='oauthbearer', password=None, oauth2=OAUTH2))
    assert 'auth oauthbearer\n' in _texts['main'] and any('runs passwordeval as the user who sends' in w for w in warnings)
    assert 'auth xoauth2\n' in texts['main'] and '\npassword ' not in texts['main']
    assert json.loads(texts['oauth2_credentials']) == dict(OAUTH2, refresh_token=NASTY, timeout=30)
    source = oauth2_helper_source()
    assert texts['oauth2_helper'] == source + '\n' and source.startswith('#!/usr/bin/python3\n')
    assert "if __name__ == '__main__':" in source and 'def fetch_token(' in source
    modes = dict((f['id'], (f['mode'], f['secrets'])) for f in plan['files'])
    assert modes == {'main': ('0600', ['password']), 'oauth2_helper': ('0755', []),
                     'oauth2_credentials': ('0600', ['client_secret', 'refresh_token'])}
    # without oauth2 the helper files are not the app's: one file, so `path` still works
    plan, _warnings = render_plan('msmtp', get_profile('msmtp'), settings(), path='/home/u/.msmtprc')
    assert [f['id'] for f in plan['files']] == ['main']
    with pytest.raises(ProfileProblem, match='app msmtp has several files .*paths'):
        render_plan('msmtp', get_profile('msmtp'), settings(auth_method='xoauth2', password=None, oauth2=OAUTH2),
                    path='/home/u/.msmtprc')


def test_the_helper_says_why_it_has_no_token_in_one_line_without_the_secret(tmp_path):
    credentials = tmp_path / 'oauth2.json'
    credentials.write_text(json.dumps(dict(OAUTH2, token_url='https://127.0.0.1:%d/token' % free_port(), timeout=5)))
    for argv, code, words in (([], 2, 'usage: oauth2-token CREDENTIALS.json'),
                              ([str(tmp_path / 'missing.json')], 1, 'cannot read'),
                              ([str(credentials)], 1, 'cannot reach token endpoint 127.0.0.1')):
        out, err = io.StringIO(), io.StringIO()
        assert main(argv, out, err) == code and out.getvalue() == ''
        assert words in err.getvalue() and err.getvalue().count('\n') == 1 and SPECIAL not in err.getvalue()

"""Golden files of the server apps' profiles: synapse, airflow, mailman3, redmine (tests/integration/test_apps_servers.py
proves each with the app itself sending)."""
import json

import pytest
import yaml

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FormatError, get_format
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import ProfileProblem
from tests.unit.test_profiles import render, settings

SPECIAL = 'q"u\'o\\t#e;d:p%w$d x'

REDMINE_OLD = 'default:\n  attachments_storage_path: /var/x\nproduction:\n  scm_git_command: git\n'


def test_redmine_golden_file_keeps_the_other_keys():
    texts, plan, warnings = render('redmine', settings(password=SPECIAL, ca_file='/ca.pem', auth_method='login',
                                                       helo_name='redmine.example.com'), old={'main': REDMINE_OLD})
    assert texts['main'] == (
        'default:\n'
        '  attachments_storage_path: /var/x\n'
        '  email_delivery:\n'
        '    smtp_settings:\n'
        '      address: smtp.example.com\n'
        '      port: 587\n'
        '      domain: redmine.example.com\n'
        '      authentication: :login\n'
        '      user_name: relay@example.com\n'
        '      password: q"u\'o\\t#e;d:p%w$d x\n'
        '      enable_starttls_auto: true\n'
        '      enable_starttls: true\n'
        '      tls: false\n'
        '      openssl_verify_mode: peer\n'
        '      ca_file: /ca.pem\n'
        '      open_timeout: 30\n'
        '      read_timeout: 30\n'
        'production:\n'
        '  scm_git_command: git\n')
    spec = plan['files'][0]
    assert spec['mode'] == '0640' and spec['group'] == 'www-data' and spec['secrets'] == ['password']
    assert spec['validate'].startswith('ruby -ryaml -e ') and spec['validate'].endswith(' %s')
    assert any('Emission email address' in warning for warning in warnings)
    assert any('no error recipients' in warning for warning in warnings)


def test_redmine_implicit_tls_without_verification_warns():
    texts, _plan, warnings = render('redmine', settings(security='ssl', port=465, validate_certs=False, error_recipients=None))
    written = yaml.safe_load(texts['main'])['default']['email_delivery']['smtp_settings']
    assert written['tls'] is True and written['enable_starttls_auto'] is False and written['enable_starttls'] is False
    assert written['openssl_verify_mode'] == 'none' and 'ca_file' not in written and 'authentication' not in written
    assert any('will not verify' in warning for warning in warnings)
    assert not any('error recipients' in warning for warning in warnings)


@pytest.mark.parametrize('given, words', [
    (dict(auth_method='xoauth2'), 'no xoauth2/oauthbearer'),
    (dict(password='a<%= system("id") %>'), 'through ERB'),
    (dict(password=':secret'), 'as a Symbol'),
    (dict(security='none', port=25), 'allow_insecure_auth'),
])
def test_redmine_refuses_what_it_cannot_express(given, words):
    with pytest.raises(ProfileProblem, match='app redmine cannot express these settings: .*%s' % words):
        render('redmine', settings(**given))


def test_synapse_golden_email_section_keeps_the_other_keys():
    old = {'main': 'server_name: scout.test\nemail:\n  app_name: Scout\n  smtp_host: old.example.com\n'}
    texts, plan, warnings = render('synapse', settings(password=SPECIAL, from_name='Ops "100%" \\ Team'), old=old)
    assert texts['main'] == (
        'server_name: scout.test\n'
        'email:\n'
        '  app_name: Scout\n'
        '  smtp_host: smtp.example.com\n'
        '  smtp_port: 587\n'
        '  smtp_user: relay@example.com\n'
        '  smtp_pass: q"u\'o\\t#e;d:p%w$d x\n'
        '  force_tls: false\n'
        '  require_transport_security: true\n'
        '  enable_tls: true\n'
        '  notif_from: \'"Ops \\"100%%\\" \\\\ Team" <alerts@example.com>\'\n')
    assert plan['files'][0]['mode'] == '0600' and plan['files'][0]['secrets'] == ['smtp_pass']
    assert warnings == ['app synapse: Synapse has no error recipients of its own (it mails only its users): error_recipients are not written']


def test_synapse_implicit_tls_and_no_auth():
    texts, _plan, warnings = render('synapse', settings(security='ssl', port=465, username=None, password=None, error_recipients=None))
    written = yaml.safe_load(texts['main'])['email']
    assert written == {'smtp_host': 'smtp.example.com', 'smtp_port': 465, 'force_tls': True, 'require_transport_security': False,
                       'enable_tls': True, 'notif_from': 'alerts@example.com'}
    assert not warnings


@pytest.mark.parametrize('given, words', [
    (dict(ca_file='/ca.pem'), 'no CA file setting.*update-ca-certificates.*SSL_CERT_FILE'),
    (dict(validate_certs=False), 'always verifies'),
    (dict(auth_method='login'), 'chooses the mechanism itself'),
    (dict(auth_method='xoauth2'), 'chooses the mechanism itself'),
])
def test_synapse_refuses_what_it_cannot_express(given, words):
    with pytest.raises(ProfileProblem, match='app synapse cannot express these settings: .*%s' % words):
        render('synapse', settings(**given))


AIRFLOW_OLD = '[core]\nload_examples = False\n\n[smtp]\nsmtp_retry_limit = 1\nsmtp_user = old\n'


def test_airflow_golden_files():
    texts, plan, warnings = render('airflow', settings(password=SPECIAL, from_name='Ops "100%"', error_recipients=None),
                                   old={'main': AIRFLOW_OLD, 'connections': '{"other": {"conn_type": "http"}}'},
                                   paths={'main': '/srv/af/airflow.cfg', 'connections': '/srv/af/connections.json'})
    assert texts['main'] == (
        '[core]\nload_examples = False\n\n'
        '[smtp]\nsmtp_retry_limit = 1\nsmtp_user = old\n'
        'smtp_host = smtp.example.com\nsmtp_port = 587\nsmtp_starttls = True\nsmtp_ssl = False\nsmtp_timeout = 30\n'
        'smtp_mail_from = "Ops \\"100%%\\"" <alerts@example.com>\n\n'
        '[email]\nemail_backend = airflow.utils.email.send_email_smtp\nemail_conn_id = smtp_default\n'
        'from_email = "Ops \\"100%%\\"" <alerts@example.com>\nssl_context = default\n\n'
        '[secrets]\nbackend = airflow.secrets.local_filesystem.LocalFilesystemBackend\n'
        'backend_kwargs = {"connections_file_path": "/srv/af/connections.json"}\n')
    assert json.loads(texts['connections']) == {
        'other': {'conn_type': 'http'},
        'smtp_default': {'conn_type': 'smtp', 'host': 'smtp.example.com', 'port': 587, 'login': 'relay@example.com',
                         'password': SPECIAL}}
    main, connections = plan['files']
    assert main['secrets'] == [] and connections['secrets'] == ['password'] and connections['mode'] == '0600'
    assert not warnings


def test_airflow_implicit_tls_without_verification():
    texts, _plan, warnings = render('airflow', settings(security='ssl', port=465, validate_certs=False, auth_method='login'),
                                    paths={'main': '/a/airflow.cfg', 'connections': '/a/c.json'})
    assert 'smtp_starttls = False\nsmtp_ssl = True\n' in texts['main'] and 'ssl_context = none\n' in texts['main']
    assert [w.split(': ', 1)[1][:20] for w in warnings] == ['[email] ssl_context ', 'Airflow (smtplib\'s l', 'Airflow has no error']


@pytest.mark.parametrize('given, words', [
    (dict(ca_file='/ca.pem'), 'no CA file setting.*update-ca-certificates.*SSL_CERT_FILE'),
    (dict(auth_method='oauthbearer'), 'no xoauth2/oauthbearer'),
    (dict(password=None), 'both a login and a password'),
])
def test_airflow_refuses_what_it_cannot_express(given, words):
    with pytest.raises(ProfileProblem, match='app airflow cannot express these settings: .*%s' % words):
        render('airflow', settings(**given), paths={'main': '/a/airflow.cfg', 'connections': '/a/c.json'})


def test_ini_sections_formats_edit_each_section_and_keep_the_rest():
    one = get_format('ini_sections')
    text = '# top\n[a]\nx = 1\nkeep = yes\n\n[b.c]\ny = 2\n'
    assert one.read_block(text, 'a,b.c,d') == {'a.x': '1', 'a.keep': 'yes', 'b.c.y': '2'}
    assert one.read_block(text, 'd') is None
    new = one.write_block(text, 'a,b.c,d', {'a.x': '9', 'a.keep': 'yes', 'd.z': '3'})
    assert new == '# top\n[a]\nx = 9\nkeep = yes\n\n[b.c]\n\n[d]\nz = 3\n'
    with pytest.raises(FormatError, match='named section.option'):
        one.write_block(text, 'a', {'e.x': '1'})
    colon = get_format('ini_colon_sections')
    text = '[mta]\nsmtp_host: localhost\nsmtp_user:\nsmtp_port = 25\n'
    assert colon.read_block(text, 'mta') == {'mta.smtp_host': 'localhost', 'mta.smtp_user': '', 'mta.smtp_port': '25'}
    block = {'mta.smtp_host': 'h', 'mta.smtp_user': 'u', 'mta.smtp_port': '2', 'mailman.site_owner': 'o@example.com'}
    assert colon.write_block(text, 'mta,mailman', block) == (
        '[mta]\nsmtp_host: h\nsmtp_user: u\nsmtp_port = 2\n\n[mailman]\nsite_owner: o@example.com\n')
    assert colon.secrets_in('[mta]\nsmtp_pass: p:w=x\n', {'smtp_pass'}) == ['p:w=x']


MAILMAN_OLD = '[mailman]\nsite_owner: changeme@example.com\n\n[mta]\nincoming: mailman.mta.null.NullMTA\nsmtp_host: localhost\nsmtp_user:\n'


def test_mailman3_golden_file():
    texts, plan, warnings = render('mailman3', settings(password=SPECIAL, security='ssl', port=465,
                                                        error_recipients=[{'email': 'a@example.com'}, {'email': 'b@example.com'}]),
                                   old={'main': MAILMAN_OLD})
    assert texts['main'] == (
        '[mailman]\nsite_owner: a@example.com\n\n'
        '[mta]\nincoming: mailman.mta.null.NullMTA\nsmtp_host: smtp.example.com\nsmtp_user: relay@example.com\n'
        'smtp_port: 465\nsmtp_pass: q"u\'o\\t#e;d:p%w$d x\nsmtp_secure_mode: smtps\nsmtp_verify_cert: yes\n'
        'smtp_verify_hostname: yes\n')
    assert plan['files'][0]['secrets'] == ['mta.smtp_pass'] and plan['files'][0]['group'] == 'list'
    assert any('only the first error recipient' in warning for warning in warnings)


def test_mailman3_keeps_the_site_owner_without_error_recipients():
    given = settings(username=None, password=None, security='none', port=25, validate_certs=False, error_recipients=None)
    texts, _plan, warnings = render('mailman3', given, old={'main': MAILMAN_OLD})
    assert texts['main'].startswith('[mailman]\nsite_owner: changeme@example.com\n')
    assert 'smtp_user' not in texts['main'] and 'smtp_secure_mode: smtp\n' in texts['main']
    assert 'smtp_verify_cert: no\n' in texts['main'] and not any('will not verify' in warning for warning in warnings)  # no TLS


@pytest.mark.parametrize('given, words', [
    (dict(ca_file='/ca.pem'), 'no CA file setting.*clears their.*update-ca-certificates'),
    (dict(auth_method='xoauth2'), 'no xoauth2/oauthbearer'),
    (dict(password='pässword'), 'ASCII only'),
    (dict(password='pass word '), 'strips spaces'),
])
def test_mailman3_refuses_what_it_cannot_express(given, words):
    with pytest.raises(ProfileProblem, match='app mailman3 cannot express these settings: .*%s' % words):
        render('mailman3', settings(**given))

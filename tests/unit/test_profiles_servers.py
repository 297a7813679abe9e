"""Golden files of the server apps' profiles: synapse, airflow, mailman3, redmine (tests/integration/test_apps_servers.py
proves each with the app itself sending)."""
import pytest
import yaml

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

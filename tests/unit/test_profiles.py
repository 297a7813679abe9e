"""App profiles are data: each one is checked against schemas/app_profile.schema.json, and rendered
here into the files the app reads (golden texts), through the same code the module runs."""
import json

import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._config_file import ConfigFile
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import (
    PROFILE_FILES, ProfileProblem, get_profile, known_apps, load_profile, render_plan,
)

OPTIONS = settings_argument_spec()['settings']['options']
RELAYS = ['postfix', 'nullmailer', 'dma', 'exim4', 'opensmtpd', 'ssmtp', 'msmtp-mta']
NASTY = 'p"a\'s\\s#w;o:r%d$ x'          # every character that breaks naive quoting


class FakeModule(object):
    """What ConfigFile uses from AnsibleModule when it only renders (no file is touched here)."""

    def __init__(self, settings):
        self.params = dict(settings=settings, app='test', update_password='always', state='present', backup=False,
                           unsafe_writes=False, verify='none', verify_when='changed')
        self.no_log_values = set()


def settings(**given):
    base = dict(host='smtp.example.com', port=587, username='relay@example.com', password='S3cret-pass',
                from_email='alerts@example.com', error_recipients=[{'email': 'ops@example.com', 'name': 'Ops'}])
    base.update(given)
    return dict((key, value) for key, value in base.items() if value is not None)


def render(app, given, old=None, **plan_args):
    """{file id: new text} for `app`, each file starting from `old[id]` (default: missing)."""
    plan, warnings = render_plan(app, get_profile(app), given, **plan_args)
    normalized = dict((key, spec.get('default')) for key, spec in OPTIONS.items())
    normalized.update(given)
    texts = {}
    for spec in plan['files']:
        config = ConfigFile(FakeModule(normalized), spec)
        old_text = (old or {}).get(spec['id'], '')
        old_block = config._read_block(old_text)
        new_block = config._desired_block(old_block)
        texts[spec['id']] = config.format.write_block(old_text, config.key, new_block) if new_block else old_text
    return texts, plan, warnings


@pytest.mark.parametrize('app', sorted(PROFILE_FILES))
def test_every_profile_passes_the_schema(app):
    profile = load_profile(PROFILE_FILES[app])
    assert profile['description'] and profile['files']


def test_known_apps_are_the_relays_and_generic():
    assert set(known_apps()) >= set(RELAYS + ['generic', 'msmtp'])
    assert get_profile('nope') is None


def test_broken_profile_is_one_clear_error_with_its_path(tmp_path):
    path = tmp_path / 'bad.yml'
    path.write_text('description: x\nfiles:\n  - id: Main\n    formats: [nope]\n    entries: {a: {from: hostname}}\n')
    with pytest.raises(ProfileProblem) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert str(path) in message and '$.files[0].id' in message and '$.files[0].formats[0]' in message
    assert 'Traceback' not in message
    path.write_text('description: [unclosed\n')
    with pytest.raises(ProfileProblem, match='not valid YAML at line'):
        load_profile(str(path))


def test_generic_keeps_native_types_and_todays_keys():
    plan, _plan = render_plan('generic', get_profile('generic'), settings(), path='/srv/app.json')
    entries = plan['files'][0]['entries']
    assert entries['port'] == 587 and entries['validate_certs'] is True and entries['security'] == 'starttls'
    assert plan['files'][0]['secrets'] == ['password'] and plan['files'][0]['mode'] == '0600'


def test_generic_needs_a_path():
    with pytest.raises(ProfileProblem, match='file main has no default path: set path'):
        render_plan('generic', get_profile('generic'), settings())


def test_msmtp_renders_as_before():
    texts, _plan, _warnings = render('msmtp', settings(security='ssl', auth_method='login'))
    assert texts['main'] == ('\naccount default\nhost smtp.example.com\nport 587\ntls on\ntls_starttls off\n'
                             'tls_certcheck on\nauth login\nuser relay@example.com\npassword S3cret-pass\n'
                             'from alerts@example.com\ntimeout 30\n').lstrip('\n')


POSTFIX_MAIN = '''# Debian's own settings
myhostname = host.example.com
smtpd_banner = $myhostname ESMTP
relayhost =
'''


def test_postfix_golden_files_and_other_keys_survive():
    texts, plan, warnings = render('postfix', settings(password=NASTY, ca_file='/etc/ssl/ca.pem'),
                                   old={'main': POSTFIX_MAIN, 'virtual': 'abuse ops@example.com\n'})
    assert texts['main'] == POSTFIX_MAIN.replace('relayhost =\n', 'relayhost = [smtp.example.com]:587\n') + (
        'smtp_tls_security_level = secure\n'
        'smtp_tls_wrappermode = no\n'
        'smtp_tls_CAfile = /etc/ssl/ca.pem\n'
        'smtp_sasl_auth_enable = yes\n'
        'smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd\n'
        'smtp_sasl_security_options = noanonymous\n'
        'smtp_sasl_tls_security_options = noanonymous\n'
        'smtp_host_lookup = dns, native\n'
        'sender_canonical_maps = static:alerts@example.com\n'
        'virtual_alias_maps = hash:/etc/postfix/virtual\n')
    assert texts['sasl_passwd'] == '[smtp.example.com]:587 relay@example.com:%s\n' % NASTY
    assert texts['virtual'] == 'abuse ops@example.com\nroot ops@example.com\npostmaster ops@example.com\n'
    assert [f['after_change'] for f in plan['files'][1:]] == [
        'postmap -c /etc/postfix hash:/etc/postfix/sasl_passwd', 'postmap -c /etc/postfix hash:/etc/postfix/virtual']
    assert plan['checks'] == ['postfix -c /etc/postfix check'] and not warnings
    assert plan['files'][1]['secrets'] == ['[smtp.example.com]:587']


def test_postfix_implicit_tls_paths_and_no_auth():
    given = settings(security='ssl', port=465, username=None, password=None, validate_certs=False, error_recipients=None)
    paths = {'main': '/tmp/pf/main.cf', 'sasl_passwd': '/tmp/pf/sasl', 'virtual': '/tmp/pf/virtual'}
    texts, plan, _warnings = render('postfix', given, paths=paths)
    assert 'relayhost = [smtp.example.com]:465\nsmtp_tls_security_level = encrypt\nsmtp_tls_wrappermode = yes\n' in texts['main']
    assert 'smtp_sasl_auth_enable = no\n' in texts['main'] and 'sasl_password_maps' not in texts['main']
    assert 'virtual_alias_maps' not in texts['main'] and texts['sasl_passwd'] == '' and texts['virtual'] == ''
    assert plan['checks'] == ['postfix -c /tmp/pf check']


def test_nullmailer_golden_files_and_refusals():
    texts, _plan, warnings = render('nullmailer', settings(password='p"a\'s\\s#w;o:r%d$', ca_file='/ca.pem'))
    assert texts['remotes'] == ('smtp.example.com smtp --port=587 --starttls --x509cafile=/ca.pem '
                                '--user=relay@example.com --pass=p"a\'s\\s#w;o:r%d$\n')
    assert texts['adminaddr'] == 'ops@example.com\n' and texts['allmailfrom'] == 'alerts@example.com\n'
    assert texts['defaultdomain'] == 'example.com\n' and 'envelope sender' in warnings[0]
    implicit, _plan, _warnings = render('nullmailer', settings(security='ssl', port=465, validate_certs=False, auth_method='login'))
    assert implicit['remotes'].startswith('smtp.example.com smtp --port=465 --ssl --insecure --auth-login --user=')
    with pytest.raises(ProfileProblem, match='app nullmailer cannot express.*cannot contain a space'):
        render('nullmailer', settings(password=NASTY))


def test_dma_golden_files_warning_and_ca_refused():
    texts, _plan, warnings = render('dma', settings(password=NASTY), old={'conf': '# dma\nSPOOLDIR /var/spool/dma\n'})
    assert texts['conf'] == ('# dma\nSPOOLDIR /var/spool/dma\nSMARTHOST smtp.example.com\nPORT 587\n'
                             'AUTHPATH /etc/dma/auth.conf\nSECURETRANSFER\nSTARTTLS\nMASQUERADE alerts@example.com\n')
    assert texts['auth'] == 'relay@example.com|smtp.example.com:%s\n' % NASTY
    assert texts['aliases'] == 'root: ops@example.com\n'
    assert 'does not verify' in warnings[0]
    implicit, _plan, _warnings = render('dma', settings(security='ssl'), old={'conf': 'STARTTLS\n'})
    assert 'SECURETRANSFER\n' in implicit['conf'] and 'STARTTLS' not in implicit['conf']
    with pytest.raises(ProfileProblem, match='app dma cannot express.*ca_file'):
        render('dma', settings(ca_file='/ca.pem'))


def test_exim4_golden_files():
    old = {'conf': "dc_eximconfig_configtype='local'\ndc_other_hostnames='h.example.com'\ndc_smarthost=''\n"}
    texts, plan, _warnings = render('exim4', settings(password=NASTY, security='ssl', port=465), old=old)
    assert texts['conf'] == ("dc_eximconfig_configtype='smarthost'\ndc_other_hostnames='h.example.com'\n"
                             "dc_smarthost='smtp.example.com::465'\ndc_hide_mailname='true'\ndc_readhost='example.com'\n")
    assert texts['passwd'] == 'smtp.example.com:relay@example.com:%s\n' % NASTY
    assert texts['macros'] == ('REMOTE_SMTP_SMARTHOST_HOSTS_REQUIRE_TLS = *\nREMOTE_SMTP_SMARTHOST_PROTOCOL = smtps\n'
                               'REMOTE_SMTP_SMARTHOST_TLS_VERIFY_CERTIFICATES = /etc/ssl/certs/ca-certificates.crt\n'
                               'REMOTE_SMTP_SMARTHOST_TLS_VERIFY_HOSTS = *\n')
    assert texts['aliases'] == 'root: ops@example.com\n' and texts['email_addresses'] == 'root: alerts@example.com\n'
    assert plan['checks'] == ['update-exim4.conf'] and plan['files'][1]['group'] == 'Debian-exim'


def test_opensmtpd_golden_files():
    texts, plan, _warnings = render('opensmtpd', settings(password=NASTY, ca_file='/ca.pem'))
    assert texts['conf'] == (
        '# Managed by email_ops.smtp (app opensmtpd): local mail is relayed through smtp.example.com.\n'
        'table aliases file:/etc/aliases\n'
        'table secrets file:/etc/smtpd/secrets\n'
        'ca relayca cert "/ca.pem"\n'
        'listen on localhost\n'
        'action "local" mbox alias <aliases>\n'
        'action "relay" relay host smtp+tls://relay@smtp.example.com:587 auth <secrets> ca relayca mail-from "alerts@example.com"\n'
        'match for local action "local"\n'
        'match from local for any action "relay"\n')
    assert texts['secrets'] == 'relay relay@example.com:%s\n' % NASTY
    assert plan['checks'] == ['smtpd -n -f /etc/smtpd.conf']
    implicit, _plan, _warnings = render('opensmtpd', settings(security='ssl', port=465, validate_certs=False))
    assert 'relay host smtps://relay@smtp.example.com:465 auth <secrets> tls no-verify mail-from' in implicit['conf']


def test_ssmtp_golden_files_warning_and_refusal():
    texts, _plan, warnings = render('ssmtp', settings(password='p"a\'s\\s;o:r%d$'))
    assert texts['main'] == ('root=ops@example.com\nmailhub=smtp.example.com:587\nrewriteDomain=example.com\nUseTLS=YES\n'
                             'UseSTARTTLS=YES\nAuthUser=relay@example.com\nAuthPass=p"a\'s\\s;o:r%d$\nAuthMethod=LOGIN\n'
                             'FromLineOverride=NO\n')
    assert texts['revaliases'] == 'root:alerts@example.com:smtp.example.com:587\n'
    assert 'does not verify' in warnings[0]
    with pytest.raises(ProfileProblem, match=r'app ssmtp cannot express.*space, tab, = or #'):
        render('ssmtp', settings(password=NASTY))


def test_msmtp_mta_adds_the_aliases_file():
    texts, _plan, _warnings = render('msmtp-mta', settings(password=NASTY))
    assert 'aliases /etc/aliases\n' in texts['main'] and 'set_from_header on\n' in texts['main']
    assert 'password "%s"\n' % NASTY in texts['main']
    assert texts['aliases'] == 'root: ops@example.com\ndefault: ops@example.com\n'


# msmtp 1.8.23 speaks OAUTHBEARER and XOAUTH2 (msmtp --version); what it cannot do is send a fetched token with another method.
CANNOT = dict((app, dict(auth_method='oauthbearer')) for app in RELAYS)
CANNOT['msmtp-mta'] = dict(auth_method='plain', oauth2=dict(token_url='https://t.example.com/token', client_id='c', client_secret='s'))


@pytest.mark.parametrize('app', RELAYS)
def test_relays_refuse_what_they_cannot_do_by_name(app):
    with pytest.raises(ProfileProblem, match='app %s cannot express' % app):
        render(app, settings(**CANNOT[app]))


def test_one_file_path_for_a_several_file_app_is_refused():
    with pytest.raises(ProfileProblem, match='app postfix has several files .*paths'):
        render_plan('postfix', get_profile('postfix'), settings(), path='/etc/postfix/main.cf')
    with pytest.raises(ProfileProblem, match='app postfix has no file nope'):
        render_plan('postfix', get_profile('postfix'), settings(), paths={'nope': '/x'})


def test_templates_run_in_a_sandbox(tmp_path):
    path = tmp_path / 'evil.yml'
    path.write_text('description: x\nfiles:\n  - id: main\n    path: /tmp/x\n    formats: [assign]\n    entries:\n'
                    '      a: "{{ host.__class__.__mro__ }}"\n')
    with pytest.raises(ProfileProblem, match='app evil, file main, entry a'):
        render_plan('evil', load_profile(str(path)), settings())


def test_a_template_that_fails_on_a_value_names_the_entry(tmp_path):
    path = tmp_path / 'mine.yml'
    path.write_text('description: x\nfiles:\n  - id: main\n    path: /tmp/x\n    formats: [assign]\n    entries:\n'
                    '      a: "{{ helo_name | length }}"\n')  # helo_name is None when not set
    with pytest.raises(ProfileProblem, match='app mine, file main, entry a: the template failed: TypeError'):
        render_plan('mine', load_profile(str(path)), settings())


@pytest.mark.parametrize('app', sorted(PROFILE_FILES))
def test_plan_travels_as_json(app):
    """The plan goes to the host as JSON: it must survive the trip unchanged."""
    plan, _plan = render_plan(app, get_profile(app), settings(), path='/tmp/x.json' if app in ('generic',) else None)
    assert json.loads(json.dumps(plan)) == plan


def test_profile_schema_is_a_valid_2020_12_schema():
    from jsonschema import Draft202012Validator  # pylint: disable=import-outside-toplevel
    from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import SCHEMA_PATH  # pylint: disable=import-outside-toplevel
    with open(SCHEMA_PATH) as handle:
        Draft202012Validator.check_schema(json.load(handle))


def test_the_plan_carries_the_service_the_role_uses():
    assert render_plan('postfix', get_profile('postfix'), settings())[0]['service'] == {'name': 'postfix', 'action': 'reload'}
    assert render_plan('generic', get_profile('generic'), settings(), path='/x.json')[0]['service'] == {'action': 'none'}

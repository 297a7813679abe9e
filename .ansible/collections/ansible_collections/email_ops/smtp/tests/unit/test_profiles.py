"""App profiles are data: each one is checked here, and the rendering of settings into an app's keys."""
import pytest

from ansible_collections.email_ops.smtp.plugins.module_utils._formats import FORMATS
from ansible_collections.email_ops.smtp.plugins.module_utils._profiles import (
    ProfileError, field_spec, render_block, secret_fields,
)
from ansible_collections.email_ops.smtp.plugins.module_utils._settings import settings_argument_spec
from ansible_collections.email_ops.smtp.plugins.plugin_utils._app_profiles import PROFILES, get_profile, known_apps

OPTIONS = settings_argument_spec()['settings']['options']


def normalized(**given):
    """Settings as the module sees them: every key present, defaults applied."""
    settings = dict((key, spec.get('default')) for key, spec in OPTIONS.items())
    settings.update(host='smtp.example.com', from_email='app@example.com')
    settings.update(given)
    return settings


@pytest.mark.parametrize('app', sorted(PROFILES))
def test_profile_is_well_formed(app):
    profile = PROFILES[app]
    assert profile['description'] and profile['fields']
    assert set(profile['formats']) <= set(FORMATS)
    key = profile['key']
    assert set(key) == set(profile['formats']) if isinstance(key, dict) else isinstance(key, str)
    for name, spec in profile['fields'].items():
        spec = field_spec(spec)
        assert spec['from'] in OPTIONS, '%s.%s takes unknown settings key %s' % (app, name, spec['from'])
        assert set(spec) <= {'from', 'map', 'unless_missing', 'otherwise'}, name
        if 'map' in spec and 'choices' in OPTIONS[spec['from']]:
            assert set(spec['map']) == set(OPTIONS[spec['from']]['choices']), '%s.%s maps every choice' % (app, name)


def test_known_apps():
    assert known_apps() == sorted(PROFILES) and {'generic', 'msmtp'} <= set(known_apps())
    assert get_profile('nope') is None


def test_generic_keeps_native_types_for_json_and_yaml():
    recipients = [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com', 'name': None}]
    block = render_block(PROFILES['generic'], normalized(error_recipients=recipients, password='pw', username='u'), True)
    assert block['port'] == 587 and block['validate_certs'] is True and block['password'] == 'pw'
    assert block['error_recipients'] == [{'email': 'ops@example.com', 'name': 'Ops'}, {'email': 'dev@example.com'}]
    assert 'from_name' not in block  # unset values are not written


def test_generic_renders_text_for_line_formats():
    recipients = [{'email': 'ops@example.com', 'name': 'Ops, Team'}, {'email': 'dev@example.com', 'name': None}]
    block = render_block(PROFILES['generic'], normalized(error_recipients=recipients), False)
    assert block['port'] == '587' and block['validate_certs'] == 'true' and block['allow_insecure_auth'] == 'false'
    assert block['error_recipients'] == '"Ops, Team" <ops@example.com>, dev@example.com'
    assert all(isinstance(value, str) for value in block.values())


@pytest.mark.parametrize('security, tls, starttls', [('starttls', 'on', 'on'), ('ssl', 'on', 'off'), ('none', 'off', 'off')])
def test_msmtp_security_vocabulary(security, tls, starttls):
    block = render_block(PROFILES['msmtp'], normalized(security=security), False)
    assert (block['tls'], block['tls_starttls']) == (tls, starttls)


def test_msmtp_auth_only_with_a_username():
    assert render_block(PROFILES['msmtp'], normalized(), False)['auth'] == 'off'
    with_user = render_block(PROFILES['msmtp'], normalized(username='u', password='p', auth_method='login'), False)
    assert (with_user['auth'], with_user['user'], with_user['password']) == ('login', 'u', 'p')
    assert render_block(PROFILES['msmtp'], normalized(username='u'), False)['auth'] == 'on'


def test_secret_fields_follow_the_settings_secret():
    assert secret_fields(PROFILES['generic']) == ['password']
    assert secret_fields(PROFILES['msmtp']) == ['password']


def test_missing_mapping_is_a_profile_error():
    profile = {'fields': {'tls': {'from': 'security', 'map': {'ssl': 'on'}}}}
    with pytest.raises(ProfileError, match='no value for security=starttls'):
        render_block(profile, normalized(), False)


@pytest.mark.parametrize('app', sorted(PROFILES))
def test_profile_renders_the_same_after_travelling_as_json(app):
    """The action plugin sends the profile to the host as JSON: YAML's `true:` keys become "true"."""
    import json
    settings = normalized(username='u', password='p', validate_certs=False)
    travelled = json.loads(json.dumps(PROFILES[app]))
    for lists in (True, False):
        assert render_block(travelled, settings, lists) == render_block(PROFILES[app], settings, lists)

"""Apps that take OAuth2 get it in their config: smtp_config writes msmtp's account with `passwordeval` running the
token helper it installs (module_utils/_oauth2.py itself) and the client credentials file the helper reads; then
real msmtp sends through the OAuth2 bed (tests/testbed/oauth.py: HTTPS authorization server, Dovecot validating the
token, Postfix), fetching a fresh token on each send. Apps without OAuth2 SMTP refuse xoauth2 by name."""
import grp
import json
import os
import stat
import subprocess
import uuid

import pytest

from tests.testbed.oauth import MAILBOX, oauth_bed  # noqa: F401  pylint: disable=unused-import
from tests.testbed.postfix import Postfix

MSMTP = '/usr/bin/msmtp'
RECIPIENT = 'msmtp-oauth@example.test'


def oauth_settings(bed, method, listener):  # pylint: disable=redefined-outer-name
    port, security = {'starttls': (bed.submission_port, 'starttls'), 'implicit': (bed.postfix.smtps_port, 'ssl')}[listener]
    oauth2 = bed.auth.oauth2(bed.client)
    if method == 'oauthbearer':  # the other grant: a refresh token, as a user's consent gives an app
        oauth2['refresh_token'] = bed.auth.refresh_token_for(bed.client)
    return dict(host=bed.host, port=port, security=security, auth_method=method, username=MAILBOX, oauth2=oauth2,
                ca_file=bed.ca_file, from_email=MAILBOX, timeout=15)


def secrets_of(bed, settings):  # pylint: disable=redefined-outer-name
    values = [settings['oauth2']['client_secret'], settings['oauth2'].get('refresh_token')] + list(bed.auth.tokens)
    return [value for value in values if value]


@pytest.mark.parametrize('method, listener', [('xoauth2', 'starttls'), ('oauthbearer', 'implicit')])
def test_msmtp_fetches_a_fresh_token_through_the_helper_we_installed(oauth_bed, ansible, tmp_path, method, listener):
    bed = oauth_bed
    settings = oauth_settings(bed, method, listener)
    paths = {'main': str(tmp_path / 'msmtprc'), 'oauth2_helper': str(tmp_path / 'oauth2-token'),
             'oauth2_credentials': str(tmp_path / 'msmtprc.oauth2.json')}
    run, result = ansible.smtp_config(settings, '-vvvv', '--diff', app='msmtp', paths=paths)
    assert run.rc == 0 and result['changed'], run
    assert sorted(result['files']) == ['main', 'oauth2_credentials', 'oauth2_helper']
    assert stat.S_IMODE(os.stat(paths['oauth2_credentials']).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths['main']).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(paths['oauth2_helper']).st_mode) == 0o755
    rc_text = open(paths['main']).read()
    assert 'auth %s\n' % method in rc_text and 'passwordeval ' in rc_text and '\npassword ' not in rc_text
    assert json.load(open(paths['oauth2_credentials']))['client_secret'] == settings['oauth2']['client_secret']

    again, second = ansible.smtp_config(settings, app='msmtp', paths=paths)
    assert again.rc == 0 and not second['changed'], again

    before = set(bed.auth.tokens)
    subject = 'msmtp %s via %s %s' % (method, listener, uuid.uuid4().hex)
    message = 'From: %s\nTo: %s\nSubject: %s\n\nmsmtp fetched its own token.\n' % (MAILBOX, RECIPIENT, subject)
    sent = subprocess.run([MSMTP, '-C', paths['main'], '-d', RECIPIENT], input=message, capture_output=True,
                          text=True, check=False, timeout=60)
    assert sent.returncode == 0, sent.stderr[-3000:]
    got = bed.postfix.wait_for(1, recipient=RECIPIENT, timeout=20, subject=subject)
    assert len(got) == 1, bed.diagnostics()
    assert set(bed.auth.tokens) - before, 'the helper fetched no new token for this send'

    secrets = secrets_of(bed, settings)
    leaked = [value for value in secrets if value in run.all_output or value in again.all_output]
    assert not leaked, 'a client secret, refresh token or token shows in the playbook output'
    # msmtp -d prints the SMTP dialogue; the token travels base64-encoded in it, never in clear
    assert not [value for value in secrets if value in sent.stdout + sent.stderr]


def test_apps_without_oauth2_smtp_refuse_xoauth2_by_name(oauth_bed, ansible):
    settings = oauth_settings(oauth_bed, 'xoauth2', 'starttls')
    apps = ['postfix', 'nullmailer', 'dma', 'exim4', 'opensmtpd', 'ssmtp', 'grafana', 'gitea', 'mattermost', 'jenkins']
    tasks = [{'name': app, 'ignore_errors': True, 'email_ops.smtp.smtp_config': {'app': app, 'settings': '{{ settings }}'}}
             for app in apps]
    playbook = [{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}]
    run, results = ansible.playbook_json(ansible.write('refuse.yml', json.dumps(playbook)), extra_vars={'settings': settings})
    assert run.rc == 0, run
    for app in apps:
        result = results[app]['localhost']
        assert result['_status'] == 'failed' and 'app %s cannot express these settings: ' % app in result['msg'], (app, result)
        assert 'Traceback' not in result['msg'] and not result.get('changed'), (app, result)
    assert settings['oauth2']['client_secret'] not in run.all_output


def test_keycloak_token_auth_and_grafana_go_ini_written_by_the_module_four_runs(oauth_bed, ansible, tmp_path):
    """The format-proven apps through the real module: Keycloak's realm JSON gets token authentication from oauth2
    (its client secret masked everywhere), Grafana's grafana.ini the password that breaks naive quoting."""
    bed = oauth_bed
    realm, ini = tmp_path / 'realm.json', tmp_path / 'grafana.ini'
    realm.write_text(json.dumps({'realm': 'ops', 'smtpServer': {'replyTo': 'noreply@example.test', 'debug': 'false'}}))
    ini.write_text('[server]\nhttp_port = 3000\n\n[smtp]\nenabled = true\n')
    keycloak = oauth_settings(bed, 'xoauth2', 'implicit')
    grafana = dict(host='smtp.example.test', port=587, username=MAILBOX, password=Postfix.special_password, from_email=MAILBOX)
    tasks = [{'name': 'keycloak', 'email_ops.smtp.smtp_config': {'app': 'keycloak', 'path': str(realm), 'settings': '{{ keycloak }}'}},
             {'name': 'grafana', 'email_ops.smtp.smtp_config': {'app': 'grafana', 'path': str(ini), 'settings': '{{ grafana }}',
                                                                'group': grp.getgrgid(os.getgid()).gr_name}}]  # not grafana here
    play = {'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}
    playbook = ansible.write('formats.yml', json.dumps([play]))
    secrets = [keycloak['oauth2']['client_secret'], Postfix.special_password]
    changed = []
    for flags in (('--check', '--diff'), ('--diff', '-vvvv'), ('--check',), ()):
        run, results = ansible.playbook_json(playbook, *flags, extra_vars={'keycloak': keycloak, 'grafana': grafana})
        assert run.rc == 0, run
        assert not [value for value in secrets if value in run.all_output], flags
        changed.append([results[app]['localhost']['changed'] for app in ('keycloak', 'grafana')])
    assert changed == [[True, True], [True, True], [False, False], [False, False]]

    smtp = json.loads(realm.read_text())['smtpServer']
    assert smtp['replyTo'] == 'noreply@example.test' and smtp['debug'] == 'false' and smtp['ssl'] == 'true'
    assert (smtp['authType'], smtp['auth'], smtp['user'], smtp['port']) == ('token', 'true', MAILBOX, str(bed.postfix.smtps_port))
    assert smtp['authTokenUrl'] == bed.auth.token_url and smtp['authTokenClientSecret'] == keycloak['oauth2']['client_secret']
    assert stat.S_IMODE(os.stat(str(realm)).st_mode) == 0o600
    text = ini.read_text()
    assert text.startswith('[server]\nhttp_port = 3000\n\n[smtp]\nenabled = true\nhost = smtp.example.test:587\n')
    assert 'password = `%s`\n' % Postfix.special_password in text

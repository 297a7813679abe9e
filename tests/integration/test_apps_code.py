"""Code-as-config apps send through the real Postfix with the marked block smtp_config wrote in their own code file:
Django (`manage.py sendtestemail`, to an address and to ADMINS), MediaWiki (UserMailer, booted by maintenance/eval.php
with the LocalSettings.php its installer made) and Roundcube (its own rcube_smtp, reading config.inc.php). Each over
STARTTLS and implicit TLS; the implicit run logs in as the SASL user whose password breaks naive quoting."""
import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

from tests.testbed.appvenv import app_venv

MODES = {'starttls': 'submission', 'implicit': 'smtps'}
BLOCK = re.compile(r'^(#|//) BEGIN email_ops\.smtp managed block\n.*?^(#|//) END email_ops\.smtp managed block\n',
                   re.M | re.S)
MEDIAWIKI = '/usr/share/mediawiki'
ROUNDCUBE = '/usr/share/roundcube'


def settings_for(mailbox, mode, app):
    special = mode == 'implicit'
    return mailbox.settings(MODES[mode], username=mailbox.special_username if special else mailbox.username,
                            password=mailbox.special_password if special else mailbox.password,
                            from_name='Code App', error_recipients=[
                                {'email': '%s-errors-%s@%s' % (app, mode, mailbox.domain), 'name': 'Ops Team'}])


def literal_forms(password):
    """The password as the python, php and ruby blocks write it (inside the quotes)."""
    return [repr(password)[1:-1], password.replace('\\', '\\\\').replace("'", "\\'"), json.dumps(password)[1:-1]]


def smtp_config(ansible, app, path, settings, *flags, **env):
    run, result = ansible.smtp_config(settings, *flags, env=env, app=app, path=str(path))
    if settings.get('password'):
        for form in [settings['password']] + literal_forms(settings['password']):
            assert form not in run.all_output
    return run, result


def outside_block(text):
    return BLOCK.sub('', text)


def run_app(command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, **kwargs)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done


# -- Django ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def django_project(tmp_path_factory):
    venv = app_venv('django')
    root = tmp_path_factory.mktemp('django')
    run_app([os.path.join(venv, 'bin', 'django-admin'), 'startproject', 'site1', str(root)])
    settings_py = root / 'site1' / 'settings.py'
    return venv, root, settings_py, settings_py.read_text()


@pytest.mark.parametrize('mode', sorted(MODES))
def test_django_sends_testemail_and_to_admins_with_the_block_we_wrote(ansible, mailbox, django_project, mode):
    venv, root, settings_py, original = django_project
    settings = settings_for(mailbox, mode, 'django')
    username = settings['username']

    # Django takes the CA only from the system trust store: a ca_file is refused, saying how to do it instead.
    run, result = smtp_config(ansible, 'django', settings_py, settings)
    assert run.rc != 0 and 'django' in result['msg'] and 'update-ca-certificates' in result['msg'], run
    assert 'SSL_CERT_FILE' in result['msg'] and outside_block(settings_py.read_text()) == original
    del settings['ca_file']

    env = {'SSL_CERT_FILE': mailbox.ca_file}  # the app's environment carries the CA, as the refusal says
    if mode == 'starttls':  # check mode first: it would change, and writes nothing
        before = settings_py.read_text()
        run, result = smtp_config(ansible, 'django', settings_py, settings, '--check', **env)
        assert run.rc == 0 and result['changed'] is True and settings_py.read_text() == before, run
    # the special password's run is the verbose one with a diff: masked everywhere
    flags = ['--diff', '-vvvv'] if mode == 'implicit' else []
    run, result = smtp_config(ansible, 'django', settings_py, settings, *flags, **env)
    assert run.rc == 0 and result['changed'] is True, run
    text = settings_py.read_text()
    assert outside_block(text) == original and text.startswith(original)  # ours last, the project's own kept
    assert settings_py.stat().st_mode & 0o777 == 0o640
    if mode == 'starttls':
        run, again = smtp_config(ansible, 'django', settings_py, settings, **env)
        assert run.rc == 0 and again['changed'] is False, run

    to = 'django-%s-%s@%s' % (mode, uuid.uuid4().hex[:8], mailbox.domain)
    app_env = dict(os.environ, SSL_CERT_FILE=mailbox.ca_file, PYTHONDONTWRITEBYTECODE='1')
    manage = [os.path.join(venv, 'bin', 'python'), 'manage.py', 'sendtestemail']
    run_app(manage + [to], cwd=str(root), env=app_env)
    run_app(manage + ['--admins'], cwd=str(root), env=app_env)

    test_mail = mailbox.wait_for(1, recipient=to)
    admins = mailbox.wait_for(1, recipient=settings['error_recipients'][0]['email'])
    assert len(test_mail) == 1 and len(admins) == 1, mailbox.diagnostics()
    for message in test_mail + admins:
        assert message.received_over_tls_as(username), message.get_all('Received')
        assert message.sender == settings['from_email']
    assert str(test_mail[0]['From']) == 'Code App <%s>' % settings['from_email']  # DEFAULT_FROM_EMAIL
    assert str(admins[0]['From']) == settings['from_email']  # SERVER_EMAIL
    assert str(admins[0]['Subject']).startswith('[Django] ')
    assert "ADMINS = [('Ops Team', %r)]" % settings['error_recipients'][0]['email'] in text


# -- MediaWiki ------------------------------------------------------------------------------------------------

MW_SEND = r'''
$to = new MailAddress( getenv( 'MW_TO' ) ?: $wgEmergencyContact );
$status = UserMailer::send( $to, new MailAddress( $wgPasswordSender, 'Code Wiki' ), getenv( 'MW_SUBJECT' ), 'sent by MediaWiki' );
echo $status->isOK() ? "MAIL-OK\n" : "MAIL-FAILED " . $status->getWikiText( false, false, 'en' ) . "\n";
'''


@pytest.fixture(scope='module')
def mediawiki(tmp_path_factory):
    root = tmp_path_factory.mktemp('mediawiki')
    (root / 'data').mkdir()
    run_app(['php', os.path.join(MEDIAWIKI, 'maintenance', 'install.php'), '--dbtype=sqlite', '--dbpath=%s' % (root / 'data'),
             '--dbname=codewiki', '--server=http://localhost', '--scriptpath=/mediawiki',
             '--pass=%s' % uuid.uuid4().hex, '--confpath=%s' % root, 'CodeWiki', 'Admin'])
    local_settings = root / 'LocalSettings.php'
    return root, local_settings, local_settings.read_text()


def mediawiki_send(root, subject, to=''):
    env = dict(os.environ, MW_SUBJECT=subject, MW_TO=to)
    done = run_app(['php', os.path.join(MEDIAWIKI, 'maintenance', 'eval.php'), '--conf', str(root / 'LocalSettings.php')],
                   input=MW_SEND, env=env)
    return done.stdout


@pytest.mark.parametrize('mode', sorted(MODES))
def test_mediawiki_mails_with_the_block_we_wrote(ansible, mailbox, mediawiki, mode):
    root, local_settings, original = mediawiki
    settings = settings_for(mailbox, mode, 'mediawiki')
    run, result = smtp_config(ansible, 'mediawiki', local_settings, settings, *(['--diff'] if mode == 'implicit' else []))
    assert run.rc == 0 and result['changed'] is True, run
    if mode == 'starttls':  # Net_SMTP does not refuse a server without STARTTLS: the result says so
        assert any('downgrade' in warning for warning in result.get('warnings', [])), result
    text = local_settings.read_text()
    assert outside_block(text) == original and text.startswith(original)
    assert local_settings.stat().st_mode & 0o777 == 0o640
    run_app(['php', '-l', str(local_settings)])

    to = 'mediawiki-%s-%s@%s' % (mode, uuid.uuid4().hex[:8], mailbox.domain)
    subject = 'MediaWiki %s %s' % (mode, uuid.uuid4().hex)
    assert 'MAIL-OK' in mediawiki_send(root, subject, to)
    assert 'MAIL-OK' in mediawiki_send(root, subject)  # to $wgEmergencyContact: the first error recipient
    for recipient in (to, settings['error_recipients'][0]['email']):
        got = mailbox.wait_for(1, recipient=recipient, subject=subject)
        assert len(got) == 1, mailbox.diagnostics()
        assert got[0].received_over_tls_as(settings['username']), got[0].get_all('Received')
        assert got[0].sender == settings['from_email']  # $wgPasswordSender


def test_mediawiki_refuses_what_net_smtp_cannot_do(ansible, mailbox, mediawiki):
    root, local_settings, original = mediawiki
    before = local_settings.read_text()
    settings = dict(settings_for(mailbox, 'starttls', 'mediawiki'), auth_method='none')
    del settings['username'], settings['password']
    run, result = smtp_config(ansible, 'mediawiki', local_settings, settings)
    assert run.rc != 0 and 'app mediawiki' in result['msg'] and 'only before AUTH' in result['msg'], run
    assert local_settings.read_text() == before


# -- Roundcube ------------------------------------------------------------------------------------------------

RC_SEND = r'''<?php
define('INSTALL_PATH', '%s/');
require_once INSTALL_PATH . 'program/include/clisetup.php';
$smtp = new rcube_smtp();
if (!$smtp->connect()) {
    echo "CONNECT-FAILED " . json_encode($smtp->get_error()) . "\n";
    exit(1);
}
$from = getenv('RC_FROM');
$to = getenv('RC_TO');
$headers = "From: $from\r\nTo: $to\r\nSubject: " . getenv('RC_SUBJECT') . "\r\nMessage-ID: <" . uniqid() . "@example.test>\r\n";
$ok = $smtp->send_mail($from, [$to], $headers, "sent by Roundcube\r\n");
$smtp->disconnect();
echo $ok ? "MAIL-OK\n" : "MAIL-FAILED " . json_encode($smtp->get_error()) . "\n";
''' % ROUNDCUBE


@pytest.fixture(scope='module')
def roundcube(tmp_path_factory):
    root = tmp_path_factory.mktemp('roundcube')
    config_dir = root / 'config'
    shutil.copytree('/etc/roundcube', str(config_dir))
    logs = root / 'logs'
    logs.mkdir()
    (root / 'send.php').write_text(RC_SEND)
    config = config_dir / 'config.inc.php'
    # logs in our folder, not /var/log/roundcube (a line of the app's own part, before our block is written)
    config.write_text(config.read_text() + "$config['log_dir'] = '%s/';\n" % logs)
    return root, config, config.read_text()


@pytest.mark.parametrize('mode', sorted(MODES))
def test_roundcube_sends_with_the_block_we_wrote(ansible, mailbox, roundcube, mode):
    root, config, original = roundcube
    settings = settings_for(mailbox, mode, 'roundcube')
    run, result = smtp_config(ansible, 'roundcube', config, settings, *(['--diff'] if mode == 'implicit' else []))
    assert run.rc == 0 and result['changed'] is True, run
    assert any('identity' in warning for warning in result.get('warnings', [])), result
    text = config.read_text()
    assert outside_block(text) == original and text.startswith(original)
    assert config.stat().st_mode & 0o777 == 0o640
    run_app(['php', '-l', str(config)])

    to = 'roundcube-%s-%s@%s' % (mode, uuid.uuid4().hex[:8], mailbox.domain)
    subject = 'Roundcube %s %s' % (mode, uuid.uuid4().hex)
    env = dict(os.environ, ROUNDCUBE_CONFIG_DIR=str(config.parent), RC_FROM=settings['from_email'], RC_TO=to,
               RC_SUBJECT=subject)
    done = run_app(['php', str(root / 'send.php')], env=env)
    assert 'MAIL-OK' in done.stdout, done.stdout
    got = mailbox.wait_for(1, recipient=to)
    assert len(got) == 1 and str(got[0]['Subject']) == subject, mailbox.diagnostics()
    assert got[0].received_over_tls_as(settings['username']), got[0].get_all('Received')

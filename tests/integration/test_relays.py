"""Each of the seven system mail relays sends through the files `email_ops.smtp.smtp_config` wrote.

For every relay (its own cached Debian root, tests/testbed/debroot.py): a real ansible-playbook run writes
the relay's files with `smtp_config` (app: <relay>), the module running INSIDE the root (the root's
python3, entered through its mount namespace and chroot), so the profile's validate and after-change
commands (postmap, postfix check, update-exim4.conf, smtpd -n) run where the relay lives. Then the test
runs the relay's validate command itself, sends mail the way a system does (cron's `sendmail` call;
`mail root`), and reads the Postfix test bed's Maildir: the Received header shows TLS and the SASL user,
the envelope sender (and, where the relay can rewrite it, the From header) is settings.from_email, and
mail to `root` arrives at the error recipient.

Two runs per relay: STARTTLS with the plain test password (plus: a second smtp_config run changes nothing),
and implicit TLS with the password full of quoting hazards (test bed user `quoting@example.test`). A relay
whose files cannot carry that password (nullmailer, ssmtp) must refuse it with a clear error naming the app:
the test asserts that error, then proves implicit TLS with the plain password.

What only the system administrator's own base configuration provides (Postfix's main.cf/master.cf of a
null client, /etc/mailname, nullmailer's trigger FIFO, exim4's other dc_ keys) is written by `prepare()`
below; everything the settings document says comes from smtp_config.
"""
import json
import re
import time
import uuid

import pytest

from tests.integration.test_relay_bed import CRON_TO, ERRORS_TO, SMARTHOST, cron_mail, wait_for
from tests.testbed import debroot
from tests.testbed.ansible import role_playbook
from tests.testbed.debroot import debroots, relay_root  # noqa: F401  pylint: disable=unused-import

# The validate command each relay offers for its own configuration (run again by the test, inside the root).
VALIDATE = {
    'postfix': ['postfix', 'check'],
    'nullmailer': None,  # nullmailer has no config check; `nullmailer-send` reads remotes when it sends
    'dma': None,  # dma has no config check; it parses dma.conf on each message
    'exim4': ['exim4', '-bV'],
    'opensmtpd': ['smtpd', '-n'],
    'ssmtp': None,  # ssmtp has no config check
    'msmtp-mta': ['msmtp', '--pretend', '--read-recipients'],
}
# Relays that cannot carry the special password, and the words of their refusal.
REFUSES_SPECIAL = {
    'nullmailer': 'cannot contain a space',
    'ssmtp': 'cannot contain them',
}
# Where a relay cannot put from_email in the From header, what it does instead (the profile warns):
# - 'envelope': only the envelope sender is rewritten; every From header stays as the sender wrote it (or absent);
# - 'added': the From header the relay adds (`mail` writes none) is from_email, one the sender wrote stays (cron's).
FROM_HEADER = {'nullmailer': 'envelope', 'opensmtpd': 'envelope', 'dma': 'added', 'ssmtp': 'added'}


def prepare(root, relay):
    """The host's own base configuration, which is not ours to write (a null client's main.cf, no smtpd)."""
    if relay == 'postfix':
        root.write('/etc/postfix/main.cf', 'compatibility_level = 3.6\nmyhostname = postfix.relaybed.test\n'
                   'mydestination =\ninet_interfaces = loopback-only\ninet_protocols = ipv4\n'
                   'local_transport = error:local delivery is disabled\nalias_maps =\nalias_database =\n'
                   'maillog_file = /var/log/postfix.log\nsmtp_tls_loglevel = 1\n')
        root.write('/etc/postfix/master.cf', debroot.POSTFIX_MASTER_CF)
    elif relay == 'nullmailer':
        root.write('/etc/mailname', 'nullmailer.relaybed.test\n')
        # Debian's package leaves the trigger FIFO out of a fresh root (field guide pitfall 7).
        root.run('test -p /var/spool/nullmailer/trigger || mkfifo -m 0600 /var/spool/nullmailer/trigger; '
                 'chown mail:root /var/spool/nullmailer/trigger')
    elif relay == 'exim4':
        root.write('/etc/mailname', 'exim4.relaybed.test\n')
        root.write('/etc/exim4/update-exim4.conf.conf', "dc_other_hostnames='exim4.relaybed.test'\n"
                   "dc_local_interfaces='127.0.0.2'\ndc_relay_domains=''\ndc_minimaldns='false'\ndc_relay_nets=''\n"
                   "CFILEMODE='644'\ndc_use_split_config='false'\ndc_mailname_in_oh='true'\n"
                   "dc_localdelivery='mail_spool'\n")
    elif relay == 'dma':
        root.write('/etc/mailname', 'dma.relaybed.test\n')
    elif relay == 'opensmtpd':
        root.run(['mkdir', '-p', '/etc/smtpd'])  # the secrets table's default folder; Debian's package has none


def start(root, relay):
    """Start the relay's daemon where it has one (after the files are written, as the role's handler does)."""
    if relay == 'postfix':
        root.run(['postfix', 'start'])
        root.wait_until(lambda: root.exists('/var/spool/postfix/pid/master.pid'), what='postfix master')
    elif relay == 'nullmailer':
        root.start(['nullmailer-send'], 'nullmailer-send', user='mail:mail',
                   ready=lambda: root.opened_by('nullmailer-send', '/var/spool/nullmailer/trigger'))
    elif relay == 'opensmtpd':
        root.start(['smtpd', '-d'], 'smtpd', ready=lambda: root.exists('/run/smtpd.sock'))


def settings_for(mailbox, relay, implicit, special, ca):
    settings = {
        'host': SMARTHOST, 'port': mailbox.smtps_port if implicit else mailbox.submission_port,
        'security': 'ssl' if implicit else 'starttls', 'auth_method': 'auto',
        'username': mailbox.special_username if special else mailbox.username,
        'password': mailbox.special_password if special else mailbox.password,
        'from_email': mailbox.username, 'error_recipients': [{'email': ERRORS_TO, 'name': 'Ops'}],
    }
    if relay != 'dma':  # dma cannot verify against a CA: its profile refuses ca_file (asserted below)
        settings['ca_file'] = ca
    return settings


def smtp_config(ansible, root, relay, settings, *flags):
    """One real ansible-playbook run of smtp_config for `relay`, the module running inside the root."""
    inventory = ansible.write('inventory.ini', 'relay ansible_connection=local ansible_python_interpreter=%s\n'
                              % root.python())
    playbook = '''
- hosts: relay
  gather_facts: false
  tasks:
    - name: config
      email_ops.smtp.smtp_config:
        app: %s
        settings: "{{ settings }}"
''' % relay
    run, results = ansible.playbook_json(playbook, *flags, inventory=inventory, extra_vars={'settings': settings},
                                         env={'ANSIBLE_PIPELINING': '1'})
    # The password in no output, neither as written nor as JSON escapes it.
    assert settings['password'] not in run.all_output
    assert json.dumps(settings['password'])[1:-1] not in run.all_output
    return run, results.get('config', {}).get('relay', {})


def assert_tls_and_auth(mailbox, message, listener, username):
    received = str(message.get_all('Received')[0])
    assert 'with ESMTPSA id' in received and 'using TLSv1.' in received, received
    assert '(Authenticated sender: %s)' % username in received, received
    queue_id = re.search(r'\bwith ESMTPSA id (\w+)', received).group(1)
    assert re.search(r'postfix/%s/smtpd\[\d+\]: %s: client=\S+, sasl_method=\w+, sasl_username=%s' % (
        listener, queue_id, re.escape(username)), mailbox.log_tail(2000)), queue_id


@pytest.mark.parametrize('mode', ['starttls', 'implicit-special-password'])
@pytest.mark.parametrize('relay', sorted(debroot.RELAYS))
def test_relay_sends_through_the_files_smtp_config_wrote(ansible, relay_root, mailbox, pki, relay, mode):
    began = time.monotonic()
    root = relay_root(relay)
    ca = root.install_ca(pki.ca_file)
    implicit = mode != 'starttls'
    prepare(root, relay)
    if relay == 'dma' and not implicit:
        run, result = smtp_config(ansible, root, relay, dict(settings_for(mailbox, relay, implicit, False, ca),
                                                             ca_file=ca))
        assert run.rc != 0 and 'dma cannot verify the server against a CA file' in result['msg'], run
    special = implicit
    if implicit and relay in REFUSES_SPECIAL:
        run, result = smtp_config(ansible, root, relay, settings_for(mailbox, relay, True, True, ca))
        assert run.rc != 0 and relay in result['msg'] and REFUSES_SPECIAL[relay] in result['msg'], run
        special = False
    settings = settings_for(mailbox, relay, implicit, special, ca)
    username = settings['username']

    run, result = smtp_config(ansible, root, relay, settings)
    assert run.rc == 0 and result['changed'] is True, run
    if relay in FROM_HEADER:
        assert result.get('warnings'), result  # what the relay cannot verify or rewrite, said in the result
    if not implicit:  # once per relay: a second run changes no file
        run, again = smtp_config(ansible, root, relay, settings)
        assert run.rc == 0 and again['changed'] is False, run
    if VALIDATE[relay]:
        root.run(VALIDATE[relay], input='To: %s\n\n' % CRON_TO if relay == 'msmtp-mta' else None)
    start(root, relay)
    configured = time.monotonic()

    token = uuid.uuid4().hex[:12]
    root.run(['/usr/sbin/sendmail', '-i', '-FCronDaemon', '-B8BITMIME', '-oem', CRON_TO], input=cron_mail(token))
    root.run(['mail', '-s', 'to root %s' % token, 'root'], input='mail for root\n')
    cron = wait_for(mailbox, root, CRON_TO, token)
    errors = wait_for(mailbox, root, ERRORS_TO, token)
    print('%s %s: configured in %.1fs, both delivered %.1fs later; From: %r, %r' % (
        relay, mode, configured - began, time.monotonic() - configured, str(cron[0]['From']), str(errors[0]['From'])))

    assert len(cron) == 1 and len(errors) == 1, (cron, errors)
    listener = 'smtps' if implicit else 'submission'
    for message in cron + errors:
        assert_tls_and_auth(mailbox, message, listener, username)
        assert message.sender == settings['from_email'], (relay, message.sender, str(message['From']))
    assert cron[0].get_content().strip() == 'nightly job output'
    assert str(errors[0]['Subject']) == 'to root %s' % token
    cron_from, root_from = str(cron[0]['From']), str(errors[0]['From'])
    if FROM_HEADER.get(relay) == 'envelope':
        assert settings['from_email'] not in cron_from + root_from, (cron_from, root_from)
    elif FROM_HEADER.get(relay) == 'added':
        assert settings['from_email'] not in cron_from and settings['from_email'] in root_from, (cron_from, root_from)
    else:
        assert settings['from_email'] in cron_from and settings['from_email'] in root_from, (cron_from, root_from)


# -- once through the role: an app with several files, each with its profile's mode, rolled back as one ------

ROLE_PLAYBOOK = '''
- hosts: relay
  gather_facts: false
  roles:
    - role: email_ops.smtp.configure
      vars:
        smtp_settings: "{{ settings }}"
        smtp_app: postfix
        smtp_verify: probe
        smtp_config_backup: false
'''


def role(ansible, root, settings, **role_vars):
    inventory = ansible.write('inventory.ini', 'relay ansible_connection=local ansible_python_interpreter=%s\n'
                              % root.python())
    run, results = ansible.playbook_json(ROLE_PLAYBOOK, inventory=inventory, extra_vars=dict(role_vars, settings=settings),
                                         env={'ANSIBLE_PIPELINING': '1'})
    assert settings['password'] not in run.all_output
    return run, results


def test_role_rolls_out_postfix_files_and_rolls_all_of_them_back(ansible, relay_root, mailbox, pki):
    root = relay_root('postfix')
    ca = root.install_ca(pki.ca_file)
    prepare(root, 'postfix')
    base_main = root.read('/etc/postfix/main.cf')
    start(root, 'postfix')  # the host's Postfix runs, without a relayhost: the role must make it reload
    settings = settings_for(mailbox, 'postfix', False, False, ca)

    # The app does not take the change (a failing command): every file goes back as it was, created ones vanish.
    run, results = role(ansible, root, settings, smtp_service_action='command', smtp_service_command='/bin/false')
    assert run.rc != 0, run
    failed = [result for task in results.values() for result in task.values() if result.get('failed')]
    assert failed, run
    message = failed[-1]['msg']
    assert ('/etc/postfix/sasl_passwd, created by this run, was removed' in message
            and '/etc/postfix/main.cf holds the previous settings again' in message), message
    assert root.read('/etc/postfix/main.cf') == base_main
    assert root.run(['stat', '-c', '%a', '/etc/postfix/main.cf']).stdout.strip() == '644', 'restored with its mode'
    assert not root.exists('/etc/postfix/sasl_passwd') and not root.exists('/etc/postfix/virtual')
    assert not root.run('ls /etc/postfix | grep "~$"', check=False).stdout, 'the rollback copies are removed'

    # The profile's own service step (postfix reload), each file with the mode its profile names.
    run, results = role(ansible, root, settings)
    assert run.rc == 0, run
    (written,) = [task['relay'] for name, task in results.items() if name.endswith('then write them')]
    assert written['changed'] and sorted(written['files']) == ['main', 'sasl_passwd', 'virtual'], written
    assert written['verification']['mode'] == 'probe'
    (reloaded,) = [task['relay'] for name, task in results.items() if name.endswith("Restart or reload the app's service")]
    assert reloaded['_status'] == 'ok' and reloaded['changed'], reloaded  # no_log: the name is censored
    modes = root.run(['stat', '-c', '%n %a', '/etc/postfix/main.cf', '/etc/postfix/sasl_passwd']).stdout.split('\n')
    assert modes[:2] == ['/etc/postfix/main.cf 644', '/etc/postfix/sasl_passwd 600'], modes
    root.run(['postfix', 'check'])

    token = uuid.uuid4().hex[:12]
    root.run(['/usr/sbin/sendmail', '-i', '-FCronDaemon', '-B8BITMIME', '-oem', CRON_TO], input=cron_mail(token))
    root.run(['mail', '-s', 'to root %s' % token, 'root'], input='mail for root\n')
    for message in wait_for(mailbox, root, CRON_TO, token) + wait_for(mailbox, root, ERRORS_TO, token):
        assert_tls_and_auth(mailbox, message, 'submission', settings['username'])
        assert message.sender == settings['from_email'] and settings['from_email'] in str(message['From'])

    run, results = role(ansible, root, settings)
    assert run.rc == 0 and run.stats['relay']['changed'] == 0, run

    # Another account, which the app does not take: sasl_passwd goes back, and postmap runs again, so the
    # .db Postfix reads holds the previous account too (not the one just refused).
    relay = '[%s]:%s' % (settings['host'], settings['port'])
    other = dict(settings, username=mailbox.special_username, password=mailbox.special_password)
    run, results = role(ansible, root, other, smtp_service_action='command', smtp_service_command='/bin/false')
    assert run.rc != 0 and other['password'] not in run.all_output, run
    (rerun,) = [task['relay'] for name, task in results.items() if name.endswith('after-change command again, so the '
                                                                                 'files derived from it match')]
    assert rerun['_status'] == 'ok' and [item['item']['path'] for item in rerun['results']] == ['/etc/postfix/sasl_passwd']
    looked_up = root.run(['postmap', '-q', relay, 'hash:/etc/postfix/sasl_passwd']).stdout.strip()
    assert looked_up.split(':', 1)[0] == settings['username'], 'sasl_passwd.db still holds the refused account'


def test_role_takes_a_users_own_profile_and_its_service_step(ansible, tmp_path, mailbox):
    """smtp_profile: a profile beside the playbook (profiles/<file>) decides the files, their mode and how the
    app takes the change (here a command), with no smtp_config_mode set by the role."""
    marker = tmp_path / 'reloaded'
    ansible.write('profiles/billing.yml', '''\
        description: Billing app, JSON config
        service: {action: command, command: "touch %s"}
        files:
          - id: main
            formats: [json]
            key: mail
            own: block
            mode: '0640'
            entries:
              server: "{{ host }}:{{ port }}"
              user: username
              password: password
        ''' % marker)
    config = tmp_path / 'billing.json'
    config.write_text('{"db": {"host": "db.internal"}}\n')
    playbook = role_playbook(smtp_settings='{{ settings }}', smtp_profile='billing.yml', smtp_config_path=str(config),
                             smtp_verify='none')
    settings = mailbox.settings('submission')
    run, results = ansible.playbook_json(playbook, extra_vars={'settings': settings})
    assert run.rc == 0, run
    assert mailbox.password not in run.all_output
    written = json.loads(config.read_text())
    assert written == {'db': {'host': 'db.internal'}, 'mail': {'server': '%s:%d' % (settings['host'], settings['port']),
                                                               'user': mailbox.username, 'password': mailbox.password}}
    assert oct(config.stat().st_mode & 0o777) == '0o640'
    assert marker.exists(), 'the service command of the user profile ran'
    (result,) = [task['localhost'] for name, task in results.items() if name.endswith('then write them')]
    assert result['app'] == 'billing' and list(result['files']) == ['main'], result

"""Real applications read the files smtp_config writes and send through the real Postfix with them."""
import json
import subprocess
import uuid

import pytest


MSMTP = '/usr/bin/msmtp'


def configure(ansible, path, settings, *flags, **task_args):
    return ansible.smtp_config(settings, *flags, path=str(path), **task_args)


@pytest.mark.parametrize('listener', ['submission', 'smtps'])
def test_msmtp_sends_through_postfix_with_the_file_we_wrote(ansible, mailbox, tmp_path, listener):
    path = tmp_path / 'msmtprc'
    run, result = configure(ansible, path, mailbox.settings(listener), app='msmtp', verify='send')
    assert run.rc == 0 and result['changed'] and result['verification']['sent'], run
    assert mailbox.password not in run.all_output

    subject = 'sent by msmtp %s' % uuid.uuid4().hex
    recipient = 'msmtp-reader@' + mailbox.domain
    message = 'From: %s\nTo: %s\nSubject: %s\n\nmsmtp read %s.\n' % (mailbox.username, recipient, subject, path)
    sent = subprocess.run([MSMTP, '-C', str(path), recipient], input=message, capture_output=True, text=True,
                          check=False, timeout=60)
    assert sent.returncode == 0, sent.stderr
    got = [m for m in mailbox.wait_for(1, recipient=recipient) if m['Subject'] == subject]
    assert len(got) == 1, mailbox.diagnostics()
    assert got[0].sender == mailbox.username
    # the verify send went to test_email first, proving the settings before the file was written
    assert mailbox.messages(recipient=mailbox.settings()['test_email'])


@pytest.mark.parametrize('listener', ['submission', 'smtps', 'plain'])
def test_verify_send_delivers_through_each_postfix_listener(ansible, mailbox, tmp_path, listener):
    path = tmp_path / 'app.json'
    run, result = configure(ansible, path, mailbox.settings(listener), verify='send')
    assert run.rc == 0 and result['changed'], run
    verification = result['verification']
    assert verification['mode'] == 'send' and verification['sent'] and verification['stage_reached'] == 'send'
    got = mailbox.wait_for(1, recipient=mailbox.settings()['test_email'])
    assert got[0]['Message-ID'] == verification['message_id']
    assert json.loads(path.read_text())['smtp']['port'] == mailbox.settings(listener)['port']


def test_failed_verification_leaves_the_old_file(ansible, mailbox, tmp_path):
    path = tmp_path / 'app.ini'
    path.write_text('[smtp]\nhost = old.example.com\n')
    bad = mailbox.settings('submission', password='wrong-' + uuid.uuid4().hex)
    run, result = configure(ansible, path, bad, verify='probe')
    assert run.rc != 0 and result['failure']['category'] == 'auth' and result['failure']['stage'] == 'auth', run
    assert 'left as it was' in result['msg']
    assert path.read_text() == '[smtp]\nhost = old.example.com\n'
    assert bad['password'] not in run.all_output and mailbox.messages() == []


def test_check_mode_send_becomes_probe_and_delivers_nothing(ansible, mailbox, tmp_path):
    path = tmp_path / 'app.env'
    run, result = configure(ansible, path, mailbox.settings('submission'), '--check', verify='send')
    assert run.rc == 0 and result['changed'], run
    assert result['verification']['mode'] == 'probe' and result['verification']['stage_reached'] == 'rcpt'
    assert result['verification']['sent'] is False
    assert not path.exists() and mailbox.messages() == []

"""OAuth2 from the managed host, for real: smtp_test and smtp_config fetch a token from the HTTPS authorization
server of the OAuth bed (tests/testbed/oauth.py) right before AUTH, and Postfix (with Dovecot validating the token by
introspection) takes it; every way it fails is classified; no secret or token shows anywhere, -vvvv included."""
import json

from tests.testbed.oauth import MAILBOX, OTHER_MAILBOX, oauth_bed  # noqa: F401  pylint: disable=unused-import
from tests.testbed.net import free_port

RECIPIENT = 'inbox@example.test'


def settings(bed, method='xoauth2', username=MAILBOX, **oauth2):  # pylint: disable=redefined-outer-name
    return dict(host=bed.host, port=bed.submission_port, security='starttls', auth_method=method, username=username,
                oauth2=bed.auth.oauth2(oauth2.pop('client', bed.client), **oauth2), ca_file=bed.ca_file,
                from_email=username, test_email=RECIPIENT, timeout=15)


def run_cases(ansible, cases, *flags):
    """One playbook, one smtp_test task per case (ignore_errors); returns (run, {case: result})."""
    tasks = []
    for name in cases:
        tasks.append({'name': name, 'email_ops.smtp.smtp_test': {'settings': '{{ cases[%s] }}' % json.dumps(name)},
                      'ignore_errors': True})
    playbook = [{'hosts': 'localhost', 'gather_facts': False, 'connection': 'local', 'tasks': tasks}]
    run, results = ansible.playbook_json(ansible.write('oauth.yml', json.dumps(playbook)), *flags,
                                         extra_vars={'cases': cases})
    return run, dict((name, results[name]['localhost']) for name in cases)


def secrets_of(bed):  # pylint: disable=redefined-outer-name
    values = [client.secret for client in bed.auth.clients.values()]
    return values + list(bed.auth.refresh_tokens) + list(bed.auth.tokens)


def test_tokens_fetched_on_the_host_send_and_every_refusal_is_classified(oauth_bed, ansible):
    bed = oauth_bed
    bed.postfix.clear()
    expired = bed.auth.add_client('short-lived', MAILBOX, expires_in=-60)
    cases = {
        'client credentials, XOAUTH2': settings(bed),
        'refresh token, OAUTHBEARER': settings(bed, 'oauthbearer', refresh_token=bed.auth.refresh_token_for(bed.client)),
        'bad client secret': settings(bed, client_secret='not-the-secret-0000'),
        'scope the client may not have': settings(bed, scope='smtp.send admin'),
        'token endpoint down': settings(bed, token_url='https://127.0.0.1:%d/token' % free_port()),
        'token without the SMTP scope': settings(bed, client=bed.profile_client),
        'token of another mailbox': settings(bed, username=OTHER_MAILBOX),
        'expired token': settings(bed, client=expired),
    }
    run, results = run_cases(ansible, cases, '-vvvv')
    assert run.rc == 0, run

    for name in ('client credentials, XOAUTH2', 'refresh token, OAUTHBEARER'):
        result = results[name]
        assert result['_status'] == 'ok' and result['sent'] is True, result
        assert result['oauth2']['token_endpoint'] == '127.0.0.1' and result['oauth2']['expires_in'] == 3600
        assert result['auth_mechanism'] == name.split(', ')[1].lower()
    assert results['refresh token, OAUTHBEARER']['oauth2']['grant'] == 'refresh_token'
    assert len(bed.postfix.wait_for(2, recipient=RECIPIENT)) == 2

    expected = {  # case -> (category, reason or None, words of the message)
        'bad client secret': ('oauth', 'client', 'invalid_client'),
        'scope the client may not have': ('oauth', 'scope', 'invalid_scope'),
        'token endpoint down': ('oauth', 'unreachable', 'token endpoint'),
        'token without the SMTP scope': ('auth', None, 'refused the OAuth2 token'),
        'token of another mailbox': ('auth', None, 'refused the OAuth2 token'),
        'expired token': ('auth', None, 'refused the OAuth2 token'),
    }
    for name, (category, reason, words) in expected.items():
        result = results[name]
        assert result['_status'] == 'failed', (name, result)
        assert result['failure']['category'] == category and result['failure']['stage'] == 'auth', (name, result)
        assert result['failure'].get('reason') == reason, (name, result)
        assert words in result['msg'], (name, result['msg'])
        assert result['failure']['hint'], (name, result)

    leaked = [value for value in secrets_of(bed) if value in run.all_output]
    assert not leaked, 'a client secret, refresh token or access token shows in the output'

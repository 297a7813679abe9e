"""smtp_verify_deliveries: a rollout to ten hosts delivers one test message, and every other host still proves its
own settings with a probe to RCPT TO, so a host that cannot send is caught in whatever batch it is."""
import json
import sys
import time

import yaml

ROLLOUT = 'email_ops.smtp.rollout'
HOSTS = ['h%02d' % n for n in range(1, 11)]  # serial [1, 25%, 100%]: [h01], [h02, h03], [h04 ... h10]
CONFIG_TASK = 'email_ops.smtp.configure : Prove the new email settings from this host, then write them'
QUIET = 1.5  # seconds to wait before concluding that Postfix delivered nothing more


def rollout(ansible, postfix, tmp_path, host_vars=None, **group_vars):
    hosts = {}
    for name in HOSTS:
        hosts[name] = dict(ansible_connection='local', ansible_python_interpreter=sys.executable,
                           smtp_config_path=str(tmp_path / ('%s.json' % name)))
        hosts[name].update((host_vars or {}).get(name, {}))
    settings = postfix.settings('submission', test_email='ops@' + postfix.domain)
    inventory = {'all': {'hosts': hosts, 'vars': dict(smtp_settings=settings, **group_vars)}}
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump(inventory))
    run, results = ansible.playbook_json(ROLLOUT, inventory=str(path))
    assert postfix.password not in run.all_output
    return run, results


def test_ten_hosts_deliver_one_message_and_probe_the_rest(postfix, ansible, tmp_path):
    postfix.clear()
    run, results = rollout(ansible, postfix, tmp_path)
    assert run.rc == 0, run
    modes = dict((name, results[CONFIG_TASK][name]['verification']['mode']) for name in HOSTS)
    assert modes == dict((name, 'send' if name == 'h01' else 'probe') for name in HOSTS)
    for name in HOSTS:
        assert results[CONFIG_TASK][name]['verification']['stage_reached'] == ('send' if name == 'h01' else 'rcpt')
    postfix.wait_for(1)
    time.sleep(QUIET)
    assert len(postfix.messages()) == 1, postfix.messages()


def test_a_broken_host_in_a_later_batch_is_caught_by_its_probe(postfix, ansible, tmp_path):
    postfix.clear()
    # h07 is in the last batch, and its test address is one the server refuses: its probe must fail there,
    # although it delivers nothing and its document (test_email aside) is the canary's.
    broken = {'h07': {'smtp_settings': postfix.settings('submission', test_email='ops@elsewhere.invalid')}}
    run, results = rollout(ansible, postfix, tmp_path, host_vars=broken)
    assert run.rc == 2, run
    failed = results[CONFIG_TASK]['h07']
    assert failed['_status'] == 'failed' and failed['failure']['category'] == 'recipient', failed
    assert not (tmp_path / 'h07.json').exists()
    for name in HOSTS:
        if name != 'h07':
            assert json.loads((tmp_path / ('%s.json' % name)).read_text())['smtp']['host'] == postfix.host
    postfix.wait_for(1)
    time.sleep(QUIET)
    assert len(postfix.messages()) == 1, postfix.messages()


def test_every_host_keeps_one_message_per_host(postfix, ansible, tmp_path):
    postfix.clear()
    run, results = rollout(ansible, postfix, tmp_path, smtp_verify_deliveries='every_host')
    assert run.rc == 0, run
    assert all(results[CONFIG_TASK][name]['verification']['mode'] == 'send' for name in HOSTS)
    postfix.wait_for(len(HOSTS))
    time.sleep(QUIET)
    assert len(postfix.messages()) == len(HOSTS)


def test_a_bad_role_variable_on_a_later_host_stops_its_batch_before_anything_is_written(postfix, ansible, tmp_path):
    # The rollout checks the role's variables of every host of a batch in one task (rolespec_validate is off for
    # the role's own per-host check): h02 and h03 form the second batch, and only h03's variables are wrong.
    postfix.clear()
    wrong = {'h03': {'smtp_verify_deliveries': 'sometimes', 'smtp_config_backup': 'maybe'}}
    run, results = rollout(ansible, postfix, tmp_path, host_vars=wrong)
    assert run.rc == 2, run
    check = results["Check the role's variables on every host of this batch"]
    failed = check.get('h02') or check['h03']
    assert failed['_status'] == 'failed', failed
    errors = failed['argument_errors']
    assert any('smtp_verify_deliveries' in e and 'sometimes' in e and 'h03' in e for e in errors), errors
    assert any('smtp_config_backup' in e and 'maybe' in e and 'h03' in e for e in errors), errors
    assert not any('h02' in e for e in errors), errors
    # The canary batch was written; the failed batch and the one after it were not touched.
    assert (tmp_path / 'h01.json').exists()
    assert not any((tmp_path / ('%s.json' % name)).exists() for name in HOSTS[1:])
    assert CONFIG_TASK not in results or set(results[CONFIG_TASK]) == {'h01'}
    # The check's arguments never carry the settings document's secrets (rollout() greps the whole output).
    assert 'h03' in run.all_output and 'sometimes' in run.all_output


def test_settings_given_as_role_parameters_or_include_role_vars_deliver_once(postfix, ansible, tmp_path):
    # Such settings are not in hostvars, where the role compares the hosts' documents: each host takes the
    # document of the same role call, so the play still delivers one message and every other host probes.
    hosts = dict((name, dict(ansible_connection='local', ansible_python_interpreter=sys.executable,
                             smtp_config_path=str(tmp_path / ('%s.json' % name)))) for name in HOSTS[:3])
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': hosts}}))
    settings = postfix.settings('submission', test_email='ops@' + postfix.domain)
    role_calls = {
        'roles': {'roles': [{'role': 'email_ops.smtp.configure', 'smtp_settings': '{{ settings_from_vault }}'}]},
        'include_role': {'tasks': [{'ansible.builtin.include_role': {'name': 'email_ops.smtp.configure'},
                                    'vars': {'smtp_settings': '{{ settings_from_vault }}'}}]},
    }
    for style, role_call in role_calls.items():
        postfix.clear()
        for name in HOSTS[:3]:  # written afresh, so that each style proves every host
            (tmp_path / ('%s.json' % name)).unlink(missing_ok=True)
        play = dict(hosts='all', gather_facts=False, vars={'settings_from_vault': settings}, **role_call)
        playbook = tmp_path / ('%s.yml' % style)
        playbook.write_text(yaml.safe_dump([play]))
        run, results = ansible.playbook_json(str(playbook), inventory=str(inventory))
        assert run.rc == 0, (style, run)
        assert postfix.password not in run.all_output
        modes = dict((name, results[CONFIG_TASK][name]['verification']['mode']) for name in HOSTS[:3])
        assert modes == {'h01': 'send', 'h02': 'probe', 'h03': 'probe'}, style
        postfix.wait_for(1)
        time.sleep(QUIET)
        assert len(postfix.messages()) == 1, (style, postfix.messages())

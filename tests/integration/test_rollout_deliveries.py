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


def own_play(ansible, postfix, tmp_path, name, play, hosts=4):
    """The role in a user's own play over h01..h04, their files written afresh: (run, modes, messages)."""
    postfix.clear()
    inventory = dict((host, dict(ansible_connection='local', ansible_python_interpreter=sys.executable,
                                 smtp_config_path=str(tmp_path / ('%s.json' % host)))) for host in HOSTS[:hosts])
    for host in inventory:
        (tmp_path / ('%s.json' % host)).unlink(missing_ok=True)
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': inventory}}))
    settings = postfix.settings('submission', test_email='ops@' + postfix.domain)
    play = dict(dict(hosts='all', gather_facts=False, vars={'settings_from_vault': settings}), **play)
    (tmp_path / ('%s.yml' % name)).write_text(yaml.safe_dump([play]))
    run, results = ansible.playbook_json(str(tmp_path / ('%s.yml' % name)), inventory=str(tmp_path / 'inventory.yml'))
    assert postfix.password not in run.all_output
    modes = dict((host, result.get('verification', {}).get('mode'))
                 for host, result in results.get(CONFIG_TASK, {}).items() if result['_status'] != 'skipped')
    time.sleep(QUIET)
    return run, modes, postfix.messages()


def test_settings_given_as_role_parameters_or_include_role_vars_deliver_once(postfix, ansible, tmp_path):
    # Such settings are not in hostvars: the hosts still agree on who delivers, on the controller.
    role_calls = {
        'roles': {'roles': [{'role': 'email_ops.smtp.configure', 'smtp_settings': '{{ settings_from_vault }}'}]},
        'include_role': {'tasks': [{'ansible.builtin.include_role': {'name': 'email_ops.smtp.configure'},
                                    'vars': {'smtp_settings': '{{ settings_from_vault }}'}}]},
    }
    for style, role_call in role_calls.items():
        run, modes, messages = own_play(ansible, postfix, tmp_path, style, role_call)
        assert run.rc == 0, (style, run)
        assert sorted(modes.values()) == ['probe', 'probe', 'probe', 'send'], (style, modes)
        assert len(messages) == 1, (style, messages)


def test_one_host_delivers_when_the_first_host_skips_the_role_or_failed_before_it(postfix, ansible, tmp_path):
    # The play's first host is not the one to deliver when it does not run the role: a `when` on the role call,
    # or an earlier task that failed on it. Someone else delivers, once.
    skipped = {'roles': [{'role': 'email_ops.smtp.configure', 'smtp_settings': '{{ settings_from_vault }}',
                          'when': "inventory_hostname != 'h01'"}]}
    failed_before = {'pre_tasks': [{'name': 'Fail on the first host', 'ansible.builtin.fail': {'msg': 'down'},
                                    'when': "inventory_hostname == 'h01'"}],
                     'roles': [{'role': 'email_ops.smtp.configure', 'smtp_settings': '{{ settings_from_vault }}'}]}
    for name, play in (('skipped', skipped), ('failed_before', failed_before)):
        run, modes, messages = own_play(ansible, postfix, tmp_path, name, play)
        assert run.rc == (2 if name == 'failed_before' else 0), (name, run)
        assert 'h01' not in modes and sorted(modes.values()) == ['probe', 'probe', 'send'], (name, modes)
        assert len(messages) == 1, (name, messages)
        assert not (tmp_path / 'h01.json').exists()


def test_a_document_without_test_email_fails_on_every_host_before_any_writes(postfix, ansible, tmp_path):
    # verify send needs a recipient: every host says so, not only the one whose turn it is to deliver.
    play = {'roles': [{'role': 'email_ops.smtp.configure',
                       'smtp_settings': "{{ settings_from_vault | dict2items | rejectattr('key', 'eq', 'test_email') "
                                        '| items2dict }}'}]}
    run, modes, messages = own_play(ansible, postfix, tmp_path, 'no_test_email', play, hosts=3)
    assert run.rc == 2, run
    assert run.stats and all(run.stats[host]['failures'] == 1 for host in HOSTS[:3]), run.stats
    assert 'settings.test_email' in run.all_output and messages == []
    assert not any((tmp_path / ('%s.json' % host)).exists() for host in HOSTS[:3])

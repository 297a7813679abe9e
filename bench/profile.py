"""Where a rollout's seconds go: the rollout taken apart, step by step, next to ping, on one fleet.

    .venv/bin/python bench/profile.py [--hosts 10] [--repeat 3]

Variants, each adding one thing to the one before:
  ping       ansible.builtin.ping
  write      one email_ops.smtp.smtp_config task, verify: none (controller validation, module, write)
  send       the same task with verify: send, verify_when: always (+ the SMTP conversation)
  role       the rollout playbook in one batch (+ the check of the role's variables, the role's tasks)
  rollout    email_ops.smtp.rollout with its default batches (+ canary and batches)
For one run of each, a timeline callback records when tasks start and results arrive, and the hosts' Python is a
wrapper that logs how long each module process ran; smtp_config's own per-phase SMTP timings come from its result.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from run import BIN, PASSWORD, REPO, TARGET_PYTHON, USERNAME, Capture, Fleet, Pki, _mkdir, env

CALLBACKS = os.path.join(REPO, 'bench', 'callback_plugins')
MODULE_TASK = '''
- hosts: all
  gather_facts: false
  tasks:
    - name: smtp_config
      email_ops.smtp.smtp_config:
        settings: "{{ smtp_settings }}"
        path: "{{ smtp_config_path }}"
        verify: %s
        verify_when: always
'''
VARIANTS = ('ping', 'write', 'send', 'role', 'rollout')


def command(fleet, variant):
    if variant in ('ping', 'rollout'):
        return fleet.command(variant)
    playbook = fleet.path(variant + '.yml')
    with open(playbook, 'w') as handle:
        handle.write(MODULE_TASK % ('none' if variant == 'write' else 'send'))
    if variant == 'role':
        return fleet.command('rollout') + ['-e', '{"smtp_rollout_batches": ["100%"]}']
    return [os.path.join(BIN, 'ansible-playbook'), playbook, '-i', fleet.path('inventory.ini'),
            '-e', '@' + fleet.path('vars.json')]


def wrapper(root):
    """A host 'python' that logs start, end and script of every module process it runs."""
    log = os.path.join(root, 'modules.log')
    path = os.path.join(root, 'timed-python')
    with open(path, 'w') as handle:
        handle.write('#!/bin/sh\ns=$(date +%%s.%%N)\n%s "$@"\nrc=$?\necho "$s $(date +%%s.%%N) $*" >> %s\nexit $rc\n'
                     % (TARGET_PYTHON, log))
    os.chmod(path, 0o755)
    return path, log


def run(fleet, variant, forks, extra_env=None, extra_args=()):
    fleet.reset()
    began = time.time()
    proc = subprocess.run(command(fleet, variant) + list(extra_args), cwd=fleet.dir,
                          env=dict(env(forks), **(extra_env or {})), capture_output=True, text=True, check=False)
    ended = time.time()
    if proc.returncode != 0:
        raise SystemExit('profile: %s failed\n%s' % (variant, proc.stdout[-3000:]))
    return began, ended


def traced(fleet, variant, forks, root):
    """One run with the timeline and the module-timing interpreter; returns its breakdown."""
    timeline = os.path.join(root, variant + '.timeline')
    python, modules_log = wrapper(root)
    if os.path.exists(modules_log):
        os.unlink(modules_log)
    began, ended = run(fleet, variant, forks, dict(TIMELINE_FILE=timeline, ANSIBLE_CALLBACK_PLUGINS=CALLBACKS,
                                                   ANSIBLE_CALLBACKS_ENABLED='timeline'),
                       ['-e', 'ansible_python_interpreter=' + python])
    with open(timeline) as handle:
        events = [json.loads(line) for line in handle]
    tasks, task_start, plays = {}, None, 0
    for event in events:
        if event['kind'] == 'play':
            plays += 1
        elif event['kind'] == 'task':
            task_start = event
        elif event['kind'] == 'result':
            entry = tasks.setdefault(event['task'], dict(seconds=0.0, results=0, spans={}))
            entry['results'] += 1
            span = entry['spans'].setdefault(id(task_start), [task_start['t'], task_start['t']])
            span[1] = max(span[1], event['t'])
    for entry in tasks.values():
        entry['seconds'] = sum(end - start for start, end in entry.pop('spans').values())
    modules = {}
    with open(modules_log) as handle:
        for line in handle:
            start, end, args = line.split(' ', 2)
            name = os.path.basename(args.split()[0]).replace('AnsiballZ_', '').replace('.py', '')
            modules.setdefault(name, []).append(float(end) - float(start))
    smtp = [e['smtp_ms']['total'] for e in events if e.get('smtp_ms')]
    first_play = next(e['t'] for e in events if e['kind'] == 'play')
    return dict(wall=ended - began, startup=first_play - began, plays=plays, tasks=tasks, modules=modules,
                smtp_ms=statistics.mean(smtp) if smtp else None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--forks', type=int, default=5)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix='email_ops_profile_')
    pki = Pki(_mkdir(root, 'pki'))
    server = Capture(pki, username=USERNAME, password=PASSWORD, implicit_tls=False, plain=False).start()
    try:
        fleet = Fleet(root, args.hosts, server, pki.ca_file)
        for variant in VARIANTS:
            run(fleet, variant, args.forks)  # warm-up
        walls = dict((v, []) for v in VARIANTS)
        for _repeat in range(args.repeat):
            for variant in VARIANTS:
                began, ended = run(fleet, variant, args.forks)
                walls[variant].append(ended - began)
        n = args.hosts
        ping = statistics.median(walls['ping'])
        print('%d hosts, %d forks; wall = median of %d runs; per-host figures are means\n' % (
            n, args.forks, args.repeat))
        for variant in VARIANTS:
            wall = statistics.median(walls[variant])
            trace = traced(fleet, variant, args.forks, root)
            print('%-8s wall %5.2fs (%.2fx ping)  controller start-up %.2fs  plays %d%s' % (
                variant, wall, wall / ping, trace['startup'], trace['plays'],
                '  SMTP conversation %.0f ms/host' % trace['smtp_ms'] if trace['smtp_ms'] else ''))
            for name, seconds in sorted((m, statistics.mean(s)) for m, s in trace['modules'].items()):
                print('           module process %-14s %4.0f ms/host (x%d)' % (
                    name, seconds * 1000, len(trace['modules'][name])))
            for name, entry in trace['tasks'].items():
                print('           task %-60s %5.2fs  %3d results' % (name[-60:], entry['seconds'], entry['results']))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())

"""Benchmark: what the rollout costs per fleet, next to Ansible's floor and a user's naive playbook.

For each fleet size, side by side in one run, R times each (interleaved, so drift hits all alike):
  ping     ansible.builtin.ping over the hosts: Ansible's floor, one module round trip per host
  naive    ansible.builtin.copy of a JSON config + community.general.mail test message per host,
           from the `ansible` PyPI package in its own virtualenv (bench/.venv-naive)
  rollout  ansible-playbook email_ops.smtp.rollout, smtp_verify: send (delivered once, the other hosts probe), smtp_verify_when: always
Every host is local (ansible_connection: local) with its own config file; 5 forks; no facts.
Config files are removed before each run, so naive and rollout really write and send every time.
Prints the medians, and each column's ratio to ping as the median of the runs' own ratios; writes them with the
machine into docs/benchmarks.md.

    .venv/bin/python bench/run.py [--hosts 10 50] [--repeat 5] [--forks 5] [--no-write]
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  (links this checkout as email_ops.smtp)
from tests.testbed.capture import Capture  # noqa: E402
from tests.testbed.pki import Pki  # noqa: E402

BIN = os.path.dirname(sys.executable)
NAIVE_VENV = os.path.join(REPO, 'bench', '.venv-naive')
NAIVE_BIN = os.path.join(NAIVE_VENV, 'bin')
TARGET_PYTHON = '/usr/bin/python3'  # the managed hosts' Python, the same for every column
USERNAME, PASSWORD = 'bench@example.test', 'bench-Passw0rd'
TARGET = 1.3  # rollout / ping, with one delivery per rollout (issue "Modern providers at fleet scale")

PING = '''
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
'''

# What a user writes without this collection: write the file, then send a test message.
NAIVE = '''
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the app's email settings
      ansible.builtin.copy:
        dest: "{{ smtp_config_path }}"
        content: "{{ {'smtp': smtp_settings} | to_nice_json }}"
        mode: "0600"
    - name: Send a test message
      community.general.mail:
        host: "{{ smtp_settings.host }}"
        port: "{{ smtp_settings.port }}"
        secure: starttls
        username: "{{ smtp_settings.username }}"
        password: "{{ smtp_settings.password }}"
        from: "{{ smtp_settings.from_email }}"
        to: "{{ smtp_settings.test_email }}"
        subject: "Test from {{ inventory_hostname }}"
        body: Sent by the naive playbook.
'''


def ensure_naive_venv():
    """bench/.venv-naive with the `ansible` package, pinned to this checkout's ansible-core version."""
    core = _ansible_core_version(BIN)
    if os.path.exists(os.path.join(NAIVE_BIN, 'ansible-playbook')) and _ansible_core_version(NAIVE_BIN) == core:
        return
    print('bench: creating %s (pip install ansible ansible-core==%s)' % (NAIVE_VENV, core), flush=True)
    subprocess.run([sys.executable, '-m', 'venv', '--clear', NAIVE_VENV], check=True)
    subprocess.run([os.path.join(NAIVE_BIN, 'pip'), 'install', '-q', 'ansible', 'ansible-core==%s' % core], check=True)


def _ansible_core_version(bin_dir):
    out = subprocess.run([os.path.join(bin_dir, 'python'), '-c', 'import ansible.release as r; print(r.__version__)'],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _pip_version(bin_dir, package):
    out = subprocess.run([os.path.join(bin_dir, 'python'), '-m', 'pip', 'show', package], capture_output=True,
                         text=True, check=False)
    return next((line.split()[1] for line in out.stdout.splitlines() if line.startswith('Version:')), '?')


class Fleet:
    """N local hosts, each with its own config file, and the vars every column uses."""

    def __init__(self, root, size, server, ca_file):
        self.dir = os.path.join(root, 'n%d' % size)
        self.size = size
        self.hosts = ['host%03d' % i for i in range(1, size + 1)]
        os.makedirs(self.dir)
        with open(self.path('inventory.ini'), 'w') as handle:
            handle.write('[fleet]\n')
            for host in self.hosts:
                os.makedirs(self.path(host))
                handle.write('%s smtp_config_path=%s\n' % (host, self.path(host, 'config.json')))
            handle.write('[fleet:vars]\nansible_connection=local\nansible_python_interpreter=%s\n' % TARGET_PYTHON)
        settings = dict(host=server.host, port=server.starttls_port, security='starttls', username=USERNAME,
                        password=PASSWORD, from_email=USERNAME, test_email='inbox@example.test', ca_file=ca_file)
        with open(self.path('vars.json'), 'w') as handle:
            json.dump(dict(smtp_settings=settings, smtp_app='generic', smtp_verify='send',
                           smtp_verify_when='always'), handle)
        for name, text in (('ping.yml', PING), ('naive.yml', NAIVE)):
            with open(self.path(name), 'w') as handle:
                handle.write(text)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def reset(self):
        for host in self.hosts:
            for name in os.listdir(self.path(host)):
                os.unlink(self.path(host, name))

    def command(self, column):
        common = ['-i', self.path('inventory.ini')]
        if column == 'ping':
            return [os.path.join(BIN, 'ansible-playbook'), self.path('ping.yml')] + common
        if column == 'naive':
            return [os.path.join(NAIVE_BIN, 'ansible-playbook'), self.path('naive.yml'), '-e',
                    '@' + self.path('vars.json')] + common
        return [os.path.join(BIN, 'ansible-playbook'), 'email_ops.smtp.rollout', '-e',
                '@' + self.path('vars.json')] + common


def env(forks):
    result = dict(os.environ)
    result.update(ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_FORKS=str(forks), ANSIBLE_NOCOLOR='1',
                  ANSIBLE_HOST_KEY_CHECKING='false', ANSIBLE_RETRY_FILES_ENABLED='false',
                  ANSIBLE_LOCALHOST_WARNING='false')
    result.pop('ANSIBLE_CONFIG', None)
    return result


def timed(fleet, column, server, forks):
    """(seconds, CPU seconds) of one ansible-playbook run, start to exit; the CPU time is user + system of the whole
    process tree (controller, workers, module processes). Fails loudly when the run did not do its job."""
    fleet.reset()
    server.clear()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    proc = subprocess.run(fleet.command(column), cwd=fleet.dir, env=env(forks), capture_output=True, text=True,
                          check=False)
    seconds = time.monotonic() - began
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit('bench: %s over %d hosts failed (rc=%d)\n%s\n%s' % (
            column, fleet.size, proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    if column != 'ping':
        sent = len(server.messages)
        written = sum(os.path.exists(fleet.path(host, 'config.json')) for host in fleet.hosts)
        # The role delivers once per settings document (smtp_verify_deliveries: once) and probes the other hosts;
        # the naive playbook sends from every host.
        if sent != (1 if column == 'rollout' else fleet.size) or written != fleet.size:
            raise SystemExit('bench: %s over %d hosts sent %d messages and wrote %d files' % (
                column, fleet.size, sent, written))
    return seconds, cpu


def machine():
    with open('/proc/cpuinfo') as handle:
        cpu = next((line.split(':', 1)[1].strip() for line in handle if line.startswith('model name')), '?')
    with open('/proc/meminfo') as handle:
        mem_kb = int(next(line.split()[1] for line in handle if line.startswith('MemTotal')))
    return [
        ('CPU', '%s, %d cores' % (cpu, os.cpu_count())),
        ('Memory', '%.1f GiB' % (mem_kb / 1024.0 / 1024.0)),
        ('OS', platform.platform()),
        ('Controller Python', platform.python_version()),
        ('Host Python', subprocess.run([TARGET_PYTHON, '-V'], capture_output=True, text=True, check=False).stdout.strip()),
        ('ansible-core (ping, rollout)', _ansible_core_version(BIN)),
        ('ansible (naive)', '%s with ansible-core %s' % (_pip_version(NAIVE_BIN, 'ansible'),
                                                         _ansible_core_version(NAIVE_BIN))),
    ]


COLUMNS = ('ping', 'naive', 'rollout')


def summarize(size, runs):
    """Per column: the median seconds and CPU seconds, and the ratio to ping as the median of each run's own ratio.
    The columns of one run follow each other within seconds, so drift in the machine's speed cancels out of a
    run's ratio; a ratio of two columns' medians may pair a fast minute with a slow one."""
    def median(values):
        return statistics.median(list(values))
    return dict(
        size=size,
        wall=dict((c, median(wall for wall, _cpu in v)) for c, v in runs.items()),
        cpu=dict((c, median(cpu for _wall, cpu in v)) for c, v in runs.items()),
        ratio=dict((c, median(r[0] / p[0] for r, p in zip(v, runs['ping']))) for c, v in runs.items()),
        cpu_ratio=dict((c, median(r[1] / p[1] for r, p in zip(v, runs['ping']))) for c, v in runs.items()),
    )


def verdict(rows):
    worst = max(row['ratio']['rollout'] for row in rows)
    faster = all(row['ratio']['rollout'] < row['ratio']['naive'] for row in rows)
    return 'Target: rollout <= %.1fx ping, and faster than naive: %s (worst rollout / ping %.2fx; %s than naive).' % (
        TARGET, 'met' if worst <= TARGET and faster else 'MISSED', worst, 'faster' if faster else 'not always faster')


def table(rows):
    lines = ['| hosts | ping (s) | naive copy + mail (s) | rollout (s) | naive / ping | rollout / ping | '
             'CPU: ping, rollout (s) | CPU rollout / ping |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|']
    for row in rows:
        wall, cpu, ratio = row['wall'], row['cpu'], row['ratio']
        lines.append('| %d | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.1f, %.1f | %.2fx |' % (
            row['size'], wall['ping'], wall['naive'], wall['rollout'], ratio['naive'], ratio['rollout'],
            cpu['ping'], cpu['rollout'], row['cpu_ratio']['rollout']))
    return '\n'.join(lines)


def breakdown(root, server, ca_file, hosts=10):
    """Per-host costs of the rollout taken apart (bench/profile.py's variants), one fork so that each host's
    figures carry no contention: a markdown table."""
    # bench/profile.py, loaded by path (its name is also the standard library's) and here (it imports this file)
    spec = importlib.util.spec_from_file_location('bench_profile', os.path.join(REPO, 'bench', 'profile.py'))
    steps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(steps)
    fleet = Fleet(os.path.join(root, 'breakdown'), hosts, server, ca_file)
    lines = ['| variant | wall (s) | / ping | module process (ms/host) | tasks per host (s/host) |',
             '|---|---:|---:|---:|---|']
    ping = None
    for variant in steps.VARIANTS:
        steps.run(fleet, variant, 1)  # warm-up
        wall = statistics.median(ended - began for began, ended in (steps.run(fleet, variant, 1) for _repeat in range(3)))
        trace = steps.traced(fleet, variant, 1, fleet.dir)
        ping = ping or wall
        modules = ', '.join('%s %.0f' % (name, 1000 * statistics.mean(s)) for name, s in sorted(trace['modules'].items()))
        tasks = '; '.join('%s %.3f' % (_short(name), entry['seconds'] / hosts)
                          for name, entry in trace['tasks'].items() if entry['seconds'] >= 0.01)
        lines.append('| %s | %.2f | %.2fx | %s | %s |' % (variant, wall, wall / ping, modules, tasks))
    return '\n'.join(lines)


def _short(task):
    name = task.split(' : ')[-1]
    if name.startswith('Validating arguments'):  # ansible-core's per-host check of a role's variables
        return 'argument validation'
    return 'argument check (per batch)' if name.startswith("Check the role's variables") else name[:48]


def write_doc(path, text_table, target, args, started, load, per_host=None):
    with open(path, 'w') as handle:
        handle.write('# Benchmarks\n\n')
        handle.write('Written by `bench/run.py` (`make bench`); see `bench/README.md` for what each column runs.\n')
        when = started.strftime('%Y-%m-%d %H:%M UTC')
        handle.write('Median of %d runs each, %d forks, local hosts, no facts; measured %s. A ratio is the median of '
                     'the runs\' own ratios (the columns of a run follow each other, so drift cancels).\n\n'
                     % (args.repeat, args.forks, when))
        handle.write(text_table + '\n\n' + target + '\n\n')
        if per_host:
            handle.write('## Where a host\'s time goes\n\n`bench/profile.py` on 10 hosts with one fork (no contention): the '
                         'wall is the median of 3 runs, the per-host figures come from one traced run; every variant '
                         'adds one thing to the one before (see bench/README.md).\n\n')
            handle.write(per_host + '\n\n')
        handle.write('## Machine\n\n')
        for name, value in machine() + [('Load average (1 min) at start, at end', load)]:
            handle.write('- %s: %s\n' % (name, value))
        handle.write('\nThe load average shows whether other work shared the machine: the medians and ratios are '
                     'only as quiet as it was.\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, nargs='+', default=[10, 50], help='fleet sizes (default: 10 50)')
    parser.add_argument('--repeat', type=int, default=5, help='runs per column and size; the median counts')
    parser.add_argument('--forks', type=int, default=5)
    parser.add_argument('--no-write', action='store_true', help='print only; leave docs/benchmarks.md alone')
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = os.getloadavg()[0]
    ensure_naive_venv()

    root = tempfile.mkdtemp(prefix='email_ops_bench_')
    server = None
    try:
        pki = Pki(_mkdir(root, 'pki'))
        # The test bed's capture server (aiosmtpd, in this process): STARTTLS required, then AUTH.
        server = Capture(pki, username=USERNAME, password=PASSWORD, implicit_tls=False, plain=False).start()
        rows = []
        for size in args.hosts:
            fleet = Fleet(root, size, server, pki.ca_file)
            for column in COLUMNS:  # warm-up: bytecode caches, page cache; not counted
                timed(fleet, column, server, args.forks)
            runs = dict((column, []) for column in COLUMNS)
            for i in range(args.repeat):
                for column in COLUMNS:
                    runs[column].append(timed(fleet, column, server, args.forks))
                print('bench: %d hosts, run %d/%d: %s' % (size, i + 1, args.repeat, '  '.join(
                    '%s %.2fs (CPU %.1fs)' % ((c,) + runs[c][-1]) for c in COLUMNS)), flush=True)
            rows.append(summarize(size, runs))
        text_table = table(rows)
        load = '%.2f, %.2f' % (load_at_start, os.getloadavg()[0])
        target = verdict(rows)
        per_host = breakdown(root, server, pki.ca_file)
        print('\n%s\n%s\nload average (1 min) at start, at end: %s\n\n%s' % (text_table, target, load, per_host))
        if not args.no_write:
            write_doc(os.path.join(REPO, 'docs', 'benchmarks.md'), text_table, target, args, started, load, per_host)
            print('bench: wrote docs/benchmarks.md')
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _mkdir(*parts):
    path = os.path.join(*parts)
    os.makedirs(path)
    return path


if __name__ == '__main__':
    main()

"""smtp_config against a hostile or broken file system, through real ansible-playbook runs (issue 7).

The attacker is real: `nobody` (setpriv) owns the app's folder, as an app's user owns /etc/myapp,
while the playbook runs as root. It plants links at `path` and at backup names, and a watcher
process as nobody polls the folder for any readable file that holds a password. Broken files
(deep nesting, alias bombs, 17 MiB, unclosed sections, a BOM, multi-line env values), a full disk
(a tiny tmpfs) and kill -9 mid-write check that nothing is lost, mangled or shown.
"""
import configparser
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from tests.testbed.ansible import one_task_playbook

PASSWORD = 'Hostile-Pa55-0riginal-7c1d'
SETTINGS = {
    'host': 'smtp.example.com',
    'port': 587,
    'username': 'alerts@example.com',
    'password': PASSWORD,
    'from_email': 'alerts@example.com',
}
NOBODY = ['setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups']
NOBODY_UID = 65534
OLD_INI = '[main]\nname = myapp\n\n[smtp]\nhost = old.example.com\npassword = Old-Secret-Of-The-App-31\n'


def playbook(**task_args):
    task_args.setdefault('settings', '{{ settings }}')
    return one_task_playbook('email_ops.smtp.smtp_config', **task_args)


def apply(ansible, *flags, settings=None, timeout=300, **task_args):
    run, results = ansible.playbook_json(playbook(**task_args), *flags, timeout=timeout,
                                         extra_vars={'settings': settings or SETTINGS})
    return run, results.get('config', {}).get('localhost', {})


def as_nobody(*command, **kwargs):
    return subprocess.run(NOBODY + list(command), capture_output=True, text=True, check=False, timeout=120, **kwargs)


def assert_clean(run, *secrets):
    assert 'Traceback' not in run.all_output and 'MODULE FAILURE' not in run.all_output, run
    for secret in secrets + (PASSWORD,):
        assert secret not in run.all_output, secret


def tmp_files(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith('.tmp'))


@pytest.fixture
def app_dir():
    """An app's config folder owned by nobody (0755), reachable by nobody, as /etc/myapp owned by the app's user."""
    folder = tempfile.mkdtemp(prefix='email-ops-hostile-', dir='/tmp')
    os.chmod(folder, 0o755)
    os.chown(folder, NOBODY_UID, NOBODY_UID)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def root_only(tmp_path):
    """A root-only file outside the app's folder, as /etc/shadow or /root/.ssh/id_rsa would be."""
    path = tmp_path / 'root-only.ini'
    path.write_text('[smtp]\nhost = internal.example.com\ntoken = ROOT-ONLY-9f2b\n')
    os.chmod(path, 0o600)
    return path


# --- 1. backups: unpredictable name, exclusive, never through a link, never wider than the file ---------

PLANTER = r'''
import os, sys, time
path, target, first_pid, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
planted = 0
now = time.time()
for pid in range(first_pid, first_pid + count):
    for second in range(seconds):
        name = '%s.%d.%s' % (path, pid, time.strftime('%Y-%m-%d@%H:%M:%S~', time.localtime(now + second)))
        try:
            os.symlink(target, name)
            planted += 1
        except OSError:
            pass
print(planted)
'''


def test_backup_ignores_links_planted_at_guessable_names_and_is_private(ansible, app_dir, root_only):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    os.chmod(path, 0o644)  # an app's world-readable config that happens to hold a secret
    victim_before = root_only.read_text()
    # nobody links every name ansible-core's backup_local could pick in the next 40 s for the next 1500 PIDs
    last_pid = os.getpid()
    if os.path.exists('/proc/sys/kernel/ns_last_pid'):  # the PID the kernel handed out last, where it says
        with open('/proc/sys/kernel/ns_last_pid') as handle:
            last_pid = int(handle.read())
    planter = as_nobody(sys.executable, '-c', PLANTER, path, str(root_only), str(last_pid + 1), '1500', '40')
    assert planter.returncode == 0, planter.stderr
    planted = int(planter.stdout)
    assert planted > 50000

    run, result = apply(ansible, path=path, backup=True, owner='nobody', group='nogroup')
    assert root_only.read_text() == victim_before, 'root wrote through a planted link'
    assert run.rc == 0, run
    backup = result['backup_file']
    assert re.match(re.escape(path) + r'\.[0-9a-f]{16}\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$', backup), backup
    info = os.lstat(backup)
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600, 'a backup of a 0644 file holding a secret must not stay 0644'
    assert (info.st_uid, info.st_gid) == (NOBODY_UID, NOBODY_UID)
    with open(backup) as handle:
        assert handle.read() == OLD_INI
    written = os.lstat(path)
    assert stat.S_IMODE(written.st_mode) == 0o600 and written.st_uid == NOBODY_UID
    assert_clean(run, 'Old-Secret-Of-The-App-31', 'ROOT-ONLY-9f2b')


def test_backup_mode_is_never_wider_than_the_old_file(ansible, app_dir):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    os.chmod(path, 0o600)
    run, result = apply(ansible, path=path, backup=True, mode='0640')
    assert run.rc == 0, run
    assert stat.S_IMODE(os.stat(result['backup_file']).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


# --- 2. no window: a watcher as nobody never reads a rotated password ------------------------------------

WATCHER = r'''
import json, os, sys, time
folder, stop, out = sys.argv[1], sys.argv[2], sys.argv[3]
seen, reads, deadline = set(), 0, time.time() + 600
while not os.path.exists(stop) and time.time() < deadline:
    for name in os.listdir(folder):
        try:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            data = os.read(fd, 65536)
            reads += 1
        except OSError:
            data = b''
        finally:
            os.close(fd)
        if b'Rotated-' in data:
            seen.add(data.decode('utf-8', 'replace'))
with open(out, 'w') as handle:
    json.dump({'reads': reads, 'captured': sorted(seen)}, handle)
'''

ROTATIONS = 15


def test_watcher_as_nobody_never_reads_a_rotated_password(ansible, app_dir, tmp_path):
    """Each rotation writes a new password (mode 0600 asked, backup: true); nobody polls the folder meanwhile.
    Even rotations go over a 0644 config without a secret (the temp file's window), odd ones over a private
    0600 config holding the previous password (the backup's window)."""
    passwords = ['Rotated-%02d-%s' % (n, os.urandom(6).hex()) for n in range(ROTATIONS)]
    previous = ['Rotated-old-%02d-%s' % (n, os.urandom(6).hex()) for n in range(ROTATIONS)]
    for number in range(ROTATIONS):
        path = os.path.join(app_dir, 'app-%02d.ini' % number)
        with open(path, 'w') as handle:
            os.chmod(path, 0o600)
            handle.write('[smtp]\nhost = old.example.com\n' + ('password = %s\n' % previous[number] if number % 2 else ''))
        os.chmod(path, 0o600 if number % 2 else 0o644)
    spy = tempfile.mkdtemp(prefix='email-ops-spy-', dir='/tmp')
    os.chown(spy, NOBODY_UID, NOBODY_UID)
    stop, out = os.path.join(spy, 'stop'), os.path.join(spy, 'out.json')
    watcher = subprocess.Popen(NOBODY + [sys.executable, '-c', WATCHER, app_dir, stop, out])
    try:
        text = '''
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
    - name: config
      loop: "{{ passwords }}"
      loop_control: {index_var: number, label: "{{ number }}"}
      email_ops.smtp.smtp_config:
        path: "%s/app-{{ '%%02d' | format(number) }}.ini"
        settings: "{{ settings | combine({'password': item}) }}"
        backup: true
''' % app_dir
        run = ansible.playbook(text, extra_vars={'settings': SETTINGS, 'passwords': passwords})
    finally:
        with open(stop, 'w'):
            pass
        watcher.wait(timeout=60)
    with open(out) as handle:
        report = json.load(handle)
    shutil.rmtree(spy, ignore_errors=True)
    assert run.rc == 0, run
    assert report['reads'] > 0
    captured = [password for password in passwords + previous if any(password in data for data in report['captured'])]
    assert captured == [], '%d of %d passwords read by nobody: %s' % (len(captured), 2 * ROTATIONS, captured)
    for number, password in enumerate(passwords):
        path = os.path.join(app_dir, 'app-%02d.ini' % number)
        assert password in open(path).read() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for secret in passwords + previous:
        assert secret not in run.all_output


# --- 3. links, FIFOs, devices, directories, relative paths, integer modes, unknown owners -----------------

def test_link_at_path_is_refused_and_the_target_never_read(ansible, app_dir, root_only):
    path = os.path.join(app_dir, 'app.ini')
    planted = as_nobody('ln', '-s', str(root_only), path)
    assert planted.returncode == 0, planted.stderr
    before = root_only.read_text()
    run, result = apply(ansible, '--diff', path=path, owner='nobody')
    assert run.rc != 0 and 'is a symbolic link' in result['msg'] and 'follow=true' in result['msg'], run
    assert os.path.islink(path) and root_only.read_text() == before
    assert stat.S_IMODE(os.stat(root_only).st_mode) == 0o600 and os.stat(root_only).st_uid == 0
    assert_clean(run, 'ROOT-ONLY-9f2b', 'internal.example.com')


def test_follow_reads_and_writes_the_same_real_file(ansible, app_dir):
    real = os.path.join(app_dir, 'real.ini')
    with open(real, 'w') as handle:
        handle.write(OLD_INI)
    link = os.path.join(app_dir, 'app.ini')
    os.symlink(real, link)
    run, result = apply(ansible, '--diff', path=link, follow=True, backup=True)
    assert run.rc == 0 and result['changed'], run
    assert os.path.islink(link) and os.readlink(link) == real
    text = open(real).read()
    assert text.startswith('[main]\nname = myapp\n') and PASSWORD in text
    assert result['backup_file'].startswith(real + '.')
    assert sorted(os.listdir(app_dir)) == sorted(['app.ini', 'real.ini', os.path.basename(result['backup_file'])])
    assert_clean(run, 'Old-Secret-Of-The-App-31')


def _unblock_fifo(path):
    """Free a reader stuck in open() on the FIFO (so no module process outlives a failed test)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize('kind, message', [('fifo', 'is a FIFO'), ('device', 'is a device'), ('directory', 'is a directory')])
def test_fifo_device_or_directory_at_path_is_a_clear_error(ansible, app_dir, kind, message):
    path = os.path.join(app_dir, 'app.ini')
    if kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'device':
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    else:
        os.mkdir(path)
    try:
        run, result = apply(ansible, path=path, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail('the module blocked on the %s at path' % kind)
    finally:
        if kind == 'fifo':
            _unblock_fifo(path)
    assert run.rc != 0 and message in result['msg'], run
    mode = os.lstat(path).st_mode
    assert {'fifo': stat.S_ISFIFO, 'device': stat.S_ISCHR, 'directory': stat.S_ISDIR}[kind](mode)
    assert tmp_files(app_dir) == []
    assert_clean(run)


@pytest.mark.parametrize('args, message', [
    ({'path': 'relative/app.ini'}, 'path must be absolute'),
    ({'mode': 644}, 'quote octal numbers'),
    ({'owner': 'no-such-user-e7'}, 'owner no-such-user-e7: no such user on this host; nothing was written'),
    ({'group': 'no-such-group-e7'}, 'group no-such-group-e7: no such group on this host; nothing was written'),
])
def test_refused_before_anything_is_written(ansible, app_dir, args, message):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    os.chmod(path, 0o600)
    args = dict(args)
    args.setdefault('path', path)
    run, result = apply(ansible, **args)
    assert run.rc != 0 and message in result['msg'], run
    assert open(path).read() == OLD_INI and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(app_dir)) == ['app.ini']
    assert not os.path.exists(os.path.join(ansible.workdir, 'relative'))
    assert_clean(run, 'Old-Secret-Of-The-App-31')


# --- 4. temp files of a killed run are removed by the next run, and only ours ---------------------------

def test_next_run_removes_our_stale_temp_files_and_nothing_else(ansible, app_dir, root_only):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    stale = os.path.join(app_dir, '.app.ini.k1ll3d_x.tmp')
    with open(stale, 'w') as handle:
        handle.write(OLD_INI.replace('old.example.com', 'half-written'))
    stale_check = os.path.join(app_dir, '.app.ini.k1ll3d_y.check')  # a several-file app's pre-validation copy
    with open(stale_check, 'w') as handle:
        handle.write(OLD_INI.replace('old.example.com', 'being-validated'))
    keep = {
        '.app.ini.abcdefgh.tmp': 'link',         # nobody's link at our pattern: not followed, not ours
        '.app.ini.nobodys1.tmp': 'nobody-file',  # nobody's own file
        '.app.ini.ABCDEFGH.tmp': 'file',         # not our pattern (mkstemp uses lower case)
        '.other.ini.abcdefgh.tmp': 'file',       # another file's temp
        'app.ini.abcdefgh.tmp': 'file',          # no leading dot
        '.app.ini.abcdefgh.tmp.bak': 'file',     # another suffix
    }
    for name, kind in keep.items():
        target = os.path.join(app_dir, name)
        if kind == 'link':
            assert as_nobody('ln', '-s', str(root_only), target).returncode == 0
        elif kind == 'nobody-file':
            assert as_nobody('touch', target).returncode == 0
        else:
            with open(target, 'w') as handle:
                handle.write('not ours\n')
    run, result = apply(ansible, path=path)
    assert run.rc == 0 and result['changed'], run
    assert not os.path.exists(stale) and not os.path.exists(stale_check)
    assert sorted(os.listdir(app_dir)) == sorted(list(keep) + ['app.ini'])
    assert os.path.islink(os.path.join(app_dir, '.app.ini.abcdefgh.tmp')) and 'ROOT-ONLY-9f2b' in root_only.read_text()
    assert_clean(run, 'Old-Secret-Of-The-App-31')


KILLS = 20


def _descendants(root):
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def kill_tree(root):
    """SIGKILL ansible-playbook and every process it started (its workers setsid, so a process group is not enough):
    freeze the tree first so nothing escapes to init while we look, then kill each by its id."""
    frozen = set()
    for dummy in range(5):
        tree = set(_descendants(root)) - frozen
        if not tree:
            break
        for pid in tree:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen |= tree
    for pid in frozen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_kill_9_mid_write_leaves_the_old_or_the_new_file_and_the_next_run_cleans_up(ansible, app_dir, tmp_path):
    """SIGKILL ansible-playbook and the module at random moments, the validate step (temp file
    written, not yet renamed) stretched to 0.4 s so that many kills land mid-write."""
    path = os.path.join(app_dir, 'app.ini')
    validate = "/bin/sh -c 'sleep 0.4; test -s \"$0\"' %s"
    # the complete new file, from a run nobody kills
    reference = os.path.join(app_dir, 'reference.ini')
    with open(reference, 'w') as handle:
        handle.write(OLD_INI)
    started = time.time()
    run, result = apply(ansible, path=reference, validate=validate)
    duration = time.time() - started
    assert run.rc == 0, run
    new_text = open(reference).read()
    os.unlink(reference)
    assert new_text != OLD_INI and PASSWORD in new_text

    play = ansible.write('kill.yml', playbook(path=path, validate=validate))
    ansible.write('kill_vars.json', json.dumps({'settings': SETTINGS}))
    command = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), play, '-i', 'localhost,',
               '-e', '@' + os.path.join(ansible.workdir, 'kill_vars.json')]
    rng = random.Random(7)
    seen = {'old': 0, 'new': 0, 'stale_temp': 0}
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    for attempt in range(KILLS):
        if attempt % 2 == 0:  # start from the old file half the time, so kills also land on a real write
            with open(path, 'w') as handle:
                handle.write(OLD_INI)
        left_before = set(tmp_files(app_dir))
        proc = subprocess.Popen(command, cwd=ansible.workdir, env=ansible.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + rng.uniform(0.3, 1.2 * duration)
        while time.time() < deadline and proc.poll() is None:
            if set(tmp_files(app_dir)) - left_before and rng.random() < 0.04:
                break  # a temp file exists: kill now, mid-write
            time.sleep(0.02)
        kill_tree(proc.pid)
        proc.wait(timeout=60)
        text = open(path).read()
        assert text in (OLD_INI, new_text), 'attempt %d left a partial file' % attempt
        seen['old' if text == OLD_INI else 'new'] += 1
        seen['stale_temp'] += bool(set(tmp_files(app_dir)) - left_before)
    print('kill -9 outcomes over %d attempts: %s' % (KILLS, seen))
    run, result = apply(ansible, path=path, validate=validate)
    assert run.rc == 0, run
    assert open(path).read() == new_text
    assert tmp_files(app_dir) == [], 'stale temp files survived the next run'


# --- 5. bounded parsing: deep nesting, alias bombs, huge files ---------------------------------------------

def _alias_bomb(levels):
    lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]']
    lines += ['a%d: &a%d [%s]' % (n, n, ', '.join(['*a%d' % (n - 1)] * 9)) for n in range(1, levels)]
    return '\n'.join(lines) + '\nsmtp:\n  host: old.example.com\n  password: *a%d\n' % (levels - 1)


@pytest.mark.parametrize('name, content, message', [
    ('app.json', '{"smtp": ' + '[' * 50000 + ']' * 50000 + '}', 'nested too deeply to read safely'),
    ('app.yml', _alias_bomb(7), 'more than 200000 values (counting each alias expansion)'),
    ('app.json', '{"smtp": {"host": "old.example.com"}, "blob": "' + 'x' * (17 * 1024 * 1024) + '"}\n',
     'larger than 16 MiB'),
])
def test_hostile_existing_targets_are_refused_untouched(ansible, app_dir, name, content, message):
    path = os.path.join(app_dir, name)
    with open(path, 'w') as handle:
        handle.write(content)
    run, result = apply(ansible, path=path, timeout=240)
    assert run.rc != 0 and message in result['msg'], run
    assert open(path).read() == content
    assert tmp_files(app_dir) == []
    assert_clean(run)


# --- 6. files we cannot read the way the app reads them: refused, or kept as the app reads them ---------

@pytest.mark.parametrize('content, message', [
    ('[main]\nname = myapp\n[smtp\nhost = old.example.com\n', 'line 3: a [section header that does not close'),
    ('[smtp]\nhost = a\n\n[main]\nx = 1\n[smtp]\npassword = Dup-Secret-5\n', 'line 6: section [smtp] appears twice'),
    ('[smtp]\nhost = a\npassword = Dup-Secret-5\nPassword = Dup-Secret-6\n', 'line 4: key password appears twice'),
])
def test_ini_the_app_would_reject_is_refused_naming_the_line(ansible, app_dir, content, message):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(content)
    run, result = apply(ansible, '--diff', path=path)
    assert run.rc != 0 and message in result['msg'], run
    assert open(path).read() == content
    assert_clean(run, 'Dup-Secret-5', 'Dup-Secret-6')


BOM_INI = '[smtp]\nhost = old.example.com\n\n[main]\nname = myapp\n'


def test_utf8_bom_is_kept_and_the_file_stays_one_section(ansible, app_dir):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'wb') as handle:
        handle.write(b'\xef\xbb\xbf' + BOM_INI.encode())
    run, result = apply(ansible, path=path)
    assert run.rc == 0 and result['changed'], run
    data = open(path, 'rb').read()
    assert data.startswith(b'\xef\xbb\xbf[smtp]\n') and data.count(b'[smtp]') == 1
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.read(path, encoding='utf-8-sig')
    assert parser['smtp']['host'] == 'smtp.example.com' and parser['smtp']['password'] == PASSWORD
    run, result = apply(ansible, path=path)
    assert run.rc == 0 and not result['changed'], run


def test_env_multi_line_values_of_others_survive_as_the_shell_reads_them(ansible, app_dir):
    path = os.path.join(app_dir, 'app.env')
    cert = '-----BEGIN CERTIFICATE-----\nSMTP_HOST=inside-the-certificate\n-----END CERTIFICATE-----'
    content = 'APP=1\nTLS_CERT="%s"\nSMTP_PORT=25\n' % cert
    with open(path, 'w') as handle:
        handle.write(content)
    run, result = apply(ansible, path=path)
    assert run.rc == 0 and result['changed'], run
    shell = subprocess.run(['/bin/sh', '-c', '. "$1"; printf "%s\\n--\\n%s\\n--\\n%s" "$TLS_CERT" "$SMTP_HOST" "$SMTP_PORT"',
                            'sh', path], capture_output=True, text=True, check=True)
    assert shell.stdout == '%s\n--\nsmtp.example.com\n--\n587' % cert


# --- 7. secrets of ours elsewhere in the file are masked too ---------------------------------------------

def test_secret_under_another_case_in_another_section_is_masked(ansible, app_dir):
    path = os.path.join(app_dir, 'app.ini')
    with open(path, 'w') as handle:
        handle.write('[legacy_mail]\nPassword = Other-Case-Secret-41\n\n[smtp]\nhost = old.example.com\n')
    run, result = apply(ansible, '--diff', '-vvvv', path=path, validate='sh -c "cat %s; exit 1"')
    assert run.rc != 0 and 'validate command failed' in result['msg'], run
    run, result = apply(ansible, '--diff', '-vvvv', path=path)
    assert run.rc == 0 and result['changed'], run
    assert 'Other-Case-Secret-41' in open(path).read()
    assert_clean(run, 'Other-Case-Secret-41')


def test_block_under_its_old_key_is_masked_when_key_changes(ansible, app_dir):
    path = os.path.join(app_dir, 'app.json')
    with open(path, 'w') as handle:
        json.dump({'mail': {'host': 'old.example.com', 'password': 'Old-Key-Secret-77'}}, handle)
    run, result = apply(ansible, '--diff', '-vvvv', path=path, key='notifications.smtp')
    assert run.rc == 0 and result['changed'], run
    assert_clean(run, 'Old-Key-Secret-77')


# --- 8. update_password=on_create never hands the old password to a new destination ---------------------

@pytest.mark.parametrize('change', [{'host': 'attacker.example.net'}, {'port': 2525}, {'security': 'ssl'},
                                    {'username': 'someone-else@example.com'}])
def test_on_create_keeps_the_password_only_for_the_same_destination(ansible, app_dir, change):
    path = os.path.join(app_dir, 'app.env')
    run = apply(ansible, path=path)[0]
    assert run.rc == 0, run
    before = open(path).read()
    run, result = apply(ansible, path=path, update_password='on_create', settings=dict(SETTINGS, **change))
    assert run.rc != 0, run
    assert 'keeps the stored password only for the same destination' in result['msg']
    assert 'settings.%s changed' % list(change)[0] in result['msg'], result['msg']
    assert open(path).read() == before
    assert_clean(run)
    # the same destination still keeps it (and a harmless change goes through)
    run, result = apply(ansible, path=path, update_password='on_create',
                        settings=dict(SETTINGS, password='Never-Written-3', from_email='ops@example.com'))
    assert run.rc == 0 and result['changed'], run
    assert PASSWORD in open(path).read() and 'Never-Written-3' not in open(path).read()


# --- 9. a full disk loses nothing --------------------------------------------------------------------------

@pytest.fixture
def tiny_disk():
    folder = tempfile.mkdtemp(prefix='email-ops-tiny-', dir='/tmp')
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', folder],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, 'mounting a tmpfs needs root: %s' % mounted.stderr
    try:
        yield folder
    finally:
        subprocess.run(['umount', folder], check=False)
        os.rmdir(folder)


def _fill(folder, leave_pages):
    """Fill the file system, then free `leave_pages` pages."""
    filler = os.path.join(folder, 'filler')
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for dummy in range(1000):
            os.write(fd, b'\0' * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    size = os.path.getsize(filler)
    os.truncate(filler, max(0, size - size % 4096 - 4096 * leave_pages))


@pytest.mark.parametrize('leave_pages, where', [(0, 'temporary file'), (1, 'backup')])
def test_full_disk_keeps_the_old_file_and_leaves_no_temp_file(ansible, tiny_disk, leave_pages, where):
    path = os.path.join(tiny_disk, 'app.ini')
    with open(path, 'w') as handle:
        handle.write(OLD_INI)
    _fill(tiny_disk, leave_pages)
    run, result = apply(ansible, path=path, backup=True)
    assert run.rc != 0 and 'No space left on device' in result['msg'] and where in result['msg'], run
    assert 'was left as it was' in result['msg']
    assert open(path).read() == OLD_INI
    assert sorted(os.listdir(tiny_disk)) == ['app.ini', 'filler']
    assert_clean(run, 'Old-Secret-Of-The-App-31')

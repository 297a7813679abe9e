"""`make demo`: the Email Configuration page applied to three local hosts, end to end.

A capture SMTP server (STARTTLS + AUTH, with a CA made on the spot) stands in for the provider. The demo
validates the settings, proves them with a real test send from each host, writes each app's config file,
prints the captured test messages and the masked diff, shows that a second run changes nothing, and that
a --check run proves everything and delivers nothing. A last run shows a typo caught on the controller.
"""
import email
import email.policy
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

from tests.conftest import COLLECTIONS_ROOT  # noqa: E402  links this checkout as email_ops.smtp
from tests.testbed.net import free_port  # noqa: E402

BIN = os.path.dirname(sys.executable)


def banner(text):
    print('\n\033[1m== %s ==\033[0m' % text, flush=True)


def start_capture_server(work, password):
    port = free_port()
    maildir = os.path.join(work, 'captured')
    server = subprocess.Popen(
        [sys.executable, '-m', 'tests.testbed.capture', '--port', str(port), '--ca-dir', os.path.join(work, 'pki'),
         '--user', 'demo@example.test', '--password', password, '--maildir', maildir],
        cwd=REPO, stdout=open(os.path.join(work, 'capture.log'), 'w'), stderr=subprocess.STDOUT)
    ca_file = os.path.join(work, 'pki', 'ca.pem')
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            if os.path.exists(ca_file):
                return server, port, ca_file, maildir
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit('capture server failed to start:\n' + open(os.path.join(work, 'capture.log')).read())
        time.sleep(0.1)
    server.kill()
    sys.exit('capture server did not listen on port %d within 20 s' % port)


def playbook(work, *args, extra=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_FORCE_COLOR='1', ANSIBLE_HOST_KEY_CHECKING='false')
    command = [os.path.join(BIN, 'ansible-playbook'), '-i', os.path.join(HERE, 'inventory.ini'),
               '-e', '@' + os.path.join(work, 'demo_vars.json'), '-e', '@' + os.path.join(HERE, 'settings.yml')]
    if extra:
        command += ['-e', json.dumps(extra)]
    command += [os.path.join(HERE, 'site.yml')] + list(args)
    print('$ ansible-playbook -i demo/inventory.ini demo/site.yml %s' % ' '.join(args), flush=True)
    return subprocess.run(command, env=env, check=False).returncode


def show_messages(maildir, seen):
    paths = sorted(glob.glob(os.path.join(maildir, '*.eml')), key=lambda p: int(os.path.basename(p)[:-4]))
    for path in paths[seen:]:
        with open(path, 'rb') as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        print('  From: %s | To: %s | Subject: %s' % (message['From'], message['To'], message['Subject']))
    return len(paths)


def main():
    work = tempfile.mkdtemp(prefix='email_ops_demo_')
    password = 'demo-' + secrets.token_urlsafe(12)  # made for this run; the demo greps its output for it
    server, port, ca_file, maildir = start_capture_server(work, password)
    for host in ('billing', 'wiki', 'cron-box'):
        os.makedirs(os.path.join(work, 'hosts', host))
    with open(os.path.join(work, 'demo_vars.json'), 'w') as handle:
        json.dump({'demo_dir': os.path.join(work, 'hosts'), 'demo_smtp_port': port, 'demo_ca_file': ca_file,
                   'demo_smtp_password': password}, handle)
    try:
        print('capture SMTP server on 127.0.0.1:%d (STARTTLS + AUTH), CA %s' % (port, ca_file))
        print('config files of the three hosts under %s' % os.path.join(work, 'hosts'))

        banner('1. Apply: validate on the controller, test-send from each host, write (diff masks the password)')
        failed = playbook(work, '--diff')
        seen = show_messages(maildir, 0)
        print('captured %d test message(s)' % seen)

        banner('2. Apply again: nothing to change, nothing sent')
        failed |= playbook(work)
        print('captured %d new message(s)' % (show_messages(maildir, seen) - seen))

        banner('3. --check with a new display name: a real probe (connect, STARTTLS, AUTH, MAIL, RCPT), '
               'nothing written or delivered')
        before = dict((path, open(path).read()) for path in glob.glob(os.path.join(work, 'hosts', '*', '*')))
        failed |= playbook(work, '--check', '--diff', extra={'demo_from_name': 'Demo alerts (renamed)'})
        after = dict((path, open(path).read()) for path in before)
        print('files unchanged: %s; captured %d new message(s)' % (before == after, show_messages(maildir, seen) - seen))

        banner('4. A typo in the settings is caught on the controller, every problem with its path')
        playbook(work, '--limit', 'billing', extra={'smtp_settings': {'hots': '127.0.0.1', 'port': 70000, 'from_email': 'alerts'}})

        banner('The files the apps read')
        for path in sorted(before):
            print('--- %s (mode %o)' % (path, os.stat(path).st_mode & 0o777))
            print(open(path).read().replace(password, '********'))
        return 1 if failed else 0
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())

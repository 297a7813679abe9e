"""Virtualenvs for the applications that install from PyPI (Django, Synapse, Apprise, Airflow...).

Each app has a pinned lock file, tests/apps/<app>.txt; its venv lives under ~/.cache/email_ops_smtp/apps/, keyed
by the lock file's contents, so a second run reuses it and a changed lock builds a new one. The bootstrap builds
them all in the background while apt works (`python -m tests.testbed.appvenv`); a test asks with `app_venv(name)`.
"""
import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys

LOCKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'apps')
CACHE = os.environ.get('EMAIL_OPS_SMTP_APP_VENVS', os.path.expanduser('~/.cache/email_ops_smtp/apps'))


def lock_file(app):
    return os.path.join(LOCKS, '%s.txt' % app)


def apps():
    return sorted(os.path.basename(path)[:-4] for path in glob.glob(os.path.join(LOCKS, '*.txt')))


def venv_path(app):
    with open(lock_file(app), 'rb') as handle:
        digest = hashlib.sha256(handle.read() + sys.version.encode()).hexdigest()[:12]
    return os.path.join(CACHE, '%s-%s' % (app, digest))


def app_venv(app):
    """Path of the app's ready venv, built now if missing (under a lock: the bootstrap may be building it)."""
    path = venv_path(app)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, '.%s.lock' % app), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(path, '.complete')):
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([sys.executable, '-m', 'venv', path], check=True)
            subprocess.run([os.path.join(path, 'bin', 'pip'), 'install', '-q', '--disable-pip-version-check',
                            '-r', lock_file(app)], check=True)
            open(os.path.join(path, '.complete'), 'w').close()
    return path


def main(names):
    failed = []
    for app in names or apps():
        try:
            app_venv(app)
        except subprocess.CalledProcessError as error:
            failed.append('%s (%s)' % (app, error))
    if failed:
        sys.stderr.write('appvenv: could not build: %s\n' % ', '.join(failed))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

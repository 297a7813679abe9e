"""The version matrix: which ansible-core runs on which controller Python, which managed-node Pythons it drives.

Each leg gets its own virtualenv under ~/.cache/email_ops_smtp/venvs/, keyed by the leg's core, its Python and
the exact contents of its lock file (tests/matrix/lock-<core>.txt): a second run reuses it, a changed lock file
builds a new one. Interpreters are found on PATH (python3.X) or under pyenv (~/.pyenv/versions/3.X.*).

Support matrix (ansible-core's own, from ansible_test/_util/target/common/constants.py of each release):

core  controller Python   managed-node Python
2.16  3.10 - 3.12         2.7, 3.6 - 3.12
2.17  3.10 - 3.12         3.7 - 3.12
2.18  3.11 - 3.13         3.8 - 3.13
2.19  3.11 - 3.13         3.8 - 3.13
2.20  3.12 - 3.14         3.9 - 3.14
2.21  3.12 - 3.14         3.9 - 3.14

So managed-node Python 3.6 and 3.7 are driven by 2.16 (the newest core for 3.6), 3.8 by 2.19 (the newest core
for 3.8), 3.9 to 3.13 by 2.21.
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get('EMAIL_OPS_SMTP_VENVS', os.path.expanduser('~/.cache/email_ops_smtp/venvs'))


class Leg:
    def __init__(self, core, python, targets=(), sanity=False, name=None):
        self.core = core            # ansible-core series, e.g. '2.16'
        self.python = python        # controller Python, e.g. '3.11'
        self.targets = targets      # managed-node Pythons this leg drives
        self.sanity = sanity        # run ansible-test sanity with this core
        self.id = name or 'core%s-py%s' % (core, python)

    @property
    def lock_file(self):
        return os.path.join(HERE, 'lock-%s.txt' % (self.core or self.id))

    def key(self):
        with open(self.lock_file, 'rb') as handle:
            digest = hashlib.sha256(handle.read() + self.python.encode()).hexdigest()[:12]
        return '%s-%s' % (self.id, digest)

    def venv(self):
        return os.path.join(CACHE, self.key())

    def bin(self, name):
        return os.path.join(self.venv(), 'bin', name)

    def __repr__(self):
        return self.id


LEGS = [
    Leg('2.16', '3.11', targets=('3.6', '3.7'), sanity=True),
    Leg('2.17', '3.11'),
    Leg('2.18', '3.11'),
    Leg('2.19', '3.11', targets=('3.8',)),
    Leg('2.20', '3.12'),
    Leg('2.21', '3.13', targets=('3.9', '3.10', '3.11', '3.12', '3.13'), sanity=True),
]

# galaxy-importer, ansible-builder and antsibull-docs, pinned in lock-tools.txt (they bring their own ansible-core).
TOOLS = Leg(None, '3.11', name='tools')


def find_python(version):
    """Path of a python<version> interpreter, or None: PATH first, then pyenv's versions."""
    candidates = []
    found = shutil.which('python%s' % version)
    if found:
        candidates.append(found)
    root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    candidates += sorted(glob.glob(os.path.join(root, 'versions', '%s.*' % version, 'bin', 'python%s' % version)),
                         reverse=True)
    for path in candidates:
        try:
            proc = subprocess.run([path, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                                  capture_output=True, text=True, timeout=60, check=False)
        except OSError:
            continue
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return path
    return None


def missing_interpreters(legs=None):
    """{leg id or 'managed node': [missing Python versions]} for the legs given (all by default)."""
    missing = {}
    for leg in legs or LEGS:
        for version in (leg.python,) + tuple(leg.targets):
            if find_python(version) is None:
                missing.setdefault(leg.id, []).append(version)
    return missing


def ensure_venv(leg, log=sys.stderr):
    """Create the leg's venv from its lock file unless a finished one with the same key exists; return its path."""
    venv = leg.venv()
    done = os.path.join(venv, '.complete')
    if os.path.exists(done):
        return venv
    python = find_python(leg.python)
    if python is None:
        raise RuntimeError('Python %s (controller of %s) is not installed' % (leg.python, leg.id))
    shutil.rmtree(venv, ignore_errors=True)  # a leftover without .complete: an interrupted build
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    log.write('matrix: building %s from %s\n' % (venv, os.path.relpath(leg.lock_file)))
    subprocess.run([python, '-m', 'venv', venv], check=True, timeout=600)
    pip = [os.path.join(venv, 'bin', 'python'), '-m', 'pip', '-q', 'install', '--disable-pip-version-check']
    proc = subprocess.run(pip + ['-r', leg.lock_file], capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError('pip install -r %s for %s failed:\n%s' % (leg.lock_file, leg.id, proc.stdout + proc.stderr))
    with open(done, 'w') as handle:
        handle.write(leg.key() + '\n')
    return venv


if __name__ == '__main__':
    # python -m tests.matrix.legs: build every leg's venv whose interpreter exists, report the rest.
    for each in LEGS + [TOOLS]:
        if find_python(each.python):
            print(each.id, ensure_venv(each))
    print('missing:', missing_interpreters() or 'none')

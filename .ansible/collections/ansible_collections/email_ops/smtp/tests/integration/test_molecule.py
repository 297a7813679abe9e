"""`molecule test` of the collection-level scenario extensions/molecule/default: converge, idempotence, verify,
on this machine (default driver, managed: false, local connection) with an SMTP server the scenario starts."""
import os
import subprocess
import sys

from tests.conftest import COLLECTIONS_ROOT, REPO
from tests.testbed.net import free_port

BIN = os.path.dirname(sys.executable)


def test_molecule_default_scenario_passes():
    env = dict(os.environ)
    env.update({
        'PATH': BIN + os.pathsep + env.get('PATH', ''),  # ansible-playbook, ansible-config of this venv
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS_ROOT,      # email_ops.smtp is this checkout
        'ANSIBLE_COLLECTIONS_SCAN_SYS_PATH': 'false',
        'MOLECULE_SMTP_PORT': str(free_port()),            # where the scenario's SMTP server listens
        'ANSIBLE_NOCOLOR': '1',
        'NO_COLOR': '1',
    })
    proc = subprocess.run([os.path.join(BIN, 'molecule'), 'test', '--scenario-name', 'default'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    for action in ('converge', 'idempotence', 'verify'):
        assert 'default > %s: Executed: Successful' % action in output, output
    assert 'Molecule executed 1 scenario (1 successful)' in output, output
    assert 'Performing prerun' not in output, 'molecule must use this checkout, not install a copy of it'

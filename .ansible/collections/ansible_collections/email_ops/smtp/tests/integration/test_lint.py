"""ansible-lint's production profile over the role, the playbooks and the molecule scenario, offline."""
import os
import subprocess
import sys

from tests.conftest import REPO

BIN = os.path.dirname(sys.executable)
TARGETS = ['roles/configure', 'playbooks/', 'extensions/molecule/', 'examples/gitops/']


def test_ansible_lint_production_profile_passes():
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), NO_COLOR='1',
               ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(REPO, 'examples', 'gitops', '.vault-pass.test'))
    proc = subprocess.run([os.path.join(BIN, 'ansible-lint'), '--offline', '--profile', 'production'] + TARGETS,
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output

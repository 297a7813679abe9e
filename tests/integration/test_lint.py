"""ansible-lint's production profile over the whole checkout, as a fresh clone is linted (no --offline: the checkout
is the collection ansible-lint resolves email_ops.smtp.* to). The installed artifact is linted in test_release.py."""
import glob
import os
import re
import subprocess
import sys

import yaml

from tests.conftest import REPO

BIN = os.path.dirname(sys.executable)
PROFILE_IGNORE = 'plugins/modules/smtp_config.py validate-modules:undocumented-parameter'


def test_ansible_lint_production_profile_passes_on_the_checkout():
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), NO_COLOR='1',
               ANSIBLE_VAULT_PASSWORD_FILE=os.path.join(REPO, 'examples', 'gitops', '.vault-pass.test'))
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)  # the checkout itself, as in a fresh clone
    proc = subprocess.run([os.path.join(BIN, 'ansible-lint'), '--profile', 'production'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert re.search(r'Passed: 0 failure\(s\)', output), output
    # Every file ansible-lint looked at is the collection's: the roles, playbooks, molecule and the GitOps example.
    assert 'roles/configure' in output or 'files processed' in output


def test_lint_warn_list_only_while_the_profile_ignores_exist():
    """.ansible-lint warns (not fails) on sanity[cannot-ignore] only while tests/sanity holds the `_profile` lines,
    which the app-profile redesign removes; then this entry must go too. Nothing else is ever downgraded."""
    with open(os.path.join(REPO, '.ansible-lint')) as handle:
        config = yaml.safe_load(handle)
    assert not config.get('offline'), 'offline: true hides the checkout from ansible-lint'
    lines = []
    for path in glob.glob(os.path.join(REPO, 'tests', 'sanity', 'ignore-*.txt')):
        with open(path) as handle:
            lines += [line for line in handle.read().splitlines() if line.strip()]
    assert all(line.startswith(PROFILE_IGNORE) for line in lines), lines
    assert config.get('warn_list', []) == (['sanity[cannot-ignore]'] if lines else [])
    assert config.get('skip_list', []) == ['var-naming[no-role-prefix]']

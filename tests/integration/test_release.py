"""What Galaxy, Automation Hub and AWX/AAP do with the artifact, with their own tools from PyPI (tests/matrix/lock-tools.txt):
galaxy-importer's import (ansible-lint, ansible-doc, flake8, required tags, version >= 1.0.0, changelog),
ansible-lint's production profile on the installed artifact, antsibull-docs' docs lint, ansible-builder create and
introspect, and the changelog release.

galaxy-importer cannot start its ansible-test container here (no podman/docker), so its config
(tests/matrix/galaxy-importer.cfg) sets run_ansible_test false; ansible-test sanity runs in
tests/integration/test_collection.py (current core) and tests/matrix/test_matrix.py (2.16 and 2.21).
"""
import glob
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO
from tests.matrix.legs import TOOLS, ensure_venv

BIN = os.path.dirname(sys.executable)
PROFILE_IGNORE = 'plugins/modules/smtp_config.py validate-modules:undocumented-parameter'


def run(cmd, env=None, cwd=None, timeout=900):
    env = dict(os.environ, **(env or {}))
    env['NO_COLOR'] = '1'
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def profile_ignores():
    """The temporary `_profile` lines of tests/sanity/ignore-*.txt (the app-profile redesign removes them)."""
    found = []
    for path in sorted(glob.glob(os.path.join(REPO, 'tests', 'sanity', 'ignore-*.txt'))):
        with open(path) as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
        assert all(line.startswith(PROFILE_IGNORE) for line in lines), '%s holds more than the _profile entry' % path
        found += [os.path.basename(path)] * len(lines)
    return found


@pytest.fixture(scope='module')
def tools():
    venv = ensure_venv(TOOLS)
    return os.path.join(venv, 'bin')


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp('release')
    built = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', str(out)])
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = out.glob('email_ops-smtp-*.tar.gz')
    return tarball


@pytest.fixture(scope='module')
def installed(artifact, tmp_path_factory):
    """The artifact as a user has it: ansible-galaxy collection install into <root>/ansible_collections/."""
    root = tmp_path_factory.mktemp('installed')
    done = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', str(artifact), '-p', str(root)],
               env={'ANSIBLE_COLLECTIONS_PATH': str(root)})
    assert done.returncode == 0, done.stdout + done.stderr
    return root, root / 'ansible_collections' / 'email_ops' / 'smtp'


def test_galaxy_importer_accepts_the_artifact_without_warnings(tools, artifact, tmp_path):
    env = {'GALAXY_IMPORTER_CONFIG': os.path.join(REPO, 'tests', 'matrix', 'galaxy-importer.cfg'),
           'PATH': tools + os.pathsep + os.environ['PATH'], 'HOME': os.environ.get('HOME', str(tmp_path))}
    proc = run([os.path.join(tools, 'python'), '-m', 'galaxy_importer.main', str(artifact)], env=env, cwd=str(tmp_path),
               timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert 'Importer processing completed successfully' in output, output
    problems = [line for line in output.splitlines() if re.match(r'\s*(WARNING|ERROR|CRITICAL)\b', line)]
    # While the `_profile` ignore lines exist, the importer names each of them (lint's sanity[cannot-ignore] and its
    # own "Ignore files skip ansible-test sanity tests"); nothing else may appear, and nothing at all once they go.
    ignores = profile_ignores()
    unexpected = [line for line in problems if not (ignores and re.search(r'ignore-2\.\d+\.txt', line))]
    assert not unexpected, '\n'.join(problems)


def test_ansible_lint_production_on_the_installed_artifact(installed):
    root, collection = installed
    proc = run([os.path.join(BIN, 'ansible-lint'), '--profile', 'production'], cwd=str(collection),
               env={'ANSIBLE_COLLECTIONS_PATH': str(root), 'PATH': BIN + os.pathsep + os.environ['PATH']}, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert re.search(r'Passed: 0 failure\(s\)', output) or "Profile 'production' was required, and it passed" in output, output


def test_antsibull_docs_lint_collection_docs(tools, installed):
    _root, collection = installed
    proc = run([os.path.join(tools, 'antsibull-docs'), 'lint-collection-docs', '--plugin-docs', str(collection)],
               env={'PATH': tools + os.pathsep + os.environ['PATH']}, timeout=600)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_ansible_builder_create_from_the_collections_ee_definition(tools, tmp_path):
    proc = run([os.path.join(tools, 'ansible-builder'), 'create', '-f', os.path.join(REPO, 'meta', 'execution-environment.yml'),
                '-c', str(tmp_path / 'context')], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'jsonschema' in (tmp_path / 'context' / '_build' / 'requirements.txt').read_text()
    collections = yaml.safe_load((tmp_path / 'context' / '_build' / 'requirements.yml').read_text())['collections']
    assert [c['name'] for c in collections] == ['email_ops.smtp']


def test_ansible_builder_introspect_lists_jsonschema(tools, installed):
    root, _collection = installed
    proc = run([os.path.join(tools, 'ansible-builder'), 'introspect', str(root)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = yaml.safe_load(proc.stdout.split('---', 1)[1])
    assert any(line.startswith('jsonschema') and 'email_ops.smtp' in line for line in data['python']), proc.stdout


def test_ee_requirements_copy_matches_the_collections():
    """ansible-builder create reads meta/requirements.txt, introspect reads requirements.txt: one content."""
    with open(os.path.join(REPO, 'requirements.txt')) as root, open(os.path.join(REPO, 'meta', 'requirements.txt')) as meta:
        assert root.read() == meta.read()


def test_changelog_has_the_release_and_lints():
    with open(os.path.join(REPO, 'galaxy.yml')) as handle:
        version = yaml.safe_load(handle)['version']
    assert version == '1.0.0'
    with open(os.path.join(REPO, 'changelogs', 'changelog.yaml')) as handle:
        assert version in yaml.safe_load(handle)['releases']
    with open(os.path.join(REPO, 'CHANGELOG.rst')) as handle:
        assert 'v%s' % version in handle.read()
    proc = run([os.path.join(BIN, 'antsibull-changelog'), 'lint'], cwd=REPO)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_supported_range_is_stated_everywhere():
    with open(os.path.join(REPO, 'meta', 'runtime.yml')) as handle:
        assert yaml.safe_load(handle)['requires_ansible'] == '>=2.16.0'
    with open(os.path.join(REPO, 'tests', 'config.yml')) as handle:
        assert yaml.safe_load(handle)['modules']['python_requires'] == '>=3.6'
    for path in ('galaxy.yml', 'README.md'):
        with open(os.path.join(REPO, path)) as handle:
            text = handle.read()
        assert '2.16' in text and '2.21' in text and '3.6' in text and '3.13' in text, path

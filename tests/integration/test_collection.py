"""The collection as users get it: built artifact installs offline and works, docs render, sanity is clean."""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from tests.conftest import REPO

BIN = os.path.dirname(sys.executable)


def run(cmd, **kwargs):
    kwargs.setdefault('env', dict(os.environ, ANSIBLE_NOCOLOR='1'))
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


def collection_files():
    """What a clean clone holds: tracked files plus new ones git does not ignore."""
    listed = run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    return [path for path in listed.stdout.splitlines() if os.path.isfile(os.path.join(REPO, path))]


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp('build')
    built = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', REPO, '--output-path', str(out)])
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = out.glob('email_ops-smtp-*.tar.gz')
    return tarball


def test_artifact_holds_the_collection_and_no_dev_files(artifact):
    names = tarfile.open(artifact).getnames()
    for needed in ('plugins/modules/smtp_config.py', 'plugins/modules/smtp_test.py', 'schemas/smtp_settings.schema.json',
                   'profiles/msmtp.yml', 'meta/runtime.yml', 'MANIFEST.json', 'README.md', 'LICENSE'):
        assert needed in names
    assert not [n for n in names if n.startswith(('.venv', '.git', '.ci', 'tests/output')) or '__pycache__' in n]


def test_artifact_installs_offline_and_runs(artifact, tmp_path):
    target = tmp_path / 'collections'
    # Only the target on the search path: the checkout the other tests use must not count as installed.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(target), ANSIBLE_NOCOLOR='1',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    installed = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline', str(artifact),
                     '-p', str(target)], env=env)
    assert installed.returncode == 0 and 'installed successfully' in installed.stdout, installed.stdout + installed.stderr
    doc = run([os.path.join(BIN, 'ansible-doc'), 'email_ops.smtp.smtp_config'], env=env)
    assert doc.returncode == 0 and str(target) in doc.stdout, doc.stderr
    config = tmp_path / 'app.json'
    adhoc = run([os.path.join(BIN, 'ansible'), 'localhost', '-c', 'local', '-m', 'email_ops.smtp.smtp_config', '-a',
                 '{"path": "%s", "settings": {"host": "smtp.example.com", "from_email": "a@example.com"}}' % config],
                env=env)
    assert adhoc.returncode == 0 and 'CHANGED' in adhoc.stdout, adhoc.stdout + adhoc.stderr
    assert '"host": "smtp.example.com"' in config.read_text()


@pytest.mark.parametrize('plugin', ['email_ops.smtp.smtp_config', 'email_ops.smtp.smtp_test'])
def test_ansible_doc_renders(plugin):
    doc = run([os.path.join(BIN, 'ansible-doc'), plugin])
    assert doc.returncode == 0, doc.stderr
    assert 'OPTIONS' in doc.stdout and 'settings' in doc.stdout and 'EXAMPLES' in doc.stdout
    assert 'RETURN VALUES' in doc.stdout
    assert '[WARNING]' not in doc.stderr


def test_lookup_doc_renders():
    doc = run([os.path.join(BIN, 'ansible-doc'), '-t', 'lookup', 'email_ops.smtp.app_profile'])
    assert doc.returncode == 0 and 'profile' in doc.stdout and 'EXAMPLES' in doc.stdout, doc.stderr
    assert '[WARNING]' not in doc.stderr


def test_ansible_test_sanity_is_clean(tmp_path):
    """ansible-test sanity, every test it can run here, on a copy under ansible_collections/email_ops/smtp."""
    tree = tmp_path / 'ansible_collections' / 'email_ops' / 'smtp'
    for path in collection_files():
        os.makedirs(tree / os.path.dirname(path), exist_ok=True)
        shutil.copy2(os.path.join(REPO, path), tree / path)
    # ansible-test bootstraps pip in its venvs with a script from a host we cannot reach; give it ours.
    cache = os.path.expanduser('~/.ansible/test/cache')
    os.makedirs(cache, exist_ok=True)
    import ansible_test  # pylint: disable=import-outside-toplevel
    with open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')) as handle:
        pip_versions = set(re.findall(r"pip='([0-9.]+)'", handle.read()))
    assert pip_versions, 'ansible-test no longer names its pip version where this test looks'
    for version in pip_versions:
        shutil.copy(os.path.join(REPO, 'tests', 'sanity', 'get_pip_standin.py'),
                    os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_')))
    python = '%d.%d' % sys.version_info[:2]
    sanity = run([os.path.join(BIN, 'ansible-test'), 'sanity', '--python', python, '--color', 'no'], cwd=str(tree),
                 timeout=1500)
    errors = [line for line in (sanity.stdout + sanity.stderr).splitlines() if line.startswith(('ERROR', 'FATAL'))]
    assert sanity.returncode == 0, '\n'.join(errors) or sanity.stdout[-5000:] + sanity.stderr[-5000:]


@pytest.mark.parametrize('plugin', ['email_ops.smtp.smtp_config', 'email_ops.smtp.smtp_test'])
def test_ansible_doc_is_complete(plugin):
    """What a user reads in ansible-doc: the attributes core's file modules document, requirements, see also, notes."""
    doc = run([os.path.join(BIN, 'ansible-doc'), '--json', plugin])
    assert doc.returncode == 0, doc.stderr
    data = json.loads(doc.stdout)[plugin]
    attributes = data['doc']['attributes']
    for name in ('action', 'action_group', 'async', 'bypass_host_loop', 'check_mode', 'diff_mode', 'platform'):
        assert attributes[name].get('description'), name
    assert attributes['action_group']['membership'] == ['email_ops.smtp.smtp']
    assert attributes['async']['support'] == 'none' and attributes['bypass_host_loop']['support'] == 'none'
    if plugin.endswith('smtp_config'):
        assert attributes['safe_file_operations']['support'] == 'full'
    assert any('jsonschema' in line for line in data['doc']['requirements'])
    seealso = data['doc']['seealso']
    other = 'email_ops.smtp.smtp_test' if plugin.endswith('smtp_config') else 'email_ops.smtp.smtp_config'
    assert other in [entry.get('module') for entry in seealso]
    assert any('configure' in entry.get('link', '') for entry in seealso)
    assert any('never appears' in note for note in data['doc']['notes'])

    def leaves(returns):
        for key, spec in returns.items():
            if 'contains' in spec:
                for sub in leaves(spec['contains']):
                    yield '%s.%s' % (key, sub[0]), sub[1]
            else:
                yield key, spec
    assert [key for key, spec in leaves(data['return']) if 'sample' not in spec] == []
    assert 'C(******** (changed))' not in json.dumps(data['doc'])  # markup that broke rendering


def test_action_group_reaches_both_modules():
    with open(os.path.join(REPO, 'meta', 'runtime.yml')) as handle:
        runtime = yaml.safe_load(handle)
    assert sorted(runtime['action_groups']['smtp']) == ['smtp_config', 'smtp_test']
    assert runtime['requires_ansible'] == '>=2.16.0'

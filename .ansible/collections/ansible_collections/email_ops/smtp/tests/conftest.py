"""Make the collection importable as ansible_collections.email_ops.smtp, and the test bed as tests.testbed."""
import hashlib
import os
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One link folder per checkout, so two checkouts' test runs never point at each other's code.
COLLECTIONS_ROOT = os.path.join(tempfile.gettempdir(), 'email_ops_smtp_collections_%d_%s' % (
    os.getuid(), hashlib.sha1(REPO.encode()).hexdigest()[:10]))


def _link_collection():
    ns_dir = os.path.join(COLLECTIONS_ROOT, 'ansible_collections', 'email_ops')
    os.makedirs(ns_dir, exist_ok=True)
    link = os.path.join(ns_dir, 'smtp')
    if os.path.islink(link) and os.readlink(link) == REPO:
        return
    tmp = link + '.%d' % os.getpid()
    os.symlink(REPO, tmp)
    os.replace(tmp, link)


_link_collection()
os.environ['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_ROOT
for path in (COLLECTIONS_ROOT, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)

# Fixtures of the test bed, available to every test (imported here so test files need no unused imports).
from tests.testbed.ansible import ansible  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from tests.testbed.pki import pki  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from tests.testbed.postfix import postfix  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from tests.testbed.sshd import sshd  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from tests.testbed.capture import capture_server  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
from tests.testbed.faults import faults  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position


@pytest.fixture
def mailbox(postfix):
    """The Postfix test bed with an empty mailbox."""
    postfix.clear()
    return postfix

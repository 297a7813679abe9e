"""A certificate authority made for the test run (trustme), and the certificates servers present."""
import datetime
import os

import pytest
import trustme


class Pki:
    """CA + leaf certificates written as PEM files under `directory`."""

    def __init__(self, directory):
        self.directory = directory
        self.ca = trustme.CA(organization_name='email_ops test CA')
        self.ca_file = self._write('ca.pem', self.ca.cert_pem.bytes())
        self.server = self.issue('server', 'localhost', '127.0.0.1', '::1')

    def _write(self, name, data):
        path = os.path.join(self.directory, name)
        with open(path, 'wb') as handle:
            handle.write(data)
        return path

    def issue(self, name, *identities, not_before=None, not_after=None):
        """Return (cert_file, key_file) of a leaf for `identities`, chain included in cert_file."""
        leaf = self.ca.issue_cert(*identities, not_before=not_before, not_after=not_after)
        cert = b''.join(blob.bytes() for blob in leaf.cert_chain_pems)
        return (self._write(name + '.crt', cert), self._write(name + '.key', leaf.private_key_pem.bytes()))

    def expired(self, name, *identities):
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.issue(name, *identities, not_before=now - datetime.timedelta(days=30),
                          not_after=now - datetime.timedelta(days=1))

    def server_context(self, cert_and_key=None):
        import ssl
        cert_file, key_file = cert_and_key or self.server
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp('pki')))

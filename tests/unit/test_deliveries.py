"""verify_deliveries once: the claim hosts of one run take on the controller. Pure file logic, a temp dir."""
import os

from ansible_collections.email_ops.smtp.plugins.plugin_utils._deliveries import DeliveryClaim

SETTINGS = dict(host='smtp.example.com', port=587, username='app@example.com', password='S3cr3t-Pa55',
                from_email='app@example.com', test_email='ops@example.com')


def test_the_first_host_delivers_and_the_others_probe(tmp_path):
    first, second = DeliveryClaim(str(tmp_path), SETTINGS), DeliveryClaim(str(tmp_path), SETTINGS)
    assert first.take() and not second.take()
    first.settle(delivered=True)
    assert not DeliveryClaim(str(tmp_path), SETTINGS).take()


def test_test_email_aside_one_document_and_another_document_its_own_turn(tmp_path):
    assert DeliveryClaim(str(tmp_path), SETTINGS).take()
    assert not DeliveryClaim(str(tmp_path), dict(SETTINGS, test_email='other@example.com')).take()
    assert DeliveryClaim(str(tmp_path), dict(SETTINGS, from_email='billing@example.com')).take()


def test_a_host_that_did_not_deliver_leaves_the_turn_to_a_later_one(tmp_path):
    unchanged = DeliveryClaim(str(tmp_path), SETTINGS)
    assert unchanged.take()
    unchanged.settle(delivered=False)
    later = DeliveryClaim(str(tmp_path), SETTINGS)
    assert later.take()
    later.settle(delivered=True)
    unchanged.settle(delivered=False)  # settling twice gives up nothing it no longer holds
    assert not DeliveryClaim(str(tmp_path), SETTINGS).take()


def test_a_run_of_its_own_delivers_again_and_no_name_carries_the_password(tmp_path):
    for run in ('ansible-local-1', 'ansible-local-2'):
        os.makedirs(str(tmp_path / run))
        assert DeliveryClaim(str(tmp_path / run), SETTINGS).take()
    names = os.listdir(str(tmp_path / 'ansible-local-1')) + os.listdir(str(tmp_path / 'ansible-local-2'))
    assert len(set(names)) == 2 and not any(SETTINGS['password'] in name for name in names)

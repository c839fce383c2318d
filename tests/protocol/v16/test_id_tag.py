from evcsms.domain.model import OcppVersion, TokenStatus
from evcsms.domain.tokens import TokenDecision
from evcsms.protocol.v16.id_tag import id_tag_info
from evcsms.protocol.validation import validate
from tests.conftest import T0


def test_every_token_status_is_a_valid_1_6_status():
    for status in TokenStatus:
        info = id_tag_info(TokenDecision(status, T0, "PARENT"))
        validate(OcppVersion.V16, "Authorize", {"idTagInfo": info}, response=True)
        assert info == {"status": status.value, "expiryDate": "2026-03-02T09:00:00Z", "parentIdTag": "PARENT"}


def test_concurrent_tx_is_sent_as_is():
    assert id_tag_info(TokenDecision(TokenStatus.CONCURRENT_TX)) == {"status": "ConcurrentTx"}

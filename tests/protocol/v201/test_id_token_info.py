from evcsms.domain.model import OcppVersion, TokenStatus
from evcsms.domain.tokens import TokenDecision
from evcsms.protocol.v201.id_token_info import id_token_info
from evcsms.protocol.validation import validate
from tests.conftest import T0


def test_every_token_status_is_a_2_0_1_authorization_status():
    for status in TokenStatus:
        info = id_token_info(TokenDecision(status, T0, "G" * 36))
        validate(OcppVersion.V201, "Authorize", {"idTokenInfo": info}, response=True)
        assert info["status"] == status.value


def test_without_expiry_or_group_only_the_status_is_sent():
    assert id_token_info(TokenDecision(TokenStatus.CONCURRENT_TX)) == {"status": "ConcurrentTx"}

"""2.0.1 IdTokenInfoType from a neutral token decision (Authorize and TransactionEvent replies)."""

from __future__ import annotations

from evcsms.domain.model import TokenStatus
from evcsms.domain.tokens import TokenDecision
from evcsms.protocol.context import Payload, format_timestamp

# Neutral status -> 2.0.1 AuthorizationStatusEnumType. 2.0.1 also has "Unknown" (a token the
# CSMS has never seen); the decision does not tell that apart from Invalid, so it is not sent.
AUTHORIZATION_STATUS: dict[TokenStatus, str] = {
    TokenStatus.ACCEPTED: "Accepted",
    TokenStatus.BLOCKED: "Blocked",
    TokenStatus.EXPIRED: "Expired",
    TokenStatus.INVALID: "Invalid",
    TokenStatus.CONCURRENT_TX: "ConcurrentTx",
}


def id_token_info(decision: TokenDecision) -> Payload:
    info: Payload = {"status": AUTHORIZATION_STATUS[decision.status]}
    if decision.expires_at is not None:
        info["cacheExpiryDateTime"] = format_timestamp(decision.expires_at)
    if decision.group_id:
        info["groupIdToken"] = {"idToken": decision.group_id, "type": "Central"}
    return info

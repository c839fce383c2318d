"""Authorisation decisions for id tokens (RFID cards, app tokens, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from evcsms.domain.model import TokenStatus


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the CSMS knows about an id token."""

    token: str
    status: TokenStatus
    expires_at: datetime | None = None
    group_id: str | None = None
    max_concurrent_sessions: int | None = None


@dataclass(frozen=True, slots=True)
class TokenDecision:
    status: TokenStatus
    expires_at: datetime | None = None
    group_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is TokenStatus.ACCEPTED


def decide(
    record: TokenRecord | None,
    *,
    now: datetime,
    active_sessions: int = 0,
    starting: bool = False,
) -> TokenDecision:
    """Decide whether `record` may charge now.

    Unknown tokens are Invalid. A token past its expiry is Expired whatever its
    stored status. When `starting` a new session, a token already holding its
    maximum number of concurrent sessions gets ConcurrentTx.
    """
    if record is None:
        return TokenDecision(TokenStatus.INVALID)
    status = record.status
    if status is TokenStatus.ACCEPTED and record.expires_at is not None and record.expires_at <= now:
        status = TokenStatus.EXPIRED
    if (
        status is TokenStatus.ACCEPTED
        and starting
        and record.max_concurrent_sessions is not None
        and active_sessions >= record.max_concurrent_sessions
    ):
        status = TokenStatus.CONCURRENT_TX
    return TokenDecision(status, record.expires_at, record.group_id)

"""What a handler gets besides the payload: who is talking, in which version, and the services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.services.container import Services

Payload = dict[str, Any]


@dataclass(slots=True)
class StationContext:
    station_id: str
    version: OcppVersion
    services: Services

    def now(self) -> datetime:
        return self.services.clock.now()


Handler = Callable[[StationContext, Payload], Awaitable[Payload]]
Routes = Mapping[str, Handler]


def parse_timestamp(value: str, field: str) -> datetime:
    """An OCPP dateTime as aware UTC; a naive one is read as UTC. Bad input -> CallError."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise PropertyConstraintCallError(f"{field} is not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

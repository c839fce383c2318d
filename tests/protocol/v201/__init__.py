"""Tests of the OCPP 2.0.1 handlers and command translation, one file per module.

`call` plays the gateway's part around a handler: the request must fit the official
2.0.1 schema, and so must the reply.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.validation import validate
from evcsms.services.container import Services

STATION = "CS1"


def action_of(module: ModuleType) -> str:
    """boot_notification -> BootNotification: a handler module is named after its action."""
    return "".join(word.capitalize() for word in module.__name__.rsplit(".", 1)[1].split("_"))


async def new_station(services: Services, station_id: str = STATION) -> StationContext:
    await services.stations.create(station_id, password=None)
    return StationContext(station_id, OcppVersion.V201, services)


async def call(module: ModuleType, ctx: StationContext, payload: dict[str, Any]) -> Any:
    action = action_of(module)
    validate(OcppVersion.V201, action, payload)
    reply = await module.handle(ctx, payload)
    validate(OcppVersion.V201, action, reply, response=True)
    return reply

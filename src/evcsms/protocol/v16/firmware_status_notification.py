"""1.6 FirmwareStatusNotification: progress of a firmware update, kept as an event."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(ctx.station_id, "firmware_status", ctx.now(), payload)
    return {}

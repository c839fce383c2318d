"""2.0.1 FirmwareStatusNotification: progress of a firmware update."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # The message has no timestamp: it is stamped when received.
    await ctx.services.stations.record_event(
        ctx.station_id, "firmware_status", ctx.now(), payload
    )
    return {}

"""2.0.1 LogStatusNotification: progress of a log upload asked for with GetLog."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # The message has no timestamp: it is stamped when received.
    await ctx.services.stations.record_event(ctx.station_id, "log_status", ctx.now(), payload)
    return {}

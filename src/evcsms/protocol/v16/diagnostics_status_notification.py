"""1.6 DiagnosticsStatusNotification: progress of a diagnostics upload, kept as an event."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(
        ctx.station_id, "diagnostics_status", ctx.now(), payload
    )
    return {}

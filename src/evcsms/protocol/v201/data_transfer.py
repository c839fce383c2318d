"""2.0.1 DataTransfer from a station: kept for inspection; no vendor extension is known."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(ctx.station_id, "data_transfer", ctx.now(), payload)
    return {"status": "UnknownVendorId"}

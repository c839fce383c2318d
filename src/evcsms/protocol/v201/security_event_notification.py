"""2.0.1 SecurityEventNotification: a security-related event, kept for the operator."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    at = parse_timestamp(payload["timestamp"], "timestamp")
    await ctx.services.stations.record_event(ctx.station_id, "security_event", at, payload)
    return {}

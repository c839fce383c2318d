"""2.0.1 NotifyEvent: monitoring events (faults, alerts, value changes) are kept as they come,
and diagnostics turns the faults among them into incidents (`faults.monitoring_event`)."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # A report may come in several frames (seqNo, tbc); each frame is one stored event.
    at = parse_timestamp(payload["generatedAt"], "generatedAt")
    await ctx.services.stations.notify_event(ctx.station_id, at, payload)
    return {}

"""2.0.1 LogStatusNotification: progress of a log upload asked for with GetLog.

Kept as an event, and applied to the log upload whose id is the requestId (without one,
as on a TriggerMessage, the station's newest upload; `services/log_uploads.py`).
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # The message has no timestamp: it is stamped when received.
    await ctx.services.stations.record_event(ctx.station_id, "log_status", ctx.now(), payload)
    await ctx.services.log_uploads.station_status(
        ctx.station_id, payload["status"], payload.get("requestId"))
    return {}

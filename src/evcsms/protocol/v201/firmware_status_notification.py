"""2.0.1 FirmwareStatusNotification: progress of a firmware update.

Kept as an event, and applied to the firmware update whose id is the requestId (without
one, as on a TriggerMessage, the station's newest unfinished update): see
`domain/firmware.py` and `services/firmware.py`.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # The message has no timestamp: it is stamped when received.
    await ctx.services.stations.record_event(
        ctx.station_id, "firmware_status", ctx.now(), payload
    )
    await ctx.services.firmware.station_status(
        ctx.station_id, payload["status"], payload.get("requestId"))
    return {}

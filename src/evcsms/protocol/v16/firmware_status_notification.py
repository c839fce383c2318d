"""1.6 FirmwareStatusNotification: progress of a firmware update.

Kept as an event, and applied to the station's newest unfinished firmware update (1.6
names no request): `domain/firmware.py` decides what the status means,
`services/firmware.py` keeps the record and its timeline.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(ctx.station_id, "firmware_status", ctx.now(), payload)
    await ctx.services.firmware.station_status(ctx.station_id, payload["status"], None)
    return {}

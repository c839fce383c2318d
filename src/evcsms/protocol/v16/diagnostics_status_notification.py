"""1.6 DiagnosticsStatusNotification: progress of a diagnostics upload (GetDiagnostics).

Kept as an event, and applied to the station's newest log upload (1.6 names no request;
a station runs one upload at a time): Uploading, UploadFailed and Uploaded move it on
(`services/log_uploads.py`).
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(
        ctx.station_id, "diagnostics_status", ctx.now(), payload
    )
    await ctx.services.log_uploads.station_status(ctx.station_id, payload["status"], None)
    return {}

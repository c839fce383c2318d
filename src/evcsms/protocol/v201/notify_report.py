"""2.0.1 NotifyReport: the station's device model, answering GetBaseReport / GetReport.

A report is chunked (requestId, seqNo, tbc). Each chunk is kept as one station event, as
it came, and folded into the stored device model: one row per component, variable and
attribute type (`domain/device_model.py`, `services/device_model.py`).
"""

from __future__ import annotations

from evcsms.domain.device_model import from_report
from evcsms.protocol.context import Payload, StationContext, parse_timestamp


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    at = parse_timestamp(payload["generatedAt"], "generatedAt")
    variables = from_report(payload.get("reportData") or [])
    await ctx.services.stations.record_event(ctx.station_id, "notify_report", at, payload)
    await ctx.services.device_model.store(ctx.station_id, variables, "notify_report")
    return {}

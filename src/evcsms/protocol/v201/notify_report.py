"""2.0.1 NotifyReport: the station's device model, answering GetBaseReport / GetReport.

A report is chunked (requestId, seqNo, tbc); each chunk is kept as one station event, as it
came. Folding the chunks into a queryable device-model table (component, variable,
attributes) is future work.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    at = parse_timestamp(payload["generatedAt"], "generatedAt")
    await ctx.services.stations.record_event(ctx.station_id, "notify_report", at, payload)
    return {}

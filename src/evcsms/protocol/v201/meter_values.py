"""2.0.1 MeterValues: samples outside a transaction (transaction samples come in
TransactionEvent); evseId 0 is the station's main meter."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext
from evcsms.protocol.v201.fields import checked_int, meter_samples


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    evse_id = checked_int(payload["evseId"], "evseId")
    samples = meter_samples(payload["meterValue"])
    await ctx.services.sessions.meter_values(ctx.station_id, evse_id, samples)
    return {}

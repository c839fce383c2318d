"""1.6 StartTransaction: open a session; a re-sent start gets the transaction id it got before."""

from __future__ import annotations

from decimal import Decimal

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.protocol.v16.id_tag import id_tag_info
from evcsms.services.sessions import StartTransaction


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    msg = StartTransaction(
        station_id=ctx.station_id,
        connector_id=payload["connectorId"],
        id_tag=payload["idTag"],
        meter_start_wh=Decimal(payload["meterStart"]),
        timestamp=parse_timestamp(payload["timestamp"], "timestamp"),
        reservation_id=payload.get("reservationId"),
    )
    result = await ctx.services.sessions.start_v16(msg)
    return {"transactionId": result.transaction_id, "idTagInfo": id_tag_info(result.decision)}

"""1.6 StopTransaction: close the session with its final meter reading and samples.

An unknown transactionId is answered like a known one (the station would otherwise
re-send it forever); the service records it as an `unknown_transaction_stop` event.
"""

from __future__ import annotations

from decimal import Decimal

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.protocol.v16.id_tag import id_tag_info
from evcsms.protocol.v16.meter_values import parse_samples
from evcsms.services.sessions import StopTransaction


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    msg = StopTransaction(
        station_id=ctx.station_id,
        transaction_id=payload["transactionId"],
        meter_stop_wh=Decimal(payload["meterStop"]),
        timestamp=parse_timestamp(payload["timestamp"], "timestamp"),
        reason=payload.get("reason"),
        id_tag=payload.get("idTag"),
        samples=parse_samples(payload.get("transactionData", []), "transactionData"),
    )
    decision = await ctx.services.sessions.stop_v16(msg)
    return {} if decision is None else {"idTagInfo": id_tag_info(decision)}

"""2.0.1 TransactionEvent: a transaction starts, changes or ends, with its meter values.

The service keys the session on the station's transactionId and drops a re-sent seqNo, so
events may arrive twice or out of order. The reply carries idTokenInfo when the event named
an id token; a NoAuthorization token (free vend, empty idToken) names nobody and is not
looked up. For Updated and Ended events of a session with a tariff, the reply also carries
`totalCost`: its cost so far incl. taxes (a JSON number; the amount is already rounded to
the currency's minor unit, so the float carries it exactly as text).
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.protocol.v201.fields import checked_int, meter_samples
from evcsms.protocol.v201.id_token_info import id_token_info
from evcsms.services.sessions import TransactionEvent


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    event = _event(ctx.station_id, payload)
    decision, session_id = await ctx.services.sessions.transaction_event(event)
    answer: Payload = {} if decision is None else {"idTokenInfo": id_token_info(decision)}
    if event.event_type in ("Updated", "Ended") and session_id:
        # the running cost incl. taxes, for stations with a display (OCPP 2.0.1 E02/I02)
        cost = await ctx.services.billing.session_cost(session_id)
        if cost is not None and cost.quote.total_cost.incl_vat is not None:
            answer["totalCost"] = float(cost.quote.total_cost.incl_vat)
    return answer


def _event(station_id: str, payload: Payload) -> TransactionEvent:
    info = payload["transactionInfo"]
    evse = payload.get("evse")
    token = payload.get("idToken")
    connector = evse.get("connectorId") if evse else None
    return TransactionEvent(
        station_id=station_id,
        event_type=payload["eventType"],
        timestamp=parse_timestamp(payload["timestamp"], "timestamp"),
        trigger_reason=payload["triggerReason"],
        seq_no=checked_int(payload["seqNo"], "seqNo"),
        transaction_ref=info["transactionId"],
        offline=payload.get("offline", False),
        evse_id=checked_int(evse["id"], "evse.id", minimum=1) if evse else None,
        connector_id=None if connector is None else checked_int(connector, "evse.connectorId"),
        id_token=token["idToken"] if token and token["type"] != "NoAuthorization" else None,
        stopped_reason=info.get("stoppedReason"),
        charging_state=info.get("chargingState"),
        samples=meter_samples(payload.get("meterValue", [])),
        reservation_id=payload.get("reservationId"),
    )

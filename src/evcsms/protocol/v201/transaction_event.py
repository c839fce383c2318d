"""2.0.1 TransactionEvent: a transaction starts, changes or ends, with its meter values.

The service keys the session on the station's transactionId and drops a re-sent seqNo, so
events may arrive twice or out of order. The reply carries idTokenInfo when the event named
an id token; a NoAuthorization token (free vend, empty idToken) names nobody and is not
looked up.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.protocol.v201.fields import checked_int, meter_samples
from evcsms.protocol.v201.id_token_info import id_token_info
from evcsms.services.sessions import TransactionEvent


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    decision = await ctx.services.sessions.transaction_event(_event(ctx.station_id, payload))
    return {} if decision is None else {"idTokenInfo": id_token_info(decision)}


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
    )

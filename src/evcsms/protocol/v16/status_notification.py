"""1.6 StatusNotification: keep the connector's (or, for connectorId 0, the station's) status.

1.6 has one connector per "connector id"; it maps to EVSE `connectorId`, connector 1.
Connector id 0 is the station as a whole and is stored as EVSE 0, connector 0.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.services.stations import ConnectorStatus


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    connector_id: int = payload["connectorId"]
    at = (
        parse_timestamp(payload["timestamp"], "timestamp")
        if "timestamp" in payload
        else ctx.now()
    )
    status = ConnectorStatus(
        evse_id=connector_id,
        connector_id=1 if connector_id > 0 else 0,
        status=payload["status"],
        error_code=payload["errorCode"],
        vendor_error_code=payload.get("vendorErrorCode"),
        info=payload.get("info"),
    )
    await ctx.services.stations.connector_status(ctx.station_id, status, at)
    return {}

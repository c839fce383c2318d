"""2.0.1 StatusNotification: the live status of one connector of one EVSE.

2.0.1 carries no error code here (faults arrive as NotifyEvent), so only the status is kept.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, parse_timestamp
from evcsms.protocol.v201.fields import checked_int
from evcsms.services.stations import ConnectorStatus


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    status = ConnectorStatus(
        evse_id=checked_int(payload["evseId"], "evseId", minimum=0),
        connector_id=checked_int(payload["connectorId"], "connectorId", minimum=0),
        status=payload["connectorStatus"],
    )
    at = parse_timestamp(payload["timestamp"], "timestamp")
    await ctx.services.stations.connector_status(ctx.station_id, status, at)
    return {}

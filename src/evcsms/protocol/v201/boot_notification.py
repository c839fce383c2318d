"""2.0.1 BootNotification: store what the station says it is; answer with its registration."""

from __future__ import annotations

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import Payload, StationContext, format_timestamp
from evcsms.services.stations import BootInfo


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    station = payload["chargingStation"]
    info = BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        serial_number=station.get("serialNumber"),
        firmware_version=station.get("firmwareVersion"),
        reason=payload["reason"],
        ocpp_version=OcppVersion.V201.value,
        payload=payload,
    )
    result = await ctx.services.stations.boot(ctx.station_id, info)
    return {
        "status": result.registration.value,
        "currentTime": format_timestamp(ctx.now()),
        "interval": result.interval,
    }

"""1.6 BootNotification: record what the station says it is; answer with its registration."""

from __future__ import annotations

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import Payload, StationContext, format_timestamp
from evcsms.services.stations import BootInfo


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    serial = payload.get("chargePointSerialNumber") or payload.get("chargeBoxSerialNumber")
    info = BootInfo(
        vendor=payload["chargePointVendor"],
        model=payload["chargePointModel"],
        serial_number=serial,
        firmware_version=payload.get("firmwareVersion"),
        reason=None,  # 1.6 does not say why it booted
        ocpp_version=OcppVersion.V16.value,
        payload=payload,
    )
    result = await ctx.services.stations.boot(ctx.station_id, info)
    return {
        "status": result.registration.value,
        "currentTime": format_timestamp(ctx.now()),
        "interval": result.interval,
    }

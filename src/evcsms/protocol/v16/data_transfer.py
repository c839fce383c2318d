"""1.6 DataTransfer (station -> CSMS): kept as an event, answered UnknownVendorId.

evcsms implements no vendor extensions, so every vendorId is unknown to it; the
message is still stored so an operator can see what the station tried to say.
"""

from __future__ import annotations

from ocpp.v16.enums import DataTransferStatus

from evcsms.protocol.context import Payload, StationContext


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    await ctx.services.stations.record_event(ctx.station_id, "data_transfer", ctx.now(), payload)
    return {"status": DataTransferStatus.unknown_vendor_id.value}

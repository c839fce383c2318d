import pytest

from evcsms.domain.model import OcppVersion, Registration
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import boot_notification
from evcsms.protocol.validation import validate
from tests.conftest import T0

BOOT = {
    "chargePointVendor": "ACME", "chargePointModel": "X1", "chargePointSerialNumber": "SN-1",
    "chargeBoxSerialNumber": "BOX-1", "firmwareVersion": "1.2.3",
}


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def test_accepted_station_gets_interval_and_time(ctx):
    reply = await boot_notification.handle(ctx, BOOT)
    validate(OcppVersion.V16, "BootNotification", reply, response=True)
    assert reply == {"status": "Accepted", "currentTime": "2026-03-02T09:00:00Z", "interval": 60}


async def test_what_the_station_says_is_stored(ctx):
    await boot_notification.handle(ctx, BOOT)
    row, _ = await ctx.services.stations.get("CP1")
    assert (row.vendor, row.model, row.serial_number, row.firmware_version) == (
        "ACME", "X1", "SN-1", "1.2.3"
    )
    assert (row.ocpp_version, row.last_boot_at) == ("1.6", T0)
    [event] = await ctx.services.stations.events("CP1", kind="boot", limit=10)
    assert event.payload == BOOT


async def test_charge_box_serial_is_the_fallback(ctx):
    payload = {"chargePointVendor": "ACME", "chargePointModel": "X1", "chargeBoxSerialNumber": "B7"}
    await boot_notification.handle(ctx, payload)
    row, _ = await ctx.services.stations.get("CP1")
    assert (row.serial_number, row.firmware_version) == ("B7", None)


async def test_pending_station_is_told_pending(ctx):
    await ctx.services.stations.update("CP1", registration=Registration.PENDING)
    reply = await boot_notification.handle(ctx, BOOT)
    validate(OcppVersion.V16, "BootNotification", reply, response=True)
    assert reply["status"] == "Pending"

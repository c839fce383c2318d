import pytest

from evcsms.domain.model import Registration
from evcsms.protocol.v201 import boot_notification
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station

BOOT = {
    "reason": "PowerUp",
    "chargingStation": {
        "vendorName": "ACME", "model": "X2", "serialNumber": "SN-9", "firmwareVersion": "2.0.0",
        "modem": {"iccid": "8931", "imsi": "2040"},
    },
}


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_accepted_station_gets_interval_and_time(ctx):
    assert await call(boot_notification, ctx, BOOT) == {
        "status": "Accepted", "currentTime": "2026-03-02T09:00:00Z", "interval": 60,
    }


async def test_what_the_station_says_is_stored(ctx):
    await call(boot_notification, ctx, BOOT)
    row, _ = await ctx.services.stations.get(STATION)
    assert (row.vendor, row.model, row.serial_number, row.firmware_version) == (
        "ACME", "X2", "SN-9", "2.0.0"
    )
    assert (row.ocpp_version, row.boot_reason, row.last_boot_at) == ("2.0.1", "PowerUp", T0)
    [event] = await ctx.services.stations.events(STATION, kind="boot", limit=10)
    assert event.payload == BOOT


async def test_optional_fields_may_be_absent(ctx):
    payload = {"reason": "Watchdog", "chargingStation": {"vendorName": "ACME", "model": "X2"}}
    await call(boot_notification, ctx, payload)
    row, _ = await ctx.services.stations.get(STATION)
    assert (row.serial_number, row.firmware_version, row.boot_reason) == (None, None, "Watchdog")


@pytest.mark.parametrize("registration", [Registration.PENDING, Registration.REJECTED])
async def test_station_is_told_its_registration(ctx, registration):
    await ctx.services.stations.update(STATION, registration=registration)
    reply = await call(boot_notification, ctx, BOOT)
    assert (reply["status"], reply["interval"]) == (registration.value, 60)

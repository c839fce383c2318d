import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import firmware_status_notification
from evcsms.protocol.validation import validate
from tests.conftest import T0


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def test_status_is_kept_as_an_event(ctx):
    reply = await firmware_status_notification.handle(ctx, {"status": "Installed"})
    validate(OcppVersion.V16, "FirmwareStatusNotification", reply, response=True)
    assert reply == {}
    [event] = await ctx.services.stations.events("CP1", kind="firmware_status", limit=10)
    assert (event.timestamp, event.payload) == (T0, {"status": "Installed"})

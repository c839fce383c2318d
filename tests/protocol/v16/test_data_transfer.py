import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import data_transfer
from evcsms.protocol.validation import validate
from tests.conftest import T0


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def test_kept_and_answered_unknown_vendor(ctx):
    payload = {"vendorId": "com.acme", "messageId": "Hello", "data": "{\"x\": 1}"}
    reply = await data_transfer.handle(ctx, payload)
    validate(OcppVersion.V16, "DataTransfer", reply, response=True)
    assert reply == {"status": "UnknownVendorId"}
    [event] = await ctx.services.stations.events("CP1", kind="data_transfer", limit=10)
    assert (event.timestamp, event.payload) == (T0, payload)

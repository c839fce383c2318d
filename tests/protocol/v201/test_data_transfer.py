import pytest

from evcsms.protocol.v201 import data_transfer
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_vendor_data_is_kept_and_the_vendor_is_unknown(ctx):
    payload = {"vendorId": "com.acme", "messageId": "diag", "data": {"temp": [41, 42]}}
    assert await call(data_transfer, ctx, payload) == {"status": "UnknownVendorId"}
    [row] = await ctx.services.stations.events(STATION, kind="data_transfer", limit=10)
    assert (row.timestamp, row.payload) == (T0, payload)

import pytest

from evcsms.protocol.v201 import log_status_notification
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_status_is_kept_with_the_time_it_arrived(ctx):
    payload = {"status": "Uploaded", "requestId": 3}
    assert await call(log_status_notification, ctx, payload) == {}
    [row] = await ctx.services.stations.events(STATION, kind="log_status", limit=10)
    assert (row.timestamp, row.payload) == (T0, payload)

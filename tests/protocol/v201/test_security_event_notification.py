import pytest

from evcsms.protocol.v201 import security_event_notification
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_security_event_is_kept_at_its_time(ctx):
    payload = {"type": "InvalidCsmsCertificate", "timestamp": "2026-03-02T10:00:00+01:00",
               "techInfo": "chain incomplete"}
    assert await call(security_event_notification, ctx, payload) == {}
    [row] = await ctx.services.stations.events(STATION, kind="security_event", limit=10)
    assert (row.timestamp, row.payload) == (T0, payload)

import pytest

from evcsms.protocol.v201 import firmware_status_notification
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_each_status_is_kept_with_the_time_it_arrived(ctx, clock):
    for status in ("Downloading", "Installed"):
        payload = {"status": status, "requestId": 8}
        assert await call(firmware_status_notification, ctx, payload) == {}
        clock.advance(60)
    rows = await ctx.services.stations.events(STATION, kind="firmware_status", limit=10)
    assert [(r.timestamp, r.payload["status"]) for r in rows] == [
        (T0.replace(minute=1), "Installed"), (T0, "Downloading"),
    ]

import pytest

from evcsms.protocol.v201 import notify_event
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station

EVENT = {
    "generatedAt": "2026-03-02T08:00:00Z", "seqNo": 0, "tbc": False,
    "eventData": [{
        "eventId": 17, "timestamp": "2026-03-02T07:59:58Z", "trigger": "Alerting",
        "actualValue": "true", "techCode": "GF-1", "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"},
    }],
}


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_event_is_kept_at_its_generation_time(ctx, clock):
    clock.advance(3600)
    assert await call(notify_event, ctx, EVENT) == {}
    [row] = await ctx.services.stations.events(STATION, kind="notify_event", limit=10)
    assert (row.timestamp, row.payload) == (T0.replace(hour=8), EVENT)

import pytest

from evcsms.protocol.v201 import heartbeat
from tests.protocol.v201 import call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_answer_is_our_clock(ctx, clock):
    assert await call(heartbeat, ctx, {}) == {"currentTime": "2026-03-02T09:00:00Z"}
    clock.advance(90)
    assert await call(heartbeat, ctx, {}) == {"currentTime": "2026-03-02T09:01:30Z"}

import pytest

from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v201 import status_notification
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


def _status(evse_id, connector_id, status, timestamp="2026-03-02T08:59:00Z"):
    return {
        "timestamp": timestamp, "connectorStatus": status, "evseId": evse_id,
        "connectorId": connector_id,
    }


async def _connectors(ctx):
    _, connectors = await ctx.services.stations.get(STATION)
    return [(c.evse_id, c.connector_id, c.status, c.status_at) for c in connectors]


async def test_status_is_stored_per_evse_and_connector(ctx):
    assert await call(status_notification, ctx, _status(1, 1, "Available")) == {}
    await call(status_notification, ctx, _status(2, 1, "Occupied", "2026-03-02T09:00:00+00:00"))
    await call(status_notification, ctx, _status(1, 1, "Faulted", "2026-03-02T10:00:00+01:00"))
    assert await _connectors(ctx) == [(1, 1, "Faulted", T0), (2, 1, "Occupied", T0)]


async def test_negative_ids_are_refused_and_nothing_is_stored(ctx):
    with pytest.raises(PropertyConstraintCallError, match="evseId"):
        await call(status_notification, ctx, _status(-1, 1, "Available"))
    with pytest.raises(PropertyConstraintCallError, match="connectorId"):
        await call(status_notification, ctx, _status(1, 2**31, "Available"))
    assert await _connectors(ctx) == []

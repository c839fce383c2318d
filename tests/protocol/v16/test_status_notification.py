from datetime import UTC, datetime

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v16 import status_notification
from evcsms.protocol.validation import validate
from tests.conftest import T0


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def _connectors(ctx):
    _, rows = await ctx.services.stations.get("CP1")
    return [
        (c.evse_id, c.connector_id, c.status, c.error_code, c.vendor_error_code, c.info, c.status_at)
        for c in rows
    ]


async def test_connector_n_is_evse_n_connector_1(ctx):
    reply = await status_notification.handle(ctx, {
        "connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted",
        "timestamp": "2026-03-02T08:59:30+01:00", "vendorErrorCode": "E42", "info": "RCD tripped",
    })
    validate(OcppVersion.V16, "StatusNotification", reply, response=True)
    assert reply == {}
    at = datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)
    assert await _connectors(ctx) == [(2, 1, "Faulted", "GroundFailure", "E42", "RCD tripped", at)]


async def test_connector_0_is_the_station_and_time_defaults_to_now(ctx):
    await status_notification.handle(ctx, {"connectorId": 0, "errorCode": "NoError", "status": "Available"})
    assert await _connectors(ctx) == [(0, 0, "Available", "NoError", None, None, T0)]


async def test_a_later_status_replaces_the_earlier(ctx):
    for status in ("Preparing", "Charging"):
        await status_notification.handle(ctx, {"connectorId": 1, "errorCode": "NoError", "status": status})
    assert [c[2] for c in await _connectors(ctx)] == ["Charging"]


async def test_bad_timestamp_is_a_property_constraint_error_and_nothing_is_stored(ctx):
    with pytest.raises(PropertyConstraintCallError, match="timestamp"):
        await status_notification.handle(ctx, {
            "connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "yesterday",
        })
    assert await _connectors(ctx) == []

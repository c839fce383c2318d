from datetime import timedelta
from decimal import Decimal

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v16 import start_transaction
from evcsms.protocol.validation import validate
from tests.conftest import T0

START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2026-03-02T08:59:00Z"}


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def _start(ctx, payload=START):
    reply = await start_transaction.handle(ctx, payload)
    validate(OcppVersion.V16, "StartTransaction", reply, response=True)
    return reply


async def test_session_is_opened_with_the_meter_start(ctx):
    await ctx.services.tokens.create("TAG1")
    reply = await _start(ctx)
    assert reply["idTagInfo"] == {"status": "Accepted"}
    session = await ctx.services.sessions.get(reply["transactionId"])
    assert (session.station_id, session.evse_id, session.id_token, session.status) == (
        "CP1", 1, "TAG1", "active"
    )
    assert session.meter_start_wh == Decimal(1000)
    assert session.started_at == T0 - timedelta(minutes=1)
    assert session.transaction_ref == str(reply["transactionId"])


async def test_a_resent_start_gets_the_same_transaction_id(ctx):
    await ctx.services.tokens.create("TAG1", max_concurrent_sessions=1)
    first = await _start(ctx)
    again = await _start(ctx)
    assert again == first  # and not ConcurrentTx: the repeat is the same session


async def test_unknown_token_still_gets_a_transaction_id(ctx):
    reply = await _start(ctx)
    assert reply["idTagInfo"] == {"status": "Invalid"}
    assert await ctx.services.sessions.get(reply["transactionId"]) is not None


async def test_token_at_its_session_limit_gets_concurrent_tx(ctx):
    await ctx.services.tokens.create("TAG1", max_concurrent_sessions=1)
    await _start(ctx)
    second = await _start(ctx, {**START, "connectorId": 2, "timestamp": "2026-03-02T09:00:00Z"})
    assert second["idTagInfo"] == {"status": "ConcurrentTx"}


async def test_blocked_token(ctx):
    await ctx.services.tokens.create("TAG1", status="Blocked")
    assert (await _start(ctx))["idTagInfo"] == {"status": "Blocked"}


async def test_bad_timestamp_is_refused_and_nothing_is_stored(ctx):
    with pytest.raises(PropertyConstraintCallError, match="timestamp"):
        await start_transaction.handle(ctx, {**START, "timestamp": "2026-13-45T99:00:00Z"})
    assert await ctx.services.sessions.get(1) is None

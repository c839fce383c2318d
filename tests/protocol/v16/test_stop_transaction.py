from datetime import UTC, datetime
from decimal import Decimal

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v16 import start_transaction, stop_transaction
from evcsms.protocol.validation import validate

START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2026-03-02T08:59:00Z"}
REGISTER = {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    await services.tokens.create("TAG1")
    return StationContext("CP1", OcppVersion.V16, services)


async def _start(ctx):
    return (await start_transaction.handle(ctx, START))["transactionId"]


async def _stop(ctx, payload):
    reply = await stop_transaction.handle(ctx, payload)
    validate(OcppVersion.V16, "StopTransaction", reply, response=True)
    return reply


async def test_transaction_data_is_stored_and_energy_counted(ctx):
    tx = await _start(ctx)
    reply = await _stop(ctx, {
        "transactionId": tx, "meterStop": 2000, "timestamp": "2026-03-02T09:20:00Z",
        "reason": "EVDisconnected",
        "transactionData": [{"timestamp": "2026-03-02T09:10:00Z", "sampledValue": [
            {"value": "1500", "context": "Sample.Periodic", **REGISTER},
            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
        ]}],
    })
    assert reply == {}
    session = await ctx.services.sessions.get(tx)
    assert (session.status, session.stop_reason, session.meter_stop_wh, session.energy_wh) == (
        "completed", "EVDisconnected", Decimal(2000), Decimal(1000)
    )
    assert session.stopped_at == datetime(2026, 3, 2, 9, 20, tzinfo=UTC)
    rows = await ctx.services.sessions.samples(tx)
    assert sorted((r.measurand, r.value, r.unit) for r in rows) == [
        ("Energy.Active.Import.Register", Decimal(1500), "Wh"),
        ("Power.Active.Import", Decimal("7.2"), "kW"),
    ]


async def test_id_tag_given_gets_its_id_tag_info(ctx):
    tx = await _start(ctx)
    reply = await _stop(ctx, {
        "transactionId": tx, "idTag": "TAG1", "meterStop": 1200, "timestamp": "2026-03-02T09:30:00Z",
    })
    assert reply == {"idTagInfo": {"status": "Accepted"}}
    assert (await ctx.services.sessions.get(tx)).stop_reason == "Local"


async def test_unknown_transaction_is_accepted_and_recorded(ctx):
    reply = await _stop(ctx, {
        "transactionId": 4242, "idTag": "NOBODY", "meterStop": 5, "timestamp": "2026-03-02T09:30:00Z",
    })
    assert reply == {"idTagInfo": {"status": "Invalid"}}
    [event] = await ctx.services.stations.events("CP1", kind="unknown_transaction_stop", limit=10)
    assert event.payload["transaction_id"] == 4242


async def test_a_sample_that_is_not_a_number_refuses_the_whole_stop(ctx):
    tx = await _start(ctx)
    with pytest.raises(PropertyConstraintCallError, match=r"transactionData\[0\]\.sampledValue\[1\]\.value"):
        await stop_transaction.handle(ctx, {
            "transactionId": tx, "meterStop": 2000, "timestamp": "2026-03-02T09:20:00Z",
            "transactionData": [{"timestamp": "2026-03-02T09:10:00Z", "sampledValue": [
                {"value": "1500", **REGISTER}, {"value": "lots", **REGISTER, "phase": "L1"},
            ]}],
        })
    session = await ctx.services.sessions.get(tx)
    assert (session.status, session.meter_stop_wh) == ("active", None)
    assert await ctx.services.sessions.samples(tx) == []


async def test_bad_timestamp_refuses_the_stop(ctx):
    tx = await _start(ctx)
    with pytest.raises(PropertyConstraintCallError, match="timestamp"):
        await stop_transaction.handle(ctx, {"transactionId": tx, "meterStop": 2000, "timestamp": "soon"})
    assert (await ctx.services.sessions.get(tx)).status == "active"

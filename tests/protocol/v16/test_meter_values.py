from decimal import Decimal

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v16 import meter_values, start_transaction
from evcsms.protocol.validation import validate

START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": "2026-03-02T08:59:00Z"}


def _frame(value, *, at="2026-03-02T09:10:00Z", **extra):
    return {"connectorId": 1, **extra, "meterValue": [{"timestamp": at, "sampledValue": [
        {"value": value, "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
    ]}]}


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    await services.tokens.create("TAG1")
    return StationContext("CP1", OcppVersion.V16, services)


async def _send(ctx, payload):
    reply = await meter_values.handle(ctx, payload)
    validate(OcppVersion.V16, "MeterValues", reply, response=True)
    assert reply == {}


async def test_samples_join_their_transaction_and_update_its_energy(ctx):
    tx = (await start_transaction.handle(ctx, START))["transactionId"]
    await _send(ctx, _frame("1.75", transactionId=tx))
    [row] = await ctx.services.sessions.samples(tx)
    assert (row.evse_id, row.value, row.unit) == (1, Decimal("1.75"), "kWh")
    # a running session's energy is brought up to date off the answer's path
    assert (await ctx.services.sessions.get(tx)).energy_wh == Decimal(0)
    assert await ctx.services.sessions.refresh_energy() == 1
    assert (await ctx.services.sessions.get(tx)).energy_wh == Decimal(750)
    assert await ctx.services.sessions.refresh_energy() == 0  # nothing new since


async def test_a_resent_frame_is_not_counted_twice(ctx):
    tx = (await start_transaction.handle(ctx, START))["transactionId"]
    for _ in range(2):
        await _send(ctx, _frame("1.75", transactionId=tx))
    assert len(await ctx.services.sessions.samples(tx)) == 1
    await ctx.services.sessions.refresh_energy()
    assert (await ctx.services.sessions.get(tx)).energy_wh == Decimal(750)


async def test_samples_outside_a_transaction_are_kept_unattached(ctx):
    await _send(ctx, _frame("12.5"))
    [row] = await ctx.services.sessions.samples(0)
    assert (row.station_id, row.value) == ("CP1", Decimal("12.5"))


async def test_signed_data_travels_on_the_sample_it_signs(ctx):
    tx = (await start_transaction.handle(ctx, START))["transactionId"]
    payload = _frame("1.75", transactionId=tx)
    payload["meterValue"][0]["sampledValue"].append({
        "value": "OCMF|{...}", "format": "SignedData",
        "measurand": "Energy.Active.Import.Register", "unit": "kWh",
    })
    await _send(ctx, payload)
    [row] = await ctx.services.sessions.samples(tx)
    assert (row.value, row.signed_data) == (Decimal("1.75"), "OCMF|{...}")


@pytest.mark.parametrize(("frame", "field"), [
    (_frame("NaN"), r"meterValue\[0\]\.sampledValue\[0\]\.value"),
    (_frame("12,5"), r"meterValue\[0\]\.sampledValue\[0\]\.value"),
    (_frame("1", at="2026-03-02 late"), r"meterValue\[0\]\.timestamp"),
])
async def test_bad_input_is_refused_and_nothing_is_stored(ctx, frame, field):
    with pytest.raises(PropertyConstraintCallError, match=field):
        await meter_values.handle(ctx, frame)
    assert await ctx.services.sessions.samples(0) == []

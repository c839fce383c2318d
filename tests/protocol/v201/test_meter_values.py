from decimal import Decimal

import pytest

from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v201 import meter_values
from tests.conftest import T0
from tests.protocol.v201 import call, new_station

FRAME = {
    "evseId": 0,
    "meterValue": [{
        "timestamp": "2026-03-02T09:00:00Z",
        "sampledValue": [
            {"value": 123.4567, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
            {"value": 230.1, "measurand": "Voltage", "phase": "L1-N", "location": "Inlet",
             "unitOfMeasure": {"unit": "V"}},
        ],
    }],
}


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def _stored(ctx):
    rows = await ctx.services.sessions.samples(0)  # 0: outside any session
    return [(r.evse_id, r.timestamp, r.measurand, r.phase, r.unit, r.value) for r in rows]


async def test_samples_outside_a_transaction_are_stored_as_sent(ctx):
    assert await call(meter_values, ctx, FRAME) == {}
    assert sorted(await _stored(ctx)) == [
        (0, T0, "Energy.Active.Import.Register", "", "kWh", Decimal("123.4567")),
        (0, T0, "Voltage", "L1-N", "V", Decimal("230.1")),
    ]


async def test_a_re_sent_frame_is_stored_once(ctx):
    await call(meter_values, ctx, FRAME)
    await call(meter_values, ctx, FRAME)
    assert len(await _stored(ctx)) == 2


async def test_a_value_that_is_no_number_is_refused_and_nothing_is_stored(ctx):
    frame = {"evseId": 1, "meterValue": [
        {"timestamp": "2026-03-02T09:00:00Z", "sampledValue": [{"value": 1}]},
        {"timestamp": "2026-03-02T09:01:00Z", "sampledValue": [{"value": float("nan")}]},
    ]}
    with pytest.raises(PropertyConstraintCallError, match=r"meterValue\[1\]"):
        await call(meter_values, ctx, frame)
    assert await _stored(ctx) == []

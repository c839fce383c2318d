"""Running costs are pushed to opted-in, connected stations, once per change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction
from evcsms.storage import tables as t
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


async def _pushed(services) -> list[dict]:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(t.Command.params).where(
            t.Command.name == "cost_updated").order_by(t.Command.created_at))).scalars().all()
    return list(rows)


async def test_pushes_go_to_opted_in_stations_and_only_on_change(services, clock):
    for station in ("CP1", "CP2"):
        await services.stations.create(station, password=None)
        await services.stations.set_connected(station, True, "node-a")
    await services.tariffs.put({"id": "T", "currency": "EUR", "elements": [{"price_components": [
        {"type": "ENERGY", "price": Decimal("0.40"), "vat": Decimal(21), "step_size": 1}]}]})
    await services.tariffs.assign("default", "", "T")
    await services.tariffs.set_cost_updates("CP1", True)  # CP2 did not opt in
    txs = {}
    for station in ("CP1", "CP2"):
        txs[station] = (await services.sessions.start_v16(
            StartTransaction(station, 1, "TAG", Decimal(1000), T0))).transaction_id
        await services.sessions.meter_values(
            station, 1, [SampledValue(T0 + timedelta(minutes=10), Decimal(3500), REGISTER, "Wh")],
            transaction_id=txs[station])
    clock.advance(600)

    assert await services.live_cost.push_once() == 1
    [params] = await _pushed(services)
    # 2.5 kWh x 0.40 = 1.00, with VAT 1.21; the meter reads 3500 Wh
    assert params["transaction_id"] == str(txs["CP1"]) and params["total_cost"] == 1.21
    assert params["meter_wh"] == 3500
    assert await services.live_cost.push_once() == 0  # nothing changed
    await services.sessions.meter_values(
        "CP1", 1, [SampledValue(T0 + timedelta(minutes=20), Decimal(6000), REGISTER, "Wh")],
        transaction_id=txs["CP1"])
    assert await services.live_cost.push_once() == 1
    assert (await _pushed(services))[-1]["total_cost"] == 2.42

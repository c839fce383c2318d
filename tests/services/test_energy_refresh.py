"""A running session's energy is recomputed off the answer's path, every few seconds, for
every session with new readings at once; a finished session's at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import SessionService, StartTransaction, StopTransaction
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


def reading(minutes: int, wh: int) -> list[SampledValue]:
    return [SampledValue(T0 + timedelta(minutes=minutes), Decimal(wh), REGISTER, "Wh")]


async def test_running_sessions_are_refreshed_by_the_loop_in_one_go(services: Services) -> None:
    sessions = SessionService(services.engine, services.writer, services.bus, services.clock,
                              energy_refresh=0.05)
    await sessions.start()
    try:
        txs = []
        for n in range(1, 4):
            await services.stations.create(f"CP{n}", password=None)
            tx = (await sessions.start_v16(
                StartTransaction(f"CP{n}", 1, "TAG", Decimal(1000), T0))).transaction_id
            await sessions.meter_values(f"CP{n}", 1, reading(10, 1000 + 100 * n),
                                        transaction_id=tx)
            txs.append(tx)
        async with asyncio.timeout(5):
            while [(await sessions.get(tx)).energy_wh for tx in txs] != [100, 200, 300]:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        await sessions.close()


async def test_late_readings_of_a_finished_session_count_at_once(services: Services) -> None:
    await services.stations.create("CP1", password=None)
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "TAG", Decimal(1000), T0))).transaction_id
    await services.sessions.stop_v16(StopTransaction("CP1", tx, Decimal(0), T0 + timedelta(hours=1)))
    assert (await services.sessions.get(tx)).energy_wh == 0
    await services.sessions.meter_values("CP1", 1, reading(30, 1800), transaction_id=tx)
    assert (await services.sessions.get(tx)).energy_wh == 800  # no refresh needed


async def test_closing_the_service_refreshes_what_is_stale(services: Services) -> None:
    sessions = SessionService(services.engine, services.writer, services.bus, services.clock,
                              energy_refresh=3600)
    await sessions.start()
    await services.stations.create("CP1", password=None)
    tx = (await sessions.start_v16(
        StartTransaction("CP1", 1, "TAG", Decimal(1000), T0))).transaction_id
    await sessions.meter_values("CP1", 1, reading(10, 1500), transaction_id=tx)
    assert (await sessions.get(tx)).energy_wh == 0
    await sessions.close()  # a node stopping leaves nothing stale behind
    assert (await sessions.get(tx)).energy_wh == 500

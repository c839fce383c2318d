"""Meter values that arrive after the stop (a station catching up after being offline) count
exactly as if they had arrived in time; the CDR issued before them is corrected by a credit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


def samples() -> list[SampledValue]:
    # the stop value is 0 (a failed read), so only the samples tell the energy
    return [SampledValue(T0 + timedelta(minutes=m), Decimal(wh), REGISTER, "Wh")
            for m, wh in ((10, 1600), (20, 2300), (30, 3100))]


async def _energy(services, tx: int) -> Decimal:
    return Decimal((await services.sessions.get(tx)).energy_wh)


async def test_late_samples_count_as_if_on_time(services):
    await services.stations.create("CP1", password=None)
    on_time = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "TAG", Decimal(1000), T0))).transaction_id
    await services.sessions.meter_values("CP1", 1, samples(), transaction_id=on_time)
    await services.sessions.stop_v16(
        StopTransaction("CP1", on_time, Decimal(0), T0 + timedelta(minutes=40)))

    late = (await services.sessions.start_v16(
        StartTransaction("CP1", 2, "TAG", Decimal(1000), T0))).transaction_id
    await services.sessions.stop_v16(
        StopTransaction("CP1", late, Decimal(0), T0 + timedelta(minutes=40)))
    before = await services.cdrs.issue(late)
    assert before is not None and before["total_energy"] == 0
    await services.sessions.meter_values("CP1", 2, list(reversed(samples())), transaction_id=late)

    assert await _energy(services, late) == await _energy(services, on_time) == Decimal(2100)
    credit, fresh = await services.cdrs.correct(late, "meter values arrived after the stop")
    assert credit["credit_reference_id"] == before["id"]
    assert fresh["total_energy"] == Decimal("2.1")

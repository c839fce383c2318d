"""A session's power for the charts (web/power.py), the same on the station and session
pages: measured where reported, else derived from the energy register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from evcsms.services.meter_store import StoredSample
from evcsms.web.power import session_power, thinned

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sample(minute: int, measurand: str, value: str, unit: str | None = None,
           phase: str = "", location: str = "") -> StoredSample:
    return StoredSample("CP1", 1, 1, T0 + timedelta(minutes=minute), measurand, phase,
                        location, "Sample.Periodic", unit, Decimal(value), None)


def test_measured_total_wins_over_phases_and_units_are_kilowatts() -> None:
    samples = [sample(1, "Power.Active.Import", "7.4", "kW"),
               sample(1, "Power.Active.Import", "2000", "W", phase="L1"),
               sample(2, "Power.Active.Import", "7200", "W"),
               sample(2, "Energy.Active.Import.Register", "1000", "Wh")]
    points, source = session_power(samples)
    assert source == "measured"
    assert points == [(T0 + timedelta(minutes=1), Decimal("7.4")),
                      (T0 + timedelta(minutes=2), Decimal("7.2"))]


def test_phases_are_summed_only_when_each_reported_phase_is_there() -> None:
    samples = [sample(1, "Power.Active.Import", "2000", "W", phase=p) for p in ("L1", "L2", "L3")]
    samples += [sample(2, "Power.Active.Import", "2000", "W", phase="L1")]  # L2, L3 missing
    points, _ = session_power(samples)
    assert points == [(T0 + timedelta(minutes=1), Decimal(6))]
    single = [sample(m, "Power.Active.Import", "3680", "W", phase="L1") for m in (1, 2)]
    assert [p for _, p in session_power(single)[0]] == [Decimal("3.68"), Decimal("3.68")]


def test_derived_from_the_register_counting_the_meter_start() -> None:
    samples = [sample(6, "Energy.Active.Import.Register", "1700", "Wh"),   # +700 Wh in 6 min
               sample(12, "Energy.Active.Import.Register", "1.5", "kWh"),  # falls: 0, not <0
               sample(18, "Energy.Active.Import.Register", "2600", "Wh")]  # +1100 in 6 min
    points, source = session_power(samples, started_at=T0, meter_start_wh=1000)
    assert source == "derived"
    assert [p for _, p in points] == [Decimal("7.000"), Decimal("0.000"), Decimal("11.000")]
    without_start, _ = session_power(samples)
    assert len(without_start) == 2
    assert session_power([], started_at=T0, meter_start_wh=0) == ([], "none")


def test_thinned_keeps_the_ends_and_a_bounded_count() -> None:
    points = [(T0 + timedelta(seconds=10 * i), Decimal(i)) for i in range(8640)]
    shown = thinned(points)
    assert len(shown) <= 721 and shown[0] == points[0] and shown[-1] == points[-1]

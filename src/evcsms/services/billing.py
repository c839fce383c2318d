"""A session's cost: its stored meter readings priced with the tariff version it started with.

The usage handed to the pricing engine is built from the session's register readings:
- the session runs from `started_at` to `stopped_at` (or now, for a live cost);
- between consecutive register readings the energy is the register's rise (a fall counts
  as nothing), then every interval is scaled so the session's energy adds up to
  `energy_wh`, the figure the metering rules settled on (offline baseline, resets);
- the time after the last rise of the register is *parking* (the car is connected but
  takes no more energy); before it, every interval is *charging*, pauses included (a
  pause the station or the grid imposed is not the driver's idle time);
- an interval's power is its energy over its duration; its current the highest sum of
  the Current.Import phases sampled in it (none sampled: unknown, so current
  restrictions do not hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.domain.metering import REGISTER, register_readings
from evcsms.domain.pricing import Quote, State, Usage, UsagePeriod, price_session
from evcsms.services.meter_store import StoredSample, stored_samples
from evcsms.services.tariffs import StoredTariff, site_zone, tariff_version
from evcsms.storage import tables as t

CURRENT = "Current.Import"


@dataclass(frozen=True, slots=True)
class SessionCost:
    session_id: int
    final: bool  # False while the session runs: a cost so far
    tariff: StoredTariff
    time_zone: str
    usage: Usage
    quote: Quote


def session_usage(row: Any, samples: list[StoredSample], until: datetime) -> Usage:
    """The usage of a session row (see the module doc)."""
    start = row.started_at
    end = max(until, start)
    total_wh = Fraction(Decimal(row.energy_wh))
    registers = [(at, wh) for at, wh in register_readings(s.sampled_value() for s in samples
                                                          if s.measurand == REGISTER)
                 if start <= at <= end]
    points: list[tuple[datetime, Fraction]] = []  # (time, energy since the previous point)
    previous: Decimal | None = None
    if row.meter_start_wh is not None:
        previous = Decimal(row.meter_start_wh)
    for at, wh in registers:
        if previous is not None:
            points.append((at, Fraction(max(wh - previous, Decimal(0)))))
        previous = wh
    if row.stopped_at is not None and row.meter_stop_wh is not None and previous is not None:
        points.append((end, Fraction(max(Decimal(row.meter_stop_wh) - previous, Decimal(0)))))
    points = [(at, e) for at, e in points if start < at <= end]
    rise = sum((e for _, e in points), Fraction(0))
    if rise <= 0:  # nothing to spread: all the energy in one charging period
        return Usage(start, end, (UsagePeriod(start, _kwh(total_wh), State.CHARGING),))
    scale = total_wh / rise
    last_rise = max(at for at, e in points if e > 0)
    currents = _currents(samples)
    periods = []
    cursor = start
    for at, energy in points:
        if at <= cursor or at > last_rise:
            continue  # a repeated timestamp; or after the last rise: parking
        periods.append(_period(cursor, at, energy * scale, currents))
        cursor = at
    if cursor < end:
        periods.append(UsagePeriod(cursor, Decimal(0), State.PARKING))
    return Usage(start, end, tuple(periods))


def _period(a: datetime, b: datetime, wh: Fraction,
            currents: list[tuple[datetime, Decimal]]) -> UsagePeriod:
    hours = Fraction(int((b - a).total_seconds() * 1000), 3_600_000)
    power = _kw(wh / hours) if hours > 0 else None
    inside = [amps for at, amps in currents if a < at <= b]
    return UsagePeriod(a, _kwh(wh), State.CHARGING, power, max(inside) if inside else None)


def _currents(samples: list[StoredSample]) -> list[tuple[datetime, Decimal]]:
    """Per timestamp, the current summed over L1-L3 (or the total when no phase)."""
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for s in samples:
        if s.measurand == CURRENT and s.phase in ("", "L1", "L2", "L3"):
            by_time.setdefault(s.timestamp, {})[s.phase] = s.value
    out = []
    for at, phases in sorted(by_time.items()):
        out.append((at, phases[""] if "" in phases else sum(phases.values(), Decimal(0))))
    return out


def _kwh(wh: Fraction) -> Decimal:
    return (Decimal(wh.numerator) / Decimal(wh.denominator) / 1000)


def _kw(w: Fraction) -> Decimal:
    return (Decimal(w.numerator) / Decimal(w.denominator) / 1000).quantize(Decimal("0.001"))


class BillingService:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def session_cost(self, session_id: int) -> SessionCost | None:
        """The session's cost (so far, while it runs); None when it has no tariff."""
        async with self._engine.connect() as conn:
            return await cost_in(conn, session_id, self._clock.now())


async def cost_in(conn: AsyncConnection, session_id: int, now: datetime) -> SessionCost | None:
    row = (await conn.execute(
        select(t.ChargingSession).where(t.ChargingSession.id == session_id))).first()
    if row is None or row.tariff_version_id is None:
        return None
    tariff = await tariff_version(conn, row.tariff_version_id)
    if tariff is None:
        return None
    zone = await site_zone(conn, row.station_id)
    samples = await stored_samples(conn, session_id)
    until = row.stopped_at or now
    usage = session_usage(row, samples, until)
    quote = price_session(tariff.tariff, usage, zone)
    return SessionCost(session_id, row.stopped_at is not None, tariff, str(zone), usage, quote)

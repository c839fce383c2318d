"""A session's power over time for the charts of the station and session pages.

Measured where the station reports Power.Active.Import (the outlet's total, else the sum
of the phases it reports), otherwise derived from the energy register: the average power
between two readings, the meter start counting as a reading at the session's start. A
register that falls counts as no power (metering flags it as an anomaly)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from evcsms.domain.metering import REGISTER, normalise, register_readings
from evcsms.services.meter_store import StoredSample

POWER = "Power.Active.Import"
PHASES = ("L1", "L2", "L3")
MAX_CHART_POINTS = 720
Points = list[tuple[datetime, Decimal]]


def _kw(sample: StoredSample) -> Decimal | None:
    try:
        return normalise(sample.value, sample.unit, POWER) / 1000
    except ValueError:
        return None


def measured_power(samples: Sequence[StoredSample]) -> Points:
    """Power.Active.Import in kW per timestamp: the outlet's total, else the sum of the
    phases L1-L3 it reports (only at moments where every one of them is there)."""
    power = [s for s in samples if s.measurand == POWER and s.location in ("", "Outlet")]
    if not power:
        power = [s for s in samples if s.measurand == POWER]
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for s in power:
        kw = _kw(s)
        if kw is not None and (s.phase == "" or s.phase in PHASES):
            by_time.setdefault(s.timestamp, {}).setdefault(s.phase, kw)
    phases = {p for values in by_time.values() for p in values if p}
    out = []
    for at, values in sorted(by_time.items()):
        if "" in values:
            out.append((at, values[""]))
        elif phases and phases <= values.keys():
            out.append((at, sum((values[p] for p in phases), Decimal(0))))
    return out


def derived_power(registers: Sequence[tuple[datetime, Decimal]],
                  start: tuple[datetime, Decimal] | None = None) -> Points:
    """The average power (kW) between consecutive register readings (Wh), at each
    interval's end; `start` (the session's start and meter start) is the first reading."""
    out = []
    previous = start
    for at, wh in registers:
        if previous is not None and at > previous[0]:
            seconds = Decimal(str((at - previous[0]).total_seconds()))
            rise = max(wh - previous[1], Decimal(0))
            out.append((at, (rise * 3600 / seconds / 1000).quantize(Decimal("0.001"))))
        if previous is None or at >= previous[0]:
            previous = (at, wh)
    return out


def register_points(samples: Sequence[StoredSample]) -> Points:
    """The energy register's readings in Wh, in time order."""
    return register_readings(s.sampled_value() for s in samples if s.measurand == REGISTER)


def session_power(samples: Sequence[StoredSample], *, started_at: datetime | None = None,
                  meter_start_wh: int | Decimal | None = None) -> tuple[Points, str]:
    """The session's power in kW and where it came from: "measured", "derived" or "none"."""
    measured = measured_power(samples)
    if measured:
        return measured, "measured"
    start = None
    if started_at is not None and meter_start_wh is not None:
        start = (started_at, Decimal(meter_start_wh))
    derived = derived_power(register_points(samples), start)
    return derived, "derived" if derived else "none"


def thinned(points: Sequence[tuple[datetime, Decimal]], most: int = MAX_CHART_POINTS) -> Points:
    """At most about `most` points, evenly picked, the first and last kept (a day of 10 s
    samples would draw an SVG of megabytes)."""
    if len(points) <= most:
        return list(points)
    step = -(-len(points) // most)
    out = list(points[::step])
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out

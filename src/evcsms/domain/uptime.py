"""Charging-port uptime by the US NEVI formula (23 CFR 680.116(b)).

    uptime % = (T - (T_outage - T_excluded)) / T x 100

over a reporting period T (the regulation uses a year, 525,600 minutes; any period works
the same way), per charging port:

- **T_outage**: the minutes in the period in which the port was not up. From the port's
  status history, a minute is an outage when the port was OFFLINE (its station not
  connected), FAULTED, UNAVAILABLE, or UNKNOWN (no status ever received: a station that
  never connected is down, not excused). AVAILABLE, OCCUPIED (charging or plugged in) and
  RESERVED are up. Overlapping reasons count once.
- **T_excluded**: outage minutes the operator tagged with an excluded reason (utility
  outage, vandalism, natural disaster, scheduled maintenance, vehicle fault, outside
  operating hours, ...). Only outage minutes can be excluded: an exclusion over time the
  port was up changes nothing, and overlapping exclusions count once.

Intervals are half-open [start, end), clipped to the period. The history's first state
holds from its time on; before it, the port's state is UNKNOWN unless `initial` says
otherwise. Pure: datetimes in, exact fractions out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from evcsms.domain.money import show


class PortState(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    RESERVED = "reserved"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


DOWN = frozenset({PortState.UNAVAILABLE, PortState.FAULTED, PortState.OFFLINE,
                  PortState.UNKNOWN})

EXCLUDED_REASONS = frozenset({
    "utility_outage", "vandalism", "natural_disaster", "scheduled_maintenance",
    "vehicle_fault", "outside_operating_hours", "theft", "other_third_party",
})


@dataclass(frozen=True, slots=True)
class Change:
    at: datetime
    state: PortState


@dataclass(frozen=True, slots=True)
class Exclusion:
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Uptime:
    period_minutes: Fraction
    outage_minutes: Fraction
    excluded_minutes: Fraction

    @property
    def counted_outage_minutes(self) -> Fraction:
        return self.outage_minutes - self.excluded_minutes

    @property
    def percent(self) -> Fraction:
        if self.period_minutes == 0:
            return Fraction(100)
        return (self.period_minutes - self.counted_outage_minutes) * 100 / self.period_minutes

    def figures(self) -> dict[str, Decimal]:
        """As reports show it: the percentage rounded half-up to 4 places, minutes exact
        to 4 places."""
        percent = self.percent
        return {"percent": (Decimal(percent.numerator) / Decimal(percent.denominator)).quantize(
                    Decimal("0.0001"), rounding=ROUND_HALF_UP),
                "period_minutes": show(self.period_minutes, 4),
                "outage_minutes": show(self.outage_minutes, 4),
                "excluded_minutes": show(self.excluded_minutes, 4)}


def port_uptime(start: datetime, end: datetime, history: Sequence[Change],
                exclusions: Sequence[Exclusion] = (),
                initial: PortState = PortState.UNKNOWN,
                connectivity: Sequence[Change] | None = None) -> Uptime:
    """NEVI uptime of one port over [start, end).

    `history` is the port's own status timeline; `connectivity`, when given, the station's
    online/offline timeline (OFFLINE while disconnected, anything else while connected).
    A minute is down when either says so: overlapping reasons count once.
    """
    if end < start:
        raise ValueError("the period ends before it starts")
    for e in exclusions:
        if e.reason not in EXCLUDED_REASONS:
            raise ValueError(f"{e.reason!r} is not an excluded-outage reason "
                             f"({', '.join(sorted(EXCLUDED_REASONS))})")
    timelines = [_down_intervals(history, start, end, initial)]
    if connectivity is not None:
        timelines.append(_down_intervals(connectivity, start, end, PortState.OFFLINE))
    down = _union(_clip(iv, start, end) for timeline in timelines for iv in timeline)
    excused = _union(_clip((e.start, e.end), start, end) for e in exclusions)
    excluded = _overlap(down, excused)
    return Uptime(_minutes(end - start), sum((_minutes(b - a) for a, b in down), Fraction(0)),
                  excluded)


def combined(parts: Iterable[Uptime]) -> Uptime:
    """Uptime of several ports together (a station, a site, a fleet): port-minutes add up."""
    items = list(parts)
    return Uptime(sum((u.period_minutes for u in items), Fraction(0)),
                  sum((u.outage_minutes for u in items), Fraction(0)),
                  sum((u.excluded_minutes for u in items), Fraction(0)))


Interval = tuple[datetime, datetime]


def _down_intervals(history: Sequence[Change], start: datetime, end: datetime,
                    initial: PortState) -> list[Interval]:
    changes = sorted(history, key=lambda c: c.at)
    state, since = initial, datetime.min.replace(tzinfo=start.tzinfo)
    out = []
    for change in changes:
        if change.state != state:
            if state in DOWN:
                out.append((since, change.at))
            state, since = change.state, change.at
    if state in DOWN:
        out.append((since, max(end, since)))
    return out


def _clip(iv: Interval, start: datetime, end: datetime) -> Interval | None:
    a, b = max(iv[0], start), min(iv[1], end)
    return (a, b) if a < b else None


def _union(intervals: Iterable[Interval | None]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(iv for iv in intervals if iv is not None):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _overlap(xs: list[Interval], ys: list[Interval]) -> Fraction:
    total = Fraction(0)
    for a, b in xs:
        for c, d in ys:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                total += _minutes(hi - lo)
    return total


def _minutes(span: timedelta) -> Fraction:
    micros = (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds
    return Fraction(micros, 60_000_000)

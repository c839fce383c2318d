"""The pricing engine: what a charging session costs under an OCPI 2.2.1 tariff, and why.

`price_session(tariff, usage, zone)` is a pure function. `usage` is the session as
metered: its start and end and its periods, each with a start instant, the energy
charged in it, whether the car was charging or parked, and the power and current when
known. A period lasts until the next one starts (the last until the session ends).

How a price is found
====================
1. **Cut the session where the tariff can change.** Periods are cut at every instant a
   restriction could switch: each restriction's start/end time of day and every local
   midnight (in the site's time zone, on both sides of a DST change, and at the change
   itself), the start/end dates, the min/max durations after the session start, and the
   moments the energy charged so far reaches a min/max kWh (energy flows evenly through a
   period, so a period is cut in proportion to its energy and the kWh part is exact).
   Inside a piece, every restriction gives one answer, taken at its start.
2. **Pick, per dimension, the first matching element.** For each piece and each of
   ENERGY (kWh charged), TIME (hours charging) and PARKING_TIME (hours parked), the first
   element (in tariff order) that has a price component of that dimension and whose
   restrictions all hold prices it. No such element: that dimension is free then.
   Restrictions hold when: local time of day in [start_time, end_time) (a range whose end
   is before its start runs past midnight); local date in [start_date, end_date); local
   weekday in day_of_week; energy charged so far in [min_kwh, max_kwh); seconds since the
   session start in [min_duration, max_duration); the piece's power in [min_power,
   max_power) and current in [min_current, max_current) (a power or current restriction
   never holds for a piece whose power or current is unknown); and a reservation
   restriction never holds for charging or parking (reservation time is not metered).
3. **FLAT** is charged once per session: the first element with a FLAT component whose
   restrictions hold at the session start.
4. **step_size** applies once per session per dimension group, to the total, with the
   step of the last price component (in time) that priced that group: ENERGY rounded up
   to its step in Wh; TIME and PARKING_TIME together, where the parking total is rounded
   up if parking was priced at all, else the charging-time total. The extra quantity is
   billed at that last component's price and shown as its own line.
5. **VAT** per component: incl = excl x (1 + vat/100); no vat: none applies.
6. **min_price / max_price** bound the exact total excl. VAT and, when the tariff gives
   it, the total incl. VAT, each on its own (OCPI: "they both apply"); a limit without
   incl_vat moves the incl. VAT total along at the session's own VAT ratio.
7. **Rounding once**, at the end, to the currency's minor unit (half-up unless the tariff
   says half_even): the totals from their exact values, and each dimension's total from
   its own exact value for display (so the shown parts can differ from the total by a
   minor unit; a receipt shows that as rounding).

Internally every quantity is an exact `Fraction`; `Decimal` goes in and comes out.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from evcsms.domain.money import round_money
from evcsms.domain.tariffs import Dimension, Price, PriceComponent, Restrictions, Tariff

MAX_SESSION = timedelta(days=62)  # a bound on the work; no real session is this long
_HOUR = Fraction(3600)


class PricingError(ValueError):
    """The usage cannot be priced as given; the message names the field."""


class State(StrEnum):
    CHARGING = "CHARGING"
    PARKING = "PARKING"


@dataclass(frozen=True, slots=True)
class UsagePeriod:
    start: datetime  # aware
    energy_kwh: Decimal = Decimal(0)
    state: State = State.CHARGING
    power_kw: Decimal | None = None
    current_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    start: datetime
    end: datetime
    periods: tuple[UsagePeriod, ...]


@dataclass(frozen=True, slots=True)
class Line:
    """One dimension priced in one piece of the session."""

    dimension: Dimension
    element: int  # index into tariff.elements
    quantity: Fraction  # kWh or hours (1 for FLAT)
    unit_price: Decimal  # excl. VAT
    vat: Decimal | None
    excl_vat: Fraction
    incl_vat: Fraction
    step_size_extra: bool = False  # the quantity step_size added at the end


@dataclass(frozen=True, slots=True)
class Piece:
    start: datetime
    end: datetime
    state: State
    energy_kwh: Fraction
    power_kw: Decimal | None
    current_a: Decimal | None
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class DimensionTotal:
    excl_vat: Decimal
    incl_vat: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    currency: str
    total_cost: Price
    total_fixed_cost: DimensionTotal
    total_energy_cost: DimensionTotal
    total_time_cost: DimensionTotal
    total_parking_cost: DimensionTotal
    total_energy_kwh: Fraction
    total_time_h: Fraction  # the whole session
    total_charging_time_h: Fraction
    total_parking_time_h: Fraction
    pieces: tuple[Piece, ...]
    flat: Line | None
    step_lines: tuple[Line, ...]
    limited_by: str | None  # "min_price", "max_price" or None


def price_session(tariff: Tariff, usage: Usage, zone: tzinfo) -> Quote:
    """Price `usage` under `tariff`, restrictions evaluated in the time zone `zone`."""
    _check(usage)
    pieces = _cut(tariff, usage, zone)
    priced: list[Piece] = []
    last: dict[str, tuple[PriceComponent, int, int]] = {}  # group -> (component, element, piece)
    charged_kwh = Fraction(0)
    for index, (a, b, period, energy) in enumerate(pieces):
        at = _Moment(a.astimezone(zone), charged_kwh, a - usage.start, period)
        lines = []
        seconds = Fraction(_us(b - a), 1_000_000)
        quantities = {
            Dimension.ENERGY: energy,
            Dimension.TIME: seconds / _HOUR if period.state is State.CHARGING else Fraction(0),
            Dimension.PARKING_TIME: seconds / _HOUR if period.state is State.PARKING else Fraction(0),
        }
        for dimension, quantity in quantities.items():
            if quantity <= 0:
                continue
            found = _first_match(tariff, dimension, at)
            if found is None:
                continue
            element, component = found
            lines.append(_line(dimension, element, quantity, component))
            group = "energy" if dimension is Dimension.ENERGY else dimension.value
            last[group] = (component, element, index)
        priced.append(Piece(a, b, period.state, energy, period.power_kw, period.current_a,
                            tuple(lines)))
        charged_kwh += energy

    flat = _flat(tariff, usage, zone)
    step_lines = _step_lines(priced, last)
    return _totals(tariff, usage, priced, flat, step_lines)


# -- cutting the session into pieces ----------------------------------------------------------


def _check(usage: Usage) -> None:
    if usage.start.tzinfo is None or usage.end.tzinfo is None:
        raise PricingError("start_date_time: needs a time zone")
    if usage.end < usage.start:
        raise PricingError("end_date_time: before start_date_time")
    if usage.end - usage.start > MAX_SESSION:
        raise PricingError(f"end_date_time: a session longer than {MAX_SESSION.days} days")
    previous = None
    for i, p in enumerate(usage.periods):
        where = f"charging_periods[{i}]"
        if p.start.tzinfo is None:
            raise PricingError(f"{where}.start_date_time: needs a time zone")
        if p.start < usage.start:
            raise PricingError(f"{where}.start_date_time: before the session's start_date_time")
        if p.start > usage.end or (p.start == usage.end and (p.energy_kwh > 0)):
            raise PricingError(f"{where}.start_date_time: after the session's end_date_time")
        if previous is not None and p.start <= previous:
            raise PricingError(f"{where}.start_date_time: not after the previous period's start")
        if p.energy_kwh < 0:
            raise PricingError(f"{where}: negative energy")
        for name in ("power_kw", "current_a"):
            value = getattr(p, name)
            if value is not None and value < 0:
                raise PricingError(f"{where}: negative {name.split('_')[0]}")
        previous = p.start


def _cut(
    tariff: Tariff, usage: Usage, zone: tzinfo
) -> list[tuple[datetime, datetime, UsagePeriod, Fraction]]:
    """(start, end, period, energy) pieces, inside which no restriction changes."""
    spans = []
    for i, p in enumerate(usage.periods):
        end = usage.periods[i + 1].start if i + 1 < len(usage.periods) else usage.end
        if end > p.start or p.energy_kwh > 0:
            spans.append((p.start, max(end, p.start), p, Fraction(p.energy_kwh)))
    cuts = sorted(_time_cuts(tariff, usage, zone))
    pieces: list[tuple[datetime, datetime, UsagePeriod, Fraction]] = []
    for a, b, period, energy in spans:
        inner = cuts[bisect.bisect_right(cuts, a):bisect.bisect_left(cuts, b)]
        bounds = [a, *inner, b]
        total = (b - a).total_seconds()
        for x, y in zip(bounds, bounds[1:], strict=False):
            share = energy if total == 0 else energy * _fraction_of(x, y, a, b)
            pieces.append((x, y, period, share))
    return _cut_kwh(tariff, pieces)


def _fraction_of(x: datetime, y: datetime, a: datetime, b: datetime) -> Fraction:
    return Fraction(_us(y - x), _us(b - a))


def hours_between(a: datetime, b: datetime) -> Fraction:
    """The exact hours from `a` to `b`."""
    return Fraction(_us(b - a), 1_000_000) / _HOUR


def _us(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


def _cut_kwh(
    tariff: Tariff, pieces: list[tuple[datetime, datetime, UsagePeriod, Fraction]]
) -> list[tuple[datetime, datetime, UsagePeriod, Fraction]]:
    """Cut pieces where the energy charged so far reaches a min_kwh or max_kwh."""
    thresholds = sorted({
        Fraction(v) for e in tariff.elements
        for v in (e.restrictions.min_kwh, e.restrictions.max_kwh) if v is not None and v > 0
    })
    if not thresholds:
        return pieces
    out = []
    charged = Fraction(0)
    for a, b, period, energy in pieces:
        while energy > 0:
            crossing = next((t for t in thresholds if charged < t < charged + energy), None)
            if crossing is None:
                break
            part = crossing - charged
            split = a + timedelta(microseconds=round(_us(b - a) * part / energy))
            out.append((a, split, period, part))
            a, energy, charged = split, energy - part, crossing
        out.append((a, b, period, energy))
        charged += energy
    return out


def _time_cuts(tariff: Tariff, usage: Usage, zone: tzinfo) -> set[datetime]:
    """Every instant in (start, end) where a time-based restriction may switch."""
    start, end = usage.start, usage.end
    cuts: set[datetime] = set()
    times: set[time] = {time(0)}
    for element in tariff.elements:
        r = element.restrictions
        times.update(t for t in (r.start_time, r.end_time) if t is not None)
        for seconds in (r.min_duration, r.max_duration):
            if seconds is not None:
                cuts.add(start + timedelta(seconds=seconds))
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    day = first_day
    while day <= last_day:
        for t in times:
            for fold in (0, 1):
                local = datetime.combine(day, t, tzinfo=zone).replace(fold=fold)
                cuts.add(local.astimezone(start.tzinfo))
        day += timedelta(days=1)
    cuts.update(_offset_changes(start, end, zone))
    return {c for c in cuts if start < c < end}


def _offset_changes(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    """Instants in [start, end] where the zone's UTC offset changes (DST), to the second."""
    out = []
    step = timedelta(hours=1)
    a = start
    offset = a.astimezone(zone).utcoffset()
    while a < end:
        b = min(a + step, end)
        if b.astimezone(zone).utcoffset() != offset:
            lo, hi = a, b
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(microsecond=0))
            offset = b.astimezone(zone).utcoffset()
        a = b
    return out


# -- restrictions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Moment:
    local: datetime
    charged_kwh: Fraction
    elapsed: timedelta
    period: UsagePeriod


def _holds(r: Restrictions, m: _Moment) -> bool:
    if r.reservation is not None:
        return False
    tod = m.local.time().replace(tzinfo=None)
    if r.start_time is not None and r.end_time is not None and r.end_time <= r.start_time:
        if not (tod >= r.start_time or tod < r.end_time):  # the range runs past midnight
            return False
    else:
        if r.start_time is not None and tod < r.start_time:
            return False
        if r.end_time is not None and tod >= r.end_time:
            return False
    today: date = m.local.date()
    if r.start_date is not None and today < r.start_date:
        return False
    if r.end_date is not None and today >= r.end_date:
        return False
    if r.day_of_week and not any(d.weekday == today.weekday() for d in r.day_of_week):
        return False
    if r.min_kwh is not None and m.charged_kwh < r.min_kwh:
        return False
    if r.max_kwh is not None and m.charged_kwh >= r.max_kwh:
        return False
    seconds = m.elapsed.total_seconds()
    if r.min_duration is not None and seconds < r.min_duration:
        return False
    if r.max_duration is not None and seconds >= r.max_duration:
        return False
    return _in(m.period.power_kw, r.min_power, r.max_power) and _in(
        m.period.current_a, r.min_current, r.max_current)


def _in(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value < high)


def _first_match(
    tariff: Tariff, dimension: Dimension, at: _Moment
) -> tuple[int, PriceComponent] | None:
    for index, element in enumerate(tariff.elements):
        component = next((c for c in element.price_components if c.type is dimension), None)
        if component is not None and _holds(element.restrictions, at):
            return index, component
    return None


# -- lines and totals ---------------------------------------------------------------------------


def _line(dimension: Dimension, element: int, quantity: Fraction, c: PriceComponent,
          *, extra: bool = False) -> Line:
    excl = quantity * Fraction(c.price)
    incl = excl * (1 + Fraction(c.vat) / 100) if c.vat is not None else excl
    return Line(dimension, element, quantity, c.price, c.vat, excl, incl, extra)


def _flat(tariff: Tariff, usage: Usage, zone: tzinfo) -> Line | None:
    first = usage.periods[0] if usage.periods else UsagePeriod(usage.start)
    at = _Moment(usage.start.astimezone(zone), Fraction(0), timedelta(0), first)
    found = _first_match(tariff, Dimension.FLAT, at)
    if found is None:
        return None
    element, component = found
    return _line(Dimension.FLAT, element, Fraction(1), component)


def _step_lines(
    pieces: list[Piece], last: dict[str, tuple[PriceComponent, int, int]]
) -> tuple[Line, ...]:
    lines = []
    energy = sum((ln.quantity for p in pieces for ln in p.lines
                  if ln.dimension is Dimension.ENERGY), Fraction(0))
    if "energy" in last:
        component, element, _ = last["energy"]
        extra = _round_up(energy * 1000, component.step_size) / 1000 - energy
        if extra > 0:
            lines.append(_line(Dimension.ENERGY, element, extra, component, extra=True))
    group = Dimension.PARKING_TIME if Dimension.PARKING_TIME.value in last else Dimension.TIME
    if group.value in last:
        component, element, _ = last[group.value]
        hours = sum((ln.quantity for p in pieces for ln in p.lines if ln.dimension is group),
                    Fraction(0))
        extra = _round_up(hours * 3600, component.step_size) / 3600 - hours
        if extra > 0:
            lines.append(_line(group, element, extra, component, extra=True))
    return tuple(lines)


def _round_up(amount: Fraction, step: int) -> Fraction:
    blocks = -(-amount // step)  # ceiling
    return Fraction(blocks * step)


def _totals(tariff: Tariff, usage: Usage, pieces: list[Piece], flat: Line | None,
            step_lines: tuple[Line, ...]) -> Quote:
    every = [ln for p in pieces for ln in p.lines] + list(step_lines) + ([flat] if flat else [])
    currency, mode = tariff.currency, tariff.rounding

    def exact(dimension: Dimension | None) -> tuple[Fraction, Fraction]:
        chosen = [ln for ln in every if dimension is None or ln.dimension is dimension]
        return (sum((ln.excl_vat for ln in chosen), Fraction(0)),
                sum((ln.incl_vat for ln in chosen), Fraction(0)))

    def rounded(dimension: Dimension) -> DimensionTotal:
        excl, incl = exact(dimension)
        return DimensionTotal(round_money(excl, currency, mode), round_money(incl, currency, mode))

    excl, incl = exact(None)
    # min_price and max_price bound the total excl. VAT and, when given, incl. VAT, each on
    # its own (OCPI: "they both apply"). A limit without incl_vat moves the incl. VAT total
    # with the excl. one, at the session's own VAT ratio.
    limited_by = None
    for limit, name, beyond in ((tariff.min_price, "min_price", -1), (tariff.max_price, "max_price", 1)):
        if limit is None:
            continue
        bound = Fraction(limit.excl_vat)
        if (excl - bound) * beyond > 0:
            ratio = incl / excl if excl else Fraction(1)
            excl, limited_by = bound, name
            if limit.incl_vat is None:
                incl = bound * ratio
        if limit.incl_vat is not None and (incl - Fraction(limit.incl_vat)) * beyond > 0:
            incl, limited_by = Fraction(limit.incl_vat), name

    def hours(state: State | None) -> Fraction:
        return sum((hours_between(p.start, p.end) for p in pieces
                    if state is None or p.state is state), Fraction(0))

    return Quote(
        currency=currency,
        total_cost=Price(round_money(excl, currency, mode), round_money(incl, currency, mode)),
        total_fixed_cost=rounded(Dimension.FLAT),
        total_energy_cost=rounded(Dimension.ENERGY),
        total_time_cost=rounded(Dimension.TIME),
        total_parking_cost=rounded(Dimension.PARKING_TIME),
        total_energy_kwh=sum((p.energy_kwh for p in pieces), Fraction(0)),
        total_time_h=hours_between(usage.start, usage.end),
        total_charging_time_h=hours(State.CHARGING),
        total_parking_time_h=hours(State.PARKING),
        pieces=tuple(pieces), flat=flat, step_lines=step_lines, limited_by=limited_by,
    )



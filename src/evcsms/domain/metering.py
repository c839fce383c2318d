"""Session energy from meter readings: the number the driver is billed for.

Everything is `Decimal`, never float. Register readings are normalised to Wh.

How `session_energy` counts
===========================
1. Readings. `meter_start_wh` (at `started_at`), every Energy.Active.Import.Register
   reading from `register_readings`, and `meter_stop_wh` (at `stopped_at`), in time
   order. At one instant the start value comes first, the stop value last. A start or
   stop without a time goes first or last. Samples before `started_at` or after
   `stopped_at` are dropped, except those with context Transaction.Begin or
   Transaction.End, which stay wherever their timestamp puts them (station clocks drift).
   A negative register value is impossible: it is dropped and reported as
   REGISTER_BACKWARDS. A unit that cannot be turned into Wh drops the sample and is
   reported as UNKNOWN_UNIT.
2. Baseline distrust. If the first reading is 0 and a non-zero reading follows, take the
   step from the last leading 0 to the first non-zero reading. The 0 is not trusted (a
   station that started offline reports 0, not its real register) if `offline_start` is
   set, or `meter_start_wh` is above 0 (so the 0 is an early, clock-skewed
   Transaction.Begin sample contradicting it), or that step takes no time, or its average
   power is above `max_plausible_power_w`.
   This is reported as UNTRUSTED_ZERO_BASELINE, and the first non-zero reading becomes
   the baseline. If nothing tells us when a reading was taken, the power cannot be
   judged, so the 0 is trusted unless one of the other reasons applies.
3. Counting. Energy is the sum of the positive steps between consecutive readings:
   - A step down is REGISTER_BACKWARDS (meter reset, replaced, or faulty). It adds
     nothing and counting continues from the lower value. Energy is never negative.
   - Except a rollover: a register with a fixed number of digits wraps to 0 after its
     largest value. A step down from at least 90 % of a power of ten (10^k Wh, k >= 4)
     to below 10 % of it, whose wrapped rise (10^k - before + after) is plausible for the
     time between the readings, is REGISTER_ROLLOVER and counts that rise.
   - The exception is a reading of exactly 0 after a non-zero one. Stations report 0
     when a meter read fails, so this too is REGISTER_BACKWARDS, but the reading is
     skipped and counting continues from the value before it. A meter that really was
     reset is picked up again at its next non-zero reading; we lose at most that one
     interval, which errs in the driver's favour.
   - A rising step whose average power is above `max_plausible_power_w`, or that takes
     no time, is IMPLAUSIBLE_JUMP. Its energy is left out (again in the driver's
     favour) and counting continues from the new value. Two different values at the
     same instant therefore add nothing for their difference.
4. No readings at all: energy 0, baseline None.

`EnergyResult.anomalies` is in time order. Anomalies for readings with no known time
have timestamp None. The result does not depend on the order of the samples, and
repeating a sample changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

REGISTER = "Energy.Active.Import.Register"
TRANSACTION_BOUND_CONTEXTS = frozenset({"Transaction.Begin", "Transaction.End"})

_ZERO = Decimal(0)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)

# Lower-cased unit -> (base unit, factor to the base unit).
_UNITS: dict[str, tuple[str, Decimal]] = {
    "wh": ("Wh", Decimal(1)), "kwh": ("Wh", Decimal(1000)),
    "varh": ("varh", Decimal(1)), "kvarh": ("varh", Decimal(1000)),
    "vah": ("VAh", Decimal(1)), "kvah": ("VAh", Decimal(1000)),
    "w": ("W", Decimal(1)), "kw": ("W", Decimal(1000)),
    "var": ("var", Decimal(1)), "kvar": ("var", Decimal(1000)),
    "va": ("VA", Decimal(1)), "kva": ("VA", Decimal(1000)),
    "a": ("A", Decimal(1)), "v": ("V", Decimal(1)),
    "hz": ("Hz", Decimal(1)), "hertz": ("Hz", Decimal(1)),  # 1.6 spells it "Hertz"
    "celsius": ("Celsius", Decimal(1)), "celcius": ("Celsius", Decimal(1)),  # 1.6 typo
    "fahrenheit": ("Fahrenheit", Decimal(1)),
    "k": ("K", Decimal(1)), "percent": ("Percent", Decimal(1)),
}  # fmt: skip

# Measurand prefix -> the base units its values may have. Measurands not listed
# here (vendor-specific, Power.Factor, RPM, ...) accept any known unit.
_MEASURAND_BASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("Energy.Active.", frozenset({"Wh"})),
    ("Energy.Reactive.", frozenset({"varh"})),
    ("Energy.Apparent.", frozenset({"VAh"})),
    ("Power.Active.", frozenset({"W"})),
    ("Power.Offered", frozenset({"W"})),
    ("Power.Reactive.", frozenset({"var"})),
    ("Current.", frozenset({"A"})),
    ("Voltage", frozenset({"V"})),
    ("Frequency", frozenset({"Hz"})),
    ("Temperature", frozenset({"Celsius", "Fahrenheit", "K"})),
    ("SoC", frozenset({"Percent"})),
)

# Which meter a register reading comes from: the outlet's meter is the one we bill.
_LOCATION_RANK = {None: 0, "Outlet": 0, "Inlet": 1, "Cable": 2, "Body": 3, "EV": 4}
_PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class SampledValue:
    """One measured value as a station reported it (unit not yet normalised)."""

    timestamp: datetime  # timezone-aware; stored as UTC
    value: Decimal
    measurand: str = REGISTER  # the OCPP default when absent
    unit: str | None = None  # None: the measurand's default unit (Wh for energy, W for power)
    phase: str | None = None  # "L1", "L2", "L3", "N", "L1-N", "L1-L2", ... or None (total)
    location: str | None = None  # "Outlet" (default), "Inlet", "Body", "Cable", "EV"
    context: str | None = None  # "Sample.Periodic", "Transaction.Begin", ...
    signed_data: str | None = None  # raw signed meter data, verbatim

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None or self.timestamp.utcoffset() is None:
            raise ValueError(f"SampledValue timestamp {self.timestamp} has no timezone")
        if not isinstance(self.value, Decimal):
            raise TypeError(f"SampledValue value must be a Decimal, not {type(self.value)}")
        if not self.value.is_finite():
            raise ValueError(f"SampledValue value {self.value} is not a finite number")
        if self.timestamp.tzinfo is not UTC:
            object.__setattr__(self, "timestamp", self.timestamp.astimezone(UTC))


# A reading in the compact form it is stored and moved in: the samples a station took at
# one moment, each as [measurand, phase, location, context, unit, value, signed_data]
# (absent phase/location/context as "", the value as exact decimal text). The MeterValues
# hot path builds these straight from the frame instead of one SampledValue per sample.
SampleItem = list[Any]
Reading = tuple[datetime, list[SampleItem]]


def sample_item(s: SampledValue) -> SampleItem:
    return [s.measurand, s.phase or "", s.location or "", s.context or "", s.unit,
            str(s.value), s.signed_data]


def readings_of(samples: Iterable[SampledValue]) -> list[Reading]:
    """Samples grouped by timestamp (first-seen order) into readings."""
    groups: dict[datetime, list[SampleItem]] = {}
    for s in samples:
        group = groups.get(s.timestamp)
        if group is None:
            groups[s.timestamp] = [sample_item(s)]
        else:
            group.append(sample_item(s))
    return list(groups.items())


class AnomalyKind(StrEnum):
    REGISTER_BACKWARDS = "register_backwards"
    REGISTER_ROLLOVER = "register_rollover"
    UNTRUSTED_ZERO_BASELINE = "untrusted_zero_baseline"
    IMPLAUSIBLE_JUMP = "implausible_jump"
    UNKNOWN_UNIT = "unknown_unit"


@dataclass(frozen=True, slots=True)
class MeterAnomaly:
    kind: AnomalyKind
    timestamp: datetime | None  # None: a meter start/stop value with no known time
    detail: str  # plain English, with the numbers


@dataclass(frozen=True, slots=True)
class EnergyResult:
    energy_wh: Decimal  # never negative
    baseline_wh: Decimal | None  # the register value energy is counted from
    last_register_wh: Decimal | None  # the last register value counting used
    anomalies: tuple[MeterAnomaly, ...]


@dataclass(frozen=True, slots=True)
class SignedReading:
    """Signed meter data as the station sent it, kept verbatim for later verification."""

    timestamp: datetime
    data: str  # 1.6: the SignedData value; 2.0.1: signedMeterValue as compact JSON
    value: Decimal | None = None  # the reading it signs, when the station also sent it
    measurand: str = REGISTER
    unit: str | None = None
    phase: str | None = None
    location: str | None = None
    context: str | None = None


def normalise(value: Decimal, unit: str | None, measurand: str) -> Decimal:
    """`value` in the base unit (Wh, varh, VAh, W, var, VA, A, V, ...): kWh -> Wh x 1000.

    Unit names are matched case-insensitively. None means the measurand's default
    unit, which is already the base unit. Temperatures are returned unchanged.
    Raises ValueError for a unit OCPP does not define or one that does not fit the
    measurand (for example "W" for an energy register).
    """
    if unit is None:
        return value
    known = _UNITS.get(unit.strip().lower())
    if known is None:
        raise ValueError(f"unknown unit {unit!r} for measurand {measurand!r}")
    base, factor = known
    for prefix, bases in _MEASURAND_BASES:
        if measurand.startswith(prefix) and base not in bases:
            expected = " or ".join(sorted(bases))
            raise ValueError(
                f"unit {unit!r} does not fit measurand {measurand!r} (expected {expected})"
            )
    return value * factor


def register_readings(samples: Iterable[SampledValue]) -> list[tuple[datetime, Decimal]]:
    """Energy.Active.Import.Register readings in Wh, in time order.

    Only one meter is used: the outlet's (location Outlet or absent). Inlet, Cable,
    Body and EV readings are used only when there is no outlet reading, in that order
    of preference. At each timestamp the total (no phase) is used if present. Otherwise
    the sum of L1, L2 and L3 is used, but only when every phase the station ever
    reports is present at that timestamp: a partial sum would look like a register
    jump. N and line-to-line or line-to-neutral phases are not energy registers and
    are ignored. Repeated values are collapsed. If one timestamp has several different
    values, the lowest and the highest are both returned, lowest first. Samples whose
    unit is unknown are skipped.
    """
    return _register_readings(samples)[0]


def _register_readings(
    samples: Iterable[SampledValue],
) -> tuple[list[tuple[datetime, Decimal]], list[MeterAnomaly]]:
    unique = dict.fromkeys(samples)  # repeated samples count once
    candidates = [
        s for s in unique if s.measurand == REGISTER and (s.phase is None or s.phase in _PHASES)
    ]
    if not candidates:
        return [], []
    best = min(_LOCATION_RANK.get(s.location, 5) for s in candidates)
    chosen = [s for s in candidates if _LOCATION_RANK.get(s.location, 5) == best]
    phases = frozenset(s.phase for s in chosen if s.phase is not None)
    by_time: dict[datetime, dict[str | None, list[Decimal]]] = {}
    anomalies: list[MeterAnomaly] = []
    for s in chosen:
        try:
            wh = normalise(s.value, s.unit, s.measurand)
        except ValueError as exc:
            detail = f"{exc}; reading of {_wh(s.value)} {s.unit} ignored"
            anomalies.append(MeterAnomaly(AnomalyKind.UNKNOWN_UNIT, s.timestamp, detail))
            continue
        by_time.setdefault(s.timestamp, {}).setdefault(s.phase, []).append(wh)
    readings = [(at, v) for at in sorted(by_time) for v in _values_at(by_time[at], phases)]
    anomalies.sort(key=lambda a: (a.timestamp or _EARLIEST, a.detail))
    return readings, anomalies


def _values_at(values: dict[str | None, list[Decimal]], phases: frozenset[str]) -> list[Decimal]:
    if None in values:
        low, high = min(values[None]), max(values[None])
    elif phases and phases <= values.keys():
        low = sum((min(values[p]) for p in phases), _ZERO)
        high = sum((max(values[p]) for p in phases), _ZERO)
    else:
        return []
    return [low] if low == high else [low, high]


@dataclass(frozen=True, slots=True)
class _Reading:
    at: datetime | None
    wh: Decimal
    rank: int  # 0 meter start, 1 sample, 2 meter stop: the order at one instant

    def key(self) -> tuple[datetime, int, Decimal]:
        if self.at is not None:
            return (self.at, self.rank, self.wh)
        return (_EARLIEST if self.rank == 0 else _LATEST, self.rank, self.wh)


def session_energy(
    samples: Iterable[SampledValue],
    *,
    meter_start_wh: Decimal | None = None,
    meter_stop_wh: Decimal | None = None,
    started_at: datetime | None = None,
    stopped_at: datetime | None = None,
    offline_start: bool = False,
    max_plausible_power_w: Decimal = Decimal("1000000"),
) -> EnergyResult:
    """Energy delivered in a session, in Wh. The rules are in the module docstring."""
    for name, at in (("started_at", started_at), ("stopped_at", stopped_at)):
        if at is not None and at.utcoffset() is None:
            raise ValueError(f"{name} {at} has no timezone")
    if max_plausible_power_w <= 0:
        raise ValueError(f"max_plausible_power_w must be positive, got {max_plausible_power_w}")
    kept = [s for s in samples if _in_window(s, started_at, stopped_at)]
    sampled, anomalies = _register_readings(kept)
    readings = [_Reading(at, wh, 1) for at, wh in sampled]
    distrust_zero = "the session started while the station was offline" if offline_start else None
    if meter_start_wh is not None:
        start = _Reading(started_at, _as_decimal("meter_start_wh", meter_start_wh), 0)
        readings.append(start)
        if start.wh > 0:
            distrust_zero = distrust_zero or f"meterStart says {_wh(start.wh)} Wh"
    if meter_stop_wh is not None:
        readings.append(_Reading(stopped_at, _as_decimal("meter_stop_wh", meter_stop_wh), 2))
    readings = _drop_negative(sorted(readings, key=_Reading.key), anomalies)
    if not readings:
        return EnergyResult(_ZERO, None, None, tuple(anomalies))
    readings = _trusted_start(readings, distrust_zero, max_plausible_power_w, anomalies)
    energy, last = _count(readings, max_plausible_power_w, anomalies)
    anomalies.sort(key=lambda a: a.timestamp or _EARLIEST)  # stable: keeps reading order
    return EnergyResult(energy, readings[0].wh, last, tuple(anomalies))


def _in_window(s: SampledValue, started_at: datetime | None, stopped_at: datetime | None) -> bool:
    if s.context in TRANSACTION_BOUND_CONTEXTS:
        return True
    if started_at is not None and s.timestamp < started_at:
        return False
    return stopped_at is None or s.timestamp <= stopped_at


def _drop_negative(readings: list[_Reading], anomalies: list[MeterAnomaly]) -> list[_Reading]:
    for r in readings:
        if r.wh < 0:
            detail = f"negative register value {_wh(r.wh)} Wh is impossible; reading ignored"
            anomalies.append(MeterAnomaly(AnomalyKind.REGISTER_BACKWARDS, r.at, detail))
    return [r for r in readings if r.wh >= 0]


def _trusted_start(
    readings: list[_Reading], distrust: str | None, max_w: Decimal, anomalies: list[MeterAnomaly]
) -> list[_Reading]:
    """The readings from the trusted baseline on (rule 2 of the module docstring)."""
    if readings[0].wh != 0:
        return readings
    first = next((i for i, r in enumerate(readings) if r.wh != 0), None)
    if first is None:
        return readings
    zero, nonzero = readings[first - 1], readings[first]
    why = distrust or _implausible(zero, nonzero, max_w)
    if why is None:
        return readings
    detail = (
        f"register went from 0 Wh to {_wh(nonzero.wh)} Wh ({why}); the 0 is not trusted, "
        f"counting from {_wh(nonzero.wh)} Wh"
    )
    anomalies.append(MeterAnomaly(AnomalyKind.UNTRUSTED_ZERO_BASELINE, nonzero.at, detail))
    return readings[first:]


def _count(
    readings: list[_Reading], max_w: Decimal, anomalies: list[MeterAnomaly]
) -> tuple[Decimal, Decimal]:
    """Sum of the trusted positive steps, and the last register value used."""
    energy, prev = _ZERO, readings[0]
    for cur in readings[1:]:
        if cur.wh == 0 and prev.wh > 0:
            detail = f"register read 0 Wh after {_wh(prev.wh)} Wh; taken as a failed read, ignored"
            anomalies.append(MeterAnomaly(AnomalyKind.REGISTER_BACKWARDS, cur.at, detail))
            continue
        counted, anomaly = _step(prev, cur, max_w)
        energy += counted
        if anomaly is not None:
            anomalies.append(anomaly)
        prev = cur
    return energy, prev.wh


def _step(prev: _Reading, cur: _Reading, max_w: Decimal) -> tuple[Decimal, MeterAnomaly | None]:
    """The energy one step adds, and what was wrong with it, if anything."""
    delta = cur.wh - prev.wh
    if delta < 0:
        wrapped = _rollover(prev, cur, max_w)
        if wrapped is not None:
            detail = (f"register wrapped from {_wh(prev.wh)} Wh to {_wh(cur.wh)} Wh at "
                      f"{_wh(wrapped[1])} Wh; {_wh(wrapped[0])} Wh counted")
            return wrapped[0], MeterAnomaly(AnomalyKind.REGISTER_ROLLOVER, cur.at, detail)
        detail = (
            f"register went back from {_wh(prev.wh)} Wh to {_wh(cur.wh)} Wh; nothing counted, "
            f"counting continues from {_wh(cur.wh)} Wh"
        )
        return _ZERO, MeterAnomaly(AnomalyKind.REGISTER_BACKWARDS, cur.at, detail)
    why = _implausible(prev, cur, max_w) if delta > 0 else None
    if why is None:
        return delta, None
    detail = (
        f"register jumped from {_wh(prev.wh)} Wh to {_wh(cur.wh)} Wh ({why}); "
        f"these {_wh(delta)} Wh are not counted"
    )
    return _ZERO, MeterAnomaly(AnomalyKind.IMPLAUSIBLE_JUMP, cur.at, detail)


def _rollover(prev: _Reading, cur: _Reading, max_w: Decimal) -> tuple[Decimal, Decimal] | None:
    """(energy, wrap value) when prev -> cur is a register wrapping past 10^k Wh."""
    if prev.wh <= 0 or cur.wh < 0:
        return None
    digits = len(str(int(prev.wh)))
    wrap = Decimal(10) ** digits
    if digits < 4 or prev.wh < wrap * Decimal("0.9") or cur.wh >= wrap * Decimal("0.1"):
        return None
    energy = wrap - prev.wh + cur.wh
    if _implausible(prev, _Reading(cur.at, prev.wh + energy, cur.rank), max_w) is not None:
        return None
    return energy, wrap


def _implausible(a: _Reading, b: _Reading, max_w: Decimal) -> str | None:
    """Why the rise from `a` to `b` is implausible, or None if it is plausible or unknowable."""
    if a.at is None or b.at is None:
        return None
    seconds = _seconds(b.at - a.at)
    if seconds <= 0:
        return "no time elapsed between the readings"
    delta = b.wh - a.wh
    if delta * 3600 <= max_w * seconds:
        return None
    power = delta * 3600 / seconds
    return (
        f"{_wh(delta)} Wh in {_wh(seconds)} s is an average of {power:.0f} W, "
        f"above the {_wh(max_w)} W plausibility limit"
    )


def _seconds(span: timedelta) -> Decimal:
    whole = span.days * 86400 + span.seconds
    if span.microseconds == 0:
        return Decimal(whole)
    return Decimal(whole * 1_000_000 + span.microseconds).scaleb(-6)


def _wh(value: Decimal) -> str:
    """A Decimal for a message: plain notation, no trailing zeros (910083, not 9.10083E+5)."""
    return f"{value.normalize():f}"


def _as_decimal(name: str, value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal or an int, not {type(value).__name__}")
    if not Decimal(value).is_finite():
        raise ValueError(f"{name} {value} is not a finite number")
    return Decimal(value)

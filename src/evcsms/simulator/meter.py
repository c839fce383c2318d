"""Electrical model of a charging session: power ramp/taper, per-phase currents and voltages;
the car's draw under an offered current, and the OCPP charging profiles that set that offer
(`Profile.limit_at`: which period of a profile is in force at a moment)."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

AC_TARGETS_W = (7400.0, 11000.0)  # 1 x 32 A and 3 x 16 A at 230 V
NOMINAL_VOLTAGE = 230.0
RAMP_SAMPLES = 3
PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class MeterSample:
    """One reading of a connector's meter."""

    register_wh: int
    power_w: float
    currents_a: tuple[float, float, float]
    voltages_v: tuple[float, float, float]
    temperature_c: float | None = None  # reported only when set (an injected fault)


@dataclass(frozen=True)
class ChargeProfile:
    """Power curve of one session: ramp up over a few samples, full power, taper at the end."""

    target_w: float
    phases: int
    total_samples: int

    @property
    def max_current_a(self) -> float:
        """The most the car draws per phase (A at 230 V)."""
        return self.target_w / (NOMINAL_VOLTAGE * self.phases)

    def power_at(self, k: int, rng: random.Random) -> float:
        """Power (W) during sample ``k`` (0-based) of ``total_samples``."""
        ramp = min(1.0, (k + 1) / RAMP_SAMPLES)
        taper_len = max(1, self.total_samples // 5)
        remaining = self.total_samples - k
        taper = 1.0 if remaining > taper_len else max(0.3, remaining / taper_len)
        noise = 1.0 + rng.uniform(-0.02, 0.02)
        return round(self.target_w * ramp * taper * noise, 1)

    def steady(self, rng: random.Random) -> float:
        """Power (W) of a session held open past its planned length: full power."""
        return round(self.target_w * (1.0 + rng.uniform(-0.02, 0.02)), 1)


def new_profile(
    rng: random.Random,
    session_seconds: tuple[float, float],
    meter_interval: float,
    phases: tuple[int, ...] = (1, 3),
    max_current_a: float | None = None,
) -> ChargeProfile:
    """A random session: 7.4 kW single phase or 11 kW three phase (of ``phases``), random
    length; with ``max_current_a``, a car drawing that many A per phase on one of ``phases``."""
    if max_current_a is not None:
        n = rng.choice(phases or (3,))
        seconds = rng.uniform(*session_seconds)
        return ChargeProfile(max_current_a * NOMINAL_VOLTAGE * n, n,
                             max(1, round(seconds / meter_interval)))
    targets = [w for w in AC_TARGETS_W if _phases_of(w) in phases] or list(AC_TARGETS_W)
    target = rng.choice(targets)
    seconds = rng.uniform(*session_seconds)
    return ChargeProfile(target, _phases_of(target), max(1, round(seconds / meter_interval)))


def _phases_of(target_w: float) -> int:
    return 1 if target_w < 10_000 else 3


def sample(
    register_wh: float, power_w: float, phases: int, rng: random.Random,
    current_a: float | None = None,
) -> MeterSample:
    """A meter reading for the given register and power, with plausible V and A per phase
    (``current_a``: the car draws exactly that on each of its phases, as when an offered
    current holds it back)."""
    volts = tuple(round(NOMINAL_VOLTAGE + rng.uniform(-3.0, 3.0), 1) for _ in PHASES)
    per_phase_w = power_w / max(1, phases)
    amps = tuple(
        (current_a if current_a is not None else round(per_phase_w / v, 2)) if i < phases else 0.0
        for i, v in enumerate(volts)
    )
    return MeterSample(
        int(register_wh), power_w, (amps[0], amps[1], amps[2]), (volts[0], volts[1], volts[2])
    )


Reading = tuple[str, float, str, str | None, str]  # measurand, value, unit, phase, location


def _readings(s: MeterSample, full: bool) -> list[Reading]:
    rows: list[Reading] = [("Energy.Active.Import.Register", s.register_wh, "Wh", None, "Outlet")]
    if full:
        rows.append(("Power.Active.Import", s.power_w, "W", None, "Outlet"))
        rows += [
            ("Current.Import", a, "A", ph, "Outlet")
            for ph, a in zip(PHASES, s.currents_a, strict=True)
        ]
        rows += [
            ("Voltage", v, "V", f"{ph}-N", "Outlet")
            for ph, v in zip(PHASES, s.voltages_v, strict=True)
        ]
        if s.temperature_c is not None:
            rows.append(("Temperature", s.temperature_c, "Celsius", None, "Body"))
    return rows


def _text(measurand: str, value: float) -> str:
    if measurand == "Energy.Active.Import.Register":
        return str(int(value))
    return f"{value:.2f}" if measurand == "Current.Import" else f"{value:.1f}"


def sampled_values_16(s: MeterSample, context: str, *, full: bool = True) -> list[dict[str, str]]:
    """OCPP 1.6 sampledValue list (values are strings); ``full=False``: the register only."""
    values = []
    for measurand, value, unit, phase, location in _readings(s, full):
        item = {"value": _text(measurand, value), "context": context, "measurand": measurand}
        if phase is not None:
            item["phase"] = phase
        values.append({**item, "location": location, "unit": unit})
    return values


def sampled_values_201(
    s: MeterSample, context: str, *, full: bool = True
) -> list[dict[str, object]]:
    """OCPP 2.0.1 sampledValue list (numeric values, unitOfMeasure objects). 2.0.1 has no
    Temperature measurand: a 2.0.1 station reports temperature through a monitor instead."""
    values: list[dict[str, object]] = []
    for measurand, value, unit, phase, location in _readings(s, full):
        if measurand == "Temperature":
            continue
        item: dict[str, object] = {"value": value, "context": context, "measurand": measurand}
        if phase is not None:
            item["phase"] = phase
        values.append({**item, "location": location, "unitOfMeasure": {"unit": unit}})
    return values


# -- what the car draws under an offered current -------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """What a connector offers its car now: A per phase (None: no limit) on at most
    ``phases`` phases (None: as many as the car has)."""

    current_a: float | None
    phases: int | None = None


@dataclass(frozen=True)
class Draw:
    """A car's draw for one meter interval: power, phases used, and the current per phase
    when the offer holds the car back (None: the car draws what it wants)."""

    power_w: float
    phases: int
    current_a: float | None = None


def draw(car: ChargeProfile, wanted_w: float, offered_a: float | None,
         phases: int | None = None) -> Draw:
    """The car wants ``wanted_w`` (its ramp/taper curve) on its own phases; the station offers
    ``offered_a`` per phase (None: no limit) on at most ``phases`` phases. It draws
    min(offer, what it wants) on min(its phases, the allowed phases)."""
    used = min(car.phases, phases or car.phases)
    wanted = wanted_w * used / car.phases
    if offered_a is None:
        return Draw(wanted, used)
    offered = max(0.0, math.floor(offered_a * 100) / 100)  # a meter shows 0.01 A
    cap = offered * NOMINAL_VOLTAGE * used
    if wanted <= cap:
        return Draw(wanted, used)
    return Draw(round(cap, 1), used, offered)


def amps(value: float, unit: str, phases: int) -> float:
    """A limit in A per phase (W spread over ``phases`` at 230 V)."""
    return value if unit == "A" else value / (NOMINAL_VOLTAGE * max(1, phases))


def in_unit(current_a: float, unit: str, phases: int) -> float:
    """A current per phase as a limit in ``unit`` (A, or W on ``phases`` at 230 V)."""
    return current_a if unit == "A" else current_a * NOMINAL_VOLTAGE * max(1, phases)


K = TypeVar("K", bound=Hashable)


def water_fill(demands: Mapping[K, float], weights: Mapping[K, float], cap: float) -> dict[K, float]:
    """Share ``cap`` among ``demands``: each gets min(its demand, a common level), the level
    as high as sum(weight * share) <= cap allows (equal shares; what one does not need goes
    to the others)."""
    shares = dict(demands)
    if sum(weights[k] * d for k, d in demands.items()) <= cap:
        return shares
    left, keys = max(0.0, cap), sorted(demands, key=lambda k: demands[k])
    for i, key in enumerate(keys):
        level = left / sum(weights[k] for k in keys[i:])
        if demands[key] > level:
            for rest in keys[i:]:
                shares[rest] = level
            break
        left -= weights[key] * demands[key]
    return shares


# -- OCPP charging profiles ----------------------------------------------------------------------

PURPOSES = ("tx", "tx_default", "station_max")
RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


@dataclass(frozen=True)
class Period:
    start_s: int
    limit: float
    phases: int | None = None  # numberPhases (None: as many as the car has)


@dataclass(frozen=True)
class Profile:
    """One installed charging profile, version-neutral (`purpose` tx, tx_default or
    station_max; `kind` Absolute, Relative or Recurring; `unit` A or W)."""

    id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[Period, ...]
    start: datetime | None = None  # startSchedule
    duration_s: int | None = None
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    tx_id: int | str | None = None  # a TxProfile's transaction

    def valid(self, t: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= t) and (
            self.valid_to is None or t < self.valid_to)

    def origin(self, t: datetime, relative_to: datetime) -> datetime:
        """Where the schedule's second 0 is for moment ``t`` (``relative_to``: the start of
        the transaction, or whatever a Relative schedule counts from)."""
        if self.kind == "Recurring" and self.start is not None:
            cycle = RECURRENCE.get(self.recurrency or "Daily", RECURRENCE["Daily"])
            return self.start + cycle * math.floor((t - self.start) / cycle)
        if self.kind == "Absolute" and self.start is not None:
            return self.start
        return relative_to  # Relative, or a 1.6 Absolute without startSchedule

    def limit_at(self, t: datetime, relative_to: datetime) -> Period | None:
        """The period in force at ``t``; None outside validity or the schedule (a lower
        stack level applies then)."""
        if not self.valid(t):
            return None
        elapsed = (t - self.origin(t, relative_to)).total_seconds()
        if elapsed < 0 or (self.duration_s is not None and elapsed >= self.duration_s):
            return None
        found = None
        for period in self.periods:
            if period.start_s > elapsed:
                break
            found = period
        return found

    def changes(self, since: datetime, until: datetime, relative_to: datetime) -> list[datetime]:
        """Moments in (since, until) at which this profile's limit may change."""
        points = [p for p in (self.valid_from, self.valid_to) if p is not None]
        origin = self.origin(since, relative_to)
        cycle = RECURRENCE.get(self.recurrency or "Daily") if self.kind == "Recurring" else None
        for _ in range(3 if cycle else 1):
            points += [origin + timedelta(seconds=p.start_s) for p in self.periods]
            if self.duration_s is not None:
                points.append(origin + timedelta(seconds=self.duration_s))
            if cycle is None:
                break
            origin += cycle
        return sorted({p for p in points if since < p < until})

"""Electrical model of a charging session: power ramp/taper, per-phase currents and voltages."""

from __future__ import annotations

import random
from dataclasses import dataclass

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
) -> ChargeProfile:
    """A random session: 7.4 kW single phase or 11 kW three phase (of ``phases``), random length."""
    targets = [w for w in AC_TARGETS_W if _phases_of(w) in phases] or list(AC_TARGETS_W)
    target = rng.choice(targets)
    seconds = rng.uniform(*session_seconds)
    return ChargeProfile(target, _phases_of(target), max(1, round(seconds / meter_interval)))


def _phases_of(target_w: float) -> int:
    return 1 if target_w < 10_000 else 3


def sample(register_wh: float, power_w: float, phases: int, rng: random.Random) -> MeterSample:
    """A meter reading for the given register and power, with plausible V and A per phase."""
    volts = tuple(round(NOMINAL_VOLTAGE + rng.uniform(-3.0, 3.0), 1) for _ in PHASES)
    per_phase_w = power_w / max(1, phases)
    amps = tuple(round(per_phase_w / v, 2) if i < phases else 0.0 for i, v in enumerate(volts))
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

"""What load management reads of the stations: the draw in their last meter reading, the
charging-rate units they take (from the device model), and a pin that fits an EVSE.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain import load as ld
from evcsms.storage import tables as t

# where a station says which charging-rate units it takes (the device model)
_UNIT_KEYS = (("SmartChargingCtrlr", "RateUnit"),  # 2.0.1, e.g. "A,W"
              ("OCPP16Configuration", "ChargingScheduleAllowedChargingRateUnit"))  # "Current,Power"
_UNIT_WORDS = {"A": "A", "CURRENT": "A", "W": "W", "POWER": "W"}


def parse_rate_units(text: str | None) -> frozenset[str]:
    """The units a station's configuration value allows ({"A", "W"}; empty: not said)."""
    words = (w.strip().upper() for w in (text or "").replace(";", ",").split(","))
    return frozenset(_UNIT_WORDS[w] for w in words if w in _UNIT_WORDS)


def in_unit(setpoint: ld.Setpoint, allowed: frozenset[str] | None,
            voltage: Decimal) -> ld.Setpoint:
    """`setpoint` in a unit the station takes: unchanged when it takes the setpoint's unit
    (or said nothing), else A per phase as W (x voltage x phases, rounded down) or W as A
    per phase (rounded down to 0.1 A). A station that cannot say never gets a raised limit."""
    if not allowed or setpoint.unit.value in allowed:
        return setpoint
    phases = Decimal(setpoint.number_phases or len(setpoint.phases) or 3)
    if setpoint.unit is ld.Unit.A:
        limit = (setpoint.limit * voltage * phases).to_integral_value(rounding="ROUND_FLOOR")
        return dataclasses.replace(setpoint, limit=limit, unit=ld.Unit.W)
    amps = (setpoint.limit / (voltage * phases)).quantize(Decimal("0.1"), rounding="ROUND_FLOOR")
    return dataclasses.replace(setpoint, limit=amps, unit=ld.Unit.A)


async def rate_units(conn: AsyncConnection, stations: list[str]) -> dict[str, frozenset[str]]:
    rows = (await conn.execute(select(
        t.DeviceVariable.station_id, t.DeviceVariable.component, t.DeviceVariable.variable,
        t.DeviceVariable.value).where(
        t.DeviceVariable.station_id.in_(stations), t.DeviceVariable.attribute_type == "Actual",
        t.DeviceVariable.variable.in_([v for _, v in _UNIT_KEYS])))).all()
    out: dict[str, frozenset[str]] = {}
    for station, component, variable, value in rows:
        if (component, variable) in _UNIT_KEYS:
            out[station] = out.get(station, frozenset()) | parse_rate_units(value)
    return out

def fit_pin(value: Decimal, evse: ld.Evse) -> Decimal:
    """`value` within what a pin on `evse` may be (its max; its min unless 0)."""
    high = evse.max_current_a if evse.kind is ld.Kind.AC else evse.max_power_kw
    low = evse.min_current_a if evse.kind is ld.Kind.AC else evse.min_power_kw
    assert high is not None
    value = min(value, high)
    return value if value == 0 or value >= low else low


async def latest_readings(conn: AsyncConnection, session_ids: list[int],
                           since: datetime) -> dict[int, tuple[datetime, Any]]:
    """The newest reading per session since `since`."""
    out: dict[int, tuple[datetime, Any]] = {}
    if not session_ids:
        return out
    rows = (await conn.execute(select(
        t.MeterReading.session_id, t.MeterReading.timestamp, t.MeterReading.samples).where(
        t.MeterReading.timestamp >= since,
        t.MeterReading.session_id.in_(session_ids)))).all()
    for session_id, at, samples in rows:
        current = out.get(int(session_id))
        if current is None or at > current[0]:
            out[int(session_id)] = (at, samples)
    return out


def draw_of(reading: tuple[datetime, Any] | None, evse: ld.Evse
          ) -> tuple[tuple[Decimal, ...] | None, Decimal | None, datetime | None]:
    """The draw in a reading: A per EVSE conductor (Current.Import L1..L3, or the total on
    one conductor) and kW (Power.Active.Import)."""
    if reading is None:
        return None, None, None
    at, text_samples = reading
    phases: dict[str, Decimal] = {}
    total_a = power_w = None
    for m, phase, _loc, _ctx, unit, value, _signed in orjson.loads(text_samples):
        number = Decimal(value)
        if m == "Current.Import":
            if phase in ("L1", "L2", "L3"):
                phases[phase] = number
            elif phase == "":
                total_a = number
        elif m == "Power.Active.Import" and phase == "":
            power_w = number * 1000 if (unit or "W") == "kW" else number
    conductors = len(evse.wiring)
    draw_a: tuple[Decimal, ...] | None = None
    if phases:
        draw_a = tuple(phases.get(f"L{n}", Decimal(0)) for n in range(1, conductors + 1))
    elif total_a is not None:
        draw_a = (total_a,) + (Decimal(0),) * (conductors - 1)
    return draw_a, None if power_w is None else power_w / 1000, at

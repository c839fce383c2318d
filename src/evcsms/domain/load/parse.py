"""Load-management input from plain JSON-able dicts, and back.

Strict: unknown fields, wrong types and impossible values raise `LoadError` with the
path of the field (`evses[2].wiring[1]: 'L4' is not one of L1, L2, L3`), so an operator
API can pass the message straight on. Numbers may be int, float or Decimal (never bool;
floats go through their shortest text, so 0.1 stays 0.1) and are kept as Decimal.
The `*_to_dict` functions give back what the parsers take (Decimals as Decimal: encode
with `evcsms.domain.jsontext`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from evcsms.domain.load.checks import check_demand, check_pin
from evcsms.domain.load.model import (
    Allocation,
    Circuit,
    Demand,
    Evse,
    Kind,
    LoadError,
    Phase,
    Pin,
    Schedule,
    Setpoint,
    Site,
    Window,
)

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
LARGEST = Decimal(1_000_000)  # no A or kW figure of a site comes near this
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
T = TypeVar("T")


def site_from_dict(data: Any) -> Site:
    """A `Site` from its dict form (see docs/load-management.md, "JSON")."""
    obj = _object(data, "site", {"id", "circuits", "evses", "voltage_v", "time_zone",
                                 "building_load", "peak_limit"})
    circuits = _list(obj, "circuits", "", _circuit)
    evses = _list(obj, "evses", "", _evse)
    voltage = _number(obj.get("voltage_v", 230), "voltage_v")
    zone = obj.get("time_zone", "UTC")
    if not isinstance(zone, str):
        raise LoadError(f"time_zone: expected a string, got {zone!r}")
    return Site(_name(obj.get("id"), "id"), tuple(circuits), tuple(evses), voltage, zone,
                _schedule(obj.get("building_load"), "building_load"),
                _schedule(obj.get("peak_limit"), "peak_limit"))


def site_to_dict(site: Site) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": site.id, "voltage_v": site.voltage_v, "time_zone": site.time_zone,
        "circuits": [_drop_none({
            "id": c.id, "parent": c.parent,
            "max_current_a": None if c.max_current_a is None else list(c.max_current_a),
            "max_power_kw": c.max_power_kw,
        }) for c in site.circuits],
        "evses": [_evse_to_dict(e) for e in site.evses],
    }
    for name in ("building_load", "peak_limit"):
        schedule = getattr(site, name)
        if schedule is not None:
            out[name] = _schedule_to_dict(schedule)
    return out


def demand_from_dict(data: Any, site: Site, where: str = "session") -> Demand:
    """A `Demand` on an EVSE of `site` from its dict form."""
    obj = _object(data, where, {"evse", "arrival", "priority", "car_phases", "draw_a", "draw_kw",
                                "offered", "offered_since", "energy_wanted_kwh"})
    evse = _evse_of(site, obj.get("evse"), f"{where}.evse")
    priority = obj.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise LoadError(f"{where}.priority: expected a whole number, got {priority!r}")
    car_phases = obj.get("car_phases")
    if car_phases is not None and (isinstance(car_phases, bool) or not isinstance(car_phases, int)):
        raise LoadError(f"{where}.car_phases: expected 1, 2 or 3, got {car_phases!r}")
    draw = obj.get("draw_a")
    if draw is not None and not isinstance(draw, list):
        raise LoadError(f"{where}.draw_a: expected an array of A per conductor")
    arrival = _datetime(obj.get("arrival"), f"{where}.arrival")
    if arrival is None:
        raise LoadError(f"{where}.arrival: required")
    d = Demand(
        evse.id, arrival, priority, car_phases,
        None if draw is None else tuple(_number(a, f"{where}.draw_a[{i}]")
                                        for i, a in enumerate(draw)),
        _optional(obj.get("draw_kw"), f"{where}.draw_kw"),
        _optional(obj.get("offered"), f"{where}.offered"),
        _datetime(obj.get("offered_since"), f"{where}.offered_since"),
        _optional(obj.get("energy_wanted_kwh"), f"{where}.energy_wanted_kwh", signed=True),
    )
    check_demand(d, evse, where)
    return d


def demand_to_dict(d: Demand) -> dict[str, Any]:
    return _drop_none({
        "evse": d.evse, "arrival": d.arrival.isoformat(), "priority": d.priority,
        "car_phases": d.car_phases, "draw_a": None if d.draw_a is None else list(d.draw_a),
        "draw_kw": d.draw_kw, "offered": d.offered,
        "offered_since": None if d.offered_since is None else d.offered_since.isoformat(),
        "energy_wanted_kwh": d.energy_wanted_kwh,
    })


def pin_from_dict(data: Any, site: Site, where: str = "pin") -> Pin:
    """A `Pin` from {"evse": id, "value": A per phase (AC) or kW (DC)}."""
    obj = _object(data, where, {"evse", "value"})
    evse = _evse_of(site, obj.get("evse"), f"{where}.evse")
    pin = Pin(evse.id, _number(obj.get("value"), f"{where}.value"))
    check_pin(pin, evse, where)
    return pin


def pin_to_dict(pin: Pin) -> dict[str, Any]:
    return {"evse": pin.evse, "value": pin.value}


def allocation_to_dict(allocation: Allocation) -> dict[str, Any]:
    """The allocation for an operator API: every setpoint with its reason and bound, and
    every node's effective limits and use."""
    return {
        "at": allocation.at.isoformat(), "policy": allocation.policy.value,
        "building_load_kw": allocation.building_load_kw,
        "peak_limit_kw": allocation.peak_limit_kw,
        "setpoints": [setpoint_to_dict(s) for s in allocation.setpoints],
        "nodes": [{"node": n.node, "limit_a": list(n.limit_a), "used_a": list(n.used_a),
                   "limit_kw": n.limit_kw, "used_kw": n.used_kw} for n in allocation.nodes],
    }


def setpoint_to_dict(s: Setpoint) -> dict[str, Any]:
    return {
        "evse": s.evse, "limit": s.limit, "unit": s.unit.value, "current_a": s.current_a,
        "power_w": s.power_w, "number_phases": s.number_phases, "phase_to_use": s.phase_to_use,
        "phases": [p.value for p in s.phases], "reason": s.reason.value,
        "bound": None if s.bound is None else {"node": s.bound.node, "quantity": s.bound.quantity},
    }


# -- parts ------------------------------------------------------------------------------------


def _circuit(data: Any, where: str) -> Circuit:
    obj = _object(data, where, {"id", "parent", "max_current_a", "max_power_kw"})
    parent = obj.get("parent")
    amps = obj.get("max_current_a")
    per_phase: tuple[Decimal, Decimal, Decimal] | None = None
    if isinstance(amps, list):
        if len(amps) != 3:
            raise LoadError(f"{where}.max_current_a: one number, or three (L1, L2, L3)")
        values = [_number(a, f"{where}.max_current_a[{i}]") for i, a in enumerate(amps)]
        per_phase = (values[0], values[1], values[2])
    elif amps is not None:
        one = _number(amps, f"{where}.max_current_a")
        per_phase = (one, one, one)
    return Circuit(_name(obj.get("id"), f"{where}.id"),
                   None if parent is None else _name(parent, f"{where}.parent"),
                   per_phase, _optional(obj.get("max_power_kw"), f"{where}.max_power_kw"))


def _evse(data: Any, where: str) -> Evse:
    obj = _object(data, where, {"id", "circuit", "kind", "wiring", "min_current_a",
                                "max_current_a", "min_power_kw", "max_power_kw"})
    kind = obj.get("kind", "AC")
    if kind not in ("AC", "DC"):
        raise LoadError(f"{where}.kind: {kind!r} is not AC or DC")
    wiring = obj.get("wiring", ["L1", "L2", "L3"])
    if isinstance(wiring, str):
        wiring = [wiring]
    if not isinstance(wiring, list):
        raise LoadError(f"{where}.wiring: expected an array of grid phases")
    for i, p in enumerate(wiring):
        if p not in Phase.__members__:
            raise LoadError(f"{where}.wiring[{i}]: {p!r} is not one of L1, L2, L3")
    return Evse(
        _name(obj.get("id"), f"{where}.id"), _name(obj.get("circuit"), f"{where}.circuit"),
        Kind(kind), tuple(Phase(p) for p in wiring),
        _optional(obj.get("max_current_a"), f"{where}.max_current_a"),
        _number(obj.get("min_current_a", 6), f"{where}.min_current_a"),
        _optional(obj.get("max_power_kw"), f"{where}.max_power_kw"),
        _number(obj.get("min_power_kw", 0), f"{where}.min_power_kw"),
    )


def _evse_to_dict(e: Evse) -> dict[str, Any]:
    out: dict[str, Any] = {"id": e.id, "circuit": e.circuit, "kind": e.kind.value,
                           "wiring": [p.value for p in e.wiring]}
    if e.kind is Kind.AC:
        out |= {"min_current_a": e.min_current_a, "max_current_a": e.max_current_a}
    else:
        out |= {"min_power_kw": e.min_power_kw, "max_power_kw": e.max_power_kw}
    return out


def _schedule(data: Any, where: str) -> Schedule | None:
    if data is None:
        return None
    if not isinstance(data, dict):  # a number: a static value
        return Schedule((), _number(data, where))
    obj = _object(data, where, {"windows", "default_kw"})
    return Schedule(tuple(_list(obj, "windows", where + ".", _window, required=False)),
                    _optional(obj.get("default_kw"), f"{where}.default_kw"))


def _window(data: Any, where: str) -> Window:
    obj = _object(data, where, {"start", "end", "kw", "days"})
    days = obj.get("days", list(DAYS))
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise LoadError(f"{where}.days: expected an array of MONDAY..SUNDAY")
    return Window(_time(obj.get("start"), f"{where}.start"), _time(obj.get("end"), f"{where}.end"),
                  _number(obj.get("kw"), f"{where}.kw"),
                  tuple(sorted({DAYS.index(d) + 1 for d in days})))


def _schedule_to_dict(s: Schedule) -> dict[str, Any]:
    return _drop_none({
        "default_kw": s.default_kw,
        "windows": [{"start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M"),
                     "kw": w.kw, "days": [DAYS[d - 1] for d in w.days]} for w in s.windows],
    })


# -- field readers ----------------------------------------------------------------------------


def _object(data: Any, where: str, known: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise LoadError(f"{where}: expected an object, got {type(data).__name__}")
    for key in sorted(set(data) - known, key=str):
        raise LoadError(f"{where}.{key}: unknown field")
    return data


def _list(obj: Mapping[str, Any], name: str, prefix: str, item: Callable[[Any, str], T], *,
          required: bool = True) -> list[T]:
    raw = obj.get(name)
    if raw is None and not required:
        return []
    if not isinstance(raw, list):
        raise LoadError(f"{prefix}{name}: expected an array")
    return [item(x, f"{prefix}{name}[{i}]") for i, x in enumerate(raw)]


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise LoadError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _evse_of(site: Site, value: Any, where: str) -> Evse:
    name = _name(value, where)
    for e in site.evses:
        if e.id == name:
            return e
    raise LoadError(f"{where}: {name!r} is not an EVSE of site {site.id!r}")


def _number(value: Any, where: str, *, signed: bool = False) -> Decimal:
    if value is None:
        raise LoadError(f"{where}: required")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise LoadError(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise LoadError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite() or abs(number) > LARGEST:
        raise LoadError(f"{where}: {value!r} is not a number up to {LARGEST}")
    if number < 0 and not signed:
        raise LoadError(f"{where}: must be >= 0, got {number}")
    return number


def _optional(value: Any, where: str, *, signed: bool = False) -> Decimal | None:
    return None if value is None else _number(value, where, signed=signed)


def _time(value: Any, where: str) -> time:
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise LoadError(f"{where}: {value!r} is not a time of day (HH:MM)")
    return time(int(match[1]), int(match[2]))


def _datetime(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LoadError(f"{where}: {value!r} is not an ISO 8601 date and time") from None
    if parsed.tzinfo is None:
        raise LoadError(f"{where}: needs a time zone (Z or +hh:mm)")
    return parsed


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}



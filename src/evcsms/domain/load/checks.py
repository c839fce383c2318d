"""Input checks for the allocator: sessions and pins against the site's EVSEs.

Each raises `LoadError` with the path of the field (`demands[2].car_phases: 1 to 1 on
EVSE 'A'`); the parser runs the same checks on operator input.
"""

from __future__ import annotations

from collections.abc import Sequence

from evcsms.domain.load.model import Demand, Evse, Kind, LoadError, Pin, Site


def check_demands(site: Site, demands: Sequence[Demand]) -> dict[str, Demand]:
    evses = {e.id: e for e in site.evses}
    out: dict[str, Demand] = {}
    for i, d in enumerate(demands):
        where = f"demands[{i}]"
        e = evses.get(d.evse)
        if e is None:
            raise LoadError(f"{where}.evse: {d.evse!r} is not an EVSE of site {site.id!r}")
        if d.evse in out:
            raise LoadError(f"{where}.evse: a second session on {d.evse!r}")
        check_demand(d, e, where)
        out[d.evse] = d
    return out


def check_demand(d: Demand, e: Evse, where: str) -> None:
    """LoadError naming the field if `d` cannot be a session on `e`."""
    for name in ("arrival", "offered_since"):
        value = getattr(d, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise LoadError(f"{where}.{name}: needs a time zone")
    if d.car_phases is not None and not 1 <= d.car_phases <= len(e.wiring):
        raise LoadError(f"{where}.car_phases: 1 to {len(e.wiring)} on EVSE {e.id!r}")
    if d.draw_a is not None and (len(d.draw_a) > len(e.wiring) or any(a < 0 for a in d.draw_a)):
        raise LoadError(f"{where}.draw_a: at most {len(e.wiring)} currents >= 0 on EVSE {e.id!r}")
    for name in ("draw_kw", "offered"):
        value = getattr(d, name)
        if value is not None and value < 0:
            raise LoadError(f"{where}.{name}: must be >= 0")


def check_pins(site: Site, pins: Sequence[Pin]) -> dict[str, Pin]:
    evses = {e.id: e for e in site.evses}
    out: dict[str, Pin] = {}
    for i, pin in enumerate(pins):
        where = f"pins[{i}]"
        e = evses.get(pin.evse)
        if e is None:
            raise LoadError(f"{where}.evse: {pin.evse!r} is not an EVSE of site {site.id!r}")
        if pin.evse in out:
            raise LoadError(f"{where}.evse: {pin.evse!r} is pinned twice")
        check_pin(pin, e, where)
        out[pin.evse] = pin
    return out


def check_pin(pin: Pin, e: Evse, where: str) -> None:
    """LoadError naming the field unless the pin is 0 or within the EVSE's min..max."""
    if e.kind is Kind.AC:
        low, high, unit = e.min_current_a, e.max_current_a, "A"
    else:
        low, high, unit = e.min_power_kw, e.max_power_kw, "kW"
    assert high is not None
    if pin.value != 0 and not low <= pin.value <= high:
        raise LoadError(f"{where}.value: 0 or {low} to {high} {unit} on EVSE {e.id!r}, "
                        f"got {pin.value}")

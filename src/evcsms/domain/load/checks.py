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
        e = evses.get(d.evse)
        if e is None:
            raise LoadError(f"demands[{i}].evse: {d.evse!r} is not an EVSE of site {site.id!r}")
        if d.evse in out:
            raise LoadError(f"demands[{i}].evse: a second session on {d.evse!r}")
        check_demand(d, e, i)
        out[d.evse] = d
    return out


def check_demand(d: Demand, e: Evse, where: str | int) -> None:
    """LoadError naming the field if `d` cannot be a session on `e` (`where`: the path of
    the session, or its index in the allocator's `demands`)."""
    if d.arrival.tzinfo is None or d.arrival.utcoffset() is None:
        raise LoadError(f"{_path(where)}.arrival: needs a time zone")
    since = d.offered_since
    if since is not None and (since.tzinfo is None or since.utcoffset() is None):
        raise LoadError(f"{_path(where)}.offered_since: needs a time zone")
    n = len(e.wiring)
    if d.car_phases is not None and not 1 <= d.car_phases <= n:
        raise LoadError(f"{_path(where)}.car_phases: 1 to {n} on EVSE {e.id!r}")
    if d.draw_a is not None and (len(d.draw_a) > n or min(d.draw_a, default=0) < 0):
        raise LoadError(f"{_path(where)}.draw_a: at most {n} currents >= 0 on EVSE {e.id!r}")
    if d.draw_kw is not None and d.draw_kw < 0:
        raise LoadError(f"{_path(where)}.draw_kw: must be >= 0")
    if d.offered is not None and d.offered < 0:
        raise LoadError(f"{_path(where)}.offered: must be >= 0")


def _path(where: str | int) -> str:
    return f"demands[{where}]" if isinstance(where, int) else where


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

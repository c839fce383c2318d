"""Site load allocation: the tree, the sessions and the limits in, one setpoint per EVSE out.

`allocate(site, demands, at)` is a pure function (docs/load-management.md has the rules
with examples). Every load is a *level*: current per grid phase on each phase it uses
(an AC setpoint; for DC the equivalent power / (phases x V)). In order:

1. **Pins** (by EVSE id) take their value, lowered to what fits (0 if that is below the
   EVSE's minimum). A paused site gets 0 everywhere, pins included.
2. **Admission**: sessions in policy order (priority, then arrival, then EVSE id) each
   reserve their minimum if it fits beside everything reserved before; otherwise they wait
   at 0. So the last arrivals wait, and get power once the earlier ones leave.
3. **Filling** (progressive filling): within a group (everyone under EQUAL; one priority
   level at a time under PRIORITY; one session at a time under FIRST_COME) a common level
   rises; each load follows it between its minimum and its cap; when a constraint (a
   node's phase or power) fills, every load of the group under it stops there. Result:
   the max-min fair share of the group given what earlier groups took.
4. **Crumbs**: levels stop at 0.1 A steps (DC 0.01 A), rounded down. What that leaves is
   handed out in policy order, one step each, then as much as fits; so afterwards no
   session below its cap could take one more step without passing a limit.

Inside, every figure is an exact int (tree.py: cA and scaled power units); limits are
rounded down, loads' minimums and a DC load's level up, and the only division (where a
constraint fills) is a floor division, so no limit is ever passed. Work is
O((sessions + constraints) x depth x log), no pairwise loops.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from evcsms.domain.load.checks import check_demands, check_pins
from evcsms.domain.load.filling import (
    Load,
    State,
    admit,
    crumbs,
    drop_slack_constraints,
    explain,
    fill_group,
    groups,
    serve_pin,
)
from evcsms.domain.load.model import (
    Allocation,
    Bound,
    Demand,
    Evse,
    Kind,
    LoadError,
    NodeUsage,
    Phase,
    Pin,
    Policy,
    Reason,
    Setpoint,
    Site,
    Unit,
)
from evcsms.domain.load.schedule import limit_at, load_at, worst_limit, worst_load
from evcsms.domain.load.tree import Tree, ceil_int, compile_tree, floor_int, load_phases

HEADROOM_A = Decimal(2)  # a car drawing below its offer keeps this much above its draw
SETTLE = timedelta(seconds=60)  # a draw counts this long after the offer took effect
_AC_STEP, _DC_STEP = 10, 1  # cA: 0.1 A for AC setpoints, 0.01 A (6.9 W at 230 V x 3) for DC
_CHARGING_A = Decimal(2)  # draw_a tells the car's phases only when it draws this much
_PHASE_IN_USE_A = Decimal(1)
_INDEX = {Phase.L1: 0, Phase.L2: 1, Phase.L3: 2}


def allocate(
    site: Site,
    demands: Iterable[Demand],
    at: datetime,
    *,
    policy: Policy = Policy.EQUAL,
    pins: Iterable[Pin] = (),
    paused: bool = False,
    headroom_a: Decimal = HEADROOM_A,
    settle: timedelta = SETTLE,
) -> Allocation:
    """A setpoint for every EVSE of `site` at instant `at` (schedules read in the site's zone)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise LoadError("at: needs a time zone")
    local = at.astimezone(site.zone)
    building = load_at(site.building_load, local) if site.building_load else Decimal(0)
    peak = limit_at(site.peak_limit, local) if site.peak_limit else None
    return _allocate(site, tuple(demands), at, policy, tuple(pins), paused,
                     headroom_a, settle, building, peak)


def failsafe(site: Site) -> tuple[Setpoint, ...]:
    """A limit per EVSE that is safe whatever the others do: its equal share when every
    EVSE charges at once on all its phases, under the highest building load and the lowest
    peak limit the schedules ever give. If the minimums do not all fit, the EVSEs last by
    id get 0. For a station's fallback profile when it loses its link (and pin an offline
    station's EVSEs at these values so the live allocation leaves room for them)."""
    t = datetime(2000, 1, 1, tzinfo=UTC)
    building = worst_load(site.building_load) if site.building_load else Decimal(0)
    peak = worst_limit(site.peak_limit) if site.peak_limit else None
    demands = tuple(Demand(e.id, t) for e in site.evses)
    return _allocate(site, demands, t, Policy.EQUAL, (), False, HEADROOM_A, SETTLE, building,
                     peak).setpoints


def _allocate(site: Site, demands: tuple[Demand, ...], at: datetime, policy: Policy,
              pins: tuple[Pin, ...], paused: bool, headroom: Decimal, settle: timedelta,
              building: Decimal, peak: Decimal | None) -> Allocation:
    by_demand = check_demands(site, demands)
    by_pin = check_pins(site, pins)
    tree = compile_tree(site, building, peak)
    st = State(list(tree.limits))
    loads: list[Load] = []
    fixed_reason: dict[str, Reason] = {}
    evses = sorted(site.evses, key=lambda e: e.id)
    for e in evses:
        d = by_demand.get(e.id)
        if paused:
            fixed_reason[e.id] = Reason.PAUSED
        elif e.id in by_pin:
            x = _load(tree, e, d)
            _pin(tree, x, by_pin[e.id])
            loads.append(x)
        elif d is None:
            fixed_reason[e.id] = Reason.IDLE
        elif d.energy_wanted_kwh is not None and d.energy_wanted_kwh <= 0:
            fixed_reason[e.id] = Reason.SATISFIED
        else:
            x = _load(tree, e, d)
            _cap_by_draw(tree, x, d, at, headroom, settle)
            x.key = (-d.priority, d.arrival, d.evse) if policy is Policy.PRIORITY else (
                d.arrival, d.evse)
            loads.append(x)
    drop_slack_constraints(st, loads)
    for x in loads:
        if x.pinned:
            serve_pin(st, x)
    admitted = [x for x in sorted((x for x in loads if not x.pinned), key=lambda x: x.key)
                if admit(st, x)]
    for gid, group in enumerate(groups(admitted, policy)):
        fill_group(st, group, gid)
    crumbs(st, admitted)
    for x in loads:
        explain(st, x)
    return Allocation(at, policy, _setpoints(evses, tree, by_demand, loads, fixed_reason),
                      _usage(tree, loads), building, peak)


# -- building the loads -----------------------------------------------------------------------


def _load(tree: Tree, e: Evse, d: Demand | None) -> Load:
    phases = load_phases(e, _car_phases(e, d))
    coefs = tree.coefs(e.circuit, phases)
    if e.kind is Kind.AC:
        assert e.max_current_a is not None
        lo, hi = _ac_levels(e.min_current_a, e.max_current_a)
        return Load(e, phases, coefs, lo, hi, _AC_STEP)
    assert e.max_power_kw is not None
    lo, hi, max_w = _dc_levels(e.min_power_kw, e.max_power_kw, tree.volts * len(phases),
                               tree.scale)
    return Load(e, phases, coefs, lo, hi, _DC_STEP, cap_w=max_w)


@lru_cache(maxsize=4096)
def _ac_levels(low: Decimal, high: Decimal) -> tuple[int, int]:
    """An AC EVSE's minimum (up) and maximum (down) in cA, in 0.1 A steps (EVSEs of a site
    mostly share their ratings, so this is remembered)."""
    return ceil_int(low * 10) * 10, floor_int(high * 10) * 10


@lru_cache(maxsize=4096)
def _dc_levels(low_kw: Decimal, high_kw: Decimal, per_ca: int, scale: int) -> tuple[int, int, int]:
    """A DC EVSE's minimum and maximum level in cA (both up) and its maximum in whole W."""
    max_w = floor_int(high_kw * 1000)
    return (_dc_level(ceil_int(low_kw * 1000), per_ca, scale), _dc_level(max_w, per_ca, scale),
            max_w)


@lru_cache(maxsize=64)
def _watts_per_amp(per_ca: int, scale: int) -> Decimal:
    """W per A of level: V x phases."""
    return Decimal(per_ca * 100) / scale


def _dc_level(watts: int, per_ca: int, scale: int) -> int:
    """The cA level that carries `watts`, rounded up (the tree is never charged too little)."""
    return -(-watts * scale // per_ca)


def _car_phases(e: Evse, d: Demand | None) -> int | None:
    """The conductors a car uses: as given, else from its per-phase draw (the last conductor
    drawing >= 1 A, once some conductor draws >= 2 A), else all (None)."""
    if d is None or e.kind is Kind.DC:
        return None
    if d.car_phases is not None:
        return d.car_phases
    draw = d.draw_a
    if draw and max(draw) >= _CHARGING_A:
        n = len(draw)
        while draw[n - 1] < _PHASE_IN_USE_A:
            n -= 1
        return n
    return None


def _pin(tree: Tree, x: Load, pin: Pin) -> None:
    x.pinned = True
    if x.evse.kind is Kind.AC:
        x.hi = floor_int(pin.value * 10) * 10
    else:
        x.cap_w = floor_int(pin.value * 1000)
        x.hi = _dc_level(x.cap_w, tree.volts * len(x.phases), tree.scale)


def _cap_by_draw(tree: Tree, x: Load, d: Demand, at: datetime, headroom: Decimal,
                 settle: timedelta) -> None:
    """A car drawing less than its offer minus the headroom keeps its draw plus the headroom."""
    if d.offered is None or d.offered_since is None or at - d.offered_since < settle:
        return
    per_amp_w = _watts_per_amp(tree.volts * len(x.phases), tree.scale)
    if d.draw_a:
        drawn: Decimal | None = max(d.draw_a)
    else:
        drawn = None if d.draw_kw is None else d.draw_kw * 1000 / per_amp_w
    offered = d.offered if x.evse.kind is Kind.AC else d.offered / per_amp_w  # A, or W
    if drawn is None or drawn + headroom >= offered:
        return
    cap = floor_int((drawn + headroom) * 100)
    cap = max(x.lo, cap - cap % x.step)
    if cap < x.hi:
        x.hi = cap
        x.draw_capped = True


# -- the result -------------------------------------------------------------------------------


def _setpoints(evses: list[Evse], tree: Tree, by_demand: dict[str, Demand], loads: list[Load],
               fixed_reason: dict[str, Reason]) -> tuple[Setpoint, ...]:
    by_evse = {x.evse.id: x for x in loads}
    out = []
    shown = (Reason.LIMITED, Reason.WAITING, Reason.PINNED)
    for e in evses:
        x = by_evse.get(e.id)
        if x is None:
            phases = load_phases(e, _car_phases(e, by_demand.get(e.id)))
            out.append(_setpoint(tree, e, phases, 0, None, fixed_reason[e.id], None))
        else:
            assert x.reason is not None
            bound = tree.bounds[x.bound] if x.bound is not None and x.reason in shown else None
            out.append(_setpoint(tree, e, x.phases, x.value, x.cap_w, x.reason, bound))
    return tuple(out)


def _setpoint(tree: Tree, e: Evse, phases: tuple[Phase, ...], level: int, cap_w: int | None,
              reason: Reason, bound: Bound | None) -> Setpoint:
    watts = tree.watts(level * tree.volts * len(phases))
    if e.kind is Kind.DC:
        if cap_w is not None:
            watts = min(watts, cap_w)
        return Setpoint(e.id, _decimal(watts, 0), Unit.W, _decimal(level, -2),
                        _decimal(watts, 0), None, None, phases, reason, bound)
    single = 1 if len(phases) == 1 and len(e.wiring) == 3 else None
    tenths = _decimal(level // 10, -1)
    return Setpoint(e.id, tenths, Unit.A, tenths, _decimal(watts, 0), len(phases), single,
                    phases, reason, bound)


@lru_cache(maxsize=65536)
def _decimal(units: int, exponent: int) -> Decimal:
    """units x 10^exponent (setpoints repeat the same few values; Decimals are immutable)."""
    return Decimal(units).scaleb(exponent)


def _usage(tree: Tree, loads: list[Load]) -> tuple[NodeUsage, ...]:
    """Per node: the cA charged on each phase and the power, from each circuit's own loads
    added up along its path."""
    own: dict[str, list[int]] = {}
    for x in loads:
        if x.value > 0:
            sums = own.setdefault(x.evse.circuit, [0, 0, 0, 0])
            for p in x.phases:
                sums[_INDEX[p]] += x.value
            sums[3] += x.value * len(x.phases)
    total = {n: [0, 0, 0, 0] for n in tree.order}
    for circuit, sums in own.items():
        for node in tree.paths[circuit]:
            t = total[node]
            for i in range(4):
                t[i] += sums[i]
    kw = -(tree.power_exp + 3)
    out = []
    for n in tree.order:
        amps, power = tree.node_limits[n]
        t = total[n]
        out.append(NodeUsage(
            n, (_amps(amps[0]), _amps(amps[1]), _amps(amps[2])),
            (Decimal(t[0]).scaleb(-2), Decimal(t[1]).scaleb(-2), Decimal(t[2]).scaleb(-2)),
            None if power is None else Decimal(power).scaleb(kw),
            Decimal(t[3] * tree.volts).scaleb(kw)))
    return tuple(out)


def _amps(centiamps: int | None) -> Decimal | None:
    return None if centiamps is None else Decimal(centiamps).scaleb(-2)

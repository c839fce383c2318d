"""Site load allocation: the tree, the sessions and the limits in, one setpoint per EVSE out.

`allocate(site, demands, at)` is a pure function (docs/load-management.md has the rules
with examples). Every load is a *level*: A per grid phase on each phase it uses (an AC
setpoint; for DC the equivalent power / (phases x V)). In order:

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

Arithmetic is exact Decimal; the only division (where a constraint fills) rounds down,
and a DC load is charged to the tree at a level rounded up from its power, so no limit
is ever passed. Work is O((sessions + constraints) x depth x log), no pairwise loops.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from itertools import groupby

from evcsms.domain.load.model import (
    STEP_A,
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
    ceil_to,
    floor_to,
)
from evcsms.domain.load.schedule import limit_at, load_at, worst_limit, worst_load
from evcsms.domain.load.tree import Tree, compile_tree, load_phases

HEADROOM_A = Decimal(2)  # a car drawing below its offer keeps this much above its draw
SETTLE = timedelta(seconds=60)  # a draw counts this long after the offer took effect
STEP_DC = Decimal("0.01")  # DC levels, A per phase (6.9 W at 230 V, three phases)
_CHARGING_A = Decimal(2)  # draw_a tells the car's phases only when it draws this much
_PHASE_IN_USE_A = Decimal(1)
_WAITING, _ACTIVE, _FROZEN = 0, 1, 2


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
    return _allocate(site, demands, t, Policy.EQUAL, (), False, HEADROOM_A, SETTLE,
                     building, peak).setpoints


@dataclass(slots=True, eq=False)
class _Load:
    """One EVSE taking part, with its level in A per phase."""

    evse: Evse
    phases: tuple[Phase, ...]
    per_amp_w: Decimal  # V x phases: W per A of level
    coefs: tuple[tuple[int, Decimal], ...]
    lo: Decimal
    hi: Decimal
    step: Decimal
    cap_w: Decimal | None = None  # DC: the W the setpoint may not pass
    key: tuple[object, ...] = ()
    group: int = -1
    draw_capped: bool = False
    pinned: bool = False
    value: Decimal = Decimal(0)
    status: int = _WAITING
    reason: Reason | None = None
    bound: int | None = None  # the constraint that stopped it


@dataclass(slots=True)
class _State:
    limit: list[Decimal]
    fixed: list[Decimal] = field(default_factory=list)  # reserved by loads not following the level
    rate: list[Decimal] = field(default_factory=list)  # use per A of level by loads following it
    tight: list[bool] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    members: list[list[_Load]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.limit)
        self.fixed = [Decimal(0)] * n
        self.rate = [Decimal(0)] * n
        self.tight = [False] * n
        self.version = [0] * n
        self.members = [[] for _ in range(n)]

    def fits(self, x: _Load, amount: Decimal) -> int | None:
        """None if `amount` more level for `x` fits everywhere, else the first constraint it passes."""
        fixed, limit = self.fixed, self.limit
        for c, k in x.coefs:
            if fixed[c] + k * amount > limit[c]:
                return c
        return None

    def take(self, x: _Load, amount: Decimal) -> None:
        fixed = self.fixed
        for c, k in x.coefs:
            fixed[c] += k * amount
        x.value += amount

    def room(self, x: _Load) -> Decimal | None:
        """The most level `x` could still add (None: nothing limits it)."""
        best: Decimal | None = None
        for c, k in x.coefs:
            r = (self.limit[c] - self.fixed[c]) / k
            if best is None or r < best:
                best = r
        return best


def _allocate(site: Site, demands: tuple[Demand, ...], at: datetime, policy: Policy,
              pins: tuple[Pin, ...], paused: bool, headroom: Decimal, settle: timedelta,
              building: Decimal, peak: Decimal | None) -> Allocation:
    by_demand = _check_demands(site, demands)
    by_pin = _check_pins(site, pins)
    tree = compile_tree(site, building, peak)
    st = _State(list(tree.limits))
    loads: list[_Load] = []
    fixed_reason: dict[str, Reason] = {}
    with localcontext(prec=28, rounding=ROUND_FLOOR):
        for e in sorted(site.evses, key=lambda e: e.id):
            d = by_demand.get(e.id)
            if paused:
                fixed_reason[e.id] = Reason.PAUSED
            elif e.id in by_pin:
                x = _load(site, tree, e, d)
                _pin(x, by_pin[e.id], site.voltage_v)
                loads.append(x)
            elif d is None:
                fixed_reason[e.id] = Reason.IDLE
            elif d.energy_wanted_kwh is not None and d.energy_wanted_kwh <= 0:
                fixed_reason[e.id] = Reason.SATISFIED
            else:
                x = _load(site, tree, e, d)
                _cap_by_draw(x, d, at, headroom, settle)
                x.key = _key(policy, d)
                loads.append(x)
        for x in loads:
            if x.pinned:
                _serve_pin(st, x)
        admitted = [x for x in sorted((x for x in loads if not x.pinned), key=lambda x: x.key)
                    if _admit(st, x)]
        for gid, group in enumerate(_groups(admitted, policy)):
            _fill(st, group, gid)
        _crumbs(st, admitted)
        for x in loads:
            _explain(st, x)
        setpoints = _setpoints(site, by_demand, loads, fixed_reason, tree)
    return Allocation(at, policy, setpoints, _usage(site, tree, loads), building, peak)


# -- building the loads -----------------------------------------------------------------------


def _load(site: Site, tree: Tree, e: Evse, d: Demand | None) -> _Load:
    phases = load_phases(e, _car_phases(e, d))
    per_amp_w = site.voltage_v * len(phases)
    coefs = tree.coefs(e.circuit, phases, per_amp_w)
    if e.kind is Kind.AC:
        assert e.max_current_a is not None
        return _Load(e, phases, per_amp_w, coefs, ceil_to(e.min_current_a, STEP_A),
                     floor_to(e.max_current_a, STEP_A), STEP_A)
    assert e.max_power_kw is not None
    max_w = floor_to(e.max_power_kw * 1000, Decimal(1))
    return _Load(e, phases, per_amp_w, coefs, _dc_level(ceil_to(e.min_power_kw * 1000, Decimal(1)),
                                                        per_amp_w),
                 _dc_level(max_w, per_amp_w), STEP_DC, cap_w=max_w)


def _dc_level(watts: Decimal, per_amp_w: Decimal) -> Decimal:
    """The level that carries `watts`, rounded up (so the tree is never charged too little)."""
    with localcontext(rounding=ROUND_CEILING):
        return ceil_to(watts / per_amp_w, STEP_DC)


def _car_phases(e: Evse, d: Demand | None) -> int | None:
    """The conductors a car uses: as given, else from its per-phase draw (the last conductor
    drawing >= 1 A, once some conductor draws >= 2 A), else all (None)."""
    if d is None or e.kind is Kind.DC:
        return None
    if d.car_phases is not None:
        return d.car_phases
    if d.draw_a and max(d.draw_a) >= _CHARGING_A:
        return max(i + 1 for i, a in enumerate(d.draw_a) if a >= _PHASE_IN_USE_A)
    return None


def _pin(x: _Load, pin: Pin, voltage: Decimal) -> None:
    x.pinned = True
    if x.evse.kind is Kind.AC:
        x.hi = floor_to(pin.value, STEP_A)
    else:
        x.cap_w = floor_to(pin.value * 1000, Decimal(1))
        x.hi = _dc_level(x.cap_w, x.per_amp_w)


def _cap_by_draw(x: _Load, d: Demand, at: datetime, headroom: Decimal, settle: timedelta) -> None:
    """A car drawing less than its offer minus the headroom keeps its draw plus the headroom."""
    if d.offered is None or d.offered_since is None or at - d.offered_since < settle:
        return
    if d.draw_a:
        drawn = max(d.draw_a)
    elif d.draw_kw is not None:
        drawn = d.draw_kw * 1000 / x.per_amp_w
    else:
        return
    offered = d.offered if x.evse.kind is Kind.AC else d.offered / x.per_amp_w
    if drawn + headroom >= offered:
        return
    cap = max(x.lo, floor_to(drawn + headroom, x.step))
    if cap < x.hi:
        x.hi = cap
        x.draw_capped = True


def _key(policy: Policy, d: Demand) -> tuple[object, ...]:
    if policy is Policy.PRIORITY:
        return (-d.priority, d.arrival, d.evse)
    return (d.arrival, d.evse)


def _groups(admitted: list[_Load], policy: Policy) -> list[list[_Load]]:
    if policy is Policy.EQUAL:
        return [admitted] if admitted else []
    if policy is Policy.FIRST_COME:
        return [[x] for x in admitted]
    return [list(g) for _, g in groupby(admitted, key=lambda x: x.key[0])]


# -- the steps --------------------------------------------------------------------------------


def _serve_pin(st: _State, x: _Load) -> None:
    room = st.room(x)
    value = x.hi if room is None else min(x.hi, floor_to(room, x.step))
    if value < x.lo:
        value = Decimal(0)
    st.take(x, value)
    x.status = _FROZEN


def _admit(st: _State, x: _Load) -> bool:
    blocked = st.fits(x, x.lo)
    if blocked is not None:
        x.reason, x.bound, x.status = Reason.WAITING, blocked, _FROZEN
        return False
    st.take(x, x.lo)
    for c, _ in x.coefs:
        st.members[c].append(x)
    return True


def _fill(st: _State, group: list[_Load], gid: int) -> None:
    """Progressive filling of one group; every load of it ends frozen."""
    for x in group:
        x.group = gid
    events = sorted([(x.lo, 0, i) for i, x in enumerate(group)]
                    + [(x.hi, 1, i) for i, x in enumerate(group)])
    heap: list[tuple[Decimal, int, int]] = []
    for level, kind, i in events:
        while heap and heap[0][0] < level:
            _fill_constraint(st, heap, gid)
        x = group[i]
        if kind == 0:
            _activate(st, x, heap)
        elif x.status == _ACTIVE:
            _freeze(st, x, level, None, heap)


def _fill_constraint(st: _State, heap: list[tuple[Decimal, int, int]], gid: int) -> None:
    level, c, version = heapq.heappop(heap)
    if version != st.version[c] or st.tight[c]:
        return
    st.tight[c] = True
    for x in st.members[c]:
        if x.group == gid and x.status != _FROZEN:
            _freeze(st, x, level, c, heap)


def _activate(st: _State, x: _Load, heap: list[tuple[Decimal, int, int]]) -> None:
    for c, _ in x.coefs:
        if st.tight[c]:
            x.status, x.bound = _FROZEN, c
            return
    x.status = _ACTIVE
    for c, k in x.coefs:
        st.fixed[c] -= k * x.lo
        st.rate[c] += k
        _push(st, c, heap)
    x.value = Decimal(0)


def _freeze(st: _State, x: _Load, level: Decimal, c: int | None,
            heap: list[tuple[Decimal, int, int]]) -> None:
    if x.status == _ACTIVE:
        x.value = min(x.hi, floor_to(level, x.step))
        for c2, k in x.coefs:
            st.rate[c2] -= k
            st.fixed[c2] += k * x.value
            _push(st, c2, heap)
    x.status, x.bound = _FROZEN, c


def _push(st: _State, c: int, heap: list[tuple[Decimal, int, int]]) -> None:
    st.version[c] += 1
    if st.rate[c] > 0 and not st.tight[c]:
        heapq.heappush(heap, ((st.limit[c] - st.fixed[c]) / st.rate[c], c, st.version[c]))


def _crumbs(st: _State, admitted: list[_Load]) -> None:
    for x in admitted:
        if x.value < x.hi and st.fits(x, x.step) is None:
            st.take(x, x.step)
    for x in admitted:
        room = st.room(x)
        more = x.hi - x.value if room is None else min(x.hi - x.value, floor_to(room, x.step))
        if more > 0:
            st.take(x, more)


def _explain(st: _State, x: _Load) -> None:
    if x.reason is Reason.WAITING:
        return
    if x.value < x.hi:
        need = x.step if x.value > 0 else max(x.lo, x.step)  # the next thing it could get
        blocked = st.fits(x, need)
        x.bound = blocked if blocked is not None else x.bound
        x.reason = Reason.PINNED if x.pinned else Reason.LIMITED
    else:
        x.bound = None
        x.reason = (Reason.PINNED if x.pinned else Reason.DRAW if x.draw_capped
                    else Reason.AT_MAX)


# -- the result -------------------------------------------------------------------------------


def _setpoints(site: Site, by_demand: dict[str, Demand], loads: list[_Load],
               fixed_reason: dict[str, Reason], tree: Tree) -> tuple[Setpoint, ...]:
    by_evse = {x.evse.id: x for x in loads}
    out = []
    for e in sorted(site.evses, key=lambda e: e.id):
        x = by_evse.get(e.id)
        if x is None:
            phases = load_phases(e, _car_phases(e, by_demand.get(e.id)))
            out.append(_setpoint(e, phases, Decimal(0), site.voltage_v * len(phases), None,
                                 fixed_reason[e.id], None))
        else:
            bound = None if x.bound is None or x.reason not in (
                Reason.LIMITED, Reason.WAITING, Reason.PINNED) else tree.bounds[x.bound]
            assert x.reason is not None
            out.append(_setpoint(e, x.phases, x.value, x.per_amp_w, x.cap_w, x.reason, bound))
    return tuple(out)


def _setpoint(e: Evse, phases: tuple[Phase, ...], level: Decimal, per_amp_w: Decimal,
              cap_w: Decimal | None, reason: Reason, bound: Bound | None) -> Setpoint:
    watts = floor_to(level * per_amp_w, Decimal(1))
    if e.kind is Kind.DC:
        if cap_w is not None:
            watts = min(watts, cap_w)
        return Setpoint(e.id, watts, Unit.W, level, watts, None, None, phases, reason, bound)
    single = 1 if len(phases) == 1 and len(e.wiring) == 3 else None
    return Setpoint(e.id, level, Unit.A, level, watts, len(phases), single, phases, reason, bound)


def _usage(site: Site, tree: Tree, loads: list[_Load]) -> tuple[NodeUsage, ...]:
    amps = {n: [Decimal(0)] * 3 for n in tree.order}
    watts = dict.fromkeys(tree.order, Decimal(0))
    index = {Phase.L1: 0, Phase.L2: 1, Phase.L3: 2}
    for x in loads:
        if x.value <= 0:
            continue
        for node in tree.paths[x.evse.circuit]:
            for p in x.phases:
                amps[node][index[p]] += x.value
            watts[node] += x.value * x.per_amp_w
    return tuple(NodeUsage(n, tree.limit_a[n], (amps[n][0], amps[n][1], amps[n][2]),
                           tree.limit_kw[n], watts[n] / 1000) for n in tree.order)


# -- input checks -----------------------------------------------------------------------------


def _check_demands(site: Site, demands: Sequence[Demand]) -> dict[str, Demand]:
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


def _check_pins(site: Site, pins: Sequence[Pin]) -> dict[str, Pin]:
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

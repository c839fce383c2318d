"""Site load allocation: golden cases (load_cases/*.json) and the laws as Hypothesis properties.

Every golden figure is a hand calculation written out in the case's `source`; none was
produced by this engine. The properties check the allocator against an independent
model of the tree written here with exact Fractions: what each setpoint really draws on
each grid phase, and each node's limit after building load and peak shaving.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evcsms.domain import jsontext
from evcsms.domain.load import (
    HEADROOM_A,
    Allocation,
    Circuit,
    Demand,
    Evse,
    Kind,
    LoadError,
    Phase,
    Pin,
    Policy,
    Reason,
    Schedule,
    Site,
    Unit,
    Window,
    allocate,
    allocation_to_dict,
    demand_from_dict,
    demand_to_dict,
    failsafe,
    limit_at,
    load_at,
    next_change,
    pin_from_dict,
    site_from_dict,
    site_to_dict,
)

CASES = Path(__file__).parent / "load_cases"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
PHASES = (Phase.L1, Phase.L2, Phase.L3)
LAWS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- golden cases -----------------------------------------------------------------------------


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=Decimal)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = _load(path)
    site = site_from_dict(case["site"])
    for n, step in enumerate(case["steps"]):
        ds = tuple(demand_from_dict(s, site, f"sessions[{i}]")
                   for i, s in enumerate(step["sessions"]))
        ps = [pin_from_dict(p, site) for p in step.get("pins", [])]
        result = allocate(site, ds, _at(step["at"]), policy=Policy(case["policy"]), pins=ps,
                          paused=step.get("paused", False))
        where = f"{path.stem} step {n} ({step['at']})"
        assert sorted(step["expected"]) == sorted(e.id for e in site.evses), where
        for evse, want in step["expected"].items():
            got = allocation_to_dict(result)["setpoints"]
            s = next(s for s in got if s["evse"] == evse)
            bound = None if s["bound"] is None else f"{s['bound']['node']} {s['bound']['quantity']}"
            seen = {**s, "bound": bound}
            for name, value in want.items():
                assert seen[name] == value, f"{where} {evse}.{name}: {seen[name]} != {value}"
        for name in ("building_load_kw", "peak_limit_kw"):
            if name in step:
                assert getattr(result, name) == step[name], f"{where} {name}"
        _check_laws(site, result, ps, ds)


def test_there_are_enough_golden_cases() -> None:
    assert len(list(CASES.glob("*.json"))) >= 12


# -- an independent model of the tree ---------------------------------------------------------


def _paths(site: Site) -> dict[str, list[str]]:
    parent = {c.id: c.parent for c in site.circuits}
    out = {}
    for c in site.circuits:
        path = [c.id]
        while parent[path[-1]] is not None:
            path.append(parent[path[-1]])  # type: ignore[arg-type]
        out[c.id] = path
    return out


def _limits(site: Site, at: datetime) -> dict[str, tuple[list[Fraction | None], Fraction | None]]:
    """Each node's exact limits: A per phase and W, after building load and peak shaving."""
    local = at.astimezone(site.zone)
    building = Fraction(load_at(site.building_load, local)) if site.building_load else Fraction(0)
    peak = limit_at(site.peak_limit, local) if site.peak_limit else None
    out = {}
    for c in site.circuits:
        amps = [None if c.max_current_a is None else Fraction(a) for a in (c.max_current_a or [None] * 3)]
        kw = None if c.max_power_kw is None else Fraction(c.max_power_kw)
        if c.parent is None:
            amps = [None if a is None else max(Fraction(0), a - building * 1000 / (3 * Fraction(site.voltage_v)))
                    for a in amps]
            if peak is not None:
                kw = Fraction(peak) if kw is None else min(kw, Fraction(peak))
            if kw is not None:
                kw = max(Fraction(0), kw - building)
        out[c.id] = (amps, None if kw is None else kw * 1000)
    return out


def _draws(site: Site, result: Allocation, *, accounted: bool
           ) -> dict[str, tuple[list[Fraction], Fraction]]:
    """Per node: A on each phase and W. Really drawn (DC: W / (phases x V)) or, with
    `accounted`, what the allocator says it charged (`current_a` on every phase)."""
    paths = _paths(site)
    evses = {e.id: e for e in site.evses}
    out = {c.id: ([Fraction(0)] * 3, Fraction(0)) for c in site.circuits}
    volts = Fraction(site.voltage_v)
    for s in result.setpoints:
        e = evses[s.evse]
        n = len(s.phases)
        if e.kind is Kind.AC or accounted:
            amps = Fraction(s.current_a)
            watts = volts * n * amps
        else:
            watts = Fraction(s.power_w)
            amps = watts / (n * volts)
        for node in paths[e.circuit]:
            phase_amps, total = out[node]
            for p in s.phases:
                phase_amps[PHASES.index(p)] += amps
            out[node] = (phase_amps, total + watts)
    return out


def _expected_phases(e: Evse, d: Demand | None) -> tuple[Phase, ...]:
    if e.kind is Kind.DC or d is None:
        return e.wiring
    n = d.car_phases
    if n is None and d.draw_a and max(d.draw_a) >= 2:
        n = max(i + 1 for i, a in enumerate(d.draw_a) if a >= 1)
    return e.wiring if n is None else e.wiring[:n]


def _level(value: Decimal, per_amp_w: Decimal, rounding: str) -> Decimal:
    return (value / per_amp_w).quantize(Decimal("0.01"), rounding=rounding)


def _lo(site: Site, e: Evse, phases: tuple[Phase, ...]) -> Decimal:
    if e.kind is Kind.AC:
        return e.min_current_a.quantize(Decimal("0.1"), rounding=ROUND_CEILING)
    watts = (e.min_power_kw * 1000).quantize(Decimal(1), rounding=ROUND_CEILING)
    return _level(watts, site.voltage_v * len(phases), ROUND_CEILING)


def _check_laws(site: Site, result: Allocation, pins: list[Pin], demands: tuple[Demand, ...] = ()
                ) -> None:
    """The laws every allocation obeys, checked against the independent model."""
    limits = _limits(site, result.at)
    evses = {e.id: e for e in site.evses}
    pinned = {p.evse: p for p in pins or []}
    by_evse = {d.evse: d for d in demands}
    for accounted in (False, True):
        for node, (amps, watts) in _draws(site, result, accounted=accounted).items():
            phase_limits, watt_limit = limits[node]
            for i, limit in enumerate(phase_limits):
                assert limit is None or amps[i] <= limit, f"{node} L{i + 1}: {float(amps[i])} > {limit}"
            assert watt_limit is None or watts <= watt_limit, f"{node} power: {watts} > {watt_limit}"
    assert [s.evse for s in result.setpoints] == sorted(evses)
    for s in result.setpoints:
        e = evses[s.evse]
        if e.kind is Kind.AC:
            assert s.unit is Unit.A and s.limit == s.current_a
            assert s.limit == 0 or e.min_current_a <= s.limit <= e.max_current_a  # type: ignore[operator]
            assert s.limit == s.limit.quantize(Decimal("0.1"))
            assert s.power_w == (site.voltage_v * len(s.phases) * s.limit).quantize(Decimal(1), ROUND_FLOOR)
            assert s.number_phases == len(s.phases)
        else:
            assert s.unit is Unit.W and s.limit == s.power_w == s.power_w.quantize(Decimal(1))
            assert s.limit == 0 or e.min_power_kw * 1000 <= s.limit <= e.max_power_kw * 1000  # type: ignore[operator]
            assert s.power_w <= s.current_a * site.voltage_v * len(s.phases)
        if s.evse in pinned:
            assert s.reason in (Reason.PINNED, Reason.PAUSED)
            pin = pinned[s.evse].value
            assert s.limit <= (pin if e.kind is Kind.AC else pin * 1000)
        if s.reason in (Reason.IDLE, Reason.PAUSED, Reason.SATISFIED, Reason.WAITING):
            assert s.limit == 0
        if demands and s.evse not in pinned:
            assert s.phases == _expected_phases(e, by_evse.get(s.evse))
    used = _draws(site, result, accounted=True)
    for n in result.nodes:
        assert [Fraction(a) for a in n.used_a] == used[n.node][0]
        assert Fraction(n.used_kw) * 1000 == used[n.node][1]


# -- generated sites --------------------------------------------------------------------------

# Strategies are built once here: building them inside the composites costs more than the tests.
AMPS = st.integers(0, 400).map(lambda q: Decimal(q) / 4)  # 0 .. 100 A in 0.25 A
MAYBE_AMPS = st.none() | AMPS
MAYBE_PHASE_AMPS = st.none() | st.tuples(AMPS, AMPS, AMPS)
MAYBE_KW = st.none() | st.integers(0, 1000).map(lambda t: Decimal(t) / 10)  # 0 .. 100 kW
TENTHS_60 = st.integers(0, 600).map(lambda t: Decimal(t) / 10)
MAYBE_TENTHS_60 = st.none() | TENTHS_60
TENTHS_30 = st.integers(0, 300).map(lambda t: Decimal(t) / 10)
WINDOW = st.builds(
    Window,
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 30])),
    TENTHS_60,
    st.sets(st.integers(1, 7), min_size=1).map(lambda days: tuple(sorted(days))),
)
LIMIT_SCHEDULE = st.none() | st.builds(Schedule, st.lists(WINDOW, max_size=3).map(tuple),
                                       MAYBE_TENTHS_60)
LOAD_SCHEDULE = st.none() | st.builds(Schedule, st.lists(WINDOW, max_size=3).map(tuple),
                                      TENTHS_30)
DC_MIN = st.integers(0, 40).map(lambda h: Decimal(h) / 2)
DC_SPAN = st.integers(1, 300).map(lambda h: Decimal(h) / 2)
AC_MIN = st.sampled_from([Decimal(0), Decimal(6), Decimal(6), Decimal("6.5"), Decimal(10)])
AC_SPAN = st.integers(1, 120).map(lambda h: Decimal(h) / 4)
VOLTS = st.sampled_from([Decimal(230), Decimal(120), Decimal("239.5")])
ZONES = st.sampled_from(["UTC", "Europe/Amsterdam", "America/New_York"])
MAYBE_KWH = st.none() | st.sampled_from([Decimal(0), Decimal(-1), Decimal(5), Decimal(40)])
MAYBE_DRAW_KW = st.none() | st.integers(0, 1500).map(lambda t: Decimal(t) / 10)
MAYBE_OFFERED = st.none() | st.integers(0, 60000).map(Decimal)
DRAWS = {n: st.none() | st.lists(st.integers(0, 400).map(lambda t: Decimal(t) / 10),
                                 min_size=n, max_size=n).map(tuple) for n in (1, 3)}
POLICIES = st.sampled_from(Policy)
CAR_PHASES = {n: st.none() | st.integers(1, n) for n in (1, 3)}


@st.composite
def sites(draw: st.DrawFn, *, symmetric: bool = False) -> Site:
    """Random trees: nested circuits, per-phase or kW limits, 1/3-phase AC with rotated
    wiring, DC. `symmetric`: every EVSE three-phase in L1 L2 L3 order, limits equal per phase."""
    circuits: list[Circuit] = []
    for i in range(draw(st.integers(1, 7))):
        if symmetric:
            one = draw(MAYBE_AMPS)
            amps = None if one is None else (one, one, one)
        else:
            amps = draw(MAYBE_PHASE_AMPS)
        parent = None if i == 0 else circuits[draw(st.integers(0, i - 1))].id
        circuits.append(Circuit("grid" if i == 0 else f"c{i}", parent, amps, draw(MAYBE_KW)))
    evses = []
    for i in range(draw(st.integers(1, 12))):
        circuit = circuits[draw(st.integers(0, len(circuits) - 1))].id
        if symmetric:
            wiring = PHASES
        elif draw(st.booleans()):
            wiring = (PHASES[draw(st.integers(0, 2))],)
        else:
            wiring = tuple(draw(st.permutations(PHASES)))
        if draw(st.integers(0, 4)) == 0:
            low = draw(DC_MIN)
            evses.append(Evse(f"e{i:02}", circuit, Kind.DC, wiring if symmetric else PHASES,
                              min_power_kw=low, max_power_kw=low + draw(DC_SPAN)))
        else:
            low = draw(AC_MIN)
            evses.append(Evse(f"e{i:02}", circuit, Kind.AC, wiring, low + draw(AC_SPAN), low))
    return Site("s", tuple(circuits), tuple(evses), draw(VOLTS), draw(ZONES),
                draw(LOAD_SCHEDULE), draw(LIMIT_SCHEDULE))


@st.composite
def demands(draw: st.DrawFn, site: Site, at: datetime, *, symmetric: bool = False
            ) -> tuple[Demand, ...]:
    out = []
    for e in site.evses:
        if not draw(st.integers(0, 4)):
            continue
        n = len(e.wiring)
        car = None if symmetric or e.kind is Kind.DC else draw(CAR_PHASES[n])
        offered = draw(MAYBE_OFFERED)
        out.append(Demand(
            e.id, at - timedelta(minutes=draw(st.integers(0, 300))), draw(st.integers(0, 2)),
            car, None if symmetric else draw(DRAWS[n]), draw(MAYBE_DRAW_KW),
            offered if e.kind is Kind.DC or offered is None else offered / 1000,
            at - timedelta(seconds=draw(st.integers(0, 600))), draw(MAYBE_KWH),
        ))
    return tuple(out)


@st.composite
def pins(draw: st.DrawFn, site: Site) -> list[Pin]:
    out = []
    for e in site.evses:
        if draw(st.integers(0, 6)):
            continue
        low, high = (e.min_current_a, e.max_current_a) if e.kind is Kind.AC else (
            e.min_power_kw, e.max_power_kw)
        assert high is not None
        out.append(Pin(e.id, [Decimal(0), low, high, (low + high) / 2][draw(st.integers(0, 3))]))
    return out


@st.composite
def scenarios(draw: st.DrawFn, *, symmetric: bool = False, with_pins: bool = True
              ) -> tuple[Site, tuple[Demand, ...], datetime, Policy, list[Pin], bool]:
    site = draw(sites(symmetric=symmetric))
    at = T0 + timedelta(minutes=draw(st.integers(0, 7 * 24 * 4)) * 15)
    return (site, draw(demands(site, at, symmetric=symmetric)), at, draw(POLICIES),
            draw(pins(site)) if with_pins else [], draw(st.integers(0, 15)) == 0)


def _run(s: tuple[Site, tuple[Demand, ...], datetime, Policy, list[Pin], bool]) -> Allocation:
    site, ds, at, policy, ps, paused = s
    return allocate(site, ds, at, policy=policy, pins=ps, paused=paused)


def _quantum(e: Evse) -> Decimal:
    return Decimal("0.1") if e.kind is Kind.AC else Decimal("0.01")


def _blocked(site: Site, result: Allocation, e: Evse, phases: tuple[Phase, ...],
             need: Decimal) -> set[str]:
    """The bounds ('node L2', 'node power') that `need` more A per phase for `e` would pass,
    by the allocator's own effective limits (NodeUsage) and what it charged."""
    nodes = {n.node: n for n in result.nodes}
    used = _draws(site, result, accounted=True)
    out = set()
    for node in _paths(site)[e.circuit]:
        amps, watts = used[node]
        usage = nodes[node]
        for p in phases:
            limit = usage.limit_a[PHASES.index(p)]
            if limit is not None and amps[PHASES.index(p)] + Fraction(need) > Fraction(limit):
                out.add(f"{node} {p.value}")
        extra = Fraction(site.voltage_v) * len(phases) * Fraction(need)
        if usage.limit_kw is not None and watts + extra > Fraction(usage.limit_kw) * 1000:
            out.add(f"{node} power")
    return out


# -- the laws ---------------------------------------------------------------------------------


@LAWS
@given(scenarios())
def test_no_node_is_loaded_above_its_limit_and_every_evse_gets_0_or_its_minimum(s: Any) -> None:
    """Checked twice per node and phase: what cars really draw, and what the allocator
    charged (a DC level rounded up); and per EVSE: 0 or min..max, 0.1 A or whole W, the
    phases the car uses, pins never exceeded."""
    site, ds, at, policy, ps, paused = s
    result = _run(s)
    _check_laws(site, result, ps, ds)
    if paused:
        assert all(x.limit == 0 and x.reason is Reason.PAUSED for x in result.setpoints)


@LAWS
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_same_input_gives_the_same_output_whatever_the_order(s: Any, rnd: random.Random) -> None:
    site, ds, at, policy, ps, paused = s
    first = _run(s)
    assert _run(s) == first
    shuffled = list(ds), list(ps), list(site.evses), list(site.circuits)
    for items in shuffled:
        rnd.shuffle(items)
    again_site = replace(site, evses=tuple(shuffled[2]), circuits=tuple(shuffled[3]))
    again = allocate(again_site, shuffled[0], at.astimezone(UTC), policy=policy, pins=shuffled[1],
                     paused=paused)
    assert again.setpoints == first.setpoints
    assert again.nodes == first.nodes


@LAWS
@given(scenarios())
def test_no_unused_share_is_left_that_a_session_below_its_cap_could_take(s: Any) -> None:
    """Work conservation, the other half of 'unused power goes to others': a session held
    below its cap (LIMITED, or a lowered pin) cannot take one more step (0.1 A; DC 0.01 A
    per phase; from 0: its minimum) without passing a limit, and its bound names one it
    would pass."""
    site, ds, at, policy, ps, paused = s
    result = _run(s)
    evses = {e.id: e for e in site.evses}
    for x in result.setpoints:
        e = evses[x.evse]
        if x.reason is Reason.LIMITED or (x.reason is Reason.PINNED and x.bound is not None):
            step = _quantum(e)
            need = step if x.current_a > 0 else max(step, _lo(site, e, x.phases))
            blocked = _blocked(site, result, e, x.phases, need)
            assert blocked, f"{x.evse} at {x.current_a} could take {need} more"
            assert str(x.bound) in blocked
        elif x.reason is Reason.AT_MAX:
            assert x.bound is None
            if e.kind is Kind.AC:
                assert x.limit == e.max_current_a.quantize(Decimal("0.1"), ROUND_FLOOR)  # type: ignore[union-attr]
            else:
                assert x.limit == (e.max_power_kw * 1000).quantize(Decimal(1), ROUND_FLOOR)  # type: ignore[operator]


@LAWS
@given(scenarios())
def test_the_last_arrivals_wait_only_when_their_minimum_does_not_fit(s: Any) -> None:
    """A waiting session's minimum passes a limit beside the pins and the minimums of the
    sessions before it in policy order (priority, arrival, EVSE id); its bound names it."""
    site, ds, at, policy, ps, paused = s
    result = _run(s)
    evses = {e.id: e for e in site.evses}
    pinned = {p.evse for p in ps}

    def key(d: Demand) -> tuple[Any, ...]:
        return (-d.priority if policy is Policy.PRIORITY else 0, d.arrival, d.evse)

    waiting = [d for d in ds if result.setpoint(d.evse).reason is Reason.WAITING]
    for d in waiting:
        before = {x.evse for x in ds if key(x) < key(d) and x.evse not in pinned
                  and result.setpoint(x.evse).reason not in (Reason.WAITING, Reason.SATISFIED)}
        # Rebuild what was reserved at d's turn: pins as served, earlier sessions at their minimum.
        reserved = replace(result, setpoints=tuple(
            replace(x, current_a=x.current_a if x.evse in pinned else
                    _lo(site, evses[x.evse], x.phases) if x.evse in before else Decimal(0))
            for x in result.setpoints))
        setpoint = result.setpoint(d.evse)
        need = _lo(site, evses[d.evse], setpoint.phases)
        blocked = _blocked(site, reserved, evses[d.evse], setpoint.phases, need)
        assert str(setpoint.bound) in blocked, (d.evse, blocked)


@LAWS
@given(scenarios(with_pins=False), st.data())
def test_a_car_drawing_well_below_its_offer_keeps_its_draw_plus_headroom(s: Any, data: st.DataObject
                                                                          ) -> None:
    site, ds, at, policy, _, _ = s
    ac = [d for d in ds if next(e for e in site.evses if e.id == d.evse).kind is Kind.AC]
    assume(ac)
    d = data.draw(st.sampled_from(ac))
    e = next(e for e in site.evses if e.id == d.evse)
    drawn = data.draw(st.integers(0, 300).map(lambda t: Decimal(t) / 10))
    offered = max(Decimal(0), drawn + data.draw(st.integers(-30, 60)) / Decimal(10))  # near the rule
    ago = data.draw(st.integers(0, 300))
    low = replace(d, draw_a=(drawn,) * len(e.wiring), car_phases=len(e.wiring), draw_kw=None,
                  offered=offered, offered_since=at - timedelta(seconds=ago), energy_wanted_kwh=None)
    result = allocate(site, [low if x is d else x for x in ds], at, policy=policy)
    got = result.setpoint(d.evse)
    if ago >= 60 and drawn + HEADROOM_A < offered:
        floor = e.min_current_a.quantize(Decimal("0.1"), ROUND_CEILING)
        assert got.limit <= max(floor, (drawn + HEADROOM_A).quantize(Decimal("0.1"), ROUND_FLOOR))
    else:
        assert got.reason is not Reason.DRAW
        unheld = allocate(site, [replace(low, draw_a=None, offered=None) if x is d else x
                                 for x in ds], at, policy=policy)
        assert got == unheld.setpoint(d.evse)


@LAWS
@given(scenarios(symmetric=True, with_pins=False), st.data())
def test_what_a_car_does_not_use_goes_to_the_others(s: Any, data: st.DataObject) -> None:
    """On a tree whose every load is three-phase in L1 L2 L3 order (so each node is one
    constraint), holding one car at its draw lowers nobody else beyond what rounding moves
    (the crumbs: less than one step, 0.1 A or DC 0.01 A, per session sharing the tree), and
    the others together get at least as much, less the same. (With phases mixed,
    max-min fairness itself can shift a share from one phase to another: a car on L1 alone
    gaining may cost a three-phase car on L2.)"""
    site, ds, at, policy, _, _ = s
    active = [d for d in ds if d.energy_wanted_kwh is None or d.energy_wanted_kwh > 0]
    assume(active)
    d = data.draw(st.sampled_from(active))
    before = allocate(site, ds, at, policy=policy)
    offered = before.setpoint(d.evse)
    e = next(e for e in site.evses if e.id == d.evse)
    per_amp = 1 if e.kind is Kind.AC else site.voltage_v * len(offered.phases)
    assume(offered.limit / per_amp > HEADROOM_A)  # a draw of 0 is then "well below" it
    held = replace(d, draw_kw=Decimal(0), offered=offered.limit, offered_since=at - timedelta(hours=1))
    after = allocate(site, [held if x is d else x for x in ds], at, policy=policy)
    assert after.setpoint(d.evse).current_a <= offered.current_a
    assert after.setpoint(d.evse).current_a <= max(HEADROOM_A, _lo(site, e, offered.phases))
    evses = {e.id: e for e in site.evses}
    crumbs = sum((_quantum(evses[x.evse]) for x in ds), Decimal(0))
    others = [x.evse for x in before.setpoints if x.evse != d.evse]
    for evse in others:
        assert after.setpoint(evse).current_a >= before.setpoint(evse).current_a - crumbs, evse
    total = sum(after.setpoint(x).current_a for x in others)
    assert total >= sum(before.setpoint(x).current_a for x in others) - crumbs


@LAWS
@given(scenarios(), st.integers(0, 7 * 24 * 4))
def test_failsafe_limits_fit_together_at_any_time(s: Any, quarter: int) -> None:
    """Every EVSE at its failsafe limit at once, at any hour, stays within every limit: as
    pins they are all kept; each is 0 or min..max."""
    site = s[0]
    limits = failsafe(site)
    as_pins = []
    for x in limits:
        e = next(e for e in site.evses if e.id == x.evse)
        assert x.reason in (Reason.LIMITED, Reason.AT_MAX, Reason.WAITING)
        as_pins.append(Pin(x.evse, x.limit if e.kind is Kind.AC else x.limit / 1000))
    result = allocate(site, [], T0 + timedelta(minutes=15 * quarter), pins=as_pins)
    assert [x.limit for x in result.setpoints] == [x.limit for x in limits]
    _check_laws(site, result, as_pins)


@LAWS
@given(scenarios())
def test_sites_and_sessions_survive_the_dict_form(s: Any) -> None:
    site, ds = s[0], s[1]
    text = jsontext.dumps(site_to_dict(site))
    assert site_from_dict(json.loads(text, parse_float=Decimal)) == site
    for d in ds:
        again = demand_from_dict(json.loads(jsontext.dumps(demand_to_dict(d)), parse_float=Decimal),
                                 site)
        assert again == d
    json.loads(jsontext.dumps(allocation_to_dict(_run(s))))


# -- schedules --------------------------------------------------------------------------------


NIGHT = Schedule((Window(time(22), time(6), Decimal(11), (5,)),), Decimal(40))  # Friday night


@pytest.mark.parametrize(("local", "expected"), [
    ("2026-03-06T21:59:00+01:00", Decimal(40)),  # Friday, before
    ("2026-03-06T22:00:00+01:00", Decimal(11)),  # Friday, start (inclusive)
    ("2026-03-07T00:00:00+01:00", Decimal(11)),  # Saturday midnight: still Friday's window
    ("2026-03-07T05:59:00+01:00", Decimal(11)),
    ("2026-03-07T06:00:00+01:00", Decimal(40)),  # end (exclusive)
    ("2026-03-06T02:00:00+01:00", Decimal(40)),  # Friday early: Thursday has no window
    ("2026-03-07T22:30:00+01:00", Decimal(40)),  # Saturday night: not a Friday
])
def test_limit_at_reads_a_window_across_midnight(local: str, expected: Decimal) -> None:
    assert limit_at(NIGHT, datetime.fromisoformat(local)) == expected


def test_overlapping_windows_give_the_safe_side() -> None:
    s = Schedule((Window(time(8), time(18), Decimal(30)), Window(time(12), time(14), Decimal(20)),
                  Window(time(6), time(6), Decimal(25), (1,))))  # 24 h from Monday 06:00
    monday_noon = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert limit_at(s, monday_noon) == 20 and load_at(s, monday_noon) == 30
    assert limit_at(s, datetime(2026, 3, 3, 5, 0, tzinfo=UTC)) == 25  # Tuesday 05:00
    assert limit_at(s, datetime(2026, 3, 3, 7, 0, tzinfo=UTC)) is None
    assert load_at(s, datetime(2026, 3, 3, 7, 0, tzinfo=UTC)) == 0
    with pytest.raises(LoadError, match="local_time: needs a time zone"):
        limit_at(s, datetime(2026, 3, 2, 12))  # noqa: DTZ001


@given(st.integers(0, 23), st.integers(0, 23), st.integers(0, 7 * 24 * 60 - 1),
       st.sets(st.integers(1, 7), min_size=1))
@settings(max_examples=200, deadline=None)
def test_limit_at_agrees_with_a_minute_by_minute_reading(start: int, end: int, minute: int,
                                                          days: set[int]) -> None:
    """A window started on day d covers [start, end) that day, or [start, 24:00) and
    [00:00, end) the next day when it runs past midnight."""
    s = Schedule((Window(time(start), time(end), Decimal(7), tuple(sorted(days))),), Decimal(9))
    t = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=minute)  # from a Monday
    covered = False
    for back in (0, 1):  # the window of today or of yesterday
        day = (t - timedelta(days=back)).date()
        opened = datetime.combine(day, time(start), tzinfo=UTC)
        length = timedelta(hours=(end - start) % 24 or 24)
        covered |= day.isoweekday() in days and opened <= t < opened + length
    assert limit_at(s, t) == (Decimal(7) if covered else Decimal(9))


def test_next_change_is_the_next_window_edge_in_the_site_zone() -> None:
    site = site_from_dict(_load(CASES / "peak_shaving_across_midnight.json")["site"])
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
    assert next_change(site, friday) == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # 22:00 CET
    assert next_change(site, datetime(2026, 3, 6, 21, 0, tzinfo=UTC)) == datetime(2026, 3, 7, 5, 0,
                                                                                  tzinfo=UTC)
    plain = site_from_dict(_load(CASES / "two_ac_on_one_fuse.json")["site"])
    assert next_change(plain, friday) is None


# -- input errors name the field --------------------------------------------------------------


def _site(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "s", "circuits": [{"id": "grid", "max_current_a": 32}],
        "evses": [{"id": "A", "circuit": "grid", "max_current_a": 32}],
    }
    return base | changes


@pytest.mark.parametrize(("data", "message"), [
    (_site(circuits=[{"id": "grid"}, {"id": "f", "parent": "nope"}]), r"circuits\[1\].parent: 'nope' is not a circuit"),
    (_site(circuits=[{"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}, {"id": "g"}]), r"circuits\[0\].parent: 'a' is its own ancestor"),
    (_site(circuits=[{"id": "g"}, {"id": "h"}]), "exactly one circuit without a parent"),
    (_site(circuits=[{"id": "grid", "max_current_a": [32, 32]}]), r"circuits\[0\].max_current_a: one number, or three"),
    (_site(circuits=[{"id": "grid", "max_current_a": -1}]), r"circuits\[0\].max_current_a: must be >= 0"),
    (_site(circuits=[{"id": "grid", "max_curent_a": 32}]), r"circuits\[0\].max_curent_a: unknown field"),
    (_site(evses=[{"id": "A", "circuit": "x", "max_current_a": 32}]), r"evses\[0\].circuit: 'x' is not a circuit"),
    (_site(evses=[{"id": "A", "circuit": "grid"}]), r"evses\[0\].max_current_a: required for an AC EVSE"),
    (_site(evses=[{"id": "A", "circuit": "grid", "max_current_a": 5}]), r"evses\[0\].max_current_a: must be > 0 and >= min_current_a"),
    (_site(evses=[{"id": "A", "circuit": "grid", "kind": "DC"}]), r"evses\[0\].max_power_kw: required for a DC EVSE"),
    (_site(evses=[{"id": "A", "circuit": "grid", "max_current_a": 32, "wiring": ["L1", "L4"]}]), r"evses\[0\].wiring\[1\]: 'L4' is not one of L1, L2, L3"),
    (_site(evses=[{"id": "A", "circuit": "grid", "max_current_a": 32, "wiring": ["L1", "L1", "L2"]}]), r"evses\[0\].wiring: one phase, or the three phases each once"),
    (_site(evses=[{"id": "A", "circuit": "grid", "max_current_a": True}]), r"evses\[0\].max_current_a: expected a number, got True"),
    (_site(evses=[{"id": "A", "circuit": "grid", "max_current_a": 32}] * 2), r"evses\[1\].id: 'A' repeats evses\[0\]"),
    (_site(time_zone="Mars/Olympus"), "time_zone: 'Mars/Olympus' is not an IANA time zone"),
    (_site(peak_limit={"windows": [{"start": "25:00", "end": "06:00", "kw": 5}]}), r"peak_limit.windows\[0\].start: '25:00' is not a time of day"),
    (_site(building_load={"windows": [{"start": "08:00", "end": "09:00", "kw": 5, "days": ["MON"]}]}), r"building_load.windows\[0\].days: expected an array of MONDAY..SUNDAY"),
    (_site(voltage_v=1e9), "voltage_v: 1000000000.0 is not a number up to 1000000"),
])
def test_site_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(LoadError, match=message):
        site_from_dict(data)


@pytest.mark.parametrize(("data", "message"), [
    ({"evse": "B", "arrival": "2026-03-02T08:00:00Z"}, "session.evse: 'B' is not an EVSE of site 's'"),
    ({"evse": "A"}, "session.arrival: required"),
    ({"evse": "A", "arrival": "2026-03-02T08:00:00"}, r"session.arrival: needs a time zone"),
    ({"evse": "A", "arrival": "2026-03-02T08:00:00Z", "car_phases": 4}, "session.car_phases: 1 to 3 on EVSE 'A'"),
    ({"evse": "A", "arrival": "2026-03-02T08:00:00Z", "draw_a": [1, 2, 3, 4]}, "session.draw_a: at most 3 currents"),
    ({"evse": "A", "arrival": "2026-03-02T08:00:00Z", "offered": -1}, "session.offered: must be >= 0"),
])
def test_session_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(LoadError, match=message):
        demand_from_dict(data, site_from_dict(_site()))


def test_pin_and_call_errors_name_the_field() -> None:
    site = site_from_dict(_site())
    with pytest.raises(LoadError, match=r"pin.value: 0 or 6 to 32 A on EVSE 'A', got 3"):
        pin_from_dict({"evse": "A", "value": 3}, site)
    with pytest.raises(LoadError, match=r"pins\[1\].evse: 'A' is pinned twice"):
        allocate(site, [], T0, pins=[Pin("A", Decimal(10)), Pin("A", Decimal(12))])
    with pytest.raises(LoadError, match=r"demands\[1\].evse: a second session on 'A'"):
        allocate(site, [Demand("A", T0), Demand("A", T0)], T0)
    with pytest.raises(LoadError, match="at: needs a time zone"):
        allocate(site, [], datetime(2026, 3, 2))  # noqa: DTZ001

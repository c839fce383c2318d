"""The data of site load management: the electrical tree, the sessions, the result.

Units, everywhere: current in A (per phase, line to neutral), power in kW (all phases
together), energy in kWh, except `Setpoint.power_w` and a DC setpoint's `limit`, which are
whole W because that is what an OCPP charging profile carries. Times are timezone-aware.

A `Site` checks itself when built and raises `LoadError` naming the field
(`evses[3].circuit: 'fuse-9' is not a circuit`), so a tree that exists is a tree the
allocator can trust: one grid connection, no cycles, EVSEs on known circuits.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, Monday = 1
STEP_A = Decimal("0.1")  # AC setpoints, A
STEP_KW = Decimal("0.001")  # DC setpoints: whole W


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_FLOOR)


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_CEILING)


class LoadError(ValueError):
    """Invalid load-management input; the message starts with the path of the field."""


class Phase(StrEnum):
    """A phase of the grid connection."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


PHASES = (Phase.L1, Phase.L2, Phase.L3)
PHASE_INDEX = {Phase.L1: 0, Phase.L2: 1, Phase.L3: 2}


class Kind(StrEnum):
    AC = "AC"
    DC = "DC"


class Policy(StrEnum):
    """How power above the minimums is shared (docs/load-management.md, Policies)."""

    EQUAL = "equal"  # the same current per phase for everyone, as far as the tree allows
    PRIORITY = "priority"  # higher `Demand.priority` filled first, equal share within a level
    FIRST_COME = "first_come"  # earliest arrival filled first


class Unit(StrEnum):
    """The charging-rate unit of a profile (OCPP chargingRateUnit)."""

    A = "A"
    W = "W"


class Reason(StrEnum):
    """Why an EVSE got the setpoint it got."""

    IDLE = "idle"  # no session: 0
    PAUSED = "paused"  # the site is paused: 0
    PINNED = "pinned"  # an operator pin (lowered only if the tree cannot carry it)
    SATISFIED = "satisfied"  # the car wants no more energy: 0
    WAITING = "waiting"  # its minimum does not fit beside earlier sessions: 0
    LIMITED = "limited"  # a node's limit (see `bound`) held it below its maximum
    AT_MAX = "at_max"  # the EVSE's own maximum
    DRAW = "draw"  # the car draws well below its offer: kept at draw + headroom


@dataclass(frozen=True, slots=True)
class Circuit:
    """A node of the tree: the grid connection (no parent) or a sub-circuit behind a fuse.

    A limit left out is no limit; a node without any is a grouping only.
    """

    id: str
    parent: str | None = None
    max_current_a: tuple[Decimal, Decimal, Decimal] | None = None  # per grid phase L1, L2, L3
    max_power_kw: Decimal | None = None  # all phases together


@dataclass(frozen=True, slots=True)
class Evse:
    """A charging point on a circuit.

    `wiring[i]` is the grid phase the EVSE's conductor i + 1 sits on: ("L2",) is a
    single-phase EVSE on L2, ("L2", "L3", "L1") a three-phase one with rotated wiring. A car
    that charges on one phase uses conductor 1 (IEC 61851), so rotation decides which grid
    phase a single-phase car loads. AC limits are in A per phase; DC in kW, drawn evenly
    from the wired phases (power / (phases x voltage) each).
    """

    id: str
    circuit: str
    kind: Kind = Kind.AC
    wiring: tuple[Phase, ...] = PHASES
    max_current_a: Decimal | None = None  # AC: required
    min_current_a: Decimal = Decimal(6)  # AC: below this a car cannot charge (IEC 61851)
    max_power_kw: Decimal | None = None  # DC: required
    min_power_kw: Decimal = Decimal(0)  # DC


@dataclass(frozen=True, slots=True)
class Window:
    """`kw` from `start` to `end` local time, on windows starting on `days` (ISO weekdays).

    An `end` before `start` runs past midnight (22:00-06:00 on Monday covers Monday 22:00 to
    Tuesday 06:00); `end == start` is 24 hours from `start`.
    """

    start: time
    end: time
    kw: Decimal
    days: tuple[int, ...] = ALL_DAYS


@dataclass(frozen=True, slots=True)
class Schedule:
    """A value in kW by local time of day: the matching windows, else `default_kw`."""

    windows: tuple[Window, ...] = ()
    default_kw: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """One grid connection and everything behind it.

    `building_load` is what the rest of the site draws (kW, spread evenly over the three
    phases), subtracted at the grid connection; `peak_limit` caps the grid connection's kW
    by time of day (peak shaving). Both are read in `time_zone`.
    """

    id: str
    circuits: tuple[Circuit, ...]
    evses: tuple[Evse, ...]
    voltage_v: Decimal = Decimal(230)  # nominal, line to neutral
    time_zone: str = "UTC"
    building_load: Schedule | None = None
    peak_limit: Schedule | None = None

    def __post_init__(self) -> None:
        _check_site(self)

    @property
    def grid(self) -> Circuit:
        return next(c for c in self.circuits if c.parent is None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True, slots=True)
class Demand:
    """An active session on an EVSE, as the allocator needs it.

    The draw (`draw_a` per EVSE conductor, or `draw_kw`) only matters together with
    `offered` (the setpoint `limit` in force while it was measured, in A or W as sent) and
    `offered_since`: see docs/load-management.md, "Unused share".
    """

    evse: str
    arrival: datetime
    priority: int = 0  # higher is served first under Policy.PRIORITY
    car_phases: int | None = None  # EVSE conductors the car uses (1..3); None: from draw_a, else all
    draw_a: tuple[Decimal, ...] | None = None
    draw_kw: Decimal | None = None
    offered: Decimal | None = None
    offered_since: datetime | None = None
    energy_wanted_kwh: Decimal | None = None  # None: unknown; 0 or less: the car is full


@dataclass(frozen=True, slots=True)
class Pin:
    """An operator override: this EVSE gets `value` (A per phase for AC, kW for DC), session
    or not; 0 blocks it. Served before everything else, lowered only to what fits."""

    evse: str
    value: Decimal


@dataclass(frozen=True, slots=True)
class Bound:
    """A node limit: one phase of a circuit, or its total power."""

    node: str
    quantity: str  # "L1", "L2", "L3" or "power"

    def __str__(self) -> str:
        return f"{self.node} {self.quantity}"


@dataclass(frozen=True, slots=True)
class Setpoint:
    """What one EVSE may draw, in the form a charging profile needs.

    AC: `limit` is A per phase (0.1 A steps), `number_phases` the phases the car is given
    (OCPP numberPhases), `phase_to_use` 1 when a single-phase car sits on a three-phase EVSE
    (2.0.1 phaseToUse, for stations that can switch). DC: `limit` is whole W.
    `current_a` is what the tree is charged per grid phase in `phases` (for DC, the
    per-phase equivalent the allocator reserved, which is at least power / (phases x V)).
    """

    evse: str
    limit: Decimal
    unit: Unit
    current_a: Decimal
    power_w: Decimal
    number_phases: int | None
    phase_to_use: int | None
    phases: tuple[Phase, ...]
    reason: Reason
    bound: Bound | None = None


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """A node's effective limits (after building load and schedule) and what is allocated."""

    node: str
    limit_a: tuple[Decimal | None, Decimal | None, Decimal | None]
    used_a: tuple[Decimal, Decimal, Decimal]
    limit_kw: Decimal | None
    used_kw: Decimal


@dataclass(frozen=True, slots=True)
class Allocation:
    at: datetime
    policy: Policy
    setpoints: tuple[Setpoint, ...]  # one per EVSE of the site, by id
    nodes: tuple[NodeUsage, ...]  # the grid first, then depth first, children by id
    building_load_kw: Decimal
    peak_limit_kw: Decimal | None

    def setpoint(self, evse: str) -> Setpoint:
        """The setpoint of one EVSE (KeyError if the site has no such EVSE)."""
        i = bisect_left(self.setpoints, evse, key=lambda s: s.evse)
        if i < len(self.setpoints) and self.setpoints[i].evse == evse:
            return self.setpoints[i]
        raise KeyError(evse)


# -- checks -----------------------------------------------------------------------------------


def _check_site(site: Site) -> None:
    if not site.id:
        raise LoadError("id: required")
    if site.voltage_v <= 0:
        raise LoadError(f"voltage_v: must be > 0, got {site.voltage_v}")
    try:
        ZoneInfo(site.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise LoadError(f"time_zone: {site.time_zone!r} is not an IANA time zone") from None
    ids: dict[str, int] = {}
    for i, c in enumerate(site.circuits):
        _check_circuit(c, f"circuits[{i}]")
        if c.id in ids:
            raise LoadError(f"circuits[{i}].id: {c.id!r} repeats circuits[{ids[c.id]}]")
        ids[c.id] = i
    roots = [i for i, c in enumerate(site.circuits) if c.parent is None]
    if len(roots) != 1:
        raise LoadError("circuits: exactly one circuit without a parent (the grid connection) "
                        f"is needed, found {len(roots)}")
    for i, c in enumerate(site.circuits):
        if c.parent is not None and c.parent not in ids:
            raise LoadError(f"circuits[{i}].parent: {c.parent!r} is not a circuit")
    _check_acyclic(site.circuits)
    seen: dict[str, int] = {}
    for i, e in enumerate(site.evses):
        where = f"evses[{i}]"
        if e.id in seen:
            raise LoadError(f"{where}.id: {e.id!r} repeats evses[{seen[e.id]}]")
        seen[e.id] = i
        if e.circuit not in ids:
            raise LoadError(f"{where}.circuit: {e.circuit!r} is not a circuit")
        _check_evse(e, where)
    for name in ("building_load", "peak_limit"):
        schedule = getattr(site, name)
        if schedule is not None:
            _check_schedule(schedule, name)


def _check_circuit(c: Circuit, where: str) -> None:
    if not c.id:
        raise LoadError(f"{where}.id: required")
    if c.max_current_a is not None:
        if len(c.max_current_a) != 3:
            raise LoadError(f"{where}.max_current_a: one value per phase L1, L2, L3")
        if any(a < 0 for a in c.max_current_a):
            raise LoadError(f"{where}.max_current_a: must be >= 0")
    if c.max_power_kw is not None and c.max_power_kw < 0:
        raise LoadError(f"{where}.max_power_kw: must be >= 0")


def _check_acyclic(circuits: tuple[Circuit, ...]) -> None:
    parent = {c.id: c.parent for c in circuits}
    for i, c in enumerate(circuits):
        seen = {c.id}
        node = c.parent
        while node is not None:
            if node in seen:
                raise LoadError(f"circuits[{i}].parent: {c.id!r} is its own ancestor")
            seen.add(node)
            node = parent[node]


def _check_evse(e: Evse, where: str) -> None:
    if not e.id:
        raise LoadError(f"{where}.id: required")
    if len(e.wiring) not in (1, 3) or len(set(e.wiring)) != len(e.wiring):
        raise LoadError(f"{where}.wiring: one phase, or the three phases each once")
    if e.kind is Kind.AC:
        if e.max_current_a is None:
            raise LoadError(f"{where}.max_current_a: required for an AC EVSE")
        if e.min_current_a < 0:
            raise LoadError(f"{where}.min_current_a: must be >= 0")
        # 0.1 A steps: the minimum rounds up and the maximum down; something must be left.
        if e.max_current_a <= 0 or ceil_to(e.min_current_a, STEP_A) > floor_to(e.max_current_a, STEP_A):
            raise LoadError(f"{where}.max_current_a: must be > 0 and >= min_current_a")
    else:
        if e.max_power_kw is None:
            raise LoadError(f"{where}.max_power_kw: required for a DC EVSE")
        if e.min_power_kw < 0:
            raise LoadError(f"{where}.min_power_kw: must be >= 0")
        if e.max_power_kw <= 0 or ceil_to(e.min_power_kw, STEP_KW) > floor_to(e.max_power_kw, STEP_KW):
            raise LoadError(f"{where}.max_power_kw: must be > 0 and >= min_power_kw")


def _check_schedule(s: Schedule, where: str) -> None:
    if s.default_kw is not None and s.default_kw < 0:
        raise LoadError(f"{where}.default_kw: must be >= 0")
    for i, w in enumerate(s.windows):
        if w.kw < 0:
            raise LoadError(f"{where}.windows[{i}].kw: must be >= 0")
        if not w.days or any(d not in ALL_DAYS for d in w.days):
            raise LoadError(f"{where}.windows[{i}].days: ISO weekdays 1 (Monday) to 7")
        if w.start.tzinfo is not None or w.end.tzinfo is not None:
            raise LoadError(f"{where}.windows[{i}]: local times of day, without a zone")

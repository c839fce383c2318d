"""The site tree compiled for one allocation: numbered constraints with integer limits.

Inside the allocator every figure is an exact int. A *level* is counted in cA (0.01 A)
per grid phase; power in units of 10^-(k+2) W, where k is the number of decimals of the
site voltage V, so that one cA on one phase is exactly `volts` (V x 10^k) power units.
A constraint is one phase of a node (cA) or a node's total power (power units); limits
are rounded down to those units. The grid connection's limits are lowered by the
building load (spread evenly over the three phases, rounded up to the cA) and its power
limit by the peak-shaving schedule; a limit pushed below 0 is 0. Internal to the allocator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from evcsms.domain.load.model import PHASE_INDEX, PHASES, Bound, Evse, Kind, Phase, Site

POWER = 3  # the quantity index of a node's power constraint (0..2 are the phases)


def floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def ceil_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


@dataclass(slots=True)
class Tree:
    volts: int  # V x 10^k: power units per cA on one phase
    power_exp: int  # a power unit is 10^-power_exp W (power_exp = k + 2)
    scale: int  # power units per W: 10^power_exp
    limits: list[int] = field(default_factory=list)  # per constraint: cA, or power units
    bounds: list[Bound] = field(default_factory=list)  # per constraint: what to show an operator
    constraints: dict[str, tuple[int | None, ...]] = field(default_factory=dict)  # L1, L2, L3, power
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)  # circuit -> itself ... grid
    order: tuple[str, ...] = ()  # nodes: the grid first, then depth first, children by id
    node_limits: dict[str, tuple[tuple[int | None, ...], int | None]] = field(default_factory=dict)
    _coefs: dict[tuple[str, tuple[Phase, ...]], tuple[tuple[int, int], ...]] = field(
        default_factory=dict)

    def coefs(self, circuit: str, phases: tuple[Phase, ...]) -> tuple[tuple[int, int], ...]:
        """(constraint, use per cA of level) for a load on `phases` of `circuit`, nearest node
        first: 1 on each of its phases, volts x phases on each node's power."""
        key = (circuit, phases)
        found = self._coefs.get(key)
        if found is None:
            per_ca = self.volts * len(phases)
            out: list[tuple[int, int]] = []
            for node in self.paths[circuit]:
                numbers = self.constraints[node]
                for p in phases:
                    c = numbers[PHASE_INDEX[p]]
                    if c is not None:
                        out.append((c, 1))
                power = numbers[POWER]
                if power is not None:
                    out.append((power, per_ca))
            found = self._coefs[key] = tuple(out)
        return found

    def watts(self, power_units: int) -> int:
        """Power units to whole W, rounded down."""
        return power_units // self.scale


def compile_tree(site: Site, building_kw: Decimal, peak_kw: Decimal | None) -> Tree:
    k = max(0, -int(site.voltage_v.as_tuple().exponent))
    volts = int(site.voltage_v.scaleb(k))
    tree = Tree(volts, k + 2, int(Decimal(1).scaleb(k + 2)), order=_order(site))
    # building W x 100 cA/A / (3 x V), up: W x 100 x 10^k / (3 x volts)
    building = ceil_int(building_kw * 1000) if building_kw > 0 else 0
    per_phase = -(-building * tree.scale // (3 * volts))
    power_scale = Decimal(1000).scaleb(k + 2)  # power units per kW
    grid = site.grid
    for c in sorted(site.circuits, key=lambda c: c.id):
        amps = None if c.max_current_a is None else [floor_int(a * 100) for a in c.max_current_a]
        power = None if c.max_power_kw is None else floor_int(c.max_power_kw * power_scale)
        if c is grid:
            if amps is not None:
                amps = [max(0, a - per_phase) for a in amps]
            if peak_kw is not None:
                peak = floor_int(peak_kw * power_scale)
                power = peak if power is None else min(power, peak)
            if power is not None:
                power = max(0, power - ceil_int(building_kw * power_scale))
        numbers: list[int | None] = []
        for i, p in enumerate(PHASES):
            numbers.append(None if amps is None else _add(tree, amps[i], Bound(c.id, p.value)))
        numbers.append(None if power is None else _add(tree, power, Bound(c.id, "power")))
        tree.constraints[c.id] = tuple(numbers)
        tree.node_limits[c.id] = ((None, None, None) if amps is None else tuple(amps), power)
    parent = {c.id: c.parent for c in site.circuits}
    for c in site.circuits:
        path = [c.id]
        while (up := parent[path[-1]]) is not None:
            path.append(up)
        tree.paths[c.id] = tuple(path)
    return tree


def _add(tree: Tree, limit: int, bound: Bound) -> int:
    tree.limits.append(limit)
    tree.bounds.append(bound)
    return len(tree.limits) - 1


def _order(site: Site) -> tuple[str, ...]:
    children: dict[str | None, list[str]] = {}
    for c in site.circuits:
        children.setdefault(c.parent, []).append(c.id)
    out: list[str] = []
    stack = [site.grid.id]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(sorted(children.get(node, ()), reverse=True))
    return tuple(out)


def load_phases(evse: Evse, car_phases: int | None) -> tuple[Phase, ...]:
    """The grid phases a session loads: DC all wired phases; AC the first `car_phases`."""
    if evse.kind is Kind.DC or car_phases is None:
        return evse.wiring
    return evse.wiring[:car_phases]

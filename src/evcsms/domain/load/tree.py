"""The site tree compiled for one allocation: numbered constraints with effective limits.

A constraint is one phase of a node (A) or a node's total power (W). The grid
connection's limits are lowered by the building load (spread evenly over the three
phases, rounded up to 1 mA) and its power limit by the peak-shaving schedule. A limit
pushed below 0 by the building load is 0. Internal to the allocator.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext

from evcsms.domain.load.model import PHASE_INDEX, PHASES, Bound, Evse, Kind, Phase, Site, ceil_to

_MILLIAMP = Decimal("0.001")
POWER = 3  # the quantity index of a node's power constraint (0..2 are the phases)


@dataclass(slots=True)
class Tree:
    limits: list[Decimal]  # per constraint: A, or W for power
    bounds: list[Bound]  # per constraint: what to show an operator
    constraints: dict[str, tuple[int | None, int | None, int | None, int | None]]  # node -> L1..L3, power
    paths: dict[str, tuple[str, ...]]  # circuit -> itself, its parent, ..., the grid
    order: tuple[str, ...]  # nodes: the grid first, then depth first, children by id
    limit_a: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]]
    limit_kw: dict[str, Decimal | None]

    def coefs(self, circuit: str, phases: tuple[Phase, ...], per_amp_w: Decimal
              ) -> tuple[tuple[int, Decimal], ...]:
        """(constraint, use per A of level) for a load on `phases` of `circuit`, nearest node
        first: 1 on each of its phases, `per_amp_w` (V x phases) on each node's power."""
        out: list[tuple[int, Decimal]] = []
        one = Decimal(1)
        for node in self.paths[circuit]:
            numbers = self.constraints[node]
            for p in phases:
                c = numbers[PHASE_INDEX[p]]
                if c is not None:
                    out.append((c, one))
            power = numbers[POWER]
            if power is not None:
                out.append((power, per_amp_w))
        return tuple(out)


def compile_tree(site: Site, building_kw: Decimal, peak_kw: Decimal | None) -> Tree:
    grid = site.grid
    per_phase = Decimal(0)
    if building_kw > 0:
        with localcontext(rounding=ROUND_CEILING):
            per_phase = ceil_to(building_kw * 1000 / (3 * site.voltage_v), _MILLIAMP)
    tree = Tree([], [], {}, {}, _order(site), {}, {})
    zero = Decimal(0)
    for c in sorted(site.circuits, key=lambda c: c.id):
        amps = c.max_current_a
        kw = c.max_power_kw
        if c is grid:
            if amps is not None:
                amps = (max(zero, amps[0] - per_phase), max(zero, amps[1] - per_phase),
                        max(zero, amps[2] - per_phase))
            if peak_kw is not None:
                kw = peak_kw if kw is None else min(kw, peak_kw)
            if kw is not None:
                kw = max(zero, kw - building_kw)
        numbers: list[int | None] = []
        for i, p in enumerate(PHASES):
            numbers.append(None if amps is None else _add(tree, amps[i], Bound(c.id, p.value)))
        numbers.append(None if kw is None else _add(tree, kw * 1000, Bound(c.id, "power")))
        tree.constraints[c.id] = (numbers[0], numbers[1], numbers[2], numbers[3])
        tree.limit_a[c.id] = (None, None, None) if amps is None else (amps[0], amps[1], amps[2])
        tree.limit_kw[c.id] = kw
    parent = {c.id: c.parent for c in site.circuits}
    for c in site.circuits:
        path = [c.id]
        while (up := parent[path[-1]]) is not None:
            path.append(up)
        tree.paths[c.id] = tuple(path)
    return tree


def _add(tree: Tree, limit: Decimal, bound: Bound) -> int:
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

"""The steps of an allocation on loads already built: pins, admission, progressive filling,
crumbs and the explanation (allocation.py has the rules; this is the machinery).

A `Load` is one EVSE taking part, its level in cA per phase; a `State` holds, per
constraint, its limit, what is held by loads not following the level (`fixed`) and the use
per cA of level of those following it (`rate`). All ints. Internal to the allocator.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import groupby

from evcsms.domain.load.model import Evse, Phase, Policy, Reason

WAITING, ACTIVE, FROZEN = 0, 1, 2


@dataclass(slots=True, eq=False)
class Load:
    """One EVSE taking part, its level in cA per phase."""

    evse: Evse
    phases: tuple[Phase, ...]
    coefs: tuple[tuple[int, int], ...]
    lo: int
    hi: int
    step: int
    cap_w: int | None = None  # DC: the W the setpoint may not pass
    key: tuple[object, ...] = ()
    group: int = -1
    draw_capped: bool = False
    pinned: bool = False
    value: int = 0
    status: int = WAITING
    reason: Reason | None = None
    bound: int | None = None  # the constraint that stopped it


@dataclass(slots=True)
class State:
    limit: list[int]
    fixed: list[int] = field(default_factory=list)  # held by loads not following the level
    rate: list[int] = field(default_factory=list)  # use per cA of level by loads following it
    tight: list[bool] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    members: list[list[Load]] = field(default_factory=list)
    marked: list[bool] = field(default_factory=list)  # _Filler's dirty flags

    def __post_init__(self) -> None:
        n = len(self.limit)
        self.fixed, self.rate, self.tight = [0] * n, [0] * n, [False] * n
        self.version, self.members, self.marked = [0] * n, [[] for _ in range(n)], [False] * n

    def blocked(self, x: Load, amount: int) -> int | None:
        """None if `amount` more cA for `x` fits everywhere, else the first constraint it passes."""
        fixed, limit = self.fixed, self.limit
        for c, k in x.coefs:
            if fixed[c] + k * amount > limit[c]:
                return c
        return None

    def take(self, x: Load, amount: int) -> None:
        fixed = self.fixed
        for c, k in x.coefs:
            fixed[c] += k * amount
        x.value += amount

    def room(self, x: Load, most: int) -> int:
        """The most cA (up to `most`) that `x` could still add."""
        fixed, limit = self.fixed, self.limit
        for c, k in x.coefs:
            r = (limit[c] - fixed[c]) // k
            if r < most:
                most = r
        return most


def drop_slack_constraints(st: State, loads: list[Load]) -> None:
    """Forget, for this call, the constraints that could not fill even with every load at
    its cap (a fuse sized for all its EVSEs): they can never stop anyone, admit or refuse
    anyone, or be a bound, so the result is the same, and the loops are shorter."""
    most = [0] * len(st.limit)
    for x in loads:
        hi = x.hi
        for c, k in x.coefs:
            most[c] += k * hi
    limit = st.limit
    kept: dict[int, tuple[tuple[int, int], ...]] = {}
    for x in loads:
        coefs = kept.get(id(x.coefs))
        if coefs is None:
            coefs = kept[id(x.coefs)] = tuple((c, k) for c, k in x.coefs if most[c] > limit[c])
        x.coefs = coefs


def groups(admitted: list[Load], policy: Policy) -> list[list[Load]]:
    if policy is Policy.EQUAL:
        return [admitted] if admitted else []
    if policy is Policy.FIRST_COME:
        return [[x] for x in admitted]
    return [list(g) for _, g in groupby(admitted, key=lambda x: x.key[0])]


# -- the steps --------------------------------------------------------------------------------


def serve_pin(st: State, x: Load) -> None:
    value = st.room(x, x.hi)
    value -= value % x.step
    st.take(x, value if value >= x.lo else 0)
    x.status = FROZEN


def admit(st: State, x: Load) -> bool:
    blocked = st.blocked(x, x.lo)
    if blocked is not None:
        x.reason, x.bound, x.status = Reason.WAITING, blocked, FROZEN
        return False
    fixed, members, lo = st.fixed, st.members, x.lo
    for c, k in x.coefs:
        fixed[c] += k * lo
        members[c].append(x)
    x.value = lo
    return True


def fill_group(st: State, group: list[Load], gid: int) -> None:
    """Progressive filling of one group; every load of it ends frozen.

    Events are a load reaching its minimum (it starts following the level) or its cap (it
    stops), and a constraint filling (everyone of the group under it stops). Loads that
    change at one level are handled together, and a constraint's filling level is worked
    out again only once after each such batch (`dirty`), not once per load.
    """
    for x in group:
        x.group = gid
    events = sorted([(x.lo, 0, i) for i, x in enumerate(group)]
                    + [(x.hi, 1, i) for i, x in enumerate(group)])
    f = _Filler(st, gid)
    i, n = 0, len(events)
    while True:
        f.flush()
        top = f.next_full()
        if i < n and (top is None or events[i][0] <= top[0]):
            level = events[i][0]
            while i < n and events[i][0] == level:
                _, kind, k = events[i]
                x = group[k]
                if kind == 0:
                    f.activate(x)
                elif x.status == ACTIVE:
                    f.freeze(x, level, None)
                i += 1
        elif top is not None:
            f.fill(top[1], top[0])
        else:
            return


class _Filler:
    __slots__ = ("dirty", "gid", "heap", "marked", "st")

    def __init__(self, st: State, gid: int) -> None:
        self.st, self.gid = st, gid
        self.heap: list[tuple[int, int, int]] = []
        self.dirty: list[int] = []
        self.marked = st.marked  # all False between flushes; shared by the groups

    def activate(self, x: Load) -> None:
        st = self.st
        for c, _ in x.coefs:
            if st.tight[c]:
                x.status, x.bound = FROZEN, c
                return
        x.status = ACTIVE
        fixed, rate, marked, lo = st.fixed, st.rate, self.marked, x.lo
        for c, k in x.coefs:
            fixed[c] -= k * lo
            rate[c] += k
            if not marked[c]:
                marked[c] = True
                self.dirty.append(c)
        x.value = 0

    def freeze(self, x: Load, level: int, c: int | None) -> None:
        if x.status == ACTIVE:
            fixed, rate, marked = self.st.fixed, self.st.rate, self.marked
            value = x.value = min(x.hi, level - level % x.step)
            for c2, k in x.coefs:
                rate[c2] -= k
                fixed[c2] += k * value
                if not marked[c2]:
                    marked[c2] = True
                    self.dirty.append(c2)
        x.status, x.bound = FROZEN, c

    def fill(self, c: int, level: int) -> None:
        """Constraint `c` is full at `level`: everyone of the group under it stops there."""
        heapq.heappop(self.heap)
        self.st.tight[c] = True
        gid = self.gid
        for x in self.st.members[c]:
            if x.group == gid and x.status != FROZEN:
                self.freeze(x, level, c)

    def flush(self) -> None:
        st, heap, marked = self.st, self.heap, self.marked
        limit, fixed, rate, tight, version = st.limit, st.fixed, st.rate, st.tight, st.version
        for c in self.dirty:
            marked[c] = False
            version[c] += 1
            if rate[c] > 0 and not tight[c]:
                heapq.heappush(heap, ((limit[c] - fixed[c]) // rate[c], c, version[c]))
        self.dirty.clear()

    def next_full(self) -> tuple[int, int, int] | None:
        """The next constraint to fill, as (level, constraint, version); stale entries dropped."""
        heap, version, tight = self.heap, self.st.version, self.st.tight
        while heap:
            top = heap[0]
            if top[2] == version[top[1]] and not tight[top[1]]:
                return top
            heapq.heappop(heap)
        return None


def crumbs(st: State, admitted: list[Load]) -> None:
    for x in admitted:
        if x.value < x.hi and st.blocked(x, x.step) is None:
            st.take(x, x.step)
    for x in admitted:
        if x.value < x.hi:
            more = st.room(x, x.hi - x.value)
            more -= more % x.step
            if more > 0:
                st.take(x, more)


def explain(st: State, x: Load) -> None:
    if x.reason is Reason.WAITING:
        return
    if x.value < x.hi:
        need = x.step if x.value > 0 else max(x.lo, x.step)  # the next thing it could get
        blocked = st.blocked(x, need)
        x.bound = blocked if blocked is not None else x.bound
        x.reason = Reason.PINNED if x.pinned else Reason.LIMITED
    else:
        x.bound = None
        x.reason = (Reason.PINNED if x.pinned else Reason.DRAW if x.draw_capped
                    else Reason.AT_MAX)

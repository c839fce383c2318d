"""Run a fleet of virtual stations against a CSMS, optionally with a Rich live display and
a fault schedule (`FaultPlan`: given faults at given times; `RandomFaults`: one random fault
every so often, cleared after a while)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from evcsms.simulator.client import station_ids
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.faults import FAULTS, Fault, Injection, PlannedFault
from evcsms.simulator.station import DEFAULT_TX_ATTEMPTS, DEFAULT_TX_INTERVAL, VirtualStation
from evcsms.simulator.stats import FleetStats

__all__ = [
    "FaultPlan",
    "FaultSchedule",
    "FleetStats",
    "RandomFaults",
    "build_fleet",
    "run_fleet",
    "run_stations",
    "stats_table",
    "station_ids",
]

log = logging.getLogger(__name__)

MAX_STAGGER_TOTAL = 5.0  # seconds over which the fleet's connections are spread


def station_urls(url: str | Sequence[str], i: int, spread: bool) -> str | tuple[str, ...]:
    """The CSMS addresses of the ``i``-th station (from 0): all of them in the given order,
    or (``spread``) rotated by ``i`` so the fleet's first connections spread over them."""
    if isinstance(url, str):
        return url
    urls = tuple(url)
    if not spread or not urls:
        return urls
    k = i % len(urls)
    return urls[k:] + urls[:k]


def build_fleet(
    url: str | Sequence[str],
    stations: int,
    ocpp_version: str,
    *,
    stats: FleetStats,
    password: str | None = None,
    passwords: Mapping[str, str] | None = None,
    id_prefix: str = "SIM",
    meter_interval: float = 10.0,
    fault_probability: float = 0.0,
    seed: int = 1,
    id_tags: Sequence[str] | None = None,
    pattern: SessionPattern | None = None,
    time_scale: float = 1.0,
    spread: bool = False,
    connectors: int = 2,
    keep_journal: bool = False,
    tx_attempts: int = DEFAULT_TX_ATTEMPTS,
    tx_retry_interval: float = DEFAULT_TX_INTERVAL,
    reconnect_base: float = 1.0,
    reconnect_cap: float = 30.0,
) -> list[VirtualStation]:
    """The stations of a fleet; each gets its own deterministic random stream.

    ``url`` may be several CSMS addresses: every station fails over between them, in the
    given order or (``spread``) each starting at a different one."""
    return [
        VirtualStation(
            station_urls(url, i - 1, spread),
            sid,
            ocpp_version,
            password=(passwords or {}).get(sid, password),
            meter_interval=meter_interval,
            time_scale=time_scale,
            pattern=pattern,
            rng=random.Random(seed * 1_000_003 + i),  # noqa: S311 - simulation, not crypto
            fault_probability=fault_probability,
            id_tags=id_tags,
            stats=stats,
            connectors=connectors,
            keep_journal=keep_journal,
            tx_attempts=tx_attempts,
            tx_retry_interval=tx_retry_interval,
            reconnect_base=reconnect_base,
            reconnect_cap=reconnect_cap,
        )
        for i, sid in enumerate(station_ids(id_prefix, stations), start=1)
    ]


def stats_table(stats: FleetStats, stations: int, title: str = "evcsms simulator") -> Table:
    """The fleet counters as a two-column Rich table."""
    table = Table(title=title, show_header=False, min_width=44)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("stations connected / booted", f"{stats.connected} / {stats.booted} of {stations}"),
        ("stations online now", str(stats.online)),
        ("sessions active / completed", f"{stats.sessions_active} / {stats.sessions_completed}"),
        ("messages sent", str(stats.messages_sent)),
        ("errors (CALLERROR, timeouts, connects)", str(stats.errors)),
        ("reconnects / faults", f"{stats.reconnects} / {stats.faults}"),
        ("failovers / refusals (503)", f"{stats.failovers} / {stats.refusals}"),
        ("tx messages re-sent / dropped", f"{stats.tx_retries} / {stats.tx_dropped}"),
        ("injected faults active / total", f"{stats.faults_active} / {stats.faults_injected}"),
        ("energy delivered", f"{stats.energy_kwh:,.2f} kWh"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


@contextlib.contextmanager
def _display(stats: FleetStats, stations: int, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with Live(
        get_renderable=lambda: stats_table(stats, stations),
        refresh_per_second=2,
        console=Console(),
        transient=True,
    ):
        yield


async def _staggered(station: VirtualStation, delay: float) -> None:
    await asyncio.sleep(delay)
    await station.run()


async def run_fleet(
    url: str | Sequence[str],
    stations: int,
    ocpp_version: str,
    *,
    duration: float | None,
    password: str | None = None,
    passwords: Mapping[str, str] | None = None,
    id_prefix: str = "SIM",
    meter_interval: float = 10,
    fault_probability: float = 0,
    seed: int = 1,
    progress: bool = True,
    id_tags: Sequence[str] | None = None,
    pattern: SessionPattern | None = None,
    time_scale: float = 1.0,
    stats: FleetStats | None = None,
    faults: FaultSchedule | None = None,
    spread: bool = False,
) -> FleetStats:
    """Run ``stations`` virtual stations for ``duration`` seconds (None: until cancelled).

    Stations are named ``f"{id_prefix}{i:04d}"`` from 1 and connect staggered. On the end
    (or cancellation) open sessions are stopped cleanly. Pass ``stats`` to watch live counters
    and ``faults`` (`FaultPlan`, `RandomFaults`) to inject faults while it runs. ``url`` may
    be several CSMS addresses to fail over between (``spread``: see `build_fleet`).
    """
    stats = stats if stats is not None else FleetStats()
    fleet = build_fleet(
        url,
        stations,
        ocpp_version,
        stats=stats,
        password=password,
        passwords=passwords,
        id_prefix=id_prefix,
        meter_interval=meter_interval,
        fault_probability=fault_probability,
        seed=seed,
        id_tags=id_tags,
        pattern=pattern,
        time_scale=time_scale,
        spread=spread,
    )
    await run_stations(fleet, duration=duration, stats=stats, progress=progress, faults=faults)
    return stats


async def run_stations(
    fleet: Sequence[VirtualStation],
    *,
    duration: float | None,
    stats: FleetStats,
    progress: bool = True,
    faults: FaultSchedule | None = None,
) -> None:
    """Run built stations (connecting staggered) and the fault schedule for ``duration``
    seconds (None: until cancelled), then stop them cleanly."""
    stagger = min(0.05, MAX_STAGGER_TOTAL / max(1, len(fleet)))
    tasks = [
        asyncio.create_task(_staggered(st, i * stagger), name=f"fleet-{st.station_id}")
        for i, st in enumerate(fleet)
    ]
    if faults is not None:
        tasks.append(asyncio.create_task(faults.run(fleet), name="fleet-faults"))
    try:
        with _display(stats, len(fleet), progress):
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
    finally:
        if faults is not None:
            tasks[-1].cancel()
        await asyncio.gather(*(st.stop() for st in fleet), return_exceptions=True)
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("fleet task failed: %r", result)


# -- fault schedules ----------------------------------------------------------------------------


class FaultSchedule(Protocol):
    """Injects and clears faults on a running fleet (a task of `run_stations`)."""

    async def run(self, fleet: Sequence[VirtualStation]) -> None: ...


Report = Callable[[str], None]


def describe(inj: Injection, verb: str, ocpp_version: str = "1.6") -> str:
    """One line for an operator: when, what, where, and what evcsms should make of it."""
    spec = inj.spec
    where = inj.station_id if inj.connector == 0 else f"{inj.station_id}/{inj.connector}"
    line = f"{time.strftime('%H:%M:%S')} {verb} {inj.fault.value} on {where}"
    if verb == "injected":
        line += f" -> incident {spec.incident_for(ocpp_version)}: {spec.detection}"
    return line


@dataclass
class FaultPlan:
    """The given faults, each injected ``at`` s after the fleet starts (once its station is
    online) and cleared ``hold`` s later (never if None)."""

    faults: Sequence[PlannedFault]
    report: Report | None = None

    def check(self, station_ids: Sequence[str]) -> None:
        """Raise ValueError if a planned fault names a station that is not in the fleet."""
        unknown = sorted({p.station_id for p in self.faults} - set(station_ids))
        if unknown:
            raise ValueError(f"no such station in the fleet: {', '.join(unknown)}")

    async def run(self, fleet: Sequence[VirtualStation]) -> None:
        by_id = {st.station_id: st for st in fleet}
        self.check(list(by_id))
        await asyncio.gather(*(self._one(by_id[p.station_id], p) for p in self.faults))

    async def _one(self, station: VirtualStation, planned: PlannedFault) -> None:
        await asyncio.sleep(planned.at)
        await station.wait_online()
        inj = station.inject(planned.fault, planned.connector, **planned.params)
        if self.report is not None:
            self.report(describe(inj, "injected", station.ocpp_version))
        if planned.hold is None:
            return
        await asyncio.sleep(planned.hold)
        if station.clear_fault(inj.fault, inj.connector) is not None and self.report is not None:
            self.report(describe(inj, "cleared"))


# Faults whose incident needs time by design: hold them at least this long (seconds).
MIN_HOLD: dict[Fault, float] = {
    Fault.OFFLINE: 100.0,  # 60 s grace + a 30 s sweep
    Fault.FROZEN_REGISTER: 11 * 60.0,  # 10 min frozen + a sweep
    Fault.VOLTAGE_LOW: 45.0,  # a sample and a 30 s sweep
    Fault.VOLTAGE_HIGH: 45.0,
    Fault.PHASE_IMBALANCE: 45.0,
    Fault.OVER_CURRENT: 45.0,
    Fault.OVER_TEMPERATURE: 45.0,
}
# Not picked at random: a stuck session needs 24 h, and over_current a rating the CSMS knows.
RANDOM_KINDS = tuple(f for f in Fault if f not in (Fault.STUCK_SESSION, Fault.OVER_CURRENT))


@dataclass
class RandomFaults:
    """Every ``every`` s, one random fault class on a random online station without an
    injected fault, cleared after ``hold`` s (longer where detection needs it: `MIN_HOLD`,
    and a hung station is held past 2 of its heartbeat intervals)."""

    every: float = 60.0
    hold: float = 120.0
    kinds: Sequence[Fault] = RANDOM_KINDS
    seed: int = 0
    report: Report | None = None
    injected: list[Injection] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)
    _clears: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation, not crypto

    def hold_for(self, fault: Fault, station: VirtualStation) -> float:
        hold = max(self.hold, MIN_HOLD.get(fault, 0.0))
        if fault is Fault.HUNG:
            hold = max(hold, 2 * station.heartbeat_interval + 40.0)
        return hold

    async def run(self, fleet: Sequence[VirtualStation]) -> None:
        try:
            while True:
                await asyncio.sleep(self.every)
                self.inject_one(fleet)
        finally:
            for task in self._clears:
                task.cancel()

    def inject_one(self, fleet: Sequence[VirtualStation]) -> Injection | None:
        """Inject one random fault now (None: every station is busy with one or offline)."""
        idle = [st for st in fleet if st.booted and not st.active_faults]
        if not idle or not self.kinds:
            return None
        station = self._rng.choice(idle)
        fault = self._rng.choice(list(self.kinds))
        connector = None
        if FAULTS[fault].scope == "connector":
            connector = self._rng.randint(1, len(station.connectors))
        inj = station.inject(fault, connector)
        self.injected.append(inj)
        if self.report is not None:
            self.report(describe(inj, "injected", station.ocpp_version))
        task = asyncio.create_task(self._clear_later(station, inj))
        self._clears.add(task)
        task.add_done_callback(self._clears.discard)
        return inj

    async def _clear_later(self, station: VirtualStation, inj: Injection) -> None:
        await asyncio.sleep(self.hold_for(inj.fault, station))
        if station.clear_fault(inj.fault, inj.connector) is not None and self.report is not None:
            self.report(describe(inj, "cleared"))

"""Run a fleet of virtual stations against a CSMS, optionally with a Rich live display."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterator, Mapping, Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table

from evcsms.simulator.client import station_ids
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.station import VirtualStation
from evcsms.simulator.stats import FleetStats

__all__ = ["FleetStats", "build_fleet", "run_fleet", "stats_table", "station_ids"]

log = logging.getLogger(__name__)

MAX_STAGGER_TOTAL = 5.0  # seconds over which the fleet's connections are spread


def build_fleet(
    url: str,
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
) -> list[VirtualStation]:
    """The stations of a fleet; each gets its own deterministic random stream."""
    return [
        VirtualStation(
            url,
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
    url: str,
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
) -> FleetStats:
    """Run ``stations`` virtual stations for ``duration`` seconds (None: until cancelled).

    Stations are named ``f"{id_prefix}{i:04d}"`` from 1 and connect staggered. On the end
    (or cancellation) open sessions are stopped cleanly. Pass ``stats`` to watch live counters.
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
    )
    stagger = min(0.05, MAX_STAGGER_TOTAL / max(1, stations))
    tasks = [
        asyncio.create_task(_staggered(st, i * stagger), name=f"fleet-{st.station_id}")
        for i, st in enumerate(fleet)
    ]
    try:
        with _display(stats, stations, progress):
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
    finally:
        await asyncio.gather(*(st.stop() for st in fleet), return_exceptions=True)
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("station task failed: %r", result)
    return stats

"""``evcsms simulate``: run a fleet of virtual OCPP stations against a CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console

from evcsms.simulator.client import station_ids
from evcsms.simulator.faults import PlannedFault, parse_planned
from evcsms.simulator.fleet import FaultPlan, FaultSchedule, RandomFaults, run_fleet, stats_table
from evcsms.simulator.station import VirtualStation
from evcsms.simulator.stats import FleetStats

__all__ = ["simulate"]


def _planned(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[PlannedFault]:
    try:
        return [parse_planned(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("simulate")
@click.option(
    "--url",
    "urls",
    multiple=True,
    default=("ws://127.0.0.1:8180/ocpp",),
    show_default=True,
    help="CSMS OCPP endpoint; each station connects to URL/<station id>. Repeat for several "
    "nodes: a station uses the first that answers and fails over to the next, round robin.",
)
@click.option(
    "--spread",
    is_flag=True,
    help="With several --url: each station starts at a different one (round robin).",
)
@click.option(
    "--stations",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Number of stations.",
)
@click.option(
    "--ocpp", "ocpp_version", type=click.Choice(["1.6", "2.0.1"]), default="1.6", show_default=True
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to run (default: until Ctrl-C).",
)
@click.option("--password", default=None, help="HTTP Basic auth password (username = station id).")
@click.option(
    "--id-prefix",
    default="SIM",
    show_default=True,
    help="Station ids are PREFIX0001, PREFIX0002, ...",
)
@click.option(
    "--meter-interval",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    help="Seconds between MeterValues during a session.",
)
@click.option(
    "--faults",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Probability that an idle connector faults instead of starting a session.",
)
@click.option(
    "--inject",
    "planned",
    multiple=True,
    callback=_planned,
    metavar="KIND:STATION[/CONN][@AT[+HOLD]][,k=v]",
    help="Inject a fault, e.g. voltage_low:SIM0001 or offline:SIM0002@10+120 (at 10 s, "
    "cleared 120 s later); repeatable. Kinds: docs/fault-injection.md.",
)
@click.option(
    "--fault-every",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Also inject one random fault on a random station every SECONDS.",
)
@click.option(
    "--fault-hold",
    type=click.FloatRange(min=0.0),
    default=120.0,
    show_default=True,
    help="Seconds a random fault lasts (longer where detection needs it).",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Random seed (runs are reproducible)."
)
@click.option("--quiet", is_flag=True, help="No live display, only the final summary.")
def simulate(
    urls: tuple[str, ...],
    spread: bool,
    stations: int,
    ocpp_version: str,
    duration: float | None,
    password: str | None,
    id_prefix: str,
    meter_interval: float,
    faults: float,
    planned: list[PlannedFault],
    fault_every: float | None,
    fault_hold: float,
    seed: int,
    quiet: bool,
) -> None:
    """Simulate charging stations: boot, heartbeats, charging sessions with meter values,
    and injected faults."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    schedule = _schedule(planned, fault_every, fault_hold, seed, station_ids(id_prefix, stations))
    stats = FleetStats()
    url: str | tuple[str, ...] = urls[0] if len(urls) == 1 else urls
    extra: dict[str, Any] = {"spread": True} if spread else {}  # only when asked for
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_fleet(
                url,
                stations,
                ocpp_version,
                duration=duration,
                password=password,
                id_prefix=id_prefix,
                meter_interval=meter_interval,
                fault_probability=faults,
                seed=seed,
                progress=not quiet,
                stats=stats,
                faults=schedule,
                **extra,
            )
        )
    Console().print(stats_table(stats, stations, title="simulation summary"))


class _Both:
    """A plan and a random schedule side by side."""

    def __init__(self, *schedules: FaultSchedule) -> None:
        self.schedules = schedules

    async def run(self, fleet: Sequence[VirtualStation]) -> None:
        await asyncio.gather(*(s.run(fleet) for s in self.schedules))


def _schedule(
    planned: list[PlannedFault],
    every: float | None,
    hold: float,
    seed: int,
    ids: list[str],
) -> FaultSchedule | None:
    schedules: list[FaultSchedule] = []
    if planned:
        plan = FaultPlan(planned, report=click.echo)
        try:
            plan.check(ids)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--inject") from None
        schedules.append(plan)
    if every is not None:
        schedules.append(RandomFaults(every=every, hold=hold, seed=seed, report=click.echo))
    if len(schedules) > 1:
        return _Both(*schedules)
    return schedules[0] if schedules else None

"""``evcsms simulate``: run a fleet of virtual OCPP stations against a CSMS."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import click
from rich.console import Console

from evcsms.simulator.fleet import run_fleet, stats_table
from evcsms.simulator.stats import FleetStats

__all__ = ["simulate"]


@click.command("simulate")
@click.option(
    "--url",
    default="ws://127.0.0.1:8180/ocpp",
    show_default=True,
    help="CSMS OCPP endpoint; each station connects to URL/<station id>.",
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
    "--seed", type=int, default=1, show_default=True, help="Random seed (runs are reproducible)."
)
@click.option("--quiet", is_flag=True, help="No live display, only the final summary.")
def simulate(
    url: str,
    stations: int,
    ocpp_version: str,
    duration: float | None,
    password: str | None,
    id_prefix: str,
    meter_interval: float,
    faults: float,
    seed: int,
    quiet: bool,
) -> None:
    """Simulate charging stations: boot, heartbeats, charging sessions with meter values."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stats = FleetStats()
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
            )
        )
    Console().print(stats_table(stats, stations, title="simulation summary"))

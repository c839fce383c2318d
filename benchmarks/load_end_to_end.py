"""Load management end to end: from a session start (or stop) at a busy site to every
affected station holding its new charging profile.

A real node (uvicorn, SQLite in a temporary directory, the same app `evcsms serve` runs)
and simulated stations (OCPP 1.6 and 2.0.1, alternating) in this one process, over
loopback WebSockets. The site: rows of four EVSEs behind 32 A fuses, so one more car on a
row changes its neighbours' share. Each trial starts a session on the spare connector (or
stops it), then waits until every charging connector's live profile (stack level 1) holds
the limit the node's allocation gives it (within the 0.5 A the service does not bother a
station for). Prints p50/p90/max over the trials.

    .venv/bin/python benchmarks/load_end_to_end.py --stations 50 --trials 10
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
from decimal import Decimal
from typing import Any

import uvicorn
from rich.console import Console
from rich.table import Table

from evcsms.bootstrap import build_app, build_services, close_services, uvicorn_config
from evcsms.settings import Settings
from evcsms.simulator import SessionPattern, VirtualStation

SITE = "BENCH-SITE"
CARS = SessionPattern(session_seconds=(86400.0, 86400.0), auto_start=False, phases=(3,),
                      max_current_a=32.0)
console = Console()


def tree(stations: list[str]) -> dict[str, Any]:
    """Rows of two stations (four EVSEs) behind 32 A fuses, under a grid connection that
    can carry every row at once: a car plugging in changes the share of the three others
    on its fuse (10.6 A to 8 A each), and nobody else's."""
    evses = [f"{s}/{n}" for s in stations for n in (1, 2)]
    rows = -(-len(evses) // 4)
    return {
        "circuits": [{"id": "grid", "max_current_a": [32 * rows] * 3},
                     *({"id": f"row-{r}", "parent": "grid", "max_current_a": [32] * 3}
                       for r in range(rows))],
        "evses": [{"id": e, "circuit": f"row-{i // 4}", "max_current_a": 32}
                  for i, e in enumerate(evses)],
    }


def live_limits(stations: list[VirtualStation]) -> dict[str, Decimal]:
    out = {}
    for st in stations:
        for connector, profile in st.charging_profiles:
            if profile.stack_level == 1 and st.connectors[connector - 1].session is not None:
                out[f"{st.station_id}/{connector}"] = Decimal(str(profile.periods[0].limit))
    return out


async def run(count: int, trials: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db", port=port,
                            log_level="warning")
        services = await build_services(settings)
        services.load._min_interval = 0.0  # noqa: SLF001 - measure the path, not the pacing
        app = build_app(services, settings)
        server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        await started(server)
        ids = [f"B{'16' if n % 2 else '201'}-{n:04d}" for n in range(count)]
        await services.tokens.create("BENCHTAG")
        for sid in ids:
            await services.stations.create(sid, password=None)
        await services.tariffs.put_site(SITE, name="bench", time_zone="UTC")
        await services.load.put(SITE, tree(ids), by="bench")
        url = f"ws://127.0.0.1:{port}/ocpp"
        stations = [VirtualStation(url, sid, "1.6" if "16" in sid else "2.0.1",
                                   connectors=2, meter_interval=30, pattern=CARS,
                                   id_tags=["BENCHTAG"], seed=n)
                    for n, sid in enumerate(ids)]
        for st in stations:
            st.start()
        times: list[float] = []
        sent: list[int] = []
        try:
            for st in stations:
                await st.wait_online()
            spare = stations[-1]
            spare_evse = f"{spare.station_id}/2"
            with console.status("plugging in every car but one"):
                for st in stations:
                    for connector in (1, 2):
                        if st is not spare or connector == 1:
                            st.start_session(connector, "BENCHTAG")
                await settle(services, stations, deadline=120, charging=2 * count - 1)
            with console.status("trials"):
                for n in range(trials):
                    starting = n % 2 == 0
                    began = time.monotonic()
                    if starting:
                        assert spare.start_session(2, "BENCHTAG")
                    else:
                        assert spare.stop_session(2)
                    await settle(services, stations, deadline=60, after=began,
                                 charging=2 * count if starting else 2 * count - 1)
                    times.append(time.monotonic() - began)
                    sent.append(len([x for x in services.load.last[SITE].sent
                                     if x["status"] == "accepted"]))
                    assert (spare_evse in services.load.last[SITE].sessions) is starting
                    await asyncio.sleep(0.5)  # let the stations' answers settle
        finally:
            await asyncio.gather(*(st.stop() for st in stations))
            server.should_exit = True
            await serving
            await close_services(services)
    table = Table(title=f"session start/stop -> every affected station holds its new profile "
                        f"({count} stations, {2 * count} EVSEs, {-(-count // 2)} fuses)")
    for column in ("trials", "p50 ms", "p90 ms", "max ms", "profiles sent per change (median)"):
        table.add_column(column, justify="right")
    ordered = sorted(times)
    table.add_row(str(trials), f"{statistics.median(times) * 1000:.0f}",
                  f"{ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f}",
                  f"{max(times) * 1000:.0f}", f"{statistics.median(sent):.0f}")
    console.print(table)


async def started(server: uvicorn.Server) -> None:
    for _ in range(1000):
        if server.started:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the node did not start")


async def settle(services: Any, stations: list[VirtualStation], *, deadline: float,
                 charging: int, after: float | None = None) -> None:
    """Until an allocation made after `after` with `charging` sessions is what every
    charging connector holds."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        outcome = services.load.last.get(SITE)
        if outcome is not None and (after is None or outcome.computed > after) \
                and len(outcome.sessions) == charging:
            want = {s.evse: s.limit for s in outcome.allocation.setpoints
                    if s.evse in outcome.sessions}
            held = live_limits(stations)
            # within the service's significance: smaller moves are not sent on purpose
            if held.keys() == want.keys() and all(
                    abs(held[k] - want[k]) < services.load._significance for k in want):  # noqa: SLF001
                return
        await asyncio.sleep(0.002)
    raise TimeoutError("the site did not settle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=50, help="two EVSEs each")
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.stations, args.trials))


if __name__ == "__main__":
    main()

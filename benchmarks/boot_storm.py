"""Reconnection storm benchmark: N stations connect and boot at once (a node restarted, a
site's link came back). How long until every boot is answered, how long until the node's
event-driven checks (repeated reboots, flapping, offline incidents to resolve) have caught
up, and how many database connections the storm made the node open.

    .venv/bin/python benchmarks/boot_storm.py                     # 1,000 stations, SQLite
    .venv/bin/python benchmarks/boot_storm.py --stations 5000 --rounds 2
    .venv/bin/python benchmarks/boot_storm.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test --database-schema bench

The services run in this process (no WebSockets: the storm is the services' calls a
gateway makes for each station, `set_connected` then `boot`, all at once). A third of the
stations have an open offline incident, which their reconnect resolves. It prints figures;
it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


async def settle(services: object) -> None:
    """Until the bus has delivered every event and the diagnostics batches are done."""
    bus = services.bus  # type: ignore[attr-defined]
    diagnostics = services.diagnostics  # type: ignore[attr-defined]
    while True:
        tasks = set(getattr(bus, "_tasks", ()))
        if tasks:
            await asyncio.wait(tasks)
            continue
        if hasattr(diagnostics, "settled"):
            await diagnostics.settled()
        if not getattr(bus, "_tasks", ()):
            return


async def storm(args: argparse.Namespace, workdir: Path) -> list[dict[str, float]]:
    from sqlalchemy import event

    from evcsms.bootstrap import build_services, close_services
    from evcsms.domain import faults
    from evcsms.services.stations import BootInfo
    from evcsms.settings import Settings

    url = args.database_url or f"sqlite+aiosqlite:///{workdir}/storm.db"
    settings = Settings(database_url=url, log_level="warning",
                        database_schema=args.database_schema)
    services = await build_services(settings, migrate=True)
    opened = [0]
    event.listen(services.engine.sync_engine, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))
    ids = [f"STORM{i:05d}" for i in range(args.stations)]
    info = BootInfo("Bench", "Storm", None, "1.0", "PowerUp", "1.6", {})
    results = []
    try:
        for start in range(0, len(ids), 500):
            await asyncio.gather(*(services.stations.create(sid, password=None)
                                   for sid in ids[start:start + 500]))
        now = services.clock.now()
        for sid in ids[::3]:
            finding = faults.offline(sid, False, now - timedelta(hours=1), now, 60)
            assert finding is not None
            await services.incidents.report(sid, finding)
        await settle(services)
        for round_ in range(1, args.rounds + 1):
            before = opened[0]
            t0 = time.perf_counter()

            async def one(sid: str) -> None:
                await services.stations.set_connected(sid, True, "bench")
                await services.stations.boot(sid, info)

            await asyncio.gather(*(one(sid) for sid in ids))
            answered = time.perf_counter() - t0
            await settle(services)
            settled = time.perf_counter() - t0
            resolved = (await services.incidents.list(kind="offline", status="resolved",
                                                      limit=1, offset=0))[1]
            results.append({"round": round_, "answered_s": answered, "settled_s": settled,
                            "connections": opened[0] - before, "resolved": resolved})
            await asyncio.gather(*(services.stations.set_connected(sid, False, "bench")
                                   for sid in ids))
            await settle(services)
    finally:
        await close_services(services)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stations", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="storms, one after the other")
    p.add_argument("--database-url", default=None, help="default: SQLite in a temp directory")
    p.add_argument("--database-schema", default=None, help="PostgreSQL schema to use")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(storm(args, Path(tmp)))
    table = Table(title=f"Reconnection storm: {args.stations:,} stations connect and boot at once")
    for col in ("round", "all boots answered", "checks caught up", "DB connections opened",
                "offline incidents resolved"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r["round"]), f"{r['answered_s']:.2f} s", f"{r['settled_s']:.2f} s",
                      f"{r['connections']:,.0f}", f"{r['resolved']:,.0f}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

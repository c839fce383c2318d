"""How fast the dashboard's pages answer on a large fleet (prints figures; not a test).

Builds a fleet of N stations (2 connectors each, statuses spread over the states) on a
fresh SQLite file or the PostgreSQL given by --database-url, logs an operator in through
the real ASGI app (bootstrap.build_app, in process, no network) and times each page:
median and max of --repeat GETs, and the size of the HTML.

    .venv/bin/python benchmarks/dashboard.py --stations 10000
    .venv/bin/python benchmarks/dashboard.py --stations 2000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import insert

from evcsms.bootstrap import build_app, build_services, close_services
from evcsms.services.users import UserRole
from evcsms.settings import Settings
from evcsms.storage import tables as t

STATUSES = ["Available", "Charging", "Available", "Faulted", "Occupied", "Available",
            "SuspendedEV", "Unavailable"]
PASSWORD = "benchmark password 1"


async def build_fleet(services: object, count: int, per_site: int) -> None:
    now = datetime.now(UTC)
    engine = services.engine  # type: ignore[attr-defined]
    sites = max(1, -(-count // per_site))
    async with engine.begin() as conn:
        await conn.execute(insert(t.Site), [
            {"id": site_of(n * per_site, per_site), "name": f"Site {n}",
             "time_zone": "Europe/Amsterdam", "created_at": now, "updated_at": now}
            for n in range(sites)])
        for start in range(0, count, 1000):
            ids = [f"B{i:06d}" for i in range(start, min(count, start + 1000))]
            await conn.execute(insert(t.Station), [
                {"id": sid, "description": f"bay {sid}", "registration": "Accepted",
                 "connected": n % 10 != 0, "last_seen_at": now,
                 "site_id": site_of(start + n, per_site), "created_at": now,
                 "updated_at": now} for n, sid in enumerate(ids)])
            await conn.execute(insert(t.Connector), [
                {"station_id": sid, "evse_id": evse, "connector_id": 1,
                 "status": STATUSES[(n + evse) % len(STATUSES)], "error_code": "NoError",
                 "status_at": now}
                for n, sid in enumerate(ids) for evse in (1, 2)])


def site_of(station: int, per_site: int) -> str:
    return f"S{station // per_site:05d}"


async def main(args: argparse.Namespace) -> None:
    url = args.database_url or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    settings = Settings(database_url=url, database_schema=args.schema)
    services = await build_services(settings, migrate=True)
    try:
        started = time.perf_counter()
        await build_fleet(services, args.stations, args.per_site)
        print(f"fleet of {args.stations} stations, {args.per_site} a site, built in {time.perf_counter() - started:.1f} s"
              f" ({url.split(':', 1)[0]})")
        await services.users.create("bench", UserRole.OPERATOR)
        await services.users.set_password("bench", PASSWORD)
        app = build_app(services, settings)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://bench") as client:
            form = await client.get("/ui/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token
            done = await client.post("/ui/login", data={
                "username": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
            assert done.status_code == 303, done.text
            pages = ["/ui/", "/ui/?state=faulted", "/ui/?q=B0001", "/ui/stations/B000001",
                     "/ui/incidents", "/ui/sessions", "/ui/sites", "/ui/sites/S00000",
                     "/ui/billing", "/ui/uptime"]
            print(f"{'page':<26}{'median ms':>10}{'max ms':>10}{'KB':>10}")
            for page in pages:
                times, size = [], 0
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    response = await client.get(page)
                    times.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200, (page, response.status_code)
                    size = len(response.content)
                print(f"{page:<26}{statistics.median(times):>10.1f}{max(times):>10.1f}"
                      f"{size / 1024:>10.1f}")
    finally:
        await close_services(services)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--per-site", type=int, default=20, help="stations on each site")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--schema", default=None, help="PostgreSQL schema (created if needed)")
    asyncio.run(main(parser.parse_args()))

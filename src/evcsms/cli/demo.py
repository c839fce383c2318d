"""`evcsms demo` (what `make run` starts): a node on the embedded SQLite plus a simulated fleet.

Registers demo stations (half OCPP 1.6J, half 2.0.1) with a password and demo
RFID tokens, makes sure an operator token exists, prints the URLs and runs
the server and the fleet in one process until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from decimal import Decimal
from typing import Any

import click

from evcsms.bootstrap import stop_on_sigterm
from evcsms.services import secrets
from evcsms.services.container import Services
from evcsms.services.errors import ConflictError
from evcsms.settings import Settings

DEMO_TAGS = ["DEMO-RFID-01", "DEMO-RFID-02", "DEMO-RFID-03", "DEMO-RFID-04"]
DEMO_SITE = "DEMO-SITE"
# An OCPI 2.2.1 tariff with a start fee, a cheaper night rate, time-of-use and an idle fee,
# so a demo session's receipt has something to show.
DEMO_TARIFF: dict[str, Any] = {
    "id": "DEMO-AC", "currency": "EUR", "country_code": "NL", "party_id": "EVC",
    "type": "REGULAR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": Decimal("0.35"), "vat": Decimal(21),
                               "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.29"), "vat": Decimal(21),
                               "step_size": 1}],
         "restrictions": {"start_time": "23:00", "end_time": "07:00"}},
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.39"), "vat": Decimal(21),
                               "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": Decimal("3.00"),
                               "vat": Decimal(21), "step_size": 60}]},
    ],
}


@click.command()
@click.option("--stations", default=4, show_default=True, help="Simulated stations")
@click.option("--host", envvar="EVCSMS_HOST", default=None)
@click.option("--port", envvar="EVCSMS_PORT", default=None)
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
@click.option("--meter-interval", default=5.0, show_default=True, help="Seconds between samples")
@click.option("--duration", default=None, type=float, help="Stop after S seconds (default: Ctrl-C)")
@click.option("--session-seconds", nargs=2, type=float, default=(60.0, 240.0), show_default=True,
              help="Shortest and longest simulated charging session")
def demo(stations: int, meter_interval: float, duration: float | None,
         session_seconds: tuple[float, float], **flags: Any) -> None:
    """Start evcsms with a simulated fleet charging, and print the URLs to open."""
    from evcsms.cli.main import settings_or_exit

    settings = settings_or_exit(**flags)
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_demo(settings, stations, meter_interval, duration, session_seconds))
    except KeyboardInterrupt:  # Ctrl-C after the server shut down cleanly
        click.echo("evcsms demo stopped")


async def _demo(
    settings: Settings, count: int, meter_interval: float, duration: float | None,
    session_seconds: tuple[float, float] = (60.0, 240.0),
) -> None:
    from evcsms.bootstrap import build_services, close_services, serve
    from evcsms.simulator.connector import SessionPattern
    from evcsms.simulator.fleet import run_fleet

    if "EVCSMS_LOG_LEVEL" not in os.environ:  # keep the fleet's progress display readable
        settings = settings.model_copy(update={"log_level": "warning"})

    password = secrets.new_station_password()
    services = await build_services(settings, background=False)
    try:
        ids16, ids201 = await _register(services, count, password)
        token = settings.admin_token or await services.users.create(
            f"demo-operator-{secrets.new_token()[:6]}", _operator()
        )
    finally:
        await close_services(services)
    _banner(settings, token, ids16 + ids201)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop), name="server")
    await _wait_for_port(settings.host, settings.port, server)
    url = f"ws://{settings.host}:{settings.port}/ocpp"
    idle = (min(2.0, session_seconds[0]), min(20.0, session_seconds[1]))
    pattern = SessionPattern(session_seconds=session_seconds, idle_seconds=idle)
    fleets = [
        run_fleet(url, len(ids16), "1.6", duration=duration, password=password,
                  meter_interval=meter_interval, id_tags=DEMO_TAGS, pattern=pattern,
                  id_prefix="DEMO16-", progress=True),
        run_fleet(url, len(ids201), "2.0.1", duration=duration, password=password,
                  meter_interval=meter_interval, id_tags=DEMO_TAGS, pattern=pattern,
                  id_prefix="DEMO201-", progress=False, seed=2),
    ]
    try:
        await asyncio.gather(*fleets)
    finally:
        stop.set()
        await asyncio.gather(server, return_exceptions=True)


async def _register(services: Services, count: int, password: str) -> tuple[list[str], list[str]]:
    half = max(1, count // 2)
    ids16 = [f"DEMO16-{i:04d}" for i in range(1, half + 1)]
    ids201 = [f"DEMO201-{i:04d}" for i in range(1, max(1, count - half) + 1)]
    for station_id in ids16 + ids201:
        try:
            await services.stations.create(station_id, password=password, description="demo")
        except ConflictError:
            await services.stations.update(station_id, password=password)
    for tag in DEMO_TAGS:
        with contextlib.suppress(ConflictError):
            await services.tokens.create(tag, description="demo card")
    # billing: every demo session is priced, ends with a CDR and has a receipt
    await services.tariffs.put_site(DEMO_SITE, name="Demo car park", time_zone="Europe/Amsterdam")
    for station_id in ids16 + ids201:
        await services.tariffs.place_station(station_id, DEMO_SITE)
    await services.tariffs.put(DEMO_TARIFF)
    await services.tariffs.assign("default", "", DEMO_TARIFF["id"])
    return ids16, ids201


def _operator() -> Any:
    from evcsms.services.users import UserRole

    return UserRole.OPERATOR


def _banner(settings: Settings, token: str, ids: list[str]) -> None:
    base = f"http://{settings.host}:{settings.port}"
    click.echo("")
    click.echo("evcsms demo is starting")
    click.echo(f"  API docs (OpenAPI):  {base}/docs")
    click.echo(f"  Stations:            {base}/api/v1/stations")
    click.echo(f"  Sessions:            {base}/api/v1/sessions")
    click.echo(f"  CDRs (finished):     {base}/api/v1/cdrs")
    click.echo(f"  A receipt:           {base}/api/v1/sessions/<id>/receipt(.pdf)")
    click.echo(f"  OCPP endpoint:       ws://{settings.host}:{settings.port}/ocpp/<station_id>")
    click.echo(f"  Operator API token:  {token}")
    click.echo(f"  Try: curl -H 'Authorization: Bearer {token}' {base}/api/v1/sessions")
    click.echo(f"  Simulated stations:  {', '.join(ids)}")
    click.echo(f"  Database:            {settings.database_url}")
    click.echo("")


async def _wait_for_port(host: str, port: int, server: asyncio.Task[None]) -> None:
    for _ in range(200):
        if server.done():
            server.result()  # raises the server's start-up error
            raise RuntimeError("server stopped during start-up")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server did not start listening on {host}:{port}")

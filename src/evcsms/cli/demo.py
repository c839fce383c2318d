"""`evcsms demo` (what `make run` starts): a node on the embedded SQLite plus a simulated fleet.

Registers demo stations (half OCPP 1.6J, half 2.0.1) with a password and demo
RFID tokens, makes sure an operator token exists, prints the URLs and runs
the server and the fleet in one process until Ctrl-C. Every minute (`--fault-every`) one
demo station gets a random fault (docs/fault-injection.md), cleared a while later, so
incidents open and resolve under /api/v1/incidents; `--no-faults` turns that off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets as pysecrets
import signal
import socket
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from evcsms.bootstrap import stop_on_sigterm
from evcsms.services import secrets
from evcsms.services.container import Services
from evcsms.services.errors import ConflictError
from evcsms.settings import Settings

if TYPE_CHECKING:
    from evcsms.simulator.faults import Fault
    from evcsms.simulator.fleet import RandomFaults

DEMO_TAGS = ["DEMO-RFID-01", "DEMO-RFID-02", "DEMO-RFID-03", "DEMO-RFID-04"]
DEMO_SITE = "DEMO-SITE"
DEMO_RATING_A = "32"  # the demo stations' current rating, so over_current is checked
NOT_IN_DEMO = ("stuck_session",)  # found only after 24 h
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
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="Inject random faults into the simulated fleet")
@click.option("--fault-every", type=click.FloatRange(min=1.0), default=60.0, show_default=True,
              help="Seconds between two injected faults")
@click.option("--fault-hold", type=click.FloatRange(min=0.0), default=120.0, show_default=True,
              help="Seconds a fault lasts (longer where its detection needs it)")
@click.option("--fault-kinds", default=None, metavar="KIND,KIND",
              help="Only these fault classes (default: all but stuck_session)")
def demo(stations: int, meter_interval: float, duration: float | None,
         session_seconds: tuple[float, float], faults: bool, fault_every: float,
         fault_hold: float, fault_kinds: str | None, **flags: Any) -> None:
    """Start evcsms with a simulated fleet charging (and now and then failing), and print the
    URLs to open."""
    from evcsms.cli.main import settings_or_exit

    kinds = _kinds(fault_kinds) if faults else ()
    settings = settings_or_exit(**flags)
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_demo(settings, stations, meter_interval, duration, session_seconds,
                             fault_kinds=kinds, fault_every=fault_every, fault_hold=fault_hold))
    except KeyboardInterrupt:  # Ctrl-C after the server shut down cleanly
        click.echo("evcsms demo stopped")


def _kinds(text: str | None) -> tuple[Fault, ...]:
    """The fault classes to inject at random (the simulator is imported only when used)."""
    from evcsms.simulator.faults import Fault

    if text is None:
        return tuple(f for f in Fault if f.value not in NOT_IN_DEMO)
    try:
        return tuple(Fault(k.strip()) for k in text.split(",") if k.strip())
    except ValueError:
        names = ", ".join(f.value for f in Fault)
        raise click.BadParameter(f"{text!r}: use some of {names}",
                                 param_hint="--fault-kinds") from None


async def _demo(
    settings: Settings, count: int, meter_interval: float, duration: float | None,
    session_seconds: tuple[float, float] = (60.0, 240.0), *,
    fault_kinds: tuple[Fault, ...] = (), fault_every: float = 60.0, fault_hold: float = 120.0,
) -> None:
    from evcsms.bootstrap import build_services, close_services, serve
    from evcsms.simulator.connector import SessionPattern
    from evcsms.simulator.fleet import RandomFaults, build_fleet, run_stations
    from evcsms.simulator.stats import FleetStats

    if "EVCSMS_LOG_LEVEL" not in os.environ:  # keep the fleet's progress display readable
        settings = settings.model_copy(update={"log_level": "warning"})

    password = secrets.new_station_password()
    services = await build_services(settings, background=False)
    try:
        ids16, ids201 = await _register(services, count, password)
        token = settings.admin_token or await services.users.create(
            f"demo-operator-{secrets.new_token()[:6]}", _operator()
        )
        logins = await _web_logins(services)
    finally:
        await close_services(services)
    _banner(settings, token, ids16 + ids201, logins)
    faults = None
    if fault_kinds:
        faults = RandomFaults(every=fault_every, hold=fault_hold, kinds=fault_kinds,
                              report=_report)
        _fault_banner(settings, token, faults)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop), name="server")
    await _wait_for_port(settings.host, settings.port, server)
    url = f"ws://{settings.host}:{settings.port}/ocpp"
    idle = (min(2.0, session_seconds[0]), min(20.0, session_seconds[1]))
    pattern = SessionPattern(session_seconds=session_seconds, idle_seconds=idle)
    stats = FleetStats()
    common: dict[str, Any] = {"stats": stats, "password": password,
                              "meter_interval": meter_interval, "id_tags": DEMO_TAGS,
                              "pattern": pattern}
    fleet = [*build_fleet(url, len(ids16), "1.6", id_prefix="DEMO16-", **common),
             *build_fleet(url, len(ids201), "2.0.1", id_prefix="DEMO201-", seed=2, **common)]
    try:
        await run_stations(fleet, duration=duration, stats=stats, progress=True, faults=faults)
    finally:
        stop.set()
        await asyncio.gather(server, return_exceptions=True)


def _report(line: str) -> None:
    print(line, flush=True)  # above the fleet's live table (Rich redirects stdout)


def _fault_banner(settings: Settings, token: str, faults: RandomFaults) -> None:
    base = f"http://{settings.host}:{settings.port}/api/v1"
    click.echo(f"  Faults: every {faults.every:g} s one random fault on a demo station, cleared "
               f"after {faults.hold:g} s or more (--no-faults to turn off)")
    click.echo(f"  Incidents:           {base}/incidents?status=active")
    click.echo(f"  Fleet health:        {base}/fleet/health")
    click.echo(f"  Try: curl -H 'Authorization: Bearer {token}' '{base}/incidents?status=active'")
    click.echo("")


async def _register(services: Services, count: int, password: str) -> tuple[list[str], list[str]]:
    half = max(1, count // 2)
    ids16 = [f"DEMO16-{i:04d}" for i in range(1, half + 1)]
    ids201 = [f"DEMO201-{i:04d}" for i in range(1, max(1, count - half) + 1)]
    for station_id in ids16 + ids201:
        try:
            await services.stations.create(station_id, password=password, description="demo",
                                           password_generated=True)
        except ConflictError:
            await services.stations.update(station_id, password=password)
    for tag in DEMO_TAGS:
        with contextlib.suppress(ConflictError):
            await services.tokens.create(tag, description="demo card")
    # billing: every demo session is priced, ends with a CDR and has a receipt
    await services.tariffs.put_site(DEMO_SITE, name="Demo car park", time_zone="Europe/Amsterdam")
    for station_id in ids16 + ids201:
        await services.tariffs.place_station(station_id, DEMO_SITE)
        # a rating, so injected over-current is found (the simulator draws at most ~33 A)
        await services.thresholds.set("station", station_id, {"rated_current_a": DEMO_RATING_A},
                                      by="demo")
    await services.tariffs.put(DEMO_TARIFF)
    await services.tariffs.assign("default", "", DEMO_TARIFF["id"])
    # load management: the car park's grid connection is smaller than all its points at once
    await services.load.put(DEMO_SITE, demo_tree(ids16 + ids201), by="demo")
    return ids16, ids201


def demo_tree(stations: list[str], connectors: int = 2) -> dict[str, Any]:
    """The demo car park's electrical tree: a grid connection of 16 A per charging point
    (so it is shared as soon as more than half of them charge at full power) and two rows
    of stations behind 40 A fuses, each point a three-phase 32 A AC EVSE."""
    points = len(stations) * connectors
    half = (len(stations) + 1) // 2
    rows = [("row-a", stations[:half]), ("row-b", stations[half:])]
    return {
        "circuits": [{"id": "grid", "max_current_a": [16 * points] * 3},
                     *({"id": row, "parent": "grid", "max_current_a": [40, 40, 40]}
                       for row, members in rows if members)],
        "evses": [{"id": f"{station}/{n}", "circuit": row, "max_current_a": 32}
                  for row, members in rows for station in members
                  for n in range(1, connectors + 1)],
    }


DEMO_OPERATOR = "demo"
DEMO_DRIVER = "demo-driver"


async def _web_logins(services: Services) -> dict[str, str]:
    """Dashboard logins for the demo: operator `demo` and driver `demo-driver` (who owns the
    first two demo cards), each with a new random password on every start (printed)."""
    from evcsms.services.users import UserRole

    with contextlib.suppress(ConflictError):
        await services.users.create(DEMO_OPERATOR, UserRole.OPERATOR)
    with contextlib.suppress(ConflictError):
        await services.drivers.create(DEMO_DRIVER, DEMO_TAGS[:2])
    logins = {}
    for name in (DEMO_OPERATOR, DEMO_DRIVER):
        password = pysecrets.token_urlsafe(12)
        await services.users.set_password(name, password)
        logins[name] = password
    return logins


def _operator() -> Any:
    from evcsms.services.users import UserRole

    return UserRole.OPERATOR


def _banner(settings: Settings, token: str, ids: list[str],
            logins: dict[str, str] | None = None) -> None:
    base = f"http://{settings.host}:{settings.port}"
    click.echo("")
    click.echo("evcsms demo is starting")
    click.echo(f"  Dashboard:           {base}/ui/")
    for name, password in (logins or {}).items():
        role = "driver" if name == DEMO_DRIVER else "operator"
        click.echo(f"    {role:<8} login:    {name} / {password}")
    click.echo(f"  API docs (OpenAPI):  {base}/docs")
    click.echo(f"  Stations:            {base}/api/v1/stations")
    click.echo(f"  Sessions:            {base}/api/v1/sessions")
    click.echo(f"  CDRs (finished):     {base}/api/v1/cdrs")
    click.echo(f"  Load management:     {base}/api/v1/sites/{DEMO_SITE}/allocation")
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

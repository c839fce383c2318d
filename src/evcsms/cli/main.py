"""`evcsms` command line. Settings come from EVCSMS_* variables; flags override them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from evcsms.bootstrap import build_services, close_services
from evcsms.services.container import Services
from evcsms.services.errors import ServiceError
from evcsms.settings import Settings, SettingsError, load_settings

T = TypeVar("T")

database_option = click.option(
    "--database-url", envvar="EVCSMS_DATABASE_URL", default=None,
    help="sqlite+aiosqlite:///path.db (default ./evcsms.db) or postgresql+asyncpg://...",
)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run `work` against the configured database (migrating the embedded SQLite)."""

    async def main() -> T:
        services = await build_services(settings, background=False)
        try:
            return await work(services)
        finally:
            await close_services(services)

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group()
@click.version_option(package_name="evcsms")
def cli() -> None:
    """evcsms - EV charging station management system (OCPP 1.6J and 2.0.1)."""


@cli.command()
@click.option("--host", envvar="EVCSMS_HOST", default=None, help="Listen address [127.0.0.1]")
@click.option("--port", envvar="EVCSMS_PORT", default=None, help="Listen port [8180]")
@database_option
@click.option("--unknown-stations", envvar="EVCSMS_UNKNOWN_STATIONS", default=None,
              help="What to do with unknown station ids: reject, pending or accept [reject]")
@click.option("--heartbeat-interval", envvar="EVCSMS_HEARTBEAT_INTERVAL", default=None,
              help="Heartbeat interval given to stations at boot, seconds [300]")
@click.option("--tls-cert", envvar="EVCSMS_TLS_CERT", default=None, help="PEM certificate (wss://)")
@click.option("--tls-key", envvar="EVCSMS_TLS_KEY", default=None, help="PEM private key (wss://)")
@click.option("--role", envvar="EVCSMS_ROLE", default=None,
              help="What this node runs: all, gateway (OCPP), api (REST), worker (cluster "
                   "singletons) [all]; every role but all needs --bus-url")
@click.option("--bus-url", envvar="EVCSMS_BUS_URL", default=None,
              help="NATS server the nodes of a cluster share (nats://HOST:4222) [none: one node]")
@click.option("--log-level", envvar="EVCSMS_LOG_LEVEL", default=None, help="Log level [info]")
def serve(**flags: Any) -> None:
    """Run a node: OCPP at ws://HOST:PORT/ocpp/{station_id}, REST API at /api/v1, docs at /docs.

    Values are checked by the settings model, so an error names both the variable and the flag.
    """
    from evcsms.bootstrap import run

    settings = settings_or_exit(**flags)
    scheme = "wss" if settings.tls else "ws"
    http = "https" if settings.tls else "http"
    if settings.role.gateway:
        click.echo(f"evcsms: OCPP {scheme}://{settings.host}:{settings.port}/ocpp/{{station_id}}")
    if settings.role.api:
        click.echo(f"evcsms: API  {http}://{settings.host}:{settings.port}/docs")
        click.echo(f"evcsms: dashboard {http}://{settings.host}:{settings.port}/ui/ "
                   "(evcsms users set-password NAME first)")
    if not settings.role.api:
        click.echo(f"evcsms: {settings.role.value} node, health at "
                   f"{http}://{settings.host}:{settings.port}/health")
    try:
        run(settings)
    except KeyboardInterrupt:  # uvicorn re-raises SIGINT after its graceful shutdown
        click.echo("evcsms stopped")


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@database_option
def db_upgrade(database_url: str | None) -> None:
    """Apply pending migrations."""
    from evcsms.storage.database import run_upgrade_blocking

    settings = settings_or_exit(database_url=database_url)
    run_upgrade_blocking(settings.database_url, settings.database_schema)
    click.echo("database is up to date")


from evcsms.cli import records  # noqa: E402  (registers stations/tokens/users groups)

records.register(cli)

try:
    from evcsms.simulator.cli import simulate

    cli.add_command(simulate)
except ImportError:  # pragma: no cover - the simulator ships with the package
    pass

from evcsms.cli.demo import demo  # noqa: E402

cli.add_command(demo)

from evcsms.cli.price import price  # noqa: E402

cli.add_command(price)

from evcsms.cli import tariffs as tariff_commands  # noqa: E402

tariff_commands.register(cli)

from evcsms.cli import diagnostics as diagnostics_commands  # noqa: E402

diagnostics_commands.register(cli)


_users_group = cli.commands["users"]
assert isinstance(_users_group, click.Group)


@_users_group.command("set-password")
@click.argument("name")
@database_option
def users_set_password(name: str, database_url: str | None) -> None:
    """Set the password NAME logs in to the web dashboard (/ui) with.

    Prompts twice, or reads EVCSMS_NEW_PASSWORD (for scripts). At least 12 characters."""
    import os

    password = os.environ.get("EVCSMS_NEW_PASSWORD") or click.prompt(
        "New password", hide_input=True, confirmation_prompt=True)
    settings = settings_or_exit(database_url=database_url)

    async def work(svc: Services) -> None:
        await svc.users.set_password(name, password)

    with_services(settings, work)
    click.echo(f"password of {name} set; log in at /ui/login")

"""`evcsms stations|tokens|users ...`: manage records in the configured database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from evcsms.services import secrets
from evcsms.services.container import Services
from evcsms.services.users import UserRole

console = Console()


def _main() -> Any:
    from evcsms.cli import main

    return main


def register(cli: click.Group) -> None:
    cli.add_command(stations)
    cli.add_command(tokens)
    cli.add_command(users)


@click.group()
def stations() -> None:
    """Charging stations."""


@stations.command("add")
@click.argument("station_id")
@click.option("--password", default=None, help="Basic-auth password (generated when omitted)")
@click.option("--no-password", is_flag=True, help="Allow this station without credentials")
@click.option("--description", default=None)
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def stations_add(
    station_id: str, password: str | None, no_password: bool, description: str | None,
    database_url: str | None,
) -> None:
    """Register a station. Prints its password once; it is stored hashed."""
    main = _main()
    generated = not no_password and password is None
    if generated:
        password = secrets.new_station_password()
    if no_password:
        password = None

    async def work(svc: Services) -> None:
        await svc.stations.create(station_id, password=password, description=description,
                                  password_generated=generated)

    main.with_services(main.settings_or_exit(database_url=database_url), work)
    click.echo(f"station {station_id} registered")
    if password:
        click.echo(f"password: {password}  (shown once; the station sends it as HTTP Basic auth)")


@stations.command("list")
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def stations_list(database_url: str | None) -> None:
    """List stations with their live state."""
    main = _main()

    async def work(svc: Services) -> list[Any]:
        rows, _ = await svc.stations.list(limit=10_000, offset=0)
        return rows

    rows = main.with_services(main.settings_or_exit(database_url=database_url), work)
    table = Table("id", "registration", "online", "ocpp", "vendor/model", "firmware", "last seen")
    for row in rows:
        table.add_row(
            row.id, row.registration, "yes" if row.connected else "no", row.ocpp_version or "-",
            f"{row.vendor or '-'}/{row.model or '-'}", row.firmware_version or "-",
            _when(row.last_seen_at),
        )
    console.print(table)


@click.group()
def tokens() -> None:
    """Id tokens (RFID cards, app tokens)."""


@tokens.command("add")
@click.argument("token")
@click.option("--type", "type_", default="ISO14443", show_default=True)
@click.option("--status", default="Accepted", show_default=True,
              type=click.Choice(["Accepted", "Blocked", "Expired", "Invalid"]))
@click.option("--expires", default=None, help="ISO 8601 expiry, e.g. 2027-01-01T00:00:00Z")
@click.option("--group", default=None, help="Parent/group id token")
@click.option("--max-sessions", default=None, type=int, help="Limit on concurrent sessions")
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def tokens_add(
    token: str, type_: str, status: str, expires: str | None, group: str | None,
    max_sessions: int | None, database_url: str | None,
) -> None:
    """Register an id token (accepted unless --status says otherwise)."""
    main = _main()
    expires_at = _parse_when(expires) if expires else None

    async def work(svc: Services) -> None:
        await svc.tokens.create(
            token, type=type_, status=status, expires_at=expires_at, group_id=group,
            max_concurrent_sessions=max_sessions,
        )

    main.with_services(main.settings_or_exit(database_url=database_url), work)
    click.echo(f"id token {token} registered ({status})")


@tokens.command("list")
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def tokens_list(database_url: str | None) -> None:
    """List id tokens."""
    main = _main()

    async def work(svc: Services) -> list[Any]:
        rows, _ = await svc.tokens.list(limit=10_000, offset=0)
        return rows

    rows = main.with_services(main.settings_or_exit(database_url=database_url), work)
    table = Table("token", "type", "status", "expires", "group", "max sessions")
    for row in rows:
        table.add_row(
            row.token, row.type, row.status, _when(row.expires_at), row.group_id or "-",
            str(row.max_concurrent_sessions or "-"),
        )
    console.print(table)


@click.group()
def users() -> None:
    """Operators and their API tokens."""


@users.command("create-operator")
@click.argument("name")
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def users_create_operator(name: str, database_url: str | None) -> None:
    """Create an operator and print its API token (shown once, stored hashed)."""
    main = _main()

    async def work(svc: Services) -> str:
        return await svc.users.create(name, UserRole.OPERATOR)

    token = main.with_services(main.settings_or_exit(database_url=database_url), work)
    click.echo(f"operator {name} created")
    click.echo(f"API token: {token}")
    click.echo("use it as: Authorization: Bearer <token>")


@users.command("create-driver")
@click.argument("name")
@click.option("--token", "tokens", multiple=True, metavar="ID_TOKEN",
              help="An id token (already added) the driver owns; repeat for more")
@click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
def users_create_driver(name: str, tokens: tuple[str, ...], database_url: str | None) -> None:
    """Create a driver who owns the given id tokens, and print their API token (once).

    The driver sees only the sessions of their tokens, in the API under /api/v1/me and,
    after `evcsms users set-password NAME`, in the drivers' portal at /ui/me/."""
    main = _main()

    async def work(svc: Services) -> str:
        return await svc.drivers.create(name, list(tokens))

    token = main.with_services(main.settings_or_exit(database_url=database_url), work)
    click.echo(f"driver {name} created, owning {', '.join(tokens) or 'no id token yet'}")
    click.echo(f"API token: {token}")
    click.echo(f"portal login: evcsms users set-password {name}, then /ui/login")


def _parse_when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date-time: {text!r}") from None
    if value.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2027-01-01T00:00:00Z")
    return value


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"

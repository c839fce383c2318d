"""`evcsms tariffs ...` and `evcsms sites ...`: billing records in the configured database."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from evcsms.domain import jsontext
from evcsms.services.container import Services

console = Console()
database_option = click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)


def _main() -> Any:
    from evcsms.cli import main

    return main


def _run(database_url: str | None, work: Any) -> Any:
    main = _main()
    return main.with_services(main.settings_or_exit(database_url=database_url), work)


def _target(value: str) -> tuple[str, str]:
    """`default`, `station:ID`, `site:ID` or `group:ID` as (scope, scope_id)."""
    scope, _, scope_id = value.partition(":")
    return scope, scope_id


@click.group()
def tariffs() -> None:
    """OCPI 2.2.1 tariffs: import, export, list, assign."""


@tariffs.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--assign", "assign", multiple=True, metavar="TARGET",
              help="Also apply it: default, station:ID, site:ID or group:ID (repeatable)")
@database_option
def tariffs_import(file: str, assign: tuple[str, ...], database_url: str | None) -> None:
    """Store an OCPI tariff from FILE (- for standard input); a changed tariff gets a new
    version, finished sessions keep theirs."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        data = json.loads(text, parse_float=Decimal)
    except OSError as exc:
        click.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(2)
    except json.JSONDecodeError as exc:
        click.echo(f"error: {file} is not JSON ({exc.msg} at line {exc.lineno})", err=True)
        sys.exit(2)

    async def work(svc: Services) -> Any:
        stored, added = await svc.tariffs.put(data)
        for target in assign:
            await svc.tariffs.assign(*_target(target), stored.tariff_id)
        return stored, added

    stored, added = _run(database_url, work)
    state = "stored as version" if added else "unchanged, still version"
    click.echo(f"tariff {stored.tariff_id} {state} {stored.version}")
    for target in assign:
        click.echo(f"applies to {target}")


@tariffs.command("export")
@click.argument("tariff_id")
@click.option("--version", type=int, default=None, help="A past version (default: the latest)")
@database_option
def tariffs_export(tariff_id: str, version: int | None, database_url: str | None) -> None:
    """Print a tariff as OCPI 2.2.1 JSON."""

    async def work(svc: Services) -> Any:
        return (await svc.tariffs.get(tariff_id, version)).ocpi()

    click.echo(jsontext.dumps(_run(database_url, work)))


@tariffs.command("list")
@database_option
def tariffs_list(database_url: str | None) -> None:
    """List tariffs (latest versions) and where they apply."""

    async def work(svc: Services) -> Any:
        rows, _ = await svc.tariffs.list(limit=10_000, offset=0)
        return rows, await svc.tariffs.assignments()

    rows, assignments = _run(database_url, work)
    where: dict[str, list[str]] = {}
    for a in assignments:
        where.setdefault(a.tariff_id, []).append(a.scope + (f":{a.scope_id}" if a.scope_id else ""))
    table = Table("id", "version", "currency", "elements", "applies to")
    for row in rows:
        table.add_row(row.tariff_id, str(row.version), row.tariff.currency,
                      str(len(row.tariff.elements)), ", ".join(where.get(row.tariff_id, [])) or "-")
    console.print(table)


@tariffs.command("assign")
@click.argument("tariff_id")
@click.argument("target")
@database_option
def tariffs_assign(tariff_id: str, target: str, database_url: str | None) -> None:
    """Apply TARIFF_ID to TARGET: default, station:ID, site:ID or group:ID."""

    async def work(svc: Services) -> None:
        await svc.tariffs.assign(*_target(target), tariff_id)

    _run(database_url, work)
    click.echo(f"tariff {tariff_id} applies to {target}")


@click.group()
def sites() -> None:
    """Sites: where stations are, and the time zone their tariffs are read in."""


@sites.command("add")
@click.argument("site_id")
@click.option("--name", default=None)
@click.option("--time-zone", default=None, help="IANA zone, e.g. Europe/Amsterdam [UTC]")
@click.option("--station", "station_ids", multiple=True, help="Put this station on it (repeatable)")
@database_option
def sites_add(site_id: str, name: str | None, time_zone: str | None,
              station_ids: tuple[str, ...], database_url: str | None) -> None:
    """Create or change a site."""

    async def work(svc: Services) -> Any:
        row = await svc.tariffs.put_site(site_id, name=name, time_zone=time_zone)
        for station_id in station_ids:
            await svc.tariffs.place_station(station_id, site_id)
        return row

    row = _run(database_url, work)
    click.echo(f"site {row.id} ({row.time_zone})" + (f": {', '.join(station_ids)}" if station_ids else ""))


def register(cli: click.Group) -> None:
    cli.add_command(tariffs)
    cli.add_command(sites)

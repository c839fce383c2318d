"""`evcsms incidents|uptime|thresholds ...`: the morning questions, from a terminal.

Which chargers are not delivering and why (`incidents list`), what to do (`incidents show`),
closing the loop (`acknowledge`, `comment`, `resolve`), the NEVI uptime figure (`uptime`,
also as CSV), and the fault-rule thresholds per scope (`thresholds`).
"""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from evcsms.cli.records import _parse_when, _when
from evcsms.domain import thresholds as th
from evcsms.domain.faults import DEFAULTS
from evcsms.domain.tariffs import iso_utc
from evcsms.services.container import Services

database = click.option("--database-url", envvar="EVCSMS_DATABASE_URL", default=None)
CLI_USER = "cli"


def _console() -> Console:
    return Console()  # per command: sized by the terminal (or COLUMNS) it runs in


def _run(database_url: str | None, work: Any) -> Any:
    from evcsms.cli import main

    return main.with_services(main.settings_or_exit(database_url=database_url), work)


def register(cli: click.Group) -> None:
    cli.add_command(incidents)
    cli.add_command(uptime)
    cli.add_command(thresholds)


# -- incidents ------------------------------------------------------------------------------

@click.group()
def incidents() -> None:
    """Detected faults: list, show, acknowledge, comment, resolve."""


@incidents.command("list")
@click.option("--all", "everything", is_flag=True, help="Resolved ones too (default: active)")
@click.option("--kind", default=None, help="e.g. connector_fault, offline, over_current")
@click.option("--station", default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@database
def incidents_list(everything: bool, kind: str | None, station: str | None, limit: int,
                   database_url: str | None) -> None:
    """Incidents, newest first."""

    async def work(svc: Services) -> tuple[list[Any], int]:
        return await svc.incidents.list(status=None if everything else "active", kind=kind,
                                        station_id=station, limit=limit, offset=0)

    rows, total = _run(database_url, work)
    table = Table("id", "status", "severity", "kind", "station", "opened", "message")
    for row in rows:
        table.add_row(str(row.id), row.status, row.severity, row.kind, row.station_id,
                      _when(row.opened_at), row.message)
    _console().print(table)
    _console().print(f"{len(rows)} of {total}")


@incidents.command("show")
@click.argument("incident_id", type=click.IntRange(1))
@database
def incidents_show(incident_id: int, database_url: str | None) -> None:
    """One incident: what, what to do, the evidence and its timeline."""

    async def work(svc: Services) -> tuple[Any, list[Any]]:
        return await svc.incidents.get(incident_id)

    row, notes = _run(database_url, work)
    _console().print(f"[bold]#{row.id} {row.kind}[/bold] ({row.severity}, {row.status}) on "
                  f"{row.station_id}")
    _console().print(row.message)
    _console().print(f"what to do: {row.action}")
    for key, value in sorted((row.evidence or {}).items()):
        _console().print(f"  {key}: {value}")
    for note in notes:
        _console().print(f"{_when(note.at)}  {note.what:<13} {note.author}: {note.text}")


def _change(what: str) -> Any:
    @click.argument("incident_id", type=click.IntRange(1))
    @click.option("--by", default=CLI_USER, show_default=True, help="Who does it")
    @database
    def command(incident_id: int, by: str, database_url: str | None, text: str = "") -> None:
        async def work(svc: Services) -> Any:
            if what == "acknowledge":
                return await svc.incidents.acknowledge(incident_id, by)
            if what == "resolve":
                return await svc.incidents.resolve(incident_id, by, text)
            return await svc.incidents.comment(incident_id, by, text)

        _run(database_url, work)
        click.echo(f"incident {incident_id}: {what} recorded")

    return command


incidents.command("acknowledge", help="Say someone is on it.")(_change("acknowledge"))
incidents.command("resolve", help="Close it, with what was done.")(
    click.option("--text", default="", help="What was done")(_change("resolve")))
incidents.command("comment", help="Add a note to its timeline.")(
    click.option("--text", required=True)(_change("comment")))


# -- uptime ---------------------------------------------------------------------------------

@click.command()
@click.option("--from", "start", default=None,
              help="ISO 8601, inclusive [30 days before --to]")
@click.option("--to", "end", default=None, help="ISO 8601, exclusive [now]")
@click.option("--station", default=None)
@click.option("--site", default=None)
@click.option("--csv", "as_csv", is_flag=True, help="One row per port, as CSV on stdout")
@database
def uptime(start: str | None, end: str | None, station: str | None, site: str | None,
           as_csv: bool, database_url: str | None) -> None:
    """NEVI uptime (23 CFR 680.116(b)) per charging port, and the total."""
    to = _parse_when(end) if end else datetime.now(UTC).replace(microsecond=0)
    since = _parse_when(start) if start else to - timedelta(days=30)

    async def work(svc: Services) -> Any:
        ports = await svc.uptime.ports(since, to, station_id=station, site_id=site)
        return ports, svc.uptime.total(ports)

    ports, total = _run(database_url, work)
    if as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(("station_id", "evse_id", "connector_id", "site_id", "from", "to",
                      "period_minutes", "outage_minutes", "excluded_minutes", "uptime_percent"))
        for p in ports:
            f = p.uptime.figures()
            out.writerow((p.station_id, p.evse_id, p.connector_id, p.site_id or "",
                          iso_utc(since), iso_utc(to), f["period_minutes"], f["outage_minutes"],
                          f["excluded_minutes"], f["percent"]))
        return
    table = Table("station", "evse", "connector", "site", "uptime %", "outage min",
                  "excluded min", title=f"{iso_utc(since)} to {iso_utc(to)}")
    for p in ports:
        f = p.uptime.figures()
        table.add_row(p.station_id, str(p.evse_id), str(p.connector_id), p.site_id or "-",
                      str(f["percent"]), str(f["outage_minutes"]), str(f["excluded_minutes"]))
    _console().print(table)
    f = total.figures()
    _console().print(f"total: {f['percent']} % over {len(ports)} ports "
                  f"({f['outage_minutes']} outage minutes, {f['excluded_minutes']} excluded)")


# -- thresholds -----------------------------------------------------------------------------

@click.group()
def thresholds() -> None:
    """Fault-rule thresholds per scope: default < site < model < station."""


@thresholds.command("show")
@click.argument("station_id", required=False)
@database
def thresholds_show(station_id: str | None, database_url: str | None) -> None:
    """What every scope sets; with STATION_ID, what applies to it and from where."""

    async def work(svc: Services) -> Any:
        if station_id:
            return await svc.thresholds.effective(station_id)
        return await svc.thresholds.list()

    result = _run(database_url, work)
    if station_id:
        values, sources = result
        table = Table("threshold", "value", "unit", "from", title=station_id)
        for name, value in th.as_text(values).items():
            table.add_row(name, value or "-", th.FIELDS[name].unit, sources[name])
        _console().print(table)
        return
    builtin = th.as_text(DEFAULTS)
    table = Table("threshold", "unit", "built-in", *(f"{r.scope} {r.scope_id}".strip()
                                                      for r in result))
    for name in th.FIELDS:
        table.add_row(name, th.FIELDS[name].unit, builtin[name] or "-",
                      *(str(r.values.get(name, "")) for r in result))
    _console().print(table)


def _scope_args(scope: str, scope_id: str | None) -> tuple[str, str]:
    if scope == "default" and scope_id:
        raise click.BadParameter("the default scope has no id")
    if scope != "default" and not scope_id:
        raise click.BadParameter(f"give the {scope} id")
    return scope, scope_id or ""


@thresholds.command("set")
@click.argument("scope", type=click.Choice(th.SCOPES))
@click.argument("scope_id", required=False)
@click.option("--value", "-v", "pairs", multiple=True, metavar="NAME=VALUE", required=True,
              help="e.g. -v rated_current_a=32 -v voltage_tolerance=0.15 (windows in seconds)")
@click.option("--by", default=CLI_USER, show_default=True)
@database
def thresholds_set(scope: str, scope_id: str | None, pairs: tuple[str, ...], by: str,
                   database_url: str | None) -> None:
    """Replace what SCOPE (default, or site/model/station SCOPE_ID) sets."""
    scope, ref = _scope_args(scope, scope_id)
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}")
        values[name.strip()] = None if value.strip().lower() in ("", "none", "null") else value

    async def work(svc: Services) -> Any:
        return await svc.thresholds.set(scope, ref, values, by=by)

    row = _run(database_url, work)
    click.echo(f"{scope} {ref}".strip() + ": " +
               ", ".join(f"{k}={v}" for k, v in sorted(row.values.items())))


@thresholds.command("clear")
@click.argument("scope", type=click.Choice(th.SCOPES))
@click.argument("scope_id", required=False)
@database
def thresholds_clear(scope: str, scope_id: str | None, database_url: str | None) -> None:
    """Forget what SCOPE sets (wider scopes apply again)."""
    scope, ref = _scope_args(scope, scope_id)

    async def work(svc: Services) -> None:
        await svc.thresholds.delete(scope, ref)

    _run(database_url, work)
    click.echo(f"{scope} {ref}".strip() + ": cleared")

"""`evcsms incidents|uptime|thresholds` against a real SQLite file."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from evcsms.bootstrap import build_services, close_services
from evcsms.cli.main import cli
from evcsms.domain.faults import error_code
from evcsms.services.stations import ConnectorStatus
from evcsms.settings import load_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("EVCSMS_DATABASE_URL", "EVCSMS_ADMIN_TOKEN", "EVCSMS_PORT", "EVCSMS_ROLE"):
        monkeypatch.delenv(name, raising=False)
    return {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db", "COLUMNS": "200"}


def _with_services(env: dict[str, str], work):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        services = await build_services(load_settings(database_url=env["EVCSMS_DATABASE_URL"]),
                                        background=False)
        try:
            return await work(services)
        finally:
            await close_services(services)

    return asyncio.run(run())


def invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_operator_works_an_incident_from_the_terminal(env: dict[str, str]) -> None:
    async def seed(svc):  # type: ignore[no-untyped-def]
        await svc.stations.create("CP1", password=None)
        return await svc.incidents.report("CP1", error_code("CP1/1/1", "Faulted", "GroundFailure"))

    incident_id = str(_with_services(env, seed))
    listing = invoke(env, "incidents", "list")
    assert "connector_fault" in listing and "CP1" in listing and "1 of 1" in listing
    shown = invoke(env, "incidents", "show", incident_id)
    assert "earth fault" in shown and "send a technician" in shown
    invoke(env, "incidents", "acknowledge", incident_id, "--by", "alice")
    invoke(env, "incidents", "comment", incident_id, "--text", "RCD reset on site")
    invoke(env, "incidents", "resolve", incident_id, "--text", "fixed")
    assert "0 of 0" in invoke(env, "incidents", "list")
    assert "resolved" in invoke(env, "incidents", "list", "--all")
    timeline = invoke(env, "incidents", "show", incident_id)
    assert "alice" in timeline and "RCD reset on site" in timeline
    missing = CliRunner().invoke(cli, ["incidents", "resolve", "999"], env=env)
    assert missing.exit_code == 1 and "not found" in missing.output


def test_uptime_report_and_csv(env: dict[str, str]) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0)

    async def seed(svc):  # type: ignore[no-untyped-def]
        await svc.stations.create("CP1", password=None)
        await svc.stations.set_connected("CP1", True, "node-a")  # connected from now on
        await svc.stations.connector_status("CP1", ConnectorStatus(1, 1, "Available"), start)
        await svc.stations.connector_status("CP1", ConnectorStatus(1, 1, "Faulted"),
                                            start + timedelta(hours=6))
        await svc.stations.connector_status("CP1", ConnectorStatus(1, 1, "Available"),
                                            start + timedelta(hours=12))

    _with_services(env, seed)
    window = ["--from", start.isoformat(), "--to", (start + timedelta(days=1)).isoformat()]
    text = invoke(env, "uptime", *window)
    assert "75.0000" in text and "total: 75.0000 % over 1 ports" in text
    rows = list(csv.DictReader(io.StringIO(invoke(env, "uptime", *window, "--csv"))))
    assert [(r["station_id"], r["uptime_percent"], r["outage_minutes"]) for r in rows] == [
        ("CP1", "75.0000", "360")]
    bad = CliRunner().invoke(cli, ["uptime", "--from", "yesterday"], env=env)
    assert bad.exit_code == 2 and "not an ISO 8601 date-time" in bad.output


def test_thresholds_set_show_and_clear(env: dict[str, str]) -> None:
    _with_services(env, lambda svc: svc.stations.create("CP1", password=None))
    assert "rated_current_a=32" in invoke(env, "thresholds", "set", "station", "CP1",
                                          "-v", "rated_current_a=32")
    invoke(env, "thresholds", "set", "default", "-v", "max_temperature=65")
    applied = invoke(env, "thresholds", "show", "CP1")
    assert "rated_current_a" in applied and "32" in applied and "station" in applied
    assert "65" in applied and "default" in applied
    refused = CliRunner().invoke(cli, ["thresholds", "set", "default", "-v", "max_temperature=900"],
                                 env=env)
    assert refused.exit_code == 1 and "max_temperature: must be from -40 to 200" in refused.output
    no_id = CliRunner().invoke(cli, ["thresholds", "set", "site", "-v", "reboots=5"], env=env)
    assert no_id.exit_code == 2 and "give the site id" in no_id.output
    invoke(env, "thresholds", "clear", "station", "CP1")
    assert "builtin" in invoke(env, "thresholds", "show", "CP1")
    assert "station CP1" not in invoke(env, "thresholds", "show")

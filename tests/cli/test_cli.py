"""The command line against a real SQLite file, as an operator's script would use it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from evcsms.bootstrap import build_services, close_services
from evcsms.cli.main import cli
from evcsms.services import secrets
from evcsms.settings import load_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("EVCSMS_DATABASE_URL", "EVCSMS_ADMIN_TOKEN", "EVCSMS_PORT", "EVCSMS_ROLE"):
        monkeypatch.delenv(name, raising=False)
    return {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}


def stored(env: dict[str, str], what: str) -> object:
    async def read() -> object:
        services = await build_services(load_settings(database_url=env["EVCSMS_DATABASE_URL"]))
        try:
            if what == "token":
                return await services.tokens.get("RFID123")
            return await services.stations.get("CP9")
        finally:
            await close_services(services)

    return asyncio.run(read())


def test_tokens_add_registers_an_accepted_token(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["tokens", "add", "RFID123"], env=env)
    assert result.exit_code == 0, result.output
    token = stored(env, "token")
    assert token.status == "Accepted"  # type: ignore[attr-defined]
    again = CliRunner().invoke(cli, ["tokens", "add", "RFID123"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    listing = CliRunner().invoke(cli, ["tokens", "list"], env=env)
    assert "RFID123" in listing.output


def test_stations_add_prints_a_password_once_and_stores_a_hash(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["stations", "add", "CP9"], env=env)
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    assert 16 <= len(password) <= 40
    row, _ = stored(env, "station")  # type: ignore[misc]
    # generated (144 random bits): a salted SHA-256, verified in microseconds on any node
    assert row.password_hash.startswith("sha256_generated$") and password not in row.password_hash
    assert secrets.verify_password(password, row.password_hash)
    assert "CP9" in CliRunner().invoke(cli, ["stations", "list"], env=env).output


def test_create_operator_prints_a_working_token(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["users", "create-operator", "alice"], env=env)
    assert result.exit_code == 0, result.output
    token = result.output.split("API token: ")[1].split()[0]

    async def check() -> object:
        services = await build_services(load_settings(database_url=env["EVCSMS_DATABASE_URL"]))
        try:
            return await services.users.authenticate(token)
        finally:
            await close_services(services)

    principal = asyncio.run(check())
    assert principal is not None and principal.name == "alice"  # type: ignore[attr-defined]


def test_admin_token_from_the_environment_works_at_first_start(env: dict[str, str]) -> None:
    async def start_twice() -> object:
        settings = load_settings(database_url=env["EVCSMS_DATABASE_URL"],
                                 admin_token="first-admin-token-0123456789")
        for _ in range(2):  # a second start must not fail or duplicate the operator
            services = await build_services(settings)
            principal = await services.users.authenticate("first-admin-token-0123456789")
            await close_services(services)
        return principal

    principal = asyncio.run(start_twice())
    assert principal is not None and principal.role == "operator"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("extra", "named"), [
    ({"EVCSMS_PORT": "99999"}, "EVCSMS_PORT (--port)"),
    ({"EVCSMS_UNKNOWN_STATIONS": "sometimes"}, "EVCSMS_UNKNOWN_STATIONS"),
    ({"EVCSMS_DATABASE_URL": "mysql://x"}, "EVCSMS_DATABASE_URL"),
    ({"EVCSMS_ADMIN_TOKEN": "short"}, "EVCSMS_ADMIN_TOKEN"),
    ({"EVCSMS_HEARTBEAT_INTERVAL": "soon"}, "EVCSMS_HEARTBEAT_INTERVAL"),
    ({"EVCSMS_ROLE": "gateway"}, "EVCSMS_ROLE"),
])
def test_a_wrong_setting_fails_at_start_naming_it(
    env: dict[str, str], extra: dict[str, str], named: str
) -> None:
    result = CliRunner().invoke(cli, ["serve"], env=env | extra)
    assert result.exit_code == 2
    assert named in result.output


def test_db_upgrade_creates_the_schema(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(tmp_path / "cli.db").execute(
        "select name from sqlite_master where type='table'")}
    assert {"stations", "sessions", "meter_readings", "commands", "message_log"} <= tables

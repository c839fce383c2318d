"""Shared fixtures: services on SQLite (a fresh file per test) and on the machine's PostgreSQL.

PostgreSQL tests use one schema per test worker, migrated once and truncated
before each test. Without PostgreSQL they are skipped with one loud summary
line, except under CI=true, where a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from evcsms.bootstrap import build_services, close_services
from evcsms.domain.clock import FrozenClock
from evcsms.services.container import Services
from evcsms.settings import Settings
from evcsms.storage.database import create_engine, upgrade

PG_URL = os.environ.get("EVCSMS_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_missing: set[str] = set()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def require_service(name: str, port: int) -> None:
    """Skip (laptop) or fail (CI=true) when a loopback service is not running."""
    if _port_open(port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not running on 127.0.0.1:{port} (required under CI=true)")
    _missing.add(f"{name} (port {port})")
    pytest.skip(f"{name} not running on 127.0.0.1:{port}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing:
        terminalreporter.write_line(
            f"!!! SKIPPED tests that need: {', '.join(sorted(_missing))} - start them to run the "
            "full suite (CI=true makes this a failure)",
            red=True, bold=True,
        )


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    require_service("PostgreSQL", 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"

    async def setup() -> None:
        engine = create_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        await engine.dispose()
        engine = create_engine(PG_URL, schema=schema)
        await upgrade(engine)
        await engine.dispose()

    async def teardown() -> None:
        engine = create_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        await engine.dispose()

    asyncio.run(setup())
    yield schema
    asyncio.run(teardown())


TABLES = (
    "message_log, meter_readings, cdrs, fault_thresholds, status_history, outage_exclusions, incidents, "
    "log_uploads, firmware_update_events, firmware_updates, device_variables, "
    "reservations, charging_profiles, site_load, web_secrets, "
    "incident_notes, webhooks, tariff_assignments, tariff_versions, sites, transaction_events, "
    "station_events, commands, sessions, connectors, id_tokens, api_tokens, users, stations"
)


async def _truncate(url: str, schema: str) -> None:
    engine = create_engine(url, schema=schema)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: object) -> Settings:
    """Settings for a fresh, migrated database of each kind."""
    if request.param == "sqlite":
        return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/test.db", heartbeat_interval=60)
    schema = request.getfixturevalue("pg_schema")
    asyncio.run(_truncate(PG_URL, schema))
    return Settings(database_url=PG_URL, database_schema=schema, heartbeat_interval=60)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def services(settings: Settings, clock: FrozenClock) -> AsyncIterator[Services]:
    svc = await build_services(settings, clock=clock, migrate=settings.is_sqlite)
    yield svc
    await close_services(svc)

"""Migration 0002 moves per-sample rows into readings without losing or shifting a sample,
and back again on downgrade; on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.services.meter_store import stored_samples
from evcsms.storage.database import create_engine, upgrade
from tests.conftest import PG_URL, require_service

AT = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)
OLD_ROWS = [  # station, session, evse, measurand, phase, location, context, unit, value, signed
    ("S1", 7, 1, "Energy.Active.Import.Register", "", "", "Sample.Periodic", "kWh", "12.345", None),
    ("S1", 7, 1, "Voltage", "L1-N", "Outlet", "", "V", "230.1", None),
    ("S1", 7, 1, "Energy.Active.Import.Register", "", "", "Transaction.End", "Wh", "12400", "sig"),
    ("S2", 0, 2, "Power.Active.Import", "", "", "", "W", "7400", None),
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        eng = create_engine(f"sqlite+aiosqlite:///{tmp_path}/migrate.db")
        yield eng
        await eng.dispose()
        return
    require_service("PostgreSQL", 5432)
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    eng = create_engine(PG_URL, schema=schema)
    try:
        yield eng
    finally:
        await eng.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        await admin.dispose()


async def _insert_old_rows(engine: AsyncEngine) -> None:
    stamp = AT if engine.dialect.name == "postgresql" else AT.strftime("%Y-%m-%d %H:%M:%S.%f")
    async with engine.begin() as conn:
        for r in OLD_ROWS:
            await conn.execute(
                text("INSERT INTO meter_values (station_id, session_id, evse_id, timestamp, "
                     "measurand, phase, location, context, unit, value, signed_data) VALUES "
                     "(:s, :sess, :e, :ts, :m, :p, :l, :c, :u, :v, :sig)"),
                {"s": r[0], "sess": r[1], "e": r[2], "ts": stamp, "m": r[3], "p": r[4],
                 "l": r[5], "c": r[6], "u": r[7], "v": r[8], "sig": r[9]},
            )


async def test_0002_moves_samples_into_readings_and_back(engine: AsyncEngine) -> None:
    await upgrade(engine, "0001")
    await _insert_old_rows(engine)
    await upgrade(engine)

    async with engine.connect() as conn:
        readings = await conn.scalar(text("SELECT count(*) FROM meter_readings"))
        session = await stored_samples(conn, 7)
        outside = await stored_samples(conn, 0)
    assert readings == 2  # (S1, 7, 1, AT) and (S2, 0, 2, AT)
    assert [(s.measurand, s.phase, s.location, s.context, s.unit, s.value, s.signed_data,
             s.timestamp) for s in session] == [
        (r[3], r[4], r[5], r[6], r[7], Decimal(r[8]), r[9], AT) for r in OLD_ROWS[:3]
    ]
    assert [(s.station_id, s.evse_id, s.value) for s in outside] == [("S2", 2, Decimal("7400"))]

    from alembic import command

    from evcsms.storage.database import alembic_config

    def down(sync_conn: object) -> None:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = sync_conn
        command.downgrade(config, "0001")

    async with engine.begin() as conn:
        await conn.run_sync(down)
        rows = (await conn.execute(text(
            "SELECT station_id, session_id, evse_id, measurand, phase, location, context, unit, "
            "value, signed_data FROM meter_values ORDER BY id"))).all()
    assert sorted((*r[:8], Decimal(r[8]), r[9]) for r in rows) == sorted(
        (*r[:8], Decimal(r[8]), r[9]) for r in OLD_ROWS)



async def test_migrations_create_exactly_the_tables_the_code_declares(engine: AsyncEngine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from evcsms.storage.tables import Base

    await upgrade(engine)

    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(sync_conn)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []

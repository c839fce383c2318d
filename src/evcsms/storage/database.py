"""Engine creation and schema migrations for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def create_engine(
    url: str, *, schema: str | None = None, echo: bool = False, timeout: float = 10.0,
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout.

    `schema` (PostgreSQL only) puts every table in that schema via search_path. On
    PostgreSQL `timeout` bounds a connect, a statement and a wait for a pooled connection,
    so an unreachable database is an error within seconds, never a hang (EVCSMS_STORAGE_TIMEOUT).
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"timeout": timeout, "command_timeout": timeout}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    return create_async_engine(
        url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True,
        pool_timeout=timeout, connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply pending migrations on `engine` (idempotent)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


def run_upgrade_blocking(url: str, schema: str | None = None) -> None:
    """`evcsms db upgrade`: migrate the database at `url`."""

    async def main() -> None:
        engine = create_engine(url, schema=schema, timeout=600)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())

"""Bulk inserts (meter readings, message log) handed straight to the driver.

SQLAlchemy processes every parameter of every row in Python (type processors,
parameter construction); for MeterValues, the busiest message, that cost more
than everything else a frame needs. Here rows are turned into driver values
once, in exactly the formats SQLAlchemy itself stores (so a row written by
either path has the same unique key).

On SQLite the rows go in multi-row INSERTs of up to `SQLITE_CHUNK` rows, one
statement execution each. `executemany` would step once per row, and Python's
sqlite3 releases and re-takes the GIL around every step: with the event loop
busy on the other thread, each re-take can wait for the loop to let go, and a
batch of a few hundred rows took tens of milliseconds of mostly waiting
(ADR 0004). On PostgreSQL asyncpg's executemany sends all rows in one round trip.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.storage.writer import Statements

COLUMNS = ("station_id", "session_id", "evse_id", "timestamp", "digest", "samples")
_CONFLICT = "ON CONFLICT (timestamp, station_id, session_id, evse_id, digest) DO NOTHING"
# The statements below are built once, at import, from the constant column tuples: no
# input ever reaches them (hence the S608 exemptions).
_SQLITE_INSERT = f"INSERT INTO meter_readings ({', '.join(COLUMNS)}) VALUES "  # noqa: S608
_POSTGRES = (
    f"INSERT INTO meter_readings ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) {_CONFLICT}"
)


# Rows per SQLite statement: bound by the host-parameter limit (999 before SQLite 3.32).
SQLITE_CHUNK = 200 if sqlite3.sqlite_version_info >= (3, 32) else 999 // 8


@functools.cache
def _sqlite_multirow(prefix: str, columns: int, rows: int, suffix: str) -> str:
    """An INSERT of `rows` rows: cached, so each size is built (and prepared by sqlite3's
    statement cache) once."""
    row = "(" + ",".join("?" * columns) + ")"
    return prefix + ",".join(itertools.repeat(row, rows)) + suffix


def sqlite_statements(
    prefix: str, columns: int, rows: Sequence[Sequence[Any]], suffix: str = ""
) -> Statements:
    """Rows as multi-row INSERTs, each with its one flat parameter tuple."""
    out: Statements = []
    for start in range(0, len(rows), SQLITE_CHUNK):
        chunk = rows[start:start + SQLITE_CHUNK]
        sql = _sqlite_multirow(prefix, columns, len(chunk), suffix)
        out.append((sql, [tuple(itertools.chain.from_iterable(chunk))]))
    return out


def sqlite_time(at: datetime) -> str:
    """An aware datetime in SQLAlchemy's SQLite DATETIME storage format (naive UTC,
    "%Y-%m-%d %H:%M:%S.%f"), about three times faster than strftime."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.isoformat(" ", "microseconds")[:26]


def reading_statements(dialect: str, rows: Sequence[Sequence[Any]]) -> Statements:
    """The driver statement and parameters that insert meter readings (sequences in
    COLUMNS order, aware datetimes); a reading already stored (same key) is skipped."""
    if dialect == "postgresql":
        return [(_POSTGRES, [tuple(r) for r in rows])]
    values = [(r[0], r[1], r[2], sqlite_time(r[3]), r[4], r[5]) for r in rows]
    return sqlite_statements(_SQLITE_INSERT, len(COLUMNS), values, " " + _CONFLICT)


async def insert_reading_rows(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    """`reading_statements` inside the caller's SQLAlchemy transaction."""
    if rows:
        await _executemany(conn, reading_statements(conn.dialect.name, rows))


LOG_COLUMNS = ("station_id", "direction", "message_type", "unique_id", "action", "frame", "at")
_LOG_SQLITE_INSERT = f"INSERT INTO message_log ({', '.join(LOG_COLUMNS)}) VALUES "  # noqa: S608
_LOG_POSTGRES = (
    f"INSERT INTO message_log ({', '.join(LOG_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(LOG_COLUMNS) + 1))})"
)


def log_statements(dialect: str, rows: Sequence[Sequence[Any]]) -> Statements:
    """The driver statement and parameters that append message-log rows (tuples in
    LOG_COLUMNS order, `at` an aware datetime)."""
    if dialect == "postgresql":
        return [(_LOG_POSTGRES, rows)]
    values = [(*r[:6], sqlite_time(r[6])) for r in rows]
    return sqlite_statements(_LOG_SQLITE_INSERT, len(LOG_COLUMNS), values)


async def insert_log_rows(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    """`log_statements` inside the caller's SQLAlchemy transaction."""
    if rows:
        await _executemany(conn, log_statements(conn.dialect.name, rows))


async def _executemany(conn: AsyncConnection, statements: Statements) -> None:
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SELECT 1")  # make SQLAlchemy open its transaction first
    raw = (await conn.get_raw_connection()).driver_connection
    for sql, params in statements:
        await raw.executemany(sql, params)  # type: ignore[union-attr]

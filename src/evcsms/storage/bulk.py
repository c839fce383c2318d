"""Bulk inserts (meter samples, message log) through the driver's own executemany.

SQLAlchemy processes every parameter of every row in Python (type processors,
parameter construction); for MeterValues, the busiest message, that costs more
than everything else a frame needs. Here rows are turned into driver values
once, in exactly the formats SQLAlchemy itself stores (so a row written by
either path has the same unique key), and handed to the driver in one call,
inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = (
    "station_id", "session_id", "evse_id", "timestamp", "measurand", "phase", "location",
    "context", "unit", "value", "signed_data",
)
_CONFLICT = (
    "ON CONFLICT (station_id, session_id, evse_id, timestamp, measurand, phase, location, "
    "context) DO NOTHING"
)
# The statements below are built once, at import, from the constant column tuples: no
# input ever reaches them (hence the S608 exemptions).
_SQLITE = (
    f"INSERT INTO meter_values ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) {_CONFLICT}"
)
_POSTGRES = (
    f"INSERT INTO meter_values ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(COLUMNS) + 1))}) {_CONFLICT}"
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format


async def insert_meter_rows(conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows (sequences in COLUMNS order, aware datetimes, Decimals); rows already
    stored are skipped."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SELECT 1")  # make SQLAlchemy open its transaction first
        raw = await conn.get_raw_connection()
        await raw.driver_connection.executemany(_POSTGRES, [tuple(r) for r in rows])  # type: ignore[union-attr]
        return
    raw = await conn.get_raw_connection()
    stamps: dict[Any, str] = {}  # the samples of one frame share their timestamp
    params = []
    for r in rows:
        stamp = stamps.get(r[3])
        if stamp is None:
            stamp = stamps[r[3]] = r[3].astimezone(UTC).strftime(_SQLITE_TIME)
        params.append((r[0], r[1], r[2], stamp, r[4], r[5], r[6], r[7], r[8], format(r[9], "f"), r[10]))
    await raw.driver_connection.executemany(_SQLITE, params)  # type: ignore[union-attr]


LOG_COLUMNS = ("station_id", "direction", "message_type", "unique_id", "action", "frame", "at")
_LOG_SQLITE = (
    f"INSERT INTO message_log ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' for _ in LOG_COLUMNS)})"  # noqa: S608
)
_LOG_POSTGRES = (
    f"INSERT INTO message_log ({', '.join(LOG_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(LOG_COLUMNS) + 1))})"
)


async def insert_log_rows(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Append message-log rows (dicts keyed by LOG_COLUMNS, `at` aware UTC)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SELECT 1")  # make SQLAlchemy open its transaction first
        raw = await conn.get_raw_connection()
        records = [tuple(row[c] for c in LOG_COLUMNS) for row in rows]
        await raw.driver_connection.executemany(_LOG_POSTGRES, records)  # type: ignore[union-attr]
        return
    raw = await conn.get_raw_connection()
    params = [
        (r["station_id"], r["direction"], r["message_type"], r["unique_id"], r["action"],
         r["frame"], r["at"].astimezone(UTC).strftime(_SQLITE_TIME))
        for r in rows
    ]
    await raw.driver_connection.executemany(_LOG_SQLITE, params)  # type: ignore[union-attr]

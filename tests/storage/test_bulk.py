"""The driver-level bulk insert stores exactly what the SQLAlchemy path stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.storage import tables as t
from evcsms.storage.bulk import COLUMNS, insert_log_rows, insert_meter_rows
from evcsms.storage.dialect import insert

AT = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)


def row(**changes: object) -> dict[str, object]:
    base = {"station_id": "S", "session_id": 0, "evse_id": 1, "timestamp": AT,
            "measurand": "Energy.Active.Import.Register", "phase": "", "location": "",
            "context": "Sample.Periodic", "unit": "kWh", "value": Decimal("12.3456789"),
            "signed_data": None}
    return base | changes


def as_list(r: dict[str, object]) -> list[object]:
    return [r[c] for c in COLUMNS]


async def test_bulk_and_orm_rows_share_one_unique_key(services) -> None:
    async def op(conn: AsyncConnection) -> list[object]:
        await conn.execute(insert(conn, t.MeterValue).on_conflict_do_nothing(), [row()])
        # the same sample again through the bulk path, with the time in another zone
        later = AT.astimezone(timezone(timedelta(hours=2)))
        await insert_meter_rows(
            conn, [as_list(row(timestamp=later)), as_list(row(measurand="Voltage", unit="V"))])
        return list((await conn.execute(select(t.MeterValue).order_by(t.MeterValue.id))).all())

    rows = await services.writer.submit(op)
    assert [(r.measurand, r.timestamp, r.value) for r in rows] == [
        ("Energy.Active.Import.Register", AT, Decimal("12.3456789")),
        ("Voltage", AT, Decimal("12.3456789")),
    ]


async def test_log_rows_round_trip(services) -> None:
    async def op(conn: AsyncConnection) -> tuple[int, object]:
        await insert_log_rows(conn, [{"station_id": "S", "direction": "in", "message_type": 2,
                                      "unique_id": "1", "action": "Heartbeat",
                                      "frame": '[2,"1","Heartbeat",{}]', "at": AT}])
        count = await conn.scalar(select(func.count()).select_from(t.MessageLogEntry))
        at = await conn.scalar(select(t.MessageLogEntry.at))
        return int(count or 0), at

    assert await services.writer.submit(op) == (1, AT)

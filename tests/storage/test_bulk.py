"""The driver-level bulk inserts store exactly what the SQLAlchemy path stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import SampledValue, readings_of
from evcsms.services.meter_store import reading_rows, stored_samples
from evcsms.storage import tables as t
from evcsms.storage.bulk import insert_log_rows, insert_reading_rows, sqlite_time
from evcsms.storage.dialect import insert

AT = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"


def samples(at: datetime = AT) -> list[SampledValue]:
    return [SampledValue(at, Decimal("12.3456789"), REGISTER, "kWh", context="Sample.Periodic"),
            SampledValue(at, Decimal("230.1"), "Voltage", "V", phase="L1-N")]


async def test_bulk_and_orm_readings_share_one_unique_key(services) -> None:
    (row,) = reading_rows("S", 0, 1, readings_of(samples()))
    columns = ("station_id", "session_id", "evse_id", "timestamp", "digest", "samples")

    async def op(conn: AsyncConnection) -> tuple[int, list[object]]:
        await conn.execute(insert(conn, t.MeterReading).on_conflict_do_nothing(),
                           [dict(zip(columns, row, strict=True))])
        # the same reading again through the bulk path, with the time in another zone
        (again,) = reading_rows("S", 0, 1, readings_of(samples(AT.astimezone(timezone(timedelta(hours=2))))))
        await insert_reading_rows(conn, [again])
        count = await conn.scalar(select(func.count()).select_from(t.MeterReading))
        return int(count or 0), list(await stored_samples(conn, 0))

    count, stored = await services.writer.submit(op)
    assert count == 1
    assert [(s.measurand, s.phase, s.context, s.timestamp, s.value) for s in stored] == [
        (REGISTER, "", "Sample.Periodic", AT, Decimal("12.3456789")),
        ("Voltage", "L1-N", "", AT, Decimal("230.1")),
    ]


async def test_a_sample_repeated_in_another_reading_is_read_once(services) -> None:
    later = AT + timedelta(seconds=10)
    first = samples()
    # e.g. a 2.0.1 Ended event repeating the last periodic register beside new samples
    second = [first[0], SampledValue(AT, Decimal("7"), "Power.Active.Import", "kW"),
              SampledValue(later, Decimal("13"), REGISTER, "kWh")]

    async def op(conn: AsyncConnection) -> list[object]:
        await insert_reading_rows(conn, reading_rows("S", 0, 1, readings_of(first)))
        await insert_reading_rows(conn, reading_rows("S", 0, 1, readings_of(second)))
        return list(await stored_samples(conn, 0))

    stored = await services.writer.submit(op)
    assert [(s.timestamp, s.measurand, s.value) for s in stored] == [
        (AT, REGISTER, Decimal("12.3456789")),
        (AT, "Voltage", Decimal("230.1")),
        (AT, "Power.Active.Import", Decimal("7")),
        (later, REGISTER, Decimal("13")),
    ]


def test_sqlite_time_matches_sqlalchemy_storage_format() -> None:
    assert sqlite_time(AT) == AT.strftime("%Y-%m-%d %H:%M:%S.%f")
    whole = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert sqlite_time(whole) == "2026-03-02 14:00:00.000000"


async def test_log_rows_round_trip(services) -> None:
    async def op(conn: AsyncConnection) -> tuple[int, object]:
        await insert_log_rows(
            conn, [("S", "in", 2, "1", "Heartbeat", '[2,"1","Heartbeat",{}]', AT)])
        count = await conn.scalar(select(func.count()).select_from(t.MessageLogEntry))
        at = await conn.scalar(select(t.MessageLogEntry.at))
        return int(count or 0), at

    assert await services.writer.submit(op) == (1, AT)

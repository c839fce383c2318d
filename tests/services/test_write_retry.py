"""A failed writer batch is retried per operation; buffered rows must survive the retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import SampledValue
from evcsms.domain.model import Direction
from evcsms.storage import tables as t

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def count(services, table) -> int:
    async with services.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_buffered_rows_survive_a_failed_batch(services) -> None:
    gate = asyncio.Event()

    async def blocker(_conn: AsyncConnection) -> None:
        await gate.wait()

    async def failing(_conn: AsyncConnection) -> None:
        raise RuntimeError("another operation in the same batch fails")

    blocked = services.writer.enqueue(blocker)
    await asyncio.sleep(0.05)  # the writer is now inside the blocker's batch
    samples = [SampledValue(AT, Decimal(v), measurand=m, unit=u)
               for v, m, u in (("1000", "Energy.Active.Import.Register", "Wh"),
                               ("7400", "Power.Active.Import", "W"))]
    stored = asyncio.create_task(services.sessions.meter_values("S1", 1, samples))
    await asyncio.sleep(0.05)  # the meter flush is queued
    services.message_log.record("S1", Direction.IN, "[2,\"1\",\"Heartbeat\",{}]")
    # Next batch: [meter flush, log flush, failing]: the flushes run, then the batch fails
    # and the writer retries each operation alone.
    failed = services.writer.enqueue(failing)
    gate.set()
    await blocked
    await stored  # acknowledged ...
    with pytest.raises(RuntimeError):
        await failed
    await services.writer.barrier()
    stored_samples = await services.sessions.samples(0)  # ... and really stored
    assert [(s.measurand, s.value) for s in stored_samples] == [
        ("Energy.Active.Import.Register", Decimal("1000")),
        ("Power.Active.Import", Decimal("7400")),
    ]
    assert await count(services, t.MeterReading) == 1  # both taken at AT: one reading
    assert await count(services, t.MessageLogEntry) == 1

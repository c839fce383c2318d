"""The writer's ordering promise: an operation runs after every bulk insert queued before
it has committed, even when both land in the same batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.storage import tables as t
from evcsms.storage.bulk import log_statements


async def _log_rows(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(t.MessageLogEntry)) or 0)


def _frame(text: str) -> Any:
    at = datetime.now(UTC)
    return lambda dialect: log_statements(dialect, [("CP1", "in", 2, text, "Heartbeat", text, at)])


async def test_an_operation_sees_the_bulk_inserts_queued_before_it_in_its_batch(services):
    writer = services.writer
    await services.stations.create("CP1", password=None)
    await writer.barrier()
    # queued in one go: the writer takes them as one batch
    first = writer.enqueue_bulk(_frame("a"), "test")
    seen_by_op = writer.enqueue(_log_rows, "test")
    later = writer.enqueue_bulk(_frame("b"), "test")
    assert await seen_by_op == 1  # "a" committed before the operation, "b" not required
    await first
    await later
    async with services.engine.connect() as conn:
        assert await _log_rows(conn) == 2


async def test_a_barrier_waits_for_a_bulk_insert_in_its_batch(services):
    """`barrier()` returns once everything queued before it is committed (a message-log
    flush queued just before it was once still unwritten when it returned)."""
    writer = services.writer
    await services.stations.create("CP1", password=None)
    await writer.barrier()
    flushed = writer.enqueue_bulk(_frame("a"), "test")
    await writer.barrier()
    assert flushed.done()
    async with services.engine.connect() as conn:
        assert await _log_rows(conn) == 1

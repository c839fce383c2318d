"""Every OCPP frame in and out, per station, with bounded retention.

Frames are buffered and written as one multi-row insert per writer batch;
`prune` keeps the newest `keep` frames per station and nothing older than
`days`.

The log is best effort: recording a frame never raises and never waits. Rows whose
insert failed (the database is unavailable) go back to the buffer and are written
with the next frame's flush; the buffer holds at most `max_buffered` rows and drops the
oldest beyond that, counted in `dropped` and reported in a warning.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.domain.model import Direction
from evcsms.services.periodic import Periodic
from evcsms.storage import tables as t
from evcsms.storage.bulk import log_statements
from evcsms.storage.writer import BatchWriter, Statements

log = logging.getLogger(__name__)

WARN_EVERY = 10.0  # seconds between two warnings about dropped rows


@dataclass(slots=True)
class _Flush:
    """One queued insert: the rows it took from the buffer when its batch ran (None
    until then; a retried batch writes the same rows again)."""

    rows: list[tuple[Any, ...]] | None = None


class MessageLog:
    def __init__(
        self, engine: AsyncEngine, writer: BatchWriter, clock: Clock, *,
        keep: int = 2000, days: int = 30, prune_every: float = 300.0,
        max_buffered: int = 20_000,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._keep = keep
        self._days = days
        self._buffer: list[tuple[Any, ...]] = []  # rows in storage.bulk.LOG_COLUMNS order
        self._queued: _Flush | None = None  # the flush that will take the buffer
        self._max_buffered = max_buffered
        self.dropped = 0  # rows given up because the buffer was full
        self._reported = 0  # `dropped` when the last warning was logged
        self._warned_at = 0.0
        self._loop = Periodic("message-log-prune", prune_every, self._prune_and_report)

    def record(
        self, station_id: str, direction: Direction, frame: str, *,
        message_type: int | None = None, unique_id: str | None = None, action: str | None = None,
    ) -> None:
        if len(self._buffer) >= self._max_buffered:
            self._drop(len(self._buffer) - self._max_buffered + 1)
        self._buffer.append(
            (station_id, direction.value, message_type, unique_id, action, frame,
             self._clock.now())
        )
        if self._queued is None:
            self._schedule()

    def _schedule(self) -> None:
        """Queue a flush of the buffer (at most one waits at a time)."""
        flush = self._queued = _Flush()
        try:
            done = self._writer.enqueue_bulk(functools.partial(self._take, flush), "message-log")
        except Exception:  # the writer is closed: the rows stay buffered, never raise
            self._queued = None
            return
        done.add_done_callback(functools.partial(self._flushed, flush))

    def _take(self, flush: _Flush, dialect: str) -> Statements:
        """The buffer's rows, taken when the batch runs (later frames start the next
        buffer); the same rows again if a failed batch is retried."""
        if flush.rows is None:
            flush.rows, self._buffer = self._buffer, []
            if self._queued is flush:
                self._queued = None
        return log_statements(dialect, flush.rows)

    def _flushed(self, flush: _Flush, done: asyncio.Future[None]) -> None:
        if self._queued is flush:  # failed before its batch ran: the rows are still buffered
            self._queued = None
        if done.cancelled() or done.exception() is None:
            return
        if flush.rows:  # put back, before the newer frames, within the bound
            self._buffer[:0] = flush.rows
            excess = len(self._buffer) - self._max_buffered
            if excess > 0:
                self._drop(excess)
        log.debug("message log: %d rows kept for a later flush (%s)", len(self._buffer),
                  done.exception())

    def _drop(self, count: int) -> None:
        del self._buffer[:count]
        self.dropped += count
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            log.warning("message log: buffer full (%d rows, storage unavailable?); dropped the "
                        "oldest %d frames (%d in all)", self._max_buffered,
                        self.dropped - self._reported, self.dropped)
            self._warned_at, self._reported = now, self.dropped

    async def entries(
        self, station_id: str, *, limit: int, before_id: int | None = None
    ) -> list[Any]:
        stmt = select(t.MessageLogEntry).where(t.MessageLogEntry.station_id == station_id)
        if before_id is not None:
            stmt = stmt.where(t.MessageLogEntry.id < before_id)
        async with self._engine.connect() as conn:
            rows = await conn.execute(stmt.order_by(t.MessageLogEntry.id.desc()).limit(limit))
            return list(rows.all())

    async def prune(self) -> int:
        cutoff = self._clock.now() - timedelta(days=self._days)
        keep = self._keep

        async def op(conn: AsyncConnection) -> int:
            removed = (
                await conn.execute(delete(t.MessageLogEntry).where(t.MessageLogEntry.at < cutoff))
            ).rowcount
            crowded = await conn.execute(
                select(t.MessageLogEntry.station_id)
                .group_by(t.MessageLogEntry.station_id)
                .having(func.count() > keep)
            )
            for (station_id,) in crowded.all():
                oldest_kept = await conn.scalar(
                    select(t.MessageLogEntry.id)
                    .where(t.MessageLogEntry.station_id == station_id)
                    .order_by(t.MessageLogEntry.id.desc())
                    .offset(keep - 1)
                    .limit(1)
                )
                removed += (
                    await conn.execute(
                        delete(t.MessageLogEntry).where(
                            t.MessageLogEntry.station_id == station_id,
                            t.MessageLogEntry.id < oldest_kept,
                        )
                    )
                ).rowcount
            return int(removed)

        return await self._writer.submit(op, "message-log-prune")

    async def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()
        if self._buffer and self._queued is None:  # rows kept from a failed flush
            self._schedule()

    async def _prune_and_report(self) -> None:
        removed = await self.prune()
        if removed:
            log.info("message log: pruned %d frames", removed)

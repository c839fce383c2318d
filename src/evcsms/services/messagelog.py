"""Every OCPP frame in and out, per station, with bounded retention.

Frames are buffered and written as one multi-row insert per writer batch;
`prune` keeps the newest `keep` frames per station and nothing older than
`days`.
"""

from __future__ import annotations

import functools
import logging
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


class MessageLog:
    def __init__(
        self, engine: AsyncEngine, writer: BatchWriter, clock: Clock, *,
        keep: int = 2000, days: int = 30, prune_every: float = 300.0,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._keep = keep
        self._days = days
        self._buffer: list[tuple[Any, ...]] = []  # rows in storage.bulk.LOG_COLUMNS order
        self._loop = Periodic("message-log-prune", prune_every, self._prune_and_report)

    def record(
        self, station_id: str, direction: Direction, frame: str, *,
        message_type: int | None = None, unique_id: str | None = None, action: str | None = None,
    ) -> None:
        if not self._buffer:
            self._writer.submit_bulk_nowait(
                functools.partial(self._flush, self._buffer), "message-log")
        self._buffer.append(
            (station_id, direction.value, message_type, unique_id, action, frame,
             self._clock.now())
        )

    def _flush(self, rows: list[tuple[Any, ...]], dialect: str) -> Statements:
        """The rows of the buffer this flush was queued for (again, if a failed batch is
        retried)."""
        if self._buffer is rows:  # later frames start the next buffer
            self._buffer = []
        return log_statements(dialect, rows)

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

    async def _prune_and_report(self) -> None:
        removed = await self.prune()
        if removed:
            log.info("message log: pruned %d frames", removed)

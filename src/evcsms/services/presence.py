"""Last-seen times, kept in memory on the node holding the socket and flushed in batches.

A heartbeat costs a dict assignment, not a database write; every `interval`
seconds all stations seen since the last flush are written in one statement. A flush
that cannot be written (the database is unavailable) keeps its entries for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.clock import Clock
from evcsms.storage import tables as t
from evcsms.storage.outage import StorageUnavailableError
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)


class Presence:
    def __init__(self, writer: BatchWriter, clock: Clock, *, interval: float = 5.0) -> None:
        self._writer = writer
        self._clock = clock
        self._interval = interval
        self._seen: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, station_id: str) -> datetime:
        now = self._clock.now()
        self._seen[station_id] = now
        return now

    def last_seen(self, station_id: str) -> datetime | None:
        return self._seen.get(station_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="presence-flush")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.flush()
        except StorageUnavailableError as exc:
            log.warning("last-seen of %d stations not written at shutdown: %s", len(self._seen), exc)

    async def flush(self) -> int:
        if not self._seen:
            return 0
        seen, self._seen = self._seen, {}
        rows = [{"sid": sid, "seen": at} for sid, at in seen.items()]

        async def op(conn: AsyncConnection) -> None:
            stmt = (
                update(t.Station)
                .where(t.Station.id == bindparam("sid"))
                .values(last_seen_at=bindparam("seen"))
            )
            await conn.execute(stmt.execution_options(synchronize_session=False), rows)

        try:
            await self._writer.submit(op, "presence")
        except BaseException:
            for sid, at in seen.items():  # kept for the next flush; a newer touch wins
                self._seen.setdefault(sid, at)
            raise
        return len(rows)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except StorageUnavailableError as exc:
                log.warning("last-seen flush postponed (%d stations kept): %s", len(self._seen), exc)
            except Exception:
                log.exception("last-seen flush failed")

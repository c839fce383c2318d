"""The thresholds cache never keeps a read that overlapped a change made on this node."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


class _HeldEngine:
    """The real engine, but a query's result is handed back only once `gate` is set (the
    read has happened by then: it sees the database as it was)."""

    def __init__(self, engine: Any, read: asyncio.Event, gate: asyncio.Event) -> None:
        self._engine, self._read, self._gate = engine, read, gate

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        async with self._engine.connect() as conn:
            yield _HeldConnection(conn, self._read, self._gate)


class _HeldConnection:
    def __init__(self, conn: Any, read: asyncio.Event, gate: asyncio.Event) -> None:
        self._conn, self._read, self._gate = conn, read, gate

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._conn.execute(*args, **kwargs)
        rows = result.all()
        self._read.set()
        await self._gate.wait()
        return _Rows(rows)


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows


async def test_a_read_that_overlapped_a_change_is_read_again(services):
    thresholds = services.thresholds
    await services.stations.create("CP1", password=None)
    assert (await thresholds.book()).for_station("CP1").max_temperature != 55
    thresholds._book = None  # noqa: SLF001 - as when the cache has expired
    read, gate = asyncio.Event(), asyncio.Event()
    real = thresholds._engine  # noqa: SLF001
    thresholds._engine = _HeldEngine(real, read, gate)  # noqa: SLF001
    stale = asyncio.create_task(thresholds.book())
    await asyncio.wait_for(read.wait(), 5)  # it has read the thresholds as they were
    thresholds._engine = real  # noqa: SLF001 - the change itself goes through the writer
    await thresholds.set("station", "CP1", {"max_temperature": 55}, by="test")
    thresholds._engine = _HeldEngine(real, asyncio.Event(), gate)  # noqa: SLF001
    gate.set()  # the overlapping read finishes after the change
    await asyncio.wait_for(stale, 5)
    thresholds._engine = real  # noqa: SLF001
    assert (await thresholds.book()).for_station("CP1").max_temperature == 55

"""Group commit: every write on this node runs through one `BatchWriter`.

Callers submit an operation (an async function of a connection). A single loop
takes everything queued, runs it in ONE transaction and commits, then wakes
each caller with its own result. Under load a batch holds hundreds of
operations, so a MeterValues frame costs a few row inserts, not a commit; at
rest a batch holds one operation and adds no delay.

If a batch fails, its operations are retried one by one, each in its own
transaction, so one bad operation fails alone and nothing else is lost.
`submit` resolves only after commit: an OCPP answer sent after it means the
data is stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]


class WriterClosedError(RuntimeError):
    """The writer is shut down; the operation was not run."""


@dataclass(slots=True)
class _Job:
    op: Operation[Any]
    future: asyncio.Future[Any] | None
    label: str = field(default="")


class BatchWriter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 1000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.operations = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="batch-writer")

    async def submit(self, op: Operation[T], label: str = "") -> T:
        """Run `op` in the next batch; return its result once committed."""
        return await self.enqueue(op, label)

    def enqueue(self, op: Operation[T], label: str = "") -> asyncio.Future[T]:
        """Queue `op`; the returned future resolves with its result once committed.

        Several callers may await one such future (see `services.meter_sink`).
        """
        if self._closed:
            raise WriterClosedError("storage writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(op, future, label))
        return future

    async def barrier(self) -> None:
        """Return once everything queued before this call is committed."""

        async def nothing(_conn: AsyncConnection) -> None:
            return None

        await self.submit(nothing, "barrier")

    def submit_nowait(self, op: Operation[Any], label: str = "") -> None:
        """Queue `op` without waiting (for best-effort records like the message log)."""
        if not self._closed:
            self._queue.put_nowait(_Job(op, None, label))

    async def close(self) -> None:
        """Finish everything queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[_Job] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < self._max_batch and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    continue
                batch.append(job)
            if batch:
                await self._execute(batch)

    async def _execute(self, batch: list[_Job]) -> None:
        self.batches += 1
        self.operations += len(batch)
        try:
            results = await self._in_transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("storage operation %s failed", batch[0].label or "?")
                self._fail(batch[0], exc)
                return
            log.warning("batch of %d failed; retrying one by one", len(batch))
            for job in batch:
                await self._execute_single(job)
            return
        for job, result in zip(batch, results, strict=True):
            if job.future is not None and not job.future.done():
                job.future.set_result(result)

    async def _execute_single(self, job: _Job) -> None:
        try:
            (result,) = await self._in_transaction([job])
        except Exception as exc:
            log.exception("storage operation %s failed", job.label or "?")
            self._fail(job, exc)
            return
        if job.future is not None and not job.future.done():
            job.future.set_result(result)

    async def _in_transaction(self, batch: list[_Job]) -> list[Any]:
        async with self._engine.begin() as connection:
            return [await job.op(connection) for job in batch]

    @staticmethod
    def _fail(job: _Job, exc: Exception) -> None:
        if job.future is not None and not job.future.done():
            job.future.set_exception(exc)

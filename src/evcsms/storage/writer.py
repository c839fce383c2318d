"""Group commit: every write on this node runs through one `BatchWriter`.

Callers submit work; a single loop takes everything queued, runs it in as few
transactions as it can, commits, then wakes each caller with its own result.
Under load a batch holds hundreds of jobs, so a MeterValues frame costs a few
row inserts, not a commit; at rest a batch holds one job and adds no delay.

Two kinds of job:

* an **operation**: an async function of an `AsyncConnection` (queries, updates,
  anything SQLAlchemy can do). A batch's operations share one transaction.
* a **bulk insert**: a function that, given the dialect name, returns
  `(statement, rows)` pairs for the driver's `executemany` (the message log and
  meter readings, the busiest writes). A batch's bulk inserts share a second
  transaction that bypasses SQLAlchemy: on SQLite the inserts *and* the commit run
  in one call on the driver's thread. Every `await` in the writer waits for one
  turn of a busy event loop (tens of milliseconds with a thousand stations
  sending), so the number of awaits per batch, not the SQL, set the pace (ADR 0004).

If a transaction fails, its jobs are retried one by one, each in its own
transaction, so one bad job fails alone and nothing else is lost. A job resolves
only after commit: an OCPP answer sent after it means the data is stored.

The writer keeps one connection for its whole life (a pooled connection would be
rolled back on every return: one more await per batch) and replaces it after an
error.

Bulk transactions are pipelined on SQLite: the writer hands one to the driver's
thread and goes on collecting the next batch instead of waiting for the commit, up
to `max_in_flight` at once (the thread runs them in order, each committing before the
next starts). Without this, every station waits for the same commit, the event loop
idles while SQLite writes and SQLite idles while the loop serves the next round of
frames. Operations wait until the bulk transactions before them are committed, so
`barrier` and the order of operations mean what they say. PostgreSQL (asyncpg runs one
query at a time per connection) keeps one in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]
Statements = list[tuple[str, Sequence[Sequence[Any]]]]
Bulk = Callable[[str], Statements]


class WriterClosedError(RuntimeError):
    """The writer is shut down; the operation was not run."""


@dataclass(slots=True)
class _Job:
    op: Operation[Any] | None
    bulk: Bulk | None
    future: asyncio.Future[Any] | None
    label: str = field(default="")


class BatchWriter:
    def __init__(self, engine: AsyncEngine, *, max_batch: int = 1000, max_in_flight: int = 4) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight if engine.dialect.name == "sqlite" else 1
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None
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
        return self._put(op, None, label)

    def enqueue_bulk(self, bulk: Bulk, label: str = "") -> asyncio.Future[None]:
        """Queue a bulk insert; the future resolves once its rows are committed.

        `bulk` is called when its batch runs (so a buffer it reads can still grow until
        then) and again if the batch is retried: it must return the same rows each time.
        """
        return self._put(None, bulk, label)

    def submit_nowait(self, op: Operation[Any], label: str = "") -> None:
        """Queue `op` without waiting (for best-effort records)."""
        if not self._closed:
            self._queue.put_nowait(_Job(op, None, None, label))

    def submit_bulk_nowait(self, bulk: Bulk, label: str = "") -> None:
        """Queue a bulk insert without waiting (for the message log)."""
        if not self._closed:
            self._queue.put_nowait(_Job(None, bulk, None, label))

    async def barrier(self) -> None:
        """Return once everything queued before this call is committed."""

        async def nothing(_conn: AsyncConnection) -> None:
            return None

        await self.submit(nothing, "barrier")

    async def close(self) -> None:
        """Finish everything queued, then stop."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task
        await self._drain()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def _put(self, op: Operation[Any] | None, bulk: Bulk | None, label: str) -> asyncio.Future[Any]:
        if self._closed:
            raise WriterClosedError("storage writer is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(op, bulk, future, label))
        return future

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
                self.batches += 1
                self.operations += len(batch)
                ops = [job for job in batch if job.op is not None]
                bulks = [job for job in batch if job.bulk is not None]
                if ops:
                    await self._drain()
                    await self._execute(ops)
                if bulks:
                    await self._dispatch(bulks)

    async def _dispatch(self, bulks: list[_Job]) -> None:
        """Start a bulk transaction without waiting for its commit (see module doc)."""
        while len(self._in_flight) >= self._max_in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._execute(bulks), name="batch-writer-bulk")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _drain(self) -> None:
        """Wait until every bulk transaction started so far is committed (or failed)."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    async def _execute(self, jobs: list[_Job]) -> None:
        """Run jobs of one kind in one transaction; on failure, each alone."""
        try:
            results = await self._transaction(jobs)
        except Exception as exc:
            await self._after_error(jobs)
            if len(jobs) == 1:
                log.exception("storage operation %s failed", jobs[0].label or "?")
                _fail(jobs[0], exc)
                return
            log.warning("batch of %d failed; retrying one by one", len(jobs))
            for job in jobs:
                try:
                    (result,) = await self._transaction([job])
                except Exception as single_exc:
                    await self._after_error([job])
                    log.exception("storage operation %s failed", job.label or "?")
                    _fail(job, single_exc)
                else:
                    _resolve(job, result)
            return
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result)

    async def _transaction(self, jobs: list[_Job]) -> list[Any]:
        connection = self._connection
        if connection is None:
            connection = self._connection = await self._engine.connect()
        if jobs[0].bulk is not None:
            await _run_bulk(connection, [job.bulk(connection.dialect.name) for job in jobs if job.bulk])
            return [None] * len(jobs)
        async with connection.begin():
            return [await job.op(connection) for job in jobs if job.op]

    async def _after_error(self, jobs: list[_Job]) -> None:
        """Start afresh after an error, unless other bulk transactions are queued on the
        connection: a failed SQLite bulk transaction has rolled itself back and leaves the
        connection usable."""
        if jobs[0].bulk is not None and self._max_in_flight > 1:
            return
        await self._discard_connection()

    async def _discard_connection(self) -> None:
        """After an error the connection may be broken or mid-transaction: start afresh."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.invalidate()
        except Exception:
            log.debug("invalidating the writer's connection failed", exc_info=True)
        try:
            await connection.close()
        except Exception:
            log.debug("closing the writer's connection failed", exc_info=True)


async def _run_bulk(connection: AsyncConnection, statements: list[Statements]) -> None:
    """Every statement with its rows, then commit: one transaction, driver-level."""
    work = [(sql, rows) for group in statements for sql, rows in group if rows]
    if not work:
        return
    raw = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "postgresql":
        async with raw.transaction():  # type: ignore[union-attr]
            for sql, rows in work:
                await raw.executemany(sql, rows)  # type: ignore[union-attr]
        return
    # aiosqlite runs each call on its own thread; `_execute` queues one function there, so
    # the inserts and the commit cost one thread hop instead of one per statement.
    await raw._execute(_sqlite_bulk, raw._conn, work)  # type: ignore[union-attr]  # noqa: SLF001


def _sqlite_bulk(conn: Any, work: list[tuple[str, Sequence[Sequence[Any]]]]) -> None:
    try:
        for sql, rows in work:
            conn.executemany(sql, rows)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _resolve(job: _Job, result: Any) -> None:
    if job.future is not None and not job.future.done():
        job.future.set_result(result)


def _fail(job: _Job, exc: Exception) -> None:
    if job.future is not None and not job.future.done():
        job.future.set_exception(exc)

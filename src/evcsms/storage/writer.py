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

A database that cannot be reached (down, restarting, a dropped link: see
`is_unavailable`) is different: retrying job after job would make each wait for a
connect timeout. A connection that died under a batch (PostgreSQL restarted) gets one
more try on a fresh connection; if the database cannot be reached, every job of the
batch fails at once with `StorageUnavailableError` and a circuit breaker opens: new
jobs, and new connections anyone asks of the engine, fail at once while a probe tries
the database every `probe_interval` seconds. The first probe that gets through closes
the breaker, so the node recovers by itself when the database is back. Nothing
unstored is ever acknowledged: a failed job's caller gets the error (an OCPP handler
answers CALLERROR InternalError and the station retries).

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
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.storage.outage import (
    StorageUnavailableError,
    describe_error,
    is_unavailable,
    timed_out,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]
Statements = list[tuple[str, Sequence[Sequence[Any]]]]
Bulk = Callable[[str], Statements]


# set in the probe's task: its connects pass the breaker's gate (no one else's do)
_PROBING: contextvars.ContextVar[bool] = contextvars.ContextVar("storage_probe", default=False)


class WriterClosedError(RuntimeError):
    """The writer is shut down; the operation was not run."""


@dataclass(slots=True)
class _Outage:
    since: float
    cause: str
    failed: int = 0  # jobs failed while it lasts
    dropped: int = 0  # of which fire-and-forget jobs (nobody to tell)
    probes: int = 0


@dataclass(slots=True)
class _Job:
    op: Operation[Any] | None
    bulk: Bulk | None
    future: asyncio.Future[Any] | None
    label: str = field(default="")


class BatchWriter:
    def __init__(
        self, engine: AsyncEngine, *, max_batch: int = 1000, max_in_flight: int = 4,
        probe_interval: float = 1.0, probe_timeout: float = 5.0,
    ) -> None:
        self._engine = engine
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._outage: _Outage | None = None
        self._probe_task: asyncio.Task[None] | None = None
        event.listen(engine.sync_engine, "do_connect", self._gate)
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight if engine.dialect.name == "sqlite" else 1
        self._in_flight: set[asyncio.Task[None]] = set()
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None
        self._closed = False
        self.batches = 0
        self.operations = 0

    @property
    def available(self) -> bool:
        """False while the database is known to be unreachable (the breaker is open)."""
        return self._outage is None

    def unavailable(self, exc: BaseException) -> bool:
        """Whether `exc`, raised by anything that used the database, means it cannot be
        reached (see `is_unavailable`); if so, the breaker opens (when it is not yet)."""
        if not is_unavailable(exc):
            return False
        self._trip(exc)
        return True

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
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
            self._probe_task = None
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception:
                log.debug("closing the writer's connection failed", exc_info=True)
            self._connection = None
        event.remove(self._engine.sync_engine, "do_connect", self._gate)

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
                # An operation runs after the bulk inserts queued before it: those of its own
                # batch are started first (and drained with the rest); the ones queued after
                # the batch's last operation go after it, without waiting.
                last_op = max((i for i, job in enumerate(batch) if job.op is not None),
                              default=-1)
                before = [job for job in batch[:last_op] if job.bulk is not None]
                ops = [job for job in batch if job.op is not None]
                after = [job for job in batch[last_op + 1:] if job.bulk is not None]
                if before:
                    await self._dispatch(before)
                if ops:
                    await self._drain()
                    await self._execute(ops)
                if after:
                    await self._dispatch(after)

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
        """Run jobs of one kind in one transaction; on failure, each alone - unless the
        database cannot be reached: then all fail at once (see module doc)."""
        if self._outage is not None:
            self._fail_unavailable(jobs)
            return
        try:
            results = await self._attempt(jobs)
        except Exception as exc:
            if self.unavailable(exc):
                self._fail_unavailable(jobs)
                return
            if len(jobs) == 1:
                log.exception("storage operation %s failed", jobs[0].label or "?")
                _fail(jobs[0], exc)
                return
            log.warning("batch of %d failed; retrying one by one", len(jobs))
            for index, job in enumerate(jobs):
                if self._outage is not None:
                    self._fail_unavailable(jobs[index:])
                    return
                try:
                    (result,) = await self._attempt([job])
                except Exception as single_exc:
                    if self.unavailable(single_exc):
                        self._fail_unavailable(jobs[index:])
                        return
                    log.exception("storage operation %s failed", job.label or "?")
                    _fail(job, single_exc)
                else:
                    _resolve(job, result)
            return
        for job, result in zip(jobs, results, strict=True):
            _resolve(job, result)

    async def _attempt(self, jobs: list[_Job]) -> list[Any]:
        """One transaction; if the connection it reused died under it (the database
        restarted, the link dropped: not a timeout), once more on a fresh connection."""
        reused = self._connection is not None
        try:
            return await self._transaction(jobs)
        except Exception as exc:
            await self._after_error(jobs)
            if not (reused and is_unavailable(exc) and not timed_out(exc)):
                raise
            log.warning("storage connection lost (%s); retrying %d job(s) on a fresh one",
                        describe_error(exc), len(jobs))
        try:
            return await self._transaction(jobs)
        except Exception:
            await self._after_error(jobs)
            raise

    # -- the circuit breaker ---------------------------------------------------------------

    def _trip(self, exc: BaseException) -> None:
        """Open the breaker (once per outage) and start probing."""
        if self._outage is not None or self._closed:
            return
        self._outage = _Outage(asyncio.get_running_loop().time(), describe_error(exc))
        log.error("storage unavailable (%s): writes fail at once until a probe, every "
                  "%.1f s, reaches the database", self._outage.cause, self._probe_interval)
        self._probe_task = asyncio.create_task(self._probe(), name="batch-writer-probe")

    def _fail_unavailable(self, jobs: list[_Job]) -> None:
        outage = self._outage
        cause = outage.cause if outage is not None else ""
        for job in jobs:
            if outage is not None:
                outage.failed += 1
                outage.dropped += job.future is None
            _fail(job, StorageUnavailableError(cause))

    def _gate(self, _dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        """The engine's `do_connect` hook: while the breaker is open, a new connection
        fails at once instead of waiting for a connect timeout (the probe's goes through)."""
        if self._outage is not None and not _PROBING.get():
            raise StorageUnavailableError(self._outage.cause)

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while (outage := self._outage) is not None and not self._closed:
            started = loop.time()
            outage.probes += 1
            try:
                connection = await self._probe_once()
            except Exception as exc:
                outage.cause = describe_error(exc)
                log.debug("storage probe %d failed: %s", outage.probes, outage.cause)
                await asyncio.sleep(max(0.0, self._probe_interval - (loop.time() - started)))
                continue
            if self._connection is None:
                self._connection = connection
            else:
                await connection.close()
            self._outage = None
            log.warning("storage available again after %.1f s (%d writes failed meanwhile, "
                        "%d of them best-effort records)", loop.time() - outage.since,
                        outage.failed, outage.dropped)
        self._probe_task = None

    async def _probe_once(self) -> AsyncConnection:
        _PROBING.set(True)  # the probe task's own context
        async with asyncio.timeout(self._probe_timeout):
            connection = await self._engine.connect()
        try:
            async with asyncio.timeout(self._probe_timeout):
                await connection.exec_driver_sql("SELECT 1")
                await connection.rollback()
        except BaseException:
            try:
                await connection.invalidate()
                await connection.close()
            except Exception:
                log.debug("closing a failed probe connection failed", exc_info=True)
            raise
        return connection

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

"""The writer against a PostgreSQL it loses and gets back (through a proxy this test
controls; the real server is shared and never touched).

A dead database fails a batch at once (no one-by-one retries, each waiting for a connect
timeout), later jobs and new connections fail fast while a probe waits for it, and the
writer recovers by itself; a restart (every connection reset, the server back at once)
costs nobody an error.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import SystemClock
from evcsms.domain.model import Direction
from evcsms.services.messagelog import MessageLog
from evcsms.services.presence import Presence
from evcsms.storage import tables as t
from evcsms.storage.database import create_engine
from evcsms.storage.outage import StorageUnavailableError, is_unavailable
from evcsms.storage.writer import BatchWriter
from tests.conftest import PG_URL, _truncate
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TIMEOUT = 1.0  # EVCSMS_STORAGE_TIMEOUT of these tests


def station(station_id: str):  # an operation inserting one station row
    async def op(conn: AsyncConnection) -> str:
        await conn.execute(t.table_of(t.Station).insert().values(
            id=station_id, registration="Accepted", created_at=NOW, updated_at=NOW))
        return station_id
    return op


@pytest.fixture
async def proxied(pg_schema: str) -> AsyncIterator[tuple[TcpProxy, AsyncEngine, BatchWriter]]:
    await _truncate(PG_URL, pg_schema)
    proxy = TcpProxy("127.0.0.1", 5432)
    port = await proxy.start()
    engine = create_engine(PG_URL.replace(":5432/", f":{port}/"), schema=pg_schema,
                           timeout=TIMEOUT)
    writer = BatchWriter(engine, probe_interval=0.2)
    await writer.start()
    try:
        yield proxy, engine, writer
    finally:
        await proxy.restore()
        await writer.close()
        await engine.dispose()
        await proxy.close()


async def stations(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.scalars(select(t.Station.id))).all())


async def until_available(writer: BatchWriter, within: float) -> float:
    started = time.monotonic()
    while not writer.available:
        assert time.monotonic() - started < within, "the writer did not recover"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_an_unreachable_database_fails_a_batch_at_once_and_recovers(
        proxied: tuple[TcpProxy, AsyncEngine, BatchWriter], mode: str) -> None:
    proxy, engine, writer = proxied
    await writer.submit(station("before"))
    await proxy.cut(mode)  # type: ignore[arg-type]

    # one batch of 50: all fail together, within one connect timeout (not 50 of them)
    started = time.monotonic()
    batch = [writer.enqueue(station(f"lost-{n}")) for n in range(50)]
    results = await asyncio.gather(*batch, return_exceptions=True)
    first = time.monotonic() - started
    assert all(isinstance(r, StorageUnavailableError) for r in results), results[:3]
    assert first < TIMEOUT * 2 + 0.5, first
    assert not writer.available and "storage unavailable" in str(results[0])

    # while it is down, every write and every new connection fails fast
    for n in range(5):
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError):
            await writer.submit(station(f"fast-{n}"))
        assert time.monotonic() - started < 0.1
    started = time.monotonic()
    with pytest.raises(Exception) as read:  # noqa: PT011 - whatever the pool raises
        async with engine.connect() as conn:
            await conn.execute(select(1))
    assert is_unavailable(read.value) and time.monotonic() - started < 0.2
    writer.submit_nowait(station("best-effort"))  # dropped, never raises

    await proxy.restore()
    recovered = await until_available(writer, within=TIMEOUT * 2 + 1.0)
    assert await writer.submit(station("after")) == "after"
    assert await stations(engine) == {"before", "after"}
    print(f"{mode}: batch failed in {first:.3f} s, recovered {recovered:.3f} s after restore")


async def test_a_restart_resets_connections_and_nobody_sees_an_error(
        proxied: tuple[TcpProxy, AsyncEngine, BatchWriter]) -> None:
    proxy, engine, writer = proxied
    await writer.submit(station("s0"))
    for n in range(1, 4):
        proxy.drop_connections()  # the writer's connection dies under it
        assert await writer.submit(station(f"s{n}")) == f"s{n}"  # a fresh one, no error
    assert writer.available
    assert await stations(engine) == {"s0", "s1", "s2", "s3"}


async def test_ordinary_errors_are_still_isolated_one_by_one(
        proxied: tuple[TcpProxy, AsyncEngine, BatchWriter]) -> None:
    _, engine, writer = proxied
    await writer.submit(station("dup"))
    jobs = [writer.enqueue(station("a")), writer.enqueue(station("dup")),
            writer.enqueue(station("b"))]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], IntegrityError) and not is_unavailable(results[1])
    assert writer.available
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(t.Station)) == 3


async def test_a_failed_read_opens_the_breaker_and_a_probe_closes_it(
        proxied: tuple[TcpProxy, AsyncEngine, BatchWriter]) -> None:
    proxy, engine, writer = proxied
    await proxy.cut("refuse")
    try:
        async with engine.connect() as conn:
            await conn.execute(select(1))
    except Exception as exc:  # noqa: BLE001
        assert writer.unavailable(exc)  # classified, and the breaker opens
    assert not writer.available
    assert not writer.unavailable(ValueError(f"not storage {uuid.uuid4()}"))
    await proxy.restore()
    await until_available(writer, within=2.0)


async def test_best_effort_records_wait_out_an_outage_within_bounds(
        proxied: tuple[TcpProxy, AsyncEngine, BatchWriter]) -> None:
    """The message log never raises, keeps at most `max_buffered` rows (dropping the
    oldest, counted) and writes what it kept once the database is back; presence keeps
    last-seen times it could not write."""
    proxy, engine, writer = proxied
    await writer.submit(station("P1"))
    messages = MessageLog(engine, writer, SystemClock(), max_buffered=50)
    presence = Presence(writer, SystemClock())
    await proxy.cut("refuse")
    presence.touch("P1")
    with pytest.raises(StorageUnavailableError):
        await presence.flush()
    for n in range(80):
        messages.record("P1", Direction.IN, f"frame {n}")
        await asyncio.sleep(0)  # let the writer fail each flush
    assert messages.dropped == 30
    await proxy.restore()
    await until_available(writer, within=2.0)
    assert await presence.flush() == 1  # kept, written now
    messages.record("P1", Direction.IN, "frame 80")  # the next frame flushes the buffer
    await writer.barrier()
    async with engine.connect() as conn:
        frames = (await conn.scalars(select(t.MessageLogEntry.frame)
                                     .order_by(t.MessageLogEntry.id))).all()
        seen = await conn.scalar(select(t.Station.last_seen_at).where(t.Station.id == "P1"))
    assert frames == [f"frame {n}" for n in range(31, 81)]  # the newest 50, in order
    assert seen is not None

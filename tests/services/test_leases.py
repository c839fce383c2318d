"""Cluster singletons under leases: one node runs each; another takes over when it stops
or loses its database connection; clusters in other schemas are apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.services.leases import Leases, lease_key
from evcsms.storage.database import create_engine
from tests.conftest import PG_URL


class Job:
    """A singleton that records how often it was started and stopped."""

    def __init__(self, fail_starts: int = 0) -> None:
        self.running = False
        self.starts = 0
        self.stops = 0
        self.fail_starts = fail_starts

    async def start(self) -> None:
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("cannot start")
        self.running = True
        self.starts += 1

    async def close(self) -> None:
        self.running = False
        self.stops += 1


async def test_sqlite_node_runs_every_singleton(tmp_path: object) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/l.db")
    leases = Leases(engine)
    a, b = Job(), Job()
    leases.add("a", a)
    leases.add("b", b)
    await leases.start()
    assert leases.held == ["a", "b"] and a.running and b.running
    await leases.close()
    assert leases.held == [] and not a.running and a.stops == 1
    await engine.dispose()


def test_a_name_is_added_once(tmp_path: object) -> None:
    leases = Leases(create_engine(f"sqlite+aiosqlite:///{tmp_path}/l.db"))
    leases.add("a", Job())
    with pytest.raises(ValueError, match="twice"):
        leases.add("a", Job())


def test_keys_differ_by_schema_and_name() -> None:
    keys = {lease_key(None, "load"), lease_key("s1", "load"), lease_key("s2", "load"),
            lease_key("s1", "cdrs")}
    assert len(keys) == 4
    assert lease_key("s1", "load") == lease_key("s1", "load")
    assert all(-(2**63) <= k < 2**63 for k in keys)


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
async def engines(pg_schema: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    one = create_engine(PG_URL, schema=pg_schema, timeout=5)
    two = create_engine(PG_URL, schema=pg_schema, timeout=5)
    yield one, two
    await one.dispose()
    await two.dispose()


def node(engine: AsyncEngine, schema: str, interval: float = 0.1) -> tuple[Leases, Job, Job]:
    leases = Leases(engine, schema=schema, interval=interval)
    load, cdrs = Job(), Job()
    leases.add("load", load)
    leases.add("cdrs", cdrs)
    return leases, load, cdrs


async def until(condition: object, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_one_node_runs_each_singleton_and_the_other_takes_over_when_it_stops(
        engines: tuple[AsyncEngine, AsyncEngine], pg_schema: str) -> None:
    first, load1, cdrs1 = node(engines[0], pg_schema)
    second, load2, cdrs2 = node(engines[1], pg_schema)
    await first.start()
    await second.start()
    try:
        assert first.held == ["cdrs", "load"] and load1.running and cdrs1.running
        await asyncio.sleep(0.3)  # several rounds: the second node still takes nothing
        assert second.held == [] and load2.starts == 0 and cdrs2.starts == 0

        await first.close()  # a node stopping gives its leases back
        assert not load1.running and not cdrs1.running
        await until(lambda: second.held == ["cdrs", "load"])
        assert load2.running and cdrs2.running and load2.starts == 1
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_a_node_that_loses_its_database_session_stops_its_singletons(
        engines: tuple[AsyncEngine, AsyncEngine], pg_schema: str) -> None:
    """PostgreSQL ends the first node's session (as when its process dies or its link
    breaks): the locks go with it, the first node notices on its next check and stops
    running them, and the second node takes them over."""
    first, load1, _ = node(engines[0], pg_schema)
    second, load2, _ = node(engines[1], pg_schema)
    await first.start()
    await second.start()
    try:
        assert first.held == ["cdrs", "load"]
        key = lease_key(pg_schema, "load")
        classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        async with engines[1].connect() as conn:
            pid = await conn.scalar(text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :c "
                "AND objid = :o AND objsubid = 1"), {"c": classid, "o": objid})
            assert pid is not None
            await conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await until(lambda: second.held == ["cdrs", "load"])
        await until(lambda: not load1.running)
        assert load2.running and first.held == []
        # the first node reconnects but finds the leases taken: it stays a standby
        await asyncio.sleep(0.4)
        assert first.held == [] and load1.starts == 1
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_clusters_in_other_schemas_keep_their_own_leases(
        engines: tuple[AsyncEngine, AsyncEngine], pg_schema: str) -> None:
    here, load_here, _ = node(engines[0], pg_schema)
    elsewhere, load_elsewhere, _ = node(engines[1], pg_schema + "_other")
    await here.start()
    await elsewhere.start()
    try:
        assert here.held == elsewhere.held == ["cdrs", "load"]
        assert load_here.running and load_elsewhere.running
    finally:
        await here.close()
        await elsewhere.close()


@pytest.mark.postgres
async def test_a_singleton_that_fails_to_start_gives_its_lease_back_and_is_tried_again(
        engines: tuple[AsyncEngine, AsyncEngine], pg_schema: str) -> None:
    leases = Leases(engines[0], schema=pg_schema, interval=0.1)
    flaky = Job(fail_starts=2)
    leases.add("flaky", flaky)
    await leases.start()
    try:
        assert leases.held == []
        await until(lambda: leases.held == ["flaky"])
        assert flaky.running and flaky.starts == 1 and flaky.stops == 2  # cleaned up twice
    finally:
        await leases.close()

"""Cluster singletons: work that must run on exactly one node of a cluster at a time.

Load management, CDR issuing, the diagnostics sweep, webhook delivery, running-cost
pushes, firmware tracking and the reservation sweep each react to every event of the
fleet; on three nodes they would run three times (three webhooks per event, three
allocations racing per site). Each is a *singleton*: a service with `start()` and
`close()` that one node runs under a **lease**.

On PostgreSQL a lease is a session-level advisory lock (`pg_try_advisory_lock`) held on
one dedicated connection per node. Every `interval` seconds the node checks that
connection (`SELECT 1`) and tries to take the leases it does not hold; a lease it takes
starts its service there. When a node dies, PostgreSQL ends its session and so releases
its locks (at once when the process is killed, since the kernel closes its socket; within
the TCP keepalive set here when its host vanishes), and another node takes them on its
next check. When a node loses its connection, it stops every singleton it ran before
anyone else can take the lease over for long: the check fails within `interval` plus the
storage timeout. The overlap this allows is short and harmless: every singleton's work
is idempotent (incident keys, one CDR per session, profiles re-sent as a whole).

Locks are keyed by the database schema as well as the name, so clusters (or tests) that
share one PostgreSQL database in different schemas do not take each other's leases.

The embedded SQLite is one node: every lease is held from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# PostgreSQL notices a vanished peer after idle + interval * count seconds of silence
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


class Singleton(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...


@dataclass
class _Lease:
    name: str
    key: int
    service: Singleton
    held: bool = False


def lease_key(schema: str | None, name: str) -> int:
    """The advisory-lock key of lease `name` in `schema` (a signed 64-bit integer)."""
    digest = hashlib.blake2b(f"evcsms-lease:{schema or ''}:{name}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class Leases:
    """The singletons of one node and the leases under which it runs them."""

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None,
                 interval: float = 2.0) -> None:
        self._engine = engine
        self._schema = schema
        self._interval = interval
        self._leases: dict[str, _Lease] = {}
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._failing = False  # the last check could not reach the database
        self.shared = engine.dialect.name == "postgresql"

    def add(self, name: str, service: Singleton) -> None:
        if name in self._leases:
            raise ValueError(f"lease {name!r} is added twice")
        self._leases[name] = _Lease(name, lease_key(self._schema, name), service)

    @property
    def held(self) -> list[str]:
        """The singletons this node runs now."""
        return sorted(lease.name for lease in self._leases.values() if lease.held)

    async def start(self) -> None:
        """Take what can be taken now, then keep checking every `interval` seconds."""
        await self.check()
        if self.shared and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="leases")

    async def close(self) -> None:
        """Stop every singleton this node runs and give its leases back."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        async with self._lock:
            await self._lose_all("node stopping", release=True)
            await self._drop_connection()

    async def check(self) -> None:
        """One round: confirm the leases held, take those free (and start their services)."""
        async with self._lock:
            if not self.shared:
                for lease in self._leases.values():
                    if not lease.held:
                        await self._won(lease)
                return
            try:
                conn = await self._connection()
                await conn.scalar(text("SELECT 1"))
            except Exception as exc:  # the database is unreachable: we may hold nothing
                if not self._failing:
                    log.warning("lease connection failed (%s); this node runs no singletons "
                                "until it is back", type(exc).__name__)
                self._failing = True
                await self._lose_all("lease connection lost", release=False)
                await self._drop_connection()
                return
            if self._failing:
                log.info("lease connection is back")
                self._failing = False
            for lease in self._leases.values():
                if lease.held:
                    continue
                try:
                    taken = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                                                   {"k": lease.key}))
                except Exception:
                    log.warning("taking lease %s failed", lease.name, exc_info=True)
                    await self._lose_all("lease connection lost", release=False)
                    await self._drop_connection()
                    return
                if taken:
                    await self._won(lease)

    # -- internals --------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                log.exception("lease check failed")

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for setting, value in KEEPALIVE.items():
                    await conn.execute(text(f"SET {setting} = {int(value)}"))
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.invalidate()  # never back to the pool: it may still hold locks
        with contextlib.suppress(Exception):
            await conn.close()

    async def _won(self, lease: _Lease) -> None:
        try:
            await lease.service.start()
        except Exception:
            log.exception("singleton %s failed to start; its lease is given back", lease.name)
            with contextlib.suppress(Exception):
                await lease.service.close()
            await self._release(lease)
            return
        lease.held = True
        log.info("this node now runs %s", lease.name)

    async def _lose_all(self, why: str, *, release: bool) -> None:
        for lease in self._leases.values():
            if not lease.held:
                continue
            lease.held = False
            try:
                await lease.service.close()
            except Exception:
                log.exception("singleton %s failed to stop", lease.name)
            if release:
                await self._release(lease)
            log.info("this node no longer runs %s (%s)", lease.name, why)

    async def _release(self, lease: _Lease) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            await self._conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": lease.key})

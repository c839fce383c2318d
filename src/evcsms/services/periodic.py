"""Background work of a service: a loop that runs every `interval` seconds until closed
(`Periodic`), bus subscriptions whose handlers take the message (`Listeners`), and keys
from many events handled in batches by one task (`Coalescer`).

Errors are logged, never fatal: one failed round or message must not stop the next.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from evcsms.bus.base import Bus, Subscription

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[Any]]) -> None:
        self._name = name
        self._interval = interval
        self._work = work
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (once; an interval of 0 or less means never)."""
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self._name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._work()
            except Exception:
                log.exception("%s failed", self._name)


class Coalescer:
    """Keys (station ids) from many events, handled `max_batch` at a time by one task.

    A reconnection storm publishes one event per station. Handled one task per event, with a
    few queries each, a thousand stations booting meant a thousand tasks queueing for 15
    pooled connections, SQLite connections opened and closed ~40 times a second, and the
    checks trailing the storm by ~25 s. Here the storm costs a few queries per batch. A
    key added again while it waits is handled once; one added while its batch runs is
    handled again in a later batch (the check reads what is stored by then).
    """

    def __init__(self, name: str, handle: Callable[[list[str]], Awaitable[None]], *,
                 max_batch: int = 500) -> None:
        self._name = name
        self._handle = handle
        self._max_batch = max_batch
        self._pending: dict[str, None] = {}  # an ordered set
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def add(self, key: str) -> None:
        self._pending[key] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self._name)

    async def idle(self) -> None:
        """Return once every key added so far is handled."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._pending.clear()

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the rest of a burst arrive
        while self._pending:
            batch = list(itertools.islice(self._pending, self._max_batch))
            for key in batch:
                del self._pending[key]
            self.batches += 1
            try:
                await self._handle(batch)
            except Exception:
                log.exception("%s failed for %d keys", self._name, len(batch))


class Pacer:
    """Lets a long piece of background work share the event loop with the stations: call
    `await pacer()` often (per row, per station); it yields to the loop once `budget`
    seconds of work have passed since the last yield, and costs a clock read otherwise.

    Background work that ran 150-320 ms without yielding (the meter-value sweep decoding
    10,000 readings, then checking every EVSE) held up every station's answer on the node
    for that long: the realistic-mix benchmark's p99 was 500-1,200 ms at 1,000 stations.
    """

    def __init__(self, budget: float = 0.005) -> None:
        self.budget = budget
        self.yields = 0
        self._since = time.perf_counter()

    async def __call__(self) -> None:
        if time.perf_counter() - self._since >= self.budget:
            await asyncio.sleep(0)
            self.yields += 1
            self._since = time.perf_counter()


Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Listeners:
    """A service's bus subscriptions: each handler gets the message; what it raises is
    logged with the subject and the service's name."""

    def __init__(self, bus: Bus, name: str) -> None:
        self._bus = bus
        self._name = name
        self._subs: list[Subscription] = []

    async def start(self, handlers: list[tuple[str, Handler]]) -> None:
        for subject, handler in handlers:
            self._subs.append(await self._bus.subscribe(subject, self._guard(handler)))

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()

    def _guard(self, handler: Handler) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
        async def run(subject: str, message: dict[str, Any]) -> None:
            try:
                await handler(message)
            except Exception:
                log.exception("%s on %s failed", self._name, subject)
        return run

"""Background work of a service: a loop that runs every `interval` seconds until closed
(`Periodic`), and bus subscriptions whose handlers take the message (`Listeners`).

Errors are logged, never fatal: one failed round or message must not stop the next.
"""

from __future__ import annotations

import asyncio
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

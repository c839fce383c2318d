"""In-process bus for a single node: events and requests stay in this event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from evcsms.bus.base import (
    BusError,
    EventHandler,
    Message,
    NoRespondersError,
    RequestHandler,
    RequestTimeoutError,
    matches,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Sub:
    bus: MemoryBus
    pattern: str
    handler: EventHandler | None = None
    responder: RequestHandler | None = None
    active: bool = field(default=True)

    async def unsubscribe(self) -> None:
        self.active = False
        self.bus._drop(self)


class MemoryBus:
    def __init__(self) -> None:
        self._subs: list[_Sub] = []
        self._responders: dict[str, _Sub] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, subject: str, message: Message) -> None:
        for sub in list(self._subs):
            if sub.active and sub.handler is not None and matches(sub.pattern, subject):
                task = asyncio.create_task(self._deliver(sub.handler, subject, message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _deliver(handler: EventHandler, subject: str, message: Message) -> None:
        try:
            await handler(subject, message)
        except Exception:
            log.exception("event handler for %s failed", subject)

    async def subscribe(self, pattern: str, handler: EventHandler) -> _Sub:
        sub = _Sub(self, pattern, handler=handler)
        self._subs.append(sub)
        return sub

    async def serve(self, subject: str, handler: RequestHandler) -> _Sub:
        sub = _Sub(self, subject, responder=handler)
        self._responders[subject] = sub
        return sub

    async def request(self, subject: str, message: Message, timeout_s: float) -> Message:
        sub = self._responders.get(subject)
        if sub is None or sub.responder is None:
            raise NoRespondersError(subject)
        try:
            return await asyncio.wait_for(sub.responder(message), timeout_s)
        except TimeoutError:
            raise RequestTimeoutError(subject) from None
        except BusError:
            raise
        except Exception as exc:  # as over NATS: the requester learns the responder failed
            log.exception("request handler for %s failed", subject)
            raise BusError(f"{subject}: the responder failed: {type(exc).__name__}: {exc}") \
                from exc

    def _drop(self, sub: _Sub) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if self._responders.get(sub.pattern) is sub:
            del self._responders[sub.pattern]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._subs.clear()
        self._responders.clear()

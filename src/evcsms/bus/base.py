"""The bus interface every implementation passes one contract suite for.

Subjects are dot-separated tokens (NATS style). `*` matches one token and `>`
the rest. Station ids are escaped with `station_subject` so an id containing
dots or wildcards cannot reach another station's subject.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Message = dict[str, Any]
EventHandler = Callable[[str, Message], Awaitable[None]]
RequestHandler = Callable[[Message], Awaitable[Message]]


class BusError(Exception):
    """Base class of bus failures."""


class NoRespondersError(BusError):
    """Nobody serves the subject: for a station command, the station is offline."""


class RequestTimeoutError(BusError):
    """A responder took the request but did not answer in time."""


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class Bus(Protocol):
    async def publish(self, subject: str, message: Message) -> None:
        """Fan an event out to every subscriber of a matching pattern.

        Events are at most once and never fail their publisher: a bus that cannot take one
        drops it with a (rate-limited) warning, so a station is never told that data it
        sent failed when only the news of it did. Whatever must not be missed has a
        catch-up from the database (CDRs, the load allocation, the diagnostics sweep)."""
        ...

    async def subscribe(self, pattern: str, handler: EventHandler) -> Subscription: ...

    async def serve(self, subject: str, handler: RequestHandler) -> Subscription:
        """Answer requests on `subject` (one responder per subject is expected)."""
        ...

    async def request(self, subject: str, message: Message, timeout_s: float) -> Message:
        """Send a request and wait up to `timeout_s` seconds for the responder's answer."""
        ...

    async def close(self) -> None: ...


_UNSAFE = {".": "%2E", "*": "%2A", ">": "%3E", " ": "%20", "%": "%25"}


def escape_token(value: str) -> str:
    """Make `value` one safe subject token (reversible percent-escaping)."""
    return "".join(_UNSAFE.get(ch, ch) if ch in _UNSAFE or ch.isspace() else ch for ch in value)


def station_subject(station_id: str, suffix: str) -> str:
    return f"station.{escape_token(station_id)}.{suffix}"


def matches(pattern: str, subject: str) -> bool:
    """NATS-style wildcard match."""
    want = pattern.split(".")
    have = subject.split(".")
    for index, part in enumerate(want):
        if part == ">":
            return len(have) > index
        if index >= len(have) or (part != "*" and part != have[index]):
            return False
    return len(want) == len(have)

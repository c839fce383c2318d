"""The bus between nodes, on a NATS server (core NATS: subjects, request/reply).

Messages travel as JSON (orjson): what goes on the bus is JSON-able (the in-process bus
passes the objects themselves, so keep to plain values there too). Wildcards and
subjects are NATS's own, which `bus.base.matches` mirrors for the in-process bus.

Requests: a responder's answer comes back as `{"ok": answer}`; a responder that raises
answers `{"error": text}`, which the requester gets as `BusError` (never a silent
timeout). No responder is `NoRespondersError` at once (NATS 2.2+ "no responders"
status); a slow one is `RequestTimeoutError`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import nats
import nats.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from evcsms.bus.base import (
    BusError,
    EventHandler,
    Message,
    NoRespondersError,
    RequestHandler,
    RequestTimeoutError,
)

log = logging.getLogger(__name__)


class _Sub:
    def __init__(self, sub: Any) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        # the connection or the subscription may be gone already
        with contextlib.suppress(nats.errors.ConnectionClosedError,
                                 nats.errors.BadSubscriptionError):
            await self._sub.unsubscribe()


class NatsBus:
    def __init__(self, client: Client) -> None:
        self._nc = client

    @classmethod
    async def connect(cls, url: str, *, name: str = "evcsms") -> NatsBus:
        """Connect (retrying while the server restarts: commands fail clearly meanwhile)."""
        client = await nats.connect(
            url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
            connect_timeout=5, allow_reconnect=True,
        )
        return cls(client)

    async def publish(self, subject: str, message: Message) -> None:
        await self._nc.publish(subject, orjson.dumps(message))

    async def subscribe(self, pattern: str, handler: EventHandler) -> _Sub:
        async def deliver(msg: Msg) -> None:
            try:
                await handler(msg.subject, orjson.loads(msg.data))
            except Exception:
                log.exception("event handler for %s failed", msg.subject)

        return _Sub(await self._nc.subscribe(pattern, cb=deliver))

    async def serve(self, subject: str, handler: RequestHandler) -> _Sub:
        async def answer(msg: Msg) -> None:
            try:
                reply: dict[str, Any] = {"ok": await handler(orjson.loads(msg.data))}
            except Exception as exc:
                log.exception("request handler for %s failed", subject)
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            await msg.respond(orjson.dumps(reply))

        return _Sub(await self._nc.subscribe(subject, cb=answer))

    async def request(self, subject: str, message: Message, timeout_s: float) -> Message:
        try:
            msg = await self._nc.request(subject, orjson.dumps(message), timeout=timeout_s)
        except nats.errors.NoRespondersError:
            raise NoRespondersError(subject) from None
        except nats.errors.TimeoutError:
            raise RequestTimeoutError(subject) from None
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                nats.errors.OutboundBufferLimitError) as exc:
            raise BusError(f"bus unavailable: {type(exc).__name__}") from None
        reply = orjson.loads(msg.data)
        if "error" in reply:
            raise BusError(f"{subject}: the responder failed: {reply['error']}")
        answer: Message = reply["ok"]
        return answer

    async def close(self) -> None:
        if not self._nc.is_closed:
            try:
                await self._nc.drain()
            except (nats.errors.ConnectionClosedError, nats.errors.FlushTimeoutError):
                await self._nc.close()

"""The bus between nodes, on a NATS server (core NATS: subjects, request/reply).

Messages travel as JSON (orjson): what goes on the bus is JSON-able (the in-process bus
passes the objects themselves, so keep to plain values there too). Wildcards and
subjects are NATS's own, which `bus.base.matches` mirrors for the in-process bus.

Requests: a responder's answer comes back as `{"ok": answer}`; a responder that raises
answers `{"error": text}`, which the requester gets as `BusError` (never a silent
timeout). No responder is `NoRespondersError` at once (NATS 2.2+ "no responders"
status); a slow one is `RequestTimeoutError`.

Losing the server (it restarts, the link drops): the client reconnects for ever, every
0.5 s, and then replays every subscription, so event handlers and `serve` responders work
again without anyone re-subscribing. Meanwhile a request fails at once with
`BusUnavailableError` ("message bus unavailable"), and so does a request in flight when
the connection drops, instead of waiting for its timeout; events published meanwhile are
buffered by the client (up to its pending size) and sent after the reconnect.

Memory: a node serves one subject per connected station (`station.<id>.command`), so a
responder must cost little while it waits. A nats-py subscription with a callback costs a
task and an asyncio.Queue each, ~4.8 KB at rest (10,000 subscriptions: +47 MB RSS); `serve`
subscriptions instead hand each request straight to a task of its own (`_Answering`), ~0.4 KB
at rest. The server still sees one subscription per station, so a request for a station no
node holds gets "no responders" at once. Requests to one subject are answered concurrently,
as on the in-process bus (a station's session takes its commands one at a time itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
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

BUS_UNAVAILABLE = "message bus unavailable"
WARN_EVERY = 10.0  # seconds between two warnings about the same trouble


class BusUnavailableError(BusError):
    """The NATS server cannot be reached (yet): nothing was sent."""


class _Sub:
    def __init__(self, sub: Any) -> None:
        self._sub = sub

    async def unsubscribe(self) -> None:
        # the connection or the subscription may be gone already
        with contextlib.suppress(nats.errors.ConnectionClosedError,
                                 nats.errors.BadSubscriptionError):
            await self._sub.unsubscribe()


class _Answering:
    """Takes the place of a nats-py subscription's pending queue for a `serve` subject: the
    client's reader hands each request here (`put_nowait`), and it is answered by a task of
    its own at once, instead of through a queue read by a task per subscription.

    nats-py's side of it (2.9 to 2.16): its reader calls `_pending_queue.put_nowait(msg)` after
    adding the payload to `_pending_size` (which the queue's reader takes off again); draining
    awaits `_pending_queue.join()`; `pending_msgs` is `qsize()`."""

    __slots__ = ("_answer", "_sub", "_bus")

    def __init__(self, bus: NatsBus, sub: Any,
                 answer: Callable[[Msg], Coroutine[Any, Any, None]]) -> None:
        self._bus = bus
        self._sub = sub
        self._answer = answer

    def put_nowait(self, msg: Msg) -> None:
        self._sub._pending_size -= len(msg.data)
        self._bus._start_answer(self._answer(msg))

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    async def join(self) -> None:
        await self._bus._answers_sent()


def _lean(sub: Any) -> bool:
    """Whether `sub` is a nats-py subscription `_Answering` knows how to stand in for."""
    return (isinstance(getattr(sub, "_pending_queue", None), asyncio.Queue)
            and isinstance(getattr(sub, "_pending_size", None), int)
            and hasattr(sub, "_message_iterator") and hasattr(sub, "_stop_processing"))


class NatsBus:
    """`prefix` is the cluster's namespace on the server: every subject is sent as
    `<prefix>.<subject>` and handed back without it, so clusters (or test runs) sharing
    one NATS server never hear each other's events nor serve each other's stations."""

    def __init__(self, client: Client, *, prefix: str = "") -> None:
        self._nc = client
        self._prefix = f"{prefix}." if prefix else ""
        self._lost: asyncio.Future[None] | None = None  # done when the connection drops
        self._down_since: float | None = None
        self._warned_at = 0.0
        self.dropped_events = 0
        self._dropped_warned_at = -WARN_EVERY
        self._answering: set[asyncio.Task[None]] = set()  # requests being answered

    @classmethod
    async def connect(cls, url: str, *, name: str = "evcsms",
                      reconnect_wait: float = 0.5, prefix: str = "") -> NatsBus:
        """Connect (retrying while the server restarts: commands fail clearly meanwhile)."""
        client = Client()
        bus = cls(client, prefix=prefix)
        options: dict[str, Any] = {
            "name": name, "max_reconnect_attempts": -1, "reconnect_time_wait": reconnect_wait,
            "connect_timeout": 5, "allow_reconnect": True,
            "disconnected_cb": bus._disconnected, "reconnected_cb": bus._reconnected,
            "error_cb": bus._error, "closed_cb": bus._closed,
        }
        await client.connect(url, **options)
        return bus

    @property
    def available(self) -> bool:
        """Connected to the server now (False while reconnecting or closed)."""
        return bool(self._nc.is_connected)

    async def publish(self, subject: str, message: Message) -> None:
        """Send an event; one the client cannot take (closed, draining, its reconnect buffer
        full) is dropped, counted and logged at most every 10 s (see `Bus.publish`)."""
        try:
            await self._nc.publish(self._prefix + subject, orjson.dumps(message))
        except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError,
                nats.errors.ConnectionDrainingError) as exc:
            self.dropped_events += 1
            now = time.monotonic()
            if now - self._dropped_warned_at >= WARN_EVERY:
                self._dropped_warned_at = now
                log.warning("%s: event %s dropped (%s); %d dropped so far", BUS_UNAVAILABLE,
                            subject, type(exc).__name__, self.dropped_events)

    async def subscribe(self, pattern: str, handler: EventHandler) -> _Sub:
        async def deliver(msg: Msg) -> None:
            try:
                await handler(msg.subject[cut:], orjson.loads(msg.data))
            except Exception:
                log.exception("event handler for %s failed", msg.subject)

        cut = len(self._prefix)
        return _Sub(await self._nc.subscribe(self._prefix + pattern, cb=deliver))

    async def serve(self, subject: str, handler: RequestHandler) -> _Sub:
        async def answer(msg: Msg) -> None:
            try:
                reply: dict[str, Any] = {"ok": await handler(orjson.loads(msg.data))}
            except Exception as exc:
                log.exception("request handler for %s failed", subject)
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            try:
                await msg.respond(orjson.dumps(reply))
            except Exception as exc:  # closed, reconnect buffer full: as nats-py reports it
                await self._error(exc)

        sub: Any = await self._nc.subscribe(self._prefix + subject)  # no callback: no task
        if not _lean(sub):  # a nats-py this was not written for: its own way, a task each
            await sub.unsubscribe()
            return _Sub(await self._nc.subscribe(self._prefix + subject, cb=answer))
        queue: asyncio.Queue[Msg] = sub._pending_queue
        sub._message_iterator = None  # nobody iterates; frees the queue it would read
        sub._pending_queue = answering = _Answering(self, sub, answer)
        while not queue.empty():  # a request that came while subscribing
            answering.put_nowait(queue.get_nowait())
        return _Sub(sub)

    def _start_answer(self, answering: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(answering)
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answers_sent(self) -> None:
        """Until every request taken so far is answered (the client is draining)."""
        while self._answering:
            await asyncio.gather(*self._answering, return_exceptions=True)

    async def request(self, subject: str, message: Message, timeout_s: float) -> Message:
        if not self._nc.is_connected:
            state = "closed" if self._nc.is_closed else "reconnecting"
            raise BusUnavailableError(f"{BUS_UNAVAILABLE} (not connected to NATS: {state})")
        lost = self._lost_signal()
        sending: asyncio.Future[Msg] = asyncio.ensure_future(
            self._nc.request(self._prefix + subject, orjson.dumps(message), timeout=timeout_s))
        either: list[asyncio.Future[Any]] = [sending, lost]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)
        if sending.cancelled():  # the connection dropped first; the answer cannot come
            raise BusUnavailableError(
                f"{BUS_UNAVAILABLE} (the connection to NATS dropped during the request)")
        try:
            msg = sending.result()
        except nats.errors.NoRespondersError:
            raise NoRespondersError(subject) from None
        except nats.errors.TimeoutError:
            raise RequestTimeoutError(subject) from None
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
                nats.errors.OutboundBufferLimitError, nats.errors.ConnectionDrainingError) as exc:
            raise BusUnavailableError(f"{BUS_UNAVAILABLE} ({type(exc).__name__})") from None
        reply = orjson.loads(msg.data)
        if "error" in reply:
            raise BusError(f"{subject}: the responder failed: {reply['error']}")
        answer: Message = reply["ok"]
        return answer

    async def close(self) -> None:
        if not self._nc.is_closed:
            try:
                await self._nc.drain()
            except (TimeoutError, nats.errors.Error):  # reconnecting, closed, slow
                await self._nc.close()
        for task in list(self._answering):  # only left when draining failed or timed out
            task.cancel()
        await asyncio.gather(*self._answering, return_exceptions=True)

    # -- connection state ------------------------------------------------------------------

    def _lost_signal(self) -> asyncio.Future[None]:
        if self._lost is None or self._lost.done():
            self._lost = asyncio.get_running_loop().create_future()
        return self._lost

    async def _disconnected(self) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._down_since is None and not self._nc.is_closed:
            self._down_since = time.monotonic()
            log.warning("bus: connection to NATS lost; reconnecting (requests fail meanwhile)")

    async def _reconnected(self) -> None:
        since, self._down_since = self._down_since, None
        down = f" after {time.monotonic() - since:.1f} s" if since is not None else ""
        log.warning("bus: reconnected to NATS%s; subscriptions restored", down)

    async def _closed(self) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)

    async def _error(self, exc: Exception) -> None:
        """nats-py reports each failed reconnect attempt here: one line now and then, not a
        traceback every half second."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("bus: NATS error: %s: %s", type(exc).__name__, exc)

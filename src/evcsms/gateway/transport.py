"""uvicorn's sans-I/O WebSocket protocol, plus a ping the gateway can send and await.

ASGI has no ping frame, and uvicorn's own keepalive (a ping every 20 s, the socket closed
after 20 s without a pong) only closes a dead socket; it tells the app nothing. Before
diagnostics calls a silent station offline it asks the node holding the socket to ping
it: this protocol offers the ASGI extension `evcsms.ping` with an awaitable
`ping(timeout_s) -> round-trip seconds | None`, and `drop(reason)` to close a socket that
did not answer. Our pings carry an 8-byte payload that
uvicorn's 4-byte keepalive pings never match, so the two never take each other's pong.

It also offers `evcsms.direct`, a leaner path for the frames of an accepted connection.
Plain ASGI costs every frame an event dict, an `asyncio.Queue` round (whose `get` asks the
OS for the process id on Python 3.11), a pause and a resume of reading, and on the way out
another dict, an `Event.wait()` and uvicorn's checks. After `open()`, frames go into a
deque the gateway's reader takes from (`receive_text`, None once the connection is gone),
and `send_text` frames and writes an answer at once. Reading pauses only when
`DIRECT_BACKLOG` frames wait unread, so a station that floods is still held back by TCP.
Closing still goes through ASGI `send`. Measured in benchmarks/README.md.

Tied to uvicorn's `WebSocketsSansIOProtocol` internals (`conn`, `transport`, `scope`,
`queue`, `handle_pong`, `send_receive_event_to_app`); `tests/integration/test_ping_probe.py`
and `tests/integration/test_direct_transport.py` fail if an upgrade breaks them. On another
ASGI server the extensions are missing: diagnostics falls back to the heartbeat deadline
alone, and the gateway reads and writes through plain ASGI.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

PING_EXTENSION = "evcsms.ping"
DIRECT_EXTENSION = "evcsms.direct"
DIRECT_BACKLOG = 4  # unread frames before reading pauses
_PREFIX = b"evcs"


class _DirectQueue:
    """Stands in for uvicorn's ASGI receive queue once the direct path is open: uvicorn
    still reports a disconnect through `queue.put_nowait`, and this hands it to the reader."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: ProbingWebSocketProtocol) -> None:
        self._protocol = protocol

    def put_nowait(self, event: dict[str, Any]) -> None:
        if event["type"] == "websocket.disconnect":
            self._protocol._gone()  # noqa: SLF001


class ProbingWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._probes: dict[bytes, asyncio.Future[None]] = {}
        self._inbox: deque[str] | None = None  # None: frames go through ASGI receive
        self._reader: asyncio.Future[None] | None = None
        self._closed = False

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # None: the handshake was refused
            scope["extensions"][PING_EXTENSION] = {"ping": self.ping, "drop": self.drop}
            scope["extensions"][DIRECT_EXTENSION] = {"open": self.open_direct}

    # -- the direct path -------------------------------------------------------------------

    def open_direct(self) -> tuple[Any, Any]:
        """Switch an accepted connection to the direct path: (receive_text, send_text).
        Frames and a disconnect that reached the ASGI queue before the switch come first."""
        if not self.handshake_complete or self.initial_response is not None:
            raise RuntimeError("the direct path needs an accepted WebSocket")
        inbox: deque[str] = deque()
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if event["type"] == "websocket.receive":
                inbox.append(text_of(event))
            elif event["type"] == "websocket.disconnect":
                self._closed = True
        self._inbox = inbox
        self.queue = _DirectQueue(self)  # type: ignore[assignment]
        if self.read_paused and len(inbox) < DIRECT_BACKLOG:
            self.read_paused = False
            self.transport.resume_reading()
        return self.receive_text, self.send_text

    async def receive_text(self) -> str | None:
        """The next frame's text, or None once the connection is gone."""
        inbox = self._inbox
        assert inbox is not None, "open_direct() first"
        while not inbox:
            if self._closed:
                return None
            self._reader = self.loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        text = inbox.popleft()
        if self.read_paused and len(inbox) < DIRECT_BACKLOG and not self._closed:
            self.read_paused = False
            self.transport.resume_reading()
        return text

    async def send_text(self, text: str) -> None:
        """Frame `text` and write it; ClientDisconnected once the connection is closing."""
        if not self.writable.is_set():
            await self.writable.wait()
        if self.disconnected or self.close_sent:
            raise ClientDisconnected
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected from None
        self.transport.write(b"".join(self.conn.data_to_send()))

    def send_receive_event_to_app(self) -> None:
        inbox = self._inbox
        if inbox is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:  # as uvicorn: past our close, frames are dropped
            return
        if self.curr_msg_data_type == "text":
            try:
                inbox.append(data.decode())
            except UnicodeDecodeError:
                self.logger.info("invalid UTF-8 in a text frame; closing with 1007")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        else:
            inbox.append(data.decode("utf-8", errors="replace"))
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
        if len(inbox) >= DIRECT_BACKLOG and not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def _gone(self) -> None:
        self._closed = True
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def ping(self, timeout_s: float) -> float | None:
        """Send a ping; the round trip in seconds, or None without a pong in `timeout_s`."""
        if self.close_sent or self.transport.is_closing():
            return None
        payload = _PREFIX + os.urandom(4)
        answered: asyncio.Future[None] = self.loop.create_future()
        self._probes[payload] = answered
        sent = self.loop.time()
        self.conn.send_ping(payload)
        self.transport.write(b"".join(self.conn.data_to_send()))
        try:
            await asyncio.wait_for(answered, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._probes.pop(payload, None)
        return self.loop.time() - sent

    def drop(self, reason: str) -> None:
        """Close at once, without waiting for a closing handshake a peer that does not
        answer pings will not complete either (as uvicorn's keepalive timeout does)."""
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.fail(1011, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # uvicorn 0.54 forgets that an HTTP refusal completes the handshake and logs
            # "ASGI callable returned without completing handshake" for every one (a
            # reconnection storm's 503s would flood the log with false errors)
            self.handshake_complete = True

    def handle_pong(self, event: Any) -> None:
        answered = self._probes.get(bytes(event.data))
        if answered is None:
            super().handle_pong(event)
        elif not answered.done():
            answered.set_result(None)


def text_of(event: Any) -> str:
    """The text of an ASGI `websocket.receive` event (a binary frame decoded as UTF-8, with
    replacement characters for bad bytes)."""
    text = event.get("text")
    if text is None:
        text = (event.get("bytes") or b"").decode("utf-8", errors="replace")
    return str(text)

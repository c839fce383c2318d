"""uvicorn's sans-I/O WebSocket protocol, plus a ping the gateway can send and await.

ASGI has no ping frame, and uvicorn's own keepalive (a ping every 20 s, the socket closed
after 20 s without a pong) only closes a dead socket; it tells the app nothing. Before
diagnostics calls a silent station offline it asks the node holding the socket to ping
it: this protocol offers the ASGI extension `evcsms.ping` with an awaitable
`ping(timeout_s) -> round-trip seconds | None`, and `drop(reason)` to close a socket that
did not answer. Our pings carry an 8-byte payload that
uvicorn's 4-byte keepalive pings never match, so the two never take each other's pong.

Tied to uvicorn's `WebSocketsSansIOProtocol` internals (`conn`, `transport`, `scope`,
`handle_pong`); `tests/gateway/test_ping_probe.py` fails if an upgrade breaks them. On
another ASGI server the extension is missing and diagnostics falls back to the heartbeat
deadline alone.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

PING_EXTENSION = "evcsms.ping"
_PREFIX = b"evcs"


class ProbingWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._probes: dict[bytes, asyncio.Future[None]] = {}

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # None: the handshake was refused
            scope["extensions"][PING_EXTENSION] = {"ping": self.ping, "drop": self.drop}

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

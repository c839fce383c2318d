"""The OCPP WebSocket endpoint `/ocpp/{station_id}` as a raw ASGI app.

Handshake: pick the subprotocol in our order of preference (2.0.1, then 1.6;
none in common -> refused), authenticate (security profile 1/2: HTTP Basic
with the station id and its password, over TLS for profile 2), admit by the
unknown-station policy. Then one reader loop per connection feeds frames to
its `StationSession`.

The part of the handshake that reads the database goes through admission control
(`admission.HandshakeGate`): at most `max_handshakes` at once, `handshake_queue` more
waiting in order, the rest refused with HTTP 503 and a jittered `Retry-After`, so a
reconnection storm (every station of a dead node at once) is spread out instead of
exhausting the database pool. A database that cannot be reached is also a 503 with
`Retry-After` ("storage unavailable"), never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import random
import time
from typing import Any, NamedTuple
from urllib.parse import unquote

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from evcsms.bus.base import Message
from evcsms.domain.model import OcppVersion
from evcsms.gateway import commands
from evcsms.gateway.admission import GateFullError, HandshakeGate
from evcsms.gateway.registry import Registry
from evcsms.gateway.session import StationSession
from evcsms.gateway.transport import DIRECT_EXTENSION, PING_EXTENSION, text_of
from evcsms.protocol.context import StationContext
from evcsms.services.container import Services
from evcsms.services.stations import Admission, Handshake
from evcsms.storage.outage import StorageUnavailableError

log = logging.getLogger(__name__)

PREFERENCE = (OcppVersion.V201, OcppVersion.V16)
PREFIX = "/ocpp/"
MAX_ID = 48
# A database that cannot be reached or answer in time (the engine's storage timeout bounds
# connects and statements; the writer's breaker fails fast with StorageUnavailableError):
# the station is told to come back instead of getting a 500.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailableError, DBAPIError, PoolTimeoutError, OSError, TimeoutError)
STORAGE_RETRY = (5, 20)  # s: Retry-After range after a storage failure
WARN_EVERY = 10.0  # s between warnings about refused handshakes

Scope = dict[str, Any]


def choose_version(offered: list[str]) -> OcppVersion | None:
    for version in PREFERENCE:
        if version.subprotocol in offered:
            return version
    return None


def basic_credentials(scope: Scope) -> tuple[str, str] | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, encoded = value.decode("latin-1").partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return (user, password) if sep else None
    return None


class Refusal(NamedTuple):
    """Why a handshake is refused: HTTP status, reason, extra headers."""

    status: int
    reason: str
    headers: dict[str, str]


class _Warner:
    """At most one warning per `every` seconds for a repeated event, with how many times it
    happened since the last warning."""

    def __init__(self, every: float = WARN_EVERY) -> None:
        self.every = every
        self._last: float | None = None
        self._since = 0

    def __call__(self, message: str, *args: Any) -> None:
        self._since += 1
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every:
            return
        log.warning(message + " [%d since the last such warning]", *args, self._since)
        self._last = now
        self._since = 0


class OcppGateway:
    def __init__(
        self, services: Services, *, node: str, call_timeout: float = 30.0,
        max_handshakes: int = 64, handshake_queue: int = 1000,
    ) -> None:
        self.services = services
        self.node = node
        self.call_timeout = call_timeout
        self.registry = Registry(services.bus, self._command)
        self.admission = HandshakeGate(max_handshakes, handshake_queue)
        self.storage_refused = 0  # handshakes refused because the database was unavailable
        self._warn_full = _Warner()
        self._warn_storage = _Warner()

    def admission_stats(self) -> dict[str, Any]:
        """Handshake admission counters for operators (see `HandshakeGate.stats`)."""
        return self.admission.stats() | {"storage_refused": self.storage_refused}

    async def _command(self, session: StationSession, message: Message) -> Message:
        if message.get("probe"):
            return await commands.probe(session, float(message.get("timeout_s", 10.0)))
        return await commands.execute(session, message, self.call_timeout)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        station_id = unquote(scope["path"][len(PREFIX):])
        await receive()  # websocket.connect
        outcome = await self._handshake(scope, station_id, receive)
        if outcome is None:  # the client went away while waiting for admission
            return
        if isinstance(outcome, Refusal):
            await _deny(scope, send, *outcome)
            return
        version, admitted = outcome
        await send({"type": "websocket.accept", "subprotocol": version.subprotocol})
        extensions = scope.get("extensions", {})
        await self._run(station_id, version, admitted, receive, send,
                        extensions.get(PING_EXTENSION, {}), extensions.get(DIRECT_EXTENSION))

    async def _handshake(
        self, scope: Scope, station_id: str, receive: Any = None,
    ) -> tuple[OcppVersion, Handshake] | Refusal | None:
        if not station_id or len(station_id) > MAX_ID or "/" in station_id:
            return Refusal(404, f"station id must be 1 to {MAX_ID} characters without '/'", {})
        version = choose_version(list(scope.get("subprotocols", [])))
        if version is None:
            return Refusal(400, "no supported OCPP subprotocol offered (ocpp2.0.1, ocpp1.6)", {})
        credentials = basic_credentials(scope)
        if credentials is not None and credentials[0] != station_id:
            return Refusal(401, "Basic auth user must be the station id", _challenge())
        admitted = await self._admitted_handshake(
            station_id, credentials[1] if credentials else None, receive)
        if not isinstance(admitted, Handshake):
            return admitted
        admission = admitted.admission
        if admission is Admission.UNKNOWN:
            log.warning("refused unknown station %s", station_id)
            return Refusal(404, "unknown station", {})
        if admission is Admission.BAD_CREDENTIALS:
            log.warning("refused %s: bad or missing credentials", station_id)
            return Refusal(401, "bad or missing credentials", _challenge())
        if admission is Admission.REJECTED:
            return Refusal(403, "station rejected by the operator", {})
        return version, admitted

    async def _admitted_handshake(
        self, station_id: str, password: str | None, receive: Any,
    ) -> Handshake | Refusal | None:
        """`services.stations.handshake` in an admission slot; None if the client went away
        while waiting for one."""
        gate = self.admission
        if not gate.try_enter():
            try:
                ticket = gate.join()
            except GateFullError as full:
                self._warn_full(
                    "refusing station handshakes: %d running, %d waiting (the most this node "
                    "takes: EVCSMS_MAX_HANDSHAKES, EVCSMS_HANDSHAKE_QUEUE); stations are told "
                    "to retry", gate.active, gate.waiting)
                return Refusal(503, "too many stations connecting at once; retry later",
                               {"retry-after": str(full.retry_after)})
            try:
                present = await _wait_unless_gone(ticket, receive)
            except BaseException:
                gate.leave(ticket)
                raise
            if not present:
                gate.leave(ticket)
                log.debug("%s went away while waiting for admission", station_id)
                return None
        started = time.monotonic()
        try:
            return await self.services.stations.handshake(station_id, password)
        except STORAGE_ERRORS as exc:
            self.storage_refused += 1
            self._warn_storage("refusing station handshakes: storage unavailable (%s: %s)",
                               type(exc).__name__, _first_line(exc))
            retry = random.randint(*STORAGE_RETRY)  # noqa: S311 - jitter, not a secret
            return Refusal(503, "storage unavailable; retry later", {"retry-after": str(retry)})
        finally:
            gate.release(time.monotonic() - started)

    async def _run(
        self, station_id: str, version: OcppVersion, admitted: Handshake, receive: Any, send: Any,
        transport: dict[str, Any] | None = None, direct: dict[str, Any] | None = None,
    ) -> None:
        transport = transport or {}
        receive_text: Any
        send_text: Any
        if direct is not None:  # uvicorn with our protocol: frames without ASGI's events
            receive_text, send_text = direct["open"]()
        else:
            receive_text = functools.partial(_asgi_receive_text, receive)

            async def send_text(text: str) -> None:
                await send({"type": "websocket.send", "text": text})

        async def close() -> None:
            try:
                await send({"type": "websocket.close", "code": 1000, "reason": "replaced"})
            except Exception:  # already gone
                log.debug("close of replaced connection failed", exc_info=True)

        async def abort(reason: str) -> None:
            if "drop" in transport:
                transport["drop"](reason)
                return
            try:
                await send({"type": "websocket.close", "code": 1011, "reason": reason})
            except Exception:  # already gone
                log.debug("close of a silent connection failed", exc_info=True)

        ctx = StationContext(station_id, version, self.services)
        session = StationSession(
            ctx, send_text, registration=admitted.registration, lenient=admitted.lenient,
            ping=transport.get("ping"), abort=abort,
        )
        await self.registry.attach(session, close)
        await self.services.stations.set_connected(station_id, True, self.node)
        log.info("%s connected (OCPP %s)", station_id, version.value)
        try:
            while (text := await receive_text()) is not None:
                await session.on_text(text)
        finally:
            if await self.registry.detach(session):
                await self.services.stations.set_connected(station_id, False, self.node)
            log.info("%s disconnected", station_id)


async def _asgi_receive_text(receive: Any) -> str | None:
    """The next frame's text through plain ASGI; None once disconnected."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            return None
        if kind == "websocket.receive":
            return text_of(message)


async def _wait_unless_gone(ticket: asyncio.Future[None], receive: Any) -> bool:
    """Wait for an admission slot while watching the client: False once it disconnects
    (before the handshake is accepted, a disconnect is the only thing it can send)."""
    if receive is None:
        await ticket
        return True
    gone = asyncio.ensure_future(receive())
    try:
        await asyncio.wait((ticket, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not gone.done():
            gone.cancel()
    if gone.done() and not gone.cancelled():
        if gone.exception() is not None:
            log.debug("receive failed while waiting for admission", exc_info=gone.exception())
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _challenge() -> dict[str, str]:
    return {"www-authenticate": 'Basic realm="evcsms OCPP"'}


async def _deny(scope: Scope, send: Any, status: int, reason: str, headers: dict[str, str]) -> None:
    """Refuse the handshake with an HTTP status when the server supports it, else close."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = reason.encode()
        header_list = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
        header_list += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "websocket.http.response.start", "status": status, "headers": header_list})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": reason})

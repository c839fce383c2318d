"""The OCPP WebSocket endpoint `/ocpp/{station_id}` as a raw ASGI app.

Handshake: pick the subprotocol in our order of preference (2.0.1, then 1.6;
none in common -> refused), authenticate (security profile 1/2: HTTP Basic
with the station id and its password, over TLS for profile 2), admit by the
unknown-station policy. Then one reader loop per connection feeds frames to
its `StationSession`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, NamedTuple
from urllib.parse import unquote

from evcsms.bus.base import Message
from evcsms.domain.model import OcppVersion
from evcsms.gateway import commands
from evcsms.gateway.registry import Registry
from evcsms.gateway.session import StationSession
from evcsms.gateway.transport import PING_EXTENSION
from evcsms.protocol.context import StationContext
from evcsms.services.container import Services
from evcsms.services.stations import Admission, Handshake

log = logging.getLogger(__name__)

PREFERENCE = (OcppVersion.V201, OcppVersion.V16)
PREFIX = "/ocpp/"
MAX_ID = 48

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


class OcppGateway:
    def __init__(self, services: Services, *, node: str, call_timeout: float = 30.0) -> None:
        self.services = services
        self.node = node
        self.call_timeout = call_timeout
        self.registry = Registry(services.bus, self._command)

    async def _command(self, session: StationSession, message: Message) -> Message:
        if message.get("probe"):
            return await commands.probe(session, float(message.get("timeout_s", 10.0)))
        return await commands.execute(session, message, self.call_timeout)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        station_id = unquote(scope["path"][len(PREFIX):])
        await receive()  # websocket.connect
        outcome = await self._handshake(scope, station_id)
        if isinstance(outcome, Refusal):
            await _deny(scope, send, *outcome)
            return
        version, admitted = outcome
        await send({"type": "websocket.accept", "subprotocol": version.subprotocol})
        await self._run(station_id, version, admitted, receive, send,
                        scope.get("extensions", {}).get(PING_EXTENSION, {}))

    async def _handshake(
        self, scope: Scope, station_id: str
    ) -> tuple[OcppVersion, Handshake] | Refusal:
        if not station_id or len(station_id) > MAX_ID or "/" in station_id:
            return Refusal(404, f"station id must be 1 to {MAX_ID} characters without '/'", {})
        version = choose_version(list(scope.get("subprotocols", [])))
        if version is None:
            return Refusal(400, "no supported OCPP subprotocol offered (ocpp2.0.1, ocpp1.6)", {})
        credentials = basic_credentials(scope)
        if credentials is not None and credentials[0] != station_id:
            return Refusal(401, "Basic auth user must be the station id", _challenge())
        admitted = await self.services.stations.handshake(
            station_id, credentials[1] if credentials else None
        )
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

    async def _run(
        self, station_id: str, version: OcppVersion, admitted: Handshake, receive: Any, send: Any,
        transport: dict[str, Any] | None = None,
    ) -> None:
        transport = transport or {}

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
            await _read_loop(session, receive)
        finally:
            if await self.registry.detach(session):
                await self.services.stations.set_connected(station_id, False, self.node)
            log.info("%s disconnected", station_id)


async def _read_loop(session: StationSession, receive: Any) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.disconnect":
            return
        if kind != "websocket.receive":
            continue
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", errors="replace")
        await session.on_text(text)


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

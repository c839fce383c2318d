"""OCPP-J client connection: one websocket, CALL/CALLRESULT correlation, CSMS-initiated CALLs.

Frames are OCPP-J arrays: ``[2, id, action, payload]`` (CALL), ``[3, id, payload]``
(CALLRESULT) and ``[4, id, code, description, details]`` (CALLERROR).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

__all__ = [
    "CALL",
    "CALLERROR",
    "CALLRESULT",
    "SUBPROTOCOLS",
    "AfterReply",
    "CallErrorReceived",
    "ConnectionLost",
    "Handler",
    "JsonObject",
    "OcppClient",
    "after_reply",
    "basic_auth",
    "open_websocket",
    "refusal_delay",
    "station_ids",
    "station_url",
]

log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
SUBPROTOCOLS: Mapping[str, str] = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}

JsonObject = dict[str, Any]
Handler = Callable[[JsonObject], Awaitable[JsonObject]]
AfterReply = Callable[[], Awaitable[None]]

_after_reply: contextvars.ContextVar[list[AfterReply] | None] = contextvars.ContextVar(
    "evcsms_sim_after_reply", default=None
)


class CallErrorReceived(Exception):
    """The CSMS answered one of our CALLs with a CALLERROR."""

    def __init__(self, code: str, description: str, details: JsonObject) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class ConnectionLost(ConnectionError):
    """The websocket closed before (or while) a CALL was answered."""


def after_reply(fn: AfterReply) -> None:
    """Run ``fn`` once the CALLRESULT of the CSMS CALL being handled has been sent.

    Only valid inside a handler; used for follow-ups that must come after the answer
    (TriggerMessage sends the message, Reset reboots).
    """
    pending = _after_reply.get()
    if pending is None:
        raise RuntimeError("after_reply() used outside an OCPP CALL handler")
    pending.append(fn)


def station_url(base_url: str, station_id: str) -> str:
    """``ws://host/ocpp`` + ``CP1`` -> ``ws://host/ocpp/CP1`` (id percent-encoded)."""
    return f"{base_url.rstrip('/')}/{quote(station_id, safe='')}"


def station_ids(id_prefix: str, count: int) -> list[str]:
    """Ids used by fleets and load runs: ``f"{id_prefix}{i:04d}"`` for i = 1..count."""
    return [f"{id_prefix}{i:04d}" for i in range(1, count + 1)]


def refusal_delay(exc: BaseException) -> float | None:
    """Seconds a CSMS that refused the handshake with HTTP 503 asked us to wait (its
    ``Retry-After``, seconds or an HTTP date); 0.0 for a 503 without one; None for anything
    else."""
    if not isinstance(exc, InvalidStatus) or exc.response.status_code != 503:
        return None
    value = exc.response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def basic_auth(station_id: str, password: str) -> str:
    """HTTP Basic ``Authorization`` header value (OCPP security profile 1)."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def open_websocket(
    url: str,
    station_id: str,
    ocpp_version: str,
    *,
    password: str | None = None,
    ping_interval: float | None = 20.0,
    max_queue: int = 16,
    open_timeout: float | None = 10.0,
) -> ClientConnection:
    """Open the raw websocket of a station: OCPP subprotocol, optional Basic auth, no compression."""
    if ocpp_version not in SUBPROTOCOLS:
        raise ValueError(f"unsupported OCPP version {ocpp_version!r}")
    headers = {"Authorization": basic_auth(station_id, password)} if password else None
    return await connect(
        station_url(url, station_id),
        subprotocols=[Subprotocol(SUBPROTOCOLS[ocpp_version])],
        additional_headers=headers,
        compression=None,
        proxy=None,
        ping_interval=ping_interval,
        max_queue=max_queue,
        open_timeout=open_timeout,
        close_timeout=2.0,
    )


class OcppClient:
    """One OCPP-J connection of a station.

    ``call`` sends one CALL at a time and awaits its answer; CSMS-initiated CALLs are
    answered through ``handlers`` (action -> async fn(payload) -> response payload).
    The reader task and the handler tasks belong to this object and end with ``close``.
    """

    def __init__(
        self,
        url: str,
        station_id: str,
        ocpp_version: str = "1.6",
        *,
        password: str | None = None,
        handlers: Mapping[str, Handler] | None = None,
        call_timeout: float = 30.0,
        ping_interval: float | None = 20.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.station_id = station_id
        self.ocpp_version = ocpp_version
        self.password = password
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.call_timeout = call_timeout
        self.ping_interval = ping_interval
        self.calls_sent = 0
        self._on_close = on_close
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._pending: tuple[str, asyncio.Future[JsonObject]] | None = None
        self._closed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._closed.is_set()

    async def connect(self) -> None:
        """Open the websocket and start the reader task."""
        self._ws = await open_websocket(
            self.url,
            self.station_id,
            self.ocpp_version,
            password=self.password,
            ping_interval=self.ping_interval,
        )
        self._reader = asyncio.create_task(
            self._read_loop(self._ws), name=f"ocpp-reader-{self.station_id}"
        )

    async def call(self, action: str, payload: JsonObject) -> JsonObject:
        """Send a CALL and return the CALLRESULT payload.

        Raises CallErrorReceived on CALLERROR, ConnectionLost if the socket closes,
        TimeoutError when no answer arrives within ``call_timeout``.
        """
        async with self._lock:
            if not self.connected or self._ws is None:
                raise ConnectionLost(f"{self.station_id}: not connected")
            msg_id = str(next(self._ids))
            future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
            self._pending = (msg_id, future)
            try:
                await self._send([CALL, msg_id, action, payload])
                self.calls_sent += 1
                async with asyncio.timeout(self.call_timeout):
                    return await future
            finally:
                self._pending = None

    async def wait_closed(self) -> None:
        """Return once the connection has ended (dropped or closed)."""
        await self._closed.wait()

    async def close(self) -> None:
        """Cancel the reader and handler tasks and close the websocket."""
        current = asyncio.current_task()
        tasks = [t for t in (self._reader, *self._tasks) if t is not None and t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._mark_closed("closed by client")

    async def _send(self, frame: list[Any]) -> None:
        assert self._ws is not None
        try:
            await self._ws.send(orjson.dumps(frame), text=True)
        except ConnectionClosed as exc:
            self._mark_closed(str(exc))
            raise ConnectionLost(f"{self.station_id}: {exc}") from exc

    def _mark_closed(self, why: str) -> None:
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(ConnectionLost(f"{self.station_id}: {why}"))
        if not self._closed.is_set():
            self._closed.set()
            if self._on_close is not None:
                self._on_close()

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            self._mark_closed("connection closed")

    def _on_frame(self, raw: str | bytes) -> None:
        try:
            frame = orjson.loads(raw)
            kind, msg_id = frame[0], frame[1]
        except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
            log.warning("%s: ignoring malformed frame %r", self.station_id, raw[:200])
            return
        if kind == CALL and len(frame) >= 4:
            task = asyncio.create_task(self._serve_call(str(msg_id), str(frame[2]), frame[3]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind in (CALLRESULT, CALLERROR):
            self._resolve(frame)

    def _resolve(self, frame: list[Any]) -> None:
        if self._pending is None or self._pending[0] != str(frame[1]):
            log.warning("%s: answer to unknown message id %r", self.station_id, frame[1])
            return
        future = self._pending[1]
        if future.done():
            return
        if frame[0] == CALLRESULT:
            payload = frame[2] if len(frame) > 2 and isinstance(frame[2], dict) else {}
            future.set_result(payload)
        else:
            code, desc, details = (list(frame[2:5]) + ["", "", {}])[:3]
            future.set_exception(CallErrorReceived(str(code), str(desc), details or {}))

    async def _serve_call(self, msg_id: str, action: str, payload: Any) -> None:
        deferred: list[AfterReply] = []
        _after_reply.set(deferred)
        handler = self.handlers.get(action)
        if handler is None:
            answer: list[Any] = [CALLERROR, msg_id, "NotImplemented", f"{action} not supported", {}]
        else:
            try:
                answer = [
                    CALLRESULT,
                    msg_id,
                    await handler(payload if isinstance(payload, dict) else {}),
                ]
            except Exception as exc:
                log.exception("%s: handler for %s failed", self.station_id, action)
                answer = [CALLERROR, msg_id, "InternalError", str(exc)[:200], {}]
                deferred.clear()
        try:
            await self._send(answer)
        except ConnectionLost:
            return
        for fn in deferred:
            try:
                await fn()
            except Exception:
                log.exception("%s: follow-up of %s failed", self.station_id, action)

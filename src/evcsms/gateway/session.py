"""One connected station: serve its CALLs in order, send ours one at a time.

OCPP-J allows one outstanding CALL per direction. Incoming CALLs are handled
in arrival order by the connection's reader (`on_text` returns only after the
answer is sent). Outgoing CALLs take `_call_lock`, so a second command waits
for the first answer; a timed-out CALL frees the lock and its late answer is
logged and dropped, never given to the next caller.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from evcsms.domain.model import Direction, OcppVersion, Registration
from evcsms.protocol import framing, validation
from evcsms.protocol.context import StationContext
from evcsms.protocol.dispatch import handle_call
from evcsms.protocol.errors import OcppError, SecurityCallError
from evcsms.services.container import Services

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
PingFn = Callable[[float], Awaitable[float | None]]
AbortFn = Callable[[str], Awaitable[None]]
_ids = itertools.count(1)


class CallErrorReceivedError(Exception):
    """The station answered our CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details


class InvalidAnswerError(Exception):
    """The station's CALLRESULT does not fit the response schema."""


@dataclass(slots=True)
class _Pending:
    unique_id: str
    action: str
    future: asyncio.Future[Any]


class StationSession:
    def __init__(
        self, ctx: StationContext, send_text: SendText, *, registration: Registration,
        lenient: bool = False, ping: PingFn | None = None, abort: AbortFn | None = None,
    ) -> None:
        self.ctx = ctx
        self.ping = ping  # None: the server cannot send WebSocket pings
        self.abort = abort  # close the socket, saying why
        self._send_text = send_text
        self.registration = registration
        self.lenient = lenient
        self._call_lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self.closed = False

    @property
    def station_id(self) -> str:
        return self.ctx.station_id

    @property
    def version(self) -> OcppVersion:
        return self.ctx.version

    @property
    def services(self) -> Services:
        return self.ctx.services

    # -- incoming --------------------------------------------------------------------------

    async def on_text(self, text: str) -> None:
        """Process one received frame completely (answer included)."""
        self.services.presence.touch(self.station_id)
        try:
            frame = framing.parse(text)
        except framing.FrameError as exc:
            self._log(Direction.IN, text, None, None, None)
            log.info("%s sent a bad frame: %s", self.station_id, exc.error.description)
            await self._send(framing.call_error(exc.unique_id, exc.error, self.version), 4, exc.unique_id, None)
            return
        if isinstance(frame, framing.Call):
            self._log(Direction.IN, text, 2, frame.unique_id, frame.action)
            await self._serve(frame)
        else:
            self._log(Direction.IN, text, 3 if isinstance(frame, framing.CallResult) else 4,
                      frame.unique_id, self._pending.action if self._pending else None)
            self._answer(frame)

    async def _serve(self, frame: framing.Call) -> None:
        try:
            if self.registration is not Registration.ACCEPTED and frame.action != "BootNotification":
                raise SecurityCallError(
                    f"station is {self.registration.value}: only BootNotification is allowed"
                )
            payload = await handle_call(self.ctx, frame.action, frame.payload, lenient=self.lenient)
        except OcppError as error:
            await self._send(framing.call_error(frame.unique_id, error, self.version), 4,
                             frame.unique_id, frame.action)
            return
        if frame.action == "BootNotification":
            self.registration = Registration(payload["status"])
        await self._send(framing.call_result(frame.unique_id, payload), 3, frame.unique_id, frame.action)

    def _answer(self, frame: framing.CallResult | framing.CallError) -> None:
        pending = self._pending
        if pending is None or pending.unique_id != frame.unique_id:
            log.warning("%s answered %s, which is not outstanding; dropped", self.station_id,
                        frame.unique_id)
            return
        self._pending = None
        if pending.future.done():
            return
        if isinstance(frame, framing.CallError):
            pending.future.set_exception(
                CallErrorReceivedError(frame.code, frame.description, frame.details)
            )
        else:
            pending.future.set_result(frame.payload)

    # -- outgoing --------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send a CALL and return the station's answer payload.

        Raises TimeoutError, CallErrorReceivedError, InvalidAnswerError or ConnectionError.
        """
        async with self._call_lock:
            if self.closed:
                raise ConnectionError("station disconnected")
            unique_id = f"cs-{next(_ids)}"
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending = _Pending(unique_id, action, future)
            try:
                await self._send(framing.call(unique_id, action, payload), 2, unique_id, action)
                answer = await asyncio.wait_for(future, timeout_s)
            finally:
                if self._pending is not None and self._pending.unique_id == unique_id:
                    self._pending = None
        try:
            validation.validate(self.version, action, answer, response=True, lenient=self.lenient)
        except OcppError as exc:
            raise InvalidAnswerError(f"{action} answer does not fit the schema: {exc}") from None
        return dict(answer)

    def connection_lost(self) -> None:
        self.closed = True
        if self._pending is not None and not self._pending.future.done():
            self._pending.future.set_exception(ConnectionError("station disconnected"))

    # -- helpers ---------------------------------------------------------------------------

    async def _send(self, text: str, kind: int, unique_id: str | None, action: str | None) -> None:
        self._log(Direction.OUT, text, kind, unique_id, action)
        await self._send_text(text)

    def _log(
        self, direction: Direction, text: str, kind: int | None, unique_id: str | None,
        action: str | None,
    ) -> None:
        self.services.message_log.record(
            self.station_id, direction, text, message_type=kind, unique_id=unique_id,
            action=action,
        )

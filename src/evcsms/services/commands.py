"""Commands to stations: stored records, routed over the bus to the node holding the socket.

Issue flow: store the record (pending) -> request on `station.<id>.command` ->
the gateway on the holding node marks it sent, performs the CALL and answers
-> the record gets its final status and the station's answer. No responder
means the station is offline: the record fails at once, it is never lost. A bus that
cannot be reached (NATS restarting) fails the record at once too, saying so ("message
bus unavailable"), as does any other bus failure: a record never stays pending.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import (
    Bus,
    BusError,
    NoRespondersError,
    RequestTimeoutError,
    station_subject,
)
from evcsms.domain.clock import Clock
from evcsms.domain.commands import CommandName, CommandParamsError, check_command
from evcsms.domain.model import CommandStatus
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What the gateway reports back for one command."""

    status: CommandStatus
    ocpp_action: str | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    error: str | None = None

    def to_message(self) -> dict[str, Any]:
        return {
            "status": self.status.value, "ocpp_action": self.ocpp_action,
            "request": self.request, "response": self.response, "error": self.error,
        }


class CommandHook(Protocol):
    """A service that keeps its own record of some commands (log uploads, firmware updates,
    the device model): `prepare` runs before the command is stored and may add parameters
    (an upload URL, a requestId); `answered` runs once the command record is final."""

    async def prepare(self, station_id: str, command_id: str, command: CommandName,
                      params: dict[str, Any], created_by: str | None) -> dict[str, Any]: ...

    async def answered(self, station_id: str, record: Any) -> None: ...


class CommandService:
    def __init__(
        self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock, *,
        call_timeout: float = 30.0,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._call_timeout = call_timeout
        self._hooks: dict[CommandName, CommandHook] = {}

    def hook(self, command: CommandName, hook: CommandHook) -> None:
        """Let `hook` prepare and follow every `command` issued here."""
        self._hooks[command] = hook

    async def issue(
        self, station_id: str, name: str, params: dict[str, Any], *, created_by: str | None = None
    ) -> Any:
        """Store and deliver a command; return the record with its final status."""
        station = await self._station(station_id)
        try:
            command = check_command(name, params, station.ocpp_version)
        except CommandParamsError as exc:
            raise InvalidInputError(str(exc)) from None
        params = await self._resolve(station_id, command, params)
        command_id = str(uuid.uuid4())
        hook = self._hooks.get(command)
        if hook is not None:
            params = await hook.prepare(station_id, command_id, command, params, created_by)
        now = self._clock.now()

        async def create(conn: AsyncConnection) -> None:
            await conn.execute(
                t.table_of(t.Command).insert().values(
                    id=command_id, station_id=station_id, name=command.value, params=params,
                    status=CommandStatus.PENDING.value, created_by=created_by, created_at=now,
                )
            )

        await self._writer.submit(create, "command-create")
        try:
            outcome = await self._deliver(station_id, command_id, command, params)
        except asyncio.CancelledError:  # the caller went away: the record must not stay open
            failed = CommandOutcome(CommandStatus.FAILED, error="cancelled before an answer")
            await asyncio.shield(self._complete(station_id, command_id, failed, hook))
            raise
        return await self._complete(station_id, command_id, outcome, hook)

    async def _complete(self, station_id: str, command_id: str, outcome: CommandOutcome,
                        hook: CommandHook | None) -> Any:
        await self.finish(command_id, outcome)
        record = await self.get(command_id)
        if hook is not None:
            try:
                await hook.answered(station_id, record)
            except Exception:  # the command record is final and stored; report, do not fail it
                log.exception("following up command %s (%s) failed", command_id, record.name)
        return record

    async def _deliver(
        self, station_id: str, command_id: str, command: CommandName, params: dict[str, Any]
    ) -> CommandOutcome:
        message = {"id": command_id, "name": command.value, "params": params}
        try:
            reply = await self._bus.request(
                station_subject(station_id, "command"), message, timeout_s=self._call_timeout + 5
            )
        except NoRespondersError:
            return CommandOutcome(CommandStatus.FAILED, error="station offline")
        except RequestTimeoutError:
            return CommandOutcome(CommandStatus.TIMED_OUT, error="no answer from the gateway")
        except BusError as exc:  # the bus is down, or the gateway's responder failed
            log.warning("command %s to %s not delivered: %s", command_id, station_id, exc)
            return CommandOutcome(CommandStatus.FAILED, error=str(exc))
        return CommandOutcome(
            CommandStatus(reply["status"]), reply.get("ocpp_action"), reply.get("request"),
            reply.get("response"), reply.get("error"),
        )

    async def _resolve(
        self, station_id: str, command: CommandName, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Add what translation needs: the station's own transaction id for remote_stop."""
        if command is not CommandName.REMOTE_STOP:
            return params
        async with self._engine.connect() as conn:
            ref = await conn.scalar(
                select(t.ChargingSession.transaction_ref).where(
                    t.ChargingSession.id == params["session_id"],
                    t.ChargingSession.station_id == station_id,
                )
            )
        if ref is None:
            raise InvalidInputError(f"session {params['session_id']} is not on {station_id}")
        return {**params, "transaction_ref": ref}

    async def mark_sent(self, command_id: str, ocpp_action: str, request: dict[str, Any]) -> None:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            await conn.execute(
                update(t.Command)
                .where(t.Command.id == command_id)
                .values(
                    status=CommandStatus.SENT.value, ocpp_action=ocpp_action, request=request,
                    sent_at=now,
                )
            )

        await self._writer.submit(op, "command-sent")

    async def finish(self, command_id: str, outcome: CommandOutcome) -> None:
        now = self._clock.now()
        values: dict[str, Any] = {
            "status": outcome.status.value, "response": outcome.response,
            "error": outcome.error, "completed_at": now,
        }
        if outcome.ocpp_action:
            values.update(ocpp_action=outcome.ocpp_action, request=outcome.request)

        async def op(conn: AsyncConnection) -> None:
            await conn.execute(update(t.Command).where(t.Command.id == command_id).values(**values))

        await self._writer.submit(op, "command-finish")
        try:
            await self._bus.publish(
                "events.command", {"id": command_id, "status": outcome.status.value}
            )
        except BusError as exc:  # the record is final and stored; the event is a courtesy
            log.warning("event for command %s not published: %s", command_id, exc)

    async def get(self, command_id: str) -> Any:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.Command).where(t.Command.id == command_id))).first()
        if row is None:
            raise NotFoundError(f"command {command_id!r} not found")
        return row

    async def list(self, station_id: str, *, limit: int, offset: int) -> tuple[builtins.list[Any], int]:
        where = t.Command.station_id == station_id
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.Command).where(where))
            rows = await conn.execute(
                select(t.Command).where(where).order_by(t.Command.created_at.desc())
                .limit(limit).offset(offset)
            )
            return list(rows.all()), int(total or 0)

    async def _station(self, station_id: str) -> Any:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.Station.id, t.Station.ocpp_version).where(t.Station.id == station_id)
                )
            ).first()
        if row is None:
            raise NotFoundError(f"station {station_id!r} not found")
        return row

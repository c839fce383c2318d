"""Firmware updates: the `update_firmware` command's record, tracked to completion.

`CommandService` calls `prepare` (store the record; its id is the 2.0.1 requestId) and
`answered` (the station accepted or not). FirmwareStatusNotifications move the record
through `domain.firmware`'s states, each one kept on its timeline. A failure the station
reports opens a `firmware_failed` incident; a later success on the station resolves its
firmware incidents. The boot that follows installation tells the installed version
(heard on `events.station.boot`).
"""

from __future__ import annotations

import builtins
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus, Subscription
from evcsms.domain import firmware as fw
from evcsms.domain.clock import Clock
from evcsms.domain.commands import CommandName, parse_utc
from evcsms.domain.model import CommandStatus
from evcsms.services.errors import NotFoundError
from evcsms.services.incidents import IncidentService
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)

_CANDIDATES = 20  # a status without a request id looks at the station's newest updates


async def _event(conn: AsyncConnection, update_id: int, at: datetime, source: str, status: str,
                 note: str = "") -> None:
    await conn.execute(t.table_of(t.FirmwareUpdateEvent).insert().values(
        update_id=update_id, at=at, source=source, status=status, note=note))


class FirmwareService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock,
                 incidents: IncidentService) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._incidents = incidents
        self._subs: list[Subscription] = []

    async def start(self) -> None:
        self._subs.append(await self._bus.subscribe("events.station.boot", self._on_boot))

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()

    # -- the command -----------------------------------------------------------------------

    async def prepare(self, station_id: str, command_id: str, command: CommandName,
                      params: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        now = self._clock.now()
        retrieve_at = (parse_utc(params["retrieve_at"], "retrieve_at")
                       if params.get("retrieve_at") is not None else now)
        signed = params.get("signature") is not None

        async def op(conn: AsyncConnection) -> int:
            previous = await conn.scalar(select(t.Station.firmware_version)
                                         .where(t.Station.id == station_id))
            result = await conn.execute(t.table_of(t.FirmwareUpdate).insert().values(
                station_id=station_id, command_id=command_id, location=params["location"],
                retrieve_at=retrieve_at, retries=params.get("retries"),
                retry_interval=params.get("retry_interval"), signed=signed,
                status=fw.UpdateState.REQUESTED.value, previous_version=previous,
                created_by=created_by, created_at=now, updated_at=now,
            ).returning(t.FirmwareUpdate.id))
            update_id = int(result.scalar_one())
            await _event(conn, update_id, now, "evcsms", "requested", params["location"])
            return update_id

        update_id = await self._writer.submit(op, "firmware-create")
        return {**params, "update_id": update_id, "request_id": update_id,
                "retrieve_at": retrieve_at.isoformat().replace("+00:00", "Z")}

    async def answered(self, station_id: str, record: Any) -> None:
        update_id = int(record.params["update_id"])
        accepted = record.status == CommandStatus.ACCEPTED.value
        answer = (record.response or {}).get("status") if record.status in (
            "accepted", "rejected") else None
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            state = fw.UpdateState(str(await conn.scalar(
                select(t.FirmwareUpdate.status).where(t.FirmwareUpdate.id == update_id))))
            after = fw.on_answer(state, accepted)
            values: dict[str, Any] = {"status": after.value, "updated_at": now}
            if after is fw.UpdateState.FAILED and state is not after:
                values.update(completed_at=now,
                              error=record.error or f"the station answered {answer}")
            await conn.execute(update(t.FirmwareUpdate).where(t.FirmwareUpdate.id == update_id)
                               .values(**values))
            await _event(conn, update_id, now, "station" if answer or accepted else "evcsms",
                         f"answer: {answer or record.status}", record.error or "")
            if answer == "AcceptedCanceled":  # this update replaced the one the station ran
                await self._cancel_others(conn, station_id, update_id, now)

        await self._writer.submit(op, "firmware-answer")

    async def _cancel_others(self, conn: AsyncConnection, station_id: str, update_id: int,
                             now: datetime) -> None:
        ids = (await conn.execute(select(t.FirmwareUpdate.id).where(
            t.FirmwareUpdate.station_id == station_id, t.FirmwareUpdate.id != update_id,
            t.FirmwareUpdate.status.in_([fw.UpdateState.REQUESTED.value,
                                         fw.UpdateState.IN_PROGRESS.value])))).scalars().all()
        for other in ids:
            await conn.execute(update(t.FirmwareUpdate).where(t.FirmwareUpdate.id == other).values(
                status=fw.UpdateState.CANCELED.value, updated_at=now, completed_at=now,
                error=f"canceled: the station took update {update_id} instead"))
            await _event(conn, int(other), now, "station", "canceled",
                         f"replaced by update {update_id}")

    # -- the station's notifications -------------------------------------------------------

    async def station_status(self, station_id: str, status: str, request_id: int | None
                             ) -> int | None:
        """Apply a FirmwareStatusNotification; the update's id, or None if it concerns no
        update of ours (e.g. Idle answering a TriggerMessage)."""
        now = self._clock.now()
        where = [t.FirmwareUpdate.station_id == station_id]
        if request_id is not None:
            where.append(t.FirmwareUpdate.id == request_id)

        async def op(conn: AsyncConnection) -> tuple[int, fw.UpdateState, fw.UpdateState, str] | None:
            rows = (await conn.execute(
                select(t.FirmwareUpdate.id, t.FirmwareUpdate.status, t.FirmwareUpdate.location)
                .where(*where).order_by(t.FirmwareUpdate.id.desc()).limit(_CANDIDATES))).all()
            chosen = fw.target([fw.Candidate(int(r.id), int(r.id), fw.UpdateState(r.status))
                                for r in rows], request_id)
            if chosen is None:
                return None
            row = next(r for r in rows if r.id == chosen)
            before = fw.UpdateState(row.status)
            after = fw.on_status(before, status)
            values: dict[str, Any] = {"status": after.value, "station_status": status,
                                      "updated_at": now}
            if after is not before and after.final:
                values["completed_at"] = now
                if after is fw.UpdateState.FAILED:
                    values["error"] = fw.FAILURES.get(status, (f"the station reported {status}",
                                                               ""))[0]
            await conn.execute(update(t.FirmwareUpdate).where(t.FirmwareUpdate.id == chosen)
                               .values(**values))
            await _event(conn, chosen, now, "station", status)
            return chosen, before, after, str(row.location)

        found = await self._writer.submit(op, "firmware-status")
        if found is None:
            return None
        update_id, before, after, location = found
        if after is not before:
            await self._bus.publish(f"events.firmware.{after.value}",
                                    {"id": update_id, "station_id": station_id, "status": status})
            if after is fw.UpdateState.FAILED:
                await self._incidents.report(
                    station_id, fw.failure_finding(station_id, update_id, status, location))
            elif after is fw.UpdateState.SUCCEEDED:
                await self._incidents.clear(fw.success_clears(station_id),
                                            f"firmware update {update_id} installed")
        return update_id

    async def _on_boot(self, subject: str, message: dict[str, Any]) -> None:
        """The version a station reports when it boots during or after an installation is
        the one the update installed."""
        station_id = message["station_id"]
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            version = await conn.scalar(select(t.Station.firmware_version)
                                        .where(t.Station.id == station_id))
            rows = (await conn.execute(
                select(t.FirmwareUpdate.id, t.FirmwareUpdate.status,
                       t.FirmwareUpdate.station_status, t.FirmwareUpdate.installed_version)
                .where(t.FirmwareUpdate.station_id == station_id)
                .order_by(t.FirmwareUpdate.id.desc()).limit(1))).all()
            for row in rows:
                if fw.records_version_on_boot(fw.UpdateState(row.status), row.station_status,
                                              row.installed_version):
                    await conn.execute(update(t.FirmwareUpdate)
                                       .where(t.FirmwareUpdate.id == row.id)
                                       .values(installed_version=version, updated_at=now))
                    await _event(conn, int(row.id), now, "station", "boot",
                                 f"reports firmware {version or '(none)'}")

        try:
            await self._writer.submit(op, "firmware-boot")
        except Exception:
            log.exception("recording the firmware version of %s failed", station_id)

    # -- operator reads --------------------------------------------------------------------

    async def list(self, station_id: str, *, limit: int, offset: int
                   ) -> tuple[builtins.list[Any], int]:
        where = t.FirmwareUpdate.station_id == station_id
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.FirmwareUpdate)
                                      .where(where))
            rows = (await conn.execute(select(t.FirmwareUpdate).where(where)
                                       .order_by(t.FirmwareUpdate.id.desc())
                                       .limit(limit).offset(offset))).all()
        return list(rows), int(total or 0)

    async def get(self, station_id: str, update_id: int) -> tuple[Any, builtins.list[Any]]:
        """The update and its timeline, oldest first."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.FirmwareUpdate).where(
                t.FirmwareUpdate.id == update_id,
                t.FirmwareUpdate.station_id == station_id))).first()
            if row is None:
                raise NotFoundError(
                    f"firmware update {update_id} of station {station_id!r} not found")
            events = (await conn.execute(select(t.FirmwareUpdateEvent).where(
                t.FirmwareUpdateEvent.update_id == update_id)
                .order_by(t.FirmwareUpdateEvent.id))).all()
        return row, list(events)

"""Log uploads: the `upload_log` command's record, the file the station sends, its status.

Issuing `upload_log` (through `CommandService`, which calls `prepare` and `answered`)
stores a record with a one-time upload token and gives the station a location on this
node's own upload endpoint (`UPLOAD_PATH`, served by `api/routes/log_uploads.py`). The
station sends the file there, authenticated only by the token, while the record is open
(`domain.log_uploads`); the file is stored in the database, not on a disk, because nodes
share the database. 1.6 DiagnosticsStatusNotification (no request id: the station's
newest upload) and 2.0.1 LogStatusNotification (by requestId, which is the record id)
move the record along and join its timeline.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.domain.commands import CommandName, parse_utc
from evcsms.domain.log_uploads import (
    OPEN_FOR,
    UploadState,
    answer_file_name,
    default_file_name,
    on_answer,
    on_status,
    safe_file_name,
)
from evcsms.domain.model import CommandStatus
from evcsms.services.errors import ConflictError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

UPLOAD_PATH = "/uploads/logs"  # + "/<token>" (optionally "/<file name>")

# Every column but the file itself, for lists and details.
SUMMARY = tuple(c for c in t.table_of(t.LogUpload).c if c.key not in ("content", "token_hash"))


class UploadClosedError(ConflictError):
    """The token was valid but its upload is finished, failed or expired (HTTP 410)."""


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    content: bytes
    file_name: str | None  # from the form or the path; None: the station's announced name
    content_type: str | None


@dataclass(frozen=True, slots=True)
class Ticket:
    """An open upload a token points to."""

    id: int
    station_id: str


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _entry(at: datetime, status: str, source: str, note: str = "") -> dict[str, Any]:
    entry = {"at": at.isoformat().replace("+00:00", "Z"), "status": status, "source": source}
    if note:
        entry["note"] = note
    return entry


class LogUploadService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock, *,
                 base_url: str, max_bytes: int) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self.base_url = base_url.rstrip("/")  # bootstrap sets it to the address served
        self.max_bytes = max_bytes

    # -- the command -----------------------------------------------------------------------

    async def prepare(self, station_id: str, command_id: str, command: CommandName,
                      params: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        """Store the upload with a fresh token; the station gets the token's URL."""
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        start, stop = params.get("start_time"), params.get("stop_time")
        values = {
            "station_id": station_id, "command_id": command_id,
            "log_type": params.get("log_type", "diagnostics"), "token_hash": token_digest(token),
            "status": UploadState.REQUESTED.value,
            "start_time": parse_utc(start, "start_time") if start is not None else None,
            "stop_time": parse_utc(stop, "stop_time") if stop is not None else None,
            "timeline": [_entry(now, "requested", "evcsms")], "created_by": created_by,
            "created_at": now, "updated_at": now, "expires_at": now + OPEN_FOR,
        }

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(t.table_of(t.LogUpload).insert().values(**values)
                                        .returning(t.LogUpload.id))
            return int(result.scalar_one())

        upload_id = await self._writer.submit(op, "log-upload-create")
        return {**params, "upload_id": upload_id, "request_id": upload_id,
                "location": f"{self.base_url}{UPLOAD_PATH}/{token}"}

    async def answered(self, station_id: str, record: Any) -> None:
        """The station's answer (or why there is none) moves a `requested` upload on."""
        upload_id = int(record.params["upload_id"])
        accepted = record.status == CommandStatus.ACCEPTED.value
        response = record.response if accepted or record.status == "rejected" else None
        file_name = answer_file_name(response)
        now = self._clock.now()
        answer = (response or {}).get("status") or record.status

        async def op(conn: AsyncConnection) -> None:
            row = (await conn.execute(
                select(t.LogUpload.status, t.LogUpload.timeline, t.LogUpload.file_name,
                       t.LogUpload.log_type).where(t.LogUpload.id == upload_id))).one()
            state, reason = on_answer(UploadState(row.status), accepted, response)
            if reason and not accepted:
                reason = record.error or f"the station answered {answer}"
            note = f"file {file_name}" if file_name else (record.error or "")
            values: dict[str, Any] = {
                "status": state.value, "updated_at": now,
                "timeline": [*row.timeline, _entry(now, f"answer: {answer}", "station"
                                                   if response is not None else "evcsms", note)]}
            if reason:
                values["error"] = reason
            if file_name:
                values["station_file_name"] = file_name[:255]
                # the file overtook this answer and was stored under a made-up name
                if row.file_name == default_file_name(station_id, row.log_type, upload_id):
                    values["file_name"] = safe_file_name(file_name, row.file_name)
            await conn.execute(update(t.LogUpload).where(t.LogUpload.id == upload_id)
                               .values(**values))
            if answer == "AcceptedCanceled":  # this request replaced the station's running one
                await _cancel_others(conn, station_id, upload_id, now)

        await self._writer.submit(op, "log-upload-answer")

    # -- the station's notifications -------------------------------------------------------

    async def station_status(self, station_id: str, status: str, request_id: int | None
                             ) -> int | None:
        """Apply a DiagnosticsStatusNotification (request_id None: the station's newest
        upload) or LogStatusNotification; the upload's id, or None if none matches."""
        now = self._clock.now()
        where = [t.LogUpload.station_id == station_id]
        if request_id is not None:
            where.append(t.LogUpload.id == request_id)

        async def op(conn: AsyncConnection) -> tuple[int, str, str] | None:
            row = (await conn.execute(
                select(t.LogUpload.id, t.LogUpload.status, t.LogUpload.timeline).where(*where)
                .order_by(t.LogUpload.id.desc()).limit(1))).first()
            if row is None:
                return None
            state, reason = on_status(UploadState(row.status), status)
            values: dict[str, Any] = {
                "status": state.value, "updated_at": now,
                "timeline": [*row.timeline, _entry(now, status, "station")]}
            if reason:
                values["error"] = reason
            await conn.execute(update(t.LogUpload).where(t.LogUpload.id == row.id)
                               .values(**values))
            return int(row.id), str(row.status), state.value

        found = await self._writer.submit(op, "log-upload-status")
        if found is None:
            return None
        upload_id, before, after = found
        if after != before and after == UploadState.FAILED.value:
            await self._bus.publish("events.log_upload.failed",
                                    {"id": upload_id, "station_id": station_id})
        return upload_id

    # -- the upload endpoint ---------------------------------------------------------------

    async def ticket(self, token: str) -> Ticket:
        """The open upload `token` names: NotFoundError for a token that never existed,
        UploadClosedError for one whose upload is over (used, failed, expired)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(t.LogUpload.id, t.LogUpload.station_id, t.LogUpload.status,
                       t.LogUpload.expires_at)
                .where(t.LogUpload.token_hash == token_digest(token)))).first()
        if row is None:
            raise NotFoundError("no upload has this link")
        self._check_open(row.status, row.expires_at)
        return Ticket(int(row.id), row.station_id)

    def _check_open(self, status: str, expires_at: datetime) -> None:
        if not UploadState(status).open:
            raise UploadClosedError(f"this upload link is used up (upload {status})")
        if self._clock.now() >= expires_at:
            raise UploadClosedError("this upload link has expired")

    async def receive(self, token: str, received: ReceivedFile) -> Any:
        """Store the file for the open upload `token` names; the stored summary row."""
        now = self._clock.now()
        size = len(received.content)
        if size > 1024 * 1024:  # hashlib lets go of the GIL: keep the loop serving stations
            digest = await asyncio.to_thread(_sha256, received.content)
        else:
            digest = _sha256(received.content)

        async def op(conn: AsyncConnection) -> tuple[int, str] | str:
            row = (await conn.execute(
                select(t.LogUpload.id, t.LogUpload.station_id, t.LogUpload.status,
                       t.LogUpload.expires_at, t.LogUpload.timeline, t.LogUpload.log_type,
                       t.LogUpload.station_file_name)
                .where(t.LogUpload.token_hash == token_digest(token)))).first()
            if row is None:
                return "missing"
            if not UploadState(row.status).open or now >= row.expires_at:
                return "closed"
            default = default_file_name(row.station_id, row.log_type, int(row.id))
            name = safe_file_name(received.file_name or row.station_file_name, default)
            await conn.execute(update(t.LogUpload).where(t.LogUpload.id == row.id).values(
                status=UploadState.UPLOADED.value, error=None, uploaded_at=now, updated_at=now,
                file_name=name, content_type=received.content_type,
                size=size, sha256=digest, content=received.content,
                timeline=[*row.timeline, _entry(now, "file received", "evcsms",
                                                f"{size} bytes, sha256 {digest}")]))
            return int(row.id), str(row.station_id)

        stored = await self._writer.submit(op, "log-upload-file")
        if stored == "missing":
            raise NotFoundError("no upload has this link")
        if stored == "closed":
            raise UploadClosedError("this upload link is used up or expired")
        assert isinstance(stored, tuple)
        upload_id, station_id = stored
        await self._bus.publish("events.log_upload.uploaded", {
            "id": upload_id, "station_id": station_id, "size": size, "sha256": digest})
        return await self.get(station_id, upload_id)

    # -- operator reads --------------------------------------------------------------------

    async def list(self, station_id: str, *, limit: int, offset: int
                   ) -> tuple[builtins.list[Any], int]:
        where = t.LogUpload.station_id == station_id
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.LogUpload).where(where))
            rows = (await conn.execute(select(*SUMMARY).where(where)
                                       .order_by(t.LogUpload.id.desc())
                                       .limit(limit).offset(offset))).all()
        return list(rows), int(total or 0)

    async def get(self, station_id: str, upload_id: int) -> Any:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*SUMMARY).where(
                t.LogUpload.id == upload_id, t.LogUpload.station_id == station_id))).first()
        if row is None:
            raise NotFoundError(f"log upload {upload_id} of station {station_id!r} not found")
        return row

    async def file(self, station_id: str, upload_id: int) -> tuple[Any, bytes]:
        """The upload's summary row and its file; NotFoundError while no file has come."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(*SUMMARY, t.LogUpload.content).where(
                t.LogUpload.id == upload_id, t.LogUpload.station_id == station_id))).first()
        if row is None:
            raise NotFoundError(f"log upload {upload_id} of station {station_id!r} not found")
        if row.content is None:
            raise NotFoundError(f"log upload {upload_id} has no file yet (status {row.status})")
        return row, bytes(row.content)


async def _cancel_others(conn: AsyncConnection, station_id: str, upload_id: int,
                         now: datetime) -> None:
    rows = (await conn.execute(select(t.LogUpload.id, t.LogUpload.timeline).where(
        t.LogUpload.station_id == station_id, t.LogUpload.id != upload_id,
        t.LogUpload.status.in_([s.value for s in UploadState if s.open])))).all()
    for row in rows:
        await conn.execute(update(t.LogUpload).where(t.LogUpload.id == row.id).values(
            status=UploadState.FAILED.value, updated_at=now,
            error=f"canceled: the station took upload {upload_id} instead",
            timeline=[*row.timeline, _entry(now, "canceled", "station",
                                            f"replaced by upload {upload_id}")]))

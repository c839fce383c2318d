"""Reservations (OCPP ReserveNow / CancelReservation) and site availability.

A reservation is a record first (`pending`, with a new id that is also the OCPP
reservationId), then a `reserve_now` command; the station's answer makes it `accepted`,
or `rejected` / `failed` (the reason is read from the command record). An accepted
reservation ends `used` (a session started with it: the station named its reservationId,
or for stations that do not, the reserved token started on the reserved EVSE),
`cancelled` (by us with `cancel_reservation`, or 2.0.1 ReservationStatusUpdate Removed)
or `expired` (past `expires_at`: the periodic sweep, or 2.0.1 ReservationStatusUpdate
Expired). Every write goes through the single writer; the overlap rules are checked in the
same writer operation that inserts, so two requests can never both win.

The service is the `CommandService` hook of both commands: `reserve_now` is only issued
for a pending reservation made here (the generic commands endpoint is refused, it would
pick ids behind the service's back), and a `cancel_reservation` sent any way updates the
record. See docs/reservations.md.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain import availability as av
from evcsms.domain.clock import Clock
from evcsms.domain.commands import CommandName
from evcsms.domain.model import CommandStatus, SessionStatus
from evcsms.domain.tokens import decide
from evcsms.services.commands import CommandService
from evcsms.services.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
)
from evcsms.services.incidents import OPEN as OPEN_INCIDENT
from evcsms.services.periodic import Periodic
from evcsms.services.tokens import token_record
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)

STATUSES = ("pending", "accepted", "rejected", "failed", "cancelled", "used", "expired")
ACTIVE = ("pending", "accepted")
MAX_AHEAD = timedelta(hours=24)  # how far ahead a reservation may expire
SWEEP_INTERVAL = 30.0  # seconds between expiry sweeps
_HISTORY_ROWS = 20_000  # past sessions read for an availability estimate, newest first


class StationUnreachableError(ServiceError):
    """The station could not be asked (offline, no answer): the API answers 503."""


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def reason_of(row: Any) -> str | None:
    """Why a reservation is where it is, in words (rows from `_select`)."""
    status = row.status
    if status == "rejected":
        answer = row.command_response or {}
        info = answer.get("statusInfo") or {}
        extra = f" ({info['reasonCode']})" if info.get("reasonCode") else ""
        return f"the station answered {answer.get('status', 'Rejected')}{extra}"
    if status == "failed":
        if row.command_status == CommandStatus.TIMED_OUT.value:
            return f"no answer from the station ({row.command_error or 'timed out'})"
        return row.command_error or "the command failed"
    if status == "used":
        return f"used by session {row.session_id}" if row.session_id else "used by a session"
    if status == "expired":
        return f"expired at {_iso(row.expires_at)}"
    if status == "cancelled":
        return "cancelled"
    if status == "pending":
        return "waiting for the station's answer"
    return None


def _select() -> Any:
    return (select(t.Reservation, t.Command.status.label("command_status"),
                   t.Command.response.label("command_response"),
                   t.Command.error.label("command_error"))
            .outerjoin(t.Command, t.Command.id == t.Reservation.command_id))


async def use_reservation(conn: AsyncConnection, session_id: int, reservation_id: int | None,
                          now: datetime) -> int | None:
    """A session started: mark the reservation it used `used` (inside the session's writer
    operation). With a `reservation_id` (the station named it) that reservation of the
    station, even if our sweep already expired it; without one, an active reservation of
    the session's token on its EVSE (or on any EVSE of the station). Returns its id."""
    session = (await conn.execute(
        select(t.ChargingSession.station_id, t.ChargingSession.evse_id,
               t.ChargingSession.id_token).where(t.ChargingSession.id == session_id))).first()
    if session is None:
        return None
    mine = t.Reservation.station_id == session.station_id
    if reservation_id is not None and not 0 < reservation_id < 2**31:
        reservation_id = None  # not one of ours (ids are OCPP int32): go by the token
    if reservation_id is not None:
        where: list[ColumnElement[bool]] = [
            mine, t.Reservation.id == reservation_id,
            t.Reservation.status.in_((*ACTIVE, "expired"))]
    elif session.id_token:
        where = [mine, t.Reservation.status.in_(ACTIVE),
                 t.Reservation.id_token == session.id_token,
                 t.Reservation.evse_id.in_((session.evse_id, 0))]
    else:
        return None
    found = await conn.scalar(select(t.Reservation.id).where(*where)
                              .order_by(t.Reservation.evse_id.desc(), t.Reservation.id).limit(1))
    if found is None:
        return None
    await conn.execute(update(t.Reservation).where(t.Reservation.id == found).values(
        status="used", session_id=session_id, ended_at=now))
    return int(found)


class ReservationService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock,
                 commands: CommandService, *, max_ahead: timedelta = MAX_AHEAD,
                 sweep_interval: float = SWEEP_INTERVAL) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._commands = commands
        self.max_ahead = max_ahead
        self._sweep = Periodic("reservation-expiry", sweep_interval, self.expire_due)

    async def start(self) -> None:
        self._sweep.start()

    async def close(self) -> None:
        await self._sweep.close()

    # -- make and cancel -------------------------------------------------------------------

    async def reserve(self, station_id: str, evse_id: int, id_token: str, expires_at: datetime,
                      *, by: str, owner: int | None = None) -> Any:
        """Reserve `evse_id` (0: any EVSE) of a station for `id_token` until `expires_at`.

        Refused before anything is stored: unknown station or token (404; `owner` set: a
        token that driver does not own is unknown too), a station not registered,
        an expiry not in the future or beyond `max_ahead`, an unusable token, an EVSE the
        station does not have (422), an overlap (409). Otherwise the record is kept
        whatever the station answers; it is returned with its final status."""
        now = self._clock.now()
        if expires_at.tzinfo is None:
            raise InvalidInputError("expires_at: give a time zone (e.g. ...Z)")
        if expires_at <= now:
            raise InvalidInputError(f"expires_at {_iso(expires_at)} is not in the future "
                                    f"(now {_iso(now)})")
        if expires_at > now + self.max_ahead:
            raise InvalidInputError(
                f"expires_at {_iso(expires_at)} is too far ahead: at most "
                f"{self.max_ahead.total_seconds() / 3600:g} h from now")
        if evse_id < 0 or evse_id > 2**31 - 1:
            raise InvalidInputError("evse_id must be 0 (any EVSE) or an EVSE number")
        group = await self._check(station_id, evse_id, id_token, expires_at, now, owner)

        async def create(conn: AsyncConnection) -> int:
            await self._check_overlap(conn, station_id, evse_id, id_token, now)
            result = await conn.execute(t.table_of(t.Reservation).insert().values(
                station_id=station_id, evse_id=evse_id, id_token=id_token,
                expires_at=expires_at, status="pending", created_by=by, created_at=now,
            ).returning(t.Reservation.id))
            return int(result.scalar_one())

        reservation_id = await self._writer.submit(create, "reservation-create")
        params: dict[str, Any] = {"reservation_id": reservation_id, "evse_id": evse_id,
                                  "id_token": id_token, "expires_at": _iso(expires_at)}
        if group:
            params["parent_id_token"] = group
        try:
            await self._commands.issue(station_id, CommandName.RESERVE_NOW.value, params,
                                       created_by=by)
        except BaseException:  # nothing was sent (bad parameters, cancelled): not held
            await asyncio.shield(self._end(reservation_id, "failed", ACTIVE))
            raise
        return await self.get(reservation_id)

    async def _check(self, station_id: str, evse_id: int, id_token: str, expires_at: datetime,
                     now: datetime, owner: int | None) -> str | None:
        """The reads before a reservation; the token's group (the parent id token)."""
        async with self._engine.connect() as conn:
            station = (await conn.execute(select(t.Station.registration).where(
                t.Station.id == station_id))).first()
            if station is None:
                raise NotFoundError(f"station {station_id!r} not found")
            if station.registration != "Accepted":
                raise ConflictError(f"station {station_id!r} is not registered (its "
                                    f"registration is {station.registration})")
            evses = set((await conn.execute(select(t.Connector.evse_id).where(
                t.Connector.station_id == station_id, t.Connector.evse_id > 0))).scalars())
            owner_id = await conn.scalar(select(t.IdToken.owner_user_id).where(
                t.IdToken.token == id_token))
            record = await token_record(conn, id_token)
        if evse_id and evses and evse_id not in evses:
            raise InvalidInputError(f"station {station_id!r} has no EVSE {evse_id} (it has "
                                    f"{', '.join(str(e) for e in sorted(evses))})")
        if record is None or (owner is not None and owner_id != owner):
            raise NotFoundError(f"id token {id_token!r} not found")
        decision = decide(record, now=now)
        if not decision.accepted:
            raise InvalidInputError(f"id token {id_token!r} cannot charge: it is "
                                    f"{decision.status.value}")
        if record.expires_at is not None and record.expires_at < expires_at:
            raise InvalidInputError(f"id token {id_token!r} expires at "
                                    f"{_iso(record.expires_at)}, before the reservation would")
        return record.group_id

    async def _check_overlap(self, conn: AsyncConnection, station_id: str, evse_id: int,
                             id_token: str, now: datetime) -> None:
        """One active reservation per EVSE, no more than the station has EVSEs, and one
        per token (a driver holds one place at a time)."""
        live = (t.Reservation.status.in_(ACTIVE), t.Reservation.expires_at > now)
        held = await conn.scalar(select(t.Reservation.id).where(
            *live, t.Reservation.id_token == id_token).limit(1))
        if held is not None:
            raise ConflictError(f"id token {id_token!r} already holds reservation {held}; "
                                "cancel it first")
        rows = (await conn.execute(select(t.Reservation.id, t.Reservation.evse_id).where(
            *live, t.Reservation.station_id == station_id))).all()
        same = [r.id for r in rows if evse_id and r.evse_id == evse_id]
        if same:
            raise ConflictError(f"EVSE {evse_id} of {station_id!r} is already reserved "
                                f"(reservation {same[0]})")
        evses = int(await conn.scalar(select(func.count(func.distinct(t.Connector.evse_id)))
                                      .where(t.Connector.station_id == station_id,
                                             t.Connector.evse_id > 0)) or 1)
        if len(rows) >= evses:
            raise ConflictError(f"every EVSE of {station_id!r} is already reserved "
                                f"({len(rows)} active reservation(s))")

    async def cancel(self, reservation_id: int, *, by: str, owner: int | None = None) -> Any:
        """Cancel an active reservation at the station; the record, `cancelled`.

        A station that says it holds no such reservation (Rejected) holds nothing: the
        record is cancelled too. A station that cannot be asked keeps it until it expires
        there: StationUnreachableError, the record stays as it was."""
        row = await self.get(reservation_id, owner=owner)
        if row.status == "pending":
            raise ConflictError(f"reservation {reservation_id} is still being sent to the "
                                "station; try again in a moment")
        if row.status in ACTIVE and row.expires_at <= self._clock.now():
            await self.expire_due()  # the sweep has not caught up with it yet
            row = await self.get(reservation_id, owner=owner)
        if row.status not in ACTIVE:
            raise ConflictError(f"reservation {reservation_id} is {row.status}; only an "
                                "accepted reservation can be cancelled")
        record = await self._commands.issue(
            row.station_id, CommandName.CANCEL_RESERVATION.value,
            {"reservation_id": reservation_id}, created_by=by)
        if record.status in (CommandStatus.FAILED.value, CommandStatus.TIMED_OUT.value):
            raise StationUnreachableError(
                f"could not cancel reservation {reservation_id}: {record.error or record.status}"
                f"; it stays until it expires at {_iso(row.expires_at)} unless you try again")
        return await self.get(reservation_id)

    async def _end(self, reservation_id: int, status: str, allowed: Sequence[str]) -> bool:
        """Move a reservation to a final `status` if it is still in one of `allowed`."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> bool:
            result = await conn.execute(update(t.Reservation).where(
                t.Reservation.id == reservation_id, t.Reservation.status.in_(allowed))
                .values(status=status, ended_at=now))
            return bool(result.rowcount)

        changed = await self._writer.submit(op, f"reservation-{status}")
        if changed:
            await self._publish(reservation_id, status)
        return bool(changed)

    async def _publish(self, reservation_id: int, status: str) -> None:
        await self._bus.publish(f"events.reservation.{status}", {"id": reservation_id})

    # -- the CommandService hook -----------------------------------------------------------

    async def prepare(self, station_id: str, command_id: str, command: CommandName,
                      params: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        reservation_id = params["reservation_id"]
        if command is CommandName.CANCEL_RESERVATION:
            async with self._engine.connect() as conn:
                found = await conn.scalar(select(t.Reservation.id).where(
                    t.Reservation.id == reservation_id, t.Reservation.station_id == station_id))
            if found is None:
                raise NotFoundError(f"station {station_id!r} has no reservation "
                                    f"{reservation_id}")
            return params

        async def op(conn: AsyncConnection) -> bool:
            result = await conn.execute(update(t.Reservation).where(
                t.Reservation.id == reservation_id, t.Reservation.station_id == station_id,
                t.Reservation.status == "pending", t.Reservation.command_id.is_(None))
                .values(command_id=command_id))
            return bool(result.rowcount)

        if not await self._writer.submit(op, "reservation-command"):
            raise InvalidInputError("reserve_now is sent by POST /api/v1/reservations, which "
                                    "picks the reservation id and keeps the record")
        return params

    async def answered(self, station_id: str, record: Any) -> None:
        reservation_id = int(record.params["reservation_id"])
        if record.name == CommandName.CANCEL_RESERVATION.value:
            if record.status in (CommandStatus.ACCEPTED.value, CommandStatus.REJECTED.value):
                await self._end(reservation_id, "cancelled", ACTIVE)
            return
        status = {CommandStatus.ACCEPTED.value: "accepted",
                  CommandStatus.REJECTED.value: "rejected"}.get(record.status, "failed")
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> bool:
            values: dict[str, Any] = {"status": status}
            if status != "accepted":
                values["ended_at"] = now
            result = await conn.execute(update(t.Reservation).where(
                t.Reservation.id == reservation_id, t.Reservation.status == "pending")
                .values(**values))
            return bool(result.rowcount)

        if await self._writer.submit(op, "reservation-answer"):
            await self._publish(reservation_id, status)

    # -- what the station tells ------------------------------------------------------------

    async def station_update(self, station_id: str, reservation_id: int, update_status: str
                             ) -> bool:
        """2.0.1 ReservationStatusUpdate: Expired -> expired, Removed -> cancelled. False
        when the station named no active reservation of its own."""
        status = "expired" if update_status == "Expired" else "cancelled"
        async with self._engine.connect() as conn:
            found = await conn.scalar(select(t.Reservation.id).where(
                t.Reservation.id == reservation_id, t.Reservation.station_id == station_id))
        if found is None:
            return False
        return await self._end(reservation_id, status, ACTIVE)

    async def expire_due(self) -> builtins.list[int]:
        """Mark active reservations past their expiry `expired` (the periodic sweep)."""
        now = self._clock.now()
        due = (t.Reservation.status.in_(ACTIVE), t.Reservation.expires_at <= now)
        async with self._engine.connect() as conn:
            if await conn.scalar(select(t.Reservation.id).where(*due).limit(1)) is None:
                return []

        async def op(conn: AsyncConnection) -> builtins.list[int]:
            ids = [int(i) for i in (await conn.execute(
                select(t.Reservation.id).where(*due))).scalars()]
            if ids:
                await conn.execute(update(t.Reservation).where(t.Reservation.id.in_(ids))
                                   .values(status="expired", ended_at=now))
            return ids

        ids = await self._writer.submit(op, "reservation-expire")
        for reservation_id in ids:
            await self._publish(reservation_id, "expired")
        return ids

    # -- reads -----------------------------------------------------------------------------

    async def get(self, reservation_id: int, *, owner: int | None = None) -> Any:
        """One reservation (with its command's answer); `owner` set: only if that driver
        owns its token."""
        stmt = _select().where(t.Reservation.id == reservation_id)
        if owner is not None:
            stmt = stmt.where(t.Reservation.id_token.in_(
                select(t.IdToken.token).where(t.IdToken.owner_user_id == owner)))
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            raise NotFoundError(f"reservation {reservation_id} not found")
        return row

    async def list(self, *, station_id: str | None = None, site_id: str | None = None,
                   status: str | None = None, active_only: bool = False,
                   owner: int | None = None, limit: int = 50, offset: int = 0
                   ) -> tuple[builtins.list[Any], int]:
        """Reservations, newest first. `active_only`: pending or accepted and not past
        their expiry; `owner`: those on that driver's tokens."""
        where: builtins.list[ColumnElement[bool]] = []
        if station_id is not None:
            where.append(t.Reservation.station_id == station_id)
        if site_id is not None:
            where.append(t.Reservation.station_id.in_(
                select(t.Station.id).where(t.Station.site_id == site_id)))
        if status is not None:
            if status not in STATUSES:
                raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
            where.append(t.Reservation.status == status)
        if active_only:
            where += [t.Reservation.status.in_(ACTIVE),
                      t.Reservation.expires_at > self._clock.now()]
        if owner is not None:
            where.append(t.Reservation.id_token.in_(
                select(t.IdToken.token).where(t.IdToken.owner_user_id == owner)))
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(t.Reservation)
                                          .where(*where)) or 0)
            rows = (await conn.execute(_select().where(*where)
                                       .order_by(t.Reservation.id.desc())
                                       .limit(limit).offset(offset))).all()
        return list(rows), total

    # -- availability ----------------------------------------------------------------------

    async def availability(self, *, site_id: str | None = None,
                           station_ids: Sequence[str] | None = None) -> av.Availability:
        """Where one can charge now and when the next connector frees up, for a site's
        stations or the given ones (domain/availability.py)."""
        now = self._clock.now()
        async with self._engine.connect() as conn:
            if site_id is not None:
                if await conn.scalar(select(t.Site.id).where(t.Site.id == site_id)) is None:
                    raise NotFoundError(f"site {site_id!r} not found")
                which = t.Station.site_id == site_id
            else:
                which = t.Station.id.in_(list(station_ids or []))
            stations = (await conn.execute(select(
                t.Station.id, t.Station.connected, t.Station.registration).where(which))).all()
            ids = [s.id for s in stations]
            if site_id is None:
                missing = sorted(set(station_ids or []) - set(ids))
                if missing:
                    raise NotFoundError(f"station(s) {', '.join(map(repr, missing))} not found")
            inside = t.Connector.station_id.in_(ids)
            connectors = (await conn.execute(select(t.Connector).where(inside))).all()
            holds = (await conn.execute(select(
                t.Reservation.station_id, t.Reservation.evse_id, t.Reservation.expires_at)
                .where(t.Reservation.station_id.in_(ids), t.Reservation.status == "accepted",
                       t.Reservation.expires_at > now))).all()
            running = (await conn.execute(select(
                t.ChargingSession.station_id, t.ChargingSession.evse_id,
                t.ChargingSession.started_at).where(
                t.ChargingSession.station_id.in_(ids),
                t.ChargingSession.status == SessionStatus.ACTIVE.value))).all()
            past = (await conn.execute(select(
                t.ChargingSession.station_id, t.ChargingSession.evse_id,
                t.ChargingSession.started_at, t.ChargingSession.stopped_at).where(
                t.ChargingSession.station_id.in_(ids),
                t.ChargingSession.status == SessionStatus.COMPLETED.value,
                t.ChargingSession.started_at >= now - timedelta(days=av.HISTORY_DAYS),
                t.ChargingSession.stopped_at.is_not(None))
                .order_by(t.ChargingSession.started_at.desc()).limit(_HISTORY_ROWS))).all()
            incidents = (await conn.execute(select(
                t.Incident.station_id, t.Incident.key, t.Incident.message).where(
                t.Incident.station_id.in_(ids), t.Incident.status.in_(OPEN_INCIDENT),
                t.Incident.severity == "critical"))).all()
            described = (await conn.execute(select(
                t.DeviceVariable.station_id, t.DeviceVariable.component,
                t.DeviceVariable.evse_id, t.DeviceVariable.connector_id,
                t.DeviceVariable.attribute_type, t.DeviceVariable.value,
                t.DeviceVariable.characteristics).where(
                t.DeviceVariable.station_id.in_(ids), or_(
                    and_(t.DeviceVariable.component == "Connector",
                         t.DeviceVariable.variable == "ConnectorType"),
                    and_(t.DeviceVariable.component == "EVSE",
                         t.DeviceVariable.variable == "Power"))))).all()
        kinds, powers = _described(described)
        whole = {c.station_id: c.status for c in connectors if c.evse_id == 0}
        troubles = []
        for row in incidents:
            evse = av.incident_evse(row.key, row.station_id)
            if evse is not None:
                troubles.append(av.Trouble(row.station_id, evse, row.message))
        return av.site_availability(
            now,
            [av.Station(s.id, bool(s.connected), s.registration, whole.get(s.id))
             for s in stations],
            [av.Connector(c.station_id, c.evse_id, c.connector_id, c.status, c.error_code,
                          kinds.get((c.station_id, c.evse_id, c.connector_id)),
                          powers.get((c.station_id, c.evse_id)))
             for c in connectors],
            holds=[av.Hold(h.station_id, h.evse_id, h.expires_at) for h in holds],
            sessions=[av.ActiveSession(s.station_id, s.evse_id, s.started_at) for s in running],
            history=[av.PastSession(p.station_id, p.evse_id,
                                    (p.stopped_at - p.started_at).total_seconds())
                     for p in past],
            troubles=troubles,
        )


def _described(rows: Sequence[Any]) -> tuple[dict[tuple[str, int, int], str],
                                            dict[tuple[str, int], int]]:
    """Connector types and EVSE power ratings from the device model (2.0.1 stations that
    reported them): the type's Actual value; the power's maxLimit, else its MaxSet."""
    kinds: dict[tuple[str, int, int], str] = {}
    powers: dict[tuple[str, int], tuple[int, int]] = {}  # (preference, watts)
    for r in rows:
        if r.component == "Connector" and r.attribute_type == "Actual" and r.value:
            kinds[(r.station_id, r.evse_id, r.connector_id)] = str(r.value)
        elif r.component == "EVSE":
            limit = (r.characteristics or {}).get("maxLimit")
            for preference, value in ((2, limit), (1, r.value if r.attribute_type == "MaxSet"
                                                   else None)):
                watts = _watts(value)
                key = (r.station_id, r.evse_id)
                if watts is not None and preference > powers.get(key, (0, 0))[0]:
                    powers[key] = (preference, watts)
    return kinds, {key: watts for key, (_, watts) in powers.items()}


def _watts(value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return int(number) if number.is_finite() and number > 0 else None

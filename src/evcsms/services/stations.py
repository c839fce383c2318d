"""Stations: admission at the handshake, boot, connector status, reported events, CRUD."""

from __future__ import annotations

import asyncio
import builtins
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.domain.model import Registration, ValidationMode
from evcsms.services import secrets
from evcsms.services.errors import ConflictError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter


class Admission(enum.Enum):
    ADMITTED = "admitted"
    UNKNOWN = "unknown"  # no such station and the policy rejects unknown ids
    BAD_CREDENTIALS = "bad_credentials"
    REJECTED = "rejected"  # the operator rejected this station


@dataclass(frozen=True, slots=True)
class Handshake:
    admission: Admission
    registration: Registration
    lenient: bool  # the station's validation mode is lenient


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    reason: str | None
    ocpp_version: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BootResult:
    registration: Registration
    interval: int


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None


_OCCUPIED = {"Occupied", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"}


def port_state(status: str) -> str:
    """An OCPP connector status as a `domain.uptime.PortState` value."""
    if status in _OCCUPIED:
        return "occupied"
    return {"Available": "available", "Reserved": "reserved", "Unavailable": "unavailable",
            "Faulted": "faulted"}.get(status, "unknown")


class StationService:
    def __init__(
        self,
        engine: AsyncEngine,
        writer: BatchWriter,
        bus: Bus,
        clock: Clock,
        *,
        unknown_policy: str = "reject",
        heartbeat_interval: int = 300,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self.unknown_policy = unknown_policy
        self.heartbeat_interval = heartbeat_interval
        self._verified = secrets.VerifiedCache()

    # -- handshake -------------------------------------------------------------------------

    async def admit(self, station_id: str, password: str | None) -> Admission:
        """Decide at the WebSocket handshake whether `station_id` may connect."""
        return (await self.handshake(station_id, password)).admission

    async def handshake(self, station_id: str, password: str | None) -> Handshake:
        """Admission plus what the connection needs (registration, validation mode), from
        one read of the station's row."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        t.Station.password_hash, t.Station.registration,
                        t.Station.validation_mode,
                    ).where(t.Station.id == station_id)
                )
            ).first()
        if row is None:
            return await self._admit_unknown(station_id)
        registration = Registration(row.registration)
        lenient = row.validation_mode == ValidationMode.LENIENT.value
        if registration is Registration.REJECTED:
            return Handshake(Admission.REJECTED, registration, lenient)
        if row.password_hash is not None and (
            password is None
            or not await self._verified.verify(station_id, password, row.password_hash)
        ):
            return Handshake(Admission.BAD_CREDENTIALS, registration, lenient)
        return Handshake(Admission.ADMITTED, registration, lenient)

    async def _admit_unknown(self, station_id: str) -> Handshake:
        if self.unknown_policy == "reject":
            return Handshake(Admission.UNKNOWN, Registration.REJECTED, False)
        registration = (
            Registration.ACCEPTED if self.unknown_policy == "accept" else Registration.PENDING
        )
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            stmt = insert(conn, t.Station).values(
                id=station_id, registration=registration.value, created_at=now, updated_at=now
            )
            await conn.execute(stmt.on_conflict_do_nothing())

        await self._writer.submit(op, "admit-unknown")
        return Handshake(Admission.ADMITTED, registration, False)

    # -- station messages ------------------------------------------------------------------

    async def boot(self, station_id: str, info: BootInfo) -> BootResult:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> str:
            registration = (
                await conn.execute(
                    update(t.Station)
                    .where(t.Station.id == station_id)
                    .values(
                        vendor=info.vendor, model=info.model, serial_number=info.serial_number,
                        firmware_version=info.firmware_version, ocpp_version=info.ocpp_version,
                        last_boot_at=now, boot_reason=info.reason, last_seen_at=now,
                        updated_at=now,
                    )
                    .returning(t.Station.registration)
                )
            ).scalar_one_or_none()
            if registration is None:  # deleted by an operator while connected
                return Registration.REJECTED.value
            await _add_event(conn, station_id, "boot", now, info.payload)
            return str(registration)

        registration = Registration(await self._writer.submit(op, "boot"))
        await self._bus.publish(
            "events.station.boot", {"station_id": station_id, "registration": registration.value}
        )
        return BootResult(registration, self.heartbeat_interval)

    async def registration(self, station_id: str) -> Registration:
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                select(t.Station.registration).where(t.Station.id == station_id)
            )
        return Registration(value or Registration.REJECTED)

    async def connector_status(
        self, station_id: str, status: ConnectorStatus, at: datetime
    ) -> None:
        values = {
            "status": status.status, "error_code": status.error_code,
            "vendor_error_code": status.vendor_error_code, "info": status.info, "status_at": at,
        }

        async def op(conn: AsyncConnection) -> None:
            stmt = insert(conn, t.Connector).values(
                station_id=station_id, evse_id=status.evse_id,
                connector_id=status.connector_id, **values,
            )
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["station_id", "evse_id", "connector_id"], set_=values
                )
            )
            await conn.execute(t.table_of(t.StatusChange).insert().values(
                station_id=station_id, evse_id=status.evse_id, connector_id=status.connector_id,
                source="status", state=port_state(status.status), error_code=status.error_code,
                at=at))

        await self._writer.submit(op, "status")
        await self._bus.publish(
            "events.station.status",
            {"station_id": station_id, "evse_id": status.evse_id,
             "connector_id": status.connector_id, "status": status.status,
             "error_code": status.error_code},
        )

    async def record_event(
        self, station_id: str, kind: str, at: datetime, payload: dict[str, Any]
    ) -> None:
        """Keep a reported event (firmware status, security event, NotifyEvent, ...)."""

        async def op(conn: AsyncConnection) -> None:
            await _add_event(conn, station_id, kind, at, payload)

        await self._writer.submit(op, kind)

    async def notify_event(self, station_id: str, at: datetime, payload: dict[str, Any]) -> None:
        """Keep a 2.0.1 NotifyEvent frame, and tell diagnostics its events."""
        await self.record_event(station_id, "notify_event", at, payload)
        await self._bus.publish("events.station.notify_event",
                                {"station_id": station_id, "events": payload.get("eventData", [])})

    async def set_connected(self, station_id: str, connected: bool, node: str) -> None:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            values: dict[str, Any] = {"connected": connected, "updated_at": now}
            values["connected_node"] = node if connected else None
            if connected:
                values["last_seen_at"] = now
            stmt = update(t.Station).where(t.Station.id == station_id)
            if not connected:  # a replaced connection must not mark the new one offline
                stmt = stmt.where(t.Station.connected_node == node)
            if (await conn.execute(stmt.values(**values))).rowcount:
                await conn.execute(t.table_of(t.StatusChange).insert().values(
                    station_id=station_id, evse_id=0, connector_id=0, source="connection",
                    state="online" if connected else "offline", at=now))

        await self._writer.submit(op, "connected")
        await self._bus.publish(
            "events.station.connection", {"station_id": station_id, "connected": connected}
        )

    # -- operator CRUD ---------------------------------------------------------------------

    async def create(
        self, station_id: str, *, password: str | None, description: str | None = None,
        registration: Registration = Registration.ACCEPTED, password_generated: bool = False,
    ) -> None:
        """Register a station. `password_generated`: evcsms made the password with
        `secrets.new_station_password` (stored without key stretching, see services/secrets)."""
        now = self._clock.now()
        if not password:
            digest = None
        elif password_generated:
            digest = secrets.hash_generated_password(password)
        else:
            digest = await asyncio.to_thread(secrets.hash_password, password)

        async def op(conn: AsyncConnection) -> bool:
            stmt = insert(conn, t.Station).values(
                id=station_id, password_hash=digest, description=description,
                registration=registration.value, created_at=now, updated_at=now,
            )
            result = await conn.execute(stmt.on_conflict_do_nothing())
            return bool(result.rowcount)

        if not await self._writer.submit(op, "station-create"):
            raise ConflictError(f"station {station_id!r} already exists")

    async def update(self, station_id: str, **changes: Any) -> None:
        """Change description, registration, validation mode or password."""
        values = {key: value for key, value in changes.items() if value is not None}
        if "password" in values:
            values["password_hash"] = await asyncio.to_thread(
                secrets.hash_password, values.pop("password")
            )
            self._verified.forget(station_id)
        if "registration" in values:
            values["registration"] = Registration(values["registration"]).value
        values["updated_at"] = self._clock.now()

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(t.Station).where(t.Station.id == station_id).values(**values)
            )
            return int(result.rowcount)

        if not await self._writer.submit(op, "station-update"):
            raise NotFoundError(f"station {station_id!r} not found")

    async def delete(self, station_id: str) -> None:
        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(delete(t.Station).where(t.Station.id == station_id))
            return int(result.rowcount)

        if not await self._writer.submit(op, "station-delete"):
            raise NotFoundError(f"station {station_id!r} not found")
        self._verified.forget(station_id)

    async def get(self, station_id: str) -> tuple[Any, builtins.list[Any]]:
        """The station row and its connector rows."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.Station).where(t.Station.id == station_id))).first()
            if row is None:
                raise NotFoundError(f"station {station_id!r} not found")
            connectors = (
                await conn.execute(
                    select(t.Connector)
                    .where(t.Connector.station_id == station_id)
                    .order_by(t.Connector.evse_id, t.Connector.connector_id)
                )
            ).all()
        return row, list(connectors)

    async def list(self, *, limit: int, offset: int) -> tuple[builtins.list[Any], int]:
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.Station))
            rows = (
                await conn.execute(select(t.Station).order_by(t.Station.id).limit(limit).offset(offset))
            ).all()
        return list(rows), int(total or 0)

    async def events(
        self, station_id: str, *, kind: str | None, limit: int
    ) -> builtins.list[Any]:
        stmt = select(t.StationEvent).where(t.StationEvent.station_id == station_id)
        if kind:
            stmt = stmt.where(t.StationEvent.kind == kind)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(stmt.order_by(t.StationEvent.id.desc()).limit(limit))).all()
        return list(rows)


async def _add_event(
    conn: AsyncConnection, station_id: str, kind: str, at: datetime, payload: dict[str, Any]
) -> None:
    await conn.execute(
        t.table_of(t.StationEvent).insert().values(
            station_id=station_id, kind=kind, timestamp=at, payload=payload
        )
    )

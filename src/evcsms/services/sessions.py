"""Charging sessions (transactions) and their meter values.

Re-sent messages are idempotent: a repeated 1.6 StartTransaction returns the
transaction id it got the first time, a repeated 2.0.1 TransactionEvent (same
seqNo) changes nothing, and a repeated meter sample is dropped by its unique
key. Energy is always recomputed from the stored samples by
`domain.metering.session_energy`, so a duplicate can never count twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.domain.metering import Reading, SampledValue, readings_of
from evcsms.domain.model import SessionStatus
from evcsms.domain.tokens import TokenDecision
from evcsms.services.meter_sink import MeterSink
from evcsms.services.meter_store import (
    StoredSample,
    insert_samples,
    recompute_energy,
    stored_samples,
)
from evcsms.services.periodic import Periodic
from evcsms.services.reservations import use_reservation
from evcsms.services.tariffs import choose_tariff
from evcsms.services.tokens import decide_in
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

# A 1.6 StartTransaction stamped this long before it arrives was queued offline.
OFFLINE_START_AFTER = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class StartTransaction:
    station_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: Decimal
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class StopTransaction:
    station_id: str
    transaction_id: int
    meter_stop_wh: Decimal
    timestamp: datetime
    reason: str | None = None
    id_tag: str | None = None
    samples: list[SampledValue] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """A 2.0.1 TransactionEvent, already validated and parsed."""

    station_id: str
    event_type: str  # Started | Updated | Ended
    timestamp: datetime
    trigger_reason: str
    seq_no: int
    transaction_ref: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    stopped_reason: str | None = None
    charging_state: str | None = None
    samples: list[SampledValue] = field(default_factory=list)
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class StartResult:
    transaction_id: int
    decision: TokenDecision


class SessionService:
    """Transactions and their meter values.

    The energy of a running session is recomputed every `energy_refresh` seconds (and at
    its end), not on every frame: see `services.meter_sink`."""

    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock, *,
                 energy_refresh: float = 5.0) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._sink = MeterSink(writer)
        self._refresher = Periodic("energy-refresh", energy_refresh, self._sink.refresh)

    async def start(self) -> None:
        self._refresher.start()

    async def close(self) -> None:
        """Stop refreshing, after one last refresh (what this node marked stale)."""
        await self._refresher.close()
        await self.refresh_energy()

    async def refresh_energy(self) -> int:
        """Bring the energy of every running session with new readings up to date now."""
        return await self._sink.refresh()

    # -- OCPP 1.6 --------------------------------------------------------------------------

    async def start_v16(self, msg: StartTransaction) -> StartResult:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> StartResult:
            existing = await conn.scalar(
                select(t.ChargingSession.id).where(
                    t.ChargingSession.station_id == msg.station_id,
                    t.ChargingSession.evse_id == msg.connector_id,
                    t.ChargingSession.started_at == msg.timestamp,
                    t.ChargingSession.id_token == msg.id_tag,
                )
            )
            decision = await decide_in(conn, msg.id_tag, now, starting=existing is None)
            if existing is not None:
                return StartResult(int(existing), decision)
            offline = now - msg.timestamp > OFFLINE_START_AFTER
            session_id = await _insert_session(
                conn, msg.station_id, f"pending-{uuid.uuid4()}", msg.connector_id, 1,
                msg.id_tag, msg.timestamp, now, meter_start_wh=msg.meter_start_wh,
                offline=offline, auth_status=decision.status.value,
            )
            await conn.execute(
                update(t.ChargingSession)
                .where(t.ChargingSession.id == session_id)
                .values(transaction_ref=str(session_id))
            )
            await use_reservation(conn, session_id, msg.reservation_id, now)
            return StartResult(session_id, decision)

        result = await self._writer.submit(op, "start-transaction")
        await self._publish("started", msg.station_id, result.transaction_id)
        return result

    async def stop_v16(self, msg: StopTransaction) -> TokenDecision | None:
        """Close the session. An unknown transaction id is accepted and recorded."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> tuple[TokenDecision | None, bool]:
            row = (
                await conn.execute(
                    select(t.ChargingSession).where(
                        t.ChargingSession.id == msg.transaction_id,
                        t.ChargingSession.station_id == msg.station_id,
                    )
                )
            ).first()
            decision = (
                await decide_in(conn, msg.id_tag, now, starting=False) if msg.id_tag else None
            )
            if row is None:
                await _unknown_stop(conn, msg, now)
                return decision, False
            if row.status == SessionStatus.COMPLETED.value:  # a re-sent stop: nothing changes
                await insert_samples(conn, msg.station_id, row.id, row.evse_id, msg.samples)
                await recompute_energy(conn, row.id)
                return decision, False
            await insert_samples(conn, msg.station_id, row.id, row.evse_id, msg.samples)
            await conn.execute(
                update(t.ChargingSession)
                .where(t.ChargingSession.id == row.id)
                .values(
                    status=SessionStatus.COMPLETED.value, stopped_at=msg.timestamp,
                    meter_stop_wh=msg.meter_stop_wh, stop_reason=msg.reason or "Local",
                    updated_at=now,
                )
            )
            await recompute_energy(conn, row.id)
            return decision, True

        decision, known = await self._writer.submit(op, "stop-transaction")
        if known:
            await self._publish("ended", msg.station_id, msg.transaction_id)
        return decision

    async def meter_values(
        self, station_id: str, evse_id: int, samples: list[SampledValue], *,
        transaction_id: int | None = None, transaction_ref: str | None = None,
    ) -> None:
        """Store samples; attach them to the session named by id (1.6) or ref (2.0.1)."""
        await self.meter_readings(
            station_id, evse_id, readings_of(samples), transaction_id=transaction_id,
            transaction_ref=transaction_ref,
        )

    async def meter_readings(
        self, station_id: str, evse_id: int, readings: list[Reading], *,
        transaction_id: int | None = None, transaction_ref: str | None = None,
    ) -> None:
        """`meter_values` for readings already in storage form (the MeterValues hot path).

        Goes through the MeterSink: one INSERT per writer batch for every station's frames.
        """
        await self._sink.add(
            station_id, evse_id, readings, transaction_id=transaction_id,
            transaction_ref=transaction_ref,
        )

    # -- OCPP 2.0.1 ------------------------------------------------------------------------

    async def transaction_event(
        self, msg: TransactionEvent
    ) -> tuple[TokenDecision | None, int]:
        """Apply the event; (the token decision when it named a token, the session id)."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> tuple[TokenDecision | None, int, bool]:
            session_id = await _session_for_event(conn, msg, now)
            decision = None
            if msg.id_token:
                decision = await decide_in(
                    conn, msg.id_token, now, starting=msg.event_type == "Started",
                    exclude_session=session_id,
                )
            if decision is not None and msg.event_type == "Started":
                await conn.execute(
                    update(t.ChargingSession)
                    .where(t.ChargingSession.id == session_id)
                    .values(auth_status=decision.status.value)
                )
            new = await _record_event(conn, session_id, msg, now)
            if new:
                await _apply_event(conn, session_id, msg, now)
                if msg.event_type != "Ended" and (msg.reservation_id or msg.id_token):
                    await use_reservation(conn, session_id, msg.reservation_id, now)
            now_needed = msg.event_type == "Ended" or await _finished(conn, session_id)
            if now_needed:  # billed: never stale
                await recompute_energy(conn, session_id)
            return decision, session_id, now_needed

        decision, session_id, recomputed = await self._writer.submit(op, "transaction-event")
        if not recomputed:
            self._sink.mark_stale(session_id)
        await self._publish(msg.event_type.lower(), msg.station_id, session_id)
        return decision, session_id

    # -- queries ---------------------------------------------------------------------------

    async def get(self, session_id: int) -> Any | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    select(t.ChargingSession).where(t.ChargingSession.id == session_id)
                )
            ).first()

    async def samples(self, session_id: int, *, limit: int = 10_000) -> list[StoredSample]:
        """A session's samples (0: outside any session), oldest first, each once."""
        async with self._engine.connect() as conn:
            return await stored_samples(conn, session_id, limit=limit)

    async def _publish(self, what: str, station_id: str, session_id: int) -> None:
        await self._bus.publish(
            f"events.session.{what}", {"station_id": station_id, "session_id": session_id}
        )


async def _insert_session(
    conn: AsyncConnection, station_id: str, ref: str, evse_id: int, connector_id: int,
    id_token: str | None, started_at: datetime, now: datetime, *,
    meter_start_wh: Decimal | None = None, offline: bool = False, auth_status: str | None = None,
) -> int:
    choice = await choose_tariff(conn, station_id, id_token, started_at)
    result = await conn.execute(
        t.table_of(t.ChargingSession).insert()
        .values(
            station_id=station_id, transaction_ref=ref, evse_id=evse_id,
            connector_id=connector_id, id_token=id_token, status=SessionStatus.ACTIVE.value,
            started_at=started_at, meter_start_wh=meter_start_wh, energy_wh=Decimal(0),
            offline_start=offline, meter_anomalies=[], created_at=now, updated_at=now,
            auth_status=auth_status,
            tariff_version_id=choice.tariff.row_id if choice is not None else None,
        )
        .returning(t.ChargingSession.id)
    )
    return int(result.scalar_one())


async def _find_session(
    conn: AsyncConnection, station_id: str, transaction_id: int | None, ref: str | None
) -> int:
    if transaction_id is None and ref is None:
        return 0
    stmt = select(t.ChargingSession.id).where(t.ChargingSession.station_id == station_id)
    if transaction_id is not None:
        stmt = stmt.where(t.ChargingSession.id == transaction_id)
    else:
        stmt = stmt.where(t.ChargingSession.transaction_ref == ref)
    return int(await conn.scalar(stmt) or 0)


async def _unknown_stop(conn: AsyncConnection, msg: StopTransaction, now: datetime) -> None:
    await conn.execute(
        t.table_of(t.StationEvent).insert().values(
            station_id=msg.station_id, kind="unknown_transaction_stop", timestamp=now,
            payload={
                "transaction_id": msg.transaction_id, "meter_stop_wh": str(msg.meter_stop_wh),
                "timestamp": msg.timestamp.isoformat(), "reason": msg.reason,
                "id_tag": msg.id_tag,
            },
        )
    )
    await insert_samples(conn, msg.station_id, 0, 0, msg.samples)


async def _session_for_event(conn: AsyncConnection, msg: TransactionEvent, now: datetime) -> int:
    """The session of a TransactionEvent, created by whichever event arrives first."""
    session_id = await _find_session(conn, msg.station_id, None, msg.transaction_ref)
    if session_id:
        return session_id
    return await _insert_session(
        conn, msg.station_id, msg.transaction_ref, msg.evse_id or 0, msg.connector_id or 1,
        msg.id_token, msg.timestamp, now, offline=msg.offline and msg.event_type == "Started",
    )


async def _finished(conn: AsyncConnection, session_id: int) -> bool:
    status = await conn.scalar(
        select(t.ChargingSession.status).where(t.ChargingSession.id == session_id))
    return bool(status == SessionStatus.COMPLETED.value)


async def _record_event(
    conn: AsyncConnection, session_id: int, msg: TransactionEvent, now: datetime
) -> bool:
    """Keep the event; False when this seqNo was seen before (a re-sent event)."""
    seen = await conn.scalar(
        select(t.TransactionEvent.id).where(
            t.TransactionEvent.session_id == session_id, t.TransactionEvent.seq_no == msg.seq_no
        )
    )
    if seen is not None:
        return False
    await conn.execute(
        t.table_of(t.TransactionEvent).insert().values(
            session_id=session_id, seq_no=msg.seq_no, event_type=msg.event_type,
            trigger_reason=msg.trigger_reason, timestamp=msg.timestamp, offline=msg.offline,
            received_at=now,
        )
    )
    return True


async def _apply_event(
    conn: AsyncConnection, session_id: int, msg: TransactionEvent, now: datetime
) -> None:
    row = (
        await conn.execute(select(t.ChargingSession).where(t.ChargingSession.id == session_id))
    ).one()
    values: dict[str, Any] = {"updated_at": now}
    if msg.event_type == "Started" or msg.timestamp < row.started_at:
        values["started_at"] = min(msg.timestamp, row.started_at)
    if msg.event_type == "Started" and msg.offline:
        values["offline_start"] = True
    if msg.evse_id and not row.evse_id:
        values["evse_id"] = msg.evse_id
        if msg.connector_id:
            values["connector_id"] = msg.connector_id
    if msg.id_token and not row.id_token:
        values["id_token"] = msg.id_token
    if row.last_seq_no is None or msg.seq_no > row.last_seq_no:
        values["last_seq_no"] = msg.seq_no
    if msg.event_type == "Ended":
        values.update(
            status=SessionStatus.COMPLETED.value, stopped_at=msg.timestamp,
            stop_reason=msg.stopped_reason or "Local",
        )
    await conn.execute(
        update(t.ChargingSession).where(t.ChargingSession.id == session_id).values(**values)
    )
    evse_id = values.get("evse_id", row.evse_id)
    await insert_samples(conn, msg.station_id, session_id, evse_id, msg.samples)

"""Storing meter readings (idempotently) and reading samples and the energy register back.

A reading is one meterValue element: the samples a station took at one moment, stored
as one `meter_readings` row with the samples as compact JSON (see `tables.MeterReading`
and ADR 0004). Readers flatten readings back into samples and keep the first stored
copy of any sample seen twice, which is what the old one-row-per-sample unique key did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import Reading, SampledValue, readings_of, session_energy
from evcsms.services.errors import InvalidInputError
from evcsms.storage import tables as t
from evcsms.storage.bulk import insert_reading_rows

REGISTER = "Energy.Active.Import.Register"
# Bounds on the text of one sample's fields (the frame size limit bounds the rest); a
# station in lenient mode may send longer ones, which are refused, never truncated.
_MAX_MEASURAND, _MAX_SHORT, _MAX_CONTEXT, _MAX_UNIT = 50, 8, 24, 20


@dataclass(frozen=True, slots=True)
class StoredSample:
    """A sample as stored: absent phase, location and context are ""."""

    station_id: str
    session_id: int
    evse_id: int
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str | None
    value: Decimal
    signed_data: str | None

    def sampled_value(self) -> SampledValue:
        return SampledValue(
            timestamp=self.timestamp, value=self.value, measurand=self.measurand,
            unit=self.unit, phase=self.phase or None, location=self.location or None,
            context=self.context or None, signed_data=self.signed_data,
        )


def reading_rows(
    station_id: str, session_id: int, evse_id: int, readings: Sequence[Reading]
) -> list[list[Any]]:
    """Rows in `storage.bulk.COLUMNS` order, one per reading; InvalidInputError if a field
    is longer than a sample may have it."""
    rows = []
    for at, items in readings:
        for m, phase, location, context, unit, _value, _signed in items:
            if (len(m) > _MAX_MEASURAND or len(phase) > _MAX_SHORT or len(location) > _MAX_SHORT
                    or len(context) > _MAX_CONTEXT or (unit is not None and len(unit) > _MAX_UNIT)):
                raise InvalidInputError(
                    f"sampled value {m[:50]!r} has a field longer than allowed")
        text = orjson.dumps(items)
        digest = hashlib.blake2b(text, digest_size=8).hexdigest()
        rows.append([station_id, session_id, evse_id, at, digest, text.decode()])
    return rows


async def insert_samples(
    conn: AsyncConnection, station_id: str, session_id: int, evse_id: int,
    samples: Sequence[SampledValue],
) -> None:
    """Store samples; a reading already stored (same key) is skipped, never counted twice."""
    await insert_reading_rows(
        conn, reading_rows(station_id, session_id, evse_id, readings_of(samples)))


async def stored_samples(
    conn: AsyncConnection, session_id: int, *, measurand: str | None = None,
    limit: int | None = None,
) -> list[StoredSample]:
    """The samples stored for a session (0: outside any session), oldest first, each
    sample once (the first stored copy), optionally only one measurand."""
    rows = await conn.execute(
        select(
            t.MeterReading.station_id, t.MeterReading.evse_id, t.MeterReading.timestamp,
            t.MeterReading.samples,
        )
        .where(t.MeterReading.session_id == session_id)
        .order_by(t.MeterReading.timestamp, t.MeterReading.id)
    )
    return _flatten(session_id, rows, measurand, limit)


def _flatten(session_id: int, rows: Iterable[Any], measurand: str | None,
             limit: int | None = None) -> list[StoredSample]:
    """Readings (station, evse, timestamp, samples JSON), oldest first -> their samples,
    each once (the first stored copy)."""
    seen: set[tuple[Any, ...]] = set()
    out: list[StoredSample] = []
    for station_id, evse_id, at, text in rows:
        for m, phase, location, context, unit, value, signed in orjson.loads(text):
            if measurand is not None and m != measurand:
                continue
            key = (station_id, evse_id, at, m, phase, location, context)
            if key in seen:
                continue
            seen.add(key)
            out.append(StoredSample(
                station_id, session_id, evse_id, at, m, phase, location, context, unit,
                Decimal(value), signed,
            ))
            if limit is not None and len(out) >= limit:
                return out
    return out


async def register_samples(conn: AsyncConnection, session_id: int) -> list[SampledValue]:
    return [s.sampled_value() for s in await stored_samples(conn, session_id, measurand=REGISTER)]


async def recompute_energy(conn: AsyncConnection, session_id: int) -> None:
    await recompute_energies(conn, [session_id])


async def recompute_energies(conn: AsyncConnection, session_ids: Collection[int]) -> None:
    """Recompute the energy (and meter anomalies) of these sessions from their stored
    register samples: two reads and one batched update, however many sessions."""
    ids = sorted(set(session_ids))
    if not ids:
        return
    sessions = (await conn.execute(
        select(t.ChargingSession.id, t.ChargingSession.meter_start_wh,
               t.ChargingSession.meter_stop_wh, t.ChargingSession.started_at,
               t.ChargingSession.stopped_at, t.ChargingSession.offline_start)
        .where(t.ChargingSession.id.in_(ids)))).all()
    if not sessions:
        return
    readings: dict[int, list[Any]] = {row.id: [] for row in sessions}
    result = await conn.execute(
        select(t.MeterReading.session_id, t.MeterReading.station_id, t.MeterReading.evse_id,
               t.MeterReading.timestamp, t.MeterReading.samples)
        .where(t.MeterReading.session_id.in_(list(readings)))
        .order_by(t.MeterReading.session_id, t.MeterReading.timestamp, t.MeterReading.id))
    for session_id, *reading in result:
        readings[session_id].append(reading)
    updates = []
    for row in sessions:
        samples = [s.sampled_value() for s in _flatten(row.id, readings[row.id], REGISTER)]
        energy = session_energy(
            samples, meter_start_wh=row.meter_start_wh, meter_stop_wh=row.meter_stop_wh,
            started_at=row.started_at, stopped_at=row.stopped_at,
            offline_start=row.offline_start)
        anomalies = [
            {
                "kind": str(a.kind),
                "timestamp": a.timestamp.isoformat() if a.timestamp is not None else None,
                "detail": a.detail,
            }
            for a in energy.anomalies
        ]
        updates.append({"sid": row.id, "energy": energy.energy_wh, "anomalies": anomalies})
    await conn.execute(
        update(t.ChargingSession)
        .where(t.ChargingSession.id == bindparam("sid"))
        .values(energy_wh=bindparam("energy"), meter_anomalies=bindparam("anomalies"))
        .execution_options(synchronize_session=False),
        updates,
    )

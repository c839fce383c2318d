"""Storing meter samples (idempotently) and reading back the energy register."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import SampledValue, session_energy
from evcsms.services.errors import InvalidInputError
from evcsms.storage import tables as t
from evcsms.storage.bulk import insert_meter_rows

REGISTER = "Energy.Active.Import.Register"


def sample_rows(
    station_id: str, session_id: int, evse_id: int, samples: Sequence[SampledValue]
) -> list[list[Any]]:
    """Rows in `storage.bulk.COLUMNS` order; InvalidInputError if a field cannot be stored.

    Strict validation keeps every field inside its column; a station in lenient mode may
    send longer ones, which are refused, not truncated.
    """
    rows = []
    for s in samples:
        if (len(s.measurand) > 50 or len(s.phase or "") > 8 or len(s.location or "") > 8
                or len(s.context or "") > 24 or len(s.unit or "") > 20):
            raise InvalidInputError(
                f"sampled value {s.measurand[:50]!r} has a field longer than its column allows")
        rows.append([
            station_id, session_id, evse_id, s.timestamp, s.measurand, s.phase or "",
            s.location or "", s.context or "", s.unit, s.value, s.signed_data,
        ])
    return rows


async def insert_samples(
    conn: AsyncConnection, station_id: str, session_id: int, evse_id: int,
    samples: Sequence[SampledValue],
) -> None:
    """Insert samples; one already stored (same key) is skipped, never counted twice."""
    await insert_meter_rows(conn, sample_rows(station_id, session_id, evse_id, samples))


async def register_samples(conn: AsyncConnection, session_id: int) -> list[SampledValue]:
    rows = await conn.execute(
        select(
            t.MeterValue.timestamp, t.MeterValue.value, t.MeterValue.unit, t.MeterValue.phase,
            t.MeterValue.location, t.MeterValue.context,
        ).where(t.MeterValue.session_id == session_id, t.MeterValue.measurand == REGISTER)
    )
    return [
        SampledValue(
            timestamp=r.timestamp, value=r.value, measurand=REGISTER, unit=r.unit,
            phase=r.phase or None, location=r.location or None, context=r.context or None,
        )
        for r in rows
    ]


async def recompute_energy(conn: AsyncConnection, session_id: int) -> None:
    row = (
        await conn.execute(select(t.ChargingSession).where(t.ChargingSession.id == session_id))
    ).first()
    if row is None:
        return
    result = session_energy(
        await register_samples(conn, session_id),
        meter_start_wh=row.meter_start_wh, meter_stop_wh=row.meter_stop_wh,
        started_at=row.started_at, stopped_at=row.stopped_at, offline_start=row.offline_start,
    )
    anomalies = [
        {
            "kind": str(a.kind),
            "timestamp": a.timestamp.isoformat() if a.timestamp is not None else None,
            "detail": a.detail,
        }
        for a in result.anomalies
    ]
    await conn.execute(
        update(t.ChargingSession)
        .where(t.ChargingSession.id == session_id)
        .values(energy_wh=result.energy_wh, meter_anomalies=anomalies)
    )

"""Storing meter samples (idempotently) and reading back the energy register."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import SampledValue
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert

REGISTER = "Energy.Active.Import.Register"


async def insert_samples(
    conn: AsyncConnection, station_id: str, session_id: int, evse_id: int,
    samples: Sequence[SampledValue],
) -> None:
    """Insert samples; one already stored (same key) is skipped, never counted twice."""
    if not samples:
        return
    rows = [
        {
            "station_id": station_id, "session_id": session_id, "evse_id": evse_id,
            "timestamp": s.timestamp, "measurand": s.measurand, "phase": s.phase or "",
            "location": s.location or "", "context": s.context or "", "unit": s.unit,
            "value": s.value, "signed_data": s.signed_data,
        }
        for s in samples
    ]
    await conn.execute(insert(conn, t.MeterValue).on_conflict_do_nothing(), rows)


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

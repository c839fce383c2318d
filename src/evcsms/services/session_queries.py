"""Read-side queries over sessions for the API and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.storage import tables as t


@dataclass(frozen=True, slots=True)
class SessionFilter:
    station_id: str | None = None
    id_token: str | None = None
    status: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None


async def list_sessions(
    engine: AsyncEngine, where: SessionFilter, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    conditions = []
    if where.station_id:
        conditions.append(t.ChargingSession.station_id == where.station_id)
    if where.id_token:
        conditions.append(t.ChargingSession.id_token == where.id_token)
    if where.status:
        conditions.append(t.ChargingSession.status == where.status)
    if where.started_after:
        conditions.append(t.ChargingSession.started_at >= where.started_after)
    if where.started_before:
        conditions.append(t.ChargingSession.started_at < where.started_before)
    async with engine.connect() as conn:
        total = await conn.scalar(
            select(func.count()).select_from(t.ChargingSession).where(*conditions)
        )
        rows = await conn.execute(
            select(t.ChargingSession)
            .where(*conditions)
            .order_by(t.ChargingSession.started_at.desc(), t.ChargingSession.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(rows.all()), int(total or 0)

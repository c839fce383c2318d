"""The fleet overview: each station's state from its connection and connector statuses.

One query for the whole fleet (stations, their connectors and their site's time zone);
`station_state` is shared by the page and the live updates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.storage import tables as t

STATES = ("charging", "available", "faulted", "offline")  # counted at the top of the page
ALL_STATES = (*STATES, "occupied", "unavailable")
_CHARGING = {"Charging", "SuspendedEV", "SuspendedEVSE"}
_OCCUPIED = {"Occupied", "Preparing", "Finishing", "Reserved"}


def station_state(connected: bool, statuses: Iterable[str]) -> str:
    """offline, or the most telling connector status: faulted > charging > occupied >
    available > unavailable (a connected station without statuses yet is available)."""
    if not connected:
        return "offline"
    seen = set(statuses)
    if "Faulted" in seen:
        return "faulted"
    if seen & _CHARGING:
        return "charging"
    if seen & _OCCUPIED:
        return "occupied"
    if "Available" in seen or not seen:
        return "available"
    return "unavailable"


@dataclass(frozen=True, slots=True)
class FleetRow:
    station_id: str
    description: str
    site: str
    state: str
    connectors: str
    last_seen: str


def local_time(at: datetime | None, zone: str) -> str:
    if at is None:
        return ""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


async def fleet(engine: AsyncEngine, *, station_id: str | None = None) -> list[FleetRow]:
    stations = (
        select(t.Station.id, t.Station.description, t.Station.connected,
               t.Station.last_seen_at, t.Station.site_id, t.Site.time_zone)
        .outerjoin(t.Site, t.Site.id == t.Station.site_id)
        .order_by(t.Station.id)
    )
    connectors = select(t.Connector.station_id, t.Connector.evse_id, t.Connector.status)
    if station_id is not None:
        stations = stations.where(t.Station.id == station_id)
        connectors = connectors.where(t.Connector.station_id == station_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stations)).all()
        statuses: dict[str, list[Any]] = {}
        for c in (await conn.execute(
                connectors.where(or_(t.Connector.evse_id > 0, t.Connector.status == "Faulted"))
                .order_by(t.Connector.station_id, t.Connector.evse_id,
                          t.Connector.connector_id))).all():
            statuses.setdefault(c.station_id, []).append(c)
    return [
        FleetRow(
            station_id=row.id, description=row.description or "", site=row.site_id or "",
            state=station_state(bool(row.connected),
                                (c.status for c in statuses.get(row.id, []))),
            connectors=", ".join(f"{c.evse_id}: {c.status}" for c in statuses.get(row.id, [])),
            last_seen=local_time(row.last_seen_at, row.time_zone or "UTC"),
        )
        for row in rows
    ]


def counts(rows: Iterable[FleetRow]) -> dict[str, int]:
    result = dict.fromkeys(ALL_STATES, 0)
    for row in rows:
        result[row.state] = result.get(row.state, 0) + 1
    return result


def matches(row: FleetRow, state: str | None, q: str | None) -> bool:
    if state and row.state != state:
        return False
    if q:
        needle = q.casefold()
        return any(needle in field.casefold()
                   for field in (row.station_id, row.description, row.site))
    return True

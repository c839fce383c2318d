"""The fleet overview (GET /) and its live updates (GET /events, server-sent events):
each station's state from its connection and connector statuses.

One query for the whole fleet (stations, their connectors and their site's time zone);
`station_state` is shared by the page and the live updates."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.services.container import Services
from evcsms.storage import tables as t
from evcsms.web.common import Web, local_time

KEEPALIVE_SECONDS = 15.0

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


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/")
    async def overview(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        state = request.query_params.get("state") or None
        if state not in ALL_STATES:
            state = None
        q = (request.query_params.get("q") or "").replace("\x00", "").strip()[:100]
        rows = await fleet(services.engine)
        shown = [row for row in rows if matches(row, state, q)]
        return web.page(request, who, "fleet.html", counts=counts(rows), states=STATES,
                        all_states=ALL_STATES, rows=shown, state=state or "", q=q,
                        total=len(rows))

    @router.get("/events")
    async def events(request: Request) -> Response:
        who = await web.who(request)
        if who is None or who.is_driver:
            return Response("log in first", status_code=401, media_type="text/plain")
        return StreamingResponse(_stream(services), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    return router


async def _stream(services: Services) -> AsyncIterator[str]:
    """Each station whose status or connection changes, with its state now, as SSE."""
    changed: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)

    async def on_event(_subject: str, message: dict[str, Any]) -> None:
        station_id = message.get("station_id")
        if isinstance(station_id, str):
            with contextlib.suppress(asyncio.QueueFull):  # a stalled browser loses updates
                changed.put_nowait(station_id)

    subscriptions = [await services.bus.subscribe(subject, on_event)
                     for subject in ("events.station.status", "events.station.connection")]
    try:
        yield ": connected\n\n"
        while True:
            try:
                station_id = await asyncio.wait_for(changed.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            rows = await fleet(services.engine, station_id=station_id)
            if rows:
                data = json.dumps({"station_id": station_id, "state": rows[0].state,
                                   "connectors": rows[0].connectors})
                yield f"event: station\ndata: {data}\n\n"
    finally:
        for sub in subscriptions:
            await sub.unsubscribe()

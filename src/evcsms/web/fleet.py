"""The fleet overview (GET /) and its live updates (GET /events, server-sent events):
each station's state from its connection and connector statuses.

One query for the whole fleet (stations, their connectors and their site's time zone);
`station_state` is shared by the page and the live updates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Collection, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.services.container import Services
from evcsms.storage import tables as t
from evcsms.web.common import Web, local_time, prefix, whole_number

KEEPALIVE_SECONDS = 15.0
PAGE_SIZE = 100  # stations a page; the counts cover the whole fleet
logger = logging.getLogger(__name__)

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


async def fleet(engine: AsyncEngine, *, station_id: str | None = None,
                station_ids: Collection[str] | None = None,
                site_id: str | None = None) -> list[FleetRow]:
    """Every station's row, or only `station_id`'s, those in `station_ids`, or a site's."""
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
    if station_ids is not None:
        stations = stations.where(t.Station.id.in_(list(station_ids)))
        connectors = connectors.where(t.Connector.station_id.in_(list(station_ids)))
    if site_id is not None:
        stations = stations.where(t.Station.site_id == site_id)
        connectors = connectors.where(t.Connector.station_id.in_(
            select(t.Station.id).where(t.Station.site_id == site_id)))
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
        page_text = request.query_params.get("page") or ""
        page = whole_number(page_text, default=1)
        if page is None:
            return web.error(request, who, 400, "Bad page",
                             f"page must be a whole number from 1 (got {page_text[:20]!r}).",
                             back="/")
        rows = await fleet(services.engine)
        matching = [row for row in rows if matches(row, state, q)]
        pages = max(1, -(-len(matching) // PAGE_SIZE))
        if page > pages:
            return web.error(request, who, 404, "No such page",
                             f"The list has {pages} page{'s' if pages > 1 else ''}.", back="/")
        shown = matching[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]

        def href(number: int) -> str:
            query = urlencode({k: v for k, v in (("state", state or ""), ("q", q),
                                                 ("page", str(number))) if v})
            return f"{prefix(request)}/?{query}"

        return web.page(request, who, "fleet.html", counts=counts(rows), states=STATES,
                        all_states=ALL_STATES, rows=shown, state=state or "", q=q,
                        total=len(rows), matching=len(matching), page=page, pages=pages,
                        first=(page - 1) * PAGE_SIZE + 1,
                        prev_href=href(page - 1) if page > 1 else None,
                        next_href=href(page + 1) if page < pages else None)

    feed = FleetFeed(services)

    @router.get("/events")
    async def events(request: Request) -> Response:
        who = await web.who(request)
        if who is None or who.is_driver:
            return Response("log in first", status_code=401, media_type="text/plain")
        return StreamingResponse(feed.stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    return router


class FleetFeed:
    """The live fleet for every open fleet page of this node, from one bus subscription.

    Stations whose status or connection changed are collected for `batch_seconds`, looked
    up in one query, and each one's new state (with the state it had, so a page moves its
    counts for stations it does not list) is sent to every open page; so a hundred
    operators watching cost one query per batch, not a hundred per event. The
    subscription exists while at least one page is open. A page that stops reading
    loses updates (its queue holds `QUEUE` of them), never the others'."""

    QUEUE = 1000

    def __init__(self, services: Services, *, batch_seconds: float = 0.2) -> None:
        self._services = services
        self._batch = batch_seconds
        self._pages: set[asyncio.Queue[str]] = set()
        self._changed: dict[str, None] = {}  # in arrival order
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subs: list[Any] = []
        self._states: dict[str, str] = {}  # each station's state as last sent
        self._lock = asyncio.Lock()
        self.queries = 0  # lookups made (tests, and anyone curious)

    async def stream(self) -> AsyncGenerator[str, None]:
        """One page's server-sent events: a comment first, then `station` events."""
        page: asyncio.Queue[str] = asyncio.Queue(maxsize=self.QUEUE)
        await self._join(page)
        try:
            yield ": connected\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(page.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            await self._leave(page)

    async def _join(self, page: asyncio.Queue[str]) -> None:
        async with self._lock:
            self._pages.add(page)
            if self._task is None:
                self._states = {row.station_id: row.state
                                for row in await fleet(self._services.engine)}
                self._subs = [await self._services.bus.subscribe(subject, self._on_event)
                              for subject in ("events.station.status",
                                              "events.station.connection")]
                self._task = asyncio.create_task(self._run(), name="fleet-feed")

    async def _leave(self, page: asyncio.Queue[str]) -> None:
        async with self._lock:
            self._pages.discard(page)
            if self._pages or self._task is None:
                return
            task, self._task = self._task, None
            subs, self._subs = self._subs, []
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for sub in subs:
            await sub.unsubscribe()

    async def _on_event(self, _subject: str, message: dict[str, Any]) -> None:
        station_id = message.get("station_id")
        if isinstance(station_id, str) and len(self._changed) < 10_000:
            self._changed[station_id] = None
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._batch)  # let a burst of changes gather
            self._wake.clear()
            changed, self._changed = list(self._changed), {}
            try:
                rows = await self._rows(changed)
            except Exception:  # noqa: BLE001 - a failed lookup must not end the feed
                logger.warning("fleet feed: looking up %d stations failed", len(changed),
                               exc_info=True)
                continue
            for row in rows:
                previous = self._states.get(row.station_id)
                self._states[row.station_id] = row.state
                data = json.dumps({"station_id": row.station_id, "state": row.state,
                                   "previous": previous, "connectors": row.connectors})
                message = f"event: station\ndata: {data}\n\n"
                for page in list(self._pages):
                    with contextlib.suppress(asyncio.QueueFull):  # a stalled page
                        page.put_nowait(message)

    async def _rows(self, station_ids: list[str]) -> list[FleetRow]:
        rows: dict[str, FleetRow] = {}
        for start in range(0, len(station_ids), 500):  # bounded IN lists
            self.queries += 1
            chunk = station_ids[start:start + 500]
            rows.update((row.station_id, row)
                        for row in await fleet(self._services.engine, station_ids=chunk))
        return [rows[sid] for sid in station_ids if sid in rows]

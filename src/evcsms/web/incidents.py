"""Incidents: the list (GET /incidents, filters by status, kind, station and text, counts
per status, paginated, kept live over GET /incidents/events) and one incident
(GET /incidents/{id}: facts, timeline, fitting remote actions) with its forms
(POST /incidents/{id}/acknowledge, /comments, /resolve through services.incidents).

Live updates: the incident service publishes `events.incident.opened` and
`events.incident.resolved` on the bus; an acknowledgement or a comment publishes nothing,
but each adds a note to the timeline. The stream therefore wakes on those two events and,
every POLL_SECONDS otherwise, looks whether the newest note changed (one indexed MAX
query), so a change made on any node, through the API or this page, reaches an open list.
The page answers an `incident` event by fetching itself again and swapping the list."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.services.container import Services
from evcsms.services.errors import ConflictError, NotFoundError
from evcsms.services.incidents import OPEN
from evcsms.storage import tables as t
from evcsms.web.common import MAX_ID, Web, Who, local_time, redirect, whole_number

PAGE_SIZE = 50
POLL_SECONDS = 10.0
STATUSES = ("open", "acknowledged", "resolved")
FILTERS = ("active", *STATUSES, "all")  # active = open or acknowledged (the default)
MAX_TEXT = 2000  # a comment or a resolution note, as the API allows
SUBJECTS = ("events.incident.opened", "events.incident.resolved")
_DONE = {"acknowledged": "Acknowledged.", "commented": "Comment added.",
         "resolved": "Resolved."}


@dataclass(frozen=True, slots=True)
class Filters:
    status: str
    kind: str
    station: str
    q: str
    page: int

    def query(self, **change: Any) -> str:
        """This filter's query string (with `change` applied), without defaults."""
        values = {"status": self.status, "kind": self.kind, "station": self.station,
                  "q": self.q, "page": self.page, **change}
        kept = {k: v for k, v in values.items()
                if v not in ("", None) and not (k == "status" and v == "active")
                and not (k == "page" and v == 1)}
        return ("?" + urlencode(kept)) if kept else ""


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: int
    kind: str
    severity: str
    status: str
    station_id: str
    where: str
    message: str
    opened: str


def where_of(key: str, station_id: str) -> str:
    """The EVSE / connector an incident's key names ("EVSE 1, connector 2"), "" for a
    whole station. Keys are `<rule>:<station>/<evse>[/<connector>][:<cause>]`."""
    _, _, rest = key.partition(":")
    if not rest.startswith(station_id + "/"):
        return ""
    parts = rest[len(station_id) + 1:].split(":", 1)[0].split("/")
    if not parts or not parts[0].isdigit():
        return ""
    if parts[0] == "0":
        return "station"
    if len(parts) > 1 and parts[1].isdigit():
        return f"EVSE {parts[0]}, connector {parts[1]}"
    return f"EVSE {parts[0]}"


def read_filters(request: Request) -> Filters | str:
    """The list's filters from the query string, or what is wrong with them."""
    params = request.query_params
    status = params.get("status") or "active"
    if status not in FILTERS:
        return f"Unknown status {status[:40]!r}: use one of {', '.join(FILTERS)}."
    kind = (params.get("kind") or "").strip()
    station = (params.get("station") or "").strip()
    q = (params.get("q") or "").replace("\x00", "").strip()
    if len(kind) > 40 or len(station) > 48 or len(q) > 100 or "\x00" in kind + station:
        return "A filter is too long (kind 40, station 48, search 100 characters)."
    raw_page = params.get("page") or "1"
    page = whole_number(raw_page, default=1)
    if page is None:
        return f"Page {raw_page[:20]!r} is not a page number."
    return Filters(status, kind, station, q, page)


def _matching(f: Filters) -> list[ColumnElement[bool]]:
    """The conditions of every filter but status."""
    where: list[ColumnElement[bool]] = []
    if f.kind:
        where.append(t.Incident.kind == f.kind)
    if f.station:
        where.append(t.Incident.station_id == f.station)
    if f.q:
        needle = f.q.lower()
        where.append(or_(*(func.lower(column).contains(needle, autoescape=True) for column in
                           (t.Incident.message, t.Incident.station_id, t.Incident.kind))))
    return where


def _status(status: str) -> list[ColumnElement[bool]]:
    if status == "active":
        return [t.Incident.status.in_(OPEN)]
    if status in STATUSES:
        return [t.Incident.status == status]
    return []


@dataclass(frozen=True, slots=True)
class Listing:
    rows: list[IncidentRow]
    total: int
    counts: dict[str, int]
    kinds: list[str]


async def incident_list(engine: AsyncEngine, f: Filters) -> Listing:
    """One page of incidents (newest first) with the site's time zone of each, the total,
    the counts per status under the other filters, and every kind there is."""
    where = _matching(f)
    shown = [*where, *_status(f.status)]
    query = (select(t.Incident.id, t.Incident.key, t.Incident.kind, t.Incident.severity,
                    t.Incident.status, t.Incident.station_id, t.Incident.message,
                    t.Incident.opened_at, t.Site.time_zone)
             .outerjoin(t.Station, t.Station.id == t.Incident.station_id)
             .outerjoin(t.Site, t.Site.id == t.Station.site_id)
             .where(*shown).order_by(t.Incident.id.desc())
             .limit(PAGE_SIZE).offset((f.page - 1) * PAGE_SIZE))
    async with engine.connect() as conn:
        found = (await conn.execute(query)).all()
        by_status = {str(status): int(n) for status, n in (await conn.execute(
            select(t.Incident.status, func.count()).where(*where)
            .group_by(t.Incident.status))).all()}
        kinds = [str(k) for k in (await conn.execute(
            select(t.Incident.kind).distinct().order_by(t.Incident.kind))).scalars()]
    counts = {s: int(by_status.get(s, 0)) for s in STATUSES}
    counts["active"] = counts["open"] + counts["acknowledged"]
    counts["all"] = counts["active"] + counts["resolved"]
    rows = [IncidentRow(id=int(r.id), kind=r.kind, severity=r.severity, status=r.status,
                        station_id=r.station_id, where=where_of(r.key, r.station_id),
                        message=r.message, opened=local_time(r.opened_at, r.time_zone))
            for r in found]
    return Listing(rows, counts[f.status], counts, kinds)


async def zone_of_station(engine: AsyncEngine, station_id: str) -> tuple[str, bool]:
    """The time zone of the station's site (UTC without one), and whether it is known."""
    async with engine.connect() as conn:
        zone = await conn.scalar(select(t.Site.time_zone).join(
            t.Station, t.Station.site_id == t.Site.id).where(t.Station.id == station_id))
        known = await conn.scalar(select(t.Station.id).where(t.Station.id == station_id))
    return str(zone or "UTC"), known is not None


def remote_actions(kind: str, key: str, station_id: str, evidence: dict[str, Any],
                   advice: str = "") -> list[dict[str, Any]]:
    """The remote actions that fit an incident, as forms for the station's command route:
    each {"action", "label", "fields"}. A reset is offered only when the rule's advice
    (`advice`, the incident's action) suggests one and does not warn against it; nothing
    for an offline station or a link problem (it cannot be commanded)."""
    if kind not in ("connector_fault", "station_event", "over_temperature",
                    "stuck_session", "failed_session", "silent_failure"):
        return []
    evse = ""
    found = re.match(r"^[a-z_]+:" + re.escape(station_id) + r"/(\d+)", key)
    if found and found.group(1) != "0":
        evse = found.group(1)
    actions: list[dict[str, Any]] = [
        {"action": "trigger_message", "label": "Ask for its status again",
         "fields": {"message": "StatusNotification", **({"evse_id": evse} if evse else {})}},
    ]
    if evidence.get("error_code") == "ConnectorLockFailure" and evse:
        actions.append({"action": "unlock_connector", "label": f"Unlock connector {evse}",
                        "fields": {"evse_id": evse}})
    words = advice.lower()
    if "reset" in words and "not reset" not in words:
        actions.append({"action": "reset", "label": "Reset (soft)",
                        "fields": {"type": "soft"}})
    return actions


def evidence_items(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """What a rule saw, as (name, text) sorted by name; empty values left out."""
    return [(name, value if isinstance(value, str) else json.dumps(value, default=str))
            for name, value in sorted(evidence.items()) if value not in (None, "")]


def parse_id(raw: str) -> int | None:
    return whole_number(raw, most=MAX_ID)


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/incidents")
    async def incidents(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        f = read_filters(request)
        if isinstance(f, str):
            return web.error(request, who, 400, "Bad filter", f, back="/incidents")
        listing = await incident_list(services.engine, f)
        pages = max(1, -(-listing.total // PAGE_SIZE))
        return web.page(request, who, "incidents.html", f=f, listing=listing,
                        filters=FILTERS, statuses=STATUSES, pages=pages,
                        page_size=PAGE_SIZE)

    @router.get("/incidents/events")
    async def events(request: Request) -> Response:
        who = await web.who(request)
        if who is None or who.is_driver:
            return Response("log in first", status_code=401, media_type="text/plain")
        return StreamingResponse(_stream(services), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @router.get("/incidents/{raw_id}")
    async def incident(request: Request, raw_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        incident_id = parse_id(raw_id)
        try:
            if incident_id is None:
                raise NotFoundError(f"There is no incident {raw_id[:40]!r}.")
            row, notes = await services.incidents.get(incident_id)
        except NotFoundError:
            return web.error(request, who, 404, "Incident not found",
                             f"There is no incident {raw_id[:40]!r}.", back="/incidents")
        zone, known = await zone_of_station(services.engine, row.station_id)
        done = _DONE.get(request.query_params.get("done") or "")
        evidence = dict(row.evidence or {})
        return web.page(request, who, "incident.html", i=row, notes=notes, zone=zone,
                        station_known=known, done=done, evidence=evidence_items(evidence),
                        where=where_of(row.key, row.station_id), max_text=MAX_TEXT,
                        actions=remote_actions(row.kind, row.key, row.station_id, evidence,
                                               row.action or "") if known else [],
                        station_path="/stations/" + quote(row.station_id, safe=""),
                        local_time=lambda at: local_time(at, zone))

    async def change(request: Request, raw_id: str, what: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        incident_id = parse_id(raw_id)
        back = f"/incidents/{incident_id}" if incident_id is not None else "/incidents"
        form = await web.form(request, who)
        if form is None:
            return web.forbidden(request, who, back=back)
        if incident_id is None:
            return web.error(request, who, 404, "Incident not found",
                             f"There is no incident {raw_id[:40]!r}.", back="/incidents")
        return await _apply(web, request, who, incident_id, what, form, back)

    @router.post("/incidents/{raw_id}/acknowledge")
    async def acknowledge(request: Request, raw_id: str) -> Response:
        return await change(request, raw_id, "acknowledge")

    @router.post("/incidents/{raw_id}/comments")
    async def comment(request: Request, raw_id: str) -> Response:
        return await change(request, raw_id, "comment")

    @router.post("/incidents/{raw_id}/resolve")
    async def resolve(request: Request, raw_id: str) -> Response:
        return await change(request, raw_id, "resolve")

    return router


async def _apply(web: Web, request: Request, who: Who, incident_id: int, what: str,
                 form: dict[str, str], back: str) -> Response:
    """Acknowledge, comment or resolve; 303 back to the incident, or an error page."""
    text = form.get("text", "").replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        return web.error(request, who, 422, "Text too long",
                         f"Write at most {MAX_TEXT} characters ({len(text)} sent).", back=back)
    if what == "comment" and not text:
        return web.error(request, who, 422, "Empty comment",
                         "Write something to comment.", back=back)
    incidents = web.services.incidents
    try:
        if what == "acknowledge":
            await incidents.acknowledge(incident_id, who.user.name)
            done = "acknowledged"
        elif what == "comment":
            await incidents.comment(incident_id, who.user.name, text)
            done = "commented"
        else:
            await incidents.resolve(incident_id, who.user.name, text)
            done = "resolved"
    except NotFoundError:
        return web.error(request, who, 404, "Incident not found",
                         f"There is no incident {incident_id}.", back="/incidents")
    except ConflictError as exc:
        return web.error(request, who, 409, "Not possible now",
                         f"{str(exc).capitalize()}.", back=back)
    return redirect(request, f"{back}?done={done}")


async def _newest_note(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.max(t.IncidentNote.id))) or 0)


async def _stream(services: Services) -> AsyncIterator[str]:
    """An `incident` event whenever an incident opens, changes or is resolved."""
    woken: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)

    async def on_event(subject: str, message: dict[str, Any]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a stalled browser loses updates
            woken.put_nowait({"what": subject.rsplit(".", 1)[-1], "id": message.get("id")})

    subscriptions = [await services.bus.subscribe(s, on_event) for s in SUBJECTS]
    try:
        newest = await _newest_note(services.engine)
        yield ": connected\n\n"
        while True:
            try:
                event: dict[str, Any] | None = await asyncio.wait_for(woken.get(), POLL_SECONDS)
            except TimeoutError:
                event = None
            latest = await _newest_note(services.engine)
            if event is None and latest == newest:
                yield ": keep-alive\n\n"
                continue
            newest = latest
            yield f"event: incident\ndata: {json.dumps(event or {'what': 'changed'})}\n\n"
    finally:
        for sub in subscriptions:
            await sub.unsubscribe()

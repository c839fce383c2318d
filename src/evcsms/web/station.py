"""The station page: one station's live state, connectors, running sessions (power chart,
energy and cost so far), status history and uptime, open incidents, recent OCPP frames
and commands, and the remote actions an operator may send from it (reset, unlock,
availability, trigger, log upload, firmware update).

Live updates: `GET /stations/{id}/live` is the changing part of the page as an HTML
fragment; `GET /stations/{id}/events` is a server-sent event stream that says `change`
whenever the station's sessions, connector statuses, connection, commands, log uploads or
firmware updates change (bus events), or a running session gained meter readings (meter
values publish no bus event, so the stream looks for new readings every
`METER_POLL_SECONDS`); static/station.js then fetches the fragment again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.log_uploads import ascii_file_name
from evcsms.domain.metering import REGISTER, session_energy
from evcsms.domain.model import SessionStatus
from evcsms.services.container import Services
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.meter_store import stored_samples
from evcsms.storage import tables as t
from evcsms.web.charts import Series, line_chart
from evcsms.web.common import Web, local_time, redirect, whole_number, zone_of
from evcsms.web.fleet import station_state
from evcsms.web.power import session_power, thinned

MESSAGES_SHOWN = 20
COMMANDS_SHOWN = 10
UPLOADS_SHOWN = 5
FIRMWARE_SHOWN = 5
HISTORY_PAGE = 50
UPTIME_DAYS = 30
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
KEEPALIVE_SECONDS = 15.0
METER_POLL_SECONDS = 2.0
LIVE_SUBJECTS = ("events.session.*", "events.station.status", "events.station.connection",
                 "events.command", "events.log_upload.*", "events.firmware.*")
LOG_TYPES = ("diagnostics", "security")
_ACTIONS = {"reset", "unlock_connector", "change_availability", "trigger_message"}


@dataclass(frozen=True, slots=True)
class StationPage:
    station: Any
    state: str
    last_seen: str
    zone: str
    incidents: list[Any]
    messages: list[Any]


@dataclass(frozen=True, slots=True)
class RunningSession:
    session: Any
    chart: Markup
    points: int
    source: str  # "measured" (Power.Active.Import) or "derived" (from the energy register)
    power_kw: Decimal | None  # the latest point
    energy_wh: Decimal
    cost: Decimal | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class LiveView:
    """The part of the page that changes: GET /stations/{id}/live renders it alone."""

    state: str
    sessions: list[RunningSession]
    connectors: list[Any]
    commands: list[Any]
    uploads: list[Any]
    firmware: list[tuple[Any, list[Any]]]


@dataclass(frozen=True, slots=True)
class Segment:
    state: str
    start: datetime
    end: datetime
    left: float  # percent of the window
    width: float


@dataclass(frozen=True, slots=True)
class Track:
    label: str
    key: str
    segments: list[Segment]


@dataclass(frozen=True, slots=True)
class History:
    window: str
    start: datetime
    end: datetime
    tracks: list[Track]
    rows: list[Any]
    total: int
    page: int
    pages: int


async def station_page(services: Services, station_id: str) -> StationPage | None:
    """The page's fixed part, or None for an unknown station."""
    async with services.engine.connect() as conn:
        station = (await conn.execute(
            select(t.Station, t.Site.time_zone)
            .outerjoin(t.Site, t.Site.id == t.Station.site_id)
            .where(t.Station.id == station_id))).first()
        if station is None:
            return None
        statuses = (await conn.execute(
            select(t.Connector.evse_id, t.Connector.status)
            .where(t.Connector.station_id == station_id))).all()
    zone = station.time_zone or "UTC"
    incidents, _ = await services.incidents.list(status="active", station_id=station_id,
                                                 limit=50, offset=0)
    messages = await services.message_log.entries(station_id, limit=MESSAGES_SHOWN)
    return StationPage(
        station=station, state=_state(bool(station.connected), statuses),
        last_seen=local_time(station.last_seen_at, zone), zone=zone,
        incidents=incidents, messages=messages,
    )


def _state(connected: bool, connectors: Sequence[Any]) -> str:
    return station_state(connected, (c.status for c in connectors
                                      if c.evse_id > 0 or c.status == "Faulted"))


# -- the live part -----------------------------------------------------------------------


async def running_session(services: Services, session: Any, zone: str) -> RunningSession:
    async with services.engine.connect() as conn:
        samples = await stored_samples(conn, session.id)
    points, source = session_power(samples, started_at=session.started_at,
                                   meter_start_wh=session.meter_start_wh)
    points = thinned(points)
    energy = session_energy(
        (s.sampled_value() for s in samples if s.measurand == REGISTER),
        meter_start_wh=session.meter_start_wh, started_at=session.started_at,
        offline_start=session.offline_start).energy_wh
    cost = currency = None
    priced = await services.billing.session_cost(session.id)
    if priced is not None:
        energy = priced.energy_wh
        total = priced.quote.total_cost
        cost = total.incl_vat if total.incl_vat is not None else total.excl_vat
        currency = priced.quote.currency
    how = "measured" if source == "measured" else "from the energy register"
    chart = line_chart(
        [Series(f"Power ({how})", points, extra={"session": str(session.id)})],
        title=f"Power of session {session.id} on EVSE {session.evse_id}", unit="kW",
        zone=zone_of(zone), chart_id=f"power-{session.evse_id}",
        empty="No meter values yet.")
    return RunningSession(session=session, chart=chart, points=len(points), source=source,
                          power_kw=points[-1][1] if points else None,
                          energy_wh=Decimal(energy).quantize(Decimal("0.001")),
                          cost=cost, currency=currency)


async def live_view(services: Services, station_id: str, zone: str) -> LiveView:
    async with services.engine.connect() as conn:
        connected = await conn.scalar(select(t.Station.connected)
                                      .where(t.Station.id == station_id))
        connectors = list((await conn.execute(
            select(t.Connector).where(t.Connector.station_id == station_id)
            .order_by(t.Connector.evse_id, t.Connector.connector_id))).all())
        sessions = (await conn.execute(
            select(t.ChargingSession).where(
                t.ChargingSession.station_id == station_id,
                t.ChargingSession.status == SessionStatus.ACTIVE.value)
            .order_by(t.ChargingSession.evse_id, t.ChargingSession.started_at))).all()
    running = [await running_session(services, s, zone) for s in sessions]
    commands, _ = await services.commands.list(station_id, limit=COMMANDS_SHOWN, offset=0)
    uploads, _ = await services.log_uploads.list(station_id, limit=UPLOADS_SHOWN, offset=0)
    updates, _ = await services.firmware.list(station_id, limit=FIRMWARE_SHOWN, offset=0)
    firmware = [await services.firmware.get(station_id, u.id) for u in updates]
    return LiveView(state=_state(bool(connected), connectors), sessions=running,
                    connectors=connectors, commands=commands, uploads=uploads,
                    firmware=firmware)


# -- status history and uptime -----------------------------------------------------------


def _track_key(row: Any) -> tuple[str, int, int]:
    return (row.source, row.evse_id, row.connector_id)


def _track_label(key: tuple[str, int, int]) -> str:
    source, evse, connector = key
    if source == "connection":
        return "Station link"
    if evse == 0:
        return "Station (EVSE 0)"
    return f"EVSE {evse} / connector {connector}"


async def _before(conn: AsyncConnection, station_id: str, start: datetime) -> list[Any]:
    """Each track's last change before `start` (the state the window opens with)."""
    latest = (await conn.execute(
        select(t.StatusChange.source, t.StatusChange.evse_id, t.StatusChange.connector_id,
               func.max(t.StatusChange.at).label("at"))
        .where(t.StatusChange.station_id == station_id, t.StatusChange.at < start)
        .group_by(t.StatusChange.source, t.StatusChange.evse_id,
                  t.StatusChange.connector_id))).all()
    out = []
    for key in latest:
        row = (await conn.execute(
            select(t.StatusChange).where(
                t.StatusChange.station_id == station_id, t.StatusChange.source == key.source,
                t.StatusChange.evse_id == key.evse_id,
                t.StatusChange.connector_id == key.connector_id, t.StatusChange.at == key.at)
            .order_by(t.StatusChange.id.desc()).limit(1))).first()
        if row is not None:
            out.append(row)
    return out


def timeline(changes: Sequence[Any], start: datetime, end: datetime) -> list[Track]:
    """Per track (station link, station-wide status, each connector), its states over
    [start, end) as segments; time before the first known state is "unknown"."""
    span = (end - start).total_seconds()
    by_track: dict[tuple[str, int, int], list[Any]] = {}
    for row in sorted(changes, key=lambda r: (r.at, r.id)):
        by_track.setdefault(_track_key(row), []).append(row)
    tracks = []
    for key in sorted(by_track, key=lambda k: (k[0] != "connection", k[1], k[2])):
        segments: list[Segment] = []
        cursor, state = start, "unknown"
        for row in by_track[key]:
            at = min(max(row.at, start), end)
            if at > cursor:
                segments.append(_segment(state, cursor, at, start, span))
            cursor, state = max(cursor, at), row.state
        if end > cursor:
            segments.append(_segment(state, cursor, end, start, span))
        merged: list[Segment] = []
        for seg in segments:
            if merged and merged[-1].state == seg.state:
                last = merged.pop()
                seg = _segment(seg.state, last.start, seg.end, start, span)
            merged.append(seg)
        tracks.append(Track(_track_label(key), "-".join(map(str, key)), merged))
    return tracks


def _segment(state: str, a: datetime, b: datetime, start: datetime, span: float) -> Segment:
    left = (a - start).total_seconds() / span * 100
    return Segment(state, a, b, round(left, 3), round((b - a).total_seconds() / span * 100, 3))


async def history(services: Services, station_id: str, window: str, page: int) -> History:
    end = services.clock.now()
    start = end - WINDOWS[window]
    rows, total = await services.uptime.history(station_id, since=start, limit=HISTORY_PAGE,
                                                offset=(page - 1) * HISTORY_PAGE)
    async with services.engine.connect() as conn:
        before = await _before(conn, station_id, start)
        inside = (await conn.execute(select(t.StatusChange).where(
            t.StatusChange.station_id == station_id, t.StatusChange.at >= start,
            t.StatusChange.at <= end))).all()
    return History(window=window, start=start, end=end,
                   tracks=timeline([*before, *inside], start, end), rows=rows, total=total,
                   page=page, pages=max(1, -(-total // HISTORY_PAGE)))


async def uptime(services: Services, station_id: str) -> tuple[list[Any], Any]:
    """Per port over the last 30 days by the NEVI formula, and all ports together."""
    end = services.clock.now()
    ports = await services.uptime.ports(end - timedelta(days=UPTIME_DAYS), end,
                                        station_id=station_id)
    return ports, services.uptime.total(ports)


# -- forms -------------------------------------------------------------------------------


def command_params(action: str, form: dict[str, str]) -> dict[str, Any] | None:
    """The command parameters of a remote-action form, or None for an unknown action.
    Values are checked by the command service (domain.commands)."""
    if action not in _ACTIONS:
        return None
    params: dict[str, Any] = {}
    if action == "reset":
        params["type"] = form.get("type", "soft")
    elif action == "change_availability":
        params["availability"] = form.get("availability", "")
    elif action == "trigger_message":
        params["message"] = form.get("message", "StatusNotification")
    evse = form.get("evse_id", "").strip()
    if evse and action != "reset":
        params["evse_id"] = (int(evse) if evse.isascii() and evse.isdigit() and len(evse) < 10
                             else evse)
    return params


def local_input(value: str, zone: str, name: str) -> str | None:
    """A datetime-local field ("2026-05-01T14:30", the site's time) as UTC ISO text, None
    when empty; InvalidInputError when it is not a date and time."""
    value = value.strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{name}: {value[:40]!r} is not a date and time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone_of(zone))
    return at.astimezone(zone_of("UTC")).isoformat().replace("+00:00", "Z")


def log_upload_params(form: dict[str, str], zone: str) -> dict[str, Any]:
    log_type = form.get("log_type", "diagnostics")
    if log_type not in LOG_TYPES:
        raise InvalidInputError(f"log type: {log_type[:40]!r} is not one of "
                                f"{', '.join(LOG_TYPES)}")
    params: dict[str, Any] = {"log_type": log_type}
    for key, label in (("start_time", "from"), ("stop_time", "until")):
        value = local_input(form.get(key, ""), zone, label)
        if value is not None:
            params[key] = value
    return params


def firmware_params(form: dict[str, str], zone: str) -> dict[str, Any]:
    location = form.get("location", "").strip()
    if not location:
        raise InvalidInputError("firmware URL: required")
    params: dict[str, Any] = {"location": location}
    retrieve_at = local_input(form.get("retrieve_at", ""), zone, "retrieve at")
    if retrieve_at is not None:
        params["retrieve_at"] = retrieve_at
    retries = form.get("retries", "").strip()
    if retries:
        if not (retries.isascii() and retries.isdigit()) or len(retries) > 9:
            raise InvalidInputError(f"retries: {retries[:20]!r} is not a whole number")
        params["retries"] = int(retries)
    return params


def _positive(value: str | None) -> int | None:
    return whole_number(value, default=1)


# -- routes ------------------------------------------------------------------------------


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    def back(station_id: str) -> str:
        return f"/stations/{quote(station_id, safe='')}"

    async def zone_of_station(station_id: str) -> str | None:
        """The station's site time zone ("UTC" without a site); None: no such station."""
        async with services.engine.connect() as conn:
            row = (await conn.execute(
                select(t.Station.id, t.Site.time_zone)
                .outerjoin(t.Site, t.Site.id == t.Station.site_id)
                .where(t.Station.id == station_id))).first()
        return None if row is None else (row.time_zone or "UTC")

    @router.get("/stations/{station_id}")
    async def station(request: Request, station_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        window = request.query_params.get("history", "24h")
        page = _positive(request.query_params.get("hpage"))
        if window not in WINDOWS or page is None:
            return web.error(request, who, 400, "Bad history period",
                             "history must be 24h or 7d, hpage a page number from 1.",
                             back=back(station_id))
        found = await station_page(services, station_id)
        if found is None:
            return web.error(request, who, 404, "Station not found",
                             f"There is no station {station_id!r}.", back="/")
        zone = found.zone
        live = await live_view(services, station_id, zone)
        ports, total = await uptime(services, station_id)
        return web.page(request, who, "station.html", s=found, live=live,
                        history=await history(services, station_id, window, page),
                        ports=ports, uptime_total=total, uptime_days=UPTIME_DAYS,
                        local_time=lambda at, fmt="%Y-%m-%d %H:%M %Z": local_time(at, zone, fmt))

    @router.get("/stations/{station_id}/live")
    async def station_live(request: Request, station_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        zone = await zone_of_station(station_id)
        if zone is None:
            return web.error(request, who, 404, "Station not found",
                             f"There is no station {station_id!r}.", back="/")
        live = await live_view(services, station_id, zone)
        return web.page(request, who, "station_live.html", live=live,
                        station_id=station_id,
                        local_time=lambda at, fmt="%Y-%m-%d %H:%M %Z": local_time(at, zone, fmt))

    @router.get("/stations/{station_id}/events")
    async def station_events(request: Request, station_id: str) -> Response:
        who = await web.who(request)
        if who is None or who.is_driver:
            return Response("log in first", status_code=401, media_type="text/plain")
        if await zone_of_station(station_id) is None:
            return Response("no such station", status_code=404, media_type="text/plain")
        return StreamingResponse(_stream(services, station_id), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @router.get("/stations/{station_id}/log-uploads/{upload_id}/file")
    async def log_file(request: Request, station_id: str, upload_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        number = _positive(upload_id)
        try:
            if number is None:
                raise NotFoundError(f"there is no log upload {upload_id[:20]!r}")
            row, content = await services.log_uploads.file(station_id, number)
        except NotFoundError as exc:
            return web.error(request, who, 404, "No such file", str(exc),
                             back=back(station_id))
        name = row.file_name or f"upload-{row.id}.log"
        return Response(content, media_type="application/octet-stream", headers={
            "Content-Disposition": (f'attachment; filename="{ascii_file_name(name)}"; '
                                    f"filename*=UTF-8''{quote(name, safe='')}"),
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})

    @router.post("/stations/{station_id}/commands/{action}")
    async def station_command(request: Request, station_id: str, action: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        form = await web.form(request, who)
        if form is None:
            return web.forbidden(request, who, back=back(station_id))
        params = command_params(action, form)
        try:
            if params is None:
                raise NotFoundError(f"unknown action {action!r}")
            await services.commands.issue(station_id, action, params, created_by=who.user.name)
        except NotFoundError as exc:
            return web.error(request, who, 404, "Not found", str(exc), back="/")
        except InvalidInputError as exc:
            return web.error(request, who, 422, "Command not sent", str(exc),
                             back=back(station_id))
        return redirect(request, back(station_id))

    async def remote(request: Request, station_id: str, what: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        form = await web.form(request, who)
        if form is None:
            return web.forbidden(request, who, back=back(station_id))
        zone = await zone_of_station(station_id)
        if zone is None:
            return web.error(request, who, 404, "Station not found",
                             f"There is no station {station_id!r}.", back="/")
        try:
            if what == "upload_log":
                params = log_upload_params(form, zone)
            else:
                params = firmware_params(form, zone)
            await services.commands.issue(station_id, what, params, created_by=who.user.name)
        except NotFoundError as exc:
            return web.error(request, who, 404, "Not found", str(exc), back="/")
        except InvalidInputError as exc:
            title = "Log upload not asked" if what == "upload_log" else "Firmware update not sent"
            return web.error(request, who, 422, title, str(exc), back=back(station_id))
        return redirect(request, back(station_id))

    @router.post("/stations/{station_id}/log-upload")
    async def log_upload(request: Request, station_id: str) -> Response:
        return await remote(request, station_id, "upload_log")

    @router.post("/stations/{station_id}/firmware")
    async def firmware(request: Request, station_id: str) -> Response:
        return await remote(request, station_id, "update_firmware")

    return router


# -- live updates ------------------------------------------------------------------------


async def _newest_reading(engine: AsyncEngine, station_id: str) -> int:
    """The newest meter reading of the station's running sessions (0: none)."""
    running = select(t.ChargingSession.id).where(
        t.ChargingSession.station_id == station_id,
        t.ChargingSession.status == SessionStatus.ACTIVE.value)
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.max(t.MeterReading.id))
                                     .where(t.MeterReading.session_id.in_(running))) or 0)


async def _command_station(engine: AsyncEngine, command_id: Any) -> str | None:
    if not isinstance(command_id, str):
        return None
    async with engine.connect() as conn:
        value = await conn.scalar(select(t.Command.station_id).where(t.Command.id == command_id))
    return None if value is None else str(value)


async def _stream(services: Services, station_id: str) -> AsyncIterator[str]:
    """`change` whenever something the live fragment shows may have changed."""
    woken = asyncio.Event()

    async def on_event(subject: str, message: dict[str, Any]) -> None:
        about = message.get("station_id")
        if about is None and subject == "events.command":
            with contextlib.suppress(Exception):  # a failed lookup only loses one update
                about = await _command_station(services.engine, message.get("id"))
        if about == station_id:
            woken.set()

    subscriptions = [await services.bus.subscribe(s, on_event) for s in LIVE_SUBJECTS]
    try:
        newest = await _newest_reading(services.engine, station_id)
        yield ": connected\n\n"
        quiet = 0.0
        while True:
            try:
                await asyncio.wait_for(woken.wait(), METER_POLL_SECONDS)
                changed = True
            except TimeoutError:
                changed = False
            woken.clear()
            latest = await _newest_reading(services.engine, station_id)
            if latest != newest:
                newest, changed = latest, True
            if changed:
                quiet = 0.0
                yield "event: change\ndata: {}\n\n"
                continue
            quiet += METER_POLL_SECONDS
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keep-alive\n\n"
    finally:
        for sub in subscriptions:
            await sub.unsubscribe()

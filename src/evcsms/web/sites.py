"""Sites and their load management: the list of sites (GET /sites) and one site's load
picture (GET /sites/{id}), with the operator's emergency switch (POST .../pause, .../resume).

What is shown, and where it comes from:

- **Limits**: the site's tree (`services.load.get`): the grid connection and its circuits
  with their limits, and what the allocation computed now charges each of them
  (`services.load.rebalance(send=False)`, as GET /api/v1/sites/{id}/allocation: nothing is
  sent to a station).
- **Allocation** per EVSE: the charging profiles the CSMS last sent (`services.load.profiles`:
  the live TxProfile and the failsafe TxDefaultProfile). The limit *in force* on a running
  session is its live profile when the station accepted it for that transaction and its
  lease has not ended, else the accepted failsafe; in kW as A x voltage x phases.
- **Draw** per EVSE: the latest meter reading of its running session
  (`load_inputs.draw_of`: Power.Active.Import, or the currents x voltage when a station
  sends no power), marked stale when older than the two minutes load management trusts.
- **Over time**: allocations are stored only as the latest state per EVSE, but every
  profile load management sent is in the command log (set_charging_profile by
  "load-management", with its limit, transaction and lease). The chart samples the window
  at even steps: the allocated total is, per session running then, the accepted profile in
  force at that moment (as above); the draw total is, per session, its latest reading no
  older than `HOLD`; the limit is the grid connection's (with the peak-shaving schedule) as
  a step line.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain import load as ld
from evcsms.domain.model import CommandStatus, SessionStatus
from evcsms.services.container import Services
from evcsms.services.errors import NotFoundError
from evcsms.services.load import DRAW_WINDOW, FAILSAFE, LIVE, Managed, Outcome, evse_key, split_evse
from evcsms.services.load_inputs import draw_of
from evcsms.storage import tables as t
from evcsms.web import charts
from evcsms.web.common import Web, local_time, redirect, whole_number, zone_of
from evcsms.web.fleet import FleetRow, fleet

PAGE_SIZE = 50
HOURS = (1, 3, 6, 12, 24)
DEFAULT_HOURS = 6
SAMPLES = 72  # points per chart line
HOLD = timedelta(minutes=10)  # in the chart, a reading stands for the draw this long
LATEST_SINCE = timedelta(days=1)  # the "latest reading" of a running session: within a day
NOMINAL_V = Decimal(230)
KW = Decimal(1000)
OVER_SHARE = Decimal("0.05")  # a draw this much above its allocation is flagged


def to_kw(limit: Decimal, unit: str, phases: int, voltage: Decimal) -> Decimal:
    """A profile's limit in kW: W / 1000, or A per phase x voltage x phases / 1000."""
    if unit == "W":
        return limit / KW
    return limit * voltage * phases / KW


def reading_kw(reading: tuple[datetime, Any] | None, evse: ld.Evse, voltage: Decimal
               ) -> tuple[Decimal | None, tuple[Decimal, ...] | None, datetime | None]:
    """(kW, A per conductor, when) of a reading: its active power, else its currents x
    voltage; (None, None, None) without a reading."""
    draw_a, draw_kw, at = draw_of(reading, evse)
    if draw_kw is None and draw_a is not None:
        draw_kw = sum(draw_a, Decimal(0)) * voltage / KW
    return draw_kw, draw_a, at


def grid_limit_kw(site: ld.Site) -> Decimal | None:
    """The grid connection's limit in kW: the lower of its power limit and its phase
    currents x voltage (None: it has neither)."""
    grid = site.grid
    found = []
    if grid.max_power_kw is not None:
        found.append(grid.max_power_kw)
    if grid.max_current_a is not None:
        found.append(sum(grid.max_current_a, Decimal(0)) * site.voltage_v / KW)
    return min(found) if found else None


def limit_at(site: ld.Site, at: datetime) -> Decimal | None:
    """The grid limit at `at`, with the peak-shaving schedule read in the site's zone."""
    limits = [x for x in (grid_limit_kw(site),) if x is not None]
    if site.peak_limit is not None:
        peak = ld.limit_at(site.peak_limit, at.astimezone(site.zone))
        if peak is not None:
            limits.append(peak)
    return min(limits) if limits else None


def _stand_in(key: str) -> ld.Evse:
    """An EVSE outside any tree, for reading its meter values: three conductors."""
    return ld.Evse(key, "-", max_current_a=Decimal(32))


def _phases(evse: ld.Evse | None, number_phases: int | None) -> int:
    if number_phases:
        return int(number_phases)
    return len(evse.wiring) if evse is not None else 3


def evse_max_kw(evse: ld.Evse | None, voltage: Decimal) -> Decimal | None:
    if evse is None:
        return None
    if evse.kind is ld.Kind.DC:
        return evse.max_power_kw
    assert evse.max_current_a is not None
    return evse.max_current_a * voltage * len(evse.wiring) / KW


# -- what runs at a site now ---------------------------------------------------------------


@dataclass(slots=True)
class EvseRow:
    """One EVSE of a site: its wiring, session, profiles sent, draw and setpoint now."""

    key: str
    station_id: str
    evse_id: int
    evse: ld.Evse | None  # None: not in the site's load tree
    connector_status: str = ""
    connected: bool = False
    session: Any = None  # the running session's row, or None
    live: Any = None  # the last live TxProfile record, or None
    failsafe: Any = None  # the last TxDefaultProfile record, or None
    in_force: Any = None  # which of the two holds the running session now
    allocated_kw: Decimal | None = None
    draw_kw: Decimal | None = None
    draw_a: tuple[Decimal, ...] | None = None
    measured_at: datetime | None = None
    stale: bool = False
    max_kw: Decimal | None = None
    setpoint: ld.Setpoint | None = None  # computed now (not sent)

    @property
    def circuit(self) -> str:
        return self.evse.circuit if self.evse is not None else ""

    @property
    def over_kw(self) -> Decimal | None:
        """How far a fresh reading is above the allocation in force (over 5 %), else None."""
        if self.allocated_kw is None or self.draw_kw is None or self.stale:
            return None
        over = self.draw_kw - self.allocated_kw
        return over if over > self.allocated_kw * OVER_SHARE else None

    @property
    def scale_kw(self) -> Decimal:
        """The full width of the EVSE's bar."""
        values = [v for v in (self.max_kw, self.allocated_kw, self.draw_kw) if v is not None]
        return max([*values, Decimal(1)])

    def bar(self, value: Decimal | None, width: int = 200) -> str:
        if value is None or value <= 0:
            return "0"
        return f"{min(float(value / self.scale_kw), 1.0) * width:.1f}"


@dataclass(slots=True)
class Snapshot:
    """The EVSEs of one site, and their totals."""

    site_id: str
    evses: list[EvseRow] = field(default_factory=list)

    @property
    def running(self) -> int:
        return sum(1 for e in self.evses if e.session is not None)

    @property
    def allocated_kw(self) -> Decimal | None:
        values = [e.allocated_kw for e in self.evses
                  if e.session is not None and e.allocated_kw is not None]
        return sum(values, Decimal(0)) if values else None

    @property
    def draw_kw(self) -> Decimal:
        return sum((e.draw_kw for e in self.evses
                    if e.session is not None and e.draw_kw is not None and not e.stale),
                   Decimal(0))


def _in_force(row: EvseRow, now: datetime) -> Any:
    session = row.session
    if session is None:
        return None
    live = row.live
    if live is not None and live.status == CommandStatus.ACCEPTED.value \
            and live.transaction_ref == session.transaction_ref \
            and (live.valid_to is None or live.valid_to > now):
        return live
    if row.failsafe is not None and row.failsafe.status == CommandStatus.ACCEPTED.value:
        return row.failsafe
    return None


async def snapshots(conn: AsyncConnection, sites: dict[str, Managed | None], now: datetime,
                    setpoints: dict[str, ld.Setpoint] | None = None) -> dict[str, Snapshot]:
    """Every EVSE of `sites` (those in the load tree, and those of the site's stations)
    with its session, profiles and latest draw: a few queries for all the sites.
    `setpoints` (EVSE -> setpoint computed now) is shown beside them when given."""
    ids = list(sites)
    placed = (await conn.execute(select(t.Station.id, t.Station.site_id).where(
        t.Station.site_id.in_(ids)))).all() if ids else []
    stations_of: dict[str, set[str]] = {site: set() for site in ids}
    for station, site in placed:
        stations_of[str(site)].add(station)
    for site, managed in sites.items():
        if managed is not None:
            stations_of[site] |= managed.stations
    every = sorted({s for group in stations_of.values() for s in group})
    out = {site: Snapshot(site) for site in ids}
    if not every:
        return out
    connected = {r.id: bool(r.connected) for r in (await conn.execute(select(
        t.Station.id, t.Station.connected).where(t.Station.id.in_(every)))).all()}
    connectors = (await conn.execute(select(
        t.Connector.station_id, t.Connector.evse_id, t.Connector.status).where(
        t.Connector.station_id.in_(every), t.Connector.evse_id > 0).order_by(
        t.Connector.station_id, t.Connector.evse_id, t.Connector.connector_id))).all()
    sessions = (await conn.execute(select(
        t.ChargingSession.id, t.ChargingSession.station_id, t.ChargingSession.evse_id,
        t.ChargingSession.transaction_ref, t.ChargingSession.started_at,
        t.ChargingSession.energy_wh).where(
        t.ChargingSession.station_id.in_(every),
        t.ChargingSession.status == SessionStatus.ACTIVE.value).order_by(
        t.ChargingSession.started_at, t.ChargingSession.id))).all()
    profiles = (await conn.execute(select(t.ChargingProfileRecord).where(
        t.ChargingProfileRecord.station_id.in_(every)))).all()
    readings = await _latest(conn, [int(s.id) for s in sessions], now - LATEST_SINCE)

    status_of: dict[tuple[str, int], list[str]] = {}
    for c in connectors:
        status_of.setdefault((c.station_id, c.evse_id), []).append(c.status)
    session_of: dict[tuple[str, int], Any] = {}
    for s in sessions:
        session_of.setdefault((s.station_id, s.evse_id), s)  # the earliest, as load does
    profile_of = {(p.station_id, p.evse_id, p.purpose): p for p in profiles}

    for site, managed in sites.items():
        tree = {e.id: e for e in managed.site.evses} if managed is not None else {}
        voltage = managed.site.voltage_v if managed is not None else NOMINAL_V
        pairs = {split_evse(k) for k in tree}
        for station in stations_of[site]:
            pairs |= {k for k in status_of if k[0] == station}
            pairs |= {k for k in session_of if k[0] == station}
        for station, evse_id in sorted(pairs):
            key = evse_key(station, evse_id)
            evse = tree.get(key)
            row = EvseRow(key, station, evse_id, evse,
                          connector_status=", ".join(status_of.get((station, evse_id), [])),
                          connected=connected.get(station, False),
                          session=session_of.get((station, evse_id)),
                          live=profile_of.get((station, evse_id, LIVE)),
                          failsafe=profile_of.get((station, evse_id, FAILSAFE)),
                          max_kw=evse_max_kw(evse, voltage),
                          setpoint=(setpoints or {}).get(key))
            row.in_force = _in_force(row, now)
            if row.in_force is not None:
                row.allocated_kw = to_kw(row.in_force.limit, row.in_force.unit,
                                         _phases(evse, row.in_force.number_phases), voltage)
            if row.session is not None:
                row.draw_kw, row.draw_a, row.measured_at = reading_kw(
                    readings.get(int(row.session.id)), evse or _stand_in(key), voltage)
                row.stale = row.measured_at is None or now - row.measured_at > DRAW_WINDOW
            out[site].evses.append(row)
    return out


async def _latest(conn: AsyncConnection, session_ids: list[int],
                  since: datetime) -> dict[int, tuple[datetime, Any]]:
    """The newest reading per session since `since` (one query: the newest timestamp per
    session, then those readings)."""
    out: dict[int, tuple[datetime, Any]] = {}
    if not session_ids:
        return out
    newest = (select(t.MeterReading.session_id.label("sid"),
                     func.max(t.MeterReading.timestamp).label("at"))
              .where(t.MeterReading.session_id.in_(session_ids),
                     t.MeterReading.timestamp >= since)
              .group_by(t.MeterReading.session_id).subquery())
    rows = (await conn.execute(select(
        t.MeterReading.session_id, t.MeterReading.timestamp, t.MeterReading.samples,
        t.MeterReading.id).join(newest, (newest.c.sid == t.MeterReading.session_id)
                                & (newest.c.at == t.MeterReading.timestamp))
        .order_by(t.MeterReading.id))).all()
    for session_id, at, samples, _id in rows:
        out[int(session_id)] = (at, samples)  # the last stored of equal timestamps
    return out


# -- over time -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sent:
    at: datetime
    transaction_ref: str | None
    valid_to: datetime | None
    kw: Decimal


async def history(conn: AsyncConnection, site_id: str, managed: Managed | None,
                  start: datetime, end: datetime) -> list[charts.Series]:
    """Allocated, drawn and limit (kW) at the site over [start, end] (see the module doc)."""
    stations = set((await conn.execute(select(t.Station.id).where(
        t.Station.site_id == site_id))).scalars())
    if managed is not None:
        stations |= managed.stations
    tree = {e.id: e for e in managed.site.evses} if managed is not None else {}
    voltage = managed.site.voltage_v if managed is not None else NOMINAL_V
    step = (end - start) / SAMPLES
    times = [start + step * k for k in range(SAMPLES + 1)]
    series: list[charts.Series] = []
    sessions = (await conn.execute(select(
        t.ChargingSession.id, t.ChargingSession.station_id, t.ChargingSession.evse_id,
        t.ChargingSession.transaction_ref, t.ChargingSession.started_at,
        t.ChargingSession.stopped_at).where(
        t.ChargingSession.station_id.in_(sorted(stations)),
        t.ChargingSession.started_at <= end,
        or_(t.ChargingSession.stopped_at.is_(None), t.ChargingSession.stopped_at >= start))
    )).all() if stations else []
    ids = [int(s.id) for s in sessions]
    draws: dict[int, list[tuple[datetime, Decimal]]] = {}
    if ids:
        evse_of = {int(s.id): tree.get(evse_key(s.station_id, s.evse_id))
                   or _stand_in(evse_key(s.station_id, s.evse_id)) for s in sessions}
        for sid, at, samples in (await conn.execute(select(
                t.MeterReading.session_id, t.MeterReading.timestamp, t.MeterReading.samples)
                .where(t.MeterReading.session_id.in_(ids),
                       t.MeterReading.timestamp >= start - HOLD,
                       t.MeterReading.timestamp <= end)
                .order_by(t.MeterReading.timestamp, t.MeterReading.id))).all():
            kw, _a, _at = reading_kw((at, samples), evse_of[int(sid)], voltage)
            if kw is not None:
                draws.setdefault(int(sid), []).append((at, kw))
    sent: dict[tuple[str, int, str], list[_Sent]] = {}
    if stations:
        for c in (await conn.execute(select(
                t.Command.station_id, t.Command.params, t.Command.created_at).where(
                t.Command.station_id.in_(sorted(stations)),
                t.Command.name == "set_charging_profile",
                t.Command.created_by == "load-management",
                t.Command.status == CommandStatus.ACCEPTED.value,
                t.Command.created_at >= start - LATEST_SINCE, t.Command.created_at <= end)
                .order_by(t.Command.created_at))).all():
            got = _sent(c.params, c.created_at, tree.get(evse_key(c.station_id, int(
                c.params.get("evse_id") or 0))), voltage)
            if got is not None:
                purpose, evse_id, item = got
                sent.setdefault((c.station_id, evse_id, purpose), []).append(item)

    allocated: list[tuple[datetime, Decimal]] = []
    drawn: list[tuple[datetime, Decimal]] = []
    for at in times:
        running = [s for s in sessions if s.started_at <= at
                   and (s.stopped_at is None or s.stopped_at > at)]
        total_a = total_d = Decimal(0)
        known = False
        for s in running:
            kw = _allocated_at(sent, s, at)
            if kw is not None:
                total_a += kw
                known = True
            total_d += _draw_at(draws.get(int(s.id), []), at)
        if known or not running:
            allocated.append((at, total_a))
        drawn.append((at, total_d))
    if sent:
        series.append(charts.Series("Allocated", allocated, step=True,
                                    extra={"total": _fmt(allocated)}))
    series.append(charts.Series("Drawn", drawn, extra={"total": _fmt(drawn)}))
    if managed is not None:
        limits = [(at, v) for at in times if (v := limit_at(managed.site, at)) is not None]
        if limits:
            series.append(charts.Series("Limit", limits, step=True, dashed=True,
                                        extra={"total": _fmt(limits)}))
    return series


def _fmt(points: Sequence[tuple[datetime, Decimal]]) -> str:
    """The last value of a series, for tests to read off the chart."""
    return str(points[-1][1].normalize()) if points else ""


def _sent(params: dict[str, Any], at: datetime, evse: ld.Evse | None, voltage: Decimal
          ) -> tuple[str, int, _Sent] | None:
    try:
        purpose = {"tx": LIVE, "tx_default": FAILSAFE}[str(params.get("purpose"))]
        evse_id = int(params["evse_id"])
        limit = Decimal(str(params["limit"]))
        unit = str(params.get("unit") or "A")
        valid_to = params.get("valid_to")
        until = datetime.fromisoformat(str(valid_to).replace("Z", "+00:00")) \
            if valid_to else None
        phases = params.get("number_phases")
    except (KeyError, ValueError, ArithmeticError):
        return None
    kw = to_kw(limit, unit, _phases(evse, int(phases) if phases else None), voltage)
    return purpose, evse_id, _Sent(at, params.get("transaction_ref"), until, kw)


def _allocated_at(sent: dict[tuple[str, int, str], list[_Sent]], s: Any,
                  at: datetime) -> Decimal | None:
    """The accepted live profile of session `s` in force at `at`, else its failsafe."""
    live = _last_before(sent.get((s.station_id, s.evse_id, LIVE), []), at)
    if live is not None and live.transaction_ref == s.transaction_ref \
            and (live.valid_to is None or live.valid_to > at):
        return live.kw
    failsafe = _last_before(sent.get((s.station_id, s.evse_id, FAILSAFE), []), at)
    return failsafe.kw if failsafe is not None else None


def _last_before(items: list[_Sent], at: datetime) -> _Sent | None:
    """The last of `items` (in time order) sent at or before `at`."""
    i = bisect_right(items, at, key=lambda p: p.at)
    return items[i - 1] if i else None


def _draw_at(points: list[tuple[datetime, Decimal]], at: datetime) -> Decimal:
    i = bisect_right(points, at, key=lambda p: p[0])
    if not i or at - points[i - 1][0] > HOLD:
        return Decimal(0)
    return points[i - 1][1]


# -- the pages -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteRow:
    site: Any
    stations: int
    managed: Managed | None
    snapshot: Snapshot

    @property
    def limit_kw(self) -> Decimal | None:
        return grid_limit_kw(self.managed.site) if self.managed is not None else None


async def site_rows(services: Services, page: int) -> tuple[list[SiteRow], int]:
    everything = await services.tariffs.sites()
    shown = everything[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    managed = {m.site.id: m for m in await services.load.list()}
    now = services.clock.now()
    async with services.engine.connect() as conn:
        counts = dict((await conn.execute(select(t.Station.site_id, func.count()).where(
            t.Station.site_id.in_([s.id for s in shown])).group_by(t.Station.site_id))).all()
        ) if shown else {}
        snaps = await snapshots(conn, {s.id: managed.get(s.id) for s in shown}, now)
    return [SiteRow(s, int(counts.get(s.id, 0)), managed.get(s.id), snaps[s.id])
            for s in shown], len(everything)


def _positive(raw: str | None, default: int, allowed: Iterable[int] | None = None) -> int | None:
    """A small positive integer query parameter (None: malformed)."""
    value = whole_number(raw, default=default)
    if value is None or (allowed is not None and value not in allowed):
        return None
    return value


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/sites")
    async def sites(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        page = _positive(request.query_params.get("page"), 1)
        if page is None:
            return web.error(request, who, 400, "Bad page number",
                             "The page must be a whole number from 1.", back="/sites")
        rows, total = await site_rows(services, page)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if page > pages:
            return web.error(request, who, 404, "No such page",
                             f"There are {pages} pages of sites.", back="/sites")
        return web.page(request, who, "sites.html", rows=rows, total=total, page=page,
                        pages=pages)

    @router.get("/sites/{site_id}")
    async def site(request: Request, site_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        hours = _positive(request.query_params.get("hours"), DEFAULT_HOURS, HOURS)
        if hours is None:
            return web.error(request, who, 400, "Bad time span",
                             f"hours must be one of {', '.join(map(str, HOURS))}.",
                             back=f"/sites/{quote(site_id, safe='')}")
        try:
            row = await services.tariffs.site(site_id)
        except NotFoundError:
            return web.error(request, who, 404, "Site not found",
                             f"There is no site {site_id!r}.", back="/sites")
        try:
            managed: Managed | None = await services.load.get(site_id)
        except NotFoundError:
            managed = None
        outcome: Outcome | None = None
        if managed is not None:
            try:
                outcome = await services.load.rebalance(site_id, send=False)
            except NotFoundError:  # taken out of load management meanwhile
                managed = None
        now = services.clock.now()
        zone = row.time_zone or "UTC"
        async with services.engine.connect() as conn:
            setpoints = {p.evse: p for p in outcome.allocation.setpoints} if outcome else {}
            snap = (await snapshots(conn, {site_id: managed}, now, setpoints))[site_id]
            series = await history(conn, site_id, managed, now - timedelta(hours=hours), now)
        chart = charts.line_chart(
            series, title=f"Load at {row.name or site_id} over the last {hours} h (kW)",
            unit="kW", zone=zone_of(zone), chart_id="site-load-chart",
            empty="No sessions, readings or limits in this time span.")
        stations: list[FleetRow] = await fleet(services.engine, site_id=site_id)
        return web.page(
            request, who, "site.html", site=row, zone=zone, managed=managed, outcome=outcome,
            snap=snap, chart=chart, hours=hours, hour_choices=HOURS, stations=stations,
            limit_kw=grid_limit_kw(managed.site) if managed is not None else None,
            limit_now=limit_at(managed.site, now) if managed is not None else None,
            local_time=lambda at: local_time(at, zone), now=now, quote=quote)

    async def switch(request: Request, site_id: str, paused: bool) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        back = f"/sites/{quote(site_id, safe='')}"
        if await web.form(request, who) is None:
            return web.forbidden(request, who, back=back)
        try:
            await services.tariffs.site(site_id)
        except NotFoundError:
            return web.error(request, who, 404, "Site not found",
                             f"There is no site {site_id!r}.", back="/sites")
        try:
            await services.load.edit(site_id, who.user.name, paused=paused)
        except NotFoundError as exc:
            return web.error(request, who, 409, "Not under load management", str(exc),
                             back=back)
        return redirect(request, back)

    @router.post("/sites/{site_id}/pause")
    async def pause(request: Request, site_id: str) -> Response:
        return await switch(request, site_id, True)

    @router.post("/sites/{site_id}/resume")
    async def resume(request: Request, site_id: str) -> Response:
        return await switch(request, site_id, False)

    return router

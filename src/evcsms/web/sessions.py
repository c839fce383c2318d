"""Charging sessions: the list (GET /sessions, filtered and paginated) and one session
(GET /sessions/{id}: facts, meter value charts, cost breakdown, CDR, signed meter data
verification), and its receipt as PDF (GET /sessions/{id}/receipt.pdf).

The list filters by station, id token, status (running/finished) and a range of start
dates given as UTC calendar days (both ends inclusive). Times are shown in the site's
local time zone (UTC for a station without a site). A running session's page reloads its
live section (figures and charts) every 10 s by fetching the page again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import select

from evcsms.domain import jsontext
from evcsms.domain.model import SessionStatus
from evcsms.domain.money import show
from evcsms.domain.pricing import PricingError
from evcsms.services.billing import SessionCost, cost_in
from evcsms.services.container import Services
from evcsms.services.errors import NotFoundError
from evcsms.services.meter_store import StoredSample
from evcsms.services.session_queries import SessionFilter, list_sessions
from evcsms.services.signatures import verify_stored
from evcsms.storage import tables as t
from evcsms.web.charts import Series, line_chart
from evcsms.web.common import MAX_ID, Web, local_time, whole_number, zone_of
from evcsms.web.power import register_points, session_power, thinned

PAGE_SIZE = 50
STATUSES = {"running": SessionStatus.ACTIVE.value, "finished": SessionStatus.COMPLETED.value}
_SHOWN_STATUS = {v: k for k, v in STATUSES.items()}


class BadFilter(ValueError):
    """A query parameter of the list that cannot be used; the message says which."""


@dataclass(frozen=True, slots=True)
class Filters:
    station: str = ""
    token: str = ""
    status: str = ""  # "", "running" or "finished"
    date_from: str = ""  # YYYY-MM-DD (UTC)
    date_to: str = ""
    page: int = 1

    def where(self) -> SessionFilter:
        after = _day(self.date_from, "from") if self.date_from else None
        before = _day(self.date_to, "to") + timedelta(days=1) if self.date_to else None
        if after is not None and before is not None and before <= after:
            raise BadFilter("the 'from' date is after the 'to' date")
        return SessionFilter(station_id=self.station or None, id_token=self.token or None,
                             status=STATUSES.get(self.status), started_after=after,
                             started_before=before)

    def query(self, page: int | None = None) -> str:
        """The query string of these filters (on `page`), for the pager links."""
        pairs = [("station", self.station), ("token", self.token), ("status", self.status),
                 ("from", self.date_from), ("to", self.date_to)]
        values = [(k, v) for k, v in pairs if v]
        if (page or self.page) > 1:
            values.append(("page", str(page or self.page)))
        return urlencode(values)

    @property
    def active(self) -> bool:
        return bool(self.station or self.token or self.status or self.date_from or self.date_to)


def _day(text: str, name: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadFilter(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if len(text) != 10:
        raise BadFilter(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)")
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def read_filters(params: Any) -> Filters:
    """The list's filters from the query string; BadFilter for a value that cannot be."""
    def text(name: str, limit: int) -> str:
        value = str(params.get(name) or "").replace("\x00", "").strip()
        if len(value) > limit:
            raise BadFilter(f"{name}: at most {limit} characters")
        return value

    status = text("status", 20)
    if status and status not in STATUSES:
        raise BadFilter(f"status: {status!r} is not running or finished")
    raw_page = text("page", 12) or "1"
    page = whole_number(raw_page, most=1_000_000)
    if page is None:
        raise BadFilter(f"page: {raw_page!r} is not a page number")
    filters = Filters(station=text("station", 48), token=text("token", 36), status=status,
                      date_from=text("from", 10), date_to=text("to", 10), page=page)
    filters.where()  # checks the dates
    return filters


def duration(start: datetime, stop: datetime | None, now: datetime) -> str:
    """"1 h 05 min" from start to stop (or to now, while it runs)."""
    seconds = max(0, int(((stop or now) - start).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    station_id: str
    evse: str
    token: str
    started: str
    stopped: str
    duration: str
    energy_wh: Decimal
    cost: Decimal | None  # incl. VAT: issued (CDR) or worked out from the tariff
    currency: str | None
    priced: bool  # False: it has a tariff, but its cost cannot be worked out
    status: str  # running | finished


async def _zones(conn: Any, station_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(station_ids))
    if not ids:
        return {}
    rows = (await conn.execute(
        select(t.Station.id, t.Site.time_zone).outerjoin(t.Site, t.Site.id == t.Station.site_id)
        .where(t.Station.id.in_(ids)))).all()
    return {r.id: r.time_zone or "UTC" for r in rows}


async def session_rows(services: Services, filters: Filters) -> tuple[list[SessionRow], int]:
    """One page of sessions (newest first) with their cost, and how many match in all."""
    rows, total = await list_sessions(services.engine, filters.where(), limit=PAGE_SIZE,
                                      offset=(filters.page - 1) * PAGE_SIZE)
    now = services.clock.now()
    ids = [r.id for r in rows]
    async with services.engine.connect() as conn:
        zones = await _zones(conn, (r.station_id for r in rows))
        issued = {c.session_id: (Decimal(c.total_incl_vat), c.currency) for c in (
            await conn.execute(
                select(t.Cdr.session_id, t.Cdr.total_incl_vat, t.Cdr.currency).where(
                    t.Cdr.session_id.in_(ids), t.Cdr.credit.is_(False),
                    t.Cdr.superseded.is_(False)))).all()} if ids else {}
        costs: dict[int, tuple[Decimal | None, str | None]] = dict(issued)
        unpriced = set()
        for r in rows:
            if r.id in costs or r.tariff_version_id is None:
                continue
            cost, problem = await priced(conn, r.id, now)
            costs[r.id] = (_incl(cost), cost.quote.currency) if cost else (None, None)
            if cost is None and problem:
                unpriced.add(r.id)
    out = []
    for r in rows:
        zone = zones.get(r.station_id, "UTC")
        amount, currency = costs.get(r.id, (None, None))
        out.append(SessionRow(
            id=r.id, station_id=r.station_id, evse=f"{r.evse_id}/{r.connector_id}",
            token=r.id_token or "", started=local_time(r.started_at, zone),
            stopped=local_time(r.stopped_at, zone),
            duration=duration(r.started_at, r.stopped_at, now), energy_wh=Decimal(r.energy_wh),
            cost=amount, currency=currency, priced=r.id not in unpriced, status=_SHOWN_STATUS.get(r.status, r.status)))
    return out, total


async def priced(conn: Any, session_id: int, now: datetime) -> tuple[SessionCost | None, str]:
    """The session's cost, or None and why not ("" when it has no tariff): a usage the
    pricing engine refuses (a station clock far off, say) is a message, not an error."""
    try:
        return await cost_in(conn, session_id, now), ""
    except PricingError as exc:
        return None, str(exc)


def _incl(cost: SessionCost | None) -> Decimal | None:
    if cost is None:
        return None
    total = cost.quote.total_cost
    return total.incl_vat if total.incl_vat is not None else total.excl_vat


# -- one session --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    label: str
    quantity: str
    excl_vat: Decimal
    incl_vat: Decimal


@dataclass(frozen=True, slots=True)
class CostView:
    tariff_id: str
    tariff_version: int
    currency: str
    final: bool
    lines: list[CostLine]
    total_excl: Decimal
    total_incl: Decimal
    vat: Decimal
    limited_by: str | None
    time_zone: str


@dataclass(frozen=True, slots=True)
class Signature:
    at: str
    context: str
    value: str
    status: str  # verified | invalid | no_key | unsupported | malformed
    detail: str


@dataclass(frozen=True, slots=True)
class SessionDetail:
    row: Any
    zone: str
    status: str
    duration: str
    running: bool
    power_chart: Markup
    energy_chart: Markup
    power_source: str  # measured | derived | none
    power_points: int
    energy_points: int
    cost: CostView | None
    cost_problem: str
    cdr: dict[str, Any] | None
    cdr_json: str
    signatures: list[Signature]


def _hours(value: Fraction) -> str:
    return f"{show(value, 2)} h"


def cost_view(cost: SessionCost) -> CostView:
    q = cost.quote
    lines = [
        CostLine("Start fee (flat)", "1 session", q.total_fixed_cost.excl_vat,
                 q.total_fixed_cost.incl_vat),
        CostLine("Energy", f"{show(q.total_energy_kwh, 3)} kWh", q.total_energy_cost.excl_vat,
                 q.total_energy_cost.incl_vat),
        CostLine("Charging time", _hours(q.total_charging_time_h), q.total_time_cost.excl_vat,
                 q.total_time_cost.incl_vat),
        CostLine("Parking time", _hours(q.total_parking_time_h), q.total_parking_cost.excl_vat,
                 q.total_parking_cost.incl_vat),
    ]
    incl = _incl(cost)
    assert incl is not None
    return CostView(
        tariff_id=cost.tariff.tariff_id, tariff_version=cost.tariff.version,
        currency=q.currency, final=cost.final, lines=lines, total_excl=q.total_cost.excl_vat,
        total_incl=incl, vat=incl - q.total_cost.excl_vat, limited_by=q.limited_by,
        time_zone=cost.time_zone)


def charts(samples: Sequence[StoredSample], zone: str, row: Any
           ) -> tuple[Markup, Markup, str, int, int]:
    """(power chart, energy chart, where the power came from, their point counts)."""
    registers = register_points(samples)
    power, source = session_power(samples, started_at=row.started_at,
                                  meter_start_wh=row.meter_start_wh)
    tz = zone_of(zone)
    title = ("Power (kW), measured" if source == "measured"
             else "Power (kW), derived from the energy register")
    power = thinned(power)
    power_chart = line_chart(
        [Series("Power", power, step=source == "derived", extra={"source": source})],
        title=title, unit="kW", zone=tz, chart_id="power-chart",
        empty="No power readings yet.")
    energy = thinned([(at, wh / 1000) for at, wh in registers])
    energy_chart = line_chart([Series("Energy register", energy)],
                              title="Energy register (kWh)", unit="kWh", zone=tz,
                              chart_id="energy-chart", empty="No energy register readings yet.")
    return power_chart, energy_chart, source, len(power), len(energy)


def signatures(samples: Sequence[StoredSample], key: str | None, zone: str) -> list[Signature]:
    """Every signed value of the session with its verification verdict."""
    out = []
    for s in samples:
        if not s.signed_data:
            continue
        verdict = verify_stored(s.signed_data, key)
        out.append(Signature(
            at=local_time(s.timestamp, zone, "%Y-%m-%d %H:%M:%S %Z"), context=s.context or "",
            value=f"{format(s.value, 'f')} {s.unit or ''}".strip(), status=verdict.status,
            detail=verdict.detail))
    return out


async def session_detail(services: Services, session_id: int) -> SessionDetail | None:
    row = await services.sessions.get(session_id)
    if row is None:
        return None
    now = services.clock.now()
    async with services.engine.connect() as conn:
        zone = (await _zones(conn, [row.station_id])).get(row.station_id, "UTC")
        key = await conn.scalar(select(t.Station.meter_public_key).where(
            t.Station.id == row.station_id))
        cost, cost_problem = await priced(conn, session_id, now)
    samples = await services.sessions.samples(session_id)
    power_chart, energy_chart, source, power_points, energy_points = charts(samples, zone, row)
    try:
        cdr: dict[str, Any] | None = await services.cdrs.get(session_id)
    except NotFoundError:
        cdr = None
    running = row.stopped_at is None
    return SessionDetail(
        row=row, zone=zone, status=_SHOWN_STATUS.get(row.status, row.status),
        duration=duration(row.started_at, row.stopped_at, now), running=running,
        power_chart=power_chart, energy_chart=energy_chart, power_source=source,
        power_points=power_points, energy_points=energy_points,
        cost=cost_view(cost) if cost else None, cost_problem=cost_problem, cdr=cdr,
        cdr_json=jsontext.dumps(cdr) if cdr else "",
        signatures=signatures(samples, key, zone))


def _session_id(text: str) -> int | None:
    return whole_number(text, most=MAX_ID)


def cdr_time(text: Any, zone: str) -> str:
    """An OCPI date-time of the CDR in the site's zone (the text itself if unreadable)."""
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return local_time(at if at.tzinfo else at.replace(tzinfo=UTC), zone)


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/sessions")
    async def session_list(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        try:
            filters = read_filters(request.query_params)
        except BadFilter as exc:
            return web.error(request, who, 400, "Bad filter", str(exc), back="/sessions")
        rows, total = await session_rows(services, filters)
        pages = max(1, -(-total // PAGE_SIZE))
        return web.page(request, who, "sessions.html", rows=rows, total=total, f=filters,
                        pages=pages, statuses=tuple(STATUSES))

    def not_found(request: Request, who: Any, text: str) -> Response:
        return web.error(request, who, 404, "Session not found",
                         f"There is no session {text[:40]!r}.", back="/sessions")

    @router.get("/sessions/{session_id}")
    async def session_page(request: Request, session_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        number = _session_id(session_id)
        found = await session_detail(services, number) if number is not None else None
        if found is None:
            return not_found(request, who, session_id)
        zone = found.zone
        return web.page(request, who, "session.html", s=found,
                        local_time=lambda at, fmt="%Y-%m-%d %H:%M:%S %Z": local_time(
                            at, zone, fmt),
                        cdr_time=lambda text: cdr_time(text, zone))

    @router.get("/sessions/{session_id}/receipt.pdf")
    async def receipt_pdf(request: Request, session_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        number = _session_id(session_id)
        if number is None or await services.sessions.get(number) is None:
            return not_found(request, who, session_id)
        try:
            body = await services.receipts.pdf(number)
        except NotFoundError as exc:
            return web.error(request, who, 404, "No receipt yet", str(exc),
                             back=f"/sessions/{number}")
        return Response(body, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="receipt-{number}.pdf"',
            "Cache-Control": "no-store"})

    return router

"""The NEVI uptime report (GET /uptime) and its CSV download (GET /uptime.csv).

Uptime by 23 CFR 680.116(b), per charging port, per site and for the fleet, from the
uptime service (status history and the operator's exclusions):

    uptime % = (T - (T_outage - T_excluded)) / T x 100

over a period chosen from presets (last calendar month, the default; this month so far;
the last 30 days) or custom dates. Periods are read in UTC: custom dates are UTC calendar
days, both inclusive, and a period never runs past now. The ports table is sorted
worst-first (or by station) and paginated; the exclusions overlapping the period are
listed with their times in the site's local time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from evcsms.domain.money import show
from evcsms.domain.uptime import Uptime, combined
from evcsms.services.errors import InvalidInputError
from evcsms.services.uptime import NEVI_REQUIRED_PERCENT, PortUptime, report_csv
from evcsms.storage import tables as t
from evcsms.web import charts
from evcsms.web.common import Web, whole_number

PAGE_SIZE = 50
CHART_PORTS = 12
MAX_DAYS = 366
PRESETS = {"last-month": "Last month", "this-month": "This month so far",
           "last-30-days": "Last 30 days", "custom": "Custom dates"}
SORTS = {"worst": "worst first", "station": "station"}
_MAX_PAGE = 1_000_000


class BadReport(ValueError):
    """A query parameter the report cannot use; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Period:
    preset: str
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    first_day: date  # the UTC days the period touches, for the form and the file name
    last_day: date

    @property
    def minutes(self) -> Decimal:
        return show(Fraction(int((self.end - self.start).total_seconds()), 60), 4)


@dataclass(frozen=True, slots=True)
class Query:
    period: Period
    site: str
    sort: str
    page: int
    xpage: int

    def link(self, **changes: Any) -> str:
        """The query string of this report, with `changes` (page=2, ...)."""
        values: dict[str, Any] = {"period": self.period.preset, "site": self.site,
                                  "sort": self.sort, "page": self.page, "xpage": self.xpage}
        if self.period.preset == "custom":
            values["from"] = self.period.first_day.isoformat()
            values["to"] = self.period.last_day.isoformat()
        values.update(changes)
        defaults = {"site": "", "sort": "worst", "page": 1, "xpage": 1}
        return urlencode([(k, v) for k, v in values.items() if defaults.get(k) != v])

    def csv_link(self) -> str:
        values = [("period", self.period.preset)]
        if self.period.preset == "custom":
            values += [("from", self.period.first_day.isoformat()),
                       ("to", self.period.last_day.isoformat())]
        if self.site:
            values.append(("site", self.site))
        return urlencode(values)


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _day(text: str, name: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadReport(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def read_period(params: Mapping[str, str], now: datetime) -> Period:
    """The report's period from `period` (a preset) or custom `from`/`to` UTC dates."""
    now = _floor_minute(now.astimezone(UTC))
    raw_from = (params.get("from") or "").strip()
    raw_to = (params.get("to") or "").strip()
    preset = (params.get("period") or "").strip() or (
        "custom" if raw_from or raw_to else "last-month")
    if preset not in PRESETS:
        raise BadReport(f"period: {preset[:40]!r} is not one of {', '.join(PRESETS)}")
    this_month = _midnight(now.date().replace(day=1))
    if preset == "last-month":
        start = _midnight((this_month - timedelta(days=1)).date().replace(day=1))
        end = this_month
    elif preset == "this-month":
        start, end = this_month, now
        if end <= start:
            raise BadReport("this month has only just begun: pick last month or other dates")
    elif preset == "last-30-days":
        start, end = now - timedelta(days=30), now
    else:
        if not raw_from or not raw_to:
            raise BadReport("custom dates: give both a from and a to date (YYYY-MM-DD)")
        first, last = _day(raw_from, "from"), _day(raw_to, "to")
        if first > last:
            raise BadReport(f"from ({first}) is after to ({last}): the period would be empty")
        if (last - first).days + 1 > MAX_DAYS:
            raise BadReport(f"the period is {(last - first).days + 1} days long; "
                            f"at most {MAX_DAYS} days at a time")
        start, end = _midnight(first), min(_midnight(last) + timedelta(days=1), now)
        if end <= start:
            raise BadReport(f"from ({first}) is in the future: the period has not begun")
    return Period(preset, start, end, start.date(), (end - timedelta(microseconds=1)).date())


def _page_number(params: Mapping[str, str], name: str) -> int:
    number = whole_number(params.get(name), default=1, most=_MAX_PAGE)
    if number is None:
        raise BadReport(f"{name}: {(params.get(name) or '')[:20]!r} is not a page number")
    return number


def read_query(params: Mapping[str, str], now: datetime) -> Query:
    site = (params.get("site") or "").replace("\x00", "").strip()
    if len(site) > 48:
        raise BadReport("site: at most 48 characters")
    sort = (params.get("sort") or "worst").strip()
    if sort not in SORTS:
        raise BadReport(f"sort: {sort[:20]!r} is not one of {', '.join(SORTS)}")
    return Query(read_period(params, now), site, sort, _page_number(params, "page"),
                 _page_number(params, "xpage"))


def percent_shown(u: Uptime) -> Decimal:
    """The NEVI figure rounded down to 0.01 %: never shown above the 97 % line when below."""
    p = u.percent
    return (Decimal(math.floor(p * 100)) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class Figures:
    """One line of the report (a port, a site or the fleet) as the page shows it."""

    percent: Decimal  # rounded down to 0.01
    exact: Decimal  # to 4 places, half-up, as the API and the CSV
    meets: bool
    period_minutes: Decimal
    outage_minutes: Decimal
    excluded_minutes: Decimal
    counted_minutes: Decimal

    @classmethod
    def of(cls, u: Uptime) -> Figures:
        f = u.figures()
        return cls(percent_shown(u), f["percent"], u.percent >= NEVI_REQUIRED_PERCENT,
                   f["period_minutes"], f["outage_minutes"], f["excluded_minutes"],
                   show(u.counted_outage_minutes, 4))


@dataclass(frozen=True, slots=True)
class PortRow:
    station_id: str
    evse_id: int
    connector_id: int
    site_id: str
    site_name: str
    f: Figures
    sort_key: tuple[Fraction, str, int, int]

    @property
    def label(self) -> str:
        return f"{self.station_id} {self.evse_id}/{self.connector_id}"


@dataclass(frozen=True, slots=True)
class SiteRow:
    site_id: str  # "" for the stations without a site
    name: str
    ports: int
    f: Figures
    percent: Fraction


@dataclass(frozen=True, slots=True)
class ExclusionRow:
    id: int
    station_id: str
    evse: str
    start: datetime
    end: datetime
    zone: str
    reason: str
    note: str
    created_by: str
    minutes_in_period: Decimal


async def _sites(web: Web) -> dict[str, Any]:
    async with web.services.engine.connect() as conn:
        rows = (await conn.execute(select(t.Site.id, t.Site.name, t.Site.time_zone)
                                   .order_by(t.Site.id))).all()
    return {r.id: r for r in rows}


async def _exclusions(web: Web, q: Query, zones: Mapping[str, str]
                      ) -> tuple[list[ExclusionRow], int]:
    p = q.period
    where = [t.OutageExclusion.start < p.end, t.OutageExclusion.end > p.start]
    stmt = select(t.OutageExclusion, t.Station.site_id).join(
        t.Station, t.Station.id == t.OutageExclusion.station_id)
    count = select(func.count()).select_from(t.OutageExclusion).join(
        t.Station, t.Station.id == t.OutageExclusion.station_id)
    if q.site:
        where.append(t.Station.site_id == q.site)
    async with web.services.engine.connect() as conn:
        total = int(await conn.scalar(count.where(*where)) or 0)
        rows = (await conn.execute(
            stmt.where(*where).order_by(t.OutageExclusion.start, t.OutageExclusion.id)
            .limit(PAGE_SIZE).offset((q.xpage - 1) * PAGE_SIZE))).all()
    out = []
    for r in rows:
        inside = min(r.end, p.end) - max(r.start, p.start)
        out.append(ExclusionRow(
            r.id, r.station_id, "all ports" if r.evse_id is None else f"EVSE {r.evse_id}",
            r.start, r.end, zones.get(r.site_id or "", "UTC"), r.reason.replace("_", " "),
            r.note, r.created_by, show(Fraction(int(inside.total_seconds()), 60), 4)))
    return out, total


def _port_rows(ports: list[PortUptime], names: Mapping[str, str]) -> list[PortRow]:
    return [PortRow(p.station_id, p.evse_id, p.connector_id, p.site_id or "",
                    names.get(p.site_id or "", ""), Figures.of(p.uptime),
                    (p.uptime.percent, p.station_id, p.evse_id, p.connector_id))
            for p in ports]


def _site_rows(ports: list[PortUptime], names: Mapping[str, str]) -> list[SiteRow]:
    out = []
    for site in sorted({p.site_id or "" for p in ports}):
        u = combined(p.uptime for p in ports if (p.site_id or "") == site)
        out.append(SiteRow(site, names.get(site, ""),
                           sum(1 for p in ports if (p.site_id or "") == site),
                           Figures.of(u), u.percent))
    return sorted(out, key=lambda s: (s.percent, s.site_id))


def _percent_label(value: float | int | Decimal) -> str:
    return f"{value} %"


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    async def prepare(request: Request) -> tuple[Query, dict[str, Any]] | str:
        """The query and the sites, or the message of what is wrong with the query."""
        try:
            q = read_query(request.query_params, web.services.clock.now())
        except BadReport as e:
            return str(e)
        sites = await _sites(web)
        if q.site and q.site not in sites:
            return f"site: there is no site {q.site!r}"
        return q, sites

    def refused(request: Request, who: Any, message: str, sites: Mapping[str, Any]
                ) -> Response:
        status = 404 if message.startswith("site: there is no") else 400
        return web.page(request, who, "uptime.html", status, problem=message, q=None,
                        sites=sites, presets=PRESETS, sorts=SORTS, params=request.query_params)

    @router.get("/uptime")
    async def uptime(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        ready = await prepare(request)
        if isinstance(ready, str):
            return refused(request, who, ready, await _sites(web))
        q, sites = ready
        try:
            ports = await web.services.uptime.ports(q.period.start, q.period.end,
                                                    site_id=q.site or None)
        except InvalidInputError as e:
            return refused(request, who, str(e), sites)
        names = {s: r.name for s, r in sites.items()}
        zones = {s: r.time_zone or "UTC" for s, r in sites.items()}
        rows = _port_rows(ports, names)
        worst = sorted(rows, key=lambda r: r.sort_key)
        if q.sort == "station":
            rows = sorted(rows, key=lambda r: (r.station_id, r.evse_id, r.connector_id))
        else:
            rows = worst
        pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
        if q.page > pages:
            return refused(request, who, f"page: there are only {pages} pages", sites)
        site_rows = _site_rows(ports, names)
        exclusions, exclusion_total = await _exclusions(web, q, zones)
        xpages = max(1, math.ceil(exclusion_total / PAGE_SIZE))
        fleet = Figures.of(combined(p.uptime for p in ports))
        down = [r for r in worst if r.f.exact < 100][:CHART_PORTS]
        ports_chart = charts.bar_chart(
            [(r.label, 100 - r.f.exact) for r in down],
            title=f"Counted downtime of the {len(down)} worst ports (% of the period)",
            unit="%", chart_id="uptime-ports-chart", value_label=_percent_label,
            empty="No port had counted downtime in this period.")
        sites_chart = charts.bar_chart(
            [(s.site_id or "no site", 100 - s.f.exact) for s in site_rows],
            title="Counted downtime per site (% of the period)", unit="%",
            chart_id="uptime-sites-chart", value_label=_percent_label,
            empty="No sites in this report.")
        return web.page(
            request, who, "uptime.html", problem=None, q=q, sites=sites, presets=PRESETS,
            sorts=SORTS, params=request.query_params, fleet=fleet, port_count=len(ports),
            rows=rows[(q.page - 1) * PAGE_SIZE:q.page * PAGE_SIZE], pages=pages,
            site_rows=site_rows, exclusions=exclusions, exclusion_total=exclusion_total,
            xpages=xpages, ports_chart=ports_chart, sites_chart=sites_chart,
            required=NEVI_REQUIRED_PERCENT)

    @router.get("/uptime.csv")
    async def uptime_csv(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        ready = await prepare(request)
        if isinstance(ready, str):
            return refused(request, who, ready, await _sites(web))
        q, sites = ready
        try:
            ports = await web.services.uptime.ports(q.period.start, q.period.end,
                                                    site_id=q.site or None)
        except InvalidInputError as e:
            return refused(request, who, str(e), sites)
        name = f"uptime-{q.period.first_day.isoformat()}-{q.period.last_day.isoformat()}.csv"
        return Response(report_csv(ports, q.period.start, q.period.end),
                        media_type="text/csv; charset=utf-8", headers={
                            "Content-Disposition": f'attachment; filename="{name}"',
                            "Cache-Control": "no-store"})

    return router

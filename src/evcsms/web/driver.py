"""The drivers' self-service portal under /me/: a driver's charging now (live cost while a
session runs), their sessions with receipts, their id tokens, monthly spending with
statements, and where to charge (public site availability).

Everything is scoped to the logged-in driver's id tokens (services.drivers): a session
that is not theirs is the same 404 page as one that does not exist."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from evcsms.domain.availability import State
from evcsms.services.billing import SessionCost
from evcsms.services.container import Services
from evcsms.services.errors import NotFoundError
from evcsms.services.receipts import statement_pdf
from evcsms.services.tariffs import load_ocpi
from evcsms.storage import tables as t
from evcsms.web.charts import Number, bar_chart
from evcsms.web.common import Web, Who, kwh, local_time, money, redirect, whole_number

PAGE_SIZE = 50
LIVE_SECONDS = 12  # how often the Charging page refreshes a running session
_ID = re.compile(r"^[1-9][0-9]{0,18}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_BUSY = {State.IN_USE, State.RESERVED}
_OUT = {State.FAULTED, State.UNAVAILABLE, State.OFFLINE, State.UNKNOWN}
_COST_PARTS = (("total_fixed_cost", "Start fee"), ("total_energy_cost", "Energy"),
               ("total_time_cost", "Charging time"), ("total_parking_cost", "Parking time"))


@dataclass(frozen=True, slots=True)
class Place:
    """Where a station is: its site's name and time zone (UTC without a site)."""

    station_id: str
    site_id: str | None
    site_name: str
    zone: str

    @property
    def label(self) -> str:
        site = self.site_name or self.site_id
        return f"{site} · {self.station_id}" if site else self.station_id


@dataclass(frozen=True, slots=True)
class Live:
    """A running session's figures so far, formatted for the page and its refreshes."""

    session_id: int
    energy: str
    duration: str
    cost: str  # "" without a tariff
    amount: Decimal | None  # incl. VAT (excl. when the tariff has no VAT)
    currency: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.session_id, "energy": self.energy, "duration": self.duration,
                "cost": self.cost, "currency": self.currency,
                "amount": None if self.amount is None else str(self.amount)}


@dataclass(frozen=True, slots=True)
class Row:
    session: Any
    place: Place
    started: str
    energy: str
    cost: str
    final: bool


async def places(services: Services, station_ids: set[str]) -> dict[str, Place]:
    if not station_ids:
        return {}
    async with services.engine.connect() as conn:
        rows = (await conn.execute(
            select(t.Station.id, t.Station.site_id, t.Site.name, t.Site.time_zone)
            .outerjoin(t.Site, t.Site.id == t.Station.site_id)
            .where(t.Station.id.in_(sorted(station_ids))))).all()
    found = {r.id: Place(r.id, r.site_id, r.name or "", r.time_zone or "UTC") for r in rows}
    return {s: found.get(s, Place(s, None, "", "UTC")) for s in station_ids}


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def payable(cost: SessionCost) -> Decimal:
    """What the driver pays: incl. VAT when the tariff states VAT, else excl."""
    total = cost.quote.total_cost
    return total.incl_vat if total.incl_vat is not None else total.excl_vat


async def running(services: Services, user_id: int) -> list[Any]:
    """The driver's sessions still running (no stop yet), newest first."""
    mine = select(t.IdToken.token).where(t.IdToken.owner_user_id == user_id)
    async with services.engine.connect() as conn:
        return list((await conn.execute(
            select(t.ChargingSession)
            .where(t.ChargingSession.id_token.in_(mine), t.ChargingSession.stopped_at.is_(None))
            .order_by(t.ChargingSession.started_at.desc(), t.ChargingSession.id.desc())
            .limit(PAGE_SIZE))).all())


async def live(web: Web, session: Any) -> Live:
    """Energy, duration and cost so far, from the billing service the API uses."""
    cost = await web.services.billing.session_cost(session.id)
    now = web.services.clock.now()
    energy = Decimal(session.energy_wh) if cost is None else cost.energy_wh
    if cost is None:
        return Live(session.id, kwh(energy, web.locale),
                    duration((now - session.started_at).total_seconds()), "", None, None)
    amount = payable(cost)
    currency = cost.quote.currency
    return Live(session.id, kwh(energy, web.locale),
                duration((now - session.started_at).total_seconds()),
                money(amount, currency, web.locale), amount, currency)


def page_number(request: Request) -> int | None:
    """?page= (1 when absent), or None when it is not a page number."""
    return whole_number(request.query_params.get("page"), default=1)


def cost_parts(cdr: Any, cost: SessionCost | None) -> tuple[list[tuple[str, Any, Any]],
                                                             tuple[Any, Any] | None]:
    """The cost breakdown (label, excl. VAT, incl. VAT) and total, money formatted by the
    caller: from the issued CDR when there is one, else from the running price."""
    parts: list[tuple[str, Any, Any]] = []
    total: tuple[Any, Any] | None = None
    if cdr is not None:
        data = load_ocpi(cdr.ocpi)
        for key, label in _COST_PARTS:
            value = data.get(key)
            if isinstance(value, dict) and Decimal(str(value.get("excl_vat", 0))) != 0:
                parts.append((label, value.get("excl_vat"), value.get("incl_vat")))
        total = (cdr.total_excl_vat, cdr.total_incl_vat)
    elif cost is not None:
        q = cost.quote
        for dimension, label in ((q.total_fixed_cost, "Start fee"),
                                 (q.total_energy_cost, "Energy"),
                                 (q.total_time_cost, "Charging time"),
                                 (q.total_parking_cost, "Parking time")):
            if dimension.excl_vat != 0:
                parts.append((label, dimension.excl_vat, dimension.incl_vat))
        total = (q.total_cost.excl_vat, q.total_cost.incl_vat)
    return parts, total


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    def not_found(request: Request, who: Who, session_id: str) -> Response:
        # the same page whether the session is another driver's or does not exist
        return web.error(request, who, 404, "Session not found",
                         f"You have no charging session {session_id[:20]}.", back="/me/")

    async def my_session(who: Who, session_id: str) -> Any | None:
        if not _ID.match(session_id) or int(session_id) > 2**63 - 1:
            return None
        if not await services.drivers.owns_session(who.user.user_id, int(session_id)):
            return None
        async with services.engine.connect() as conn:
            return (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.id == int(session_id)))).first()

    @router.get("/me")
    async def me_root(request: Request) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        return redirect(request, "/me/")

    @router.get("/me/")
    async def home(request: Request) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        number = page_number(request)
        if number is None:
            return web.error(request, who, 400, "Bad page number",
                             "The page must be a whole number from 1.", back="/me/")
        now_running = await running(services, who.user.user_id)
        rows, total = await services.drivers.sessions(
            who.user.user_id, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
        where = await places(services, {s.station_id for s in now_running}
                             | {r.station_id for r, _ in rows})
        current = [(s, where[s.station_id], await live(web, s)) for s in now_running]
        so_far = {s.id: now for s, _, now in current}
        recent = []
        for row, cdr in rows:
            place = where[row.station_id]
            if cdr is not None:
                cost, final = money(cdr.total_incl_vat, cdr.currency, web.locale), True
            elif row.stopped_at is None:
                now_live = so_far.get(row.id) or await live(web, row)
                cost, final = now_live.cost, False
            else:
                cost, final = "", False
            recent.append(Row(row, place, local_time(row.started_at, place.zone),
                              kwh(row.energy_wh, web.locale), cost, final))
        pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
        return web.page(request, who, "driver_home.html", current=current, recent=recent,
                        total=total, page_no=number, pages=pages, live_seconds=LIVE_SECONDS,
                        running_local=lambda s, zone: local_time(s.started_at, zone))

    @router.get("/me/live")
    async def live_json(request: Request) -> Response:
        """The running sessions' energy, duration and cost so far (the Charging page polls
        it)."""
        who = await web.driver(request)
        if isinstance(who, Response):  # the login redirect (401 here), or 403 for operators
            status = 403 if who.status_code == 403 else 401
            return JSONResponse({"detail": "for a logged-in driver only"}, status_code=status)
        items = [(await live(web, s)).as_dict() for s in await running(services, who.user.user_id)]
        return JSONResponse({"sessions": items}, headers={"Cache-Control": "no-store"})

    @router.get("/me/sessions/{session_id}")
    async def session_page(request: Request, session_id: str) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        row = await my_session(who, session_id)
        if row is None:
            return not_found(request, who, session_id)
        place = (await places(services, {row.station_id}))[row.station_id]
        async with services.engine.connect() as conn:
            cdr = (await conn.execute(
                select(t.Cdr).where(t.Cdr.session_id == row.id, t.Cdr.credit.is_(False),
                                    t.Cdr.superseded.is_(False))
                .order_by(t.Cdr.id.desc()).limit(1))).first()
        cost = await services.billing.session_cost(row.id) if cdr is None else None
        parts, total = cost_parts(cdr, cost)
        currency = cdr.currency if cdr is not None else cost.quote.currency if cost else None
        end = row.stopped_at or services.clock.now()
        now_live = await live(web, row) if row.stopped_at is None else None
        return web.page(
            request, who, "driver_session.html", s=row, place=place, cdr=cdr, parts=parts,
            total=total, currency=currency, live=now_live,
            started=local_time(row.started_at, place.zone),
            stopped=local_time(row.stopped_at, place.zone),
            took=duration((end - row.started_at).total_seconds()),
            energy=kwh(row.energy_wh, web.locale) if now_live is None else now_live.energy,
            live_seconds=LIVE_SECONDS)

    @router.get("/me/sessions/{session_id}/receipt.pdf")
    async def receipt_pdf(request: Request, session_id: str) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        row = await my_session(who, session_id)
        if row is None:
            return not_found(request, who, session_id)
        try:
            pdf = await services.receipts.pdf(row.id)
        except NotFoundError:
            return web.error(request, who, 404, "No receipt yet",
                             "This session has no receipt yet: it is issued when the "
                             "session has ended.", back=f"/me/sessions/{row.id}")
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="receipt-{row.id}.pdf"',
            "Cache-Control": "no-store"})

    @router.get("/me/tokens")
    async def tokens(request: Request) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        async with services.engine.connect() as conn:
            rows = list((await conn.execute(
                select(t.IdToken).where(t.IdToken.owner_user_id == who.user.user_id)
                .order_by(t.IdToken.token))).all())
        now = services.clock.now()
        shown = [(r, "expired" if r.expires_at is not None and r.expires_at <= now
                  else "valid" if r.status == "Accepted" else r.status.lower()) for r in rows]
        return web.page(request, who, "driver_tokens.html", tokens=shown,
                        local_time=lambda at: local_time(at, "UTC"))

    @router.get("/me/spending")
    async def spending(request: Request) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        months = await services.drivers.monthly(who.user.user_id)
        now = services.clock.now()
        last12 = []
        year, month = now.year, now.month
        for _ in range(12):
            last12.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        last12.reverse()
        by_currency: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for m in months:
            if m.month in last12:
                by_currency[m.currency][m.month] = m.total_incl_vat
        charts = []

        def label_in(currency: str) -> Callable[[Number], str]:
            return lambda v: money(Decimal(str(v)), currency, web.locale)

        for currency in sorted(by_currency):
            # short month names under the bars so that they stay readable on a phone
            bars = [(_MONTHS[int(key[5:]) - 1], by_currency[currency].get(key, Decimal(0)))
                    for key in last12]
            charts.append((currency, bar_chart(
                bars, title=f"Spending per month in {currency}, {_month_label(last12[0])} "
                f"to {_month_label(last12[-1])}", unit=currency, width=420, height=220,
                chart_id=f"spending-{currency}", value_label=label_in(currency))))
        table = sorted(months, key=lambda m: (m.month, m.currency), reverse=True)
        return web.page(request, who, "driver_spending.html", charts=charts, months=table,
                        month_label=_month_label, first=_month_label(last12[0]),
                        last=_month_label(last12[-1]))

    @router.get("/me/statements/{month}.pdf")
    async def statement(request: Request, month: str) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        if not _MONTH.match(month):
            return web.error(request, who, 404, "No such month",
                             "A statement's month is written YYYY-MM.", back="/me/spending")
        s = await services.receipts.statement(who.user.user_id, who.user.name, month)
        return Response(statement_pdf(s), media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="statement-{month}.pdf"',
            "Cache-Control": "no-store"})

    @router.get("/me/availability")
    async def availability(request: Request) -> Response:
        who = await web.driver(request)
        if isinstance(who, Response):
            return who
        number = page_number(request)
        if number is None:
            return web.error(request, who, 400, "Bad page number",
                             "The page must be a whole number from 1.", back="/me/availability")
        chosen = (request.query_params.get("site") or "").replace("\x00", "").strip()
        sites = await services.tariffs.sites()
        if chosen:
            sites = [s for s in sites if s.id == chosen]
            if not sites:
                return web.error(request, who, 404, "Site not found",
                                 f"There is no site {chosen[:48]!r}.", back="/me/availability")
        pages = max(1, (len(sites) + PAGE_SIZE - 1) // PAGE_SIZE)
        shown = sites[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
        summary = []
        for site in shown:
            result = await services.reservations.availability(site_id=site.id)
            free = sum(1 for p in result.ports if p.available_now)
            busy = sum(1 for p in result.ports if not p.available_now and p.state in _BUSY)
            out = len(result.ports) - free - busy
            summary.append((site, free, busy, out, result))
        zone_of_site = {s.id: s.time_zone for s in shown}
        return web.page(request, who, "driver_availability.html", sites=summary,
                        chosen=chosen, page_no=number, pages=pages, out_states=_OUT,
                        local_time=lambda at, site_id: local_time(
                            at, zone_of_site.get(site_id), "%H:%M %Z"))

    return router


def _month_label(key: str) -> str:
    """"2026-03" as "Mar 2026"."""
    year, month = key.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"


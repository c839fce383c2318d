"""Billing pages: revenue and energy from the issued CDRs, the CDR export, and tariffs
(read in plain words, edited as OCPI JSON, and priced for an example session).

- `/billing`: revenue (excl. VAT) and energy per day as bar charts, and per currency,
  per station and per site the sessions, energy and revenue of a period, all from the
  CDRs issued in it (a credit counts against its original, so a corrected session counts
  once, at its corrected price). Amounts are never added across currencies.
- `/billing/cdrs.csv?from=&to=`: the CSV `/api/v1/cdrs.csv` gives for the same period
  (built by `services.billing.cdrs_csv`).
- `/billing/tariffs`, `/billing/tariffs/{id}`: tariffs, one tariff's elements, versions
  and assignments, and a price preview (`?start=&zone=&minutes=&kwh=...`).
- `/billing/tariffs/{id}/edit`, `/billing/new-tariff`: the OCPI JSON in a textarea,
  stored through `services.tariffs.put` (the code behind `PUT /api/v1/tariffs/{id}`).

A period is whole days in a time zone (UTC or a site's): `from` and `to` inclusive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import UnknownLocaleError
from babel.numbers import format_currency
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from evcsms.domain import jsontext
from evcsms.domain.money import MINOR_UNITS, show
from evcsms.domain.pricing import (
    MAX_SESSION,
    Line,
    PricingError,
    Quote,
    State,
    Usage,
    UsagePeriod,
    price_session,
)
from evcsms.domain.tariffs import (
    DayOfWeek,
    Dimension,
    PriceComponent,
    Restrictions,
    Tariff,
    TariffError,
    parse_tariff,
)
from evcsms.services.billing import cdrs_csv
from evcsms.services.container import Services
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.tariffs import StoredTariff
from evcsms.storage import tables as t
from evcsms.web import charts
from evcsms.web.common import Web, local_time, money, redirect, whole_number

DEFAULT_DAYS = 30
MAX_DAYS = 366
PAGE = 50
TOP_GROUPS = 12  # bars in the per-station and per-site revenue charts
MAX_KWH = Decimal(100_000)
UNITS = {Dimension.ENERGY: "kWh", Dimension.TIME: "h", Dimension.PARKING_TIME: "h",
         Dimension.FLAT: "session"}
SCOPE_WORDS = {"default": "Fleet default", "station": "Station", "site": "Site",
               "group": "Token group"}
NEW_TARIFF = {
    "id": "NEW-TARIFF", "currency": "EUR", "elements": [
        {"price_components": [{"type": "FLAT", "price": Decimal("0.50"), "vat": 21, "step_size": 1},
                              {"type": "ENERGY", "price": Decimal("0.35"), "vat": 21,
                               "step_size": 1}]},
    ]}


class BadInput(ValueError):
    """A form field or query parameter that cannot be used; the message says which."""


# -- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    first: date  # inclusive, local to `zone`
    last: date  # inclusive
    zone: str

    @property
    def issued_from(self) -> datetime:
        return _midnight(self.first, self.zone)

    @property
    def issued_to(self) -> datetime:
        return _midnight(self.last + timedelta(days=1), self.zone)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def query(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "zone": self.zone}


def _midnight(day: date, zone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _zone(name: str) -> str:
    name = name.strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"time zone: {name!r} is not an IANA time zone (e.g. Europe/Amsterdam)"
                       ) from None
    return name


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None


def parse_period(params: Mapping[str, str], now: datetime) -> Period:
    """The period of `?from=&to=&zone=` (last 30 days to today when not given)."""
    zone = _zone(params.get("zone", "UTC"))
    today = now.astimezone(ZoneInfo(zone)).date()
    last = _day(params["to"], "to") if params.get("to", "").strip() else today
    first = (_day(params["from"], "from") if params.get("from", "").strip()
             else last - timedelta(days=DEFAULT_DAYS - 1))
    if last < first:
        raise BadInput("to: the period ends before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadInput(f"from/to: a period of at most {MAX_DAYS} days")
    return Period(first, last, zone)


# -- the overview -------------------------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    """Sessions, energy and revenue of a group of CDRs in one currency."""

    currency: str
    sessions: int = 0
    cdrs: int = 0
    credits: int = 0
    energy_kwh: Decimal = Decimal(0)
    excl_vat: Decimal = Decimal(0)
    incl_vat: Decimal = Decimal(0)

    def add(self, row: Any) -> None:
        sign = -1 if row.credit else 1
        self.cdrs += 1
        self.credits += 1 if row.credit else 0
        self.sessions += sign
        self.energy_kwh += sign * Decimal(row.total_energy_kwh)
        self.excl_vat += Decimal(row.total_excl_vat)  # a credit's costs are negative already
        self.incl_vat += Decimal(row.total_incl_vat)

    def tidy(self) -> Totals:
        """Drop the trailing zeros a database's numeric type adds (8.700000000 -> 8.70)."""
        self.energy_kwh = plain(self.energy_kwh)
        self.excl_vat = plain(self.excl_vat, self.currency)
        self.incl_vat = plain(self.incl_vat, self.currency)
        return self


def plain(value: Decimal, currency: str | None = None) -> Decimal:
    """`value` without trailing zeros (kept to the currency's minor unit); never rounded."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    out = Decimal(text)
    if currency is not None and currency in MINOR_UNITS:
        minor = Decimal(1).scaleb(-MINOR_UNITS[currency])
        if out.quantize(minor) == out:
            out = out.quantize(minor)
    return out


@dataclass(slots=True)
class Group:
    key: str  # station or site id ("" for stations on no site)
    name: str
    totals: Totals


@dataclass(slots=True)
class Overview:
    period: Period
    currencies: list[Totals]
    revenue_per_day: dict[str, list[tuple[date, Decimal]]]  # currency -> (day, excl. VAT)
    energy_per_day: list[tuple[date, Decimal]]  # kWh
    stations: list[Group]
    sites: list[Group]
    zones: list[str] = field(default_factory=list)


async def overview(services: Services, period: Period) -> Overview:
    """Everything /billing shows for `period`, summed exactly from the issued CDRs."""
    zone = ZoneInfo(period.zone)
    async with services.engine.connect() as conn:
        rows = (await conn.execute(
            select(t.Cdr.issued_at, t.Cdr.currency, t.Cdr.credit, t.Cdr.total_excl_vat,
                   t.Cdr.total_incl_vat, t.Cdr.total_energy_kwh,
                   t.ChargingSession.station_id, t.Station.site_id, t.Site.name.label("site_name"))
            .outerjoin(t.ChargingSession, t.ChargingSession.id == t.Cdr.session_id)
            .outerjoin(t.Station, t.Station.id == t.ChargingSession.station_id)
            .outerjoin(t.Site, t.Site.id == t.Station.site_id)
            .where(t.Cdr.issued_at >= period.issued_from, t.Cdr.issued_at < period.issued_to)
            .order_by(t.Cdr.id))).all()
        zones = sorted({str(z) for z in (await conn.execute(
            select(t.Site.time_zone).distinct())).scalars() if z} | {"UTC"})
    currencies: dict[str, Totals] = {}
    revenue: dict[str, dict[date, Decimal]] = {}
    energy: dict[date, Decimal] = {}
    stations: dict[tuple[str, str], Group] = {}
    sites: dict[tuple[str, str], Group] = {}
    for row in rows:
        day = row.issued_at.astimezone(zone).date()
        currency = row.currency
        currencies.setdefault(currency, Totals(currency)).add(row)
        per_day = revenue.setdefault(currency, {})
        per_day[day] = per_day.get(day, Decimal(0)) + Decimal(row.total_excl_vat)
        sign = -1 if row.credit else 1
        energy[day] = energy.get(day, Decimal(0)) + sign * Decimal(row.total_energy_kwh)
        station = row.station_id or ""
        stations.setdefault((station, currency), Group(
            station, station or "(unknown station)", Totals(currency))).totals.add(row)
        site = row.site_id or ""
        sites.setdefault((site, currency), Group(
            site, (row.site_name or site) if site else "(no site)", Totals(currency))
        ).totals.add(row)
    days = period.days
    for group in (*stations.values(), *sites.values()):
        group.totals.tidy()
    return Overview(
        period=period,
        currencies=[currencies[c].tidy() for c in sorted(currencies)],
        revenue_per_day={c: [(d, plain(revenue[c].get(d, Decimal(0)), c)) for d in days]
                         for c in sorted(revenue)},
        energy_per_day=[(d, plain(energy.get(d, Decimal(0)))) for d in days],
        stations=[stations[k] for k in sorted(stations)],
        sites=[sites[k] for k in sorted(sites, key=lambda k: (k[0] == "", k))],
        zones=zones,
    )


def _page_number(params: Mapping[str, str], name: str) -> int:
    number = whole_number(params.get(name), default=1)
    if number is None:
        raise BadInput(f"{name}: {params.get(name, '')[:20]!r} is not a page number")
    return number


@dataclass(frozen=True, slots=True)
class Pager:
    number: int
    pages: int
    total: int
    prev_href: str | None
    next_href: str | None


def pager(request: Request, name: str, number: int, total: int, base: str) -> Pager:
    pages = max(1, -(-total // PAGE))

    def href(n: int) -> str:
        params = {k: v for k, v in request.query_params.items() if k != name}
        params[name] = str(n)
        return f"{base}?{urlencode(params)}"

    return Pager(number, pages, total, href(number - 1) if number > 1 else None,
                 href(number + 1) if number < pages else None)


# -- tariffs in words -------------------------------------------------------------------------


def unit_price(value: Decimal, currency: str, locale: str) -> str:
    """A unit price with every digit it has (0.395 stays 0.395), at least the minor unit."""
    try:
        return format_currency(value, currency, locale=locale, decimal_quantization=False)
    except (UnknownLocaleError, ValueError):
        return f"{value} {currency}"


def component_words(c: PriceComponent, currency: str, locale: str) -> str:
    price = unit_price(c.price, currency, locale)
    vat = "no VAT" if c.vat is None else f"plus {show(Fraction(c.vat), 4)} % VAT"
    if c.type is Dimension.FLAT:
        return f"{price} per session, {vat}"
    if c.type is Dimension.ENERGY:
        step = f"{c.step_size} Wh" if c.step_size < 1000 else f"{show(Fraction(c.step_size, 1000))} kWh"
        return f"{price} per kWh, {vat}; billed in steps of {step}"
    what = "charging" if c.type is Dimension.TIME else "parked (connected, not charging)"
    return f"{price} per hour {what}, {vat}; billed in steps of {_seconds(c.step_size)}"


def _seconds(seconds: int) -> str:
    if seconds and seconds % 3600 == 0:
        n = seconds // 3600
        return f"{n} hour" + ("s" if n != 1 else "")
    if seconds and seconds % 60 == 0:
        n = seconds // 60
        return f"{n} minute" + ("s" if n != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


def _days(days: frozenset[DayOfWeek]) -> str:
    names = [d.value.capitalize() for d in DayOfWeek if d in days]
    return ", ".join(names)


def restriction_words(r: Restrictions) -> list[str]:
    """Each restriction of an element as a phrase; [] when it always applies."""
    out = []
    if r.start_time is not None and r.end_time is not None:
        past = " (through midnight)" if r.end_time <= r.start_time else ""
        out.append(f"from {r.start_time:%H:%M} to {r.end_time:%H:%M} local time{past}")
    elif r.start_time is not None:
        out.append(f"from {r.start_time:%H:%M} local time until midnight")
    elif r.end_time is not None:
        out.append(f"from midnight until {r.end_time:%H:%M} local time")
    if r.day_of_week:
        out.append(f"on {_days(r.day_of_week)}")
    if r.start_date is not None:
        out.append(f"from {r.start_date.isoformat()}")
    if r.end_date is not None:
        out.append(f"before {r.end_date.isoformat()}")
    for low, high, unit, what in ((r.min_kwh, r.max_kwh, "kWh", "energy charged so far"),
                                  (r.min_power, r.max_power, "kW", "charging power"),
                                  (r.min_current, r.max_current, "A", "current")):
        if low is not None and high is not None:
            out.append(f"{what} from {low} {unit} up to (not including) {high} {unit}")
        elif low is not None:
            out.append(f"{what} at least {low} {unit}")
        elif high is not None:
            out.append(f"{what} below {high} {unit}")
    if r.min_duration is not None:
        out.append(f"after the first {_seconds(r.min_duration)} of the session")
    if r.max_duration is not None:
        out.append(f"during the first {_seconds(r.max_duration)} of the session")
    if r.reservation is not None:
        out.append("reserved time only" if r.reservation.value == "RESERVATION"
                   else "an expired reservation only")
    return out


def summary(tariff: Tariff, locale: str) -> str:
    """One line: each element's components with their prices."""
    parts = []
    for i, element in enumerate(tariff.elements, 1):
        prices = ", ".join(
            f"{c.type.value} {unit_price(c.price, tariff.currency, locale)}"
            + ("" if c.type is Dimension.FLAT else f"/{UNITS[c.type]}")
            for c in element.price_components)
        limited = " (restricted)" if not element.restrictions.is_empty else ""
        parts.append(f"#{i}: {prices}{limited}")
    return "; ".join(parts)


def assignment_words(scope: str, scope_id: str) -> str:
    return SCOPE_WORDS.get(scope, scope) + (f" {scope_id}" if scope_id else "")


# -- price preview ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewInput:
    start: datetime  # aware, in `zone`
    zone: str
    place: str  # "UTC" or a site id
    minutes: int  # charging
    energy_kwh: Decimal
    max_power_kw: Decimal | None
    parking_minutes: int


def _decimal(text: str, name: str, *, high: Decimal) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise BadInput(f"{name}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0 or value > high:
        raise BadInput(f"{name}: a number from 0 to {high}")
    return value


def _minutes(text: str, name: str, low: int) -> int:
    text = text.strip() or "0"
    if not (text.isascii() and text.isdigit()) or len(text) > 7:
        raise BadInput(f"{name}: {text!r} is not a whole number of minutes")
    value = int(text)
    if value < low:
        raise BadInput(f"{name}: at least {low} minute" + ("s" if low != 1 else ""))
    return value


def parse_preview(fields: Mapping[str, str], site_zones: Mapping[str, str]) -> PreviewInput:
    """The example session of a preview form; BadInput naming the field when unusable."""
    place = fields.get("zone", "UTC").strip() or "UTC"
    if place != "UTC" and place not in site_zones:
        raise BadInput(f"time zone: {place!r} is neither UTC nor a site")
    zone = "UTC" if place == "UTC" else site_zones[place]
    text = fields.get("start", "").strip()
    try:
        naive = datetime.fromisoformat(text)
        if naive.tzinfo is not None or len(text) < 16:
            raise ValueError
    except ValueError:
        raise BadInput(f"start: {text!r} is not a local date and time (YYYY-MM-DDTHH:MM)"
                       ) from None
    minutes = _minutes(fields.get("minutes", ""), "charging minutes", 1)
    parking = _minutes(fields.get("parking", ""), "parking minutes", 0)
    if timedelta(minutes=minutes + parking) > MAX_SESSION:
        raise BadInput(f"charging + parking minutes: at most {MAX_SESSION.days} days")
    energy = _decimal(fields.get("kwh", ""), "energy (kWh)", high=MAX_KWH)
    power_text = fields.get("power", "").strip()
    power = _decimal(power_text, "power (kW)", high=Decimal(10_000)) if power_text else None
    return PreviewInput(naive.replace(tzinfo=ZoneInfo(zone)), zone, place, minutes, energy,
                        power, parking)


def preview_usage(p: PreviewInput) -> Usage:
    """The example session as metered usage: charging for `minutes` at an even pace (at
    the given power, else the average: energy over time, as a real session's interval),
    then parked for `parking_minutes`."""
    start = p.start.astimezone(UTC)
    stop = start + timedelta(minutes=p.minutes)
    end = stop + timedelta(minutes=p.parking_minutes)
    power = p.max_power_kw
    if power is None:
        power = (p.energy_kwh * 60 / p.minutes).quantize(Decimal("0.001"))
    periods = [UsagePeriod(start, p.energy_kwh, State.CHARGING, power)]
    if p.parking_minutes:
        periods.append(UsagePeriod(stop, Decimal(0), State.PARKING))
    return Usage(start, end, tuple(periods))


@dataclass(frozen=True, slots=True)
class PreviewLine:
    when: str
    state: str
    dimension: str
    element: int  # 1-based
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat: Decimal | None
    excl_vat: Decimal
    note: str


@dataclass(frozen=True, slots=True)
class Preview:
    input: PreviewInput
    quote: Quote
    lines: list[PreviewLine]


def price_preview(tariff: Tariff, p: PreviewInput) -> Preview:
    """The example session priced by the pricing engine real sessions use."""
    quote = price_session(tariff, preview_usage(p), ZoneInfo(p.zone))

    def line(ln: Line, when: str, state: str, note: str = "") -> PreviewLine:
        return PreviewLine(when, state, ln.dimension.value, ln.element + 1,
                           show(ln.quantity, 4), UNITS[ln.dimension], ln.unit_price, ln.vat,
                           show(ln.excl_vat, 4), note)

    lines = []
    if quote.flat is not None:
        lines.append(line(quote.flat, local_time(p.start, p.zone), "start"))
    for piece in quote.pieces:
        when = (f"{local_time(piece.start, p.zone, '%Y-%m-%d %H:%M')} – "
                f"{local_time(piece.end, p.zone, '%H:%M %Z')}")
        lines.extend(line(ln, when, piece.state.value.lower()) for ln in piece.lines)
    lines.extend(line(ln, "end", "step size", "rounded up to the step size")
                 for ln in quote.step_lines)
    return Preview(p, quote, lines)


def preview_defaults(now: datetime) -> dict[str, str]:
    return {"start": now.astimezone(UTC).replace(minute=0).strftime("%Y-%m-%dT%H:%M"),
            "zone": "UTC", "minutes": "60", "kwh": "10", "power": "", "parking": "0"}


async def site_zones(services: Services) -> dict[str, str]:
    return {s.id: s.time_zone for s in await services.tariffs.sites()}


def _ocpi_text(stored: StoredTariff | None) -> str:
    return jsontext.dumps(stored.ocpi() if stored is not None else NEW_TARIFF, indent=2)


def tariff_path(tariff_id: str) -> str:
    return f"/billing/tariffs/{quote(tariff_id, safe='')}"


# -- routes -----------------------------------------------------------------------------------


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/billing")
    async def billing(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        params = dict(request.query_params)
        try:
            period = parse_period(params, services.clock.now())
            station_page = _page_number(params, "station_page")
            site_page = _page_number(params, "site_page")
        except BadInput as exc:
            return web.error(request, who, 422, "Bad period", str(exc), back="/billing")
        found = await overview(services, period)
        zone = ZoneInfo(period.zone)

        def day_label(d: date) -> str:  # with the year when the period spans two
            return d.strftime("%d %b" if period.first.year == period.last.year else "%d %b %Y")

        revenue_charts = [
            charts.bar_chart(
                [(day_label(d), v) for d, v in values],
                title=f"Revenue per day in {currency} (excl. VAT)", unit=currency,
                chart_id=f"revenue-{currency}",
                value_label=money_of(currency))
            for currency, values in found.revenue_per_day.items()]
        energy_chart = charts.bar_chart(
            [(day_label(d), v) for d, v in found.energy_per_day] if found.currencies else [],
            title="Energy per day (kWh)", unit="kWh", chart_id="energy",
            empty="No CDRs were issued in this period.")
        group_charts = {
            what: [charts.bar_chart(
                [(g.key or g.name, g.totals.excl_vat) for g in top],
                title=f"Revenue per {what} in {currency} (excl. VAT), top {len(top)}",
                unit=currency, chart_id=f"revenue-per-{what}-{currency}",
                value_label=money_of(currency))
                for currency in sorted({g.totals.currency for g in groups})
                for top in [sorted((g for g in groups if g.totals.currency == currency),
                                   key=lambda g: (-g.totals.excl_vat, g.key))[:TOP_GROUPS]]]
            for what, groups in (("station", found.stations), ("site", found.sites))}
        stations = found.stations[(station_page - 1) * PAGE:station_page * PAGE]
        sites = found.sites[(site_page - 1) * PAGE:site_page * PAGE]
        return web.page(
            request, who, "billing.html", o=found, period=period,
            revenue_charts=revenue_charts, energy_chart=energy_chart, group_charts=group_charts,
            stations=stations, sites=sites,
            station_pager=pager(request, "station_page", station_page, len(found.stations),
                                f"{request.scope.get('root_path', '')}/billing"),
            site_pager=pager(request, "site_page", site_page, len(found.sites),
                             f"{request.scope.get('root_path', '')}/billing"),
            csv_href=f"/billing/cdrs.csv?{urlencode(period.query())}",
            now_local=local_time(services.clock.now(), str(zone)),
        )

    def money_of(currency: str) -> Callable[[Any], str]:
        return lambda value: money(Decimal(str(value)), currency, web.locale)

    @router.get("/billing/cdrs.csv")
    async def export(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        try:
            period = parse_period(dict(request.query_params), services.clock.now())
        except BadInput as exc:
            return web.error(request, who, 422, "Bad period", str(exc), back="/billing")
        text = await cdrs_csv(services.cdrs, issued_from=period.issued_from,
                              issued_to=period.issued_to)
        name = f"cdrs-{period.first.isoformat()}-{period.last.isoformat()}.csv"
        return Response(text, media_type="text/csv; charset=utf-8", headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store"})

    # -- tariffs ----------------------------------------------------------------------------

    @router.get("/billing/tariffs")
    async def tariffs(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        try:
            number = _page_number(dict(request.query_params), "page")
        except BadInput as exc:
            return web.error(request, who, 422, "Bad page", str(exc), back="/billing/tariffs")
        rows, total = await services.tariffs.list(limit=PAGE, offset=(number - 1) * PAGE)
        where: dict[str, list[str]] = {}
        for a in await services.tariffs.assignments():
            where.setdefault(a.tariff_id, []).append(assignment_words(a.scope, a.scope_id))
        items = [{"stored": r, "summary": summary(r.tariff, web.locale),
                  "where": where.get(r.tariff_id, []), "href": tariff_path(r.tariff_id)}
                 for r in rows]
        return web.page(request, who, "tariffs.html", items=items, total=total,
                        pager=pager(request, "page", number, total,
                                    f"{request.scope.get('root_path', '')}/billing/tariffs"))

    async def tariff_page(request: Request, who: Any, tariff_id: str, params: Mapping[str, str],
                          ) -> Response:
        version_text = params.get("version", "").strip()
        version = None
        if version_text:
            if whole_number(version_text, most=999_999_999) is None:
                return web.error(request, who, 422, "Bad version",
                                 f"version: {version_text!r} is not a version number",
                                 back=tariff_path(tariff_id))
            version = int(version_text)
        try:
            stored = await services.tariffs.get(tariff_id, version)
            versions = await services.tariffs.versions(tariff_id)
        except NotFoundError as exc:
            return web.error(request, who, 404, "Tariff not found", str(exc),
                             back="/billing/tariffs")
        zones = await site_zones(services)
        fields = preview_defaults(services.clock.now())
        preview, error, status = None, None, 200
        if "kwh" in params:
            fields.update({k: params.get(k, "") for k in fields})
            try:
                preview = price_preview(stored.tariff, parse_preview(fields, zones))
            except (BadInput, PricingError) as exc:
                error, status = str(exc), 422
        assigned = [assignment_words(a.scope, a.scope_id)
                    for a in await services.tariffs.assignments() if a.tariff_id == tariff_id]
        return web.page(
            request, who, "tariff.html", status, stored=stored, versions=versions,
            latest=versions[-1].version, assigned=assigned, elements=_elements(stored.tariff),
            fields=fields, zones=zones, preview=preview, preview_error=error,
            base=tariff_path(tariff_id), saved=params.get("saved", ""),
            ocpi_text=_ocpi_text(stored),
            unit_price=lambda v, c: unit_price(Decimal(v), c, web.locale))

    def _elements(tariff: Tariff) -> list[dict[str, Any]]:
        return [{"number": i, "restrictions": restriction_words(e.restrictions),
                 "components": [{"c": c, "words": component_words(c, tariff.currency, web.locale)}
                                for c in e.price_components]}
                for i, e in enumerate(tariff.elements, 1)]

    @router.get("/billing/tariffs/{tariff_id}")
    async def tariff(request: Request, tariff_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        return await tariff_page(request, who, tariff_id, dict(request.query_params))

    async def edit_form(request: Request, who: Any, *, tariff_id: str | None, text: str,
                        fields: dict[str, str], status: int = 200,
                        errors: list[str] | None = None, preview: Preview | None = None,
                        preview_error: str | None = None, latest: int | None = None,
                        ) -> Response:
        return web.page(
            request, who, "tariff_edit.html", status, tariff_id=tariff_id, text=text,
            fields=fields, zones=await site_zones(services), errors=errors or [],
            preview=preview, preview_error=preview_error, latest=latest,
            action=(f"{tariff_path(tariff_id)}/edit" if tariff_id else "/billing/new-tariff"),
            back=tariff_path(tariff_id) if tariff_id else "/billing/tariffs",
            unit_price=lambda v, c: unit_price(Decimal(v), c, web.locale))

    @router.get("/billing/tariffs/{tariff_id}/edit")
    async def edit(request: Request, tariff_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        try:
            stored = await services.tariffs.get(tariff_id)
        except NotFoundError as exc:
            return web.error(request, who, 404, "Tariff not found", str(exc),
                             back="/billing/tariffs")
        return await edit_form(request, who, tariff_id=tariff_id, text=_ocpi_text(stored),
                               fields=preview_defaults(services.clock.now()),
                               latest=stored.version)

    @router.get("/billing/new-tariff")
    async def new(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        return await edit_form(request, who, tariff_id=None, text=_ocpi_text(None),
                               fields=preview_defaults(services.clock.now()))

    async def submit(request: Request, tariff_id: str | None) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        back = tariff_path(tariff_id) if tariff_id else "/billing/tariffs"
        form = await web.form(request, who)
        if form is None:
            return web.forbidden(request, who, back=back)
        latest = None
        if tariff_id is not None:
            try:
                latest = (await services.tariffs.get(tariff_id)).version
            except NotFoundError as exc:
                return web.error(request, who, 404, "Tariff not found", str(exc),
                                 back="/billing/tariffs")
        text = form.get("ocpi", "")
        fields = preview_defaults(services.clock.now())
        fields.update({k: form[k] for k in fields if k in form})

        async def again(status: int, **extra: Any) -> Response:
            return await edit_form(request, who, tariff_id=tariff_id, text=text, fields=fields,
                             status=status, latest=latest, **extra)

        try:
            data = json.loads(text, parse_float=Decimal)
        except ValueError as exc:
            return await again(422, errors=[f"Not JSON: {exc}"])
        if form.get("action") == "preview":
            try:
                if not isinstance(data, dict):
                    raise InvalidInputError("tariff: expected a JSON object")
                try:
                    parsed = parse_tariff(
                        {**data, "id": tariff_id} if tariff_id and "id" not in data else data)
                except TariffError as exc:
                    raise InvalidInputError(str(exc)) from None
                preview = price_preview(parsed, parse_preview(fields, await site_zones(services)))
            except InvalidInputError as exc:
                return await again(422, errors=[str(exc)])
            except (BadInput, PricingError) as exc:
                return await again(422, preview_error=str(exc))
            return await again(200, preview=preview)
        if tariff_id is None:
            new_id = data.get("id") if isinstance(data, dict) else None
            if isinstance(new_id, str) and new_id:
                try:
                    await services.tariffs.get(new_id)
                except NotFoundError:
                    pass
                else:
                    return await again(422, errors=[
                        f"id: tariff {new_id!r} exists already; edit it instead"])
        try:
            stored, added = await services.tariffs.put(data, tariff_id=tariff_id)
        except InvalidInputError as exc:
            return await again(422, errors=[str(exc)])
        saved = str(stored.version) if added else "unchanged"
        return redirect(request, f"{tariff_path(stored.tariff_id)}?saved={saved}")

    @router.post("/billing/tariffs/{tariff_id}/edit")
    async def save(request: Request, tariff_id: str) -> Response:
        return await submit(request, tariff_id)

    @router.post("/billing/new-tariff")
    async def create(request: Request) -> Response:
        return await submit(request, None)

    return router

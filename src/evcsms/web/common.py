"""What every dashboard page shares: who is logged in, rendering, forms, formats.

A page module (fleet, station, incidents, sessions, sites, billing, uptime, driver)
exposes `routes(web) -> APIRouter`; `create_web` (web/app.py) includes each. A handler
starts with `who = await web.operator(request)` (or `web.driver`) and returns `who` when
it is a Response (the login redirect, or 403 for the wrong role):

    @router.get("/incidents")
    async def incidents(request: Request) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        return web.page(request, who, "incidents.html", rows=...)

POST handlers read their body with `await web.form(request, who)`, which is None when the
CSRF token is missing or wrong (answer `web.forbidden(request, who)`).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel.core import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from evcsms.domain.money import UnknownCurrencyError, round_money
from evcsms.services.container import Services
from evcsms.services.users import Principal, UserRole
from evcsms.settings import Settings
from evcsms.web import auth

HERE = Path(__file__).parent
MAX_FORM_BYTES = 65_536
OPERATOR_NAV = (("Fleet", "/"), ("Incidents", "/incidents"), ("Sessions", "/sessions"),
                ("Sites", "/sites"), ("Billing", "/billing"), ("Uptime", "/uptime"))
DRIVER_NAV = (("Charging", "/me/"), ("Tokens", "/me/tokens"), ("Spending", "/me/spending"),
              ("Find a charger", "/me/availability"))


def zone_of(name: str | None) -> ZoneInfo:
    """The time zone called `name`, UTC when unknown or not given."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(at: datetime | None, zone: str | None, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """`at` (aware UTC from storage) written in the site's time zone; "" for None."""
    if at is None:
        return ""
    return at.astimezone(zone_of(zone)).strftime(fmt)


def money(amount: Decimal | str | int | None, currency: str | None, locale: str = "en") -> str:
    """An amount in its currency's format for the locale (EUR 12.5 -> "€12.50" in en,
    "12,50 €" in de_DE); "" for None. Never goes through float."""
    if amount is None or amount == "":
        return ""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    code = (currency or "EUR").upper()
    with contextlib.suppress(UnknownCurrencyError):
        value = round_money(value, code)  # half-up to the minor unit, as receipts do
    try:
        return format_currency(value, code, locale=locale)
    except (UnknownLocaleError, ValueError):
        return f"{value} {code}"


def number(value: Decimal | float | int | None, locale: str = "en", digits: int = 2) -> str:
    """A number with the locale's separators and at most `digits` decimals."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    exact = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    try:
        return format_decimal(exact, format=pattern, locale=locale)
    except (UnknownLocaleError, ValueError):
        return str(value)


def kwh(wh: Decimal | float | int | None, locale: str = "en") -> str:
    """Watt-hours as "12.35 kWh"."""
    if wh is None:
        return ""
    return f"{number(Decimal(str(wh)) / 1000, locale, 2)} kWh"


MAX_ID = 2**63 - 1  # the largest row id a page takes from a URL


def whole_number(raw: str | None, *, default: int | None = None,
                 most: int = 999_999) -> int | None:
    """A whole number from 1 to `most` written in a query or a path (digits only):
    `default` when absent or blank, None when malformed or out of range."""
    text = (raw or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(most)) \
            or not 1 <= int(text) <= most:  # ASCII: "²".isdigit() yet int("²") fails
        return None
    return int(text)


def valid_locale(name: str) -> str:
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return "en"
    return name


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass(frozen=True, slots=True)
class Who:
    """The logged-in user of a request and the CSRF token their forms carry."""

    user: Principal
    session: auth.SessionData
    csrf: str

    @property
    def is_driver(self) -> bool:
        return self.user.role is UserRole.DRIVER


def prefix(request: Request) -> str:
    """Where the dashboard is mounted ("/ui"); every link starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 to `path` inside the dashboard (a path such as "/incidents/4")."""
    return RedirectResponse(f"{prefix(request)}{path}", status_code=303)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with the dashboard's security headers (CSP with a per-response nonce)."""
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template(template).render(
        prefix=prefix(request), nonce=nonce, path=request.url.path[len(prefix(request)):],
        **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


class Web:
    """The dashboard's state: services, settings, the session key; page helpers."""

    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self.locale = valid_locale(settings.locale)
        self._key: str | None = None

    async def key(self) -> str:
        if self._key is None:
            self._key = await self.services.users.web_secret("session")
        return self._key

    def secure(self, request: Request) -> bool:
        return self.settings.tls or request.url.scheme == "https"

    async def who(self, request: Request) -> Who | None:
        """The logged-in user (operator or driver), or None."""
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        data = auth.read_session(cookie) if cookie else None
        if cookie is None or data is None:
            return None
        found = await self.services.users.web_principal(data.user_id)
        if found is None:
            return None
        if not auth.verify_session(await self.key(), cookie, found[1]):
            return None
        return Who(found[0], data, auth.csrf_token(await self.key(), data.nonce))

    async def operator(self, request: Request) -> Who | Response:
        """The logged-in operator; else the login redirect, or 403 for a driver."""
        who = await self.who(request)
        if who is None:
            return redirect(request, "/login")
        if who.user.role is not UserRole.OPERATOR:
            return self.error(request, who, 403, "Operators only",
                              "This page is for the network's operators.", back="/me/")
        return who

    async def driver(self, request: Request) -> Who | Response:
        """The logged-in driver; else the login redirect, or 403 for an operator."""
        who = await self.who(request)
        if who is None:
            return redirect(request, "/login")
        if who.user.role is not UserRole.DRIVER:
            return self.error(request, who, 403, "Drivers only",
                              "This page is a driver's own view; operators see sessions "
                              "under Sessions.", back="/")
        return who

    def page(self, request: Request, who: Who | None, template: str, status: int = 200,
             **context: Any) -> HTMLResponse:
        """Render `template` for `who`, with the navigation and formats of the dashboard."""
        nav = () if who is None else DRIVER_NAV if who.is_driver else OPERATOR_NAV
        values: dict[str, Any] = {
            "user": None if who is None else who.user,
            "csrf_token": "" if who is None else who.csrf, "nav": nav,
            "money": lambda amount, currency: money(amount, currency, self.locale),
            "number": lambda value, digits=2: number(value, self.locale, digits),
            "kwh": lambda wh: kwh(wh, self.locale), "local_time": local_time,
        }
        values.update(context)  # a page may bind local_time to its site's zone, say
        return render(request, template, status, **values)

    def error(self, request: Request, who: Who | None, status: int, title: str, message: str,
              back: str | None = None) -> HTMLResponse:
        """An error page with a way back (`back` is a dashboard path such as "/")."""
        return self.page(request, who, "error.html", status, title=title, message=message,
                         back=back)

    def forbidden(self, request: Request, who: Who, back: str = "/") -> HTMLResponse:
        return self.error(request, who, 403, "Form expired",
                          "The form was stale or not sent from this site. "
                          "Open the page again and retry.", back=back)

    async def form(self, request: Request, who: Who) -> dict[str, str] | None:
        """The urlencoded form of a POST, or None when its CSRF token is not `who`'s."""
        fields = await read_form(request)
        if not auth.same(fields.get("csrf_token"), who.csrf):
            return None
        return fields


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (python-multipart is not needed for a few fields); NULs
    are dropped, a body over 64 KiB reads as empty."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0].replace("\x00", "") for name, values in fields.items()}

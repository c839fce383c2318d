"""`create_web`: the dashboard's ASGI app, mounted at /ui by bootstrap.build_app.

Pages: /login (GET form, POST), /logout (POST), / (fleet overview, filter by ?state= and
?q=), /events (server-sent events: each station's new state), /stations/{id} (one
station; POST /stations/{id}/commands/{action} sends a remote action), /static/app.css.
Every page but the login form needs a logged-in operator; forms need their CSRF token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from evcsms.services.container import Services
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.users import Principal, UserRole
from evcsms.settings import Settings
from evcsms.web import auth
from evcsms.web.fleet import ALL_STATES, STATES, counts, fleet, local_time, matches
from evcsms.web.station import command_params, station_page

HERE = Path(__file__).parent
KEEPALIVE_SECONDS = 15.0
MAX_FORM_BYTES = 16_384
_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_CSS = (HERE / "templates" / "app.css").read_text()


class Web:
    def __init__(self, services: Services, settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self._key: str | None = None

    async def key(self) -> str:
        if self._key is None:
            self._key = await self.services.users.web_secret("session")
        return self._key

    async def operator(self, request: Request) -> tuple[Principal, auth.SessionData] | None:
        cookie = request.cookies.get(auth.SESSION_COOKIE)
        data = auth.read_session(cookie) if cookie else None
        if cookie is None or data is None:
            return None
        found = await self.services.users.web_principal(data.user_id)
        if found is None or found[0].role is not UserRole.OPERATOR:
            return None
        if not auth.verify_session(await self.key(), cookie, found[1]):
            return None
        return found[0], data

    def secure(self, request: Request) -> bool:
        return self.settings.tls or request.url.scheme == "https"


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _templates.get_template(template).render(
        prefix=_prefix(request), nonce=nonce, **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (python-multipart is not needed for a few fields)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_prefix(request)}/login", status_code=303)


def create_web(services: Services, settings: Settings) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web = Web(services, settings)
    app.state.web = web

    def login_form(request: Request, status: int = 200, error: str | None = None,
                   username: str = "") -> HTMLResponse:
        token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or auth.new_login_csrf()
        response = _page(request, "login.html", status, csrf_token=token, error=error,
                         username=username, user=None)
        response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True,
                            samesite="strict", secure=web.secure(request),
                            path=_prefix(request) or "/")
        return response

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        if await web.operator(request) is not None:
            return RedirectResponse(f"{_prefix(request)}/", status_code=303)
        return login_form(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        if not auth.same(form.get("csrf_token"), request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
            return _page(request, "error.html", 403, user=None, title="Form expired",
                         message="The form was stale or not sent from this site. "
                                 "Open the login page again and retry.")
        name = form.get("username", "").strip().replace("\x00", "")
        principal = await services.users.login(name, form.get("password", ""))
        if principal is None or principal.role is not UserRole.OPERATOR:
            return login_form(request, 401, "Wrong user name or password.", name)
        found = await services.users.web_principal(principal.user_id)
        assert found is not None  # just logged in with its password
        cookie = auth.make_session(await web.key(), principal.user_id, found[1])
        response = RedirectResponse(f"{_prefix(request)}/", status_code=303)
        response.set_cookie(auth.SESSION_COOKIE, cookie, max_age=auth.SESSION_SECONDS,
                            httponly=True, samesite="lax", secure=web.secure(request),
                            path=_prefix(request) or "/")
        response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=_prefix(request) or "/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        who = await web.operator(request)
        if who is None:
            return _to_login(request)
        form = await _form(request)
        if not auth.same(form.get("csrf_token"), auth.csrf_token(await web.key(), who[1].nonce)):
            return _page(request, "error.html", 403, user=who[0], title="Form expired",
                         message="The form was stale or not sent from this site.",
                         csrf_token=auth.csrf_token(await web.key(), who[1].nonce))
        response = _to_login(request)
        response.delete_cookie(auth.SESSION_COOKIE, path=_prefix(request) or "/")
        return response

    @app.get("/")
    async def overview(request: Request) -> Response:
        who = await web.operator(request)
        if who is None:
            return _to_login(request)
        state = request.query_params.get("state") or None
        if state not in ALL_STATES:
            state = None
        q = (request.query_params.get("q") or "").replace("\x00", "").strip()[:100]
        rows = await fleet(services.engine)
        shown = [row for row in rows if matches(row, state, q)]
        return _page(request, "fleet.html", user=who[0],
                     csrf_token=auth.csrf_token(await web.key(), who[1].nonce),
                     counts=counts(rows), states=STATES, all_states=ALL_STATES, rows=shown,
                     state=state or "", q=q, total=len(rows))

    @app.get("/stations/{station_id}")
    async def station(request: Request, station_id: str) -> Response:
        who = await web.operator(request)
        if who is None:
            return _to_login(request)
        token = auth.csrf_token(await web.key(), who[1].nonce)
        found = await station_page(services, station_id)
        if found is None:
            return _page(request, "error.html", 404, user=who[0], csrf_token=token,
                         title="Station not found",
                         message=f"There is no station {station_id!r}.", back="fleet")
        zone = found.zone
        return _page(request, "station.html", user=who[0], csrf_token=token, s=found,
                     local_time=lambda at: local_time(at, zone))

    @app.post("/stations/{station_id}/commands/{action}")
    async def station_command(request: Request, station_id: str, action: str) -> Response:
        who = await web.operator(request)
        if who is None:
            return _to_login(request)
        token = auth.csrf_token(await web.key(), who[1].nonce)
        form = await _form(request)
        if not auth.same(form.get("csrf_token"), token):
            return _page(request, "error.html", 403, user=who[0], csrf_token=token,
                         title="Form expired",
                         message="The form was stale or not sent from this site. "
                                 "Open the station page again and retry.", back="fleet")
        params = command_params(action, form)
        try:
            if params is None:
                raise NotFoundError(f"unknown action {action!r}")
            await services.commands.issue(station_id, action, params, created_by=who[0].name)
        except NotFoundError as exc:
            return _page(request, "error.html", 404, user=who[0], csrf_token=token,
                         title="Not found", message=str(exc), back="fleet")
        except InvalidInputError as exc:
            return _page(request, "error.html", 422, user=who[0], csrf_token=token,
                         title="Command not sent", message=str(exc), back="fleet")
        return RedirectResponse(f"{_prefix(request)}/stations/{quote(station_id, safe='')}",
                                status_code=303)

    @app.get("/events")
    async def events(request: Request) -> Response:
        if await web.operator(request) is None:
            return Response("log in first", status_code=401, media_type="text/plain")
        return StreamingResponse(_stream(services), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @app.get("/static/app.css")
    async def css() -> Response:
        return Response(_CSS, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})

    return app


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

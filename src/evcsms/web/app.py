"""`create_web`: the dashboard's ASGI app, mounted at /ui by bootstrap.build_app.

Here: /login (GET form, POST: operators land on the fleet, drivers on /me/), /logout
(POST) and /static/*. Wrong passwords are throttled per user name and address
(web/throttle.py). Each area of the dashboard is a module with `routes(web)` (see
web/common.py for the pattern): fleet (/, /events), station (/stations/...), incidents,
sessions, sites (load management), billing (tariffs, revenue, CDR export), uptime, and
driver (the drivers' portal under /me/). Every page but the login form needs a logged-in
user of the right role; forms need their CSRF token.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from evcsms.services.container import Services
from evcsms.services.users import UserRole
from evcsms.settings import Settings
from evcsms.web import (
    auth,
    billing,
    driver,
    fleet,
    incidents,
    sessions,
    sites,
    station,
    uptime,
)
from evcsms.web.common import HERE, Web, prefix, read_form, redirect, render
from evcsms.web.throttle import LoginThrottle

_STATIC = HERE / "static"
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.(css|js)$")
_MEDIA = {"css": "text/css", "js": "text/javascript"}


def create_web(services: Services, settings: Settings) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web = Web(services, settings)
    app.state.web = web
    throttle = app.state.throttle = LoginThrottle()

    def home(role: UserRole) -> str:
        return "/me/" if role is UserRole.DRIVER else "/"

    def login_form(request: Request, status: int = 200, error: str | None = None,
                   username: str = "") -> HTMLResponse:
        token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or auth.new_login_csrf()
        response = render(request, "login.html", status, csrf_token=token, error=error,
                          username=username, user=None, nav=())
        response.set_cookie(auth.LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True,
                            samesite="strict", secure=web.secure(request),
                            path=prefix(request) or "/")
        return response

    @app.get("/login")
    async def login_page(request: Request) -> Response:
        who = await web.who(request)
        if who is not None:
            return redirect(request, home(who.user.role))
        return login_form(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        if not auth.same(form.get("csrf_token"), request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
            return web.error(request, None, 403, "Form expired",
                             "The form was stale or not sent from this site. "
                             "Open the login page again and retry.", back="/login")
        name = form.get("username", "").strip()[:200]
        address = request.client.host if request.client else "?"
        wait = throttle.retry_after(name, address)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            response = login_form(request, 429, "Too many failed logins. Try again in "
                                  f"{minutes} minute{'s' if minutes > 1 else ''}.", name)
            response.headers["Retry-After"] = str(int(wait))
            return response
        principal = await services.users.login(name, form.get("password", ""))
        if principal is None:
            throttle.failed(name, address)
            return login_form(request, 401, "Wrong user name or password.", name)
        throttle.succeeded(name)
        found = await services.users.web_principal(principal.user_id)
        assert found is not None  # just logged in with its password
        cookie = auth.make_session(await web.key(), principal.user_id, found[1])
        landing = redirect(request, home(principal.role))
        landing.set_cookie(auth.SESSION_COOKIE, cookie, max_age=auth.SESSION_SECONDS,
                            httponly=True, samesite="lax", secure=web.secure(request),
                            path=prefix(request) or "/")
        landing.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=prefix(request) or "/")
        return landing

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        who = await web.who(request)
        if who is None:
            return redirect(request, "/login")
        if await web.form(request, who) is None:
            return web.forbidden(request, who, back=home(who.user.role))
        response = redirect(request, "/login")
        response.delete_cookie(auth.SESSION_COOKIE, path=prefix(request) or "/")
        return response

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        path = _STATIC / name
        if not _STATIC_NAME.match(name) or not path.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(path.read_bytes(), media_type=_MEDIA[name.rsplit(".", 1)[1]],
                        headers={"Cache-Control": "public, max-age=3600"})

    for module in (fleet, station, incidents, sessions, sites, billing, uptime, driver):
        app.include_router(module.routes(web))
    return app

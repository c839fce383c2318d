"""Build the FastAPI application over a running `Services` container.

The app does not own the services: whoever built them (bootstrap, a test) closes them.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from evcsms import __version__
from evcsms.api.deps import reject_nul
from evcsms.api.errors import install_error_handlers
from evcsms.api.routes import (
    commands,
    health,
    id_tokens,
    incidents,
    load,
    me,
    messages,
    remote,
    reservations,
    sessions,
    stations,
    tariffs,
    thresholds,
    uploads,
)
from evcsms.services.container import Services
from evcsms.settings import Settings

PREFIX = "/api/v1"

DESCRIPTION = """\
REST API of **evcsms**, an EV charging station management system (OCPP 1.6J and 2.0.1).

* Every endpoint except `GET /api/v1/health` needs `Authorization: Bearer <token>`: an
  operator token, or for `/api/v1/me/...` a driver token (a driver sees only their own
  sessions).
* Errors are `{"detail": "<message>"}`: 401 (no or bad token), 403 (wrong role),
  404 (not found), 409 (already exists), 422 (invalid input).
* Lists take `limit` (1..500, default 50) and `offset` and answer
  `{"items": [...], "total": n, "limit": l, "offset": o}`.
* Times are ISO 8601 in UTC. Energy is a JSON number in Wh (rounded to 0.001 Wh);
  `energy_wh_exact` carries the exact value as a string. Tariffs and costs are OCPI 2.2.1
  JSON whose numbers are exact decimals, digit for digit.
"""

TAGS = [
    {"name": "stations", "description": "Charging stations and their live state"},
    {"name": "id tokens", "description": "Cards and tokens that may start charging"},
    {"name": "sessions", "description": "Charging sessions (transactions)"},
    {"name": "commands", "description": "Commands to stations, stored as records"},
    {"name": "message log", "description": "Every OCPP frame in and out"},
    {"name": "incidents", "description": "Detected faults: acknowledge, comment, resolve"},
    {"name": "uptime", "description": "NEVI uptime per port, station, site and fleet"},
    {"name": "billing", "description": "OCPI tariffs (versioned), where they apply, sites, "
                                       "session costs"},
    {"name": "driver", "description": "A driver's own sessions, costs and receipts (driver "
                                      "token); creating drivers (operator token)"},
    {"name": "remote diagnostics", "description": "Log uploads, firmware updates and the "
                                                   "device model of a station"},
    {"name": "uploads", "description": "Where stations send log files (outside /api/v1; the "
                                       "one-time token in the path is the credential)"},
    {"name": "load management", "description": "A site's electrical tree and limits, the "
                                               "power each EVSE gets, pins and pause"},
    {"name": "health", "description": "Liveness"},
]


def create_api(services: Services, settings: Settings) -> FastAPI:
    app = FastAPI(
        title="evcsms API",
        description=DESCRIPTION,
        version=__version__,
        openapi_tags=TAGS,
        dependencies=[Depends(reject_nul)],
    )
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)
    if not settings.role.api:  # a gateway or worker node: a health probe for its orchestrator
        app.include_router(health.router, prefix=PREFIX)
        return app
    for module in (health, stations, id_tokens, sessions, commands, messages, tariffs,
                   incidents):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(incidents.uptime_router, prefix=PREFIX)
    app.include_router(incidents.fleet_router, prefix=PREFIX)
    app.include_router(incidents.webhook_router, prefix=PREFIX)
    app.include_router(incidents.history_router, prefix=PREFIX)
    app.include_router(thresholds.router, prefix=PREFIX)
    app.include_router(load.router, prefix=PREFIX)
    app.include_router(remote.router, prefix=PREFIX)
    app.include_router(uploads.router)  # stations, not operators: no API token, no prefix
    app.include_router(reservations.router, prefix=PREFIX)
    app.include_router(me.me, prefix=PREFIX)
    app.include_router(me.drivers, prefix=PREFIX)
    return app

"""The station page: one station's live state, connectors, open incidents, recent OCPP
frames and commands, and the remote actions an operator may send from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from evcsms.services.container import Services
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.web.common import Web, local_time, redirect
from evcsms.web.fleet import station_state

MESSAGES_SHOWN = 20
COMMANDS_SHOWN = 10
_ACTIONS = {"reset", "unlock_connector", "change_availability", "trigger_message"}


@dataclass(frozen=True, slots=True)
class StationPage:
    station: Any
    state: str
    last_seen: str
    zone: str
    connectors: list[Any]
    incidents: list[Any]
    messages: list[Any]
    commands: list[Any]


async def station_page(services: Services, station_id: str) -> StationPage | None:
    """Everything the page shows, or None for an unknown station."""
    async with services.engine.connect() as conn:
        station = (await conn.execute(
            select(t.Station, t.Site.time_zone)
            .outerjoin(t.Site, t.Site.id == t.Station.site_id)
            .where(t.Station.id == station_id))).first()
        if station is None:
            return None
        connectors = list((await conn.execute(
            select(t.Connector).where(t.Connector.station_id == station_id)
            .order_by(t.Connector.evse_id, t.Connector.connector_id))).all())
    zone = station.time_zone or "UTC"
    incidents, _ = await services.incidents.list(status="active", station_id=station_id,
                                                 limit=50, offset=0)
    commands, _ = await services.commands.list(station_id, limit=COMMANDS_SHOWN, offset=0)
    messages = await services.message_log.entries(station_id, limit=MESSAGES_SHOWN)
    statuses = (c.status for c in connectors if c.evse_id > 0 or c.status == "Faulted")
    return StationPage(
        station=station, state=station_state(bool(station.connected), statuses),
        last_seen=local_time(station.last_seen_at, zone), zone=zone, connectors=connectors,
        incidents=incidents, messages=messages, commands=commands,
    )


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
        params["evse_id"] = int(evse) if evse.isdigit() and len(evse) < 10 else evse
    return params


def routes(web: Web) -> APIRouter:
    router = APIRouter()
    services = web.services

    @router.get("/stations/{station_id}")
    async def station(request: Request, station_id: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        found = await station_page(services, station_id)
        if found is None:
            return web.error(request, who, 404, "Station not found",
                             f"There is no station {station_id!r}.", back="/")
        zone = found.zone
        return web.page(request, who, "station.html", s=found,
                        local_time=lambda at: local_time(at, zone))

    @router.post("/stations/{station_id}/commands/{action}")
    async def station_command(request: Request, station_id: str, action: str) -> Response:
        who = await web.operator(request)
        if isinstance(who, Response):
            return who
        form = await web.form(request, who)
        if form is None:
            return web.forbidden(request, who, back=f"/stations/{quote(station_id, safe='')}")
        params = command_params(action, form)
        try:
            if params is None:
                raise NotFoundError(f"unknown action {action!r}")
            await services.commands.issue(station_id, action, params, created_by=who.user.name)
        except NotFoundError as exc:
            return web.error(request, who, 404, "Not found", str(exc), back="/")
        except InvalidInputError as exc:
            return web.error(request, who, 422, "Command not sent", str(exc),
                             back=f"/stations/{quote(station_id, safe='')}")
        return redirect(request, f"/stations/{quote(station_id, safe='')}")

    return router

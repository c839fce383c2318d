"""The driver's own view: their tokens, sessions with energy and cost, monthly totals,
receipts. Scoped to the calling driver: another driver's session is "not found".

Operators create drivers and give them tokens under /drivers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Paging, RequireRole, ServicesDep, require_operator
from evcsms.api.routes.tariffs import cost_json, exact
from evcsms.domain.tariffs import iso_utc
from evcsms.services.errors import NotFoundError
from evcsms.services.receipts import statement_html, statement_pdf
from evcsms.services.users import Principal, UserRole

require_driver = RequireRole(UserRole.DRIVER)
Driver = Annotated[Principal, Depends(require_driver)]
SessionId = Annotated[int, Path(ge=1, le=2**63 - 1)]

me = APIRouter(prefix="/me", tags=["driver"])
drivers = APIRouter(prefix="/drivers", tags=["driver"], dependencies=[Depends(require_operator)])


@me.get("", summary="Who I am and my tokens")
async def whoami(driver: Driver, services: ServicesDep) -> dict[str, Any]:
    return {"name": driver.name, "role": driver.role.value,
            "tokens": await services.drivers.tokens(driver.user_id)}


@me.get("/sessions", summary="My sessions, newest first, with energy and cost")
async def my_sessions(driver: Driver, services: ServicesDep, page: Paging) -> Response:
    rows, total = await services.drivers.sessions(driver.user_id, limit=page.limit,
                                                  offset=page.offset)
    items = []
    for row, cdr in rows:
        item: dict[str, Any] = {
            "id": row.id, "station_id": row.station_id, "evse_id": row.evse_id,
            "id_token": row.id_token, "status": row.status,
            "started_at": iso_utc(row.started_at),
            "stopped_at": iso_utc(row.stopped_at) if row.stopped_at else None,
            "energy_wh": row.energy_wh, "cost": None,
        }
        if cdr is not None:
            item["cost"] = {"currency": cdr.currency, "final": True,
                            "excl_vat": cdr.total_excl_vat, "incl_vat": cdr.total_incl_vat}
        elif row.stopped_at is None:
            live = await services.billing.session_cost(row.id)
            if live is not None:
                item["cost"] = {"currency": live.quote.currency, "final": False,
                                "excl_vat": live.quote.total_cost.excl_vat,
                                "incl_vat": live.quote.total_cost.incl_vat}
        items.append(item)
    return exact({"items": items, "total": total, "limit": page.limit, "offset": page.offset})


@me.get("/sessions/{session_id}/cost", summary="One of my sessions: its cost and the working")
async def my_session_cost(session_id: SessionId, driver: Driver, services: ServicesDep) -> Response:
    await services.drivers.require_session(driver.user_id, session_id)
    cost = await services.billing.session_cost(session_id)
    if cost is None:
        raise NotFoundError(f"session {session_id} has no tariff")
    return exact(cost_json(cost))


@me.get("/sessions/{session_id}/receipt", summary="My receipt (HTML)", response_class=Response)
async def my_receipt(session_id: SessionId, driver: Driver, services: ServicesDep) -> Response:
    await services.drivers.require_session(driver.user_id, session_id)
    return Response(await services.receipts.html(session_id), media_type="text/html; charset=utf-8")


@me.get("/sessions/{session_id}/receipt.pdf", summary="My receipt (PDF)", response_class=Response)
async def my_receipt_pdf(session_id: SessionId, driver: Driver, services: ServicesDep) -> Response:
    await services.drivers.require_session(driver.user_id, session_id)
    return Response(await services.receipts.pdf(session_id), media_type="application/pdf",
                    headers={"content-disposition":
                             f'attachment; filename="receipt-{session_id}.pdf"'})


@me.get("/spending", summary="My totals per month (and currency), corrections included")
async def my_spending(driver: Driver, services: ServicesDep,
                      year: Annotated[int | None, Query(ge=2000, le=9999)] = None) -> Response:
    months = await services.drivers.monthly(driver.user_id, year)
    return exact([{"month": m.month, "currency": m.currency, "sessions": m.sessions,
                   "energy_kwh": m.energy_kwh, "total_excl_vat": m.total_excl_vat,
                   "total_incl_vat": m.total_incl_vat} for m in months])


Month = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


@me.get("/statements/{month}.pdf", summary="My monthly statement (PDF)", response_class=Response)
async def my_statement_pdf(month: Month, driver: Driver, services: ServicesDep) -> Response:
    s = await services.receipts.statement(driver.user_id, driver.name, month)
    return Response(statement_pdf(s), media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="statement-{month}.pdf"'})


@me.get("/statements/{month}", summary="My monthly statement (HTML)", response_class=Response)
async def my_statement(month: Month, driver: Driver, services: ServicesDep) -> Response:
    s = await services.receipts.statement(driver.user_id, driver.name, month)
    return Response(statement_html(s), media_type="text/html; charset=utf-8")


@drivers.get("/{name}/statements/{month}", summary="A driver's monthly statement (HTML)",
             response_class=Response)
async def driver_statement(name: str, month: Month, services: ServicesDep) -> Response:
    user_id = await services.drivers.user_id(name)
    s = await services.receipts.statement(user_id, name, month)
    return Response(statement_html(s), media_type="text/html; charset=utf-8")


class DriverIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    tokens: list[str] = Field(default_factory=list, max_length=100)


@drivers.post("", status_code=201, summary="Create a driver owning id tokens; returns their "
                                            "API token once")
async def create_driver(body: DriverIn, services: ServicesDep) -> dict[str, Any]:
    token = await services.drivers.create(body.name, body.tokens)
    return {"name": body.name, "tokens": body.tokens, "api_token": token}


@drivers.put("/{name}/tokens/{token}", status_code=204, summary="Give an id token to a driver")
async def link_token(name: str, token: str, services: ServicesDep) -> Response:
    await services.drivers.link(name, token)
    return Response(status_code=204)

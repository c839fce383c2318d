"""Tariffs (OCPI 2.2.1 JSON, versioned), where they apply, sites, and what a session costs.

Tariff bodies and costs are exact: numbers are written digit for digit from `Decimal`
(never through float), and request bodies are read the same way.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Paging, ServicesDep, require_operator
from evcsms.api.schemas import UtcDatetime
from evcsms.domain import jsontext
from evcsms.domain.cdr_usage import quote_to_ocpi
from evcsms.domain.tariffs import iso_utc
from evcsms.services.billing import SessionCost, cdrs_csv
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.tariffs import StoredTariff

router = APIRouter(tags=["billing"], dependencies=[Depends(require_operator)])

TariffId = Annotated[str, Path(min_length=1, max_length=36)]
OCPI_TARIFF_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "object", "description": "An OCPI 2.2.1 Tariff object", "example": {
        "id": "AC-STANDARD", "currency": "EUR", "elements": [
            {"price_components": [{"type": "FLAT", "price": 0.35, "vat": 21, "step_size": 1},
                                  {"type": "ENERGY", "price": 0.39, "vat": 21, "step_size": 1}]},
            {"price_components": [{"type": "PARKING_TIME", "price": 6.0, "vat": 21,
                                   "step_size": 300}],
             "restrictions": {"min_duration": 10800}}]}}}}}}


def exact(value: Any, status: int = 200) -> Response:
    return Response(jsontext.dumps(value, indent=None), status_code=status,
                    media_type="application/json")


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body(), parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("body: not JSON") from None


def _version(stored: StoredTariff) -> dict[str, Any]:
    return {"tariff_id": stored.tariff_id, "version": stored.version,
            "created_at": iso_utc(stored.created_at), "tariff": stored.ocpi()}


# -- tariffs ----------------------------------------------------------------------------------


@router.put("/tariffs/{tariff_id}", summary="Store an OCPI tariff (a changed one gets a new version)",
            openapi_extra=OCPI_TARIFF_BODY)
async def put_tariff(tariff_id: TariffId, request: Request, services: ServicesDep) -> Response:
    stored, added = await services.tariffs.put(await _json_body(request), tariff_id=tariff_id)
    return exact({**_version(stored), "new_version": added}, 201 if added else 200)


@router.get("/tariffs", summary="List tariffs (their latest versions)")
async def list_tariffs(services: ServicesDep, page: Paging) -> Response:
    rows, total = await services.tariffs.list(limit=page.limit, offset=page.offset)
    return exact({"items": [_version(r) for r in rows], "total": total, "limit": page.limit,
                  "offset": page.offset})


@router.get("/tariffs/{tariff_id}", summary="One tariff as OCPI JSON (latest, or ?version=)")
async def get_tariff(tariff_id: TariffId, services: ServicesDep,
                     version: Annotated[int | None, Query(ge=1)] = None) -> Response:
    return exact((await services.tariffs.get(tariff_id, version)).ocpi())


@router.get("/tariffs/{tariff_id}/versions", summary="Every version of a tariff, oldest first")
async def tariff_versions(tariff_id: TariffId, services: ServicesDep) -> Response:
    return exact([_version(v) for v in await services.tariffs.versions(tariff_id)])


# -- assignments ------------------------------------------------------------------------------


class AssignmentIn(BaseModel):
    tariff_id: str = Field(min_length=1, max_length=36)


class AssignmentOut(BaseModel):
    scope: str
    scope_id: str
    tariff_id: str


@router.get("/tariff-assignments", summary="Where each tariff applies")
async def list_assignments(services: ServicesDep) -> list[AssignmentOut]:
    return [AssignmentOut(scope=r.scope, scope_id=r.scope_id, tariff_id=r.tariff_id)
            for r in await services.tariffs.assignments()]


@router.put("/tariff-assignments/default", summary="Set the fleet default tariff")
async def put_default(body: AssignmentIn, services: ServicesDep) -> AssignmentOut:
    row = await services.tariffs.assign("default", "", body.tariff_id)
    return AssignmentOut(scope=row.scope, scope_id=row.scope_id, tariff_id=row.tariff_id)


@router.put("/tariff-assignments/{scope}/{scope_id}",
            summary="Assign a tariff to a station, a site or an id-token group",
            description="Precedence when a session starts: the id token's group, then the "
                        "station, then its site, then the fleet default.")
async def put_assignment(scope: str, scope_id: Annotated[str, Path(max_length=48)],
                         body: AssignmentIn, services: ServicesDep) -> AssignmentOut:
    row = await services.tariffs.assign(scope, scope_id, body.tariff_id)
    return AssignmentOut(scope=row.scope, scope_id=row.scope_id, tariff_id=row.tariff_id)


@router.delete("/tariff-assignments/default", status_code=204, summary="Remove the fleet default")
async def delete_default(services: ServicesDep) -> Response:
    await services.tariffs.unassign("default", "")
    return Response(status_code=204)


@router.delete("/tariff-assignments/{scope}/{scope_id}", status_code=204,
               summary="Remove an assignment")
async def delete_assignment(scope: str, scope_id: str, services: ServicesDep) -> Response:
    await services.tariffs.unassign(scope, scope_id)
    return Response(status_code=204)


@router.get("/stations/{station_id}/tariff",
            summary="The tariff a session starting now would get, and why")
async def station_tariff(station_id: Annotated[str, Path(max_length=48)], services: ServicesDep,
                         id_token: Annotated[str | None, Query(max_length=36)] = None) -> Response:
    choice = await services.tariffs.choose(station_id, id_token)
    if choice is None:
        raise NotFoundError(f"no tariff applies to station {station_id!r}: assign one to it, "
                            "its site, the token's group, or set a fleet default")
    return exact({"scope": choice.scope, "scope_id": choice.scope_id,
                  **_version(choice.tariff)})


# -- sites ------------------------------------------------------------------------------------


class SiteIn(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    time_zone: str | None = Field(default=None, max_length=64,
                                  description="IANA zone, e.g. Europe/Amsterdam")


class SiteOut(BaseModel):
    id: str
    name: str
    time_zone: str


class StationSite(BaseModel):
    site_id: str | None = Field(max_length=48)


@router.put("/sites/{site_id}", summary="Create or change a site")
async def put_site(site_id: Annotated[str, Path(max_length=48)], body: SiteIn,
                   services: ServicesDep) -> SiteOut:
    row = await services.tariffs.put_site(site_id, name=body.name, time_zone=body.time_zone)
    return SiteOut(id=row.id, name=row.name, time_zone=row.time_zone)


@router.get("/sites", summary="List sites")
async def list_sites(services: ServicesDep) -> list[SiteOut]:
    return [SiteOut(id=r.id, name=r.name, time_zone=r.time_zone)
            for r in await services.tariffs.sites()]


@router.get("/sites/{site_id}", summary="One site")
async def get_site(site_id: str, services: ServicesDep) -> SiteOut:
    row = await services.tariffs.site(site_id)
    return SiteOut(id=row.id, name=row.name, time_zone=row.time_zone)


@router.put("/stations/{station_id}/site", status_code=204, summary="Put a station on a site")
async def put_station_site(station_id: Annotated[str, Path(max_length=48)], body: StationSite,
                           services: ServicesDep) -> Response:
    await services.tariffs.place_station(station_id, body.site_id)
    return Response(status_code=204)


class MeterKey(BaseModel):
    public_key: str | None = Field(
        max_length=2000, description="the meter's public key, hex DER (SubjectPublicKeyInfo); "
                                     "null removes it")


@router.put("/stations/{station_id}/meter-key", status_code=204,
            summary="Set the public key that signed meter values (OCMF) are verified with")
async def put_meter_key(station_id: Annotated[str, Path(max_length=48)], body: MeterKey,
                        services: ServicesDep) -> Response:
    await services.tariffs.set_meter_key(station_id, body.public_key)
    return Response(status_code=204)


class CostUpdates(BaseModel):
    enabled: bool


@router.put("/stations/{station_id}/cost-updates", status_code=204,
            summary="Push running costs to this station (2.0.1 CostUpdated, 1.6 RunningCost)")
async def put_cost_updates(station_id: Annotated[str, Path(max_length=48)], body: CostUpdates,
                           services: ServicesDep) -> Response:
    await services.tariffs.set_cost_updates(station_id, body.enabled)
    return Response(status_code=204)


# -- session cost ---------------------------------------------------------------------------


def cost_json(cost: SessionCost) -> dict[str, Any]:
    return {
        "session_id": cost.session_id, "final": cost.final,
        "tariff_id": cost.tariff.tariff_id, "tariff_version": cost.tariff.version,
        "time_zone": cost.time_zone, **quote_to_ocpi(cost.quote),
    }


@router.get("/sessions/{session_id}/cost",
            summary="What a session costs (so far, while it runs), with the working",
            description="OCPI CDR cost fields (total_cost, total_energy_cost, ...) from the "
                        "session's meter readings and the tariff version it started with.")
async def session_cost(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                       services: ServicesDep) -> Response:
    if await services.sessions.get(session_id) is None:
        raise NotFoundError(f"session {session_id} not found")
    cost = await services.billing.session_cost(session_id)
    if cost is None:
        raise NotFoundError(f"session {session_id} has no tariff: none applied when it started")
    return exact(cost_json(cost))



# -- CDRs -------------------------------------------------------------------------------------

class Correction(BaseModel):
    reason: str = Field(min_length=1, max_length=255,
                        description="why, e.g. 'meter values arrived after the stop'")


@router.get("/sessions/{session_id}/cdr", summary="The session's OCPI CDR (issued when it ends)")
async def session_cdr(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                      services: ServicesDep) -> Response:
    return exact(await services.cdrs.get(session_id))


@router.post("/sessions/{session_id}/cdr/corrections", status_code=201,
             summary="Credit the session's CDR and issue a new one from the data as it is now")
async def correct_cdr(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: Correction,
                      services: ServicesDep) -> Response:
    credit, cdr = await services.cdrs.correct(session_id, body.reason)
    return exact({"credit": credit, "cdr": cdr}, 201)


async def _issued(services: Any, issued_from: Any, issued_to: Any, limit: int,
                  offset: int) -> tuple[list[dict[str, Any]], int]:
    result: tuple[list[dict[str, Any]], int] = await services.cdrs.list(
        issued_from=issued_from, issued_to=issued_to, limit=limit, offset=offset)
    return result


@router.get("/cdrs", summary="CDRs issued in a period (credits included), oldest first")
async def list_cdrs(services: ServicesDep, page: Paging,
                    issued_from: Annotated[UtcDatetime | None, Query(description="inclusive")] = None,
                    issued_to: Annotated[UtcDatetime | None, Query(description="exclusive")] = None,
                    ) -> Response:
    items, total = await _issued(services, issued_from, issued_to, page.limit, page.offset)
    return exact({"items": items, "total": total, "limit": page.limit, "offset": page.offset})


@router.get("/cdrs.csv", summary="CDRs issued in a period as CSV (one line each)",
            response_class=Response)
async def export_cdrs(services: ServicesDep,
                      issued_from: Annotated[UtcDatetime | None, Query(description="inclusive")] = None,
                      issued_to: Annotated[UtcDatetime | None, Query(description="exclusive")] = None,
                      ) -> Response:
    text = await cdrs_csv(services.cdrs, issued_from=issued_from, issued_to=issued_to)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        "content-disposition": 'attachment; filename="cdrs.csv"'})


# -- receipts ---------------------------------------------------------------------------------


@router.get("/sessions/{session_id}/receipt", summary="The session's receipt as HTML",
            response_class=Response)
async def receipt_html(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                       services: ServicesDep) -> Response:
    return Response(await services.receipts.html(session_id), media_type="text/html; charset=utf-8")


@router.get("/sessions/{session_id}/receipt.pdf", summary="The session's receipt as PDF",
            response_class=Response)
async def receipt_pdf(session_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                      services: ServicesDep) -> Response:
    body = await services.receipts.pdf(session_id)
    return Response(body, media_type="application/pdf", headers={
        "content-disposition": f'attachment; filename="receipt-{session_id}.pdf"'})

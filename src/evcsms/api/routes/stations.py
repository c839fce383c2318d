"""Stations: registration by operators, live state, reported events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from evcsms.api.deps import MAX_LIMIT, Paging, ServicesDep, require_operator
from evcsms.api.schemas import (
    EventList,
    Page,
    StationCreate,
    StationCreated,
    StationDetail,
    StationEventOut,
    StationPatch,
    StationSummary,
)
from evcsms.services import secrets

router = APIRouter(
    prefix="/stations", tags=["stations"], dependencies=[Depends(require_operator)]
)


@router.post("", status_code=201, summary="Register a station")
async def create_station(body: StationCreate, services: ServicesDep) -> StationCreated:
    """Without `password`, one is generated and returned in this response only."""
    generated = None if body.password else secrets.new_station_password()
    await services.stations.create(
        body.id, password=body.password or generated, description=body.description,
        registration=body.registration, password_generated=generated is not None,
    )
    row, connectors = await services.stations.get(body.id)
    return StationCreated.build(
        row, connectors, services.presence.last_seen(body.id), password=generated
    )


@router.get("", summary="List stations")
async def list_stations(services: ServicesDep, page: Paging) -> Page[StationSummary]:
    rows, total = await services.stations.list(limit=page.limit, offset=page.offset)
    items = [
        StationSummary(**StationSummary.fields_of(row, services.presence.last_seen(row.id)))
        for row in rows
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{station_id}", summary="A station with its live state and connectors")
async def get_station(station_id: str, services: ServicesDep) -> StationDetail:
    row, connectors = await services.stations.get(station_id)
    return StationDetail.build(row, connectors, services.presence.last_seen(station_id))


@router.patch("/{station_id}", summary="Change description, registration, validation, password")
async def update_station(
    station_id: str, body: StationPatch, services: ServicesDep
) -> StationDetail:
    await services.stations.update(station_id, **body.changes())
    return await get_station(station_id, services)


@router.delete("/{station_id}", status_code=204, summary="Delete a station and its data")
async def delete_station(station_id: str, services: ServicesDep) -> Response:
    await services.stations.delete(station_id)
    return Response(status_code=204)


@router.get("/{station_id}/events", summary="Events the station reported, newest first")
async def list_events(
    station_id: str,
    services: ServicesDep,
    kind: Annotated[str | None, Query(max_length=40, description="e.g. boot")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> EventList:
    await services.stations.get(station_id)  # 404 for an unknown station
    rows = await services.stations.events(station_id, kind=kind, limit=limit)
    return EventList(items=[StationEventOut.model_validate(r) for r in rows], limit=limit)

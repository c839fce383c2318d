"""Incidents: list and filter, one with its timeline, acknowledge, comment, resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from evcsms.api.deps import Operator, Paging, ServicesDep, require_operator
from evcsms.api.schemas import Page

router = APIRouter(prefix="/incidents", tags=["incidents"],
                   dependencies=[Depends(require_operator)])
IncidentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class NoteOut(BaseModel):
    at: datetime
    what: str
    author: str
    text: str


class IncidentOut(BaseModel):
    id: int
    kind: str
    severity: str
    status: str
    station_id: str
    key: str = Field(description="the cause; at most one open incident per key")
    message: str
    action: str = Field(description="what to do about it")
    evidence: dict[str, Any]
    opened_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> IncidentOut:
        return cls(id=row.id, kind=row.kind, severity=row.severity, status=row.status,
                   station_id=row.station_id, key=row.key, message=row.message,
                   action=row.action, evidence=dict(row.evidence or {}), opened_at=row.opened_at,
                   last_seen_at=row.last_seen_at, acknowledged_at=row.acknowledged_at,
                   resolved_at=row.resolved_at)


class IncidentDetail(IncidentOut):
    timeline: list[NoteOut]


class Comment(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class Resolution(BaseModel):
    text: str = Field(default="", max_length=2000)


def _detail(found: tuple[Any, list[Any]]) -> IncidentDetail:
    row, notes = found
    return IncidentDetail(**IncidentOut.of(row).model_dump(), timeline=[
        NoteOut(at=n.at, what=n.what, author=n.author, text=n.text) for n in notes])


@router.get("", summary="Incidents, newest first")
async def list_incidents(
    services: ServicesDep, page: Paging,
    status: Annotated[Literal["active", "open", "acknowledged", "resolved"] | None,
                      Query(description="active = open or acknowledged")] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
) -> Page[IncidentOut]:
    rows, total = await services.incidents.list(status=status, kind=kind, station_id=station_id,
                                                limit=page.limit, offset=page.offset)
    return Page(items=[IncidentOut.of(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/{incident_id}", summary="One incident with its timeline")
async def get_incident(incident_id: IncidentId, services: ServicesDep) -> IncidentDetail:
    return _detail(await services.incidents.get(incident_id))


@router.post("/{incident_id}/acknowledge", summary="Someone is on it")
async def acknowledge(incident_id: IncidentId, services: ServicesDep, who: Operator) -> IncidentDetail:
    return _detail(await services.incidents.acknowledge(incident_id, who.name))


@router.post("/{incident_id}/comments", summary="Add a comment to the timeline")
async def comment(incident_id: IncidentId, body: Comment, services: ServicesDep,
                  who: Operator) -> IncidentDetail:
    return _detail(await services.incidents.comment(incident_id, who.name, body.text))


@router.post("/{incident_id}/resolve", summary="Close the incident")
async def resolve(incident_id: IncidentId, body: Resolution, services: ServicesDep,
                  who: Operator) -> IncidentDetail:
    return _detail(await services.incidents.resolve(incident_id, who.name, body.text))

"""Incidents (list and filter, one with its timeline, acknowledge, comment, resolve) and
NEVI uptime reports with their exclusions."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Operator, Paging, ServicesDep, require_operator
from evcsms.api.routes.tariffs import exact
from evcsms.api.schemas import Page, UtcDatetime
from evcsms.domain.tariffs import iso_utc
from evcsms.domain.uptime import EXCLUDED_REASONS, Uptime
from evcsms.services.incidents import fleet_health

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


# -- uptime -------------------------------------------------------------------------------------

uptime_router = APIRouter(prefix="/uptime", tags=["uptime"], dependencies=[Depends(require_operator)])


class ExclusionIn(BaseModel):
    station_id: str = Field(max_length=48)
    evse_id: int | None = Field(default=None, ge=1, description="null: every port")
    start: UtcDatetime
    end: UtcDatetime
    reason: str = Field(description=", ".join(sorted(EXCLUDED_REASONS)))
    note: str = Field(default="", max_length=2000)


def _uptime_json(u: Uptime) -> dict[str, Any]:
    return dict(u.figures())


@uptime_router.post("/exclusions", status_code=201,
                    summary="Tag outage time as excluded (utility outage, vandalism, ...)")
async def add_exclusion(body: ExclusionIn, services: ServicesDep, who: Operator) -> dict[str, int]:
    exclusion_id = await services.uptime.exclude(body.station_id, body.evse_id, body.start,
                                                 body.end, body.reason, body.note, who.name)
    return {"id": exclusion_id}


Period = Annotated[UtcDatetime, Query(alias="from", description="inclusive, ISO 8601")]
PeriodEnd = Annotated[UtcDatetime, Query(alias="to", description="exclusive, ISO 8601")]


@uptime_router.get("", summary="NEVI uptime (23 CFR 680.116(b)) per port and in total")
async def uptime(services: ServicesDep, start: Period, end: PeriodEnd,
                 station_id: Annotated[str | None, Query(max_length=48)] = None,
                 site_id: Annotated[str | None, Query(max_length=48)] = None) -> Response:
    ports = await services.uptime.ports(start, end, station_id=station_id, site_id=site_id)
    return exact({
        "from": iso_utc(start), "to": iso_utc(end), "ports_counted": len(ports),
        "total": _uptime_json(services.uptime.total(ports)),
        "ports": [{"station_id": p.station_id, "evse_id": p.evse_id,
                   "connector_id": p.connector_id, "site_id": p.site_id,
                   **_uptime_json(p.uptime)} for p in ports],
    })


@uptime_router.get(".csv", summary="NEVI uptime per port as CSV", response_class=Response)
async def uptime_csv(services: ServicesDep, start: Period, end: PeriodEnd,
                     station_id: Annotated[str | None, Query(max_length=48)] = None,
                     site_id: Annotated[str | None, Query(max_length=48)] = None) -> Response:
    ports = await services.uptime.ports(start, end, station_id=station_id, site_id=site_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("station_id", "evse_id", "connector_id", "site_id", "from", "to",
                     "period_minutes", "outage_minutes", "excluded_minutes", "uptime_percent"))
    for p in ports:
        u = _uptime_json(p.uptime)
        writer.writerow((p.station_id, p.evse_id, p.connector_id, p.site_id or "", iso_utc(start),
                         iso_utc(end), u["period_minutes"], u["outage_minutes"],
                         u["excluded_minutes"], u["percent"]))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="uptime.csv"'})


fleet_router = APIRouter(prefix="/fleet", tags=["incidents"], dependencies=[Depends(require_operator)])


@fleet_router.get("/health", summary="Fleet health: states, open incidents, worst stations, MTTR")
async def fleet(services: ServicesDep,
                days: Annotated[int, Query(ge=1, le=366, description="MTTR window")] = 30
                ) -> dict[str, Any]:
    return await fleet_health(services.engine, services.clock.now(), days=days)


webhook_router = APIRouter(prefix="/webhooks", tags=["incidents"],
                           dependencies=[Depends(require_operator)])


class WebhookIn(BaseModel):
    url: str = Field(max_length=500, description="http(s) endpoint that receives POSTs")
    events: list[str] | None = Field(default=None, description="incident.opened, incident.resolved")


@webhook_router.post("", status_code=201,
                     summary="Register a webhook; the HMAC secret is returned once")
async def create_webhook(body: WebhookIn, services: ServicesDep) -> dict[str, Any]:
    webhook_id, secret = await services.webhooks.create(body.url, body.events)
    return {"id": webhook_id, "secret": secret,
            "signature": "X-Evcsms-Signature: sha256=<hex HMAC-SHA256 of the raw body>"}


@webhook_router.get("", summary="Webhooks and their last delivery")
async def list_webhooks(services: ServicesDep) -> list[dict[str, Any]]:
    return [{"id": w.id, "url": w.url, "events": w.events.split(","), "active": w.active,
             "last_status": w.last_status, "last_attempt_at": w.last_attempt_at,
             "failures": w.failures} for w in await services.webhooks.list()]


@webhook_router.delete("/{webhook_id}", status_code=204, summary="Remove a webhook")
async def delete_webhook(webhook_id: int, services: ServicesDep) -> Response:
    await services.webhooks.delete(webhook_id)
    return Response(status_code=204)


history_router = APIRouter(prefix="/stations", tags=["stations"],
                           dependencies=[Depends(require_operator)])


@history_router.get("/{station_id}/history",
                    summary="A station's status history: every connector status and link change")
async def station_history(
    station_id: Annotated[str, Path(max_length=48)], services: ServicesDep, page: Paging,
    since: Annotated[UtcDatetime | None, Query(description="inclusive")] = None,
) -> dict[str, Any]:
    rows, total = await services.uptime.history(station_id, since=since, limit=page.limit,
                                                offset=page.offset)
    return {"items": [{"at": r.at, "source": r.source, "evse_id": r.evse_id,
                       "connector_id": r.connector_id, "state": r.state,
                       "error_code": r.error_code} for r in rows],
            "total": total, "limit": page.limit, "offset": page.offset}

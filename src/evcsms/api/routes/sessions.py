"""Charging sessions: filtered lists and one session with its meter values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from evcsms.api.deps import Paging, ServicesDep, require_operator
from evcsms.api.schemas import MeterValueOut, Page, SessionDetail, SessionOut, UtcDatetime
from evcsms.domain.model import SessionStatus
from evcsms.services.errors import NotFoundError
from evcsms.services.session_queries import SessionFilter, list_sessions

router = APIRouter(prefix="/sessions", tags=["sessions"], dependencies=[Depends(require_operator)])

SessionId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("", summary="List sessions, newest first")
async def get_sessions(
    services: ServicesDep,
    page: Paging,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    id_token: Annotated[str | None, Query(max_length=36)] = None,
    status: SessionStatus | None = None,
    started_after: Annotated[
        UtcDatetime | None, Query(description="inclusive, ISO 8601 with a zone")
    ] = None,
    started_before: Annotated[
        UtcDatetime | None, Query(description="exclusive, ISO 8601 with a zone")
    ] = None,
) -> Page[SessionOut]:
    where = SessionFilter(
        station_id=station_id, id_token=id_token, status=status.value if status else None,
        started_after=started_after, started_before=started_before,
    )
    rows, total = await list_sessions(
        services.engine, where, limit=page.limit, offset=page.offset
    )
    items = [SessionOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{session_id}", summary="One session with its meter values")
async def get_session(session_id: SessionId, services: ServicesDep) -> SessionDetail:
    row = await services.sessions.get(session_id)
    if row is None:
        raise NotFoundError(f"session {session_id} not found")
    samples = await services.sessions.samples(session_id)
    return SessionDetail(
        **SessionOut.model_validate(row).model_dump(),
        meter_values=[MeterValueOut.from_row(s) for s in samples],
    )

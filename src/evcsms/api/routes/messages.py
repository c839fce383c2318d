"""The OCPP message log of a station: every frame in and out, newest first.

Frames stay after a station is deleted (the log is not tied to the stations table),
so an unknown station id gives an empty list, not a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from evcsms.api.deps import MAX_LIMIT, ServicesDep, require_operator
from evcsms.api.schemas import MessageList, MessageOut

router = APIRouter(tags=["message log"], dependencies=[Depends(require_operator)])


@router.get("/stations/{station_id}/messages", summary="OCPP frames, newest first")
async def list_messages(
    station_id: str,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="only frames older than this id")
    ] = None,
) -> MessageList:
    rows = await services.message_log.entries(station_id, limit=limit, before_id=before_id)
    items = [MessageOut.model_validate(row) for row in rows]
    next_before = items[-1].id if len(items) == limit else None
    return MessageList(items=items, limit=limit, next_before_id=next_before)

"""Commands to stations: issue one and wait for its final status; read the records."""

from __future__ import annotations

from fastapi import APIRouter

from evcsms.api.deps import Operator, Paging, ServicesDep
from evcsms.api.schemas import CommandOut, CommandRequest, Page

router = APIRouter(tags=["commands"])


@router.post("/stations/{station_id}/commands", summary="Send a command and wait for the result")
async def issue_command(
    station_id: str, body: CommandRequest, services: ServicesDep, principal: Operator
) -> CommandOut:
    """Stores the command, delivers it to the node holding the station and answers with
    the record once its status is final (accepted, rejected, failed, timed_out). An
    offline station gives status `failed` with error `station offline` at once."""
    row = await services.commands.issue(
        station_id, body.name.value, body.params, created_by=principal.name
    )
    return CommandOut.model_validate(row)


@router.get("/stations/{station_id}/commands", summary="A station's commands, newest first")
async def list_commands(
    station_id: str, services: ServicesDep, page: Paging, principal: Operator
) -> Page[CommandOut]:
    await services.stations.get(station_id)  # 404 for an unknown station
    rows, total = await services.commands.list(station_id, limit=page.limit, offset=page.offset)
    items = [CommandOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/commands/{command_id}", summary="One command record")
async def get_command(command_id: str, services: ServicesDep, principal: Operator) -> CommandOut:
    return CommandOut.model_validate(await services.commands.get(command_id))

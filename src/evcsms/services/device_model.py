"""A station's device model, stored one row per component/variable/attribute type.

Fed by 2.0.1 NotifyReport chunks (the protocol handler calls `store`) and, through
`CommandService`'s hooks, by the answers to get_variables, set_variables (accepted
values), get_configuration and change_configuration (1.6 keys as component
"OCPP16Configuration"). `get_base_report` gets its requestId here. Rows are upserted:
a new report overwrites what it names and leaves the rest (see `updated_at`).
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain import device_model as dm
from evcsms.domain.clock import Clock
from evcsms.domain.commands import CommandName
from evcsms.domain.model import CommandStatus
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter

IDENTITY = ["station_id", "component", "component_instance", "evse_id", "connector_id",
            "variable", "variable_instance", "attribute_type"]
_KEEP_IF_ABSENT = ("mutability", "persistent", "constant", "characteristics")


class DeviceModelService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    async def store(self, station_id: str, variables: Sequence[dm.Variable], source: str) -> int:
        """Upsert `variables` (the last of equal identities wins); how many rows."""
        unique = {v.key: v for v in variables}
        if not unique:
            return 0
        now = self._clock.now()
        rows = [
            {"station_id": station_id, "component": v.component,
             "component_instance": v.component_instance, "evse_id": v.evse_id,
             "connector_id": v.connector_id, "variable": v.variable,
             "variable_instance": v.variable_instance, "attribute_type": v.attribute_type,
             "value": v.value, "mutability": v.mutability, "persistent": v.persistent,
             "constant": v.constant, "characteristics": v.characteristics, "source": source,
             "updated_at": now}
            for v in unique.values()
        ]

        async def op(conn: AsyncConnection) -> int:
            table = t.table_of(t.DeviceVariable)
            stmt = insert(conn, table)
            keep = {name: func.coalesce(getattr(stmt.excluded, name), table.c[name])
                    for name in _KEEP_IF_ABSENT}
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=IDENTITY,
                set_={"value": stmt.excluded.value, "source": stmt.excluded.source,
                      "updated_at": stmt.excluded.updated_at, **keep}), rows)
            return len(rows)

        return await self._writer.submit(op, "device-model")

    # -- command hooks ---------------------------------------------------------------------

    async def prepare(self, station_id: str, command_id: str, command: CommandName,
                      params: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        if command is CommandName.GET_BASE_REPORT:
            return {**params, "request_id": secrets.randbelow(2**31 - 1) + 1}
        return params

    async def answered(self, station_id: str, record: Any) -> None:
        """Keep what an accepted answer says about the station's variables."""
        if record.status != CommandStatus.ACCEPTED.value or not record.response:
            return
        answer, request = record.response, record.request or {}
        variables: list[dm.Variable] = []
        if record.name == CommandName.GET_VARIABLES.value:
            variables = dm.from_get_variables(answer.get("getVariableResult") or [])
        elif record.name == CommandName.SET_VARIABLES.value:
            variables = dm.from_set_variables(request.get("setVariableData") or [],
                                              answer.get("setVariableResult") or [])
        elif record.name == CommandName.GET_CONFIGURATION.value:
            variables = dm.from_configuration(answer.get("configurationKey") or [])
        elif record.name == CommandName.CHANGE_CONFIGURATION.value and "key" in request:
            variables = [dm.changed_configuration(str(request["key"]), str(request["value"]))]
        await self.store(station_id, variables, record.name)

    # -- operator reads --------------------------------------------------------------------

    async def list(self, station_id: str, *, component: str | None = None,
                   variable: str | None = None, limit: int, offset: int
                   ) -> tuple[builtins.list[Any], int]:
        where: builtins.list[ColumnElement[bool]] = [t.DeviceVariable.station_id == station_id]
        if component is not None:
            where.append(t.DeviceVariable.component == component)
        if variable is not None:
            where.append(t.DeviceVariable.variable == variable)
        order = (t.DeviceVariable.component, t.DeviceVariable.component_instance,
                 t.DeviceVariable.evse_id, t.DeviceVariable.connector_id,
                 t.DeviceVariable.variable, t.DeviceVariable.variable_instance,
                 t.DeviceVariable.attribute_type)
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.DeviceVariable)
                                      .where(*where))
            rows = (await conn.execute(select(t.DeviceVariable).where(*where).order_by(*order)
                                       .limit(limit).offset(offset))).all()
        return list(rows), int(total or 0)

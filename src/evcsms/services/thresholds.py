"""Fault-rule thresholds per scope (default, site, model, station): stored, resolved.

The diagnostics rules ask `for_station` (or take a `book()` for a whole sweep). The book
is read from the database at most every `ttl` seconds and at once after a change made
here, so a change made on another node applies within `ttl`.
"""

from __future__ import annotations

import builtins
import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain import thresholds as th
from evcsms.domain.clock import Clock
from evcsms.domain.faults import Thresholds
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.dialect import in_lists, insert
from evcsms.storage.writer import BatchWriter


def check_scope(scope: str, scope_id: str) -> str:
    if scope not in th.SCOPES:
        raise InvalidInputError(f"scope must be one of {', '.join(th.SCOPES)}, got {scope!r}")
    if scope == "default":
        if scope_id:
            raise InvalidInputError("the default scope has no id")
        return ""
    if not scope_id or len(scope_id) > 100:
        raise InvalidInputError(f"a {scope} scope needs an id of 1 to 100 characters")
    return scope_id


class ThresholdService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock, *,
                 ttl: float = 30.0) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._ttl = ttl
        self._book: th.ThresholdBook | None = None
        self._loaded = 0.0
        self._changes = 0  # changes made through this service (see `book`)

    async def book(self) -> th.ThresholdBook:
        """Every scope's thresholds, read again at most `ttl` s after the last read. A read
        that overlapped a change made here is not kept (it may predate the change; kept, it
        would hide the change for `ttl` s): it is read again."""
        while self._book is None or time.monotonic() - self._loaded > self._ttl:
            changes = self._changes
            async with self._engine.connect() as conn:
                rows = (await conn.execute(select(
                    t.FaultThresholds.scope, t.FaultThresholds.scope_id,
                    t.FaultThresholds.values))).all()
            layers = {}
            for scope, scope_id, values in rows:
                try:
                    layers[(scope, scope_id)] = th.parse(values)
                except th.ThresholdError:  # stored by a newer release; ignore what we can't read
                    continue
            if changes == self._changes:
                self._book, self._loaded = th.ThresholdBook(layers), time.monotonic()
        return self._book

    async def for_station(self, station_id: str) -> Thresholds:
        site, model = await self._placement(station_id)
        return (await self.book()).for_station(station_id, site, model)

    async def for_stations(self, station_ids: list[str]) -> dict[str, Thresholds]:
        """`for_station` for many stations in one query (an unknown one gets the defaults
        and whatever its own scope sets)."""
        placements: dict[str, tuple[str | None, str | None]] = {}
        async with self._engine.connect() as conn:
            for chunk in in_lists(station_ids):
                for row in await conn.execute(select(
                        t.Station.id, t.Station.site_id, t.Station.model).where(
                        t.Station.id.in_(chunk))):
                    placements[row.id] = (row.site_id, row.model)
        book = await self.book()
        return {sid: book.for_station(sid, *placements.get(sid, (None, None)))
                for sid in station_ids}

    async def effective(self, station_id: str) -> tuple[Thresholds, dict[str, str]]:
        """The station's thresholds and which scope each value comes from."""
        site, model = await self._placement(station_id, required=True)
        book = await self.book()
        return book.for_station(station_id, site, model), book.sources(station_id, site, model)

    async def _placement(self, station_id: str, *,
                         required: bool = False) -> tuple[str | None, str | None]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.Station.site_id, t.Station.model).where(
                t.Station.id == station_id))).first()
        if row is None:
            if required:
                raise NotFoundError(f"station {station_id!r} not found")
            return None, None
        return row.site_id, row.model

    async def set(self, scope: str, scope_id: str, values: dict[str, Any], *, by: str) -> Any:
        """Replace what `scope` sets with `values` (an empty mapping clears it)."""
        scope_id = check_scope(scope, scope_id)
        try:
            th.parse(values)
        except th.ThresholdError as exc:
            raise InvalidInputError(str(exc)) from None
        stored = {k: (None if v is None else str(v)) for k, v in values.items()}
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> Any:
            await self._exists(conn, scope, scope_id)
            stmt = insert(conn, t.FaultThresholds).values(
                scope=scope, scope_id=scope_id, values=stored, updated_by=by, updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["scope", "scope_id"],
                set_={"values": stored, "updated_by": by, "updated_at": now}))
            return (await conn.execute(select(t.FaultThresholds).where(
                t.FaultThresholds.scope == scope, t.FaultThresholds.scope_id == scope_id))).one()

        row = await self._writer.submit(op, "thresholds-set")
        self._book = None
        self._changes += 1
        return row

    async def delete(self, scope: str, scope_id: str) -> None:
        scope_id = check_scope(scope, scope_id)

        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(delete(t.FaultThresholds).where(
                t.FaultThresholds.scope == scope,
                t.FaultThresholds.scope_id == scope_id))).rowcount)

        if not await self._writer.submit(op, "thresholds-delete"):
            raise NotFoundError(f"no thresholds are set for {scope} {scope_id!r}".replace(" ''", ""))
        self._book = None
        self._changes += 1

    async def list(self) -> builtins.list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(select(t.FaultThresholds).order_by(
                t.FaultThresholds.scope, t.FaultThresholds.scope_id))).all())

    @staticmethod
    async def _exists(conn: AsyncConnection, scope: str, scope_id: str) -> None:
        column = {"site": t.Site.id, "station": t.Station.id}.get(scope)
        if column is not None and await conn.scalar(
                select(column).where(column == scope_id)) is None:
            raise NotFoundError(f"{scope} {scope_id!r} does not exist")

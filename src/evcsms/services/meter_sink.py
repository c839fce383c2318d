"""Group insert for MeterValues: every frame's samples in a writer batch go in one INSERT.

The writer already commits many operations per transaction; this goes one step
further for the busiest message. Frames add their rows to a shared buffer and
await one shared job: readings outside any session are one bulk insert (the
writer's cheapest path); readings that name a transaction are one operation that
resolves the sessions the frames named, inserts, recomputes their energy and
commits. Every caller learns about the commit (or the failure) together, so an
answer still means "stored". Rows are checked before they join the buffer, so
one station's bad input cannot fail another station's frame.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from evcsms.domain.metering import Reading
from evcsms.services.meter_store import reading_rows, recompute_energy
from evcsms.storage import tables as t
from evcsms.storage.bulk import insert_reading_rows, reading_statements
from evcsms.storage.writer import BatchWriter, Statements


@dataclass
class _Loose:
    """Readings outside any session: a pure bulk insert."""

    rows: list[list[Any]] = field(default_factory=list)
    future: asyncio.Future[None] | None = None


@dataclass
class _Bound:
    """Readings that name a transaction: (station, transaction id or ref) -> rows waiting
    for that session's id."""

    by_session: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)
    future: asyncio.Future[None] | None = None


class MeterSink:
    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._loose = _Loose()
        self._bound = _Bound()

    async def add(
        self, station_id: str, evse_id: int, readings: Sequence[Reading], *,
        transaction_id: int | None = None, transaction_ref: str | None = None,
    ) -> None:
        """Store `readings`; return once committed. Bad rows raise InvalidInputError."""
        rows = reading_rows(station_id, 0, evse_id, readings)  # raises before buffering
        if transaction_id is None and transaction_ref is None:
            loose = self._loose
            if loose.future is not None and loose.future.done():  # failed before it ran
                loose = self._loose = _Loose()  # (storage unavailable): start afresh
            loose.rows.extend(rows)
            if loose.future is None:
                loose.future = self._writer.enqueue_bulk(
                    functools.partial(self._flush_loose, loose), "meter-values")
            await loose.future
            return
        bound = self._bound
        if bound.future is not None and bound.future.done():  # as above
            bound = self._bound = _Bound()
        key = (station_id, str(transaction_id) if transaction_id is not None else str(transaction_ref))
        bound.by_session.setdefault(key, []).extend(rows)
        if bound.future is None:
            bound.future = self._writer.enqueue(
                functools.partial(self._flush_bound, bound), "meter-values-in-sessions")
        await bound.future

    def _flush_loose(self, loose: _Loose, dialect: str) -> Statements:
        """The rows of `loose`. Bound to its buffer, so a retried batch writes the same rows
        (never an emptied buffer)."""
        if self._loose is loose:  # later frames start the next buffer
            self._loose = _Loose()
        return reading_statements(dialect, loose.rows)

    async def _flush_bound(self, bound: _Bound, conn: AsyncConnection) -> None:
        """Write `bound` (bound to its buffer, as above), then recompute those sessions'
        energy."""
        if self._bound is bound:
            self._bound = _Bound()
        sessions = await _resolve_sessions(conn, list(bound.by_session))
        rows: list[list[Any]] = []
        for key, key_rows in bound.by_session.items():
            session_id = sessions.get(key, 0)
            for row in key_rows:
                row[1] = session_id  # storage.bulk.COLUMNS[1] is session_id
            rows.extend(key_rows)
        await insert_reading_rows(conn, rows)
        for session_id in sorted({sid for sid in sessions.values() if sid}):
            await recompute_energy(conn, session_id)


async def _resolve_sessions(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Session ids for (station, transaction ref) pairs, in one query; unknown ones are absent.

    A 1.6 transactionId is our session id and its transaction_ref is str(id), so one lookup
    by ref serves both versions.
    """
    if not keys:
        return {}
    result = await conn.execute(
        select(t.ChargingSession.station_id, t.ChargingSession.transaction_ref,
               t.ChargingSession.id)
        .where(tuple_(t.ChargingSession.station_id, t.ChargingSession.transaction_ref).in_(keys))
    )
    return {(r.station_id, r.transaction_ref): int(r.id) for r in result}


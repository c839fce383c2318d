"""Group insert for MeterValues: every frame's samples in a writer batch go in one INSERT.

The writer already commits many operations per transaction; this goes one step
further for the busiest message. Frames add their rows to a shared buffer and
await one shared job: readings outside any session are one bulk insert (the
writer's cheapest path); readings that name a transaction are one operation that
resolves the sessions the frames named, inserts and commits. Every caller learns
about the commit (or the failure) together, so an answer still means "stored". Rows
are checked before they join the buffer, so one station's bad input cannot fail
another station's frame.

A session's energy is recomputed from all its register samples (`meter_store`), which
costs more the longer it runs. For a finished session (late readings) that happens in
the same job; a running session is only marked *stale*, and `refresh` recomputes every
stale session in one batched job every few seconds (`SessionService`), off the path of
the station's answer. Recomputing on every frame made the writer, and so every answer
on the node, wait for it: in the realistic-mix benchmark on PostgreSQL a MeterValues
answer took 1.5 s at p50. The stop of a session recomputes it at once, so what is billed
is never stale.
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
from evcsms.domain.model import SessionStatus
from evcsms.services.meter_store import reading_rows, recompute_energies
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


REFRESH_CHUNK = 25  # sessions per recompute job: short, so answers slot in between


class MeterSink:
    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._loose = _Loose()
        self._bound = _Bound()
        self._stale: set[int] = set()

    def mark_stale(self, session_id: int) -> None:
        """The session has readings its energy does not count yet (see `refresh`)."""
        self._stale.add(session_id)

    async def refresh(self) -> int:
        """Recompute the energy of every stale session; how many were recomputed. A failed
        job puts its sessions back, so the next refresh tries them again."""
        stale, self._stale = sorted(self._stale), set()
        for start in range(0, len(stale), REFRESH_CHUNK):
            chunk = stale[start:start + REFRESH_CHUNK]
            try:
                await self._writer.submit(
                    functools.partial(_recompute, chunk), "energy-refresh")
            except BaseException:
                self._stale.update(stale[start:])
                raise
        return len(stale)

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
        """Write `bound` (bound to its buffer, as above); recompute the energy of finished
        sessions now and mark running ones stale."""
        if self._bound is bound:
            self._bound = _Bound()
        sessions = await _resolve_sessions(conn, list(bound.by_session))
        rows: list[list[Any]] = []
        for key, key_rows in bound.by_session.items():
            session_id = sessions.get(key, (0, False))[0]
            for row in key_rows:
                row[1] = session_id  # storage.bulk.COLUMNS[1] is session_id
            rows.extend(key_rows)
        await insert_reading_rows(conn, rows)
        await recompute_energies(conn, {sid for sid, done in sessions.values() if done})
        self._stale.update(sid for sid, done in sessions.values() if not done)


async def _recompute(session_ids: list[int], conn: AsyncConnection) -> None:
    await recompute_energies(conn, session_ids)


async def _resolve_sessions(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, bool]]:
    """(session id, finished) for (station, transaction ref) pairs, in one query; unknown
    ones are absent.

    A 1.6 transactionId is our session id and its transaction_ref is str(id), so one lookup
    by ref serves both versions.
    """
    if not keys:
        return {}
    result = await conn.execute(
        select(t.ChargingSession.station_id, t.ChargingSession.transaction_ref,
               t.ChargingSession.id, t.ChargingSession.status)
        .where(tuple_(t.ChargingSession.station_id, t.ChargingSession.transaction_ref).in_(keys))
    )
    return {(r.station_id, r.transaction_ref):
            (int(r.id), r.status == SessionStatus.COMPLETED.value) for r in result}


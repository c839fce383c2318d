"""Group insert for MeterValues: every frame's samples in a writer batch go in one INSERT.

The writer already commits many operations per transaction; this goes one step
further for the busiest message. Frames add their rows to a shared buffer and
await one shared operation, which inserts all buffered rows in one multi-row
statement, resolves the sessions the frames named, recomputes their energy and
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

from evcsms.domain.metering import SampledValue
from evcsms.services.meter_store import reading_rows, recompute_energy
from evcsms.storage import tables as t
from evcsms.storage.bulk import insert_reading_rows
from evcsms.storage.writer import BatchWriter


@dataclass
class _Pending:
    rows: list[list[Any]] = field(default_factory=list)
    # (station, transaction id or ref) -> the rows waiting for that session's id
    by_session: dict[tuple[str, str], list[list[Any]]] = field(default_factory=dict)
    future: asyncio.Future[None] | None = None


class MeterSink:
    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._pending = _Pending()

    async def add(
        self, station_id: str, evse_id: int, samples: Sequence[SampledValue], *,
        transaction_id: int | None = None, transaction_ref: str | None = None,
    ) -> None:
        """Store `samples`; return once they are committed. Bad rows raise InvalidInputError."""
        rows = reading_rows(station_id, 0, evse_id, samples)  # raises before buffering
        pending = self._pending
        if transaction_id is not None or transaction_ref is not None:
            key = (station_id, str(transaction_id) if transaction_id is not None else str(transaction_ref))
            pending.by_session.setdefault(key, []).extend(rows)
        else:
            pending.rows.extend(rows)
        if pending.future is None:
            pending.future = self._writer.enqueue(
                functools.partial(self._flush, pending), "meter-values"
            )
        await pending.future

    async def _flush(self, pending: _Pending, conn: AsyncConnection) -> None:
        """Write `pending`. Bound to its buffer, so the writer may run it again after a
        failed batch and it writes the same rows (never an emptied buffer)."""
        if self._pending is pending:  # later frames start the next buffer
            self._pending = _Pending()
        sessions = await _resolve_sessions(conn, list(pending.by_session))
        rows = list(pending.rows)
        for key, key_rows in pending.by_session.items():
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


"""Incidents: findings an operator sees, acts on and closes.

`report(station, finding)` opens an incident for a new cause or notes that an open one
was seen again; `clear(prefix)` resolves open incidents whose cause has gone (the rule no
longer finds it). An operator acknowledges, comments and resolves. Every step is a note
on the incident's timeline. All writes go through the single writer, so "at most one
open incident per key" holds without a partial unique index.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.domain.faults import Finding
from evcsms.services.errors import ConflictError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.dialect import in_lists
from evcsms.storage.writer import BatchWriter

OPEN = ("open", "acknowledged")


class IncidentService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock

    async def report(self, station_id: str, finding: Finding) -> int:
        """Open an incident for the finding's cause, or note it on the open one; its id."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> tuple[int, bool]:
            current = await conn.scalar(select(t.Incident.id).where(
                t.Incident.key == finding.key, t.Incident.status.in_(OPEN)))
            if current is not None:
                await conn.execute(update(t.Incident).where(t.Incident.id == current).values(
                    last_seen_at=now, evidence=finding.evidence, message=finding.message))
                return int(current), False
            result = await conn.execute(t.table_of(t.Incident).insert().values(
                key=finding.key, kind=finding.kind, severity=finding.severity.value,
                station_id=station_id, status="open", message=finding.message,
                action=finding.action, evidence=finding.evidence, opened_at=now,
                last_seen_at=now).returning(t.Incident.id))
            incident_id = int(result.scalar_one())
            await _note(conn, incident_id, now, "opened", "evcsms", finding.message)
            return incident_id, True

        incident_id, new = await self._writer.submit(op, "incident-report")
        if new:
            await self._bus.publish("events.incident.opened", {
                "id": incident_id, "station_id": station_id, "kind": finding.kind,
                "severity": finding.severity.value, "message": finding.message})
        return incident_id

    async def open_keys(self, keys: list[str]) -> set[str]:
        """Which of `keys` name an open (or acknowledged) incident (a query per IN list)."""
        found: set[str] = set()
        async with self._engine.connect() as conn:
            for chunk in in_lists(keys):
                found.update((await conn.execute(select(t.Incident.key).where(
                    t.Incident.key.in_(chunk),
                    t.Incident.status.in_(OPEN)))).scalars())
        return found

    async def clear(self, key_prefix: str, reason: str, *, exact: bool = False) -> list[int]:
        """Resolve every open incident whose key starts with `key_prefix` (is it, with
        `exact`): its cause is gone.

        Most calls find nothing open (every normal status asks), so a plain read decides
        first and the writer is only used when there is something to resolve."""
        key = (t.Incident.key == key_prefix) if exact else \
            t.Incident.key.startswith(key_prefix, autoescape=True)
        matching = (key, t.Incident.status.in_(OPEN))
        async with self._engine.connect() as conn:
            if await conn.scalar(select(t.Incident.id).where(*matching).limit(1)) is None:
                return []
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> list[int]:
            ids = [int(i) for i in (await conn.execute(
                select(t.Incident.id).where(*matching))).scalars()]
            for incident_id in ids:
                await conn.execute(update(t.Incident).where(t.Incident.id == incident_id)
                                   .values(status="resolved", resolved_at=now))
                await _note(conn, incident_id, now, "resolved", "evcsms", reason)
            return ids

        ids = await self._writer.submit(op, "incident-clear")
        for incident_id in ids:
            await self._bus.publish("events.incident.resolved", {"id": incident_id,
                                                                 "reason": reason})
        return ids

    async def acknowledge(self, incident_id: int, who: str) -> Any:
        return await self._change(incident_id, who, "acknowledged", "", {"open"},
                                  status="acknowledged")

    async def resolve(self, incident_id: int, who: str, text: str = "") -> Any:
        return await self._change(incident_id, who, "resolved", text, set(OPEN),
                                  status="resolved")

    async def comment(self, incident_id: int, who: str, text: str) -> Any:
        return await self._change(incident_id, who, "comment", text, None)

    async def _change(self, incident_id: int, who: str, what: str, text: str,
                      allowed: set[str] | None, status: str | None = None) -> Any:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> Any:
            current = await conn.scalar(select(t.Incident.status).where(t.Incident.id == incident_id))
            if current is None:
                raise NotFoundError(f"incident {incident_id} not found")
            if allowed is not None and current not in allowed:
                raise ConflictError(f"incident {incident_id} is {current}; it cannot be {what}")
            if status is not None:
                values: dict[str, Any] = {"status": status}
                values["acknowledged_at" if status == "acknowledged" else "resolved_at"] = now
                await conn.execute(update(t.Incident).where(t.Incident.id == incident_id)
                                   .values(**values))
            await _note(conn, incident_id, now, what, who, text)

        await self._writer.submit(op, f"incident-{what}")
        if status == "resolved":
            await self._bus.publish("events.incident.resolved", {"id": incident_id,
                                                                 "reason": f"resolved by {who}"})
        return await self.get(incident_id)

    async def get(self, incident_id: int) -> tuple[Any, builtins.list[Any]]:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.Incident).where(t.Incident.id == incident_id))).first()
            if row is None:
                raise NotFoundError(f"incident {incident_id} not found")
            notes = (await conn.execute(select(t.IncidentNote).where(
                t.IncidentNote.incident_id == incident_id).order_by(t.IncidentNote.id))).all()
        return row, list(notes)

    async def list(self, *, status: str | None = None, kind: str | None = None,
                   station_id: str | None = None, limit: int, offset: int
                   ) -> tuple[builtins.list[Any], int]:
        where: builtins.list[ColumnElement[bool]] = []
        if status == "active":
            where.append(t.Incident.status.in_(OPEN))
        elif status is not None:
            where.append(t.Incident.status == status)
        if kind is not None:
            where.append(t.Incident.kind == kind)
        if station_id is not None:
            where.append(t.Incident.station_id == station_id)
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(t.Incident)
                                          .where(*where)) or 0)
            rows = (await conn.execute(select(t.Incident).where(*where)
                                       .order_by(t.Incident.id.desc()).limit(limit)
                                       .offset(offset))).all()
        return list(rows), total


async def _note(conn: AsyncConnection, incident_id: int, at: datetime, what: str, author: str,
                text: str) -> None:
    await conn.execute(t.table_of(t.IncidentNote).insert().values(
        incident_id=incident_id, at=at, what=what, author=author, text=text))


async def fleet_health(engine: AsyncEngine, now: datetime, *, days: int = 30) -> dict[str, Any]:
    """Counts by state, open incidents by kind and severity, the stations with the most open
    trouble, and the mean time to recovery of incidents resolved in the last `days` days."""
    async with engine.connect() as conn:
        stations = (await conn.execute(select(t.Station.connected, func.count())
                                       .group_by(t.Station.connected))).all()
        connectors = (await conn.execute(select(t.Connector.status, func.count())
                                         .where(t.Connector.evse_id > 0)
                                         .group_by(t.Connector.status))).all()
        open_rows = (await conn.execute(select(t.Incident.station_id, t.Incident.kind,
                                               t.Incident.severity)
                                        .where(t.Incident.status.in_(OPEN)))).all()
        resolved = (await conn.execute(select(t.Incident.opened_at, t.Incident.resolved_at).where(
            t.Incident.status == "resolved",
            t.Incident.resolved_at >= now - timedelta(days=days)))).all()
    by_kind: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    score: dict[str, list[int]] = {}
    weight = {"critical": 3, "warning": 2, "info": 1}
    for station, kind, severity in open_rows:
        by_kind[kind] = by_kind.get(kind, 0) + 1
        by_severity[severity] = by_severity.get(severity, 0) + 1
        entry = score.setdefault(station, [0, 0])
        entry[0] += weight.get(severity, 1)
        entry[1] += 1
    worst = sorted(score.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
    durations = [(r.resolved_at - r.opened_at).total_seconds() / 60 for r in resolved]
    online = sum(n for connected, n in stations if connected)
    return {
        "stations": {"total": sum(n for _, n in stations), "online": online,
                     "offline": sum(n for connected, n in stations if not connected)},
        "connectors": {status: n for status, n in sorted(connectors)},
        "open_incidents": {"total": len(open_rows), "by_kind": dict(sorted(by_kind.items())),
                           "by_severity": dict(sorted(by_severity.items()))},
        "worst_stations": [{"station_id": s, "open_incidents": v[1], "score": v[0]}
                           for s, v in worst],
        "mean_time_to_recovery_minutes": (round(sum(durations) / len(durations), 1)
                                          if durations else None),
        "recovered_incidents": len(durations), "window_days": days,
    }

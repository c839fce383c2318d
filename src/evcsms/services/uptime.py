"""Uptime reports: the status history and the operator's exclusions, through the NEVI
formula (`domain.uptime`), per port, per station, per site and for the fleet.

A port is a connector the station reported (evse >= 1). Its timeline is its own status
changes; the station's link (online/offline) is a second timeline, and a station-wide
status (evse 0, e.g. Faulted or Unavailable) counts for every port. The state before the
period is the last change before it.
"""

from __future__ import annotations

import builtins
import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.functions import rank

from evcsms.domain.clock import Clock
from evcsms.domain.money import show
from evcsms.domain.uptime import (
    EXCLUDED_REASONS,
    Change,
    Exclusion,
    PortState,
    Uptime,
    combined,
    port_uptime,
)
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter


@dataclass(frozen=True, slots=True)
class PortUptime:
    station_id: str
    evse_id: int
    connector_id: int
    site_id: str | None
    uptime: Uptime


class UptimeService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    async def exclude(self, station_id: str, evse_id: int | None, start: datetime,
                      end: datetime, reason: str, note: str, who: str) -> Any:
        if reason not in EXCLUDED_REASONS:
            raise InvalidInputError(f"reason: {reason!r} is not one of "
                                    f"{', '.join(sorted(EXCLUDED_REASONS))}")
        if end <= start:
            raise InvalidInputError("end: must be after start")
        now = self._clock.now()

        async def op(conn: Any) -> Any:
            if await conn.scalar(select(t.Station.id).where(t.Station.id == station_id)) is None:
                raise NotFoundError(f"station {station_id!r} does not exist")
            result = await conn.execute(t.table_of(t.OutageExclusion).insert().values(
                station_id=station_id, evse_id=evse_id, start=start, end=end, reason=reason,
                note=note, created_by=who, created_at=now).returning(t.OutageExclusion.id))
            return int(result.scalar_one())

        return await self._writer.submit(op, "outage-exclusion")

    async def ports(self, start: datetime, end: datetime, *, station_id: str | None = None,
                    site_id: str | None = None) -> builtins.list[PortUptime]:
        if end <= start:
            raise InvalidInputError("to: must be after from")
        stations = select(t.Station.id, t.Station.site_id, t.Station.created_at)
        if station_id is not None:
            stations = stations.where(t.Station.id == station_id)
        if site_id is not None:
            stations = stations.where(t.Station.site_id == site_id)
        # the other reads take the same stations (all of them: no condition)
        selected = (None if station_id is None and site_id is None
                    else stations.with_only_columns(t.Station.id))
        async with self._engine.connect() as conn:
            station_rows = (await conn.execute(stations.order_by(t.Station.id))).all()
            if station_id is not None and not station_rows:
                raise NotFoundError(f"station {station_id!r} does not exist")
            if not station_rows:
                return []
            # a fixed number of statements whatever the fleet's size; the history read is
            # bounded by the period: the changes in it, and the state it starts from
            history_rows = [*(await conn.execute(_before(start, selected))).all(),
                            *(await conn.execute(select(t.StatusChange).where(
                                *_of(t.StatusChange.station_id, selected),
                                t.StatusChange.at >= start,
                                t.StatusChange.at < end))).all()]
            exclusion_rows = (await conn.execute(select(t.OutageExclusion).where(
                *_of(t.OutageExclusion.station_id, selected), t.OutageExclusion.start < end,
                t.OutageExclusion.end > start))).all()
        histories: dict[str, list[Any]] = {}
        for h in sorted(history_rows, key=lambda h: (h.at, h.id)):
            histories.setdefault(h.station_id, []).append(h)
        exclusions_of: dict[str, list[Any]] = {}
        for e in exclusion_rows:
            exclusions_of.setdefault(e.station_id, []).append(e)
        out = []
        for st in station_rows:
            history = histories.get(st.id, [])
            exclusions = exclusions_of.get(st.id, [])
            # a port counts from when it came into service: the station's registration,
            # or its first status if that is earlier (imported history). The history
            # here starts at the last changes before the period: when there are some,
            # the first status is before the period too, and so is the port's start.
            in_service = min([st.created_at, *(h.at for h in history[:1])])
            port_start = max(start, in_service)
            if port_start >= end:
                continue  # registered after the period: not in service, not down
            out.extend(_station_ports(st.id, st.site_id, history, exclusions, port_start, end))
        return out

    async def history(self, station_id: str, *, since: datetime | None, limit: int,
                      offset: int) -> tuple[builtins.list[Any], int]:
        """The station's status changes, newest first."""
        where = [t.StatusChange.station_id == station_id]
        if since is not None:
            where.append(t.StatusChange.at >= since)
        async with self._engine.connect() as conn:
            if await conn.scalar(select(t.Station.id).where(t.Station.id == station_id)) is None:
                raise NotFoundError(f"station {station_id!r} does not exist")
            total = int(await conn.scalar(select(func.count()).select_from(t.StatusChange)
                                          .where(*where)) or 0)
            rows = (await conn.execute(select(t.StatusChange).where(*where)
                                       .order_by(t.StatusChange.at.desc(),
                                                 t.StatusChange.id.desc())
                                       .limit(limit).offset(offset))).all()
        return list(rows), total

    @staticmethod
    def total(ports: builtins.list[PortUptime]) -> Uptime:
        return combined(p.uptime for p in ports)


def _of(column: Any, selected: Select[Any] | None) -> builtins.list[Any]:
    """The condition "of the selected stations" on a station id column (none: all)."""
    return [] if selected is None else [column.in_(selected)]


def _before(start: datetime, selected: Select[Any] | None) -> Select[Any]:
    """The last status changes before `start` of the `selected` stations, one per station,
    port and source (the state each timeline starts the period in): every row at that
    last time, so that ties order exactly as they would in the whole history."""
    sc = t.StatusChange
    ranked = select(sc.id, rank().over(
        partition_by=(sc.station_id, sc.evse_id, sc.connector_id, sc.source),
        order_by=sc.at.desc()).label("rank")).where(
        *_of(sc.station_id, selected), sc.at < start).subquery()
    return select(sc).join(ranked, ranked.c.id == sc.id).where(ranked.c.rank == 1)


def _station_ports(station_id: str, site_id: str | None, history: list[Any],
                   exclusions: list[Any], port_start: datetime,
                   end: datetime) -> builtins.list[PortUptime]:
    """One station's ports: `history` its status changes in (at, id) order."""
    ports = sorted({(h.evse_id, h.connector_id) for h in history
                    if h.source == "status" and h.evse_id > 0})
    connections = [Change(h.at, PortState.OFFLINE if h.state == "offline"
                          else PortState.AVAILABLE)
                   for h in history if h.source == "connection"]
    station_wide = [h for h in history if h.source == "status" and h.evse_id == 0]
    out = []
    for evse_id, connector_id in ports or [(1, 1)]:
        own = [h for h in history if h.source == "status"
               and (h.evse_id, h.connector_id) == (evse_id, connector_id)]
        mine = [Exclusion(e.start, e.end, e.reason) for e in exclusions
                if e.evse_id in (None, evse_id)]
        result = port_uptime(port_start, end, _merged(own, station_wide), mine,
                             connectivity=connections)
        out.append(PortUptime(station_id, evse_id, connector_id, site_id, result))
    return out


def _merged(own: list[Any], station_wide: list[Any]) -> list[Change]:
    """The port's timeline, with a station-wide fault or unavailability laid over it."""
    # in time order, and at the same time in the order they were stored (the later wins)
    events = sorted([(h.at, h.id, "port", h.state) for h in own]
                    + [(h.at, h.id, "station", h.state) for h in station_wide])
    port_state, station_state = "unknown", "available"
    out = []
    for at, _, source, state in events:
        if source == "port":
            port_state = state
        else:
            station_state = state
        effective = station_state if station_state in ("faulted", "unavailable") else port_state
        out.append(Change(at, PortState(effective)))
    return out


NEVI_REQUIRED_PERCENT = Fraction(97)  # 23 CFR 680.116(b): average annual uptime > 97 %
REPORT_COLUMNS = ("row", "station_id", "evse_id", "connector_id", "site_id", "from", "to",
                  "period_minutes", "operative_minutes", "outage_minutes", "excluded_minutes",
                  "counted_outage_minutes", "uptime_percent", "meets_97_percent")


def report_csv(ports: builtins.list[PortUptime], start: datetime, end: datetime) -> str:
    """The uptime report as CSV: a "port" row per port, a "site" row per site (site_id
    empty: the stations without a site) and a "fleet" row. Minutes exact to 4 places,
    operative = period - outage, counted outage = outage - excluded, percent as `figures`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    when = [at.astimezone(UTC).isoformat().replace("+00:00", "Z") for at in (start, end)]

    def row(kind: str, who: tuple[object, ...], u: Uptime) -> None:
        f = u.figures()
        writer.writerow((kind, *who, *when, f["period_minutes"],
                         show(u.period_minutes - u.outage_minutes, 4), f["outage_minutes"],
                         f["excluded_minutes"], show(u.counted_outage_minutes, 4), f["percent"],
                         "yes" if u.percent >= NEVI_REQUIRED_PERCENT else "no"))

    for p in ports:
        row("port", (p.station_id, p.evse_id, p.connector_id, p.site_id or ""), p.uptime)
    for site in sorted({p.site_id or "" for p in ports}):
        row("site", ("", "", "", site), combined(p.uptime for p in ports
                                                  if (p.site_id or "") == site))
    row("fleet", ("", "", "", ""), combined(p.uptime for p in ports))
    return out.getvalue()

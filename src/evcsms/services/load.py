"""Site load management: the grid limit of a site shared among its charging cars.

A site under management has an electrical tree (`domain.load`: circuits with limits,
EVSEs on them with their phase wiring), a sharing policy, operator pins and a pause
switch, stored in `site_load`. The service keeps each site's stations holding charging
profiles that fit the tree:

- **Failsafe**: when a station of a managed site boots (and when the tree changes), each
  of its EVSEs gets a TxDefaultProfile at stack level 0 with `domain.load.failsafe`'s
  limit: what is safe whatever the others do. A station that loses its link, or whose live
  profile's lease ends, falls back to it.
- **Live allocation**: on a session start or stop, on an operator change, and every
  `refresh` seconds (for what the meter values say the cars draw), `allocate` computes a
  setpoint per EVSE from the active sessions, their measured draw (the last reading
  within two minutes) and the profile in force; each EVSE with a session gets a TxProfile
  (stack level 1, for that transaction, valid for `lease`) when its limit changes by at
  least `significance`, or when its lease is half gone. Idle EVSEs keep the failsafe.
  EVSEs of an offline station are pinned at the larger of their last live limit and the
  failsafe, so the others never count on power an unreachable car may still draw.
- **One computation per site at a time**, however many nodes: runs are coalesced per site
  and at most one per `min_interval`; on PostgreSQL a session-level advisory lock keyed by
  the site makes a second node skip a site another node is allocating.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain import jsontext
from evcsms.domain import load as ld
from evcsms.domain.clock import Clock
from evcsms.domain.model import CommandStatus, SessionStatus
from evcsms.services.commands import CommandService
from evcsms.services.errors import ConflictError, InvalidInputError, NotFoundError
from evcsms.services.load_inputs import (
    draw_of,
    fit_pin,
    in_unit,
    latest_readings,
    rate_units,
)
from evcsms.services.periodic import Listeners, Periodic
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)

LIVE, FAILSAFE = "allocation", "failsafe"
LIVE_STACK, FAILSAFE_STACK = 1, 0
LIVE_PROFILE_BASE, FAILSAFE_PROFILE_BASE = 10_000, 9_000  # + EVSE id: one id per purpose
DRAW_WINDOW = timedelta(minutes=2)  # a reading older than this says nothing of the draw now


def evse_key(station_id: str, evse_id: int) -> str:
    """An EVSE's id in a site's tree: "STATION/EVSE"."""
    return f"{station_id}/{evse_id}"


def split_evse(key: str) -> tuple[str, int]:
    station, sep, evse = key.rpartition("/")
    if not sep or not station or not (evse.isascii() and evse.isdigit()) or int(evse) < 1:
        raise InvalidInputError(f"EVSE id {key!r}: expected STATION/EVSE with EVSE 1 or more")
    return station, int(evse)


@dataclass(slots=True)
class Managed:
    """One managed site as stored, parsed."""

    site: ld.Site
    policy: ld.Policy
    pins: tuple[ld.Pin, ...]
    paused: bool
    version: int
    updated_by: str
    updated_at: datetime

    @property
    def stations(self) -> set[str]:
        return {split_evse(e.id)[0] for e in self.site.evses}


@dataclass(slots=True)
class Outcome:
    """One allocation run: what was computed, and what was sent."""

    site_id: str
    allocation: ld.Allocation
    draws: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None  # why nothing was computed (another node holds the site)
    sessions: dict[str, Any] = field(default_factory=dict, repr=False)  # EVSE -> session row
    online: dict[str, bool] = field(default_factory=dict, repr=False)
    held: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    computed: float = field(default_factory=time.monotonic)  # this node's monotonic clock
    units: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)  # station -> A/W
    voltage: Decimal = Decimal(230)


class LoadService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock,
                 commands: CommandService, *, min_interval: float = 1.0,
                 refresh: float = 15.0, lease: timedelta = timedelta(minutes=15),
                 significance: Decimal = Decimal("0.5")) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._commands = commands
        self._min_interval = min_interval
        self._lease = lease
        self._significance = significance
        self._listeners = Listeners(bus, "load management")
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._last_run: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._index: dict[str, str] | None = None  # station -> managed site
        self._index_at = 0.0
        self.last: dict[str, Outcome] = {}
        self._loop = Periodic("load-refresh", refresh, self.refresh_all)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._listeners.start([
            ("events.session.started", self._on_session),
            ("events.session.ended", self._on_session),
            ("events.station.boot", self._on_boot),
            ("events.station.connection", self._on_connection),
        ])
        self._loop.start()

    async def close(self) -> None:
        await self._listeners.close()
        await self._loop.close()
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._pending.clear()

    async def _on_session(self, m: dict[str, Any]) -> None:
        site = await self.site_of(m["station_id"])
        if site is not None:
            self.trigger(site)

    async def _on_connection(self, m: dict[str, Any]) -> None:
        site = await self.site_of(m["station_id"])
        if site is not None:
            self.trigger(site)

    async def _on_boot(self, m: dict[str, Any]) -> None:
        site = await self.site_of(m["station_id"])
        if site is not None and m.get("registration") == "Accepted":
            await self.install_failsafe(site, stations={m["station_id"]})
            self.trigger(site)

    # -- configuration --------------------------------------------------------------------------

    async def get(self, site_id: str) -> Managed:
        async with self._engine.connect() as conn:
            managed = await _read(conn, site_id)
        if managed is None:
            raise NotFoundError(f"site {site_id!r} is not under load management")
        return managed

    async def list(self) -> builtins.list[Managed]:
        async with self._engine.connect() as conn:
            ids = list((await conn.execute(select(t.SiteLoad.site_id)
                                           .order_by(t.SiteLoad.site_id))).scalars())
            out = []
            for site_id in ids:
                managed = await _read(conn, site_id)
                if managed is not None:
                    out.append(managed)
        return out

    async def put(self, site_id: str, tree: dict[str, Any], *, by: str,
                  policy: str | None = None) -> Managed:
        """Store the site's tree (circuits, evses, voltage_v, building_load, peak_limit);
        the policy too when given. Checked as `domain.load` checks it, plus: every EVSE is
        STATION/EVSE of a station that exists and is not in another managed site."""

        async def change(conn: AsyncConnection, current: Managed | None) -> dict[str, Any]:
            return {"tree": tree, "policy": policy or (current.policy.value if current
                                                      else ld.Policy.EQUAL.value)}

        managed = await self._update(site_id, by, change, create=True)
        await self.install_failsafe(site_id)
        self.trigger(site_id)
        return managed

    async def edit(self, site_id: str, by: str, *, circuit: dict[str, Any] | None = None,
                   drop_circuit: str | None = None, evse: dict[str, Any] | None = None,
                   drop_evse: str | None = None, limits: dict[str, Any] | None = None,
                   policy: str | None = None, pin: tuple[str, Any] | None = None,
                   paused: bool | None = None) -> Managed:
        """One change to a managed site: a circuit put or dropped, an EVSE's wiring put or
        dropped, the voltage and schedules, the policy, a pin (value None unpins), pause."""

        async def change(conn: AsyncConnection, current: Managed | None) -> dict[str, Any]:
            assert current is not None
            tree = ld.site_to_dict(current.site)
            del tree["id"], tree["time_zone"]
            out: dict[str, Any] = {}
            if circuit is not None:
                tree["circuits"] = _replace(tree["circuits"], circuit)
            if drop_circuit is not None:
                tree["circuits"] = _drop(tree["circuits"], drop_circuit, "circuit")
            if evse is not None:
                tree["evses"] = _replace(tree["evses"], evse)
            if drop_evse is not None:
                tree["evses"] = _drop(tree["evses"], drop_evse, "EVSE")
            if limits is not None:
                for name in ("voltage_v", "building_load", "peak_limit"):
                    if name in limits:
                        if limits[name] is None:
                            tree.pop(name, None)
                        else:
                            tree[name] = limits[name]
            if any(x is not None for x in (circuit, drop_circuit, evse, drop_evse, limits)):
                out["tree"] = tree
            if policy is not None:
                out["policy"] = policy
            if pin is not None:
                pins = [ld.pin_to_dict(p) for p in current.pins if p.evse != pin[0]]
                if pin[1] is not None:
                    pins.append({"evse": pin[0], "value": pin[1]})
                out["pins"] = pins
            if paused is not None:
                out["paused"] = paused
            return out

        managed = await self._update(site_id, by, change, create=False)
        if any(x is not None for x in (circuit, drop_circuit, evse, drop_evse, limits)):
            await self.install_failsafe(site_id)
        self.trigger(site_id)
        return managed

    async def remove(self, site_id: str) -> None:
        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(delete(t.SiteLoad).where(
                t.SiteLoad.site_id == site_id))).rowcount)

        if not await self._writer.submit(op, "load-remove"):
            raise NotFoundError(f"site {site_id!r} is not under load management")
        self._index = None
        self.last.pop(site_id, None)

    async def _update(self, site_id: str, by: str, change: Any, *, create: bool) -> Managed:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> Managed:
            zone = await conn.scalar(select(t.Site.time_zone).where(t.Site.id == site_id))
            if zone is None:
                raise NotFoundError(f"site {site_id!r} does not exist")
            current = await _read(conn, site_id)
            if current is None and not create:
                raise NotFoundError(f"site {site_id!r} is not under load management; "
                                    "PUT its tree first")
            values = await change(conn, current)
            tree = values.get("tree")
            if tree is None and current is not None:
                tree = ld.site_to_dict(current.site)
                del tree["id"], tree["time_zone"]
            if not isinstance(tree, dict):
                raise InvalidInputError("tree: expected an object")
            try:
                site = ld.site_from_dict({**tree, "id": site_id, "time_zone": zone})
                policy = ld.Policy(values.get("policy") or (current.policy.value if current
                                                            else "equal"))
                pin_list = values.get("pins", [ld.pin_to_dict(p) for p in current.pins]
                                      if current else [])
                pins = tuple(ld.pin_from_dict(p, site, f"pins[{n}]")
                             for n, p in enumerate(pin_list))
            except ld.LoadError as exc:
                raise InvalidInputError(str(exc)) from None
            except ValueError:
                raise InvalidInputError(
                    f"policy: one of {', '.join(p.value for p in ld.Policy)}") from None
            await _check_evses(conn, site_id, site)
            stored_tree = ld.site_to_dict(site)
            del stored_tree["id"], stored_tree["time_zone"]
            row = {"tree": jsontext.dumps(stored_tree, indent=None), "policy": policy.value,
                   "pins": jsontext.dumps([ld.pin_to_dict(p) for p in pins], indent=None),
                   "paused": bool(values.get("paused", current.paused if current else False)),
                   "version": (current.version + 1) if current else 1,
                   "updated_by": by, "updated_at": now}
            stmt = insert(conn, t.SiteLoad).values(site_id=site_id, **row)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["site_id"], set_=row))
            managed = await _read(conn, site_id)
            assert managed is not None
            return managed

        managed = await self._writer.submit(op, "load-config")
        self._index = None
        return managed

    async def site_of(self, station_id: str) -> str | None:
        """The managed site a station's EVSEs are in (read at most every 30 s)."""
        if self._index is None or time.monotonic() - self._index_at > 30:
            index: dict[str, str] = {}
            for managed in await self.list():
                for station in managed.stations:
                    index[station] = managed.site.id
            self._index, self._index_at = index, time.monotonic()
        return self._index.get(station_id)

    # -- allocation -----------------------------------------------------------------------------

    def trigger(self, site_id: str) -> None:
        """Allocate `site_id` soon: coalesced, at most once per `min_interval`."""
        task = self._pending.get(site_id)
        if task is not None and not task.done():
            return
        wait = max(0.0, self._last_run.get(site_id, 0.0) + self._min_interval - time.monotonic())
        self._pending[site_id] = asyncio.create_task(self._later(site_id, wait),
                                                     name=f"allocate-{site_id}")

    async def _later(self, site_id: str, wait: float) -> None:
        await asyncio.sleep(wait)
        self._pending.pop(site_id, None)
        try:
            await self.rebalance(site_id)
        except NotFoundError:
            pass  # the site left load management meanwhile
        except Exception:
            log.exception("allocating site %s failed", site_id)

    async def refresh_all(self) -> None:
        for managed in await self.list():
            self.trigger(managed.site.id)

    async def settled(self) -> None:
        """Wait until no allocation is pending or running (for tests and the CLI)."""
        while True:
            pending = [t for t in self._pending.values() if not t.done()]
            if not pending and not any(lock.locked() for lock in self._locks.values()):
                return
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.sleep(0.01)

    async def rebalance(self, site_id: str, *, send: bool = True) -> Outcome:
        """Compute the site's allocation now and, with `send`, bring every station's live
        profiles in line with it."""
        lock = self._locks.setdefault(site_id, asyncio.Lock())
        async with lock:
            self._last_run[site_id] = time.monotonic()
            async with self._site_lock(site_id) as held:
                if not held:
                    outcome = self.last.get(site_id)
                    if outcome is not None:
                        return outcome
                    managed = await self.get(site_id)
                    empty = ld.allocate(managed.site, (), self._clock.now(), paused=True)
                    return Outcome(site_id, empty, skipped="another node is allocating it")
                outcome = await self._compute(site_id)
                if send:
                    outcome.sent = await self._send(outcome)
                self.last[site_id] = outcome
                return outcome

    async def _compute(self, site_id: str) -> Outcome:
        now = self._clock.now()
        async with self._engine.connect() as conn:
            managed = await _read(conn, site_id)
            if managed is None:
                raise NotFoundError(f"site {site_id!r} is not under load management")
            site = managed.site
            stations = sorted(managed.stations)
            online = {r.id: bool(r.connected) for r in (await conn.execute(select(
                t.Station.id, t.Station.connected).where(t.Station.id.in_(stations)))).all()}
            sessions = (await conn.execute(select(
                t.ChargingSession.id, t.ChargingSession.station_id, t.ChargingSession.evse_id,
                t.ChargingSession.transaction_ref, t.ChargingSession.started_at).where(
                t.ChargingSession.station_id.in_(stations),
                t.ChargingSession.status == SessionStatus.ACTIVE.value))).all()
            held = {(r.station_id, r.evse_id): r for r in (await conn.execute(select(
                t.ChargingProfileRecord).where(
                t.ChargingProfileRecord.station_id.in_(stations),
                t.ChargingProfileRecord.purpose == LIVE))).all()}
            readings = await latest_readings(conn, [int(s.id) for s in sessions],
                                              now - DRAW_WINDOW)
            units = await rate_units(conn, stations)
        evses = {e.id: e for e in site.evses}
        demands, draws, session_of = [], {}, {}
        for s in sorted(sessions, key=lambda r: (r.started_at, r.id)):
            key = evse_key(s.station_id, s.evse_id)
            evse = evses.get(key)
            if evse is None or key in session_of:
                continue
            session_of[key] = s
            profile = held.get((s.station_id, s.evse_id))
            current = profile if profile is not None and profile.status == "accepted" \
                and profile.transaction_ref == s.transaction_ref else None
            draw_a, draw_kw, at = draw_of(readings.get(int(s.id)), evse)
            draws[key] = {"session_id": int(s.id), "draw_a": draw_a, "draw_kw": draw_kw,
                          "measured_at": at}
            demands.append(ld.Demand(
                key, s.started_at, draw_a=draw_a if evse.kind is ld.Kind.AC else None,
                draw_kw=draw_kw if evse.kind is ld.Kind.DC else None,
                offered=current.limit if current else None,  # A or W, as sent
                offered_since=current.answered_at if current else None))
        pins = {p.evse: p for p in managed.pins}
        unreachable = {key: s for key, s in session_of.items()
                       if not online.get(s.station_id) and key not in pins}
        # a second allocation run, so only when some station is unreachable
        fallback = {s.evse: s for s in ld.failsafe(site)} if unreachable else {}
        for key, s in unreachable.items():
            # whatever it was told last, or the failsafe, may still be drawn
            last = held.get((s.station_id, s.evse_id))
            floor = fallback[key].limit
            value = max(last.limit, floor) if last is not None else floor
            if evses[key].kind is ld.Kind.DC:
                value = value / 1000  # pins are kW on DC; profiles W
            pins[key] = ld.Pin(key, fit_pin(value, evses[key]))
        allocation = ld.allocate(site, demands, now, policy=managed.policy,
                                 pins=pins.values(), paused=managed.paused)
        return Outcome(site_id, allocation, draws, sessions=session_of, online=online,
                       held=held, units=units, voltage=site.voltage_v)

    async def _send(self, outcome: Outcome) -> builtins.list[dict[str, Any]]:
        """A TxProfile for every EVSE with a session whose limit moved or whose lease is
        half gone; in parallel across stations."""
        now = self._clock.now()
        jobs = []
        for wanted in outcome.allocation.setpoints:
            s = outcome.sessions.get(wanted.evse)
            if s is None or not outcome.online.get(s.station_id):
                continue
            setpoint = in_unit(wanted, outcome.units.get(s.station_id), outcome.voltage)
            held = outcome.held.get((s.station_id, s.evse_id))
            if held is not None and held.status == "accepted" \
                    and held.transaction_ref == s.transaction_ref \
                    and abs(held.limit - setpoint.limit) < self._significance_of(setpoint) \
                    and held.valid_to is not None and held.valid_to - now > self._lease / 2:
                continue
            jobs.append(self._send_one(s, setpoint, now))
        return list(await asyncio.gather(*jobs))

    def _significance_of(self, setpoint: ld.Setpoint) -> Decimal:
        if setpoint.unit is ld.Unit.A:
            return self._significance
        return self._significance * 230 * (setpoint.number_phases or 3)  # W

    async def _send_one(self, s: Any, setpoint: ld.Setpoint, now: datetime) -> dict[str, Any]:
        valid_to = now + self._lease
        params: dict[str, Any] = {
            "evse_id": s.evse_id, "purpose": "tx", "profile_id": LIVE_PROFILE_BASE + s.evse_id,
            "stack_level": LIVE_STACK, "unit": setpoint.unit.value, "limit": str(setpoint.limit),
            "transaction_ref": s.transaction_ref,
            "valid_to": valid_to.isoformat().replace("+00:00", "Z"),
        }
        if setpoint.number_phases is not None:
            params["number_phases"] = setpoint.number_phases
        return await self._profile(s.station_id, s.evse_id, LIVE, params, setpoint.limit,
                                   setpoint.unit, s.transaction_ref, valid_to)

    async def install_failsafe(self, site_id: str, *, stations: set[str] | None = None) -> int:
        """Send every (or `stations`') connected station of the site its failsafe default
        profile per EVSE; how many were accepted."""
        managed = await self.get(site_id)
        async with self._engine.connect() as conn:
            connected = set((await conn.execute(select(t.Station.id).where(
                t.Station.id.in_(sorted(managed.stations)), t.Station.connected.is_(True))
                )).scalars())
            units = await rate_units(conn, sorted(connected))
        jobs = []
        for wanted in ld.failsafe(managed.site):
            station, evse = split_evse(wanted.evse)
            if station not in connected or (stations is not None and station not in stations):
                continue
            setpoint = in_unit(wanted, units.get(station), managed.site.voltage_v)
            params: dict[str, Any] = {
                "evse_id": evse, "purpose": "tx_default", "stack_level": FAILSAFE_STACK,
                "profile_id": FAILSAFE_PROFILE_BASE + evse, "unit": setpoint.unit.value,
                "limit": str(setpoint.limit)}
            if setpoint.number_phases is not None:
                params["number_phases"] = setpoint.number_phases
            jobs.append(self._profile(station, evse, FAILSAFE, params, setpoint.limit,
                                      setpoint.unit, None, None))
        results = await asyncio.gather(*jobs)
        return sum(1 for r in results if r["status"] == "accepted")

    async def _profile(self, station_id: str, evse_id: int, purpose: str,
                       params: dict[str, Any], limit: Decimal, unit: ld.Unit,
                       transaction_ref: str | None, valid_to: datetime | None
                       ) -> dict[str, Any]:
        sent_at = self._clock.now()
        try:
            record = await self._commands.issue(station_id, "set_charging_profile", params,
                                                created_by="load-management")
            status, command_id = record.status, record.id
        except (InvalidInputError, NotFoundError) as exc:
            log.warning("profile for %s/%s not sent: %s", station_id, evse_id, exc)
            status, command_id = CommandStatus.FAILED.value, None
        values = {"purpose": purpose, "site_id": await self.site_of(station_id),
                  "profile_id": params["profile_id"], "stack_level": params["stack_level"],
                  "limit": limit, "unit": unit.value,
                  "number_phases": params.get("number_phases"),
                  "transaction_ref": transaction_ref, "valid_to": valid_to,
                  "status": status, "command_id": command_id, "sent_at": sent_at,
                  "answered_at": self._clock.now()}

        async def op(conn: AsyncConnection) -> None:
            stmt = insert(conn, t.ChargingProfileRecord).values(
                station_id=station_id, evse_id=evse_id, **values)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["station_id", "evse_id", "purpose"], set_=values))

        await self._writer.submit(op, "profile-record")
        return {"evse": evse_key(station_id, evse_id), "purpose": purpose,
                "limit": limit, "unit": unit.value, "status": status, "command_id": command_id}

    async def profiles(self, site_id: str) -> builtins.list[Any]:
        managed = await self.get(site_id)
        async with self._engine.connect() as conn:
            return list((await conn.execute(select(t.ChargingProfileRecord).where(
                t.ChargingProfileRecord.station_id.in_(sorted(managed.stations))).order_by(
                t.ChargingProfileRecord.station_id, t.ChargingProfileRecord.evse_id,
                t.ChargingProfileRecord.purpose))).all())

    @contextlib.asynccontextmanager
    async def _site_lock(self, site_id: str) -> AsyncIterator[bool]:
        """On PostgreSQL a session-level advisory lock per site (True when taken); the
        embedded SQLite is one node, so always True."""
        if self._engine.dialect.name != "postgresql":
            yield True
            return
        # keyed by the schema too: clusters (and tests) sharing a database in different
        # schemas must not wait for each other's sites of the same name
        key = int.from_bytes(hashlib.blake2b(f"evcsms-load:{site_id}".encode(),
                                             digest_size=4).digest(), "big", signed=True)
        lock = "SELECT pg_try_advisory_lock(hashtext(current_schema()), :k)"
        unlock = "SELECT pg_advisory_unlock(hashtext(current_schema()), :k)"
        async with self._engine.connect() as conn:
            held = bool(await conn.scalar(text(lock), {"k": key}))
            await conn.commit()
            try:
                yield held
            finally:
                if held:
                    await conn.execute(text(unlock), {"k": key})
                    await conn.commit()


# -- helpers ----------------------------------------------------------------------------------

async def _read(conn: AsyncConnection, site_id: str) -> Managed | None:
    config = (await conn.execute(select(
        t.SiteLoad.tree, t.SiteLoad.pins, t.SiteLoad.policy, t.SiteLoad.paused,
        t.SiteLoad.version, t.SiteLoad.updated_by, t.SiteLoad.updated_at, t.Site.time_zone,
    ).join(t.Site, t.Site.id == t.SiteLoad.site_id).where(t.SiteLoad.site_id == site_id))).first()
    if config is None:
        return None
    zone = config.time_zone
    tree = json.loads(config.tree, parse_float=Decimal)
    site = ld.site_from_dict({**tree, "id": site_id, "time_zone": zone})
    pins = tuple(ld.pin_from_dict(p, site, f"pins[{n}]")
                 for n, p in enumerate(json.loads(config.pins, parse_float=Decimal)))
    return Managed(site, ld.Policy(config.policy), pins, bool(config.paused),
                   int(config.version), config.updated_by, config.updated_at)


async def _check_evses(conn: AsyncConnection, site_id: str, site: ld.Site) -> None:
    stations = sorted({split_evse(e.id)[0] for e in site.evses})
    known = set((await conn.execute(select(t.Station.id).where(
        t.Station.id.in_(stations)))).scalars())
    missing = [s for s in stations if s not in known]
    if missing:
        raise NotFoundError(f"station {missing[0]!r} does not exist")
    others = (await conn.execute(select(t.SiteLoad.site_id, t.SiteLoad.tree).where(
        t.SiteLoad.site_id != site_id))).all()
    for other, tree in others:
        for evse in json.loads(tree).get("evses", []):
            if split_evse(evse["id"])[0] in stations:
                raise ConflictError(f"station {split_evse(evse['id'])[0]!r} is already under "
                                    f"load management in site {other!r}")


def _replace(items: list[dict[str, Any]], item: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("id") != item.get("id")] + [item]


def _drop(items: list[dict[str, Any]], item_id: str, what: str) -> list[dict[str, Any]]:
    kept = [i for i in items if i.get("id") != item_id]
    if len(kept) == len(items):
        raise NotFoundError(f"{what} {item_id!r} is not in this site")
    return kept

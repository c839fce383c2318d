"""Fault detection: the rules of `domain.faults` applied to what stations report.

Event-driven (bus subscriptions), so detection costs nothing on the OCPP answer path:
- a connector status -> `error_code`: opens an incident, or clears that connector's fault
  incidents when it reports a status without an error;
- a disconnect -> `flapping` (disconnects in the window, from the status history);
  a connect clears the station's offline incident;
- a boot -> `repeated_reboots` (boots in the window);
- a 2.0.1 NotifyEvent -> `monitoring_event` per event: opens, or clears what it clears;
- a session end -> `failed_session` and `silent_failure` on its connector.
A sweep every `sweep_interval` seconds finds stations that are `offline`: disconnected for
longer than `offline_grace`, or connected but silent for `probe_after` heartbeat intervals
and not answering a WebSocket ping (sent by the node holding the socket, which closes a
socket that does not answer). It runs the meter-value rules (voltage band, phase imbalance,
current above the rating, temperature, frozen register) over the readings stored since the
last sweep, and clears incidents whose cause has gone.
Thresholds are each station's own (`ThresholdService`: default, site, model, station).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.bus.base import Bus, NoRespondersError, RequestTimeoutError, station_subject
from evcsms.domain import faults
from evcsms.domain.clock import Clock
from evcsms.domain.metering import REGISTER, AnomalyKind, MeterAnomaly
from evcsms.domain.model import SessionStatus
from evcsms.services.incidents import IncidentService
from evcsms.services.meter_store import stored_samples
from evcsms.services.periodic import Coalescer, Listeners, Pacer, Periodic
from evcsms.services.thresholds import ThresholdService
from evcsms.storage import tables as t
from evcsms.storage.dialect import in_lists

log = logging.getLogger(__name__)

_SWEEP_ROWS = 200_000  # readings per sweep at most; the rest wait for the next one
# The meter-value sweep shares the node's event loop with the stations:
# - it fetches `_CHUNK_ROWS` readings at a time (SQLAlchemy builds a fetched chunk's rows
#   without yielding: 10,000 took ~60 ms);
# - it checks each EVSE once per `_CHECK_ROWS` readings (a node taking over on a busy
#   database would otherwise decode 200,000 readings, ~1 GB of sample objects, in one go;
#   checking after every fetch would run the rules 20 times as often);
# - it yields to the stations after every `_PACE_S` seconds of decoding and checking. In
#   one go, a sweep over 30 s of a 1,000-station mix held the loop 150-320 ms at a stretch.
_CHUNK_ROWS = 500
_CHECK_ROWS = 10_000  # readings decoded before the rules check each EVSE once
_PACE_S = 0.001
_WINDOWED = frozenset({"Energy.Active.Import.Register", "Power.Active.Import"})
_METER_KINDS = ("voltage_out_of_band", "phase_imbalance", "over_current", "over_temperature",
                "frozen_register")


class DiagnosticsService:
    def __init__(self, engine: AsyncEngine, bus: Bus, clock: Clock, incidents: IncidentService,
                 thresholds: ThresholdService, *, heartbeat_interval: int,
                 sweep_interval: float = 30.0, offline_grace: timedelta = timedelta(seconds=60),
                 probe_timeout: float = 10.0) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock
        self._incidents = incidents
        self._thresholds = thresholds
        self._heartbeat = heartbeat_interval
        self._grace = offline_grace
        self._probe_timeout = probe_timeout
        self._listeners = Listeners(bus, "diagnostics")
        self._last_reading = 0  # meter_readings.id already checked
        self._windows: dict[tuple[str, int], list[faults.Sample]] = {}  # register and power
        # Often enough that a silent station is pinged and found offline well within
        # `heartbeat_misses` intervals, however short the interval is set.
        sweep_interval = min(sweep_interval, max(5.0, heartbeat_interval / 4))
        self._loop = Periodic("diagnostics-sweep", sweep_interval, self.sweep)
        # connections and boots come in storms (a node restarts, a site's link comes back):
        # checked in batches, a few queries per batch (see `Coalescer`)
        self._boots = Coalescer("diagnostics-boots", self._check_boots)
        self._reconnects = Coalescer("diagnostics-reconnects", self._clear_offline)
        self._disconnects = Coalescer("diagnostics-disconnects", self._check_flapping)

    async def start(self) -> None:
        await self._listeners.start([
            ("events.station.status", self._on_status),
            ("events.station.connection", self._on_connection),
            ("events.station.boot", self._on_boot),
            ("events.station.notify_event", self._on_notify_event),
            ("events.session.ended", self._on_session_ended),
        ])
        self._loop.start()

    async def close(self) -> None:
        await self._listeners.close()
        await self._loop.close()
        for batched in (self._boots, self._reconnects, self._disconnects):
            await batched.close()

    async def settled(self) -> None:
        """Return once the connection and boot checks of every event so far are done."""
        for batched in (self._boots, self._reconnects, self._disconnects):
            await batched.idle()

    # -- event rules ------------------------------------------------------------------------

    async def _on_status(self, m: dict[str, Any]) -> None:
        subject = f"{m['station_id']}/{m['evse_id']}/{m['connector_id']}"
        finding = faults.error_code(subject, m["status"], m.get("error_code"))
        if finding is None:
            await self._incidents.clear(f"fault:{subject}:", f"{subject} reports {m['status']}")
        else:
            await self._incidents.report(m["station_id"], finding)

    async def _on_connection(self, m: dict[str, Any]) -> None:
        if m["connected"]:
            self._reconnects.add(m["station_id"])
        else:
            self._disconnects.add(m["station_id"])

    async def _on_boot(self, m: dict[str, Any]) -> None:
        self._boots.add(m["station_id"])

    async def _clear_offline(self, stations: list[str]) -> None:
        """Resolve the offline incidents of stations that are back (one query finds them)."""
        for key in await self._incidents.open_keys([f"offline:{s}" for s in stations]):
            station = key.removeprefix("offline:")
            await self._incidents.clear(key, f"{station} reconnected", exact=True)

    async def _check_flapping(self, stations: list[str]) -> None:
        await self._check_recent(stations, "flap_window", faults.flapping, lambda ids, since: (
            select(t.StatusChange.station_id, t.StatusChange.at).where(
                t.StatusChange.station_id.in_(ids), t.StatusChange.source == "connection",
                t.StatusChange.state == "offline", t.StatusChange.at >= since)))

    async def _check_boots(self, stations: list[str]) -> None:
        await self._check_recent(stations, "reboot_window", faults.repeated_reboots,
                                 lambda ids, since: (
            select(t.StationEvent.station_id, t.StationEvent.timestamp).where(
                t.StationEvent.station_id.in_(ids), t.StationEvent.kind == "boot",
                t.StationEvent.timestamp >= since)))

    async def _check_recent(
        self, stations: list[str], window: str,
        rule: Callable[[str, list[datetime], datetime, faults.Thresholds], faults.Finding | None],
        query: Callable[[list[str], datetime], Any],
    ) -> None:
        """Run `rule` for each station over the times `query` finds (station id, time rows)
        since the widest of the stations' `window`s; report what it finds."""
        now = self._clock.now()
        limits = await self._thresholds.for_stations(stations)
        since = now - max(getattr(th, window) for th in limits.values())
        times: dict[str, list[datetime]] = {s: [] for s in stations}
        async with self._engine.connect() as conn:
            for ids in in_lists(stations):
                for station, at in await conn.execute(query(ids, since)):
                    times[station].append(at)
        for station in stations:
            finding = rule(station, times[station], now, limits[station])
            if finding is not None:
                await self._incidents.report(station, finding)

    async def _on_notify_event(self, m: dict[str, Any]) -> None:
        station = m["station_id"]
        for event in m["events"]:
            key, finding = faults.monitoring_event(station, event)
            if finding is None:
                await self._incidents.clear(key, f"{station} reports it cleared")
            else:
                await self._incidents.report(station, finding)

    async def _on_session_ended(self, m: dict[str, Any]) -> None:
        now = self._clock.now()
        # one connection at a time: many sessions end at once (a site's stations reboot),
        # and a handler holding one while it waits for another would drain the pool
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.id == m["session_id"]))).first()
        if row is None:
            return
        connector = f"{row.station_id}/{row.evse_id}/{row.connector_id}"
        th = await self._thresholds.for_station(row.station_id)
        async with self._engine.connect() as conn:
            recent = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.station_id == row.station_id,
                t.ChargingSession.evse_id == row.evse_id,
                t.ChargingSession.stopped_at >= now - th.silent_window))).all()
        this = _facts(row, connector)
        await self._incidents.clear(f"stuck:{connector}:", f"session {row.id} ended")
        anomalies = faults.meter_anomalies(connector, _anomalies(row.meter_anomalies))
        for finding in anomalies:
            await self._incidents.report(row.station_id, finding)
        failed = faults.failed_session(this, th)
        if failed is not None:
            await self._incidents.report(row.station_id, failed)
        silent = faults.silent_failure(connector, [_facts(r, connector) for r in recent], now, th)
        if silent is not None:
            await self._incidents.report(row.station_id, silent)
        if this.energy_wh > 0:  # the connector works: what earlier sessions said is past
            why = f"session {row.id} on {connector} delivered energy"
            await self._incidents.clear(f"failed:{connector}:", why)
            if silent is None:
                await self._incidents.clear(f"silent:{connector}", why, exact=True)
            found = {f.kind for f in anomalies}
            for kind, prefix in (("register_backwards", "backwards:"),
            ("implausible_jump", "jump:")):
                if kind not in found:
                    await self._incidents.clear(
                        f"{prefix}{connector}", f"session {row.id}'s meter readings were "
                        "plausible", exact=True)

    # -- sweep ------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Offline stations, meter-value rules, stuck sessions, lapsed window incidents.
        Findings made."""
        now = self._clock.now()
        book = await self._thresholds.book()
        async with self._engine.connect() as conn:
            stations = (await conn.execute(select(
                t.Station.id, t.Station.connected, t.Station.last_seen_at, t.Station.updated_at,
                t.Station.site_id, t.Station.model,
            ).where(t.Station.registration == "Accepted"))).all()
            offline_open = set((await conn.execute(select(t.Incident.station_id).where(
                t.Incident.kind == "offline",
                t.Incident.status.in_(("open", "acknowledged"))))).scalars())
        limits = {s.id: book.for_station(s.id, s.site_id, s.model) for s in stations}
        made = await self.check_meter_values(now, limits)
        made += await self.check_offline(now, stations, limits, offline_open)
        made += await self.check_stuck_sessions(now, limits)
        for prefix, window in (("flapping:", "flap_window"), ("reboots:", "reboot_window")):
            await self._clear_lapsed(prefix, window, now, limits)
        return made

    async def check_offline(self, now: datetime, stations: Any,
                            limits: dict[str, faults.Thresholds],
                            offline_open: set[str]) -> int:
        """Disconnected stations past the grace; connected ones silent past `probe_after`
        intervals are pinged (all at once) and found offline if they do not answer."""
        findings: list[tuple[str, faults.Finding]] = []
        probes = []
        for s in stations:
            th = limits[s.id]
            seen = s.last_seen_at
            if not s.connected:
                if seen is None or now - max(seen, s.updated_at) < self._grace:
                    continue  # never connected, or just dropped: give it the grace
                finding = faults.offline(s.id, False, seen, now, self._heartbeat, th)
                if finding is not None:
                    findings.append((s.id, finding))
            elif faults.probe_due(True, seen, now, self._heartbeat, th):
                probes.append(s)
            elif s.id in offline_open:
                await self._incidents.clear(f"offline:{s.id}", f"{s.id} is heard from again",
                                            exact=True)
        answers = await asyncio.gather(*(self.probe(s.id) for s in probes))
        for s, answered in zip(probes, answers, strict=True):
            finding = faults.offline(s.id, answered != "gone", s.last_seen_at, now,
                                     self._heartbeat, limits[s.id],
                                     ping_answered=_PING_ANSWERED.get(answered))
            if finding is not None:
                findings.append((s.id, finding))
            elif s.id in offline_open:
                await self._incidents.clear(f"offline:{s.id}", f"{s.id} answered a ping",
                                            exact=True)
        for station, finding in findings:
            await self._incidents.report(station, finding)
        return len(findings)

    async def probe(self, station_id: str) -> str:
        """Ping `station_id` through the node holding its socket: "pong", "no_pong" (that
        node closes the socket), "unknown" (no answer in time, or a server without ping
        support) or "gone" (no node holds the socket)."""
        try:
            reply = await self._bus.request(
                station_subject(station_id, "command"),
                {"probe": True, "timeout_s": self._probe_timeout},
                timeout_s=self._probe_timeout + 5)
        except NoRespondersError:
            return "gone"
        except RequestTimeoutError:
            return "unknown"
        alive = reply.get("alive")
        return "pong" if alive is True else "no_pong" if alive is False else "unknown"

    async def check_meter_values(self, now: datetime,
                                 limits: dict[str, faults.Thresholds] | None = None) -> int:
        """Voltage band, phase imbalance and temperature over the readings stored since the
        last sweep, and a frozen register over a short rolling window of each EVSE's
        register and power samples kept in memory. Incremental, so a busy node decodes each
        reading once; it yields to the stations as it goes (see `_PACE_S`). An EVSE that
        reports and no longer shows a problem gets that problem's open incident resolved."""
        book = await self._thresholds.book()
        window_start = now - timedelta(minutes=int(book.widest("frozen_minutes")) + 5)
        limits = limits if limits is not None else {}
        pace = Pacer(_PACE_S)
        made, seen, more = 0, 0, True
        while more and seen < _SWEEP_ROWS:
            # decode up to _CHECK_ROWS readings a fetch at a time, then check each EVSE once
            fresh: dict[tuple[str, int], list[faults.Sample]] = {}
            count = 0
            while more and count < _CHECK_ROWS:
                fetched = await self._decode_chunk(now, window_start, book, limits, fresh, pace)
                count += fetched
                more = fetched == _CHUNK_ROWS
            seen += count
            made += await self._check_fresh(now, fresh, limits, pace)
        for gone in [k for k, w in self._windows.items() if not w or w[-1].at < window_start]:
            del self._windows[gone]
        return made

    async def _decode_chunk(self, now: datetime, window_start: datetime, book: Any,
                            limits: dict[str, faults.Thresholds],
                            fresh: dict[tuple[str, int], list[faults.Sample]],
                            pace: Pacer) -> int:
        """The samples a rule reads of the next `_CHUNK_ROWS` readings, added to `fresh` per
        (station, EVSE); how many readings were fetched."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(
                t.MeterReading.id, t.MeterReading.station_id, t.MeterReading.evse_id,
                t.MeterReading.timestamp, t.MeterReading.samples)
                .where(t.MeterReading.id > self._last_reading,
                       t.MeterReading.timestamp >= window_start,
                       t.MeterReading.timestamp <= now)
                .order_by(t.MeterReading.id).limit(_CHUNK_ROWS))).all()
            for station in {station for _, station, *_ in rows} - set(limits):
                site, model = (await conn.execute(select(t.Station.site_id, t.Station.model).where(
                    t.Station.id == station))).first() or (None, None)
                limits[station] = book.for_station(station, site, model)
        read_by_rules, sample = faults.read_by_rules, faults.Sample
        for _, station, evse, at, text in rows:
            wanted = [sample(at, m, phase, Decimal(value), unit)
                      for m, phase, _loc, _ctx, unit, value, _signed in orjson.loads(text)
                      if read_by_rules(m, phase)]
            if wanted:
                fresh.setdefault((station, evse), []).extend(wanted)
            await pace()
        if rows:
            self._last_reading = max(self._last_reading, int(rows[-1][0]))  # ordered by id
        return len(rows)

    async def _check_fresh(self, now: datetime,
                           fresh: dict[tuple[str, int], list[faults.Sample]],
                           limits: dict[str, faults.Thresholds], pace: Pacer) -> int:
        """The meter-value rules over each EVSE's fresh samples (and its window): findings
        reported, open incidents no longer found resolved. Findings made."""
        if not fresh:
            return 0
        async with self._engine.connect() as conn:
            open_keys = set((await conn.execute(select(t.Incident.key).where(
                t.Incident.status.in_(("open", "acknowledged")),
                t.Incident.kind.in_(_METER_KINDS)))).scalars())
        made = 0
        for (station, evse), samples in fresh.items():
            await pace()
            subject = f"{station}/{evse}"
            window = self._windows.setdefault((station, evse), [])
            window.extend(s for s in samples if s.measurand in _WINDOWED and s.phase == "")
            th = limits[station]
            cutoff = now - timedelta(minutes=th.frozen_minutes + 5)
            window[:] = [s for s in window if s.at >= cutoff]
            found = [*faults.voltage_band(subject, samples, th),
                     faults.phase_imbalance(subject, samples, th),
                     faults.over_temperature(subject, samples, th),
                     faults.frozen_register(subject, window, th)]
            if th.rated_current_a is not None:
                found.append(faults.over_current(subject, samples, th.rated_current_a, th))
            present = [f for f in found if f is not None]
            for finding in present:
                await self._incidents.report(station, finding)
                made += 1
            keys = {f.key for f in present}
            for key in open_keys - keys:
                if _about(key, subject):
                    await self._incidents.clear(key, "recent meter values are normal")
        return made

    async def check_stuck_sessions(self, now: datetime,
                                   limits: dict[str, faults.Thresholds] | None = None) -> int:
        """Sessions open for `stuck_hours` whose register has not risen for
        `stuck_idle_hours` (the last reading that rose, or the start); and the stuck
        incidents whose session is over or charging again, resolved."""
        shortest = min([faults.DEFAULTS.stuck_hours, *(th.stuck_hours for th in
                                                       (limits or {}).values())])
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.status == SessionStatus.ACTIVE.value,
                t.ChargingSession.started_at <= now - timedelta(hours=shortest)))).all()
            open_stuck = (await conn.execute(select(t.Incident.key, t.Incident.evidence).where(
                t.Incident.kind == "stuck_session",
                t.Incident.status.in_(("open", "acknowledged"))))).all()
        found: list[tuple[str, faults.Finding]] = []
        fine: list[str] = []
        for row in rows:
            th = (limits or {}).get(row.station_id) or \
                await self._thresholds.for_station(row.station_id)
            if row.started_at > now - timedelta(hours=th.stuck_hours):
                continue
            async with self._engine.connect() as conn:
                last = await _last_rise(conn, int(row.id))
            connector = f"{row.station_id}/{row.evse_id}/{row.connector_id}"
            facts = faults.SessionFacts(int(row.id), connector, row.started_at, None,
                                        Decimal(row.energy_wh), True, last)
            finding = faults.stuck_session(facts, now, th)
            if finding is not None:
                found.append((row.station_id, finding))
            else:
                fine.append(f"stuck:{connector}:{row.id}")
        active = {int(r.id) for r in rows}
        for station, finding in found:
            await self._incidents.report(station, finding)
        for key in fine:
            await self._incidents.clear(key, "energy flows again", exact=True)
        for key, evidence in open_stuck:
            # the session ended while nobody listened (a restart), or is no longer that old
            session_id = (evidence or {}).get("session_id")
            if session_id not in active:
                async with self._engine.connect() as conn:
                    status = await conn.scalar(select(t.ChargingSession.status).where(
                        t.ChargingSession.id == session_id)) if session_id else None
                if status != SessionStatus.ACTIVE.value:
                    await self._incidents.clear(key, "the session is no longer open",
                                                exact=True)
        return len(found)

    async def _clear_lapsed(self, prefix: str, window: str, now: datetime,
                            limits: dict[str, faults.Thresholds]) -> None:
        """Resolve `prefix` incidents not seen again within the station's `window`."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(
                t.Incident.key, t.Incident.station_id, t.Incident.last_seen_at).where(
                t.Incident.key.startswith(prefix),
                t.Incident.status.in_(("open", "acknowledged"))))).all()
        for key, station, last_seen in rows:
            th = limits.get(station) or await self._thresholds.for_station(station)
            if last_seen < now - getattr(th, window):
                await self._incidents.clear(key, "not seen again within its window")


_PING_ANSWERED = {"pong": True, "no_pong": False}


def _about(key: str, subject: str) -> bool:
    """Whether a meter-rule incident key is about this EVSE (`kind:STATION/EVSE[:phase]`)."""
    _kind, _, rest = key.partition(":")
    return rest == subject or rest.startswith(subject + ":")


def _anomalies(raw: Any) -> list[MeterAnomaly]:
    out = []
    for a in raw or []:
        try:
            kind = AnomalyKind(a["kind"])
        except (KeyError, ValueError):
            continue
        at = datetime.fromisoformat(a["timestamp"]) if a.get("timestamp") else None
        out.append(MeterAnomaly(kind, at, str(a.get("detail", ""))))
    return out


async def _last_rise(conn: Any, session_id: int) -> datetime | None:
    """When the session's energy register last rose (None: it never did)."""
    samples = await stored_samples(conn, session_id, measurand=REGISTER)
    last, previous = None, None
    for s in sorted(samples, key=lambda x: x.timestamp):
        if previous is not None and s.value > previous:
            last = s.timestamp
        previous = s.value
    return last


def _facts(row: Any, connector: str) -> faults.SessionFacts:
    return faults.SessionFacts(
        session_id=int(row.id), connector=connector, started_at=row.started_at,
        stopped_at=row.stopped_at, energy_wh=Decimal(row.energy_wh),
        authorized=row.auth_status in (None, "Accepted"),
    )

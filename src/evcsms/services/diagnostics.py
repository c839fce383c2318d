"""Fault detection: the rules of `domain.faults` applied to what stations report.

Event-driven (bus subscriptions), so detection costs nothing on the OCPP answer path:
- a connector status -> `error_code`: opens an incident, or clears that connector's fault
  incidents when it reports a status without an error;
- a disconnect -> `flapping` (disconnects in the window, from the status history);
  a connect clears the station's offline incident;
- a boot -> `repeated_reboots` (boots in the window);
- a session end -> `failed_session` and `silent_failure` on its connector.
A sweep every `sweep_interval` seconds finds stations that are `offline` (disconnected for
longer than `offline_grace`, or connected but silent for two heartbeat intervals), runs
the meter-value rules (voltage band, phase imbalance, temperature, frozen register) over
the last minutes of readings per EVSE, and clears incidents whose cause has gone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain import faults
from evcsms.domain.clock import Clock
from evcsms.domain.metering import REGISTER, AnomalyKind, MeterAnomaly
from evcsms.domain.model import SessionStatus
from evcsms.services.incidents import IncidentService
from evcsms.services.meter_store import stored_samples
from evcsms.services.periodic import Periodic
from evcsms.storage import tables as t

log = logging.getLogger(__name__)

_SWEEP_ROWS = 200_000  # readings per sweep at most; the rest wait for the next one
_WINDOWED = frozenset({"Energy.Active.Import.Register", "Power.Active.Import"})
_METER_KINDS = ("voltage_out_of_band", "phase_imbalance", "over_temperature", "frozen_register")


class DiagnosticsService:
    def __init__(self, engine: AsyncEngine, bus: Bus, clock: Clock, incidents: IncidentService,
                 *, heartbeat_interval: int, thresholds: faults.Thresholds = faults.DEFAULTS,
                 sweep_interval: float = 30.0, offline_grace: timedelta = timedelta(seconds=60)
                 ) -> None:
        self._engine = engine
        self._bus = bus
        self._clock = clock
        self._incidents = incidents
        self._heartbeat = heartbeat_interval
        self._t = thresholds
        self._grace = offline_grace
        self._subs: list[Any] = []
        self._last_reading = 0  # meter_readings.id already checked
        self._windows: dict[tuple[str, int], list[faults.Sample]] = {}  # register and power
        self._loop = Periodic("diagnostics-sweep", sweep_interval, self.sweep)

    async def start(self) -> None:
        for subject, handler in (("events.station.status", self._on_status),
                                 ("events.station.connection", self._on_connection),
                                 ("events.station.boot", self._on_boot),
                                 ("events.session.ended", self._on_session_ended)):
            self._subs.append(await self._bus.subscribe(subject, self._guard(handler)))
        self._loop.start()

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        await self._loop.close()

    def _guard(self, handler: Any) -> Any:
        async def run(subject: str, message: dict[str, Any]) -> None:
            try:
                await handler(message)
            except Exception:
                log.exception("diagnostics for %s failed", subject)
        return run

    # -- event rules ------------------------------------------------------------------------

    async def _on_status(self, m: dict[str, Any]) -> None:
        subject = f"{m['station_id']}/{m['evse_id']}/{m['connector_id']}"
        finding = faults.error_code(subject, m["status"], m.get("error_code"))
        if finding is None:
            await self._incidents.clear(f"fault:{subject}:", f"{subject} reports {m['status']}")
        else:
            await self._incidents.report(m["station_id"], finding)

    async def _on_connection(self, m: dict[str, Any]) -> None:
        station = m["station_id"]
        if m["connected"]:
            await self._incidents.clear(f"offline:{station}", f"{station} reconnected")
            return
        now = self._clock.now()
        async with self._engine.connect() as conn:
            drops = list((await conn.execute(select(t.StatusChange.at).where(
                t.StatusChange.station_id == station, t.StatusChange.source == "connection",
                t.StatusChange.state == "offline",
                t.StatusChange.at >= now - self._t.flap_window))).scalars())
        finding = faults.flapping(station, drops, now, self._t)
        if finding is not None:
            await self._incidents.report(station, finding)

    async def _on_boot(self, m: dict[str, Any]) -> None:
        station = m["station_id"]
        now = self._clock.now()
        async with self._engine.connect() as conn:
            boots = list((await conn.execute(select(t.StationEvent.timestamp).where(
                t.StationEvent.station_id == station, t.StationEvent.kind == "boot",
                t.StationEvent.timestamp >= now - self._t.reboot_window))).scalars())
        finding = faults.repeated_reboots(station, boots, now, self._t)
        if finding is not None:
            await self._incidents.report(station, finding)

    async def _on_session_ended(self, m: dict[str, Any]) -> None:
        now = self._clock.now()
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.id == m["session_id"]))).first()
            if row is None:
                return
            connector = f"{row.station_id}/{row.evse_id}/{row.connector_id}"
            recent = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.station_id == row.station_id,
                t.ChargingSession.evse_id == row.evse_id,
                t.ChargingSession.stopped_at >= now - self._t.silent_window))).all()
        this = _facts(row, connector)
        for finding in faults.meter_anomalies(connector, _anomalies(row.meter_anomalies)):
            await self._incidents.report(row.station_id, finding)
        failed = faults.failed_session(this, self._t)
        if failed is not None:
            await self._incidents.report(row.station_id, failed)
        silent = faults.silent_failure(connector, [_facts(r, connector) for r in recent], now,
                                       self._t)
        if silent is not None:
            await self._incidents.report(row.station_id, silent)
        elif this.energy_wh > 0:
            await self._incidents.clear(f"silent:{connector}", "a session delivered energy")

    # -- sweep ------------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Offline stations, meter-value rules, lapsed window incidents. Findings made."""
        now = self._clock.now()
        made = await self.check_meter_values(now)
        async with self._engine.connect() as conn:
            stations = (await conn.execute(select(
                t.Station.id, t.Station.connected, t.Station.last_seen_at, t.Station.updated_at
            ).where(t.Station.registration == "Accepted"))).all()
        for s in stations:
            seen = s.last_seen_at
            if not s.connected and seen is not None and now - max(seen, s.updated_at) < self._grace:
                continue  # just dropped: give it the grace to come back
            finding = faults.offline(s.id, bool(s.connected), seen, now, self._heartbeat, self._t)
            if finding is not None and seen is not None:
                await self._incidents.report(s.id, finding)
                made += 1
        made += await self.check_stuck_sessions(now)
        for prefix, window in (("flapping:", self._t.flap_window),
                               ("reboots:", self._t.reboot_window)):
            await self._clear_lapsed(prefix, now - window)
        return made

    async def check_meter_values(self, now: datetime) -> int:
        """Voltage band, phase imbalance and temperature over the readings stored since the
        last sweep, and a frozen register over a short rolling window of each EVSE's
        register and power samples kept in memory. Incremental, so a busy node decodes each
        reading once; the loop yields every few thousand readings. An EVSE that reports and
        no longer shows a problem gets that problem's open incident resolved."""
        window_start = now - timedelta(minutes=self._t.frozen_minutes + 5)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(
                t.MeterReading.id, t.MeterReading.station_id, t.MeterReading.evse_id,
                t.MeterReading.timestamp, t.MeterReading.samples)
                .where(t.MeterReading.id > self._last_reading,
                       t.MeterReading.timestamp >= window_start,
                       t.MeterReading.timestamp <= now)
                .order_by(t.MeterReading.id).limit(_SWEEP_ROWS))).all()
            open_keys = set((await conn.execute(select(t.Incident.key).where(
                t.Incident.status.in_(("open", "acknowledged")),
                t.Incident.kind.in_(_METER_KINDS)))).scalars())
        fresh: dict[tuple[str, int], list[faults.Sample]] = {}
        for n, (reading_id, station, evse, at, text) in enumerate(rows, 1):
            self._last_reading = max(self._last_reading, int(reading_id))
            for m, phase, _loc, _ctx, unit, value, _signed in orjson.loads(text):
                fresh.setdefault((station, evse), []).append(
                    faults.Sample(at, m, phase, Decimal(value), unit))
            if n % 2000 == 0:
                await asyncio.sleep(0)  # let the stations be served
        made = 0
        for (station, evse), samples in fresh.items():
            subject = f"{station}/{evse}"
            window = self._windows.setdefault((station, evse), [])
            window.extend(s for s in samples if s.measurand in _WINDOWED and s.phase == "")
            window[:] = [s for s in window if s.at >= window_start]
            found = [*faults.voltage_band(subject, samples, self._t),
                     faults.phase_imbalance(subject, samples, self._t),
                     faults.over_temperature(subject, samples, self._t),
                     faults.frozen_register(subject, window, self._t)]
            present = [f for f in found if f is not None]
            for finding in present:
                await self._incidents.report(station, finding)
                made += 1
            keys = {f.key for f in present}
            for key in open_keys - keys:
                if _about(key, subject):
                    await self._incidents.clear(key, "recent meter values are normal")
        for gone in [k for k, w in self._windows.items() if not w or w[-1].at < window_start]:
            del self._windows[gone]
        return made

    async def check_stuck_sessions(self, now: datetime) -> int:
        """Sessions open for `stuck_hours` whose register has not risen for
        `stuck_idle_hours` (the last reading that rose, or the start)."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.status == SessionStatus.ACTIVE.value,
                t.ChargingSession.started_at <= now - timedelta(hours=self._t.stuck_hours)))).all()
            made = 0
            for row in rows:
                last = await _last_rise(conn, int(row.id))
                connector = f"{row.station_id}/{row.evse_id}/{row.connector_id}"
                facts = faults.SessionFacts(int(row.id), connector, row.started_at, None,
                                            Decimal(row.energy_wh), True, last)
                finding = faults.stuck_session(facts, now, self._t)
                if finding is not None:
                    await self._incidents.report(row.station_id, finding)
                    made += 1
        return made

    async def _clear_lapsed(self, prefix: str, before: datetime) -> None:
        async with self._engine.connect() as conn:
            keys = list((await conn.execute(select(t.Incident.key).where(
                t.Incident.key.startswith(prefix), t.Incident.status.in_(("open", "acknowledged")),
                t.Incident.last_seen_at < before))).scalars())
        for key in keys:
            await self._incidents.clear(key, "not seen again within its window")


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

"""Carries out CSMS commands (remote start/stop, unlock, availability, trigger, charging
profiles, reservations) on a station.

Charging profiles (`SmartCharging`) follow OCPP's rules: per connector and purpose the
profile with the highest stackLevel that is valid now (validFrom/validTo, inside its
schedule) prevails; a TxProfile (bound to the running transaction, dropped when it ends)
overrides the TxDefaultProfile (one on the connector beats one on connector 0 at the same
stack level); the station maximum (ChargePointMax / ChargingStationMax, connector 0) caps the
sum over the connectors, shared in equal currents (what one car does not need goes to the
others). Limits in W are taken as 230 V per phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from evcsms.simulator.client import JsonObject, after_reply
from evcsms.simulator.connector import Connector, ConnectorRunner, PlugIn, same_id
from evcsms.simulator.handlers import Configuration
from evcsms.simulator.messages import (
    RFID_CARD,
    ClearCriteria,
    Clock,
    Dialect,
    Reservation,
    iso,
)
from evcsms.simulator.meter import Offer, Period, Profile, amps, in_unit, water_fill

DEFAULT_MAX_STACK_LEVEL = 8
DEFAULT_MAX_PROFILES = 32


class StationPort(Protocol):
    """The parts of a station the remote control acts on."""

    station_id: str
    ocpp_version: str
    dialect: Dialect
    now: Clock
    config: Configuration
    connectors: list[Connector]
    runners: list[ConnectorRunner]

    max_current_a: float  # what one connector can deliver per phase (its rating)

    @property
    def accepting_sessions(self) -> bool: ...
    def request_reset(self, kind: str) -> None: ...
    def accept_boot(self, interval: int) -> None: ...
    async def call_now(self, action: str, payload: JsonObject) -> JsonObject | None: ...
    async def send(self, action: str, payload: JsonObject) -> JsonObject | None: ...


@dataclass(frozen=True)
class Limit:
    """A limit from one profile period: ``value`` in ``unit``, on at most ``phases``."""

    value: float
    unit: str
    phases: int | None = None

    @classmethod
    def of(cls, profile: Profile, period: Period) -> Limit:
        return cls(period.limit, profile.unit, period.phases)


@dataclass(frozen=True)
class Installed:
    evse: int
    profile: Profile
    at: datetime  # when it was received (what a Relative station maximum counts from)


def _overlap(a: Profile, b: Profile) -> bool:
    """Whether the validity windows of two profiles meet."""
    return (a.valid_to is None or b.valid_from is None or b.valid_from < a.valid_to) and (
        b.valid_to is None or a.valid_from is None or a.valid_from < b.valid_to)


def one_decimal_down(value: float) -> float:
    """A limit as OCPP carries it: one decimal place, rounded down."""
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_DOWN))


class SmartCharging:
    """The charging profiles installed on a station and what they allow each connector."""

    def __init__(self, station: StationPort) -> None:
        self.station = station
        self.installed: dict[int, Installed] = {}  # by profile id

    # -- SetChargingProfile / ClearChargingProfile ---------------------------------------------

    def install(self, evse: int, profile: Profile) -> tuple[str, str | None]:
        """Keep ``profile`` for ``evse`` (0: the station): ("Accepted", None) or ("Rejected",
        a reason code)."""
        st = self.station
        if not 0 <= evse <= len(st.connectors):
            return "Rejected", "UnknownEVSE"
        if profile.purpose == "station_max" and evse != 0:
            return "Rejected", "NotForAnEVSE"
        if profile.purpose == "tx":
            if evse == 0:
                return "Rejected", "TxProfileOnStation"
            session = st.connectors[evse - 1].session
            if session is None or session.tx_id is None:
                return "Rejected", "NoTransaction"  # K01.FR.09; 1.6 3.13.4
            if profile.tx_id is not None and str(profile.tx_id) != str(session.tx_id):
                return "Rejected", "UnknownTransaction"  # K01.FR.33
            profile = replace(profile, tx_id=session.tx_id)
        if profile.stack_level > self._setting("ChargeProfileMaxStackLevel",
                                               DEFAULT_MAX_STACK_LEVEL):
            return "Rejected", "StackLevelTooHigh"
        same_slot = [
            i.profile.id for i in self.installed.values()
            if i.profile.id != profile.id and i.evse == evse
            and i.profile.purpose == profile.purpose
            and i.profile.stack_level == profile.stack_level
            and i.profile.tx_id == profile.tx_id
        ]
        if st.ocpp_version == "1.6":  # the same id, or the same stack level and purpose: replaced
            for pid in same_slot:
                del self.installed[pid]
        elif any(_overlap(self.installed[pid].profile, profile) for pid in same_slot):
            return "Rejected", "DuplicateStackLevel"  # K01.FR.39
        self.installed.pop(profile.id, None)
        if len(self.installed) >= self._setting("MaxChargingProfilesInstalled",
                                                DEFAULT_MAX_PROFILES):
            return "Rejected", "TooManyProfiles"
        self.installed[profile.id] = Installed(evse, profile, st.now())
        return "Accepted", None

    def _setting(self, key: str, default: int) -> int:
        value = self.station.config.get(key)
        return int(value) if value is not None and value.isdigit() else default

    def clear(self, criteria: ClearCriteria) -> str:
        """Remove the profile with the id, else those matching all given criteria (none given:
        all): "Accepted", or "Unknown" when nothing matched."""
        if criteria.profile_id is not None:
            found = self.installed.pop(criteria.profile_id, None)
            return "Accepted" if found is not None else "Unknown"
        doomed = [
            pid for pid, i in self.installed.items()
            if (criteria.evse is None or i.evse == criteria.evse)
            and (criteria.purpose is None or i.profile.purpose == criteria.purpose)
            and (criteria.stack_level is None or i.profile.stack_level == criteria.stack_level)
        ]
        for pid in doomed:
            del self.installed[pid]
        return "Accepted" if doomed else "Unknown"

    def transaction_ended(self, connector_id: int) -> None:
        """A TxProfile lives as long as its transaction."""
        for pid in [pid for pid, i in self.installed.items()
                    if i.profile.purpose == "tx" and i.evse == connector_id]:
            del self.installed[pid]

    # -- the limits in force -------------------------------------------------------------------

    def _winner(self, purpose: str, evse: int, t: datetime, relative_to: datetime,
                tx_id: int | str | None = None) -> Limit | None:
        """The limit of the highest-stack profile of ``purpose`` in force at ``t``."""
        candidates = [
            i for i in self.installed.values()
            if i.profile.purpose == purpose
            and (i.evse == evse or (purpose == "tx_default" and i.evse == 0))
            and (purpose != "tx" or i.profile.tx_id == tx_id)
        ]
        candidates.sort(key=lambda i: (-i.profile.stack_level, i.evse == 0))
        for i in candidates:
            base = i.at if purpose == "station_max" else relative_to
            period = i.profile.limit_at(t, base)
            if period is not None:
                return Limit.of(i.profile, period)
        return None

    def connector_limit(self, c: Connector, t: datetime, t0: datetime | None = None) -> Limit | None:
        """The connector's own limit at ``t``: its TxProfile, else its TxDefaultProfile.
        Relative schedules count from the transaction's start (none: from ``t0`` or ``t``)."""
        s = c.session
        relative_to = (s.started_at if s is not None and s.started_at else None) or t0 or t
        if s is not None and s.tx_id is not None:
            tx = self._winner("tx", c.connector_id, t, relative_to, s.tx_id)
            if tx is not None:
                return tx
        return self._winner("tx_default", c.connector_id, t, relative_to)

    def station_limit(self, t: datetime) -> Limit | None:
        return self._winner("station_max", 0, t, t)

    def offers(self, t: datetime) -> dict[int, Offer]:
        """What each connector with a drawing car offers it at ``t`` (empty: no profiles)."""
        if not self.installed:
            return {}
        demand: dict[int, float] = {}
        phases: dict[int, int] = {}
        allowed: dict[int, int | None] = {}
        own: dict[int, float | None] = {}
        for c in self.station.connectors:
            s = c.session
            if s is None or c.failing is not None:
                continue
            car = s.profile
            limit = self.connector_limit(c, t)
            allowed[c.connector_id] = limit.phases if limit is not None else None
            n = min(car.phases, allowed[c.connector_id] or car.phases)
            phases[c.connector_id] = n
            own[c.connector_id] = amps(limit.value, limit.unit, n) if limit is not None else None
            demand[c.connector_id] = min(own[c.connector_id] or math.inf, car.max_current_a)
        cap = self.station_limit(t)
        if cap is None:
            return {k: Offer(own[k], allowed[k]) for k in demand}
        weights = {k: 1.0 if cap.unit == "A" else in_unit(1.0, "W", phases[k]) for k in demand}
        shares = water_fill(demand, weights, cap.value)
        return {k: Offer(shares[k], allowed[k]) for k in demand}

    # -- GetCompositeSchedule ------------------------------------------------------------------

    def composite(self, evse: int, duration_s: int, unit: str, t0: datetime
                  ) -> list[tuple[int, float, int | None]] | None:
        """The schedule in force for ``evse`` (0: the station) over ``duration_s`` from
        ``t0``: (startPeriod, limit, numberPhases) per change; None for an unknown EVSE."""
        st = self.station
        if not 0 <= evse <= len(st.connectors):
            return None
        end = t0 + timedelta(seconds=duration_s)
        c = st.connectors[evse - 1] if evse else None
        s = c.session if c is not None else None
        relative_to = (s.started_at if s is not None and s.started_at else None) or t0
        points = {t0}
        for i in self.installed.values():
            base = i.at if i.profile.purpose == "station_max" else relative_to
            points.update(i.profile.changes(t0, end, base))
        periods: list[tuple[int, float, int | None]] = []
        for t in sorted(points):
            limit, phases = self._composite_at(c, t, unit, t0)
            offset = int((t - t0).total_seconds())
            if periods and periods[-1][0] == offset:
                periods[-1] = (offset, limit, phases)
            elif not periods or periods[-1][1:] != (limit, phases):
                periods.append((offset, limit, phases))
        return periods

    def _composite_at(self, c: Connector | None, t: datetime, unit: str, t0: datetime
                      ) -> tuple[float, int | None]:
        st = self.station
        cap = self.station_limit(t)
        if c is None:  # the whole station: its maximum, else every connector at its rating
            if cap is not None:
                value = in_unit(amps(cap.value, cap.unit, 3), unit, 3)
            else:
                value = in_unit(st.max_current_a * len(st.connectors), unit, 3)
            return one_decimal_down(value), None
        car_phases = c.session.profile.phases if c.session is not None else 3
        own = self.connector_limit(c, t, t0)
        n = min(car_phases, own.phases or car_phases) if own is not None else car_phases
        current = st.max_current_a
        if own is not None:
            current = min(current, amps(own.value, own.unit, n))
        if cap is not None:
            current = min(current, amps(cap.value, cap.unit, n))
        return one_decimal_down(in_unit(current, unit, n)), (own.phases if own else None)


class RemoteControl:
    """Implements ``handlers.Control`` for one station."""

    def __init__(self, station: StationPort) -> None:
        self.station = station
        self.smart = SmartCharging(station)

    @property
    def config(self) -> Configuration:
        return self.station.config

    def has_connector(self, connector_id: int) -> bool:
        return 1 <= connector_id <= len(self.station.connectors)

    def _targets(self, connector_id: int | None) -> list[Connector]:
        if connector_id is None or connector_id == 0:
            return self.station.connectors
        return (
            [self.station.connectors[connector_id - 1]] if self.has_connector(connector_id) else []
        )

    def remote_start(
        self,
        id_tag: str,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        token_type: str = RFID_CARD,
    ) -> bool:
        """Queue a remote start on the given (or first free) connector; False if none is free."""
        if not self.station.accepting_sessions or not id_tag:
            return False
        targets = self._targets(connector_id)
        mine = [c for c in targets if c.reservation is not None
                and same_id(c.reservation.id_tag, id_tag)]
        # its own reservation first, then a free connector, then one reserved for a group
        # (the Authorize answer tells whether the idTag belongs to it)
        conn = next((c for c in (*mine, *(c for c in targets if c.free), *targets)
                     if c.free_for(id_tag)), None)
        if conn is None:
            return False
        conn.pending_start = PlugIn(
            id_tag, remote=True, remote_start_id=remote_start_id, token_type=token_type
        )
        conn.wake.set()
        return True

    def remote_stop(self, tx_id: int | str) -> bool:
        for c in self.station.connectors:
            if c.session is not None and c.session.tx_id == tx_id:
                c.request_stop("Remote")
                return True
        return False

    def unlock(self, connector_id: int, *, stop_session: bool) -> str:
        """ "unlocked", "busy" (session running, not stopped) or "unknown"."""
        if not self.has_connector(connector_id):
            return "unknown"
        conn = self.station.connectors[connector_id - 1]
        if conn.session is not None:
            if not stop_session:
                return "busy"
            conn.request_stop("UnlockCommand")
        return "unlocked"

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = self._targets(connector_id)
        if not targets:
            return "Rejected"
        for c in targets:
            c.operative = operative
        busy = any(not c.idle.is_set() for c in targets)
        return "Scheduled" if busy and not operative else "Accepted"

    async def report_availability(self) -> None:
        for runner in self.station.runners:
            if not runner.conn.operative:
                await runner.drop_reservation("Removed")
            await runner.apply_availability()
            runner.conn.wake.set()

    # -- charging profiles ---------------------------------------------------------------------

    def set_charging_profile(self, payload: JsonObject) -> tuple[str, str | None]:
        try:
            evse, profile = self.station.dialect.parse_profile(payload)
        except ValueError:
            return "Rejected", "InvalidProfile"
        return self.smart.install(evse, profile)

    def clear_charging_profile(self, payload: JsonObject) -> str:
        return self.smart.clear(self.station.dialect.clear_criteria(payload))

    def composite_schedule(self, evse: int, duration_s: int, unit: str) -> JsonObject:
        t0 = self.station.now()
        periods = self.smart.composite(evse, duration_s, unit, t0)
        if periods is None:
            return {"status": "Rejected"}
        return self.station.dialect.composite(evse, iso(t0), duration_s, unit, periods)

    # -- reservations --------------------------------------------------------------------------

    def _reserved(self, reservation_id: int) -> Connector | None:
        return next((c for c in self.station.connectors if c.reservation is not None
                     and c.reservation.reservation_id == reservation_id), None)

    def _show_later(self, c: Connector) -> None:
        """After the answer: the connector's resting status (Reserved or not) is reported."""
        runner = self.station.runners[c.connector_id - 1]

        async def show() -> None:
            if c.idle.is_set() and c.pending_start is None:
                await runner.set_status(*c.resting())
            c.wake.set()  # the runner waits for the new expiry (or none)

        after_reply(show)

    def reserve(self, reservation_id: int, connector_id: int, id_tag: str,
                expires: datetime, parent: str | None = None) -> str:
        """ReserveNow: Accepted, or why not (Occupied, Faulted, Unavailable, Rejected).
        Connector 0 (2.0.1: no evseId) reserves the first free connector."""
        st = self.station
        previous = self._reserved(reservation_id)
        if previous is not None:  # the same id again: the new one replaces it
            previous.reservation = None
            self._show_later(previous)
        if not id_tag or expires <= st.now():
            return "Rejected"
        if connector_id != 0 and not self.has_connector(connector_id):
            return "Rejected"
        if not st.accepting_sessions:
            return "Unavailable"
        targets = self._targets(connector_id)
        answers = [_reservable(c) for c in targets]
        for c, answer in zip(targets, answers, strict=True):
            if answer == "Accepted":
                c.reservation = Reservation(reservation_id, c.connector_id, id_tag, expires,
                                            parent)
                self._show_later(c)
                return "Accepted"
        return next((a for a in ("Occupied", "Faulted", "Unavailable") if a in answers),
                    "Rejected")

    def cancel_reservation(self, reservation_id: int) -> str:
        c = self._reserved(reservation_id)
        if c is None:
            return "Rejected"
        c.reservation = None
        self._show_later(c)
        return "Accepted"

    def request_reset(self, kind: str) -> None:
        self.station.request_reset(kind)

    async def send_triggered(self, message: str, connector_id: int | None) -> None:
        st = self.station
        if message == "BootNotification":
            resp = await st.call_now(*st.dialect.boot("Triggered", f"SN-{st.station_id}")) or {}
            if resp.get("status") == "Accepted" and isinstance(resp.get("interval"), int):
                st.accept_boot(resp["interval"])
        elif message == "Heartbeat":
            await st.call_now(*st.dialect.heartbeat())
        else:
            for runner in st.runners:
                if connector_id is None or runner.conn.connector_id == connector_id:
                    await self._trigger_connector(runner, message)

    async def _trigger_connector(self, runner: ConnectorRunner, message: str) -> None:
        st = self.station
        c, d, ts = runner.conn, st.dialect, iso(st.now())
        if message == "StatusNotification":
            shown = d.connector_status(c.status)
            await st.call_now(*d.status(c.connector_id, shown, c.error_code, ts))
        elif c.session is not None and (message == "TransactionEvent" or st.ocpp_version == "1.6"):
            await st.call_now(*d.update(c.session, runner.reading(), ts, trigger=True))
        elif message == "MeterValues":
            await st.call_now(*d.idle_meter(c.connector_id, runner.reading(), ts))


def _reservable(c: Connector) -> str:
    """Whether ``c`` can be reserved now: Accepted, or the ReserveNow status saying why not."""
    if c.fault_code is not None or c.status == "Faulted":
        return "Faulted"
    if not c.operative or c.status == "Unavailable":
        return "Unavailable"
    if c.reservation is not None or not c.free:
        return "Occupied"
    return "Accepted"

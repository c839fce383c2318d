"""Fault detection rules: pure functions from what a station reported to findings.

Each rule takes plain values (statuses, samples, sessions, timestamps) and `Thresholds`,
and returns `Finding`s: a kind, a severity, the evidence it saw, a suggested action and a
message in plain words. A finding names its cause (`key`), so the incident layer can keep
one open incident per cause per connector and resolve it when the rule stops finding it.

Rules: `error_code` (1.6 ChargePointErrorCode / 2.0.1 Faulted, in plain words),
`offline`, `flapping`, `voltage_band`, `phase_imbalance`, `over_current`,
`over_temperature`, `frozen_register`, `failed_session`, `silent_failure`, `stuck_session`,
`repeated_reboots`, `monitoring_event` (2.0.1 NotifyEvent). Register going backwards and implausible jumps come from
`domain.metering` anomalies (`meter_anomalies`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from evcsms.domain.metering import AnomalyKind, MeterAnomaly


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    severity: Severity
    key: str  # the cause: one open incident per key
    message: str
    action: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Defaults suit a European AC/DC site; override per site or station model."""

    heartbeat_misses: int = 2  # offline after this many heartbeat intervals of silence
    probe_after: Decimal = Decimal("1.1")  # ping a connected station silent this many intervals
    flap_disconnects: int = 3  # this many disconnects ...
    flap_window: timedelta = timedelta(minutes=10)  # ... within this window is flapping
    nominal_voltage: Decimal = Decimal(230)  # V, line to neutral
    voltage_tolerance: Decimal = Decimal("0.10")  # +-10 % (EN 50160)
    imbalance_ratio: Decimal = Decimal("0.25")  # (max - min) / max of phase currents
    imbalance_min_current: Decimal = Decimal(6)  # A: below this, imbalance means nothing
    rated_current_a: Decimal | None = None  # A per phase, the EVSE's rating; None: not checked
    over_current_margin: Decimal = Decimal("0.10")  # above the rating by more than 10 %
    max_temperature: Decimal = Decimal(70)  # Celsius
    frozen_minutes: int = 10  # register unchanged this long while power flows
    frozen_power_w: Decimal = Decimal(500)  # ... and at least this power reported
    failed_session_seconds: int = 60  # a session this short with no energy failed
    silent_failures: int = 3  # this many failed sessions on one connector ...
    silent_window: timedelta = timedelta(hours=2)  # ... within this window: silent failure
    stuck_hours: int = 24  # a session open this long ...
    stuck_idle_hours: int = 2  # ... with no energy for this long is stuck
    reboots: int = 3  # this many boots ...
    reboot_window: timedelta = timedelta(hours=1)  # ... within this window


DEFAULTS = Thresholds()

# OCPP 1.6 ChargePointErrorCode in plain words, with what to do about it.
ERROR_CODES: dict[str, tuple[str, str, Severity]] = {
    "ConnectorLockFailure": ("the connector lock does not engage or release",
                             "unlock the connector remotely; if it persists, send a technician",
                             Severity.CRITICAL),
    "EVCommunicationError": ("the station cannot talk to the car (control pilot)",
                             "usually the car: if it repeats with many cars, check the cable",
                             Severity.WARNING),
    "GroundFailure": ("earth fault / residual current detected",
                      "do not reset remotely: send a technician to check the installation",
                      Severity.CRITICAL),
    "HighTemperature": ("the station is too hot", "check cooling and load; it may derate",
                        Severity.WARNING),
    "InternalError": ("internal hardware or software error", "soft reset, then hard reset",
                      Severity.CRITICAL),
    "LocalListConflict": ("the local authorization list disagrees with the CSMS",
                          "send the local list again", Severity.WARNING),
    "OtherError": ("a vendor-specific error", "read the vendor error code; try a soft reset",
                   Severity.WARNING),
    "OverCurrentFailure": ("the car drew more current than allowed",
                           "check the charging profile and the car", Severity.CRITICAL),
    "OverVoltage": ("supply voltage too high", "check the grid supply", Severity.CRITICAL),
    "PowerMeterFailure": ("the energy meter cannot be read",
                          "billing data may be missing: reset, then replace the meter",
                          Severity.CRITICAL),
    "PowerSwitchFailure": ("the contactor/relay does not switch", "send a technician",
                           Severity.CRITICAL),
    "ReaderFailure": ("the RFID reader does not work",
                      "drivers can still start by app or remote start; repair the reader",
                      Severity.WARNING),
    "ResetFailure": ("the station could not reset", "try a hard reset or power cycle",
                     Severity.CRITICAL),
    "UnderVoltage": ("supply voltage too low", "check the grid supply", Severity.CRITICAL),
    "WeakSignal": ("weak mobile signal", "check the modem and antenna", Severity.INFO),
}


def error_code(subject: str, status: str, code: str | None, vendor_code: str | None = None,
               info: str | None = None) -> Finding | None:
    """A connector (or station, subject ending in '/0') reporting an error or Faulted."""
    if (code in (None, "", "NoError")) and status != "Faulted":
        return None
    words, action, severity = ERROR_CODES.get(
        code or "", ("the station reports the connector Faulted", "soft reset; if it stays "
                     "Faulted, send a technician", Severity.CRITICAL))
    if status == "Faulted":
        severity = Severity.CRITICAL
    detail = f" (vendor code {vendor_code})" if vendor_code else ""
    return Finding(
        "connector_fault", severity, f"fault:{subject}:{code or status}",
        f"{subject}: {words}{detail}", action,
        {"status": status, "error_code": code, "vendor_error_code": vendor_code, "info": info},
    )


def offline(station: str, connected: bool, last_seen: datetime | None, now: datetime,
            heartbeat_interval: int, t: Thresholds = DEFAULTS, *,
            ping_answered: bool | None = None) -> Finding | None:
    """Disconnected; connected but silent and not answering a WebSocket ping
    (`ping_answered` False); or, with no ping result, silent for `heartbeat_misses`
    intervals. A station that answers the ping is online, whatever its silence."""
    limit = timedelta(seconds=heartbeat_interval * t.heartbeat_misses)
    silence = None if last_seen is None else now - last_seen
    evidence = {"connected": connected, "last_seen": last_seen.isoformat() if last_seen else None,
                "ping_answered": ping_answered}
    if not connected:
        reason = "not connected"
    elif ping_answered is True:
        return None
    elif ping_answered is False:
        reason = f"silent for {silence or 'ever'} and no answer to a WebSocket ping"
    elif silence is not None and silence <= limit:
        return None
    else:
        reason = f"silent for over {limit}"
    return Finding("offline", Severity.CRITICAL, f"offline:{station}",
                   f"{station} is offline ({reason})",
                   "check power and network at the site; the station reconnects by itself",
                   evidence)


def probe_due(connected: bool, last_seen: datetime | None, now: datetime,
              heartbeat_interval: int, t: Thresholds = DEFAULTS) -> bool:
    """Whether a connected station has been silent long enough (`probe_after` heartbeat
    intervals) to be pinged: early enough that a dead link is found within
    `heartbeat_misses` intervals."""
    if not connected:
        return False
    if last_seen is None:
        return True
    return now - last_seen > timedelta(seconds=heartbeat_interval) * float(t.probe_after)


def flapping(station: str, disconnects: Sequence[datetime], now: datetime,
             t: Thresholds = DEFAULTS) -> Finding | None:
    recent = sorted(d for d in disconnects if now - t.flap_window <= d <= now)
    if len(recent) < t.flap_disconnects:
        return None
    return Finding("flapping_link", Severity.WARNING, f"flapping:{station}",
                   f"{station} disconnected {len(recent)} times in {t.flap_window}",
                   "check the modem, SIM and signal; a flapping link loses messages",
                   {"disconnects": [d.isoformat() for d in recent]})


@dataclass(frozen=True, slots=True)
class Sample:
    """A measured value at one moment: measurand, phase ('' for total), value, unit."""

    at: datetime
    measurand: str
    phase: str
    value: Decimal
    unit: str | None = None


# What the meter-value rules below read: every sample of these measurands, and only the
# totals (phase '') of these. The sweep decodes nothing else (it is the costly part).
RULE_MEASURANDS = frozenset({"Voltage", "Current.Import", "Temperature"})
RULE_TOTALS = frozenset({"Energy.Active.Import.Register", "Power.Active.Import"})


def read_by_rules(measurand: str, phase: str) -> bool:
    """Whether any meter-value rule (voltage_band, phase_imbalance, over_current,
    over_temperature, frozen_register) looks at such a sample."""
    return measurand in RULE_MEASURANDS or (phase == "" and measurand in RULE_TOTALS)


def voltage_band(subject: str, samples: Iterable[Sample], t: Thresholds = DEFAULTS) -> list[Finding]:
    low = t.nominal_voltage * (1 - t.voltage_tolerance)
    high = t.nominal_voltage * (1 + t.voltage_tolerance)
    out = []
    worst: dict[str, Sample] = {}
    for s in samples:
        if s.measurand != "Voltage" or s.phase not in ("", "L1", "L2", "L3", "L1-N", "L2-N",
                                                       "L3-N"):
            continue
        if not low <= s.value <= high:
            prev = worst.get(s.phase)
            if prev is None or abs(s.value - t.nominal_voltage) > abs(prev.value - t.nominal_voltage):
                worst[s.phase] = s
    for phase, s in sorted(worst.items()):
        side = "low" if s.value < low else "high"
        out.append(Finding(
            "voltage_out_of_band", Severity.WARNING, f"voltage:{subject}:{phase or 'total'}",
            f"{subject}: voltage {side} on {phase or 'the supply'}: {s.value} V "
            f"(allowed {low:.0f}-{high:.0f} V)",
            "ask the grid operator; check the site's supply and cabling",
            {"phase": phase, "volts": str(s.value), "at": s.at.isoformat()}))
    return out


def phase_imbalance(subject: str, samples: Iterable[Sample], t: Thresholds = DEFAULTS) -> Finding | None:
    """At any moment with all three phase currents: (max - min) / max above the ratio,
    among the phases in use (at least 1 A): a single- or two-phase car on a three-phase
    EVSE leaves the other phases at 0 A, which is normal. (So a three-phase car that loses
    a phase completely looks like a two-phase car: not found here.)"""
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for s in samples:
        if s.measurand == "Current.Import" and s.phase in ("L1", "L2", "L3"):
            by_time.setdefault(s.at, {})[s.phase] = s.value
    for at, phases in sorted(by_time.items()):
        if len(phases) < 3:
            continue
        in_use = [a for a in phases.values() if a >= PHASE_IN_USE_A]
        if len(in_use) < 2:
            continue
        high, low = max(in_use), min(in_use)
        if high >= t.imbalance_min_current and (high - low) / high > t.imbalance_ratio:
            return Finding("phase_imbalance", Severity.WARNING, f"imbalance:{subject}",
                           f"{subject}: phase currents {phases['L1']}/{phases['L2']}/"
                           f"{phases['L3']} A are imbalanced",
                           "check the car's on-board charger and the station's wiring",
                           {"at": at.isoformat(), "currents": {k: str(v) for k, v in phases.items()}})
    return None


PHASE_IN_USE_A = Decimal(1)  # a phase carrying less than this is not in use


def over_current(subject: str, samples: Iterable[Sample], rating_a: Decimal,
                 t: Thresholds = DEFAULTS) -> Finding | None:
    limit = rating_a * (1 + t.over_current_margin)
    worst = max((s for s in samples if s.measurand == "Current.Import" and s.value > limit),
                key=lambda s: s.value, default=None)
    if worst is None:
        return None
    return Finding("over_current", Severity.CRITICAL, f"overcurrent:{subject}",
                   f"{subject}: {worst.value} A on {worst.phase or 'the outlet'}, above the "
                   f"{rating_a} A rating", "check the charging profile; inspect the EVSE",
                   {"amps": str(worst.value), "rating": str(rating_a), "at": worst.at.isoformat()})


def over_temperature(subject: str, samples: Iterable[Sample], t: Thresholds = DEFAULTS) -> Finding | None:
    hot = [s for s in samples if s.measurand == "Temperature" and _celsius(s) > t.max_temperature]
    if not hot:
        return None
    worst = max(hot, key=_celsius)
    return Finding("over_temperature", Severity.WARNING, f"temperature:{subject}",
                   f"{subject}: {_celsius(worst):.1f} °C, above {t.max_temperature} °C",
                   "check ventilation, sun exposure and the load; the station may derate",
                   {"celsius": str(_celsius(worst)), "at": worst.at.isoformat()})


def _celsius(s: Sample) -> Decimal:
    unit = (s.unit or "Celsius").lower()
    if unit == "fahrenheit":
        return (s.value - 32) * 5 / 9
    if unit == "k":
        return s.value - Decimal("273.15")
    return s.value


def frozen_register(subject: str, samples: Iterable[Sample], t: Thresholds = DEFAULTS) -> Finding | None:
    """The energy register stays the same for `frozen_minutes` while power is reported."""
    register = sorted((s for s in samples if s.measurand == "Energy.Active.Import.Register"
                       and s.phase == ""), key=lambda s: s.at)
    power = [s for s in samples if s.measurand == "Power.Active.Import" and s.phase == ""]
    run_start: Sample | None = None
    for prev, cur in zip(register, register[1:], strict=False):
        if cur.value != prev.value:
            run_start = None
            continue
        run_start = run_start or prev
        span = cur.at - run_start.at
        flowing = [p for p in power if run_start.at <= p.at <= cur.at
                   and _watts(p) >= t.frozen_power_w]
        if span >= timedelta(minutes=t.frozen_minutes) and len(flowing) >= 2:
            return Finding("frozen_register", Severity.CRITICAL, f"frozen:{subject}",
                           f"{subject}: energy register stuck at {cur.value} for {span} "
                           f"while {_watts(flowing[-1]):.0f} W flows",
                           "the meter is not counting: billing is wrong; replace the meter",
                           {"since": run_start.at.isoformat(), "register": str(cur.value)})
    return None


def _watts(s: Sample) -> Decimal:
    return s.value * 1000 if (s.unit or "W").lower() == "kw" else s.value


def meter_anomalies(subject: str, anomalies: Iterable[MeterAnomaly]) -> list[Finding]:
    """Register backwards and implausible jumps from the energy computation, as findings."""
    out = []
    for a in anomalies:
        if a.kind is AnomalyKind.REGISTER_BACKWARDS:
            out.append(Finding("register_backwards", Severity.WARNING, f"backwards:{subject}",
                               f"{subject}: {a.detail}", "check whether the meter was replaced "
                               "or is faulty", {"at": a.timestamp.isoformat() if a.timestamp else None}))
        elif a.kind is AnomalyKind.IMPLAUSIBLE_JUMP:
            out.append(Finding("implausible_jump", Severity.WARNING, f"jump:{subject}",
                               f"{subject}: {a.detail}", "check the meter and its configured "
                               "unit", {"at": a.timestamp.isoformat() if a.timestamp else None}))
    return out


@dataclass(frozen=True, slots=True)
class SessionFacts:
    session_id: int
    connector: str  # "STATION/evse/connector"
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: Decimal
    authorized: bool
    last_energy_at: datetime | None = None  # when the register last rose


def failed_session(s: SessionFacts, t: Thresholds = DEFAULTS) -> Finding | None:
    """An authorised session that ended without delivering any energy."""
    if s.stopped_at is None or not s.authorized or s.energy_wh > 0:
        return None
    seconds = int((s.stopped_at - s.started_at).total_seconds())
    return Finding("failed_session", Severity.WARNING, f"failed:{s.connector}:{s.session_id}",
                   f"{s.connector}: session {s.session_id} was authorised but delivered no "
                   f"energy ({seconds} s)", "ask the driver; check the connector and cable",
                   {"session_id": s.session_id, "seconds": seconds})


def silent_failure(connector: str, sessions: Sequence[SessionFacts], now: datetime,
                   t: Thresholds = DEFAULTS) -> Finding | None:
    """Repeated short, empty sessions on one connector: it says Available but nobody can
    charge. Only failures after the connector's last session that delivered energy count:
    once a car charges there again, the connector works."""
    last_ok = max((s.stopped_at for s in sessions if s.connector == connector
                   and s.stopped_at is not None and s.energy_wh > 0), default=None)
    failed = [s for s in sessions if s.connector == connector and s.stopped_at is not None
              and (last_ok is None or s.stopped_at > last_ok)
              and s.authorized and s.energy_wh == 0 and now - t.silent_window <= s.stopped_at <= now
              and (s.stopped_at - s.started_at).total_seconds() <= t.failed_session_seconds]
    if len(failed) < t.silent_failures:
        return None
    return Finding("silent_failure", Severity.CRITICAL, f"silent:{connector}",
                   f"{connector}: {len(failed)} sessions in {t.silent_window} ended within "
                   f"{t.failed_session_seconds} s without energy: drivers cannot charge here",
                   "set the connector Inoperative and send a technician",
                   {"sessions": [s.session_id for s in failed]})


def stuck_session(s: SessionFacts, now: datetime, t: Thresholds = DEFAULTS) -> Finding | None:
    """Open far longer than plausible, with no energy flowing for a long time."""
    if s.stopped_at is not None or now - s.started_at < timedelta(hours=t.stuck_hours):
        return None
    idle_since = s.last_energy_at or s.started_at
    if now - idle_since < timedelta(hours=t.stuck_idle_hours):
        return None
    return Finding("stuck_session", Severity.WARNING, f"stuck:{s.connector}:{s.session_id}",
                   f"{s.connector}: session {s.session_id} is open since "
                   f"{s.started_at.isoformat()} with no energy since {idle_since.isoformat()}",
                   "trigger a status report; stop the transaction remotely if the car is gone",
                   {"session_id": s.session_id, "idle_since": idle_since.isoformat()})


def repeated_reboots(station: str, boots: Sequence[datetime], now: datetime,
                     t: Thresholds = DEFAULTS) -> Finding | None:
    recent = sorted(b for b in boots if now - t.reboot_window <= b <= now)
    if len(recent) < t.reboots:
        return None
    return Finding("repeated_reboots", Severity.CRITICAL, f"reboots:{station}",
                   f"{station} booted {len(recent)} times in {t.reboot_window}",
                   "read the station's logs (log upload); update or roll back the firmware",
                   {"boots": [b.isoformat() for b in recent]})


# 2.0.1 variables whose value "true" means the component has a problem (OCPP 2.0.1 part 2,
# appendix 3, standardized variables), with what it means in plain words.
PROBLEM_VARIABLES: dict[str, str] = {
    "Problem": "reports a problem",
    "Tripped": "has tripped (breaker or RCD)",
    "Overload": "is overloaded",
    "Fallback": "runs in fallback mode",
    "Impaired": "is impaired",
    "Fault": "reports a fault",
}
_TRUE = {"true", "1", "on", "yes"}


def _event_subject(station: str, event: dict[str, Any]) -> str:
    evse = (event.get("component") or {}).get("evse") or {}
    if "id" not in evse:
        return f"{station}/0"
    return f"{station}/{evse['id']}/{evse.get('connectorId', 0)}"


def _event_names(event: dict[str, Any]) -> tuple[str, str]:
    component, variable = event.get("component") or {}, event.get("variable") or {}
    names = []
    for part in (component, variable):
        name = str(part.get("name", "?"))
        names.append(f"{name}[{part['instance']}]" if part.get("instance") else name)
    return names[0], names[1]


def monitoring_event(station: str, event: dict[str, Any]) -> tuple[str, Finding | None]:
    """One 2.0.1 NotifyEvent eventData element: the incident key it is about, and a finding
    when it reports a fault (None: it reports the fault cleared, or nothing wrong).

    Faults: a monitor that alerts (trigger Alerting, not `cleared`); a problem variable
    (`PROBLEM_VARIABLES`) turning true; a component's AvailabilityState turning Faulted.
    A Delta or Alerting event with `cleared` true, or the same variable turning false /
    another state, clears it. Periodic reports are never faults."""
    subject = _event_subject(station, event)
    component, variable = _event_names(event)
    key = f"event:{subject}:{component}.{variable}"
    trigger = event.get("trigger")
    value = str(event.get("actualValue", ""))
    base = str((event.get("variable") or {}).get("name", ""))
    if trigger == "Periodic" or event.get("cleared") is True:
        return key, None
    if base in PROBLEM_VARIABLES:
        if value.strip().lower() not in _TRUE:
            return key, None
        words, severity = f"{component} {PROBLEM_VARIABLES[base]}", Severity.CRITICAL
    elif base == "AvailabilityState":
        if value != "Faulted":
            return key, None
        words, severity = f"{component} is Faulted", Severity.CRITICAL
    elif trigger == "Alerting":
        words, severity = f"{component}.{variable} is {value or '?'} (a monitor alerted)", \
            Severity.WARNING
    else:
        return key, None
    detail = "".join(f", {label} {event[field]}" for label, field in
                     (("tech code", "techCode"), ("info", "techInfo")) if event.get(field))
    return key, Finding(
        "station_event", severity, key, f"{subject}: {words}{detail}",
        "read the station's logs (log upload); reset it if the fault stays",
        {k: event[k] for k in ("eventId", "timestamp", "trigger", "actualValue", "techCode",
                               "techInfo", "eventNotificationType", "component", "variable")
         if k in event})

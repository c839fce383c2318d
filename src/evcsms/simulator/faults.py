"""Fault injection for the virtual station: what each fault class does to the messages a
station sends, which incident evcsms should raise for it, and how it clears.

Use it through the station::

    inj = station.inject(Fault.VOLTAGE_LOW, connector=1)       # returns at once
    await inj.wait_for("sample")                                 # first faulty MeterValues sent
    station.clear_fault(Fault.VOLTAGE_LOW, connector=1)

`FAULTS` describes every class (`FaultSpec`): its scope (one connector or the whole
station), its parameters with their defaults, the incident kind evcsms raises and when
evcsms detects it with its default configuration. `MeterEffects` turns the active meter
faults of a connector into altered meter samples. `parse_planned` reads the simulator
CLI's ``--inject`` syntax.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from evcsms.simulator.messages import Clock, Dialect, iso
from evcsms.simulator.meter import PHASES, MeterSample
from evcsms.simulator.stats import FleetStats

if TYPE_CHECKING:
    from evcsms.simulator.connector import Connector, ConnectorRunner

__all__ = [
    "FAULTS",
    "Fault",
    "FaultDriver",
    "FaultSpec",
    "Injection",
    "MeterEffects",
    "ParamValue",
    "PlannedFault",
    "parse_planned",
]

log = logging.getLogger(__name__)

ParamValue = float | int | str


class Fault(StrEnum):
    """The fault classes a virtual station can inject (values are the CLI names)."""

    CONNECTOR_FAULT = "connector_fault"
    OFFLINE = "offline"
    HUNG = "hung"
    FLAPPING = "flapping"
    BOOT_LOOP = "boot_loop"
    VOLTAGE_LOW = "voltage_low"
    VOLTAGE_HIGH = "voltage_high"
    PHASE_IMBALANCE = "phase_imbalance"
    OVER_CURRENT = "over_current"
    OVER_TEMPERATURE = "over_temperature"
    FROZEN_REGISTER = "frozen_register"
    REGISTER_BACKWARDS = "register_backwards"
    IMPLAUSIBLE_JUMP = "implausible_jump"
    FAILED_SESSION = "failed_session"
    SILENT_FAILURE = "silent_failure"
    STUCK_SESSION = "stuck_session"


Scope = Literal["connector", "station"]
Group = Literal["status", "link", "meter", "register", "session"]


@dataclass(frozen=True)
class FaultSpec:
    """One fault class: what the station does, what evcsms should make of it."""

    fault: Fault
    scope: Scope
    group: Group
    incident: str  # the incident kind evcsms opens for it
    effect: str  # what the station does, in plain words
    clears: str  # what clearing does
    detection: str  # when evcsms notices, with its default configuration
    symptom: str  # the Injection event that marks the fault as sent (see Injection.events)
    defaults: Mapping[str, ParamValue] = field(default_factory=dict)

    def needs_session(self, ocpp_version: str) -> bool:
        """Meter and register faults only show while current flows: a session is started."""
        if self.fault is Fault.OVER_TEMPERATURE and ocpp_version != "1.6":
            return False  # a monitor event, not a meter value
        return self.group in ("meter", "register") or self.fault is Fault.STUCK_SESSION

    def incident_for(self, ocpp_version: str) -> str:
        """The incident kind evcsms opens for this fault from a station of that version."""
        if self.fault is Fault.OVER_TEMPERATURE and ocpp_version != "1.6":
            return "station_event"  # NotifyEvent: a temperature monitor alerting
        return self.incident

    def symptom_for(self, ocpp_version: str) -> str:
        if self.fault is Fault.OVER_TEMPERATURE and ocpp_version != "1.6":
            return "event"
        return self.symptom


def _spec(
    fault: Fault,
    scope: Scope,
    group: Group,
    incident: str,
    effect: str,
    clears: str,
    detection: str,
    symptom: str,
    **defaults: ParamValue,
) -> FaultSpec:
    return FaultSpec(fault, scope, group, incident, effect, clears, detection, symptom, defaults)


FAULTS: dict[Fault, FaultSpec] = {
    s.fault: s
    for s in (
        _spec(
            Fault.CONNECTOR_FAULT,
            "connector",
            "status",
            "connector_fault",
            "ends a running session (reason Other) and reports the connector Faulted: 1.6 with "
            "errorCode `code`, 2.0.1 with a NotifyEvent (Connector.Problem, techCode `code`); "
            "connector 0 is the whole station (1.6 connectorId 0; 2.0.1 every EVSE)",
            "reports Available (NoError; 2.0.1 NotifyEvent cleared)",
            "on the StatusNotification",
            "status",
            code="GroundFailure",
        ),
        _spec(
            Fault.OFFLINE,
            "station",
            "link",
            "offline",
            "closes its WebSocket and stays away",
            "reconnects (no BootNotification: it did not reboot) and reports its connectors",
            "60 s grace + the next sweep (<= 30 s)",
            "drop",
        ),
        _spec(
            Fault.HUNG,
            "station",
            "link",
            "offline",
            "hangs with its WebSocket open: sends nothing (no heartbeats; other messages wait) "
            "and reads nothing, so WebSocket pings go unanswered",
            "reads again: talks on (a Heartbeat at once), or reconnects if the CSMS has "
            "dropped the socket meanwhile",
            "silent for 1.1 heartbeat intervals, then the next sweep pings it (10 s for "
            "the pong) and finds it offline",
            "hung",
        ),
        _spec(
            Fault.FLAPPING,
            "station",
            "link",
            "flapping_link",
            "drops its WebSocket `count` times, `down` s away and `up` s back each time",
            "stops dropping (the incident resolves once its 10 min window has passed)",
            "on the 3rd disconnect within 10 min",
            "drop",
            count=3,
            down=0.5,
            up=1.0,
        ),
        _spec(
            Fault.BOOT_LOOP,
            "station",
            "link",
            "repeated_reboots",
            "reboots `count` times (sessions end with reason Reboot, BootNotification reason "
            "Watchdog), `interval` s apart",
            "stops rebooting (the incident resolves once its 1 h window has passed)",
            "on the 3rd BootNotification within 1 h (the boot before the loop counts)",
            "boot",
            count=3,
            interval=0.5,
        ),
        _spec(
            Fault.VOLTAGE_LOW,
            "connector",
            "meter",
            "voltage_out_of_band",
            "reports `volts` V on L1-L3",
            "reports ~230 V again",
            "next sweep (<= 30 s) after the sample",
            "sample",
            volts=195.0,
        ),
        _spec(
            Fault.VOLTAGE_HIGH,
            "connector",
            "meter",
            "voltage_out_of_band",
            "reports `volts` V on L1-L3",
            "reports ~230 V again",
            "next sweep (<= 30 s) after the sample",
            "sample",
            volts=262.0,
        ),
        _spec(
            Fault.PHASE_IMBALANCE,
            "connector",
            "meter",
            "phase_imbalance",
            "charges on three phases with L3 at `ratio` of L1/L2",
            "balanced currents again",
            "next sweep (<= 30 s) after the sample",
            "sample",
            ratio=0.2,
        ),
        _spec(
            Fault.OVER_CURRENT,
            "connector",
            "meter",
            "over_current",
            "reports `amps` A on every phase in use (a rating is needed on the CSMS side)",
            "currents follow the power again",
            "next sweep (<= 30 s) after the sample",
            "sample",
            amps=40.0,
        ),
        _spec(
            Fault.OVER_TEMPERATURE,
            "connector",
            "meter",
            "over_temperature",
            "1.6: adds a Temperature meter value (location Body) of `celsius` degrees; 2.0.1 "
            "(no Temperature measurand): a NotifyEvent from a temperature monitor (Alerting, "
            "Connector.Temperature = `celsius`), which evcsms opens as a station_event",
            "1.6: no Temperature sample any more; 2.0.1: the alert is reported cleared",
            "next sweep (<= 30 s) after the sample",
            "sample",
            celsius=85.0,
        ),
        _spec(
            Fault.FROZEN_REGISTER,
            "connector",
            "meter",
            "frozen_register",
            "the energy register stops counting while power is still reported",
            "the register counts again (the incident resolves once the frozen run has left the "
            "sweep's 15 min window)",
            "10 min after the register froze + the next sweep (<= 30 s)",
            "sample",
        ),
        _spec(
            Fault.REGISTER_BACKWARDS,
            "connector",
            "register",
            "register_backwards",
            "the register steps back by `wh` Wh on the next sample; the session ends after "
            "`samples` more samples",
            "nothing to undo (one-shot)",
            "when the session ends",
            "session_end",
            wh=500.0,
            samples=1,
        ),
        _spec(
            Fault.IMPLAUSIBLE_JUMP,
            "connector",
            "register",
            "implausible_jump",
            "the register jumps by `wh` Wh on the next sample (far above any charger's power); "
            "the session ends after `samples` more samples",
            "nothing to undo (one-shot)",
            "when the session ends",
            "session_end",
            wh=5_000_000.0,
            samples=1,
        ),
        _spec(
            Fault.FAILED_SESSION,
            "connector",
            "session",
            "failed_session",
            "starts `count` sessions that are authorised and started but draw no energy "
            "(SuspendedEV) and stop after `seconds` s; later sessions on it fail too",
            "sessions deliver energy again",
            "when the session ends",
            "session_end",
            count=1,
            seconds=5.0,
        ),
        _spec(
            Fault.SILENT_FAILURE,
            "connector",
            "session",
            "silent_failure",
            "like failed_session, `count` short empty sessions in a row",
            "sessions deliver energy again (the incident resolves when one does)",
            "when the 3rd short empty session within 2 h ends",
            "session_end",
            count=3,
            seconds=5.0,
        ),
        _spec(
            Fault.STUCK_SESSION,
            "connector",
            "session",
            "stuck_session",
            "a session (started if none runs) stays open drawing no energy, meter values at 0 W",
            "the session ends (reason EVDisconnected)",
            "24 h after the session started with 2 h without energy + the next sweep",
            "start",
        ),
    )
}


@dataclass(eq=False)
class Injection:
    """One injected fault on one station (connector 0 for station-wide faults).

    ``events`` are (what, monotonic time) as the station sends the fault's symptoms:
    "status" (Faulted reported), "drop" (WebSocket closed), "hung", "boot" (a reboot's
    BootNotification accepted), "sample" (a MeterValues with the fault), "start" / "session_end"
    (a faulty session started / ended), "event" (a 2.0.1 NotifyEvent alert), "cleared"
    (the clearing message was sent).
    """

    fault: Fault
    station_id: str
    connector: int
    params: dict[str, ParamValue]
    injected_at: float = field(default_factory=time.monotonic)
    cleared_at: float | None = None
    events: list[tuple[str, float]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def spec(self) -> FaultSpec:
        return FAULTS[self.fault]

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def number(self, name: str) -> float:
        return float(self.params[name])

    def count(self, name: str) -> int:
        return int(self.params[name])

    def text(self, name: str) -> str:
        return str(self.params[name])

    def mark(self, what: str) -> None:
        """Record that a symptom (or the clearing) was sent."""
        if len(self.events) < 1000:  # a long-lived meter fault marks every sample
            self.events.append((what, time.monotonic()))
        self._changed.set()

    def times(self, what: str) -> list[float]:
        return [at for name, at in self.events if name == what]

    async def wait_for(self, what: str, count: int = 1) -> float:
        """Wait until ``what`` happened ``count`` times; the monotonic time of that one.
        (Bound it with ``asyncio.timeout``.)"""
        while len(self.times(what)) < count:
            self._changed.clear()
            await self._changed.wait()
        return self.times(what)[count - 1]


def make_params(fault: Fault, given: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """The fault's defaults overridden by ``given`` (strings coerced to the default's type)."""
    defaults = FAULTS[fault].defaults
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise ValueError(f"{fault.value}: unknown parameter {', '.join(unknown)} (known: {known})")
    params = dict(defaults)
    for name, value in given.items():
        kind = type(defaults[name])
        try:
            params[name] = kind(value)
        except ValueError:
            raise ValueError(f"{fault.value}: {name}={value!r} is not a {kind.__name__}") from None
    for name in ("count", "samples"):
        if name in params and int(params[name]) < 1:
            raise ValueError(f"{fault.value}: {name} must be at least 1")
    return params


# -- meter effects ------------------------------------------------------------------------------


@dataclass
class MeterEffects:
    """What the active meter and register faults of one connector do to its samples."""

    volts: float | None = None
    imbalance: float | None = None  # L3 current as a share of L1/L2
    amps: float | None = None
    celsius: float | None = None
    frozen: bool = False

    @classmethod
    def of(cls, injections: Iterable[Injection]) -> MeterEffects:
        fx = cls()
        for inj in injections:
            f = inj.fault
            if f in (Fault.VOLTAGE_LOW, Fault.VOLTAGE_HIGH):
                fx.volts = inj.number("volts")
            elif f is Fault.PHASE_IMBALANCE:
                fx.imbalance = inj.number("ratio")
            elif f is Fault.OVER_CURRENT:
                fx.amps = inj.number("amps")
            elif f is Fault.OVER_TEMPERATURE:
                fx.celsius = inj.number("celsius")
            elif f is Fault.FROZEN_REGISTER:
                fx.frozen = True
        return fx

    @property
    def any(self) -> bool:
        return self != MeterEffects()

    def apply(self, s: MeterSample, phases: int) -> MeterSample:
        """``s`` as the faulty meter reports it (``phases``: phases the car charges on)."""
        volts, amps = s.voltages_v, s.currents_a
        if self.volts is not None:
            offsets = (0.0, -0.4, 0.3)
            volts = (self.volts + offsets[0], self.volts + offsets[1], self.volts + offsets[2])
            per_phase = s.power_w / max(1, phases)
            amps = _triple(
                round(per_phase / v, 2) if i < phases else 0.0 for i, v in enumerate(volts)
            )
        if self.imbalance is not None:
            # three phases, L3 at `imbalance` of the others, the same total power
            base = s.power_w / ((2 + self.imbalance) * (sum(volts) / len(PHASES)))
            amps = (round(base, 2), round(base, 2), round(base * self.imbalance, 2))
        if self.amps is not None:
            used = 3 if self.imbalance is not None else max(1, phases)
            amps = _triple(round(self.amps, 2) if i < used else 0.0 for i in range(3))
        return replace(
            s,
            voltages_v=volts,
            currents_a=amps,
            temperature_c=self.celsius if self.celsius is not None else s.temperature_c,
        )


def _triple(values: Iterable[float]) -> tuple[float, float, float]:
    a, b, c = values
    return a, b, c


# -- planned faults (simulator CLI) -------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFault:
    """A fault to inject ``at`` s after the fleet starts, cleared ``hold`` s later (None: never)."""

    fault: Fault
    station_id: str
    connector: int | None = None
    at: float = 0.0
    hold: float | None = None
    params: Mapping[str, ParamValue] = field(default_factory=dict)


def parse_planned(text: str) -> PlannedFault:
    """``KIND:STATION[/CONNECTOR][@AT[+HOLD]][,name=value...]``, for example
    ``voltage_low:SIM0001``, ``connector_fault:SIM0002/2@10+60,code=OverVoltage`` or
    ``offline:SIM0003@5+120``. Times in seconds."""
    head, *pairs = [p.strip() for p in text.split(",")]
    kind, sep, target = head.partition(":")
    try:
        fault = Fault(kind.strip().lower())
    except ValueError:
        names = ", ".join(f.value for f in Fault)
        raise ValueError(f"{text!r}: unknown fault {kind!r} (one of {names})") from None
    if not sep or not target:
        raise ValueError(f"{text!r}: expected KIND:STATION[/CONNECTOR][@AT[+HOLD]]")
    target, _, timing = target.partition("@")
    station, _, connector_text = target.partition("/")
    at, hold = 0.0, None
    try:
        connector = int(connector_text) if connector_text else None
        if timing:
            at_text, _, hold_text = timing.partition("+")
            at = float(at_text)
            hold = float(hold_text) if hold_text else None
    except ValueError:
        raise ValueError(f"{text!r}: connector, AT and HOLD must be numbers") from None
    if not station or at < 0 or (hold is not None and hold < 0) or (connector or 0) < 0:
        raise ValueError(f"{text!r}: needs a station id and non-negative numbers")
    given: dict[str, ParamValue] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"{text!r}: parameters are name=value, got {pair!r}")
        given[name.strip()] = value.strip()
    make_params(fault, given)  # fail now, not when the fault is due
    return PlannedFault(fault, station, connector, at, hold, given)


# -- applying faults to a station ---------------------------------------------------------------


class FaultPort(Protocol):
    """What the fault driver needs from its station (`VirtualStation` implements it)."""

    station_id: str
    ocpp_version: str
    dialect: Dialect
    rng: random.Random
    id_tags: Sequence[str]
    stats: FleetStats
    now: Clock
    connectors: list[Connector]
    runners: list[ConnectorRunner]

    @property
    def booted(self) -> bool: ...
    @property
    def accepting_sessions(self) -> bool: ...
    @property
    def generation(self) -> int: ...
    async def wait_online(self) -> None: ...
    async def wait_generation(self, seen: int) -> None: ...
    def hold_link(self, inj: Injection) -> None: ...
    def release_link(self, inj: Injection) -> None: ...
    async def set_hung(self, hung: bool) -> None: ...
    def reboot(self, stop_reason: str, boot_reason: str, inj: Injection | None) -> None: ...
    async def send(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None: ...
    async def end_sessions(self, reason: str) -> None: ...
    def next_event_id(self) -> int: ...


_SEQUENCES = (Fault.FLAPPING, Fault.BOOT_LOOP, Fault.FAILED_SESSION, Fault.SILENT_FAILURE)


class FaultDriver:
    """Keeps a station's injected faults and carries out injecting and clearing them.

    Injecting and clearing return at once; what has to be sent is sent by tasks this
    object owns, one fault action at a time (so a clear never overtakes its inject).
    Sequences (flapping, boot loops, failing sessions) run in their own task, which a
    clear cancels.
    """

    def __init__(self, station: FaultPort) -> None:
        self.station = station
        self.station_faults: dict[Fault, Injection] = {}
        self._lock = asyncio.Lock()
        self._sequences: dict[Injection, asyncio.Task[object]] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    # -- state ----------------------------------------------------------------------------------

    def active(self) -> list[Injection]:
        """Every fault in force on the station, station-wide first."""
        found = list(self.station_faults.values())
        for c in self.station.connectors:
            found += [i for i in c.faults.values() if i not in found]
        return found

    def find(self, fault: Fault | str, connector: int | None = None) -> Injection | None:
        fault = Fault(fault)
        target = self._target(FAULTS[fault], connector)
        return next((i for i in self.active() if i.fault is fault and i.connector == target), None)

    @property
    def station_code(self) -> str | None:
        """The error code of a 1.6 station-wide fault (reported on connector 0)."""
        inj = self.station_faults.get(Fault.CONNECTOR_FAULT)
        if inj is None or self.station.ocpp_version != "1.6":
            return None
        return inj.text("code")

    # -- inject / clear -------------------------------------------------------------------------

    def inject(
        self,
        fault: Fault | str,
        connector: int | None = None,
        params: Mapping[str, ParamValue] | None = None,
    ) -> Injection:
        fault = Fault(fault)
        values = make_params(fault, params or {})
        target = self._target(FAULTS[fault], connector)
        if self.find(fault, target) is not None:
            self.clear(fault, target)
        inj = Injection(fault, self.station.station_id, target, values)
        self._register(inj)
        self.station.stats.faults_injected += 1
        log.info("%s: inject %s on %s %s", inj.station_id, fault.value, target, values)
        task = self._spawn(self._apply(inj), f"{inj.station_id}-inject-{fault.value}")
        if fault in _SEQUENCES:
            self._sequences[inj] = task
        return inj

    def clear(self, fault: Fault | str, connector: int | None = None) -> Injection | None:
        inj = self.find(fault, connector)
        if inj is None:
            return None
        self._unregister(inj)
        inj.cleared_at = time.monotonic()
        self.station.stats.faults_cleared += 1
        sequence = self._sequences.pop(inj, None)
        if sequence is not None:
            sequence.cancel()
        log.info("%s: clear %s on %s", inj.station_id, inj.fault.value, inj.connector)
        self._spawn(self._undo(inj), f"{inj.station_id}-clear-{inj.fault.value}")
        return inj

    def clear_all(self) -> list[Injection]:
        return [i for i in self.active() if self.clear(i.fault, i.connector) is not None]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._sequences.clear()

    # -- internals ------------------------------------------------------------------------------

    def _target(self, spec: FaultSpec, connector: int | None) -> int:
        if spec.scope == "station":
            if connector not in (None, 0):
                raise ValueError(f"{spec.fault.value} is station-wide: give no connector")
            return 0
        n = 1 if connector is None else connector
        low = 0 if spec.fault is Fault.CONNECTOR_FAULT else 1
        if not low <= n <= len(self.station.connectors):
            raise ValueError(
                f"{spec.fault.value}: connector {n} is not one of {low}.."
                f"{len(self.station.connectors)} of {self.station.station_id}"
            )
        return n

    def _connectors(self, inj: Injection) -> list[Connector]:
        if inj.connector == 0:
            return list(self.station.connectors)
        return [self.station.connectors[inj.connector - 1]]

    def _runner(self, conn: Connector) -> ConnectorRunner:
        return self.station.runners[conn.connector_id - 1]

    def _register(self, inj: Injection) -> None:
        if inj.connector == 0:
            self.station_faults[inj.fault] = inj
            if inj.fault is not Fault.CONNECTOR_FAULT or self.station.ocpp_version == "1.6":
                return  # a 2.0.1 station-wide fault faults every EVSE
        for c in self._connectors(inj):
            c.faults[inj.fault] = inj
            if inj.spec.group == "register":
                c.steps.append(inj)
            c.wake.set()

    def _unregister(self, inj: Injection) -> None:
        if self.station_faults.get(inj.fault) is inj:
            del self.station_faults[inj.fault]
        for c in self.station.connectors:
            if c.faults.get(inj.fault) is inj:
                del c.faults[inj.fault]
            if inj in c.steps:
                c.steps.remove(inj)

    def _spawn(self, coro: Coroutine[Any, Any, object], name: str) -> asyncio.Task[object]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _apply(self, inj: Injection) -> None:
        st, f = self.station, inj.fault
        if f is Fault.CONNECTOR_FAULT:
            async with self._lock:
                if self.station_code is not None and inj.connector == 0:
                    await st.end_sessions("Other")
                    inj.mark("status")
                    await self._report_station("Faulted", inj.text("code"))
                else:
                    for c in self._connectors(inj):
                        await self._runner(c).enter_fault(inj, st.next_event_id())
        elif f is Fault.OFFLINE:
            st.hold_link(inj)
        elif f is Fault.HUNG:
            await st.set_hung(True)
            inj.mark("hung")
        elif f is Fault.FLAPPING:
            await self._flap(inj)
        elif f is Fault.BOOT_LOOP:
            for _ in range(inj.count("count")):
                seen = st.generation
                st.reboot("Reboot", "Watchdog", inj)
                await st.wait_generation(seen)  # booted (marked as its BootNotification went)
                await asyncio.sleep(inj.number("interval"))
        elif f in (Fault.FAILED_SESSION, Fault.SILENT_FAILURE):
            await self._failing_sessions(inj)
        elif not inj.spec.needs_session(st.ocpp_version):
            await self._alert(inj, active=True)
        else:
            await self._ensure_session(inj)

    async def _undo(self, inj: Injection) -> None:
        st, f = self.station, inj.fault
        if f is Fault.CONNECTOR_FAULT:
            async with self._lock:
                if inj.connector == 0 and st.ocpp_version == "1.6":
                    inj.mark("cleared")
                    await self._report_station("Available", "NoError")
                else:
                    for c in self._connectors(inj):
                        await self._runner(c).leave_fault(inj, st.next_event_id())
        elif f in (Fault.OFFLINE, Fault.FLAPPING):
            seen = st.generation
            st.release_link(inj)
            if not st.booted:
                await st.wait_generation(seen)
            inj.mark("cleared")
        elif f is Fault.HUNG:
            inj.mark("cleared")
            await st.set_hung(False)
            await st.send(*st.dialect.heartbeat())  # on a new connection if it was dropped
        elif f is Fault.STUCK_SESSION:
            c = self._connectors(inj)[0]
            if c.session is not None:
                c.request_stop("EVDisconnected")
                await c.idle.wait()
            inj.mark("cleared")
        elif inj.fault is Fault.OVER_TEMPERATURE and st.ocpp_version != "1.6":
            await self._alert(inj, active=False)
        elif inj.spec.group == "meter":
            self._connectors(inj)[0].recovering.append(inj)  # marked with the next sample
        else:
            inj.mark("cleared")

    async def _alert(self, inj: Injection, *, active: bool) -> None:
        """2.0.1 over-temperature: the temperature monitor's NotifyEvent (or its clearing)."""
        st = self.station
        message = st.dialect.temperature_alert(
            inj.connector, inj.number("celsius"), active, st.next_event_id(), iso(st.now())
        )
        if message is not None:
            async with self._lock:
                inj.mark("event" if active else "cleared")
                await st.send(*message)

    async def _report_station(self, status: str, code: str) -> None:
        st = self.station
        await st.send(*st.dialect.status(0, status, code, iso(st.now())))

    async def _flap(self, inj: Injection) -> None:
        st = self.station
        for n in range(1, inj.count("count") + 1):
            st.hold_link(inj)
            await inj.wait_for("drop", n)
            await asyncio.sleep(inj.number("down"))
            seen = st.generation
            st.release_link(inj)
            await st.wait_generation(seen)
            await asyncio.sleep(inj.number("up"))

    async def _failing_sessions(self, inj: Injection) -> None:
        st = self.station
        c = self._connectors(inj)[0]
        done = 0
        while done < inj.count("count"):
            await st.wait_online()
            await c.idle.wait()
            if await self._runner(c).visit(st.rng.choice(st.id_tags)):
                done += 1
            else:
                await asyncio.sleep(0.05)  # busy, faulted or the station is rebooting

    async def _ensure_session(self, inj: Injection) -> None:
        """Meter faults show in a session's meter values: start one if the connector is free
        (waiting while it finishes a visit; not if it is faulted or inoperative)."""
        st = self.station
        c = self._connectors(inj)[0]
        while inj.active:
            await st.wait_online()
            if c.metering and not c.stop_requested.is_set():
                if inj.fault is Fault.STUCK_SESSION:
                    inj.mark("start")  # the running session stops drawing energy from now on
                return
            if c.free and st.accepting_sessions:
                phases = 3 if inj.fault is Fault.PHASE_IMBALANCE else None
                self._spawn(
                    self._runner(c).visit(st.rng.choice(st.id_tags), phases=phases),
                    f"{inj.station_id}-c{c.connector_id}-visit",
                )
                return
            if c.idle.is_set() and c.pending_start is None and c.status != "Available":
                log.info(
                    "%s: connector %s is %s: no session for %s",
                    inj.station_id,
                    c.connector_id,
                    c.status,
                    inj.fault.value,
                )
                return
            await asyncio.sleep(0.05)  # a visit is starting or finishing

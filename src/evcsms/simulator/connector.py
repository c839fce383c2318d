"""One connector of a virtual station: idle, faults, reservations and charging sessions (the
car draws what the station's charging profiles offer it, see `simulator.control`)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from evcsms.simulator.client import JsonObject
from evcsms.simulator.faults import Fault, Injection, MeterEffects
from evcsms.simulator.messages import RFID_CARD, Clock, Dialect, Reservation, Session, iso
from evcsms.simulator.meter import MeterSample, Offer, draw, new_profile, sample
from evcsms.simulator.stats import FleetStats

FAULT_CODES_16 = (
    "GroundFailure",
    "OverCurrentFailure",
    "PowerMeterFailure",
    "HighTemperature",
    "ConnectorLockFailure",
    "EVCommunicationError",
)


@dataclass(frozen=True)
class SessionPattern:
    """How often and how long the simulated drivers charge (seconds, uniform ranges)."""

    session_seconds: tuple[float, float] = (120.0, 900.0)
    idle_seconds: tuple[float, float] = (10.0, 120.0)
    fault_seconds: tuple[float, float] = (5.0, 30.0)
    auto_start: bool = True
    phases: tuple[int, ...] = (1, 3)  # a car charges on one of these (7.4 kW 1-ph, 11 kW 3-ph)
    max_current_a: float | None = None  # a car's own maximum per phase (None: 7.4 or 11 kW)


@dataclass(frozen=True)
class PlugIn:
    """A driver arriving (locally or through a remote start)."""

    id_tag: str
    remote: bool = False
    remote_start_id: int | None = None
    token_type: str = RFID_CARD
    phases: int | None = None  # None: as the session pattern picks
    max_current_a: float | None = None  # the car's maximum per phase (None: as the pattern says)
    finished: asyncio.Event | None = field(default=None, compare=False)  # set when the visit ends

    def release(self) -> None:
        if self.finished is not None:
            self.finished.set()


_METER_FAULTS = frozenset(
    {
        Fault.VOLTAGE_LOW,
        Fault.VOLTAGE_HIGH,
        Fault.PHASE_IMBALANCE,
        Fault.OVER_CURRENT,
        Fault.OVER_TEMPERATURE,
        Fault.FROZEN_REGISTER,
    }
)
_FAILING = (Fault.STUCK_SESSION, Fault.FAILED_SESSION, Fault.SILENT_FAILURE)


@dataclass
class Connector:
    """State of one connector. The energy register only grows, unless a fault says otherwise.

    ``faults`` are the injected faults acting on this connector (see `simulator.faults`);
    ``steps`` the one-shot register faults not yet applied, ``stepped`` those applied in
    the running session (reported when it ends).
    """

    connector_id: int
    register_wh: float = 0.0
    status: str = "Available"
    error_code: str = "NoError"
    reported: str | None = None
    operative: bool = True
    session: Session | None = None
    pending_start: PlugIn | None = None
    power_w: float = 0.0
    phases: int = 3
    current_a: float | None = None  # drawn per phase when a charging limit holds the car back
    reservation: Reservation | None = None
    stop_reason: str = "EVDisconnected"
    faults: dict[Fault, Injection] = field(default_factory=dict)
    steps: list[Injection] = field(default_factory=list)
    stepped: list[Injection] = field(default_factory=list)
    recovering: list[Injection] = field(default_factory=list)  # cleared: mark the next sample
    end_after: int | None = None  # samples left before a register fault ends the session
    metering: bool = False  # a session is in its meter-value loop (not starting or ending)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    @property
    def free(self) -> bool:
        return (
            self.operative
            and self.session is None
            and self.pending_start is None
            and self.idle.is_set()
            and self.status == "Available"
        )

    def free_for(self, id_tag: str) -> bool:
        """Free for a driver with ``id_tag``: free, or reserved for that idTag (or for a group,
        which the CSMS's Authorize answer may show the idTag belongs to)."""
        r = self.reservation
        if r is None or self.status != "Reserved":
            return self.free
        return (
            self.operative and self.session is None and self.pending_start is None
            and self.idle.is_set()
            and (same_id(r.id_tag, id_tag) or r.parent is not None)
        )

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop_requested.set()

    @property
    def fault_code(self) -> str | None:
        """The error code of an injected connector fault (None: no such fault)."""
        inj = self.faults.get(Fault.CONNECTOR_FAULT)
        return inj.text("code") if inj is not None else None

    @property
    def effects(self) -> MeterEffects:
        return MeterEffects.of(i for f, i in self.faults.items() if f in _METER_FAULTS)

    @property
    def failing(self) -> Injection | None:
        """The session fault in force: stuck, or failed (short, empty) sessions."""
        return next((self.faults[f] for f in _FAILING if f in self.faults), None)

    @property
    def holding(self) -> bool:
        """A fault that keeps the running session open (so its symptom keeps showing)."""
        return Fault.STUCK_SESSION in self.faults or any(f in _METER_FAULTS for f in self.faults)

    def resting(self) -> tuple[str, str]:
        """Status and error code of the connector when no session runs."""
        code = self.fault_code
        if code is not None:
            return "Faulted", code
        if not self.operative:
            return "Unavailable", "NoError"
        return ("Reserved" if self.reservation is not None else "Available"), "NoError"


def same_id(a: str, b: str) -> bool:
    """idTags compare case-insensitively (CiString in OCPP)."""
    return a.casefold() == b.casefold()


class StationLink(Protocol):
    """What a connector needs from its station."""

    dialect: Dialect
    rng: random.Random
    stats: FleetStats
    now: Clock
    meter_interval: float
    time_scale: float
    pattern: SessionPattern
    id_tags: Sequence[str]
    fault_probability: float

    @property
    def stopping(self) -> bool: ...
    @property
    def accepting_sessions(self) -> bool: ...
    @property
    def authorize_remote(self) -> bool: ...
    async def send(self, action: str, payload: JsonObject) -> JsonObject | None: ...
    async def wait_online(self) -> None: ...
    def offer(self, connector_id: int) -> Offer | None: ...
    def transaction_ended(self, connector_id: int) -> None: ...


async def wait_event(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait for ``event`` at most ``seconds`` (None: no limit); True if it was set."""
    if seconds is None:
        await event.wait()
        return True
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


class ConnectorRunner:
    """Drives one connector for the station's lifetime (an owned task of the station)."""

    def __init__(self, conn: Connector, link: StationLink) -> None:
        self.conn = conn
        self.link = link

    def reading(self) -> MeterSample:
        c = self.conn
        s = sample(c.register_wh, c.power_w, c.phases, self.link.rng, c.current_a)
        effects = c.effects
        return effects.apply(s, c.phases) if effects.any else s

    async def run(self) -> None:
        while not self.link.stopping:
            plug = await self._next_plug_in()
            if plug is not None:
                await self.charge(plug)

    async def set_status(
        self, status: str, error_code: str = "NoError", *, force: bool = False
    ) -> None:
        """Change the status; report it unless the CSMS already sees that status."""
        c, d = self.conn, self.link.dialect
        c.status, c.error_code = status, error_code
        shown = d.connector_status(status)
        if shown == c.reported and not force:
            return
        c.reported = shown
        await self.link.send(*d.status(c.connector_id, shown, error_code, iso(self.link.now())))

    async def apply_availability(self) -> None:
        """After ChangeAvailability: reflect ``operative`` if the connector is idle."""
        c = self.conn
        if c.idle.is_set() and c.status in ("Available", "Unavailable", "Reserved"):
            await self.set_status(*c.resting())

    async def drop_reservation(self, status: str) -> None:
        """End the reservation here (``status`` Expired or Removed; 2.0.1 tells the CSMS with
        ReservationStatusUpdate); the caller reports the connector's new status."""
        c, link = self.conn, self.link
        r, c.reservation = c.reservation, None
        if r is not None:
            update = link.dialect.reservation_update(r.reservation_id, status)
            if update is not None:
                await link.send(*update)

    async def _reservation_expired(self) -> bool:
        c = self.conn
        if c.reservation is None or self.link.now() < c.reservation.expires:
            return False
        await self.drop_reservation("Expired")
        if c.idle.is_set() and c.pending_start is None:
            await self.set_status(*c.resting())
        return True

    def _until_expiry(self) -> float | None:
        r = self.conn.reservation
        if r is None:
            return None
        return max(0.0, (r.expires - self.link.now()).total_seconds()) + 0.005

    # -- injected faults (called by the station, which keeps ``conn.faults``) ------------------

    async def enter_fault(self, inj: Injection, event_id: int) -> None:
        """Report the injected connector fault (``conn.faults`` already has it): a running
        session ends first (reason Other), then Faulted with the error code."""
        c, link = self.conn, self.link
        c.wake.set()  # an idle wait must not start a session now
        if not c.idle.is_set():
            c.request_stop("Other")
            await c.idle.wait()  # the visit ends with the connector's resting status: Faulted
            if c.status != "Faulted":
                await self.set_status(*c.resting())
        else:
            inj.mark("status")  # marks are taken as the symptom is sent
            await self.set_status(*c.resting(), force=True)
        if not inj.times("status"):
            inj.mark("status")
        problem = link.dialect.problem(
            c.connector_id, inj.text("code"), True, event_id, iso(link.now())
        )
        if problem is not None:
            await link.send(*problem)
        await self.drop_reservation("Removed")  # a faulted connector keeps no reservation

    async def leave_fault(self, inj: Injection, event_id: int) -> None:
        """The connector fault was cleared (``conn.faults`` no longer has it): back to rest."""
        c, link = self.conn, self.link
        inj.mark("cleared")
        if c.idle.is_set() and c.status == "Faulted":
            await self.set_status(*c.resting())
        problem = link.dialect.problem(
            c.connector_id, inj.text("code"), False, event_id, iso(link.now())
        )
        if problem is not None:
            await link.send(*problem)
        c.wake.set()

    async def visit(self, id_tag: str, *, phases: int | None = None) -> bool:
        """Start a session here (a driver plugs in) and wait until the visit is over; False
        if the connector is not free."""
        c = self.conn
        if not c.free or not self.link.accepting_sessions:
            return False
        done = asyncio.Event()
        c.pending_start = PlugIn(id_tag, phases=phases, finished=done)
        c.wake.set()
        await done.wait()
        return True

    # -- the visit cycle ------------------------------------------------------------------------

    async def _next_plug_in(self) -> PlugIn | None:
        c, link = self.conn, self.link
        if c.pending_start is None:
            await link.wait_online()
            if await self._reservation_expired():
                return None
            auto = link.pattern.auto_start and c.operative and c.status == "Available"
            wait = link.rng.uniform(*link.pattern.idle_seconds) if auto else None
            expiry = self._until_expiry()  # a reserved connector waits for its driver
            woke = await wait_event(c.wake, expiry if expiry is not None else wait)
            c.wake.clear()
            if c.pending_start is None and (
                woke or not link.accepting_sessions or expiry is not None
            ):
                return None
        if c.pending_start is not None:
            plug, c.pending_start = c.pending_start, None
            if link.accepting_sessions and c.fault_code is None:
                return plug
            plug.release()
            return None
        if c.status != "Available":  # a fault arrived while waiting
            return None
        if link.rng.random() < link.fault_probability:
            await self._fault()
            return None
        return PlugIn(id_tag=link.rng.choice(link.id_tags))

    async def _fault(self) -> None:
        c, link = self.conn, self.link
        link.stats.faults += 1
        await self.set_status("Faulted", link.rng.choice(FAULT_CODES_16))
        await wait_event(c.wake, link.rng.uniform(*link.pattern.fault_seconds))
        c.wake.clear()
        await self.set_status(*c.resting())

    async def charge(self, plug: PlugIn) -> None:
        """One visit: Preparing, authorize, transaction with meter values, stop, Available."""
        c = self.conn
        c.idle.clear()
        c.stop_requested.clear()
        c.stop_reason = "EVDisconnected"
        failing = c.failing  # the car this visit: does it draw energy?
        try:
            await self.set_status("Preparing")
            session = await self._begin(plug, "Charging" if failing is None else "SuspendedEV")
            if session is not None:
                if failing is not None:
                    failing.mark("start")
                if failing is None or failing.fault is Fault.STUCK_SESSION:
                    await self._meter_loop(session)
                else:
                    await self._fail(session, failing)
                for inj in [*c.stepped, *([failing] if failing is not None else [])]:
                    inj.mark("session_end")
                await self._end(session)
                await self.set_status("Finishing")
            await self.set_status(*c.resting())
        finally:
            if c.session is not None:
                self.link.transaction_ended(c.connector_id)  # its TxProfiles end with it
            c.session = None
            c.power_w = 0.0
            c.current_a = None
            c.stepped.clear()
            c.end_after = None
            c.idle.set()
            plug.release()

    async def _begin(self, plug: PlugIn, charging: str = "Charging") -> Session | None:
        c, link, d = self.conn, self.link, self.link.dialect
        held = c.reservation
        stranger = held is not None and not same_id(held.id_tag, plug.id_tag)
        if not plug.remote or link.authorize_remote or stranger:
            resp = await link.send(*d.authorize(plug.id_tag, plug.token_type))
            if resp is None or d.auth_status(resp) != "Accepted" or c.stop_requested.is_set():
                return None
            group = d.auth_group(resp)
            if stranger and (held is None or held.parent is None or group is None
                             or not same_id(group, held.parent)):
                return None  # reserved for another idTag
        phases = (plug.phases,) if plug.phases is not None else link.pattern.phases
        profile = new_profile(link.rng, link.pattern.session_seconds, link.meter_interval, phases,
                              plug.max_current_a or link.pattern.max_current_a)
        c.phases = profile.phases
        s = Session(
            c.connector_id,
            plug.id_tag,
            profile,
            plug.token_type,
            plug.remote_start_id,
            tx_id=d.local_tx_id(link.rng),
            reservation_id=held.reservation_id if held is not None else None,
            started_at=link.now(),
        )
        c.reservation = None  # the reservation ends with the transaction it is used for
        begin = self.reading()
        s.meter_start_wh = begin.register_wh
        resp = await link.send(*d.start(s, begin, iso(link.now())))
        if resp is None:
            return None
        c.session = s
        if d.start_status(s, resp) != "Accepted":
            if (
                s.tx_id is not None
            ):  # the CSMS opened it: close it again (StopTransactionOnInvalidId)
                s.stop_reason = "DeAuthorized"
                await link.send(*d.end(s, self.reading(), iso(link.now())))
            return None
        link.stats.sessions_started += 1
        await self.set_status(charging)
        return s

    def _more_samples(self, k: int, s: Session) -> bool:
        c = self.conn
        if c.end_after is not None:
            return c.end_after > 0
        # a held session goes on while its fault lasts, and sends one normal sample after
        return k < s.profile.total_samples or c.holding or bool(c.steps or c.recovering)

    async def _meter_loop(self, s: Session) -> None:
        c = self.conn
        c.metering = True
        try:
            await self._samples(s)
        finally:
            c.metering = False

    async def _samples(self, s: Session) -> None:
        c, link = self.conn, self.link
        k = 0
        while self._more_samples(k, s):
            interval = link.meter_interval
            if await wait_event(c.stop_requested, interval):
                break
            stuck = Fault.STUCK_SESSION in c.faults
            if stuck:
                c.power_w, c.current_a = 0.0, None
            else:
                wanted = (s.profile.power_at(k, link.rng) if k < s.profile.total_samples
                          else s.profile.steady(link.rng))
                await self._draw(s, wanted)
            delta_wh = c.power_w * interval * link.time_scale / 3600.0
            if not c.effects.frozen:
                c.register_wh += delta_wh
                link.stats.energy_wh += delta_wh
            stepped = self._take_steps()
            message = link.dialect.update(s, self.reading(), iso(link.now()))
            for f, inj in c.faults.items():
                if f in _METER_FAULTS or f is Fault.STUCK_SESSION:
                    inj.mark("sample")
            for inj in stepped:
                inj.mark("sample")
            for inj in c.recovering:
                inj.mark("cleared")
            c.recovering.clear()
            await link.send(*message)
            if c.end_after is not None and not stepped:
                c.end_after -= 1
            k += 1
        s.stop_reason = c.stop_reason if c.stop_requested.is_set() else "EVDisconnected"

    async def _draw(self, s: Session, wanted_w: float) -> None:
        """The car draws what it wants within what the charging profiles offer now; an offer
        of 0 A suspends it (1.6 SuspendedEVSE) until the offer returns."""
        c = self.conn
        offer = self.link.offer(c.connector_id)
        got = draw(s.profile, wanted_w, offer.current_a if offer else None,
                   offer.phases if offer else None)
        c.power_w, c.phases, c.current_a = got.power_w, got.phases, got.current_a
        paused = got.current_a is not None and got.current_a <= 0
        if paused and c.status == "Charging":
            await self.set_status("SuspendedEVSE")
        elif not paused and c.status == "SuspendedEVSE":
            await self.set_status("Charging")

    def _take_steps(self) -> list[Injection]:
        """Apply pending one-shot register faults: the register goes back or jumps."""
        c = self.conn
        taken, c.steps = c.steps, []
        for inj in taken:
            wh = inj.number("wh")
            if inj.fault is Fault.REGISTER_BACKWARDS:
                c.register_wh = max(0.0, c.register_wh - wh)
            else:
                c.register_wh += wh
            c.end_after = max(c.end_after or 0, inj.count("samples"))
            c.stepped.append(inj)
        return taken

    async def _fail(self, s: Session, failing: Injection) -> None:
        """A session in which the car draws nothing, ended after the fault's ``seconds``."""
        c = self.conn
        c.power_w = 0.0
        stopped = await wait_event(c.stop_requested, failing.number("seconds"))
        s.stop_reason = c.stop_reason if stopped else "EVDisconnected"

    async def _end(self, s: Session) -> None:
        self.conn.power_w = 0.0
        link = self.link
        await link.send(*link.dialect.end(s, self.reading(), iso(link.now())))
        link.stats.sessions_completed += 1

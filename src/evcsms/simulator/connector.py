"""One connector of a virtual station: idle, faults and charging sessions."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from evcsms.simulator.client import JsonObject
from evcsms.simulator.messages import RFID_CARD, Clock, Dialect, Session, iso
from evcsms.simulator.meter import MeterSample, new_profile, sample
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


@dataclass(frozen=True)
class PlugIn:
    """A driver arriving (locally or through a remote start)."""

    id_tag: str
    remote: bool = False
    remote_start_id: int | None = None
    token_type: str = RFID_CARD


@dataclass
class Connector:
    """State of one connector. The energy register only ever grows."""

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
    stop_reason: str = "EVDisconnected"
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

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.stop_requested.set()


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
        return sample(self.conn.register_wh, self.conn.power_w, self.conn.phases, self.link.rng)

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
        if c.idle.is_set() and c.status in ("Available", "Unavailable"):
            await self.set_status("Available" if c.operative else "Unavailable")

    async def _next_plug_in(self) -> PlugIn | None:
        c, link = self.conn, self.link
        if c.pending_start is None:
            await link.wait_online()
            auto = link.pattern.auto_start and c.operative and c.status == "Available"
            woke = await wait_event(
                c.wake, link.rng.uniform(*link.pattern.idle_seconds) if auto else None
            )
            c.wake.clear()
            if c.pending_start is None and (woke or not link.accepting_sessions):
                return None
        if c.pending_start is not None:
            plug, c.pending_start = c.pending_start, None
            return plug if link.accepting_sessions else None
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
        await self.set_status("Available" if c.operative else "Unavailable")

    async def charge(self, plug: PlugIn) -> None:
        """One visit: Preparing, authorize, transaction with meter values, stop, Available."""
        c = self.conn
        c.idle.clear()
        c.stop_requested.clear()
        c.stop_reason = "EVDisconnected"
        try:
            await self.set_status("Preparing")
            session = await self._begin(plug)
            if session is not None:
                await self._meter_loop(session)
                await self._end(session)
                await self.set_status("Finishing")
            await self.set_status("Available" if c.operative else "Unavailable")
        finally:
            c.session = None
            c.power_w = 0.0
            c.idle.set()

    async def _begin(self, plug: PlugIn) -> Session | None:
        c, link, d = self.conn, self.link, self.link.dialect
        if not plug.remote or link.authorize_remote:
            resp = await link.send(*d.authorize(plug.id_tag, plug.token_type))
            if resp is None or d.auth_status(resp) != "Accepted" or c.stop_requested.is_set():
                return None
        profile = new_profile(link.rng, link.pattern.session_seconds, link.meter_interval)
        c.phases = profile.phases
        s = Session(
            c.connector_id,
            plug.id_tag,
            profile,
            plug.token_type,
            plug.remote_start_id,
            tx_id=d.local_tx_id(link.rng),
        )
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
        await self.set_status("Charging")
        return s

    async def _meter_loop(self, s: Session) -> None:
        c, link = self.conn, self.link
        for k in range(s.profile.total_samples):
            interval = link.meter_interval
            if await wait_event(c.stop_requested, interval):
                break
            c.power_w = s.profile.power_at(k, link.rng)
            delta_wh = c.power_w * interval * link.time_scale / 3600.0
            c.register_wh += delta_wh
            link.stats.energy_wh += delta_wh
            await link.send(*link.dialect.update(s, self.reading(), iso(link.now())))
        s.stop_reason = c.stop_reason if c.stop_requested.is_set() else "EVDisconnected"

    async def _end(self, s: Session) -> None:
        self.conn.power_w = 0.0
        link = self.link
        await link.send(*link.dialect.end(s, self.reading(), iso(link.now())))
        link.stats.sessions_completed += 1

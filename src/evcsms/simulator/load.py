"""Benchmark load generator: thousands of lean OCPP-J connections in one process.

Each connection is a bare websocket (no reader task, no keepalive pings); a CALL is
``send`` followed by ``recv`` until the matching answer. The measured window starts
``warmup`` seconds after every station has connected (and booted).

``url`` may be one node's ``ws://host:port/ocpp`` or a list of them: station i then goes to
``urls[i % len(urls)]``, as a load balancer would spread them. ``station_mix`` runs stations
that behave like real ones (heartbeats, meter values, sessions) and, when a node drops them,
reconnect to another node with back-off and jitter, recording how long that took.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import resource
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from types import TracebackType
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, WebSocketException

from evcsms.simulator.client import CALL, CALLERROR, CALLRESULT, open_websocket, station_ids
from evcsms.simulator.messages import Dialect, Session, dialect_for, iso
from evcsms.simulator.meter import (
    ChargeProfile,
    MeterSample,
    sampled_values_16,
    sampled_values_201,
)

__all__ = [
    "Backoff",
    "IdleHold",
    "LoadReport",
    "MixReport",
    "MixShape",
    "Reconnect",
    "hold_idle",
    "meter_flood",
    "mix_token",
    "percentile",
    "raise_nofile_limit",
    "realistic_mix",
    "spread",
    "station_mix",
]

Urls = str | Sequence[str]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0
MIX_CONNECT_CONCURRENCY = 200
_LINK_ERRORS = (ConnectionClosed, OSError, WebSocketException, TimeoutError, orjson.JSONDecodeError)


@dataclass
class LoadReport:
    stations_connected: int
    messages: int  # CALLs answered (CALLRESULT or CALLERROR) inside the measured window
    errors: int  # CALLERRORs + failed connections
    seconds: float  # measured window length
    latencies_ms: list[float] = field(default_factory=list)

    def rate(self) -> float:
        """Answered CALLs per second inside the window."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile (ms), p in [0, 100], linear interpolation; 0.0 if no samples."""
        return percentile(self.latencies_ms, p)


def percentile(samples: Sequence[float], p: float) -> float:
    """Percentile p in [0, 100] of ``samples``, linear interpolation; 0.0 if there are none."""
    if not samples:
        return 0.0
    data = sorted(samples)
    rank = min(max(p, 0.0), 100.0) / 100.0 * (len(data) - 1)
    low = int(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Link:
    """A lean station connection: one CALL at a time, answered inline."""

    __slots__ = ("answer", "next_id", "ws")

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.answer: Any = None  # payload of the last CALLRESULT

    async def call(self, action: str, payload: dict[str, Any]) -> tuple[bool, float, float]:
        """Send a CALL; returns (CALLRESULT?, answer time, latency ms)."""
        self.next_id += 1
        msg_id = str(self.next_id)
        sent = perf_counter()
        await self.ws.send(orjson.dumps([CALL, msg_id, action, payload]), text=True)
        while True:
            frame = orjson.loads(await self.ws.recv(decode=False))
            now = perf_counter()
            if frame[0] == CALL:  # the CSMS asked something: refuse politely, keep waiting
                reply = [CALLERROR, frame[1], "NotImplemented", "load generator", {}]
                await self.ws.send(orjson.dumps(reply), text=True)
            elif frame[1] == msg_id:
                self.answer = frame[2] if frame[0] == CALLRESULT else None
                return frame[0] == CALLRESULT, now, (now - sent) * 1000.0


@dataclass
class _Window:
    """Counts answers that arrive inside [start, end)."""

    report: LoadReport
    start: float
    end: float

    def record(self, ok: bool, at: float, latency_ms: float) -> None:
        if self.start <= at < self.end:
            self.report.messages += 1
            self.report.latencies_ms.append(latency_ms)
            if not ok:
                self.report.errors += 1


class _Payloads:
    """Realistic request payloads for one OCPP version, cheap to produce."""

    def __init__(self, ocpp_version: str) -> None:
        self.version = ocpp_version
        self.dialect = dialect_for(ocpp_version)
        reading = MeterSample(0, 11040.0, (16.0, 16.0, 16.1), (229.8, 230.4, 231.0))
        if ocpp_version == "1.6":
            self._static: list[Any] = sampled_values_16(reading, "Sample.Periodic")[1:]
        else:
            self._static = sampled_values_201(reading, "Sample.Periodic")[1:]

    def meter_values(self, register_wh: int) -> dict[str, Any]:
        ts = iso(datetime.now(UTC))
        if self.version == "1.6":
            register: dict[str, Any] = {
                "value": str(register_wh),
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
            return {
                "connectorId": 1,
                "meterValue": [{"timestamp": ts, "sampledValue": [register, *self._static]}],
            }
        register = {
            "value": register_wh,
            "context": "Sample.Periodic",
            "measurand": "Energy.Active.Import.Register",
            "unitOfMeasure": {"unit": "Wh"},
        }
        return {
            "evseId": 1,
            "meterValue": [{"timestamp": ts, "sampledValue": [register, *self._static]}],
        }

    def mixed(self, rng: random.Random, register_wh: int) -> tuple[str, dict[str, Any]]:
        """80 % MeterValues, 15 % Heartbeat, 5 % StatusNotification."""
        roll = rng.random()
        if roll < 0.80:
            return "MeterValues", self.meter_values(register_wh)
        if roll < 0.95:
            return "Heartbeat", {}
        return "StatusNotification", self.status(rng.choice(("Available", "Charging")))

    def status(self, status: str) -> dict[str, Any]:
        shown = self.dialect.connector_status(status)
        return self.dialect.status(1, shown, "NoError", iso(datetime.now(UTC)))[1]


def spread(url: Urls, ids: list[str]) -> list[tuple[str, str]]:
    """(node URL, station id) pairs: station i goes to ``urls[i % len(urls)]``."""
    urls = [url] if isinstance(url, str) else list(url)
    if not urls:
        raise ValueError("no node URL given")
    return [(urls[i % len(urls)], sid) for i, sid in enumerate(ids)]


async def _open(url: str, station_id: str, ocpp_version: str, password: str | None) -> _Link:
    ws = await open_websocket(
        url,
        station_id,
        ocpp_version,
        password=password,
        ping_interval=None,
        max_queue=4,
        open_timeout=CONNECT_TIMEOUT,
    )
    return _Link(ws)


async def _connect_all(
    targets: list[tuple[str, str]],
    ocpp_version: str,
    *,
    password: str | None,
    concurrency: int,
    boot: bool,
    report: LoadReport,
) -> list[_Link | None]:
    """Open every (url, station) connection, ``concurrency`` handshakes at a time; the result
    is aligned with ``targets`` (None where the connection failed, counted as an error)."""
    gate = asyncio.Semaphore(max(1, concurrency))
    boot_msg = dialect_for(ocpp_version).boot("PowerUp", "SN-BENCH")
    opened: list[_Link | None] = [None] * len(targets)

    async def one(i: int, url: str, station_id: str) -> None:
        async with gate:
            try:
                link = await _open(url, station_id, ocpp_version, password)
            except _LINK_ERRORS as exc:
                log.debug("%s: connect failed: %r", station_id, exc)
                report.errors += 1
                return
            report.stations_connected += 1
            opened[i] = link
        if boot:
            try:
                await link.call(*boot_msg)
            except _LINK_ERRORS:
                report.errors += 1

    try:
        await asyncio.gather(*(one(i, url, sid) for i, (url, sid) in enumerate(targets)))
    except BaseException:  # cancelled or timed out while connecting: do not leak sockets
        await asyncio.shield(_close_all([link for link in opened if link is not None]))
        raise
    return opened


async def _close_all(links: list[_Link]) -> None:
    await asyncio.gather(*(link.ws.close() for link in links), return_exceptions=True)


async def _drive(
    links: list[_Link], window: _Window, loop_fn: Callable[[int, _Link], Awaitable[None]]
) -> None:
    async def guarded(i: int, link: _Link) -> None:
        try:
            await loop_fn(i, link)
        except _LINK_ERRORS as exc:
            log.debug("link %d failed: %r", i, exc)
            window.report.errors += 1

    try:
        await asyncio.gather(*(guarded(i, link) for i, link in enumerate(links)))
    finally:
        await _close_all(links)


async def _start(
    url: Urls, ids: list[str], ocpp_version: str, duration: float, warmup: float, *,
    password: str | None, concurrency: int, boot: bool,
) -> tuple[list[_Link], _Window, _Payloads]:
    """Connect every station, then open the measuring window `warmup` seconds later."""
    raise_nofile_limit()
    report = LoadReport(0, 0, 0, duration)
    opened = await _connect_all(
        spread(url, ids), ocpp_version, password=password, concurrency=concurrency, boot=boot,
        report=report,
    )
    links = [link for link in opened if link is not None]
    t0 = perf_counter()
    return links, _Window(report, t0 + warmup, t0 + warmup + duration), _Payloads(ocpp_version)


async def meter_flood(
    url: Urls,
    stations: int,
    ocpp_version: str = "1.6",
    duration: float = 10.0,
    *,
    password: str | None = None,
    id_prefix: str = "BENCH",
    warmup: float = 2.0,
    connect_concurrency: int = 200,
    boot: bool = True,
) -> LoadReport:
    """Every station sends MeterValues back-to-back; answers inside the window count."""
    links, window, payloads = await _start(
        url, station_ids(id_prefix, stations), ocpp_version, duration, warmup,
        password=password, concurrency=connect_concurrency, boot=boot,
    )

    async def flood(i: int, link: _Link) -> None:
        register = 1_000_000 + i * 1000
        while perf_counter() < window.end:
            register += 31
            window.record(*await link.call("MeterValues", payloads.meter_values(register)))

    await _drive(links, window, flood)
    return window.report


async def realistic_mix(
    url: Urls,
    stations: int,
    ocpp_version: str = "1.6",
    duration: float = 30.0,
    *,
    per_station_interval: float = 1.0,
    password: str | None = None,
    id_prefix: str = "MIX",
    warmup: float = 2.0,
) -> LoadReport:
    """Each station sends ~1 message per ``per_station_interval`` s (Poisson): 80 % MeterValues,
    15 % Heartbeat, 5 % StatusNotification."""
    links, window, payloads = await _start(
        url, station_ids(id_prefix, stations), ocpp_version, duration, warmup,
        password=password, concurrency=MIX_CONNECT_CONCURRENCY, boot=True,
    )
    rate = 1.0 / max(per_station_interval, 1e-6)

    async def mix(i: int, link: _Link) -> None:
        rng = random.Random(i)  # noqa: S311 - load shape, not crypto
        register = 1_000_000 + i * 1000
        await asyncio.sleep(rng.uniform(0.0, per_station_interval))
        while perf_counter() < window.end:
            register += rng.randint(5, 40)
            window.record(*await link.call(*payloads.mixed(rng, register)))
            await asyncio.sleep(min(rng.expovariate(rate), max(0.0, window.end - perf_counter())))

    await _drive(links, window, mix)
    return window.report


class IdleHold:
    """Open idle station connections; they stay open until ``__aexit__`` / ``aclose``."""

    def __init__(self, links: list[_Link], failed: int) -> None:
        self._links = links
        self.connected = len(links)
        self.failed = failed

    async def __aenter__(self) -> IdleHold:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        links, self._links = self._links, []
        await _close_all(links)
        self.connected = 0


async def hold_idle(
    url: Urls,
    stations: int,
    ocpp_version: str = "1.6",
    *,
    password: str | None = None,
    id_prefix: str = "IDLE",
    connect_concurrency: int = 200,
    boot: bool = False,
) -> IdleHold:
    """Connect ``stations`` idle stations (no pings) and return them held open."""
    raise_nofile_limit()
    report = LoadReport(0, 0, 0, 0.0)
    opened = await _connect_all(
        spread(url, station_ids(id_prefix, stations)),
        ocpp_version,
        password=password,
        concurrency=connect_concurrency,
        boot=boot,
        report=report,
    )
    return IdleHold([link for link in opened if link is not None], report.errors)


# --------------------------------------------------------------------------- realistic stations


@dataclass(frozen=True)
class MixShape:
    """What each station of ``station_mix`` does, in station seconds.

    A Heartbeat every ``heartbeat_s``; sessions of ``session_s`` separated by idle gaps of
    ``gap_s`` (each drawn uniformly); while charging, MeterValues every ``meter_s`` seconds
    (each station draws its own interval once). A session start is StatusNotification
    Preparing, Authorize, StartTransaction (2.0.1: TransactionEvent Started), StatusNotification
    Charging; a stop is StopTransaction (TransactionEvent Ended), StatusNotification Finishing,
    StatusNotification Available. Each station starts at a random point of its cycle.
    ``speedup`` station seconds pass per real second; 0 sends the same sequence back-to-back.
    """

    heartbeat_s: float = 60.0
    meter_s: tuple[float, float] = (10.0, 60.0)
    session_s: tuple[float, float] = (20 * 60.0, 60 * 60.0)
    gap_s: tuple[float, float] = (5 * 60.0, 20 * 60.0)
    speedup: float = 10.0

    def describe(self) -> str:
        pace = f"{self.speedup:g}x real time" if self.speedup > 0 else "back-to-back"
        return (
            f"heartbeat {self.heartbeat_s:g} s, meter values every "
            f"{self.meter_s[0]:g}-{self.meter_s[1]:g} s while charging, sessions "
            f"{self.session_s[0] / 60:g}-{self.session_s[1] / 60:g} min, gaps "
            f"{self.gap_s[0] / 60:g}-{self.gap_s[1] / 60:g} min; {pace}"
        )


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays like OCPP 2.0.1's RetryBackOff* variables: before attempt k (0-based)
    a station waits ``base * factor ** min(k, doublings) + uniform(0, jitter)`` real seconds,
    trying the next node URL each time (a load balancer moving it to another node)."""

    base: float = 1.0
    factor: float = 2.0
    doublings: int = 3
    jitter: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return self.base * self.factor ** min(attempt, self.doublings) + rng.uniform(0, self.jitter)

    def describe(self) -> str:
        longest = self.base * self.factor**self.doublings
        return (
            f"{self.base:g} s x {self.factor:g}^attempt (at most {longest:g} s) "
            f"+ uniform(0, {self.jitter:g} s) jitter"
        )


@dataclass
class Reconnect:
    """One station's way back after its link dropped (perf_counter times)."""

    station: str
    dropped_at: float  # the station saw its link close
    back_at: float | None  # its resume CALL was answered on a node; None: not back in time
    attempts: int  # connection attempts made (1: the first try worked)
    url: str | None  # the node it got back on


@dataclass
class MixReport(LoadReport):
    sent: int = 0  # CALLs sent inside the window (offered load)
    actions: Counter[str] = field(default_factory=Counter)  # answered inside the window
    action_latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    lost: int = 0  # CALLs whose link dropped before the answer
    stations_by_url: Counter[str] = field(default_factory=Counter)  # connected at the start
    reconnects: list[Reconnect] = field(default_factory=list)


def mix_token(index: int) -> str:
    """The id token station ``index`` (0-based) of ``station_mix`` charges with: register
    these on the CSMS (status Accepted) or its sessions are refused as unknown tokens."""
    return f"TAG{index:06d}"


def _timeline(
    shape: MixShape, meter_every: float, rng: random.Random
) -> Iterator[tuple[float, str]]:
    """(station seconds, what) forever: "heartbeat", "meter", "start", "stop". A station
    that is charging at 0 begins with ``(0.0, "start")`` (``station_mix`` does that start
    before the clock runs, so the mix is in its steady state from the first second)."""
    session_mean, gap_mean = sum(shape.session_s) / 2, sum(shape.gap_s) / 2
    charging = rng.random() < session_mean / (session_mean + gap_mean)
    beat = rng.uniform(0.0, shape.heartbeat_s)
    if charging:
        yield 0.0, "start"
        toggle = rng.uniform(0.0, rng.uniform(*shape.session_s))
        meter = meter_every
    else:
        toggle = rng.uniform(0.0, rng.uniform(*shape.gap_s))
        meter = math.inf
    while True:
        at = min(beat, meter, toggle)
        if at == beat:
            yield at, "heartbeat"
            beat += shape.heartbeat_s
        elif at == meter:
            yield at, "meter"
            meter += meter_every
        elif charging:
            yield at, "stop"
            charging, meter = False, math.inf
            toggle = at + rng.uniform(*shape.gap_s)
        else:
            yield at, "start"
            charging, meter = True, at + meter_every
            toggle = at + rng.uniform(*shape.session_s)


class _MixStation:
    """One realistic station: follows its timeline, fails over when its node goes away."""

    def __init__(
        self, index: int, station_id: str, urls: list[str], link: _Link | None,
        ctx: _MixContext,
    ) -> None:
        self.index = index
        self.id = station_id
        self.urls = urls
        self.home = index % len(urls)
        self.hop = 1 + index // len(urls) % max(1, len(urls) - 1)  # spreads a node's stations
        self.link = link
        self.ctx = ctx
        self.rng = random.Random(index)  # noqa: S311 - load shape, not crypto
        self.register = 1_000_000 + index * 1000
        self.session: Session | None = None
        self.meter_every = self.rng.uniform(*ctx.shape.meter_s)
        self.timeline = _timeline(ctx.shape, self.meter_every, self.rng)
        self.next = next(self.timeline)

    # -- messages

    def _sample(self) -> MeterSample:
        return MeterSample(self.register, 11040.0, (16.0, 16.0, 16.1), (229.8, 230.4, 231.0))

    def _status(self, status: str) -> tuple[str, dict[str, Any]]:
        d = self.ctx.dialect
        return d.status(1, d.connector_status(status), "NoError", iso(datetime.now(UTC)))

    def _meter(self, session: Session) -> tuple[str, dict[str, Any]]:
        self.register += max(1, int(11040.0 * self.meter_every / 3600.0))
        if self.ctx.dialect.version == "1.6":  # the flood's cached frame plus the transaction
            payload = self.ctx.payloads.meter_values(self.register)
            payload["transactionId"] = session.tx_id
            return "MeterValues", payload
        return self.ctx.dialect.update(session, self._sample(), iso(datetime.now(UTC)))

    async def _call(self, message: tuple[str, dict[str, Any]]) -> bool:
        """One CALL in the window's books; False when the link dropped (the station is then
        back on some node, or out of time)."""
        if self.link is None:
            return False
        window, report = self.ctx.window, self.ctx.report
        counted = window.start <= perf_counter() < window.end
        if counted:
            report.sent += 1
        try:
            ok, at, latency = await self.link.call(*message)
        except _LINK_ERRORS:
            report.lost += 1
            await self._reconnect()
            return False
        window.record(ok, at, latency)
        if window.start <= at < window.end:
            report.actions[message[0]] += 1
            report.action_latencies_ms.setdefault(message[0], []).append(latency)
        return ok

    async def _act(self, what: str) -> None:
        d = self.ctx.dialect
        if what == "heartbeat":
            await self._call(d.heartbeat())
        elif what == "meter":
            if self.session is not None:
                await self._call(self._meter(self.session))
        elif what == "start":
            session = Session(1, mix_token(self.index), ChargeProfile(11040.0, 3, 100))
            session.tx_id = d.local_tx_id(self.rng)
            for step in (self._status("Preparing"), d.authorize(session.id_tag, session.token_type)):
                await self._call(step)
            start = d.start(session, self._sample(), iso(datetime.now(UTC)))
            if await self._call(start) and self.link is not None:
                d.start_status(session, self.link.answer or {})
            if session.tx_id is None:  # a server that gives no id (the bare reference): keep
                session.tx_id = self.index + 1  # the same message mix with an id of our own
            self.session = session
            await self._call(self._status("Charging"))
        elif what == "stop":
            if self.session is not None:
                await self._call(d.end(self.session, self._sample(), iso(datetime.now(UTC))))
                self.session = None
            for status in ("Finishing", "Available"):
                await self._call(self._status(status))

    async def prepare(self) -> None:
        """Start the session a station is in the middle of when the run begins."""
        if self.link is not None and self.next == (0.0, "start"):
            await self._act("start")
            self.next = next(self.timeline)

    async def run(self) -> None:
        if self.link is None:
            return
        shape, window = self.ctx.shape, self.ctx.window
        for at, what in itertools.chain((self.next,), self.timeline):
            if shape.speedup > 0:
                due = self.ctx.t0 + at / shape.speedup
                if not await self._pause(min(due, window.end)):
                    await self._reconnect()
            if perf_counter() >= window.end or self.link is None:
                return
            await self._act(what)

    async def _pause(self, until: float) -> bool:
        """Sleep until ``until``; False as soon as the link closes meanwhile."""
        delay = until - perf_counter()
        if self.link is None or delay <= 0:
            return self.link is not None and self.link.ws.close_code is None
        try:
            await asyncio.wait_for(self.link.ws.wait_closed(), delay)
        except TimeoutError:
            return True
        return False

    async def _reconnect(self) -> None:
        """Back off, try the next node URL, resume there; recorded in the report."""
        ctx = self.ctx
        dropped = perf_counter()
        if self.link is not None:
            ctx.retired.append(self.link)
        self.link = None
        if not ctx.t0:  # dropped while the run is being set up: this station is out
            ctx.report.errors += 1
            return
        record = Reconnect(self.id, dropped, None, 0, None)
        ctx.report.reconnects.append(record)
        while True:
            pause = ctx.backoff.delay(record.attempts, self.rng)
            if perf_counter() + pause >= ctx.window.end:
                return
            await asyncio.sleep(pause)
            url = self.urls[(self.home + self.hop + record.attempts) % len(self.urls)]
            record.attempts += 1
            try:
                link = await _open(url, self.id, ctx.dialect.version, ctx.password)
            except _LINK_ERRORS as exc:
                log.debug("%s: reconnect to %s failed: %r", self.id, url, exc)
                continue
            try:
                ok, at, latency = await link.call(*ctx.resume())
            except _LINK_ERRORS:
                ctx.retired.append(link)
                continue
            ctx.window.record(ok, at, latency)
            if not ok:
                ctx.retired.append(link)
                continue
            self.link, self.home = link, self.urls.index(url)
            record.back_at, record.url = at, url
            return


@dataclass
class _MixContext:
    dialect: Dialect
    payloads: _Payloads
    shape: MixShape
    backoff: Backoff
    password: str | None
    resume: Callable[[], tuple[str, dict[str, Any]]]
    report: MixReport
    window: _Window
    t0: float = 0.0
    retired: list[_Link] = field(default_factory=list)


async def station_mix(
    url: Urls,
    stations: int,
    ocpp_version: str = "1.6",
    duration: float = 30.0,
    *,
    shape: MixShape | None = None,
    backoff: Backoff | None = None,
    resume: str = "boot",
    password: str | None = None,
    id_prefix: str = "ST",
    warmup: float = 2.0,
    started: asyncio.Event | None = None,
) -> MixReport:
    """Stations that behave like real ones (``MixShape``), spread over the node URLs.

    Every station connects and boots first, and those charging at the start begin their
    session (both outside the books); then their timelines start and ``started`` is set; answers count from ``warmup`` seconds later for ``duration`` seconds. A station whose
    link drops reconnects with ``backoff`` to another URL (a node's stations spread evenly over
    the others, each trying the next URL after a failed attempt) and resumes there with a
    BootNotification (``resume="boot"``) or a StatusNotification (``"status"``), then goes on
    with its timeline (an open session continues on the new node).
    """
    raise_nofile_limit()
    shape = shape or MixShape()
    dialect = dialect_for(ocpp_version)
    ids = station_ids(id_prefix, stations)
    targets = spread(url, ids)
    urls = sorted(set(u for u, _ in targets), key=[u for u, _ in targets].index)
    report = MixReport(0, 0, 0, duration)
    opened = await _connect_all(
        targets, ocpp_version, password=password, concurrency=MIX_CONNECT_CONCURRENCY,
        boot=True, report=report,
    )
    report.stations_by_url.update(u for (u, _), link in zip(targets, opened, strict=True) if link)
    ctx = _MixContext(
        dialect, _Payloads(ocpp_version), shape, backoff or Backoff(), password,
        (lambda: dialect.boot("PowerUp", "SN-BENCH")) if resume == "boot" else _available(dialect),
        report, _Window(report, math.inf, math.inf),
    )
    fleet = [_MixStation(i, sid, urls, opened[i], ctx) for i, sid in enumerate(ids)]
    gate = asyncio.Semaphore(MIX_CONNECT_CONCURRENCY)

    async def prepare(station: _MixStation) -> None:
        async with gate:
            await station.prepare()

    try:
        await asyncio.gather(*(prepare(st) for st in fleet))
    except BaseException:
        await asyncio.shield(_close_all([st.link for st in fleet if st.link] + ctx.retired))
        raise
    ctx.t0 = perf_counter()
    ctx.window.start, ctx.window.end = ctx.t0 + warmup, ctx.t0 + warmup + duration
    if started is not None:
        started.set()

    async def guarded(station: _MixStation) -> None:
        try:
            await station.run()
        except _LINK_ERRORS as exc:  # a reconnect's own failure: the station is out
            log.debug("%s failed: %r", station.id, exc)
            report.errors += 1

    try:
        await asyncio.gather(*(guarded(st) for st in fleet))
    finally:
        links = [st.link for st in fleet if st.link is not None]
        await _close_all(links + ctx.retired)
    return report


def _available(dialect: Dialect) -> Callable[[], tuple[str, dict[str, Any]]]:
    """A StatusNotification Available, stamped when it is sent."""
    status = dialect.connector_status("Available")
    return lambda: dialect.status(1, status, "NoError", iso(datetime.now(UTC)))

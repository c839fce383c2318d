"""Benchmark load generator: thousands of lean OCPP-J connections in one process.

Each connection is a bare websocket (no reader task, no keepalive pings); a CALL is
``send`` followed by ``recv`` until the matching answer. The measured window starts
``warmup`` seconds after every station has connected (and booted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import perf_counter
from types import TracebackType
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, WebSocketException

from evcsms.simulator.client import CALL, CALLERROR, CALLRESULT, open_websocket, station_ids
from evcsms.simulator.messages import dialect_for, iso
from evcsms.simulator.meter import MeterSample, sampled_values_16, sampled_values_201

__all__ = [
    "IdleHold",
    "LoadReport",
    "hold_idle",
    "meter_flood",
    "raise_nofile_limit",
    "realistic_mix",
]

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
        if not self.latencies_ms:
            return 0.0
        data = sorted(self.latencies_ms)
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

    __slots__ = ("next_id", "ws")

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

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


async def _connect_all(
    url: str,
    ids: list[str],
    ocpp_version: str,
    *,
    password: str | None,
    concurrency: int,
    boot: bool,
    report: LoadReport,
) -> list[_Link]:
    """Open every connection (``concurrency`` handshakes at a time); failures count as errors."""
    gate = asyncio.Semaphore(max(1, concurrency))
    boot_msg = dialect_for(ocpp_version).boot("PowerUp", "SN-BENCH")
    opened: list[_Link] = []

    async def one(station_id: str) -> None:
        async with gate:
            try:
                ws = await open_websocket(
                    url,
                    station_id,
                    ocpp_version,
                    password=password,
                    ping_interval=None,
                    max_queue=4,
                    open_timeout=CONNECT_TIMEOUT,
                )
            except _LINK_ERRORS as exc:
                log.debug("%s: connect failed: %r", station_id, exc)
                report.errors += 1
                return
            report.stations_connected += 1
            link = _Link(ws)
            opened.append(link)
        if boot:
            try:
                await link.call(*boot_msg)
            except _LINK_ERRORS:
                report.errors += 1

    try:
        await asyncio.gather(*(one(sid) for sid in ids))
    except BaseException:  # cancelled or timed out while connecting: do not leak sockets
        await asyncio.shield(_close_all(opened))
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
    url: str, ids: list[str], ocpp_version: str, duration: float, warmup: float, *,
    password: str | None, concurrency: int, boot: bool,
) -> tuple[list[_Link], _Window, _Payloads]:
    """Connect every station, then open the measuring window `warmup` seconds later."""
    raise_nofile_limit()
    report = LoadReport(0, 0, 0, duration)
    links = await _connect_all(
        url, ids, ocpp_version, password=password, concurrency=concurrency, boot=boot,
        report=report,
    )
    t0 = perf_counter()
    return links, _Window(report, t0 + warmup, t0 + warmup + duration), _Payloads(ocpp_version)


async def meter_flood(
    url: str,
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
    url: str,
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
    url: str,
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
    links = await _connect_all(
        url,
        station_ids(id_prefix, stations),
        ocpp_version,
        password=password,
        concurrency=connect_concurrency,
        boot=boot,
        report=report,
    )
    return IdleHold(links, report.errors)

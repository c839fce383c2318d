"""TEMPORARY stand-in for evcsms.simulator.load (same interface) -- delete when the real one lands."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect


@dataclass
class LoadReport:
    stations_connected: int
    messages: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)

    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return math.nan
        data = sorted(self.latencies_ms)
        k = min(len(data) - 1, max(0, math.ceil(p / 100 * len(data)) - 1))
        return data[k]


_ids = itertools.count()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _payload(action: str, v: str) -> dict[str, Any]:
    if action == "BootNotification":
        if v == "1.6":
            return {"chargePointVendor": "Bench", "chargePointModel": "Load"}
        return {"chargingStation": {"vendorName": "Bench", "model": "Load"}, "reason": "PowerUp"}
    if action == "Heartbeat":
        return {}
    if action == "StatusNotification":
        if v == "1.6":
            return {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        return {"timestamp": _now(), "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    sv: dict[str, Any] = {"measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    if v == "1.6":
        sv["value"] = str(random.randint(0, 10**6))
        return {"connectorId": 1, "meterValue": [{"timestamp": _now(), "sampledValue": [sv]}]}
    sv = {"value": float(random.randint(0, 10**6)), "measurand": "Energy.Active.Import.Register"}
    return {"evseId": 1, "meterValue": [{"timestamp": _now(), "sampledValue": [sv]}]}


async def _call(ws: ClientConnection, action: str, v: str) -> bool:
    uid = str(next(_ids))
    await ws.send(orjson.dumps([2, uid, action, _payload(action, v)]), text=True)
    reply = orjson.loads(await ws.recv(decode=False))
    return bool(reply[0] == 3 and reply[1] == uid)


async def _open(url: str, sid: str, v: str, boot: bool) -> ClientConnection:
    sp = "ocpp1.6" if v == "1.6" else "ocpp2.0.1"
    ws = await connect(
        f"{url}/{sid}", subprotocols=[sp], compression=None, open_timeout=60, ping_interval=None
    )
    if boot:
        await _call(ws, "BootNotification", v)
    return ws


async def _open_all(
    url: str, n: int, v: str, prefix: str, conc: int, boot: bool
) -> list[ClientConnection]:
    sem = asyncio.Semaphore(conc)

    async def one(i: int) -> ClientConnection | None:
        async with sem:
            try:
                return await _open(url, f"{prefix}{i:06d}", v, boot)
            except Exception:
                return None

    res = await asyncio.gather(*(one(i) for i in range(n)))
    return [w for w in res if w is not None]


async def _close_all(conns: list[ClientConnection]) -> None:
    async def close(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(w) for w in conns))


async def _drive(conns, v, warmup, duration, pick, interval):  # type: ignore[no-untyped-def]
    rep = LoadReport(len(conns), 0, 0, duration)
    start = time.perf_counter()
    t0, t1 = start + warmup, start + warmup + duration

    async def station(ws: ClientConnection) -> None:
        if interval:
            await asyncio.sleep(random.random() * interval)
        while True:
            sent = time.perf_counter()
            if sent >= t1:
                return
            try:
                ok = await _call(ws, pick(), v)
            except Exception:
                rep.errors += 1
                return
            done = time.perf_counter()
            if sent >= t0 and done <= t1:
                if ok:
                    rep.messages += 1
                    rep.latencies_ms.append((done - sent) * 1000)
                else:
                    rep.errors += 1
            if interval:
                await asyncio.sleep(max(0.0, interval - (done - sent)))

    await asyncio.gather(*(station(w) for w in conns))
    return rep


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
    conns = await _open_all(url, stations, ocpp_version, id_prefix, connect_concurrency, boot)
    try:
        return await _drive(conns, ocpp_version, warmup, duration, lambda: "MeterValues", 0.0)
    finally:
        await _close_all(conns)


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
    conns = await _open_all(url, stations, ocpp_version, id_prefix, 200, True)

    def pick() -> str:
        r = random.random()
        return "MeterValues" if r < 0.8 else "Heartbeat" if r < 0.9 else "StatusNotification"

    try:
        return await _drive(conns, ocpp_version, warmup, duration, pick, per_station_interval)
    finally:
        await _close_all(conns)


class IdleHold:
    def __init__(self, url: str, n: int, v: str, prefix: str, conc: int, boot: bool) -> None:
        self._args = (url, n, v, prefix, conc, boot)
        self.conns: list[ClientConnection] = []

    @property
    def connected(self) -> int:
        return len(self.conns)

    async def __aenter__(self) -> IdleHold:
        self.conns = await _open_all(*self._args)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await _close_all(self.conns)


def hold_idle(
    url: str,
    stations: int,
    ocpp_version: str = "1.6",
    *,
    password: str | None = None,
    id_prefix: str = "IDLE",
    connect_concurrency: int = 200,
    boot: bool = False,
) -> IdleHold:
    return IdleHold(url, stations, ocpp_version, id_prefix, connect_concurrency, boot)

"""PostgreSQL unreachable for 30 s, and PostgreSQL restarting, under a real node with
stations charging (issue 6).

The node reaches PostgreSQL through a proxy this test controls (the real server is
shared with other tests and never touched). Raw WebSocket stations, 1.6 and 2.0.1, are
in a charging session: a meter value every 0.5 s (1.6 MeterValues, 2.0.1 TransactionEvent
Updated), a Heartbeat every second, and, like a real station, every transaction message
that got a CALLERROR or no answer is kept and sent again, in order.

During the outage Heartbeats are answered, transaction messages get CALLERROR
InternalError "storage unavailable, retry later" at once; after it they are acknowledged,
every acknowledged meter value is stored exactly once, the sessions end with the energy
the stations measured and a new session starts and stores.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

from evcsms.bootstrap import build_services, close_services
from evcsms.settings import Settings
from evcsms.storage import tables as t
from tests.conftest import PG_URL, _truncate
from tests.integration.conftest import Running, open_station, running
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

STORAGE_TIMEOUT = 2.0  # EVCSMS_STORAGE_TIMEOUT for these nodes
OUTAGE = 30.0  # the figure
ANSWER_WITHIN = 10.0  # a station waits this long for an answer (OCPP stations: ~30 s)
REGISTER = "Energy.Active.Import.Register"
UNAVAILABLE = "storage unavailable, retry later"
_ids = itertools.count(1)


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Outcome:
    action: str
    sent: float  # monotonic
    latency: float
    result: str  # "ok", a CALLERROR code or "timeout"
    description: str = ""


@dataclass
class Station:
    """A charging station: one CALL at a time, transaction messages queued until acked."""

    ws: ClientConnection
    station_id: str
    version: str  # "1.6" | "2.0.1"
    register: int = 1000  # Wh
    tx: Any = None  # 1.6 transactionId (int), 2.0.1 transactionId (str)
    seq: int = 0
    queue: deque[tuple[str, dict[str, Any], str | None]] = field(default_factory=deque)
    outcomes: list[Outcome] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # register sample timestamps acknowledged

    async def call(self, action: str, payload: dict[str, Any]) -> tuple[str, Any]:
        unique_id = f"m{next(_ids)}"
        sent = time.monotonic()
        await self.ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
        deadline = sent + ANSWER_WITHIN
        while True:
            try:
                frame = orjson.loads(await asyncio.wait_for(
                    self.ws.recv(), max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                self.outcomes.append(Outcome(action, sent, time.monotonic() - sent, "timeout"))
                return "timeout", None
            if frame[0] == 2:  # a CALL of the node's: accept whatever it is
                await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
                continue
            if frame[1] != unique_id:
                continue  # a late answer to a CALL given up on
            latency = time.monotonic() - sent
            if frame[0] == 3:
                self.outcomes.append(Outcome(action, sent, latency, "ok"))
                return "ok", frame[2]
            self.outcomes.append(Outcome(action, sent, latency, frame[2], frame[3]))
            return frame[2], frame[3]

    # -- messages --------------------------------------------------------------------------

    def boot(self) -> tuple[str, dict[str, Any]]:
        if self.version == "1.6":
            return "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        return "BootNotification", {"reason": "PowerUp",
                                    "chargingStation": {"model": "M", "vendorName": "V"}}

    def sample(self, at: str) -> dict[str, Any]:
        if self.version == "1.6":
            return {"timestamp": at, "sampledValue": [
                {"value": str(self.register), "measurand": REGISTER, "unit": "Wh"}]}
        return {"timestamp": at, "sampledValue": [
            {"value": self.register, "measurand": REGISTER, "unitOfMeasure": {"unit": "Wh"}}]}

    def event(self, kind: str, trigger: str, at: str, **extra: Any) -> dict[str, Any]:
        payload = {"eventType": kind, "timestamp": at, "triggerReason": trigger,
                   "seqNo": self.seq, "transactionInfo": {"transactionId": self.tx, **extra},
                   "evse": {"id": 1, "connectorId": 1}, "meterValue": [self.sample(at)]}
        self.seq += 1
        return payload

    async def start(self) -> None:
        at = stamp()
        if self.version == "1.6":
            result, answer = await self.call("StartTransaction", {
                "connectorId": 1, "idTag": "TAG", "meterStart": self.register, "timestamp": at})
            assert result == "ok", answer
            self.tx = answer["transactionId"]
            return
        self.tx = f"TX-{uuid.uuid4().hex[:8]}"
        payload = self.event("Started", "Authorized", at, chargingState="Charging")
        payload["idToken"] = {"idToken": "TAG", "type": "ISO14443"}
        result, answer = await self.call("TransactionEvent", payload)
        assert result == "ok", answer
        self.acked.append(at)

    def meter(self) -> None:
        """Charge 10 Wh and queue the reading."""
        self.register += 10
        at = stamp()
        if self.version == "1.6":
            self.queue.append(("MeterValues", {"connectorId": 1, "transactionId": self.tx,
                                               "meterValue": [self.sample(at)]}, at))
        else:
            self.queue.append(("TransactionEvent",
                               self.event("Updated", "MeterValuePeriodic", at), at))

    def stop(self) -> None:
        at = stamp()
        if self.version == "1.6":
            self.queue.append(("StopTransaction", {"transactionId": self.tx, "timestamp": at,
                                                   "meterStop": self.register, "reason": "Local"},
                               None))
        else:
            self.queue.append(("TransactionEvent", self.event(
                "Ended", "StopAuthorized", at, stoppedReason="Local"), at))

    async def send_queued(self) -> bool:
        """Send the oldest queued transaction message; False if it must be sent again."""
        action, payload, sample_at = self.queue[0]
        result, _ = await self.call(action, payload)
        if result != "ok":
            return False
        self.queue.popleft()
        if sample_at is not None:
            self.acked.append(sample_at)
        return True

    async def charge(self, until: asyncio.Event) -> None:
        """Meter values every 0.5 s, a Heartbeat every second, retries after 0.5 s."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        next_sample = next_beat + 0.5  # 10 Wh per 0.5 s after the start's reading: 72 kW
        while not until.is_set():
            now = loop.time()
            if now >= next_sample:
                self.meter()
                next_sample = now + 0.5  # a meter reads on its own clock: no catching up
            if now >= next_beat:
                await self.call("Heartbeat", {})
                next_beat = now + 1.0
            if self.queue and not await self.send_queued():
                await asyncio.sleep(0.5)
            elif not self.queue:
                await asyncio.sleep(0.05)

    async def finish(self) -> None:
        """Stop charging, send everything queued (retrying) and end the session."""
        self.stop()
        deadline = time.monotonic() + 20
        while self.queue:
            assert time.monotonic() < deadline, f"{self.station_id}: {len(self.queue)} unacked"
            if not await self.send_queued():
                await asyncio.sleep(0.5)


@pytest.fixture
async def node(pg_schema: str) -> AsyncIterator[tuple[Running, TcpProxy]]:
    await _truncate(PG_URL, pg_schema)
    proxy = TcpProxy("127.0.0.1", 5432)
    port = await proxy.start()
    settings = Settings(database_url=PG_URL.replace(":5432/", f":{port}/"),
                        database_schema=pg_schema, heartbeat_interval=60,
                        storage_timeout=STORAGE_TIMEOUT)
    services = await build_services(settings)
    try:
        async with running(services, settings) as server:
            yield server, proxy
    finally:
        await proxy.restore()
        await close_services(services)
        await proxy.close()


async def connect(server: Running, station_id: str, version: str) -> Station:
    await server.services.stations.create(station_id, password=None)
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    ws = await open_station(server, station_id, subprotocols=(protocol,))
    station = Station(ws, station_id, version)
    result, answer = await station.call(*station.boot())
    assert result == "ok" and answer["status"] == "Accepted", answer
    return station


async def session_of(server: Running, station: Station) -> Any:
    async with server.services.engine.connect() as conn:
        return (await conn.execute(select(t.ChargingSession).where(
            t.ChargingSession.station_id == station.station_id,
            t.ChargingSession.transaction_ref == str(station.tx)))).one()


async def check_stored(server: Running, station: Station) -> Any:
    """Every acknowledged meter value stored exactly once; the session's energy is the
    station's."""
    session = await session_of(server, station)
    samples = await server.services.sessions.samples(session.id)
    stored = [s.timestamp for s in samples if s.measurand == REGISTER]
    assert len(stored) == len(set(stored)), f"{station.station_id}: a sample stored twice"
    acked = {datetime.fromisoformat(at.replace("Z", "+00:00")) for at in station.acked}
    assert set(stored) == acked, (f"{station.station_id}: {len(acked - set(stored))} acked "
                                  f"not stored, {len(set(stored) - acked)} stored not acked")
    assert session.status == "completed"
    assert session.energy_wh == Decimal(station.register - 1000), (
        station.station_id, session.meter_anomalies, session.meter_start_wh, session.meter_stop_wh)
    return session


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: n={len(values)} median={statistics.median(values) * 1000:.0f} ms "
            f"max={max(values) * 1000:.0f} ms")


async def test_stations_ride_out_30_s_without_postgresql(
        node: tuple[Running, TcpProxy]) -> None:
    server, proxy = node
    await server.services.tokens.create("TAG")
    stations = [await connect(server, f"OUT16-{uuid.uuid4().hex[:6]}", "1.6"),
                await connect(server, f"OUT201-{uuid.uuid4().hex[:6]}", "2.0.1")]
    for station in stations:
        await station.start()
    stop = asyncio.Event()
    charging = [asyncio.create_task(s.charge(stop)) for s in stations]

    await asyncio.sleep(3)
    cut_at = time.monotonic()
    await proxy.cut("blackhole")  # unreachable: existing links reset, connects hang
    await asyncio.sleep(OUTAGE)
    restored_at = time.monotonic()
    await proxy.restore()
    await asyncio.sleep(4)
    stop.set()
    await asyncio.gather(*charging)
    for station in stations:
        await station.finish()

    report = [f"outage {OUTAGE:.0f} s (blackhole), storage timeout {STORAGE_TIMEOUT:g} s"]
    for station in stations:
        outcomes = station.outcomes
        beats = [o for o in outcomes if o.action == "Heartbeat"]
        assert beats and all(o.result == "ok" for o in beats), [o for o in beats if o.result != "ok"]
        during = [o for o in outcomes if o.action != "Heartbeat"
                  and cut_at + 0.2 < o.sent and o.sent + o.latency < restored_at]
        assert during and all(o.result == "InternalError" and o.description == UNAVAILABLE
                              for o in during), {(o.result, o.description) for o in during}
        assert not [o for o in outcomes if o.result == "timeout"]
        assert max(o.latency for o in outcomes) < STORAGE_TIMEOUT * 2 + 1
        first_ack = min(o.sent + o.latency for o in outcomes if o.action != "Heartbeat"
                        and o.result == "ok" and o.sent > restored_at)
        beats_out = [o.latency for o in beats if cut_at < o.sent < restored_at]
        report += [
            f"{station.version} slowest answer of the whole run: "
            f"{max(o.latency for o in outcomes) * 1000:.0f} ms",
            f"{station.version} {summary('CALLERROR during outage', [o.latency for o in during])}",
            f"{station.version} {summary('Heartbeat during outage', beats_out)}",
            f"{station.version} first transaction message acked {first_ack - restored_at:.2f} s "
            f"after the database came back; {len(station.acked)} samples acked",
        ]
        await check_stored(server, station)

    # the node works normally after: a new session starts and stores
    fresh = stations[0]
    fresh.register += 100
    start_register = fresh.register
    await fresh.start()
    await asyncio.sleep(0.5)  # 10 Wh in 0.5 s: 72 kW (faster is implausible and not counted)
    fresh.meter()
    await fresh.finish()
    session = await session_of(server, fresh)
    assert session.status == "completed" and session.energy_wh == Decimal(fresh.register - start_register)

    # frames logged during the outage were kept and written once the database was back
    await server.services.writer.barrier()
    fresh.meter()  # one more frame flushes what the log kept
    await fresh.send_queued()
    await server.services.writer.barrier()
    async with server.services.engine.connect() as conn:
        logged = await conn.scalar(select(func.count()).select_from(t.MessageLogEntry).where(
            t.MessageLogEntry.station_id == fresh.station_id,
            t.MessageLogEntry.frame.contains(UNAVAILABLE)))
    assert logged, "the CALLERRORs of the outage are in the message log"
    for station in stations:
        await station.ws.close()
    print("\n" + "\n".join(report))


async def test_a_postgresql_restart_loses_nothing(node: tuple[Running, TcpProxy]) -> None:
    """Every connection of the node dies at once (a restart) three times while stations
    charge: nothing acknowledged is lost, nothing is stored twice, no CALL goes unanswered."""
    server, proxy = node
    await server.services.tokens.create("TAG")
    stations = [await connect(server, f"RST16-{uuid.uuid4().hex[:6]}", "1.6"),
                await connect(server, f"RST201-{uuid.uuid4().hex[:6]}", "2.0.1")]
    for station in stations:
        await station.start()
    stop = asyncio.Event()
    charging = [asyncio.create_task(s.charge(stop)) for s in stations]
    for _ in range(3):
        await asyncio.sleep(1.5)
        proxy.drop_connections()
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*charging)
    for station in stations:
        await station.finish()
    errors = []
    for station in stations:
        assert all(o.result == "ok" for o in station.outcomes if o.action == "Heartbeat")
        assert not [o for o in station.outcomes if o.result == "timeout"]
        errors += [o for o in station.outcomes if o.result != "ok"]
        await check_stored(server, station)
        await station.ws.close()
    print(f"\nrestart x3: {sum(len(s.outcomes) for s in stations)} CALLs, "
          f"{len(errors)} CALLERRORs ({[(e.action, e.result) for e in errors]}), "
          f"{proxy.accepted} connections opened")

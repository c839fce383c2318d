"""NATS restarts under two nodes (issue 6): while it is down a command fails at once and
says why; once it is back, commands reach the station again and events flow again.

The nodes use a private nats-server this test starts, stops and starts again on the same
port (the machine's shared server is never touched); PostgreSQL is the machine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from evcsms.bootstrap import build_services, close_services
from evcsms.settings import Settings
from tests.conftest import PG_URL, _port_open, _truncate
from tests.integration.conftest import Running, open_station, running

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class PrivateNats:
    """A nats-server process of this test's own, on a fixed free port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _port_open(self.port):
            assert self.process.poll() is None, "nats-server exited"
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


@pytest.fixture
def nats() -> Iterator[PrivateNats]:
    if not os.path.exists(NATS_SERVER):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NATS_SERVER} not found (required under CI=true)")
        pytest.skip(f"{NATS_SERVER} not found")
    server = PrivateNats()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def cluster(pg_schema: str, nats: PrivateNats) -> AsyncIterator[tuple[Running, Running]]:
    await _truncate(PG_URL, pg_schema)
    settings = Settings(database_url=PG_URL, database_schema=pg_schema, heartbeat_interval=60,
                        bus_url=nats.url)
    a = await build_services(settings)
    b = await build_services(settings)
    try:
        async with running(a, settings) as node_a, running(b, settings) as node_b:
            yield node_a, node_b
    finally:
        await close_services(a)
        await close_services(b)


class Station:
    """A 1.6 station that accepts every command and can send CALLs of its own."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.commands: list[Any] = []
        self.answers: asyncio.Queue[Any] = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.ws:
                frame = orjson.loads(text)
                if frame[0] == 2:
                    self.commands.append(frame)
                    await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
                else:
                    await self.answers.put(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        await self.ws.send(orjson.dumps([2, uuid.uuid4().hex[:8], action, payload]).decode())
        return await asyncio.wait_for(self.answers.get(), 5)


async def until(check: Any, within: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_commands_fail_clearly_while_nats_is_down_and_work_after(
        cluster: tuple[Running, Running], nats: PrivateNats) -> None:
    node_a, node_b = cluster
    station_id = f"BUS-{uuid.uuid4().hex[:8]}"
    await node_a.services.stations.create(station_id, password=None)
    heard: list[dict[str, Any]] = []

    async def listen(_subject: str, message: dict[str, Any]) -> None:
        if message.get("station_id") == station_id:
            heard.append(message)

    await node_b.services.bus.subscribe("events.station.status", listen)  # before the outage
    async with await open_station(node_a, station_id) as ws:
        station = Station(ws)
        boot = await station.call("BootNotification", {"chargePointVendor": "V",
                                                       "chargePointModel": "M"})
        assert boot[2]["status"] == "Accepted"
        record = await node_b.services.commands.issue(station_id, "reset", {"type": "soft"})
        assert record.status == "accepted"

        nats.stop()
        figures = []
        for node in (node_b, node_a):  # whichever node is asked, even the socket's own
            started = time.monotonic()
            failed = await node.services.commands.issue(station_id, "reset", {"type": "soft"})
            figures.append(time.monotonic() - started)
            assert failed.status == "failed", failed
            assert failed.error.startswith("message bus unavailable"), failed.error
        assert max(figures) < 2.0, figures
        assert len(station.commands) == 1  # nothing reached the station
        # the station itself is served all along (its socket does not need the bus)
        beat = await station.call("Heartbeat", {})
        assert beat[0] == 3

        await asyncio.sleep(1.0)  # a while down: reconnect attempts fail meanwhile
        nats.start()
        bus_a, bus_b = node_a.services.bus, node_b.services.bus
        back = await until(lambda: bus_a.available and bus_b.available, within=10)  # type: ignore[attr-defined]
        record = await node_b.services.commands.issue(station_id, "reset", {"type": "hard"})
        assert record.status == "accepted", record  # the station's responder is back
        assert station.commands[-1][2:] == ["Reset", {"type": "Hard"}]

        status = await station.call("StatusNotification", {
            "connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure"})
        assert status[0] == 3
        delivered = await until(lambda: any(m.get("status") == "Faulted" for m in heard), 5)
        station.task.cancel()
    print(f"\ncommand failure with NATS down: {', '.join(f'{f * 1000:.0f} ms' for f in figures)}; "
          f"nodes reconnected {back:.2f} s after nats-server started; event delivered "
          f"{delivered * 1000:.0f} ms after the StatusNotification was answered")

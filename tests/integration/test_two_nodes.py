"""Two nodes sharing PostgreSQL and NATS: a command issued through either node's API
reaches the station on whichever node holds its socket; a station nobody holds is
offline at once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from evcsms.bootstrap import build_services, close_services
from evcsms.settings import Settings
from tests.conftest import PG_URL, _truncate, require_service
from tests.integration.conftest import Running, open_station, rpc, running

pytestmark = pytest.mark.slow

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def cluster(pg_schema: str) -> AsyncIterator[tuple[Running, Running]]:
    require_service("NATS", 4222)
    await _truncate(PG_URL, pg_schema)
    settings = Settings(database_url=PG_URL, database_schema=pg_schema, heartbeat_interval=60,
                        bus_url=NATS_URL)
    a = await build_services(settings)
    b = await build_services(settings)
    try:
        async with running(a, settings) as node_a, running(b, settings) as node_b:
            yield node_a, node_b
    finally:
        await close_services(a)
        await close_services(b)


async def test_a_command_through_one_node_reaches_a_station_on_the_other(
        cluster: tuple[Running, Running]) -> None:
    node_a, node_b = cluster
    station = f"N2-{uuid.uuid4().hex[:8]}"
    await node_a.services.stations.create(station, password=None)
    async with await open_station(node_a, station) as ws:
        boot = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        assert (await rpc(ws, boot))[2]["status"] == "Accepted"

        async def station_answers() -> list[Any]:
            call = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send(orjson.dumps([3, call[1], {"status": "Accepted"}]).decode())
            return list(call)

        answering = asyncio.create_task(station_answers())
        record = await node_b.services.commands.issue(station, "reset", {"type": "hard"},
                                                      created_by="test")
        call = await answering
        assert call[2:] == ["Reset", {"type": "Hard"}]
        assert record.status == "accepted" and record.response == {"status": "Accepted"}
        # the record is the same on both nodes: one database
        assert (await node_a.services.commands.get(record.id)).status == "accepted"

    # nobody holds it now: failed as offline at once, whichever node is asked
    for node in (node_a, node_b):
        async with asyncio.timeout(5):
            for _ in range(100):  # the disconnect unsubscribes the station's subject
                offline = await node.services.commands.issue(station, "reset", {}, created_by="t")
                if offline.error == "station offline":
                    break
                await asyncio.sleep(0.05)
        assert offline.status == "failed" and offline.error == "station offline"


async def test_events_reach_every_node(cluster: tuple[Running, Running]) -> None:
    """A station's status on node A opens an incident that node B's listeners hear."""
    node_a, node_b = cluster
    heard: list[dict[str, Any]] = []

    async def listen(subject: str, message: dict[str, Any]) -> None:
        heard.append(message)

    station = f"N2-{uuid.uuid4().hex[:8]}"
    sub = await node_b.services.bus.subscribe("events.station.status", listen)
    with contextlib.suppress(Exception):
        await node_a.services.stations.create(station, password=None)
    async with await open_station(node_a, station) as ws:
        await rpc(ws, [2, "b", "BootNotification", {"chargePointVendor": "V",
                                                    "chargePointModel": "M"}])
        await rpc(ws, [2, "s", "StatusNotification", {"connectorId": 1, "status": "Faulted",
                                                      "errorCode": "GroundFailure"}])
        for _ in range(200):
            if any(m.get("station_id") == station for m in heard):
                break
            await asyncio.sleep(0.02)
    await sub.unsubscribe()
    assert any(m.get("station_id") == station and m.get("status") == "Faulted" for m in heard)

"""Before a silent station is called offline, the node holding its socket pings it."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import open_station, rpc

pytestmark = pytest.mark.slow

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


async def _wait_for(predicate, seconds: float = 5.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    return await predicate()


async def test_a_silent_station_that_answers_the_ping_stays_online(server, services, clock):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        await rpc(ws, BOOT)
        await services.presence.flush()
        clock.advance(90)  # 1.5 heartbeat intervals (60 s) without a word
        assert await services.diagnostics.sweep() == 0
        assert (await services.incidents.list(kind="offline", limit=5, offset=0))[1] == 0
        await services.presence.flush()  # the pong counts as seen
        assert (await services.stations.get("CP1"))[0].last_seen_at == clock.now()
        assert await services.diagnostics.probe("CP1") == "pong"


async def test_a_station_that_does_not_answer_the_ping_is_offline_and_its_socket_closed(
        server, services, clock):
    services.diagnostics._probe_timeout = 0.3
    await services.stations.create("CP1", password=None)
    ws = await open_station(server, "CP1")
    await rpc(ws, BOOT)
    await services.presence.flush()
    ws.transport.pause_reading()  # the station hangs: its pings go unanswered
    clock.advance(75)  # past 1.1 intervals, before the 2-interval deadline
    assert await services.diagnostics.sweep() == 1
    [offline] = (await services.incidents.list(kind="offline", limit=5, offset=0))[0]
    assert "no answer to a WebSocket ping" in offline.message
    assert offline.evidence["ping_answered"] is False
    # the node dropped the socket at once (no closing handshake with a hung peer)
    async def disconnected() -> bool:
        return not (await services.stations.get("CP1"))[0].connected
    assert await _wait_for(disconnected, 3)
    ws.transport.abort()

    # reconnecting resolves it
    async with await open_station(server, "CP1") as again:
        await rpc(again, BOOT)

        async def resolved() -> bool:
            row, _ = await services.incidents.get(offline.id)
            return row.status == "resolved"
        assert await _wait_for(resolved)


async def test_a_station_marked_connected_that_no_node_holds_is_offline(server, services, clock):
    """A node that died left `connected` set: no node answers the ping request."""
    await services.stations.create("CP1", password=None)
    await services.stations.set_connected("CP1", True, "dead-node")
    clock.advance(3600)
    assert await services.diagnostics.probe("CP1") == "gone"
    assert await services.diagnostics.sweep() == 1
    [offline] = (await services.incidents.list(kind="offline", limit=5, offset=0))[0]
    assert "not connected" in offline.message

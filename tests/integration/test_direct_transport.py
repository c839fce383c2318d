"""The gateway's direct frame path (`gateway/transport.py`, `evcsms.direct`) and its plain
ASGI fallback: frames in order, reading paused when a backlog builds, bad text closed
with 1007, binary frames read as text, and the same answers through plain ASGI."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from evcsms.gateway.server import OcppGateway
from evcsms.gateway.session import StationSession
from evcsms.gateway.transport import DIRECT_BACKLOG, ProbingWebSocketProtocol
from tests.integration.conftest import open_station, rpc, running

pytestmark = pytest.mark.slow

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


async def _session(gateway: OcppGateway | None, station_id: str) -> StationSession:
    assert gateway is not None
    for _ in range(200):
        session = gateway.registry.get(station_id)
        if session is not None:
            return session
        await asyncio.sleep(0.01)
    raise AssertionError(f"{station_id} never attached")


def _protocol(session: StationSession) -> ProbingWebSocketProtocol:
    owner = getattr(session._send_text, "__self__", None)  # noqa: SLF001
    assert isinstance(owner, ProbingWebSocketProtocol), "the session does not use the direct path"
    return owner


def _hold(session: StationSession) -> asyncio.Event:
    """From now on the session serves each frame only once the returned event is set."""
    gate = asyncio.Event()
    served = session.on_text

    async def held(text: str) -> None:
        await gate.wait()
        await served(text)

    session.on_text = held  # type: ignore[method-assign]
    return gate


async def test_frames_go_through_the_direct_path_in_order(server, services):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        assert (await rpc(ws, BOOT))[0] == 3
        proto = _protocol(await _session(server.app.gateway, "CP1"))
        assert proto._inbox is not None  # noqa: SLF001
        for i in range(30):  # sent back to back, answered one by one in order
            await ws.send(orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode())
        answers = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(30)]
        assert [a[1] for a in answers] == [f"h{i}" for i in range(30)]
        assert all(a[0] == 3 and "currentTime" in a[2] for a in answers)


async def test_a_backlog_pauses_reading_and_is_served_once_the_station_is_free(server, services):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        await rpc(ws, BOOT)
        session = await _session(server.app.gateway, "CP1")
        proto = _protocol(session)
        gate = _hold(session)  # the station's first frame takes long to serve
        for i in range(40):
            await ws.send(orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode())
        await asyncio.sleep(0.3)
        # one frame is being served and reading paused once DIRECT_BACKLOG waited: the
        # frames of the read that crossed it are kept, the rest stay in TCP
        waiting = len(proto._inbox)  # noqa: SLF001
        assert proto.read_paused
        assert DIRECT_BACKLOG <= waiting < 39
        await asyncio.sleep(0.2)
        assert len(proto._inbox) == waiting  # noqa: SLF001
        gate.set()
        answers = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(40)]
        assert [a[1] for a in answers] == [f"h{i}" for i in range(40)]
        assert not proto.read_paused


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(server, services):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        await rpc(ws, BOOT)
        _protocol(await _session(server.app.gateway, "CP1"))
        await ws.send(b'[2, "x", "Heartbeat", {"\xff": 1}]', text=True)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1007
    for _ in range(100):  # the node noticed
        if not (await services.stations.get("CP1"))[0].connected:
            break
        await asyncio.sleep(0.02)
    assert not (await services.stations.get("CP1"))[0].connected


async def test_a_binary_frame_is_read_as_text(server, services):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        await ws.send(orjson.dumps(BOOT))  # bytes: a binary frame
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[:2] == [3, "b"] and answer[2]["status"] == "Accepted"


async def test_a_station_that_goes_away_mid_backlog_is_detached(server, services):
    await services.stations.create("CP1", password=None)
    ws = await open_station(server, "CP1")
    await rpc(ws, BOOT)
    session = await _session(server.app.gateway, "CP1")
    gate = _hold(session)
    for i in range(3):
        await ws.send(orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode())
    await asyncio.sleep(0.1)
    ws.transport.abort()  # gone without a closing handshake
    await asyncio.sleep(0.1)
    gate.set()  # the answers cannot be sent; the reader ends all the same
    for _ in range(200):
        if server.app.gateway.registry.get("CP1") is None:
            break
        await asyncio.sleep(0.02)
    assert server.app.gateway.registry.get("CP1") is None
    assert not (await services.stations.get("CP1"))[0].connected


async def test_plain_asgi_serves_the_same_frames(services, settings):
    await services.stations.create("CP1", password=None)
    # uvicorn's own sans-I/O protocol: no evcsms extensions, plain ASGI
    async with running(services, settings, ws="websockets-sansio") as node, \
            await open_station(node, "CP1") as ws:
        assert (await rpc(ws, BOOT))[2]["status"] == "Accepted"
        session = await _session(node.app.gateway, "CP1")
        assert not isinstance(getattr(session._send_text, "__self__", None),  # noqa: SLF001
                              ProbingWebSocketProtocol)
        for i in range(10):
            await ws.send(orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode())
        answers = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(10)]
        assert [a[1] for a in answers] == [f"h{i}" for i in range(10)]
        await ws.send(orjson.dumps([2, "m", "MeterValues", {"connectorId": 1, "meterValue": [
            {"timestamp": "2026-01-01T00:00:00Z",
             "sampledValue": [{"value": "10", "unit": "Wh"}]}]}]))
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == [3, "m", {}]
    for _ in range(100):
        if not (await services.stations.get("CP1"))[0].connected:
            break
        await asyncio.sleep(0.02)
    assert not (await services.stations.get("CP1"))[0].connected

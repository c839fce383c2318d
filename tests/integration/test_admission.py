"""A reconnection storm against a real node: many stations connect at once to a node that
takes few handshakes at a time; the overflow gets 503 + Retry-After (never 500), the node
keeps serving the stations it has, and everyone is in after retrying as told."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from evcsms.gateway.admission import HandshakeGate
from evcsms.gateway.server import OcppGateway
from evcsms.services.stations import Handshake
from tests.integration.conftest import Running, open_station, rpc

pytestmark = pytest.mark.slow

STATIONS = 40
DELAY = 0.2  # s each handshake spends in the (slowed) database


def gateway_of(server: Running) -> OcppGateway:
    gateway = server.app.gateway
    assert isinstance(gateway, OcppGateway)
    return gateway


async def test_a_storm_is_queued_and_refused_with_retry_after_then_all_get_in(
    server: Running, monkeypatch: pytest.MonkeyPatch,
) -> None:
    stations = server.services.stations
    for n in range(STATIONS + 1):
        await stations.create(f"CP{n}", password=None)
    gateway = gateway_of(server)
    gateway.admission = HandshakeGate(4, 8, base_retry=2, max_retry=2)  # Retry-After 1-2 s
    resident = await open_station(server, f"CP{STATIONS}")  # connected before the storm

    inside = peak = 0
    handshake = stations.handshake

    async def slow_handshake(station_id: str, password: str | None) -> Handshake:
        nonlocal inside, peak
        inside += 1
        peak = max(peak, inside)
        try:
            await asyncio.sleep(DELAY)
            return await handshake(station_id, password)
        finally:
            inside -= 1

    monkeypatch.setattr(stations, "handshake", slow_handshake)
    statuses: Counter[int] = Counter()
    retry_after: list[int] = []

    async def station(n: int) -> ClientConnection:
        while True:
            try:
                return await open_station(server, f"CP{n}")
            except InvalidStatus as refused:
                response = refused.response
                statuses[response.status_code] += 1
                assert response.status_code == 503, response.body
                seconds = int(response.headers["Retry-After"])
                retry_after.append(seconds)
                await asyncio.sleep(seconds)

    async def heartbeats() -> list[float]:
        took = []
        for n in range(10):
            started = time.perf_counter()
            assert (await rpc(resident, [2, f"hb{n}", "Heartbeat", {}]))[0] == 3
            took.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)
        return took

    started = time.perf_counter()
    storm = asyncio.gather(*(station(n) for n in range(STATIONS)))
    served = await heartbeats()
    connections = await asyncio.wait_for(storm, 30)
    elapsed = time.perf_counter() - started

    assert set(statuses) == {503}  # no 500, no other refusal
    assert statuses[503] >= 10  # the first wave overflowed (28 when all 40 arrive at once)
    assert set(retry_after) <= {1, 2} and len(set(retry_after)) == 2  # jittered
    assert peak <= 4
    assert max(served) < 1.0  # the node kept answering its connected station
    assert elapsed >= STATIONS * DELAY / 4
    stats = gateway.admission_stats()
    assert stats["refused"] == statuses[503]
    assert stats["peak_waiting"] == 8
    assert (stats["active"], stats["waiting"], stats["storage_refused"]) == (0, 0, 0)
    for n, ws in enumerate(connections):
        assert (await rpc(ws, [2, "1", "Heartbeat", {}]))[0] == 3, n
    assert len(gateway.registry) == STATIONS + 1
    await asyncio.gather(*(ws.close() for ws in [*connections, resident]))


async def test_storage_unavailable_at_the_handshake_is_503_then_in(
    server: Running, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await server.services.stations.create("CP1", password="secret-password-1")

    async def unreachable(*_: Any) -> Handshake:
        raise OperationalError("SELECT stations", {}, ConnectionRefusedError("refused"))

    handshake = server.services.stations.handshake
    monkeypatch.setattr(server.services.stations, "handshake", unreachable)
    with pytest.raises(InvalidStatus) as refused:
        await open_station(server, "CP1", password="secret-password-1")
    response = refused.value.response
    assert response.status_code == 503
    assert 5 <= int(response.headers["Retry-After"]) <= 20
    assert response.body == b"storage unavailable; retry later"
    assert gateway_of(server).storage_refused == 1
    monkeypatch.setattr(server.services.stations, "handshake", handshake)
    ws = await open_station(server, "CP1", password="secret-password-1")
    assert (await rpc(ws, [2, "1", "Heartbeat", {}]))[0] == 3
    await ws.close()

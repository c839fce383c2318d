"""Handshake: subprotocol choice, station authentication, unknown-station policy, replacement."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.conftest import Running, open_station, rpc

pytestmark = pytest.mark.slow


async def test_server_prefers_201_and_refuses_unknown_subprotocols(server: Running) -> None:
    await server.services.stations.create("CP1", password="secret-password-1")
    ws = await open_station(server, "CP1", password="secret-password-1",
                            subprotocols=("ocpp1.6", "ocpp2.0.1"))
    assert ws.subprotocol == "ocpp2.0.1"
    await ws.close()
    with pytest.raises(InvalidStatus) as refused:
        await open_station(server, "CP1", password="secret-password-1", subprotocols=("ocpp1.5",))
    assert refused.value.response.status_code == 400


async def test_station_needs_its_password(server: Running) -> None:
    await server.services.stations.create("CP2", password="secret-password-2")
    for password in (None, "wrong-password"):
        with pytest.raises(InvalidStatus) as refused:
            await open_station(server, "CP2", password=password)
        assert refused.value.response.status_code == 401
    ws = await open_station(server, "CP2", password="secret-password-2")
    assert (await rpc(ws, [2, "1", "Heartbeat", {}]))[0] == 3
    await ws.close()


async def test_unknown_station_refused_by_default(server: Running) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_station(server, "STRANGER")
    assert refused.value.response.status_code == 404


async def test_a_refusal_logs_no_server_error(server: Running,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """An HTTP refusal completes the handshake: uvicorn must not log it as an app error
    (a reconnection storm's 503s would read as thousands of errors)."""
    with caplog.at_level(logging.ERROR, logger="uvicorn.error"), \
            pytest.raises(InvalidStatus) as refused:
        await open_station(server, "NOBODY-KNOWS-ME")
    assert refused.value.response.status_code == 404
    await asyncio.sleep(0.1)  # uvicorn logs after the app returns
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_pending_station_may_only_boot(server: Running) -> None:
    server.services.stations.unknown_policy = "pending"
    ws = await open_station(server, "NEWCOMER")
    error = await rpc(ws, [2, "1", "Heartbeat", {}])
    assert error[:3] == [4, "1", "SecurityError"]
    boot = await rpc(ws, [2, "2", "BootNotification",
                          {"chargePointVendor": "V", "chargePointModel": "M"}])
    assert boot[2]["status"] == "Pending"
    await ws.close()


async def test_second_connection_replaces_the_first(server: Running) -> None:
    await server.services.stations.create("CP3", password="secret-password-3")
    first = await open_station(server, "CP3", password="secret-password-3")
    second = await open_station(server, "CP3", password="secret-password-3")
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(first.recv(), 5)
    assert (await rpc(second, [2, "9", "Heartbeat", {}]))[0] == 3
    assert server.app.gateway.registry.get("CP3") is not None
    await second.close()
    for _ in range(250):
        row, _ = await server.services.stations.get("CP3")
        if not row.connected:
            break
        await asyncio.sleep(0.02)
    assert server.app.gateway.registry.get("CP3") is None
    assert row.connected is False

"""A node stopping for an upgrade drains: it stops accepting, then closes its stations'
connections spread over EVCSMS_DRAIN_SECONDS, each recorded offline as usual."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from websockets.asyncio.client import connect

from evcsms.bootstrap import build_app, node_server, uvicorn_config
from evcsms.services.container import Services
from evcsms.settings import Settings
from tests.integration.conftest import rpc

pytestmark = pytest.mark.slow

STATIONS = 10
DRAIN = 1.5


async def test_a_stopping_node_closes_its_stations_in_a_trickle(services: Services,
                                                                 settings: Settings) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"port": port, "drain_seconds": DRAIN})
    for n in range(STATIONS):
        await services.stations.create(f"DR{n:02d}", password=None)
    app = build_app(services, settings)
    server = node_server(app, uvicorn_config(app, settings, log_level="warning"), DRAIN)
    server.install_signal_handlers = lambda: None
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag
        await asyncio.sleep(0.01)

    closed_at: dict[str, float] = {}
    codes: set[int | None] = set()
    booted: list[str] = []

    async def station(n: int) -> None:
        sid = f"DR{n:02d}"
        async with connect(f"ws://127.0.0.1:{port}/ocpp/{sid}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           compression=None) as ws:
            boot = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
            assert (await rpc(ws, boot))[2]["status"] == "Accepted"
            booted.append(sid)
            await ws.wait_closed()
            closed_at[sid] = time.monotonic()
            codes.add(ws.close_code)

    stations = [asyncio.create_task(station(n)) for n in range(STATIONS)]
    async with asyncio.timeout(10):
        while len(booted) < STATIONS:  # noqa: ASYNC110 - polled
            await asyncio.sleep(0.02)
    began = time.monotonic()
    server.should_exit = True
    await asyncio.sleep(0.3)
    with pytest.raises(OSError):  # no newcomers while draining
        await connect(f"ws://127.0.0.1:{port}/ocpp/LATE", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                      open_timeout=2)
    await asyncio.wait_for(asyncio.gather(*stations), 10)
    await asyncio.wait_for(task, 10)

    spread = max(closed_at.values()) - min(closed_at.values())
    assert len(closed_at) == STATIONS
    assert DRAIN * 0.6 <= spread <= DRAIN + 1.0, spread  # a trickle, not all at once
    assert min(closed_at.values()) - began < DRAIN / 2  # the first ones go at once
    assert codes == {1000}
    await services.writer.barrier()
    for n in range(STATIONS):
        row, _ = await services.stations.get(f"DR{n:02d}")
        assert row.connected is False

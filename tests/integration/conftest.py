"""A real evcsms node on a loopback port (uvicorn, the same app `evcsms serve` runs)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from evcsms.bootstrap import Router, build_app, uvicorn_config
from evcsms.services.container import Services
from evcsms.settings import Settings

pytestmark = pytest.mark.slow


@dataclass
class Running:
    host: str
    port: int
    services: Services
    app: Router
    settings: Settings

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}/ocpp"

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def running(services: Services, settings: Settings, **config: Any) -> AsyncIterator[Running]:
    """Serve `services` on a free loopback port for the duration of the block (`config`:
    uvicorn options over `uvicorn_config`'s, e.g. another `ws` protocol)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.model_copy(update={"port": port, "call_timeout": 3.0})
    app = build_app(services, settings)
    server = uvicorn.Server(uvicorn_config(app, settings, **({"log_level": "warning"} | config)))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield Running("127.0.0.1", port, services, app, settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        if app.gateway is not None:
            await app.gateway.registry.close_all()
        sock.close()


@pytest.fixture
async def server(services: Services, settings: Settings) -> AsyncIterator[Running]:
    async with running(services, settings) as node:
        yield node


def auth(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def open_station(
    server: Running, station_id: str, *, password: str | None = None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
) -> ClientConnection:
    headers = auth(station_id, password) if password is not None else {}
    return await connect(
        f"{server.ws}/{station_id}", subprotocols=list(subprotocols),  # type: ignore[arg-type]
        additional_headers=headers, compression=None, open_timeout=5,
    )


async def rpc(ws: ClientConnection, frame: Any) -> list[Any]:
    """Send a raw frame (text or JSON-able) and return the parsed answer."""
    await ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
    answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(answer, list)
    return answer

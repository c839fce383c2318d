"""A cluster split by role: a gateway node holds the stations, an API node serves operators,
worker nodes run the cluster singletons (one of them at a time), all on PostgreSQL + NATS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import InvalidStatus

from evcsms.bootstrap import SINGLETONS, build_services, close_services
from evcsms.settings import Role, Settings
from tests.conftest import PG_URL, _truncate, require_service
from tests.integration.conftest import Running, open_station, rpc, running

pytestmark = pytest.mark.slow

NATS_URL = "nats://127.0.0.1:4222"
TOKEN = "roles-test-admin-token-0123456789"


@contextlib.asynccontextmanager
async def node(settings: Settings, role: Role) -> AsyncIterator[Running]:
    settings = settings.model_copy(update={"role": role})
    services = await build_services(settings)
    try:
        async with running(services, settings) as served:
            yield served
    finally:
        await close_services(services)


@pytest.fixture
async def base(pg_schema: str) -> Settings:
    require_service("NATS", 4222)
    await _truncate(PG_URL, pg_schema)
    return Settings(database_url=PG_URL, database_schema=pg_schema, heartbeat_interval=60,
                    bus_url=NATS_URL, admin_token=TOKEN, lease_interval=0.2)


def client(served: Running) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=served.http + "/api/v1", timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})


async def until(condition: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():  # noqa: ASYNC110 - polling state nobody signals
            await asyncio.sleep(0.05)


async def test_each_role_serves_its_part_and_they_work_together(base: Settings) -> None:
    station = f"R-{uuid.uuid4().hex[:8]}"
    async with (node(base, Role.GATEWAY) as gateway, node(base, Role.API) as api,
                node(base, Role.WORKER) as worker,
                client(gateway) as gw_http, client(api) as api_http, client(worker) as wk_http):
        # health names the role; only the worker runs singletons
        for http, role, singletons in ((gw_http, "gateway", []), (api_http, "api", []),
                                       (wk_http, "worker", sorted(SINGLETONS))):
            health = (await http.get("/health")).json()
            assert health["status"] == "ok" and health["role"] == role
            assert health["singletons"] == singletons
            assert ("admission" in health) is (role == "gateway")
        # the gateway and the worker serve no API; the API node takes no stations
        assert (await gw_http.get("/stations")).status_code == 404
        assert (await wk_http.get("/stations")).status_code == 404
        with pytest.raises(InvalidStatus) as refused:
            await open_station(api, station)
        assert refused.value.response.status_code == 404

        created = await api_http.post("/stations", json={"id": station})
        assert created.status_code == 201, created.text
        password = created.json()["password"]
        async with await open_station(gateway, station, password=password) as ws:
            boot = [2, "b", "BootNotification", {"chargePointVendor": "V",
                                                 "chargePointModel": "M"}]
            assert (await rpc(ws, boot))[2]["status"] == "Accepted"
            health = (await gw_http.get("/health")).json()
            assert health["stations_connected"] == 1
            assert health["admission"]["admitted"] == 1 and health["admission"]["refused"] == 0

            async def station_answers() -> list[Any]:
                call = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                await ws.send(orjson.dumps([3, call[1], {"status": "Unlocked"}]).decode())
                return list(call)

            # an operator's command through the API node reaches the station on the gateway
            answering = asyncio.create_task(station_answers())
            sent = await api_http.post(f"/stations/{station}/commands",
                                       json={"name": "unlock_connector",
                                             "params": {"evse_id": 1, "connector_id": 1}})
            assert (await answering)[2] == "UnlockConnector"
            assert sent.status_code == 200, sent.text
            assert sent.json()["status"] == "accepted"

            # a fault on the gateway becomes an incident, opened by the worker's diagnostics
            await rpc(ws, [2, "s", "StatusNotification", {"connectorId": 1, "status": "Faulted",
                                                          "errorCode": "GroundFailure"}])

            async def incident_open() -> bool:
                found = (await api_http.get("/incidents", params={"station_id": station})).json()
                return any(i["kind"] == "connector_fault" and i["status"] == "open"
                           for i in found["items"])

            await until(incident_open)


async def test_singletons_move_to_another_worker_when_theirs_stops(base: Settings) -> None:
    async with node(base, Role.WORKER) as first, client(first) as first_http:
        assert (await first_http.get("/health")).json()["singletons"] == sorted(SINGLETONS)
        async with node(base, Role.WORKER) as second, client(second) as second_http:
            assert (await second_http.get("/health")).json()["singletons"] == []
            await first.services.leases.close()  # the first worker stops (or dies)

            async def moved() -> bool:
                body = (await second_http.get("/health")).json()
                return bool(body["singletons"] == sorted(SINGLETONS))

            await until(moved, 5)
            assert (await first_http.get("/health")).json()["singletons"] == []

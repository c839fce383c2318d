"""Clusters sharing one NATS server are apart: each has its namespace (derived from where
its data lives unless set), and neither hears the other's events nor serves its stations."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from evcsms.bus.base import NoRespondersError, station_subject
from evcsms.settings import Settings
from tests.conftest import require_service

NATS_URL = "nats://127.0.0.1:4222"
PG = "postgresql+asyncpg://{user}@db.example:5432/csms"


def test_the_namespace_follows_the_database_not_its_credentials() -> None:
    one = Settings(database_url=PG.format(user="alice:secret"), database_schema="north")
    same = Settings(database_url=PG.format(user="bob:other"), database_schema="north")
    other = Settings(database_url=PG.format(user="alice:secret"), database_schema="south")
    assert one.cluster_namespace() == same.cluster_namespace()
    assert one.cluster_namespace() != other.cluster_namespace()
    assert one.cluster_namespace().startswith("evcsms-")
    assert "secret" not in one.cluster_namespace()
    assert Settings(bus_prefix="fleet-eu").cluster_namespace() == "fleet-eu"


@pytest.mark.slow
async def test_two_clusters_on_one_server_never_mix() -> None:
    require_service("NATS", 4222)
    from evcsms.bus.nats import NatsBus

    space = uuid.uuid4().hex[:8]
    a1 = await NatsBus.connect(NATS_URL, prefix=f"a{space}")
    a2 = await NatsBus.connect(NATS_URL, prefix=f"a{space}")
    b = await NatsBus.connect(NATS_URL, prefix=f"b{space}")
    heard: dict[str, list[tuple[str, Any]]] = {"a2": [], "b": []}

    def keep(name: str) -> Any:
        async def handler(subject: str, message: dict[str, Any]) -> None:
            heard[name].append((subject, message))
        return handler

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        return {"by": "a2"}

    try:
        await a2.subscribe("events.>", keep("a2"))
        await b.subscribe("events.>", keep("b"))
        for bus in (a2, b):  # the server has both subscriptions before a1 publishes (a
            await bus._nc.flush(timeout=5)  # loaded CI run once published first: lost)
        station = station_subject("CP1", "command")
        await a2.serve(station, answer)
        await a1.publish("events.station.status", {"n": 1})
        assert await a1.request(station, {}, 2) == {"by": "a2"}
        with pytest.raises(NoRespondersError):  # cluster b has no CP1, whatever a has
            await b.request(station, {}, 2)
        async with asyncio.timeout(5):
            while not heard["a2"]:  # noqa: ASYNC110 - polled
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert heard["a2"] == [("events.station.status", {"n": 1})]  # no namespace in sight
        assert heard["b"] == []
    finally:
        for bus in (a1, a2, b):
            await bus.close()

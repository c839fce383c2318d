"""One contract for every bus: the in-process one and NATS (the machine's real server)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evcsms.bus.base import (
    Bus,
    BusError,
    NoRespondersError,
    RequestTimeoutError,
    station_subject,
)
from evcsms.bus.memory import MemoryBus
from tests.conftest import require_service

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.slow)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus()
        yield memory
        await memory.close()
        return
    require_service("NATS", 4222)
    from evcsms.bus.nats import NatsBus

    nats_bus = await NatsBus.connect(NATS_URL)
    yield nats_bus
    await nats_bus.close()


@pytest.fixture
def space() -> str:
    """A subject prefix of this test's own (test workers share one NATS server)."""
    return f"t{uuid.uuid4().hex[:10]}"


async def _gather(received: list[Any], count: int) -> None:
    for _ in range(200):
        if len(received) >= count:
            return
        await asyncio.sleep(0.01)


async def test_events_fan_out_to_every_matching_pattern(bus: Bus, space: str) -> None:
    got: dict[str, list[tuple[str, Any]]] = {"exact": [], "one": [], "rest": [], "other": []}

    def keep(name: str) -> Any:
        async def handler(subject: str, message: dict[str, Any]) -> None:
            got[name].append((subject, message))
        return handler

    await bus.subscribe(f"{space}.station.status", keep("exact"))
    await bus.subscribe(f"{space}.station.*", keep("one"))
    await bus.subscribe(f"{space}.>", keep("rest"))
    await bus.subscribe(f"{space}.session.*", keep("other"))
    await bus.publish(f"{space}.station.status", {"station_id": "CP1", "n": 1, "ok": True})
    await bus.publish(f"{space}.station.boot.extra", {"n": 2})
    await _gather(got["rest"], 2)
    await asyncio.sleep(0.05)
    assert got["exact"] == [(f"{space}.station.status", {"station_id": "CP1", "n": 1, "ok": True})]
    assert [m["n"] for _, m in got["one"]] == [1]  # `*` is one token only
    assert sorted(m["n"] for _, m in got["rest"]) == [1, 2]
    assert got["other"] == []


async def test_unsubscribed_handlers_hear_nothing(bus: Bus, space: str) -> None:
    heard: list[Any] = []

    async def handler(subject: str, message: dict[str, Any]) -> None:
        heard.append(message)

    sub = await bus.subscribe(f"{space}.x", handler)
    await bus.publish(f"{space}.x", {"n": 1})
    await _gather(heard, 1)
    await sub.unsubscribe()
    await bus.publish(f"{space}.x", {"n": 2})
    await asyncio.sleep(0.1)
    assert heard == [{"n": 1}]
    await sub.unsubscribe()  # twice is harmless


async def test_a_failing_event_handler_does_not_stop_the_others(bus: Bus, space: str) -> None:
    heard: list[Any] = []

    async def broken(subject: str, message: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    async def fine(subject: str, message: dict[str, Any]) -> None:
        heard.append(message)

    await bus.subscribe(f"{space}.e", broken)
    await bus.subscribe(f"{space}.e", fine)
    await bus.publish(f"{space}.e", {"n": 1})
    await bus.publish(f"{space}.e", {"n": 2})
    await _gather(heard, 2)
    assert heard == [{"n": 1}, {"n": 2}]


async def test_requests_reach_the_one_responder_and_come_back(bus: Bus, space: str) -> None:
    subject = station_subject(f"{space}-CP.1*>", "command")

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        return {"status": "accepted", "echo": message, "nested": {"list": [1, "two", None]}}

    sub = await bus.serve(subject, answer)
    reply = await bus.request(subject, {"name": "reset", "params": {"type": "soft"}}, timeout_s=2)
    assert reply == {"status": "accepted", "echo": {"name": "reset", "params": {"type": "soft"}},
                     "nested": {"list": [1, "two", None]}}
    # an escaped station id cannot reach another station's subject
    with pytest.raises(NoRespondersError):
        await bus.request(station_subject(f"{space}-CP", "command"), {}, timeout_s=1)
    await sub.unsubscribe()
    with pytest.raises(NoRespondersError):  # at once: the station is offline
        await asyncio.wait_for(bus.request(subject, {}, timeout_s=5), 2)


async def test_a_slow_responder_times_out_and_a_failing_one_says_so(bus: Bus, space: str) -> None:
    async def slow(message: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(2)
        return {}

    async def broken(message: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("cannot translate")

    await bus.serve(f"{space}.slow", slow)
    await bus.serve(f"{space}.broken", broken)
    with pytest.raises(RequestTimeoutError):
        await bus.request(f"{space}.slow", {}, timeout_s=0.2)
    with pytest.raises(BusError, match="cannot translate"):
        await bus.request(f"{space}.broken", {}, timeout_s=2)


async def test_a_new_responder_takes_over_a_subject(bus: Bus, space: str) -> None:
    """A station that reconnects is served by its new connection."""

    async def old(message: dict[str, Any]) -> dict[str, Any]:
        return {"node": "old"}

    async def new(message: dict[str, Any]) -> dict[str, Any]:
        return {"node": "new"}

    first = await bus.serve(f"{space}.cmd", old)
    assert await bus.request(f"{space}.cmd", {}, timeout_s=2) == {"node": "old"}
    await first.unsubscribe()
    await bus.serve(f"{space}.cmd", new)
    assert await bus.request(f"{space}.cmd", {}, timeout_s=2) == {"node": "new"}


async def test_publishing_on_a_closed_bus_drops_the_event_without_raising(bus: Bus,
                                                                         space: str) -> None:
    """Events are at most once: a bus that cannot take one never fails its publisher (a
    station must not get an error for data that was stored when only the news was lost)."""
    await bus.close()  # type: ignore[attr-defined]
    await bus.publish(f"{space}.gone", {"n": 1})
    if not isinstance(bus, MemoryBus):  # NATS counts what it dropped
        assert bus.dropped_events == 1  # type: ignore[attr-defined]

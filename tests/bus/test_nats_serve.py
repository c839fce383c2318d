"""NatsBus responders (one per connected station) on the machine's real NATS server: what a
waiting one costs, and that requests are still answered, concurrently and through a drain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from evcsms.bus.base import NoRespondersError, station_subject
from tests.conftest import require_service

pytestmark = pytest.mark.slow

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
async def bus() -> AsyncIterator[Any]:
    require_service("NATS", 4222)
    from evcsms.bus.nats import NatsBus

    nats_bus = await NatsBus.connect(NATS_URL)
    yield nats_bus
    await nats_bus.close()


@pytest.fixture
def space() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def test_a_waiting_responder_has_no_task_of_its_own(bus: Any, space: str) -> None:
    """10,000 stations on a node are 10,000 responders: a task and a queue each cost ~4.8 KB
    at rest (47 MB); without them ~0.4 KB."""

    def answer_as(n: int) -> Any:
        async def answer(message: dict[str, Any]) -> dict[str, Any]:
            return {"station": n, "echo": message}
        return answer

    with pytest.raises(NoRespondersError):  # the client's one task for all replies starts
        await bus.request(f"{space}.nobody", {}, timeout_s=2)
    before = len(asyncio.all_tasks())
    subjects = [station_subject(f"{space}-CP{n}", "command") for n in range(200)]
    subs = [await bus.serve(subject, answer_as(n)) for n, subject in enumerate(subjects)]
    assert len(asyncio.all_tasks()) == before
    replies = await asyncio.gather(*(bus.request(s, {"n": n}, timeout_s=5)
                                     for n, s in enumerate(subjects)))
    assert replies == [{"station": n, "echo": {"n": n}} for n in range(200)]
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) == before  # each answer's task is gone once it is sent
    for sub in subs:
        await sub.unsubscribe()
    with pytest.raises(NoRespondersError):
        await bus.request(subjects[0], {}, timeout_s=2)


async def test_a_slow_request_does_not_hold_up_the_next(bus: Any, space: str) -> None:
    release = asyncio.Event()

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        if message["slow"]:
            await release.wait()
        return {"slow": message["slow"]}

    await bus.serve(f"{space}.cmd", answer)
    slow = asyncio.create_task(bus.request(f"{space}.cmd", {"slow": True}, timeout_s=5))
    await asyncio.sleep(0.05)
    assert await bus.request(f"{space}.cmd", {"slow": False}, timeout_s=2) == {"slow": False}
    release.set()
    assert await slow == {"slow": True}


async def test_closing_sends_the_answers_being_worked_on(space: str) -> None:
    require_service("NATS", 4222)
    from evcsms.bus.nats import NatsBus

    responder = await NatsBus.connect(NATS_URL)
    requester = await NatsBus.connect(NATS_URL)
    started = asyncio.Event()

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(0.3)
        return {"done": True}

    try:
        await responder.serve(f"{space}.cmd", answer)
        asked = asyncio.create_task(requester.request(f"{space}.cmd", {}, timeout_s=5))
        await started.wait()
        await responder.close()  # drains: the answer under way still goes out
        assert await asked == {"done": True}
        with pytest.raises(NoRespondersError):
            await requester.request(f"{space}.cmd", {}, timeout_s=2)
    finally:
        await responder.close()
        await requester.close()

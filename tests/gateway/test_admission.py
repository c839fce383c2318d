"""Handshake admission control: the gate alone, then the gateway's handshake through fake ASGI
(no sockets): limit, order, overflow -> 503 + Retry-After, a client that gives up waiting,
a database that cannot be reached."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from evcsms.bus.memory import MemoryBus
from evcsms.domain.model import Registration
from evcsms.gateway.admission import GateFullError, HandshakeGate
from evcsms.gateway.server import OcppGateway
from evcsms.services.stations import Admission, Handshake
from evcsms.storage.outage import StorageUnavailableError

# -- the gate -------------------------------------------------------------------------------


async def test_no_more_than_max_active_at_once() -> None:
    gate = HandshakeGate(3, 100)
    inside = peak = 0

    async def handshake() -> None:
        nonlocal inside, peak
        await gate.acquire()
        inside += 1
        peak = max(peak, inside)
        await asyncio.sleep(0.002)
        inside -= 1
        gate.release(0.002)

    await asyncio.gather(*(handshake() for _ in range(40)))
    assert peak == 3
    assert (gate.active, gate.waiting, gate.admitted, gate.refused) == (0, 0, 40, 0)
    assert gate.peak_waiting == 37


async def test_waiters_get_slots_in_arrival_order() -> None:
    gate = HandshakeGate(1, 10)
    assert gate.try_enter()
    order: list[int] = []

    async def wait(n: int) -> None:
        await gate.acquire()
        order.append(n)
        gate.release()

    tasks = [asyncio.create_task(wait(n)) for n in range(6)]
    await asyncio.sleep(0)
    assert gate.waiting == 6
    assert not gate.try_enter()  # a free slot would not jump the queue either
    gate.release()
    await asyncio.gather(*tasks)
    assert order == list(range(6))
    assert gate.active == 0


async def test_a_full_queue_refuses_at_once_with_retry_after() -> None:
    gate = HandshakeGate(1, 2, rng=random.Random(7))
    assert gate.try_enter()
    first, second = gate.join(), gate.join()
    with pytest.raises(GateFullError) as full:
        gate.join()
    assert 1 <= full.value.retry_after <= 10
    assert (gate.refused, gate.waiting) == (1, 2)
    gate.release()
    assert first.done() and not second.done()


async def test_no_queue_refuses_when_the_slots_are_taken() -> None:
    gate = HandshakeGate(2, 0)
    assert gate.try_enter() and gate.try_enter()
    with pytest.raises(GateFullError):
        await gate.acquire()
    gate.release()
    await gate.acquire()
    assert gate.active == 2


async def test_retry_after_is_jittered_and_grows_with_a_slow_database() -> None:
    gate = HandshakeGate(4, 10, rng=random.Random(1))
    for _ in range(4):
        gate.try_enter()
    for _ in range(10):
        gate.join()
    quick = {gate.retry_after() for _ in range(400)}
    assert min(quick) == 1 and max(quick) == 10 and len(quick) == 10
    gate.mean_hold = 5.0  # the database takes 5 s a handshake: 14 x 5 / 4 = 17.5 s to drain
    slow = [gate.retry_after() for _ in range(400)]
    assert min(slow) == 1 and 30 <= max(slow) <= 35
    gate.mean_hold = 100.0
    assert max(gate.retry_after() for _ in range(400)) == 60
    half = HandshakeGate(1, 10, rng=random.Random(1))
    half.try_enter()
    for _ in range(5):
        half.join()
    assert max(half.retry_after() for _ in range(400)) == 5  # half full: up to 5 s


async def test_a_cancelled_waiter_frees_its_place() -> None:
    gate = HandshakeGate(1, 1)
    assert gate.try_enter()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert gate.waiting == 1
    with pytest.raises(GateFullError):
        gate.join()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (gate.waiting, gate.abandoned) == (0, 1)
    late = asyncio.create_task(gate.acquire())  # its place is free again
    await asyncio.sleep(0)
    gate.release()
    await late
    assert gate.active == 1


async def test_a_slot_handed_to_a_waiter_that_gives_up_goes_to_the_next() -> None:
    gate = HandshakeGate(1, 5)
    assert gate.try_enter()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # the slot is now the first waiter's, but it has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert (gate.active, gate.waiting, gate.admitted) == (1, 0, 2)
    gate.release()
    assert gate.active == 0


async def test_leave_with_a_granted_ticket_passes_the_slot_on() -> None:
    gate = HandshakeGate(1, 5)
    assert gate.try_enter()
    mine, theirs = gate.join(), gate.join()
    gate.release()
    assert mine.done()
    gate.leave(mine)
    assert theirs.done() and gate.active == 1 and gate.waiting == 0


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        HandshakeGate(0, 10)
    with pytest.raises(ValueError):
        HandshakeGate(1, 10, min_retry=5, base_retry=2)


# -- the gateway's handshake (fake ASGI) ------------------------------------------------------


class FakeStations:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.release.set()
        self.calls = 0
        self.error: BaseException | None = None

    async def handshake(self, station_id: str, password: str | None) -> Handshake:
        self.calls += 1
        if self.error is not None:
            raise self.error
        await self.release.wait()
        return Handshake(Admission.UNKNOWN, Registration.REJECTED, False)  # refused: no _run


class Client:
    """One station's ASGI side: what it would receive, what the gateway sent it."""

    def __init__(self, gateway: OcppGateway, station_id: str) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.sent: list[dict[str, Any]] = []
        scope = {"type": "websocket", "path": f"/ocpp/{station_id}", "headers": [],
                 "subprotocols": ["ocpp1.6"], "extensions": {"websocket.http.response": {}}}
        self.task = asyncio.create_task(gateway(scope, self.inbox.get, self._send))

    async def _send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def body(self) -> str:
        return str(self.sent[1]["body"].decode())


def gateway_with(stations: FakeStations, **limits: int) -> OcppGateway:
    services: Any = SimpleNamespace(bus=MemoryBus(), stations=stations)
    return OcppGateway(services, node="test", **limits)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_gateway_queues_then_refuses_with_503_and_retry_after() -> None:
    stations = FakeStations()
    stations.release.clear()
    gateway = gateway_with(stations, max_handshakes=2, handshake_queue=3)
    clients = [Client(gateway, f"CP{n}") for n in range(8)]
    await settle()
    assert stations.calls == 2
    assert gateway.admission.waiting == 3
    refused = [c for c in clients if c.sent]
    assert len(refused) == 3
    for client in refused:
        assert client.status == 503
        assert 1 <= int(client.headers["retry-after"]) <= 10
        assert "retry later" in client.body
    stations.release.set()
    await asyncio.gather(*(c.task for c in clients))
    assert stations.calls == 5
    assert sorted(c.status or 0 for c in clients) == [404] * 5 + [503] * 3
    stats = gateway.admission_stats()
    assert stats | {"mean_hold_s": 0} == {
        "max_active": 2, "max_waiting": 3, "active": 0, "waiting": 0, "peak_waiting": 3,
        "admitted": 5, "refused": 3, "abandoned": 0, "mean_hold_s": 0, "storage_refused": 0}


async def test_a_station_that_goes_away_while_waiting_frees_its_place() -> None:
    stations = FakeStations()
    stations.release.clear()
    gateway = gateway_with(stations, max_handshakes=1, handshake_queue=1)
    running, waiting = Client(gateway, "CP1"), Client(gateway, "CP2")
    await settle()
    assert gateway.admission.waiting == 1
    waiting.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})
    await asyncio.wait_for(waiting.task, 1)
    assert waiting.sent == []  # nothing to answer: it is gone
    assert (gateway.admission.waiting, gateway.admission.abandoned) == (0, 1)
    again = Client(gateway, "CP3")  # takes the freed place instead of a 503
    await settle()
    assert again.sent == [] and gateway.admission.waiting == 1
    stations.release.set()
    await asyncio.gather(running.task, again.task)
    assert (running.status, again.status, stations.calls) == (404, 404, 2)
    assert gateway.admission.active == 0


@pytest.mark.parametrize("error", [
    OperationalError("SELECT ...", {}, ConnectionRefusedError("connection refused")),
    ConnectionRefusedError(111, "Connect call failed"),
    StorageUnavailableError("circuit open"),
    TimeoutError(),
])
async def test_storage_unavailable_is_503_with_retry_after(error: BaseException) -> None:
    stations = FakeStations()
    stations.error = error
    gateway = gateway_with(stations)
    client = Client(gateway, "CP1")
    await asyncio.wait_for(client.task, 1)
    assert client.status == 503
    assert 5 <= int(client.headers["retry-after"]) <= 20
    assert client.body == "storage unavailable; retry later"
    assert gateway.storage_refused == 1
    assert gateway.admission.active == 0  # the slot is given back


async def test_other_handshake_errors_are_not_hidden() -> None:
    stations = FakeStations()
    stations.error = RuntimeError("a bug")
    gateway = gateway_with(stations)
    client = Client(gateway, "CP1")
    with pytest.raises(RuntimeError):
        await client.task
    assert gateway.admission.active == 0

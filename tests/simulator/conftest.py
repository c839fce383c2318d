"""A small fake CSMS (websockets server on 127.0.0.1:0) that records frames and checks schemas."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from evcsms.simulator import SessionPattern, VirtualStation

SCHEMAS = Path(ocpp.__file__).parent
Reply = Callable[[str, dict[str, Any]], dict[str, Any]]


class CallError(Exception):
    """Raise from a custom reply to answer with a CALLERROR."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code)
        self.code, self.description = code, description


@cache
def _validator(version: str, name: str) -> Any:
    folder = SCHEMAS / ("v16" if version == "1.6" else "v201") / "schemas"
    if version != "1.6" and not name.endswith("Response"):
        name += "Request"
    schema = json.loads((folder / f"{name}.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(version: str, action: str, payload: Any, *, response: bool = False) -> list[str]:
    """Schema violations of a request (or, with ``response``, a response) payload."""
    validator = _validator(version, action + ("Response" if response else ""))
    return [f"{action}: {e.message}" for e in validator.iter_errors(payload)]


def now_z() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Received:
    station: str
    action: str
    payload: dict[str, Any]
    at: int  # global order of arrival


@dataclass
class FakeCsms:
    """Answers station CALLs with sensible defaults (override per action) and records everything."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    events: list[tuple[str, str, Any]] = field(
        default_factory=list
    )  # (station, kind, detail) in order
    replies: dict[str, Reply] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    subprotocols: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, ServerConnection] = field(default_factory=dict)
    connects: dict[str, int] = field(default_factory=dict)
    answer_delay: float = 0.0
    inflight: dict[str, int] = field(default_factory=dict)
    max_inflight: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _tx: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _pending: dict[str, asyncio.Future[list[Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def version(self, station: str) -> str:
        return "1.6" if self.subprotocols.get(station) == "ocpp1.6" else "2.0.1"

    def calls(self, action: str | None = None, station: str | None = None) -> list[dict[str, Any]]:
        return [
            r.payload
            for r in self.received
            if (action is None or r.action == action) and (station is None or r.station == station)
        ]

    def actions(self, station: str | None = None) -> list[str]:
        return [r.action for r in self.received if station is None or r.station == station]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(predicate)

    async def wait_calls(
        self, action: str, count: int = 1, station: str | None = None, within: float = 5.0
    ) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.calls(action, station)) >= count, within)
        return self.calls(action, station)

    async def call(
        self, station: str, action: str, payload: dict[str, Any], within: float = 5.0
    ) -> list[Any]:
        """Send a CSMS-initiated CALL; returns the station's answer frame (checked against the schema)."""
        msg_id = f"csms-{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        await self.connections[station].send(json.dumps([2, msg_id, action, payload]))
        async with asyncio.timeout(within):
            answer = await future
        if answer[0] == 3:
            self.errors.extend(
                schema_errors(self.version(station), action, answer[2], response=True)
            )
        return answer

    async def drop(self, station: str) -> None:
        await self.connections[station].close(1011, "test drop")

    def _default(self, station: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        v16 = self.version(station) == "1.6"
        accepted = (
            {"idTagInfo": {"status": "Accepted"}}
            if v16
            else {"idTokenInfo": {"status": "Accepted"}}
        )
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": now_z(), "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": now_z()}
        if action == "Authorize":
            return accepted
        if action == "StartTransaction":
            return {"transactionId": next(self._tx), **accepted}
        if action == "TransactionEvent" and payload.get("eventType") == "Started":
            return accepted
        return {}

    def _record(self, station: str, frame: list[Any]) -> None:
        _, _, action, payload = frame
        self.errors.extend(schema_errors(self.version(station), action, payload))
        self.received.append(Received(station, action, payload, next(self._order)))
        self.events.append((station, "call", action))
        self.inflight[station] = self.inflight.get(station, 0) + 1
        self.max_inflight = max(self.max_inflight, self.inflight[station])

    async def _answer(self, ws: ServerConnection, station: str, frame: list[Any]) -> None:
        _, msg_id, action, payload = frame
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        self.inflight[station] -= 1
        try:
            custom = self.replies.get(action)
            reply = custom(station, payload) if custom else self._default(station, action, payload)
            answer: list[Any] = [3, msg_id, reply]
        except CallError as exc:
            answer = [4, msg_id, exc.code, exc.description, {"why": "test"}]
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(answer))

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        station = ws.request.path.rsplit("/", 1)[-1]
        self.headers[station] = dict(ws.request.headers)
        self.subprotocols[station] = ws.subprotocol
        self.connections[station] = ws
        self.connects[station] = self.connects.get(station, 0) + 1
        with contextlib.suppress(ConnectionClosed):
            await self._serve(ws, station)

    async def _serve(self, ws: ServerConnection, station: str) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if isinstance(raw, bytes):
                self.errors.append("binary frame")
            if frame[0] == 2:
                self._record(station, frame)
                task = asyncio.create_task(self._answer(ws, station, frame))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif frame[1] in self._pending:
                self.events.append((station, "answer", frame[1]))
                self._pending.pop(frame[1]).set_result(frame)
            async with self._changed:
                self._changed.notify_all()


@pytest.fixture
async def csms() -> AsyncIterator[FakeCsms]:
    fake = FakeCsms()
    server: Server
    async with serve(
        fake.handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")],
        compression=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        fake.url = f"ws://127.0.0.1:{port}/ocpp"
        yield fake
        for task in list(fake.tasks):
            task.cancel()
        await asyncio.gather(*fake.tasks, return_exceptions=True)
    assert fake.errors == [], fake.errors


# -- helpers shared by the test modules -------------------------------------------------------

FAST = SessionPattern(
    session_seconds=(0.25, 0.25), idle_seconds=(0.05, 0.1), fault_seconds=(0.05, 0.05)
)
MANUAL = SessionPattern(session_seconds=(30.0, 30.0), auto_start=False)


def make_station(
    csms: FakeCsms, version: str = "1.6", station_id: str = "CP1", **kw: Any
) -> VirtualStation:
    options: dict[str, Any] = {
        "connectors": 1,
        "meter_interval": 0.05,
        "pattern": FAST,
        "seed": 7,
        "time_scale": 600.0,
        "reconnect_base": 0.02,
        "reconnect_cap": 0.1,
        "boot_retry_cap": 0.05,
        "stop_grace": 2.0,
    }
    options.update(kw)
    return VirtualStation(csms.url, station_id, version, **options)


@contextlib.asynccontextmanager
async def running(station: VirtualStation) -> AsyncIterator[VirtualStation]:
    station.start()
    try:
        yield station
    finally:
        await station.stop()


def status_trail(csms: FakeCsms, station: str = "CP1", connector: int = 1) -> list[str]:
    """Actions in order, StatusNotifications of ``connector`` shown as ``S:<status>``, others dropped."""
    trail = []
    for r in csms.received:
        if r.station != station:
            continue
        if r.action != "StatusNotification":
            trail.append(r.action)
            continue
        conn = r.payload.get("connectorId") if "status" in r.payload else r.payload.get("evseId")
        if conn == connector:
            trail.append("S:" + r.payload.get("status", r.payload.get("connectorStatus", "?")))
    return trail


def collapse(trail: list[str]) -> list[str]:
    """Runs of the same entry collapsed to one."""
    return [a for i, a in enumerate(trail) if i == 0 or trail[i - 1] != a]


def registers(values: list[dict[str, Any]]) -> list[float]:
    return [
        float(v["value"]) for v in values if v.get("measurand") == "Energy.Active.Import.Register"
    ]


async def eventually(predicate: Callable[[], bool], within: float = 3.0) -> None:
    """Poll ``predicate`` until true (for state the fake CSMS does not see)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling state nobody signals
            await asyncio.sleep(0.01)

"""Commands are records: issued through the service, routed over the bus to the socket, answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.conftest import Running, open_station, rpc

pytestmark = pytest.mark.slow

Answer = Callable[[list[Any]], list[Any] | None]


async def answer_calls(ws: ClientConnection, answer: Answer, seen: list[list[Any]]) -> None:
    async for text in ws:
        frame = orjson.loads(text)
        seen.append(frame)
        reply = answer(frame)
        if reply is not None:
            await ws.send(orjson.dumps(reply).decode())


async def booted(server: Running, station_id: str, version: str) -> ClientConnection:
    await server.services.stations.create(station_id, password="station-password-1")
    ws = await open_station(server, station_id, password="station-password-1",
                            subprotocols=(version,))
    boot = ({"chargePointVendor": "V", "chargePointModel": "M"} if version == "ocpp1.6" else
            {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}})
    assert (await rpc(ws, [2, "b", "BootNotification", boot]))[2]["status"] == "Accepted"
    return ws


@pytest.mark.parametrize(("version", "action", "params"), [
    ("ocpp1.6", "Reset", {"type": "hard"}),
    ("ocpp2.0.1", "Reset", {"type": "hard"}),
])
async def test_command_accepted_by_station(
    server: Running, version: str, action: str, params: dict[str, Any]
) -> None:
    ws = await booted(server, "CMD1", version)
    seen: list[list[Any]] = []
    reader = asyncio.create_task(
        answer_calls(ws, lambda f: [3, f[1], {"status": "Accepted"}], seen))
    record = await server.services.commands.issue("CMD1", "reset", params, created_by="test")
    assert record.status == "accepted"
    assert record.ocpp_action == action
    assert record.response == {"status": "Accepted"}
    assert seen[0][2] == action
    assert record.request == seen[0][3]
    assert seen[0][3]["type"] in ("Hard", "Immediate")
    reader.cancel()
    await ws.close()


async def test_rejected_error_and_silence_are_visible_statuses(server: Running) -> None:
    ws = await booted(server, "CMD2", "ocpp1.6")
    replies = iter([
        lambda f: [3, f[1], {"status": "Rejected"}],
        lambda f: [4, f[1], "NotSupported", "no such thing", {}],
        lambda f: None,  # never answers
    ])
    seen: list[list[Any]] = []
    reader = asyncio.create_task(answer_calls(ws, lambda f: next(replies)(f), seen))
    rejected = await server.services.commands.issue("CMD2", "clear_cache", {})
    failed = await server.services.commands.issue("CMD2", "clear_cache", {})
    timed_out = await server.services.commands.issue("CMD2", "clear_cache", {})
    assert (rejected.status, failed.status, timed_out.status) == ("rejected", "failed", "timed_out")
    assert "NotSupported" in failed.error
    assert timed_out.sent_at is not None and timed_out.completed_at is not None
    reader.cancel()
    await ws.close()


async def test_command_to_offline_station_fails_at_once(server: Running) -> None:
    await server.services.stations.create("OFF", password=None)
    record = await server.services.commands.issue("OFF", "reset", {"type": "soft"})
    assert record.status == "failed"
    assert record.error == "station offline"


async def test_remote_stop_uses_the_stations_transaction_id(server: Running) -> None:
    ws = await booted(server, "CMD3", "ocpp2.0.1")
    await server.services.tokens.create("TAG-1")
    started = [2, "t1", "TransactionEvent", {
        "eventType": "Started", "timestamp": "2026-03-02T09:00:00Z", "triggerReason": "Authorized",
        "seqNo": 0, "transactionInfo": {"transactionId": "TX-ABC"}, "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-1", "type": "ISO14443"}}]
    assert (await rpc(ws, started))[0] == 3
    seen: list[list[Any]] = []
    reader = asyncio.create_task(
        answer_calls(ws, lambda f: [3, f[1], {"status": "Accepted"}], seen))
    record = await server.services.commands.issue("CMD3", "remote_stop", {"session_id": 1})
    assert record.status == "accepted"
    assert seen[0][2:] == ["RequestStopTransaction", {"transactionId": "TX-ABC"}]
    reader.cancel()
    await ws.close()

"""OcppClient against the fake CSMS: framing, correlation, errors, CSMS-initiated CALLs, shutdown."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import quote

import pytest

from evcsms.simulator.client import (
    CallErrorReceived,
    ConnectionLost,
    JsonObject,
    OcppClient,
    after_reply,
    basic_auth,
    station_ids,
    station_url,
)

from .conftest import CallError, FakeCsms

pytestmark = pytest.mark.slow


async def _client(
    csms: FakeCsms, station: str = "CP1", version: str = "1.6", **kw: Any
) -> OcppClient:
    client = OcppClient(csms.url, station, version, **kw)
    await client.connect()
    await csms.wait_for(lambda: quote(station, safe="") in csms.connections)
    return client


async def test_call_returns_result_and_negotiates_subprotocol_and_auth(csms: FakeCsms) -> None:
    client = await _client(csms, "CP 1", "2.0.1", password="s3cret")
    try:
        answer = await client.call("Heartbeat", {})
    finally:
        await client.close()
    assert "currentTime" in answer
    assert csms.subprotocols["CP%201"] == "ocpp2.0.1"
    expected = base64.b64encode(b"CP 1:s3cret").decode()
    assert csms.headers["CP%201"]["authorization"] == f"Basic {expected}"
    assert csms.actions() == ["Heartbeat"]
    assert client.calls_sent == 1


async def test_no_auth_header_without_password(csms: FakeCsms) -> None:
    client = await _client(csms)
    await client.close()
    assert "authorization" not in csms.headers["CP1"]
    assert csms.subprotocols["CP1"] == "ocpp1.6"


async def test_callerror_raises_with_code_description_details(csms: FakeCsms) -> None:
    def refuse(station: str, payload: JsonObject) -> JsonObject:
        raise CallError("PropertyConstraintViolation", "bad connector")

    csms.replies["StatusNotification"] = refuse
    client = await _client(csms)
    try:
        with pytest.raises(CallErrorReceived) as info:
            await client.call(
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
            )
        assert await client.call("Heartbeat", {}) != {}  # the client keeps working after an error
    finally:
        await client.close()
    assert (info.value.code, info.value.description) == (
        "PropertyConstraintViolation",
        "bad connector",
    )
    assert info.value.details == {"why": "test"}


async def test_only_one_call_outstanding(csms: FakeCsms) -> None:
    csms.answer_delay = 0.05
    client = await _client(csms)
    try:
        answers = await asyncio.gather(*(client.call("Heartbeat", {}) for _ in range(4)))
    finally:
        await client.close()
    assert len(answers) == 4
    assert csms.max_inflight == 1


async def test_handlers_answer_csms_calls_and_unknown_actions_get_not_implemented(
    csms: FakeCsms,
) -> None:
    seen: list[JsonObject] = []

    async def clear_cache(payload: JsonObject) -> JsonObject:
        seen.append(payload)
        return {"status": "Accepted"}

    async def boom(payload: JsonObject) -> JsonObject:
        raise RuntimeError("exploded")

    client = await _client(csms, handlers={"ClearCache": clear_cache, "DataTransfer": boom})
    try:
        ok = await csms.call("CP1", "ClearCache", {})
        unknown = await csms.call("CP1", "GetDiagnostics", {"location": "ftp://x"})
        failed = await csms.call("CP1", "DataTransfer", {"vendorId": "x"})
    finally:
        await client.close()
    assert ok[0] == 3 and ok[2] == {"status": "Accepted"}
    assert seen == [{}]
    assert unknown[0] == 4 and unknown[2] == "NotImplemented"
    assert failed[0] == 4 and failed[2] == "InternalError" and "exploded" in failed[3]


async def test_after_reply_runs_after_the_callresult_is_sent(csms: FakeCsms) -> None:
    client: OcppClient

    async def trigger(payload: JsonObject) -> JsonObject:
        async def send() -> None:
            await client.call("Heartbeat", {})

        after_reply(send)
        return {"status": "Accepted"}

    client = await _client(csms, handlers={"TriggerMessage": trigger})
    try:
        answer = await csms.call("CP1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
        await csms.wait_calls("Heartbeat")
    finally:
        await client.close()
    assert answer[2] == {"status": "Accepted"}
    kinds = [kind for station, kind, _ in csms.events]
    assert kinds == ["answer", "call"]


def test_after_reply_outside_a_handler_is_an_error() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError):
        after_reply(nothing)


async def test_close_cancels_reader_and_later_calls_fail(csms: FakeCsms) -> None:
    closed: list[bool] = []
    client = await _client(csms, on_close=lambda: closed.append(True))
    reader = client._reader
    await client.close()
    assert reader is not None and reader.done()
    assert not client.connected and closed == [True]
    with pytest.raises(ConnectionLost):
        await client.call("Heartbeat", {})


async def test_server_drop_fails_the_pending_call(csms: FakeCsms) -> None:
    csms.answer_delay = 1.0
    client = await _client(csms)
    try:
        pending = asyncio.create_task(client.call("Heartbeat", {}))
        await csms.wait_calls("Heartbeat")
        await csms.drop("CP1")
        with pytest.raises(ConnectionLost):
            await pending
        await asyncio.wait_for(client.wait_closed(), 2)
    finally:
        await client.close()


async def test_call_timeout(csms: FakeCsms) -> None:
    csms.answer_delay = 1.0
    client = await _client(csms, call_timeout=0.05)
    try:
        with pytest.raises(TimeoutError):
            await client.call("Heartbeat", {})
    finally:
        await client.close()


def test_url_auth_and_id_helpers() -> None:
    assert station_url("ws://h/ocpp/", "A/B") == "ws://h/ocpp/A%2FB"
    assert basic_auth("CP1", "pw") == "Basic " + base64.b64encode(b"CP1:pw").decode()
    assert station_ids("SIM", 3) == ["SIM0001", "SIM0002", "SIM0003"]
    assert station_ids("X", 10000)[-1] == "X10000"


async def test_unsupported_version_is_rejected() -> None:
    with pytest.raises(ValueError):
        await OcppClient("ws://127.0.0.1:9", "CP1", "1.5").connect()

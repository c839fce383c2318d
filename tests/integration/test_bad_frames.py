"""Bad input from a charger gets the CALLERROR OCPP specifies, and the connection lives on."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.conftest import Running, open_station, rpc

pytestmark = pytest.mark.slow

CASES_16 = [
    ("not json", "-1", "GenericError"),
    ('{"an": "object"}', "-1", "GenericError"),
    ('[2, "a1", "NoSuchAction", {}]', "a1", "NotImplemented"),
    ('[2, "a2", "BootNotification", {"chargePointVendor": "V"}]', "a2",
     "OccurenceConstraintViolation"),
    ('[2, "a3", "BootNotification", {"chargePointVendor": 5, "chargePointModel": "M"}]', "a3",
     "TypeConstraintViolation"),
    ('[2, "a4", "StatusNotification", {"connectorId": 1, "errorCode": "Nope", "status": "Available"}]',
     "a4", "PropertyConstraintViolation"),
    ('[2, "a5", "Heartbeat", {"extra": 1}]', "a5", "FormationViolation"),
    ('[7, "a6", "Heartbeat", {}]', "a6", "NotSupported"),
]

CASES_201 = [
    ("not json", "-1", "RpcFrameworkError"),
    ('[2, "b1", "NoSuchAction", {}]', "b1", "NotImplemented"),
    ('[2, "b2", "Heartbeat", {"extra": 1}]', "b2", "FormatViolation"),
    ('[2, "b3", "BootNotification", {"reason": "PowerUp"}]', "b3",
     "OccurrenceConstraintViolation"),
    ('[7, "b4", "Heartbeat", {}]', "b4", "MessageTypeNotSupported"),
]


@pytest.mark.parametrize(("version", "cases"), [("ocpp1.6", CASES_16), ("ocpp2.0.1", CASES_201)])
async def test_bad_frames_get_specific_call_errors(
    server: Running, version: str, cases: list[tuple[str, str, str]]
) -> None:
    await server.services.stations.create("BAD", password="secret-password-x")
    ws = await open_station(server, "BAD", password="secret-password-x", subprotocols=(version,))
    for frame, unique_id, code in cases:
        answer = await rpc(ws, frame)
        assert answer[:3] == [4, unique_id, code], frame
        assert answer[3], "a CALLERROR must say what is wrong"
        ok = await rpc(ws, [2, "hb", "Heartbeat", {}])
        assert ok[0] == 3, "the connection must stay up and keep working"
    await server.services.writer.barrier()
    entries = await server.services.message_log.entries("BAD", limit=500)
    assert len(entries) >= 4 * len(cases)
    await ws.close()


async def test_oversized_frame_closes_with_1009_and_keeps_what_was_stored(server: Running) -> None:
    await server.services.stations.create("BIG", password="secret-password-x")
    ws = await open_station(server, "BIG", password="secret-password-x")
    boot = await rpc(ws, [2, "1", "BootNotification",
                          {"chargePointVendor": "V", "chargePointModel": "M"}])
    assert boot[2]["status"] == "Accepted"
    huge = '[2, "2", "DataTransfer", {"vendorId": "x", "data": "' + "a" * 300_000 + '"}]'
    await ws.send(huge)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    row, _ = await server.services.stations.get("BIG")
    assert row.vendor == "V", "what was stored before stays stored"
    again = await open_station(server, "BIG", password="secret-password-x")
    assert (await rpc(again, [2, "3", "Heartbeat", {}]))[0] == 3
    await again.close()

"""VirtualStation speaking OCPP 2.0.1: transaction events, remote commands, device model."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import (
    MANUAL,
    FakeCsms,
    collapse,
    eventually,
    make_station,
    registers,
    running,
    status_trail,
)

pytestmark = pytest.mark.slow


def _events(csms: FakeCsms, kind: str | None = None) -> list[dict[str, Any]]:
    return [e for e in csms.calls("TransactionEvent") if kind is None or e["eventType"] == kind]


async def test_transaction_events_in_order(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1")) as st:
        await csms.wait_for(lambda: len(_events(csms, "Ended")) >= 2)
    assert collapse(status_trail(csms))[:6] == [
        "BootNotification",
        "S:Available",
        "S:Occupied",
        "Authorize",
        "TransactionEvent",
        "S:Available",
    ]
    assert csms.calls("BootNotification")[0]["reason"] == "PowerUp"
    assert csms.calls("Authorize")[0]["idToken"]["type"] == "ISO14443"
    tx_ids = list(dict.fromkeys(e["transactionInfo"]["transactionId"] for e in _events(csms)))
    trail: list[float] = []
    for tx in tx_ids[:2]:
        events = [e for e in _events(csms) if e["transactionInfo"]["transactionId"] == tx]
        assert len(tx) == 36
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        kinds = [e["eventType"] for e in events]
        assert kinds[0] == "Started" and kinds[-1] == "Ended" and set(kinds[1:-1]) == {"Updated"}
        started, ended = events[0], events[-1]
        assert started["triggerReason"] == "Authorized" and started["evse"] == {
            "id": 1,
            "connectorId": 1,
        }
        assert started["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
        assert {e["triggerReason"] for e in events[1:-1]} == {"MeterValuePeriodic"}
        assert ended["triggerReason"] == "EVCommunicationLost"
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"
        trail += [r for e in events for r in registers(e["meterValue"][0]["sampledValue"])]
    assert trail == sorted(trail) and trail[-1] > trail[0]
    assert st.stats.sessions_completed >= 2


async def test_refused_token_ends_the_transaction_deauthorized(csms: FakeCsms) -> None:
    csms.replies["TransactionEvent"] = lambda s, p: {"idTokenInfo": {"status": "Invalid"}}
    async with running(make_station(csms, "2.0.1")):
        await csms.wait_for(lambda: len(_events(csms, "Ended")) >= 1)
    started, ended = _events(csms)[:2]
    assert ended["eventType"] == "Ended" and ended["triggerReason"] == "Deauthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert ended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]


async def test_request_start_and_stop(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", connectors=2, pattern=MANUAL)):
        await csms.wait_calls("StatusNotification", 2)
        token = {"idToken": "APP-1", "type": "Central"}
        start = await csms.call(
            "CP1", "RequestStartTransaction", {"idToken": token, "remoteStartId": 42, "evseId": 2}
        )
        await csms.wait_for(lambda: len(_events(csms, "Updated")) >= 1)
        tx = _events(csms, "Started")[0]["transactionInfo"]["transactionId"]
        unlock_busy = await csms.call("CP1", "UnlockConnector", {"evseId": 2, "connectorId": 1})
        unknown = await csms.call("CP1", "RequestStopTransaction", {"transactionId": "nope"})
        stop = await csms.call("CP1", "RequestStopTransaction", {"transactionId": tx})
        await csms.wait_for(lambda: len(_events(csms, "Ended")) >= 1)
    assert start[2] == {"status": "Accepted"} and stop[2] == {"status": "Accepted"}
    assert unknown[2] == {"status": "Rejected"}
    assert unlock_busy[2] == {"status": "OngoingAuthorizedTransaction"}
    started, ended = _events(csms, "Started")[0], _events(csms, "Ended")[0]
    assert (
        started["triggerReason"] == "RemoteStart"
        and started["transactionInfo"]["remoteStartId"] == 42
    )
    assert started["evse"]["id"] == 2 and started["idToken"] == token
    assert (
        ended["triggerReason"] == "RemoteStop"
        and ended["transactionInfo"]["stoppedReason"] == "Remote"
    )
    assert csms.calls("Authorize") == []


async def test_get_and_set_variables(csms: FakeCsms) -> None:
    def item(component: str, variable: str, value: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"component": {"name": component}, "variable": {"name": variable}}
        if value is not None:
            data["attributeValue"] = value
        return data

    async with running(make_station(csms, "2.0.1", pattern=MANUAL)) as st:
        await csms.wait_calls("StatusNotification")
        got = await csms.call(
            "CP1",
            "GetVariables",
            {
                "getVariableData": [
                    item("OCPPCommCtrlr", "HeartbeatInterval"),
                    item("OCPPCommCtrlr", "Nope"),
                    item("Nope", "Nope"),
                ]
            },
        )
        put = await csms.call(
            "CP1",
            "SetVariables",
            {
                "setVariableData": [
                    item("SampledDataCtrlr", "TxUpdatedInterval", "30"),
                    item("EVSE", "Count", "5"),
                ]
            },
        )
        assert st.meter_interval == 30.0
    results = got[2]["getVariableResult"]
    assert results[0]["attributeStatus"] == "Accepted" and results[0]["attributeValue"] == "300"
    assert [r["attributeStatus"] for r in results[1:]] == ["UnknownVariable", "UnknownComponent"]
    assert [r["attributeStatus"] for r in put[2]["setVariableResult"]] == ["Accepted", "Rejected"]


async def test_reset_reboots_with_remote_reset_reason(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", pattern=MANUAL)) as st:
        await csms.wait_calls("StatusNotification")
        answer = await csms.call("CP1", "Reset", {"type": "Immediate"})
        boots = await csms.wait_calls("BootNotification", 2)
        await eventually(lambda: st.booted)
    assert answer[2] == {"status": "Accepted"}
    assert [b["reason"] for b in boots] == ["PowerUp", "RemoteReset"]


async def test_trigger_availability_and_unlock(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", connectors=2, pattern=MANUAL)):
        await csms.wait_calls("StatusNotification", 2)
        trig = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}
        )
        await csms.wait_calls("StatusNotification", 3)
        meter = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 2}}
        )
        values = await csms.wait_calls("MeterValues")
        off = await csms.call("CP1", "ChangeAvailability", {"operationalStatus": "Inoperative"})
        await csms.wait_calls("StatusNotification", 5)
        unlock = await csms.call("CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1})
        missing = await csms.call("CP1", "UnlockConnector", {"evseId": 3, "connectorId": 1})
    assert trig[2] == meter[2] == off[2] == {"status": "Accepted"}
    assert (
        values[0]["evseId"] == 2
        and values[0]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    )
    assert [p["connectorStatus"] for p in csms.calls("StatusNotification")[3:5]] == [
        "Unavailable"
    ] * 2
    assert unlock[2] == {"status": "Unlocked"} and missing[2] == {"status": "UnknownConnector"}

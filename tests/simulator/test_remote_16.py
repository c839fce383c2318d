"""CSMS-initiated OCPP 1.6 commands against a VirtualStation (answers checked against the schemas)."""

from __future__ import annotations

import pytest

from .conftest import MANUAL, FakeCsms, eventually, make_station, running, status_trail

pytestmark = pytest.mark.slow


async def _booted(csms: FakeCsms, connectors: int = 2) -> None:
    await csms.wait_calls("StatusNotification", connectors)


async def test_remote_start_and_stop(csms: FakeCsms) -> None:
    async with running(make_station(csms, connectors=2, pattern=MANUAL)) as st:
        await _booted(csms)
        answer = await csms.call(
            "CP1", "RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 2}
        )
        assert answer[2] == {"status": "Accepted"}
        start = (await csms.wait_calls("StartTransaction"))[0]
        busy = await csms.call(
            "CP1", "RemoteStartTransaction", {"idTag": "REMOTE2", "connectorId": 2}
        )
        unknown = await csms.call("CP1", "RemoteStopTransaction", {"transactionId": 424242})
        await csms.wait_calls("MeterValues")
        stop = await csms.call("CP1", "RemoteStopTransaction", {"transactionId": 1000})
        ended = (await csms.wait_calls("StopTransaction"))[0]
        await csms.wait_for(lambda: status_trail(csms, connector=2)[-1] == "S:Available")
        assert st.stats.sessions_completed == 1
    assert start["connectorId"] == 2 and start["idTag"] == "REMOTE1"
    assert csms.calls("Authorize") == []  # AuthorizeRemoteTxRequests is false
    assert busy[2] == {"status": "Rejected"} and unknown[2] == {"status": "Rejected"}
    assert stop[2] == {"status": "Accepted"}
    assert ended["transactionId"] == 1000 and ended["reason"] == "Remote"
    assert all(m["connectorId"] == 2 for m in csms.calls("MeterValues"))


async def test_remote_start_without_connector_takes_the_first_free_one(csms: FakeCsms) -> None:
    async with running(make_station(csms, connectors=2, pattern=MANUAL)):
        await _booted(csms)
        first = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "A"})
        await csms.wait_calls("StartTransaction")
        second = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "B"})
        starts = await csms.wait_calls("StartTransaction", 2)
        third = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "C"})
    assert [first[2], second[2], third[2]] == [{"status": "Accepted"}] * 2 + [
        {"status": "Rejected"}
    ]
    assert [(s["connectorId"], s["idTag"]) for s in starts] == [(1, "A"), (2, "B")]


async def test_configuration_get_and_change(csms: FakeCsms) -> None:
    async with running(make_station(csms, pattern=MANUAL)) as st:
        await _booted(csms, 1)
        everything = await csms.call("CP1", "GetConfiguration", {})
        some = await csms.call(
            "CP1", "GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope"]}
        )
        changed = await csms.call(
            "CP1", "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "15"}
        )
        readonly = await csms.call(
            "CP1", "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}
        )
        invalid = await csms.call(
            "CP1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "soon"}
        )
        custom = await csms.call(
            "CP1", "ChangeConfiguration", {"key": "VendorThing", "value": "on"}
        )
        again = await csms.call(
            "CP1", "GetConfiguration", {"key": ["MeterValueSampleInterval", "VendorThing"]}
        )
        assert st.meter_interval == 15.0
    keys = {k["key"]: k for k in everything[2]["configurationKey"]}
    assert {"HeartbeatInterval", "MeterValueSampleInterval", "NumberOfConnectors"} <= keys.keys()
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "1",
    }
    assert [k["key"] for k in some[2]["configurationKey"]] == ["MeterValueSampleInterval"]
    assert some[2]["unknownKey"] == ["Nope"]
    statuses = [a[2]["status"] for a in (changed, readonly, invalid, custom)]
    assert statuses == ["Accepted", "Rejected", "Rejected", "Accepted"]
    assert [k["value"] for k in again[2]["configurationKey"]] == ["15", "on"]


async def test_unlock_availability_cache_and_data_transfer(csms: FakeCsms) -> None:
    async with running(make_station(csms, connectors=2, pattern=MANUAL)):
        await _booted(csms)
        unlocked = await csms.call("CP1", "UnlockConnector", {"connectorId": 1})
        missing = await csms.call("CP1", "UnlockConnector", {"connectorId": 9})
        off = await csms.call(
            "CP1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
        )
        await csms.wait_for(lambda: status_trail(csms)[-1] == "S:Unavailable")
        refused = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "X", "connectorId": 1})
        on = await csms.call("CP1", "ChangeAvailability", {"connectorId": 0, "type": "Operative"})
        await csms.wait_for(lambda: status_trail(csms)[-1] == "S:Available")
        cache = await csms.call("CP1", "ClearCache", {})
        data = await csms.call("CP1", "DataTransfer", {"vendorId": "acme", "data": "x"})
        unknown = await csms.call("CP1", "GetLocalListVersion", {})
    assert unlocked[2] == {"status": "Unlocked"} and missing[2] == {"status": "NotSupported"}
    assert off[2] == on[2] == {"status": "Accepted"} and refused[2] == {"status": "Rejected"}
    assert cache[2] == data[2] == {"status": "Accepted"}
    assert unknown[0] == 4 and unknown[2] == "NotImplemented"
    assert status_trail(csms, connector=2).count("S:Unavailable") == 0


async def test_trigger_message_sends_after_answering(csms: FakeCsms) -> None:
    async with running(make_station(csms, connectors=2, pattern=MANUAL)):
        await _booted(csms)
        before = len(csms.received)
        status = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 2}
        )
        await csms.wait_for(lambda: len(csms.received) > before)
        meter = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}
        )
        await csms.wait_calls("MeterValues")
        beat = await csms.call("CP1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
        await csms.wait_calls("Heartbeat")
        boot = await csms.call("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"})
        await csms.wait_calls("BootNotification", 2)
        bad = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 7}
        )
        diag = await csms.call(
            "CP1", "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}
        )
        idle = await csms.wait_calls("DiagnosticsStatusNotification")
    assert [a[2]["status"] for a in (status, meter, beat, boot)] == ["Accepted"] * 4
    assert bad[2] == {"status": "Rejected"} and diag[2] == {"status": "Accepted"}
    assert idle == [{"status": "Idle"}]  # no upload running
    assert csms.received[before].payload["connectorId"] == 2
    kinds = [kind for _, kind, _ in csms.events]
    first_answer = kinds.index("answer")
    assert kinds[first_answer + 1] == "call"  # the triggered message follows the answer
    sampled = csms.calls("MeterValues")[0]["meterValue"][0]["sampledValue"]
    assert sampled[0]["context"] == "Trigger"


async def test_reset_ends_sessions_and_reboots(csms: FakeCsms) -> None:
    async with running(make_station(csms, connectors=2, pattern=MANUAL)) as st:
        await _booted(csms)
        await csms.call("CP1", "RemoteStartTransaction", {"idTag": "R", "connectorId": 1})
        await csms.wait_calls("MeterValues")
        answer = await csms.call("CP1", "Reset", {"type": "Hard"})
        stop = (await csms.wait_calls("StopTransaction"))[0]
        await csms.wait_calls("BootNotification", 2)
        await eventually(lambda: st.booted)
    assert answer[2] == {"status": "Accepted"}
    assert stop["reason"] == "HardReset"
    assert csms.connects["CP1"] == 2
    after = status_trail(csms)[status_trail(csms).index("BootNotification", 1) :]
    assert after[:2] == ["BootNotification", "S:Available"]

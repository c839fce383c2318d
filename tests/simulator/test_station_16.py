"""VirtualStation speaking OCPP 1.6 to the fake CSMS: lifecycle, refusals, reconnects, faults."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from evcsms.simulator.connector import FAULT_CODES_16

from .conftest import FAST, FakeCsms, collapse, make_station, registers, running, status_trail

pytestmark = pytest.mark.slow

MEASURANDS = (
    ["Energy.Active.Import.Register", "Power.Active.Import"]
    + ["Current.Import"] * 3
    + ["Voltage"] * 3
)


async def test_two_sessions_in_order_with_growing_register(csms: FakeCsms) -> None:
    async with running(make_station(csms)) as st:
        await csms.wait_calls("StopTransaction", 2)
    session = [
        "S:Preparing",
        "Authorize",
        "StartTransaction",
        "S:Charging",
        "MeterValues",
        "StopTransaction",
        "S:Finishing",
        "S:Available",
    ]
    assert (
        collapse(status_trail(csms))[: 2 + 2 * len(session)]
        == ["BootNotification", "S:Available"] + session * 2
    )
    starts, stops = csms.calls("StartTransaction"), csms.calls("StopTransaction")
    assert [s["transactionId"] for s in stops[:2]] == [1000, 1001]
    assert all(s["reason"] == "EVDisconnected" for s in stops)
    trail: list[float] = []
    for start, stop in zip(starts, stops, strict=False):
        meter = [
            m for m in csms.calls("MeterValues") if m["transactionId"] == stop["transactionId"]
        ]
        assert meter and all(m["connectorId"] == 1 for m in meter)
        trail += [
            start["meterStart"],
            *(r for m in meter for r in registers(m["meterValue"][0]["sampledValue"])),
        ]
        trail.append(stop["meterStop"])
        assert stop["meterStop"] > start["meterStart"]
        end = stop["transactionData"][0]["sampledValue"]
        assert (
            end[0]["context"] == "Transaction.End" and float(end[0]["value"]) == stop["meterStop"]
        )
    assert trail == sorted(trail) and trail[-1] > trail[0]
    assert st.stats.sessions_started == st.stats.sessions_completed >= 2
    assert st.stats.energy_wh > 0


async def test_meter_values_carry_power_currents_and_voltages(csms: FakeCsms) -> None:
    async with running(make_station(csms)):
        await csms.wait_calls("MeterValues", 3)
    for payload in csms.calls("MeterValues"):
        sampled = payload["meterValue"][0]["sampledValue"]
        assert [v["measurand"] for v in sampled] == MEASURANDS
        assert {v["context"] for v in sampled} == {"Sample.Periodic"}
        assert [v.get("phase") for v in sampled[2:5]] == ["L1", "L2", "L3"]
        assert [v["unit"] for v in sampled[:3]] == ["Wh", "W", "A"]
        assert all(210 < float(v["value"]) < 250 for v in sampled[5:])
        assert payload["meterValue"][0]["timestamp"].endswith("Z")
    powers = [
        float(p["meterValue"][0]["sampledValue"][1]["value"]) for p in csms.calls("MeterValues")
    ]
    assert powers[0] < powers[2] <= 11_000 * 1.02  # ramps up towards a 7.4 or 11 kW target


async def test_rejected_authorize_does_not_start_a_transaction(csms: FakeCsms) -> None:
    csms.replies["Authorize"] = lambda s, p: {"idTagInfo": {"status": "Blocked"}}
    async with running(make_station(csms, id_tags=["BADTAG"])):
        await csms.wait_calls("Authorize", 2)
    assert csms.calls("StartTransaction") == []
    assert collapse(status_trail(csms))[:5] == [
        "BootNotification",
        "S:Available",
        "S:Preparing",
        "Authorize",
        "S:Available",
    ]


async def test_rejected_start_is_closed_again_without_charging(csms: FakeCsms) -> None:
    csms.replies["StartTransaction"] = lambda s, p: {
        "transactionId": 77,
        "idTagInfo": {"status": "Invalid"},
    }
    async with running(make_station(csms)) as st:
        await csms.wait_calls("StopTransaction")
    stop = csms.calls("StopTransaction")[0]
    assert stop["transactionId"] == 77 and stop["reason"] == "DeAuthorized"
    assert stop["meterStop"] == csms.calls("StartTransaction")[0]["meterStart"]
    assert csms.calls("MeterValues") == []
    assert "S:Charging" not in status_trail(csms)
    assert st.stats.sessions_started == 0


async def test_pending_boot_is_retried_and_interval_becomes_heartbeat(csms: FakeCsms) -> None:
    answers = itertools.chain([("Pending", 0), ("Rejected", 0)], itertools.repeat(("Accepted", 1)))

    def boot(station: str, payload: dict[str, Any]) -> dict[str, Any]:
        status, interval = next(answers)
        return {"status": status, "currentTime": "2025-01-01T00:00:00Z", "interval": interval}

    csms.replies["BootNotification"] = boot
    async with running(make_station(csms, pattern=FAST.__class__(auto_start=False))) as st:
        await csms.wait_calls("Heartbeat", within=3)
    assert csms.actions()[:4] == ["BootNotification"] * 3 + ["StatusNotification"]
    assert st.heartbeat_interval == 1.0
    assert st.config.get("HeartbeatInterval") == "1"


async def test_connection_drop_keeps_the_transaction_going(csms: FakeCsms) -> None:
    pattern = FAST.__class__(session_seconds=(0.6, 0.6), idle_seconds=(0.01, 0.01))
    async with running(make_station(csms, pattern=pattern)) as st:
        await csms.wait_calls("MeterValues", 2)
        await csms.drop("CP1")
        await csms.wait_calls("StopTransaction", within=5)
    assert csms.connects["CP1"] == 2 and st.stats.reconnects == 1
    tx = csms.calls("StartTransaction")
    stop = csms.calls("StopTransaction")[0]
    assert stop["transactionId"] == 1000 and stop["reason"] == "EVDisconnected"
    after_reboot = status_trail(csms)[status_trail(csms).index("BootNotification", 1) :]
    assert after_reboot[1] == "S:Charging"  # status after reconnect reports the running session
    meter = [m for m in csms.calls("MeterValues") if m["transactionId"] == 1000]
    values = [
        tx[0]["meterStart"],
        *(registers(m["meterValue"][0]["sampledValue"])[0] for m in meter),
        stop["meterStop"],
    ]
    assert values == sorted(values)
    assert len(meter) >= 3


async def test_stop_ends_the_open_session_locally_and_disconnects(csms: FakeCsms) -> None:
    pattern = FAST.__class__(session_seconds=(30.0, 30.0), idle_seconds=(0.01, 0.01))
    st = make_station(csms, pattern=pattern)
    st.start()
    await csms.wait_calls("MeterValues")
    started = time.monotonic()
    await st.stop()
    assert time.monotonic() - started < 1.5
    assert csms.calls("StopTransaction")[0]["reason"] == "Local"
    assert status_trail(csms)[-1] == "S:Available"
    assert not st.booted and st.stats.online == 0
    await csms.wait_for(lambda: csms.connections["CP1"].state.name == "CLOSED")


async def test_faults_are_reported_and_recovered(csms: FakeCsms) -> None:
    async with running(make_station(csms, fault_probability=1.0)) as st:
        await csms.wait_for(lambda: status_trail(csms).count("S:Faulted") >= 2)
    faulted = [p for p in csms.calls("StatusNotification") if p["status"] == "Faulted"]
    assert all(p["errorCode"] in FAULT_CODES_16 and p["errorCode"] != "NoError" for p in faulted)
    trail = collapse(status_trail(csms))
    assert trail[:4] == ["BootNotification", "S:Available", "S:Faulted", "S:Available"]
    assert csms.calls("StartTransaction") == [] and st.stats.faults >= 2


async def test_unreachable_csms_backs_off_and_stops_promptly() -> None:
    from evcsms.simulator import VirtualStation

    st = VirtualStation(
        "ws://127.0.0.1:9/ocpp", "CP1", reconnect_base=0.05, reconnect_cap=0.1, seed=1
    )
    st.start()
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await st.stop()
    assert time.monotonic() - started < 0.5
    assert 2 <= st.stats.connect_failures <= 15
    assert st.stats.connected == 0

"""Injected faults: what the virtual station sends for each fault class and after clearing it
(against the fake CSMS, which checks every frame against the OCPP schemas)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from evcsms.simulator.faults import (
    FAULTS,
    Fault,
    Injection,
    MeterEffects,
    PlannedFault,
    make_params,
    parse_planned,
)
from evcsms.simulator.meter import MeterSample

from .conftest import MANUAL, FakeCsms, collapse, eventually, make_station, registers, running

pytestmark = pytest.mark.slow

LONG = MANUAL.__class__(session_seconds=(30.0, 30.0), auto_start=False, phases=(3,))


# -- pure parts ---------------------------------------------------------------------------------


def test_every_fault_class_is_described() -> None:
    assert set(FAULTS) == set(Fault)
    for spec in FAULTS.values():
        assert spec.incident and spec.effect and spec.clears and spec.detection and spec.symptom


@pytest.mark.parametrize(
    ("text", "planned"),
    [
        ("voltage_low:SIM0001", PlannedFault(Fault.VOLTAGE_LOW, "SIM0001")),
        ("offline:CP-7@5+120", PlannedFault(Fault.OFFLINE, "CP-7", None, 5.0, 120.0)),
        (
            "connector_fault:SIM0002/0@1.5,code=OverVoltage",
            PlannedFault(Fault.CONNECTOR_FAULT, "SIM0002", 0, 1.5, None, {"code": "OverVoltage"}),
        ),
        (" Flapping:X/1 , count=5 ", PlannedFault(Fault.FLAPPING, "X", 1, params={"count": "5"})),
    ],
)
def test_planned_fault_syntax(text: str, planned: PlannedFault) -> None:
    assert parse_planned(text) == planned


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("voltage_low", "expected KIND:STATION"),
        ("melted:CP1", "unknown fault 'melted'"),
        ("offline:CP1@soon", "must be numbers"),
        ("offline:CP1@-1", "non-negative"),
        ("voltage_low:CP1,volts", "name=value"),
        ("voltage_low:CP1,volts=high", "volts='high' is not a float"),
        ("flapping:CP1,count=0", "count must be at least 1"),
    ],
)
def test_planned_fault_errors_say_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_planned(text)


def test_params_take_the_default_type() -> None:
    assert make_params(Fault.FLAPPING, {"count": "4"}) == {"count": 4, "down": 0.5, "up": 1.0}
    assert make_params(Fault.CONNECTOR_FAULT, {}) == {"code": "GroundFailure"}


def _inj(fault: Fault, **params: Any) -> Injection:
    return Injection(fault, "CP1", 1, make_params(fault, params))


def test_meter_effects_change_what_the_meter_reports() -> None:
    s = MeterSample(1000, 11000.0, (16.0, 16.0, 16.0), (230.0, 229.0, 231.0))
    assert MeterEffects.of([]).apply(s, 3) == s and not MeterEffects.of([]).any
    low = MeterEffects.of([_inj(Fault.VOLTAGE_LOW)]).apply(s, 3)
    assert all(194 <= v <= 196 for v in low.voltages_v)
    assert sum(a * v for a, v in zip(low.currents_a, low.voltages_v, strict=True)) == (
        pytest.approx(11000, rel=0.01)
    )
    skewed = MeterEffects.of([_inj(Fault.PHASE_IMBALANCE, ratio=0.25)]).apply(s, 1)
    l1, l2, l3 = skewed.currents_a
    assert l1 == l2 > 6 and l3 == pytest.approx(l1 / 4, abs=0.01)  # three phases, even from one
    assert MeterEffects.of([_inj(Fault.OVER_CURRENT)]).apply(s, 1).currents_a == (40.0, 0.0, 0.0)
    assert MeterEffects.of([_inj(Fault.OVER_TEMPERATURE)]).apply(s, 3).temperature_c == 85.0
    assert MeterEffects.of([_inj(Fault.FROZEN_REGISTER)]).frozen


# -- the station ----------------------------------------------------------------------------------


def _last_status(csms: FakeCsms) -> str:
    last = csms.calls("StatusNotification")[-1]
    return str(last.get("status", last.get("connectorStatus")))


def _values(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for mv in payload["meterValue"] for v in mv["sampledValue"]]


def _measured(values: list[dict[str, Any]], measurand: str) -> list[float]:
    return [float(v["value"]) for v in values if v.get("measurand") == measurand]


def _samples(csms: FakeCsms, version: str) -> list[list[dict[str, Any]]]:
    """The sampled values of every periodic meter value sent, in order."""
    if version == "1.6":
        return [_values(p) for p in csms.calls("MeterValues")]
    return [
        _values(p)
        for p in csms.calls("TransactionEvent")
        if p["eventType"] == "Updated" and "meterValue" in p
    ]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_connector_fault_ends_the_session_and_reports_faulted_then_available(
    csms: FakeCsms, version: str
) -> None:
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        assert st.start_session(1)
        await csms.wait_for(lambda: len(_samples(csms, version)) >= 1)
        inj = st.inject(Fault.CONNECTOR_FAULT, code="PowerSwitchFailure")
        async with asyncio.timeout(5):
            await inj.wait_for("status")
        assert not st.start_session(1)  # a faulted connector takes no driver
        st.clear_fault(Fault.CONNECTOR_FAULT)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await csms.wait_for(lambda: _last_status(csms) == "Available")
        if version == "2.0.1":
            await csms.wait_calls("NotifyEvent", 2)
    statuses = csms.calls("StatusNotification")
    if version == "1.6":
        stop = csms.calls("StopTransaction")[0]
        assert stop["reason"] == "Other"
        shown = [(p["status"], p["errorCode"]) for p in statuses if p["connectorId"] == 1]
        assert shown[-3:] == [
            ("Finishing", "NoError"),
            ("Faulted", "PowerSwitchFailure"),
            ("Available", "NoError"),
        ]
        assert csms.calls("NotifyEvent") == []
    else:
        ended = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Ended"][0]
        assert ended["transactionInfo"]["stoppedReason"] == "Other"
        assert [p["connectorStatus"] for p in statuses][-2:] == ["Faulted", "Available"]
        events = [p["eventData"][0] for p in csms.calls("NotifyEvent")]
        assert [(e["actualValue"], e["cleared"], e["techCode"]) for e in events] == [
            ("true", False, "PowerSwitchFailure"),
            ("false", True, "PowerSwitchFailure"),
        ]
        assert events[0]["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
        assert events[0]["variable"] == {"name": "Problem"}


async def test_station_wide_fault_is_connector_0_in_1_6(csms: FakeCsms) -> None:
    async with running(make_station(csms, pattern=LONG, connectors=2)) as st:
        await st.wait_online()
        inj = st.inject(Fault.CONNECTOR_FAULT, connector=0, code="InternalError")
        async with asyncio.timeout(5):
            await inj.wait_for("status")
        assert not st.accepting_sessions and not st.start_session(2)
        st.clear_fault(Fault.CONNECTOR_FAULT, connector=0)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await csms.wait_calls("StatusNotification", 4)  # 1 and 2 at boot, then 0 Faulted, 0 Available
        assert st.accepting_sessions
    station = [
        (p["status"], p["errorCode"])
        for p in csms.calls("StatusNotification")
        if p["connectorId"] == 0
    ]
    assert station == [("Faulted", "InternalError"), ("Available", "NoError")]


async def test_station_wide_fault_faults_every_evse_in_2_0_1(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", pattern=LONG, connectors=2)) as st:
        await st.wait_online()
        inj = st.inject(Fault.CONNECTOR_FAULT, connector=0)
        async with asyncio.timeout(5):
            await inj.wait_for("status", 2)
        st.clear_fault(Fault.CONNECTOR_FAULT, 0)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared", 2)
        await csms.wait_calls("NotifyEvent", 4)
    faulted = [
        p["evseId"] for p in csms.calls("StatusNotification") if p["connectorStatus"] == "Faulted"
    ]
    assert sorted(faulted) == [1, 2]
    assert len(csms.calls("NotifyEvent")) == 4


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_offline_drops_the_link_until_cleared_and_comes_back_without_booting(
    csms: FakeCsms, version: str
) -> None:
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(Fault.OFFLINE)
        async with asyncio.timeout(5):
            await inj.wait_for("drop")
        await eventually(lambda: csms.connections["CP1"].state.name == "CLOSED")
        await asyncio.sleep(0.3)  # reconnect_cap is 0.1 s: it would have been back by now
        assert not st.booted and csms.connects["CP1"] == 1
        st.clear_fault(Fault.OFFLINE)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        assert st.booted and csms.connects["CP1"] == 2
    assert len(csms.calls("BootNotification")) == 1  # the link dropped; it did not reboot
    assert collapse(csms.actions()) == ["BootNotification", "StatusNotification"]
    assert len(csms.calls("StatusNotification")) == 2  # one per connection


async def test_hung_station_answers_nothing_until_cleared(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", pattern=LONG)) as st:
        await st.wait_online()
        st.config.set("HeartbeatInterval", "0.05")
        await csms.wait_calls("Heartbeat", 2)
        inj = st.inject(Fault.HUNG)
        async with asyncio.timeout(5):
            await inj.wait_for("hung")
        beats = len(csms.calls("Heartbeat"))
        ws = csms.connections["CP1"]
        with pytest.raises(TimeoutError):  # no pong: the station reads nothing
            async with asyncio.timeout(0.3):
                await (await ws.ping())
        assert len(csms.calls("Heartbeat")) == beats and ws.state.name == "OPEN"
        st.clear_fault(Fault.HUNG)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await csms.wait_calls("Heartbeat", beats + 1)
        async with asyncio.timeout(2):
            await (await ws.ping())  # alive again on the same socket


async def test_hung_station_whose_socket_was_dropped_reconnects_when_cleared(
    csms: FakeCsms,
) -> None:
    async with running(make_station(csms, pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(Fault.HUNG)
        async with asyncio.timeout(5):
            await inj.wait_for("hung")
        await csms.drop("CP1")  # the CSMS gives up on it
        await asyncio.sleep(0.3)
        assert csms.connects["CP1"] == 1  # it does not notice while hung
        st.clear_fault(Fault.HUNG)
        await csms.wait_for(lambda: csms.connects.get("CP1") == 2)
        await csms.wait_calls("Heartbeat")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_flapping_drops_and_reconnects_count_times(csms: FakeCsms, version: str) -> None:
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(Fault.FLAPPING, count=3, down=0.05, up=0.05)
        async with asyncio.timeout(5):
            await inj.wait_for("drop", 3)
        await eventually(lambda: st.booted)
        await csms.wait_for(lambda: csms.connects.get("CP1") == 4)
        st.clear_fault(Fault.FLAPPING)
    assert len(csms.calls("BootNotification")) == 1
    assert len(inj.times("drop")) == 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_boot_loop_reboots_count_times(csms: FakeCsms, version: str) -> None:
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        assert st.start_session(1)
        await csms.wait_for(lambda: len(_samples(csms, version)) >= 1)
        inj = st.inject(Fault.BOOT_LOOP, count=3, interval=0.05)
        async with asyncio.timeout(10):
            await inj.wait_for("boot", 3)
        await st.wait_online()
        st.clear_fault(Fault.BOOT_LOOP)
    boots = csms.calls("BootNotification")
    assert len(boots) == 4 and csms.connects["CP1"] == 4
    if version == "2.0.1":
        assert [b["reason"] for b in boots] == ["PowerUp"] + ["Watchdog"] * 3
        ended = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Ended"]
        assert ended[0]["transactionInfo"]["stoppedReason"] == "Reboot"
    else:
        assert csms.calls("StopTransaction")[0]["reason"] == "Reboot"


METER_CHECKS: dict[Fault, Any] = {
    Fault.VOLTAGE_LOW: lambda v: all(x < 200 for x in _measured(v, "Voltage")),
    Fault.VOLTAGE_HIGH: lambda v: all(x > 255 for x in _measured(v, "Voltage")),
    Fault.PHASE_IMBALANCE: lambda v: (lambda a: a[0] > 6 and a[2] < a[0] * 0.25)(
        _measured(v, "Current.Import")
    ),
    Fault.OVER_CURRENT: lambda v: max(_measured(v, "Current.Import")) == 40.0,
    Fault.OVER_TEMPERATURE: lambda v: _measured(v, "Temperature") == [85.0],
}


@pytest.mark.parametrize(
    ("version", "fault"),
    [
        (version, fault)
        for version in ("1.6", "2.0.1")
        for fault in METER_CHECKS
        if (version, fault) != ("2.0.1", Fault.OVER_TEMPERATURE)  # no such measurand in 2.0.1
    ],
)
async def test_meter_faults_show_in_the_samples_of_a_session_they_start(
    csms: FakeCsms, version: str, fault: Fault
) -> None:
    check = METER_CHECKS[fault]
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(fault)  # no session runs: one is started
        async with asyncio.timeout(5):
            await inj.wait_for("sample", 2)
        faulty = len(_samples(csms, version))
        assert all(check(values) for values in _samples(csms, version)[:faulty])
        st.clear_fault(fault)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await csms.wait_for(lambda: len(_samples(csms, version)) >= faulty + 2)
        assert not check(_samples(csms, version)[-1])
    temperatures = [_measured(v, "Temperature") for v in _samples(csms, version)]
    assert temperatures[-1] == []


async def test_2_0_1_over_temperature_is_a_monitor_alert(csms: FakeCsms) -> None:
    async with running(make_station(csms, "2.0.1", pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(Fault.OVER_TEMPERATURE, celsius=91)
        async with asyncio.timeout(5):
            await inj.wait_for("event")
        st.clear_fault(Fault.OVER_TEMPERATURE)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await csms.wait_calls("NotifyEvent", 2)
    assert inj.spec.incident_for("2.0.1") == "station_event"
    events = [p["eventData"][0] for p in csms.calls("NotifyEvent")]
    assert [(e["trigger"], e["actualValue"], e["cleared"]) for e in events] == [
        ("Alerting", "91.0", False),
        ("Alerting", "91.0", True),
    ]
    assert events[0]["variable"] == {"name": "Temperature"}
    assert csms.calls("TransactionEvent") == []  # a monitor, not a session's meter values


def _runs(values: list[list[dict[str, Any]]]) -> list[int]:
    """Lengths of the runs of samples with the same register while power flows."""
    runs, last = [0], None
    for v in values:
        register = _measured(v, "Energy.Active.Import.Register")[0]
        if register == last and _measured(v, "Power.Active.Import")[0] > 500:
            runs[-1] += 1
        else:
            runs.append(1)
        last = register
    return runs


async def test_frozen_register_keeps_reporting_power(csms: FakeCsms) -> None:
    async with running(make_station(csms, pattern=LONG)) as st:
        await st.wait_online()
        assert st.start_session(1)
        await csms.wait_calls("MeterValues", 2)
        assert max(_runs(_samples(csms, "1.6"))) == 1
        inj = st.inject(Fault.FROZEN_REGISTER)
        async with asyncio.timeout(5):
            await inj.wait_for("sample", 5)
        st.clear_fault(Fault.FROZEN_REGISTER)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        sent = len(csms.calls("MeterValues"))
        await csms.wait_calls("MeterValues", sent + 2)
    runs = _runs(_samples(csms, "1.6"))
    assert max(runs) >= 5 and runs[-1] == 1  # frozen for a while, counting again at the end


@pytest.mark.parametrize(
    ("fault", "sign"), [(Fault.REGISTER_BACKWARDS, -1), (Fault.IMPLAUSIBLE_JUMP, 1)]
)
async def test_register_faults_step_once_and_end_the_session(
    csms: FakeCsms, fault: Fault, sign: int
) -> None:
    async with running(make_station(csms, pattern=LONG)) as st:
        await st.wait_online()
        assert st.start_session(1)
        await csms.wait_calls("MeterValues", 2)
        inj = st.inject(fault)
        async with asyncio.timeout(5):
            await inj.wait_for("session_end")
        await csms.wait_calls("StopTransaction")
    trail = [
        r for p in csms.calls("MeterValues") for r in registers(p["meterValue"][0]["sampledValue"])
    ]
    steps = [b - a for a, b in zip(trail, trail[1:], strict=False)]
    wh = FAULTS[fault].defaults["wh"]
    # the step, give or take the energy of that sample (11 kW x 0.05 s x time_scale 600)
    big = [s for s in steps if abs(s) > 200]
    assert big == [pytest.approx(sign * wh, abs=200)]
    assert len(csms.calls("StopTransaction")) == 1
    assert csms.calls("StopTransaction")[0]["meterStop"] == trail[-1]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_failed_sessions_are_authorised_started_and_empty(
    csms: FakeCsms, version: str
) -> None:
    async with running(make_station(csms, version, pattern=LONG)) as st:
        await st.wait_online()
        inj = st.inject(Fault.SILENT_FAILURE, count=2, seconds=0.1)
        async with asyncio.timeout(5):
            await inj.wait_for("session_end", 2)
        st.clear_fault(Fault.SILENT_FAILURE)
        await eventually(lambda: st.connectors[0].free)
        assert st.start_session(1)  # a working connector again
        await csms.wait_for(lambda: len(_samples(csms, version)) >= 2)
    assert len(csms.calls("Authorize")) == 3
    if version == "1.6":
        starts, stops = csms.calls("StartTransaction"), csms.calls("StopTransaction")
        assert [s["meterStop"] - t["meterStart"] for t, s in zip(starts, stops, strict=False)][
            :2
        ] == [0, 0]
        shown = [p["status"] for p in csms.calls("StatusNotification")]
        assert shown.count("SuspendedEV") == 2 and "Charging" in shown
    else:
        ended = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Ended"]
        started = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Started"]
        for s, e in zip(started[:2], ended[:2], strict=True):
            assert registers(e["meterValue"][0]["sampledValue"]) == registers(
                s["meterValue"][0]["sampledValue"]
            )
    assert _samples(csms, version)  # only the working session sends periodic values


async def test_stuck_session_stays_open_at_zero_power_until_cleared(csms: FakeCsms) -> None:
    pattern = LONG.__class__(session_seconds=(0.2, 0.2), auto_start=False)
    async with running(make_station(csms, pattern=pattern)) as st:
        await st.wait_online()
        inj = st.inject(Fault.STUCK_SESSION)
        async with asyncio.timeout(5):
            await inj.wait_for("sample", 8)  # far past the 0.2 s the session was planned for
        assert csms.calls("StopTransaction") == []
        st.clear_fault(Fault.STUCK_SESSION)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
    stuck = _samples(csms, "1.6")
    assert {_measured(v, "Power.Active.Import")[0] for v in stuck} == {0.0}
    assert len({_measured(v, "Energy.Active.Import.Register")[0] for v in stuck}) == 1
    assert csms.calls("StopTransaction")[0]["reason"] == "EVDisconnected"


async def test_injection_errors_and_bookkeeping(csms: FakeCsms) -> None:
    st = make_station(csms, pattern=LONG, connectors=2)
    with pytest.raises(ValueError, match="station-wide"):
        st.inject(Fault.OFFLINE, connector=1)
    with pytest.raises(ValueError, match=r"connector 3 is not one of 1..2"):
        st.inject(Fault.VOLTAGE_LOW, connector=3)
    with pytest.raises(ValueError, match="unknown parameter"):
        st.inject(Fault.VOLTAGE_LOW, amps=3)
    async with running(st):
        await st.wait_online()
        first = st.inject(Fault.OVER_TEMPERATURE, connector=2)
        again = st.inject(Fault.OVER_TEMPERATURE, connector=2, celsius=90)
        assert not first.active and again.active and st.active_faults == [again]
        assert st.clear_fault(Fault.OVER_TEMPERATURE, 1) is None
        assert st.clear_faults() == [again] and st.active_faults == []
        assert st.stats.faults_injected == 2 and st.stats.faults_active == 0

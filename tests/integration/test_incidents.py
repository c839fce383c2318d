"""Faults reported over a real WebSocket become incidents, and clear again by themselves."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.integration.conftest import open_station, rpc

pytestmark = pytest.mark.slow

BOOT = [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def status(n: int, value: str, code: str = "NoError") -> list[Any]:
    return [2, f"s{n}", "StatusNotification", {"connectorId": 1, "status": value,
                                               "errorCode": code, "vendorErrorCode": "E42"}]


async def _incidents(services, **filters: Any) -> list[Any]:
    for _ in range(100):  # rules run on bus events, just after the OCPP answer
        rows, _ = await services.incidents.list(limit=50, offset=0, **filters)
        if rows:
            return rows
        await asyncio.sleep(0.02)
    return []


async def test_a_fault_opens_an_incident_and_recovery_resolves_it(server, services):
    await services.stations.create("CP1", password=None)
    async with await open_station(server, "CP1") as ws:
        assert (await rpc(ws, BOOT))[2]["status"] == "Accepted"
        await rpc(ws, status(1, "Faulted", "GroundFailure"))
        [incident] = await _incidents(services, status="active")
        assert incident.kind == "connector_fault" and incident.severity == "critical"
        assert "earth fault / residual current detected" in incident.message
        await rpc(ws, status(2, "Faulted", "GroundFailure"))  # the same cause: no second one
        await asyncio.sleep(0.1)
        assert len(await _incidents(services)) == 1
        await rpc(ws, status(3, "Available"))
        for _ in range(100):
            row, notes = await services.incidents.get(incident.id)
            if row.status == "resolved":
                break
            await asyncio.sleep(0.02)
        assert row.status == "resolved"
        assert [n.what for n in notes] == ["opened", "resolved"]
        assert notes[-1].author == "evcsms" and "reports Available" in notes[-1].text


async def test_reboots_and_offline_and_silent_failures(server, services, clock):
    await services.stations.create("CP1", password=None)
    await services.tokens.create("TAG")
    async with await open_station(server, "CP1") as ws:
        for _ in range(3):
            await rpc(ws, BOOT)
    [reboots] = await _incidents(services, kind="repeated_reboots")
    assert "booted 3 times" in reboots.message
    await asyncio.sleep(0.2)  # the disconnect is recorded
    clock.advance(120)  # past the 60 s grace
    assert await services.diagnostics.sweep() >= 1
    [offline] = await _incidents(services, kind="offline")
    assert offline.station_id == "CP1"
    async with await open_station(server, "CP1") as ws:
        await rpc(ws, BOOT)
        for _ in range(100):
            row, _ = await services.incidents.get(offline.id)
            if row.status == "resolved":
                break
            await asyncio.sleep(0.02)
        assert row.status == "resolved"

    # three short sessions without energy on one connector: drivers cannot charge there
    for _ in range(3):
        start = clock.now()
        tx = (await services.sessions.start_v16(
            StartTransaction("CP1", 1, "TAG", Decimal(5000), start))).transaction_id
        await services.sessions.stop_v16(
            StopTransaction("CP1", tx, Decimal(5000), start + timedelta(seconds=20)))
        clock.advance(30)
    [silent] = await _incidents(services, kind="silent_failure")
    assert "3 sessions" in silent.message
    assert len(await _incidents(services, kind="failed_session")) == 3


async def test_meter_value_rules_open_and_clear_incidents(services, clock):
    from evcsms.domain.metering import SampledValue

    await services.stations.create("CP1", password=None)
    now = clock.now()

    def frame(minutes: int, volts: str, l3_amps: str, register: str, watts: str) -> list[Any]:
        at = now - timedelta(minutes=minutes)
        return [SampledValue(at, Decimal(volts), "Voltage", "V", phase="L1-N"),
                SampledValue(at, Decimal("16"), "Current.Import", "A", phase="L1"),
                SampledValue(at, Decimal("16"), "Current.Import", "A", phase="L2"),
                SampledValue(at, Decimal(l3_amps), "Current.Import", "A", phase="L3"),
                SampledValue(at, Decimal(register), "Energy.Active.Import.Register", "Wh"),
                SampledValue(at, Decimal(watts), "Power.Active.Import", "W")]

    # low voltage, one phase nearly idle, and a register that stopped while 11 kW flows
    for minutes in (12, 6, 0):
        await services.sessions.meter_values("CP1", 1, frame(minutes, "195", "3", "5000", "11000"))
    assert await services.diagnostics.check_meter_values(clock.now()) == 3
    kinds = sorted(i.kind for i in await _incidents(services, status="active"))
    assert kinds == ["frozen_register", "phase_imbalance", "voltage_out_of_band"]

    clock.advance(20 * 60)  # the supply and the meter recover
    now = clock.now()
    for minutes, register in ((4, "6000"), (2, "6300"), (0, "6600")):
        await services.sessions.meter_values("CP1", 1, frame(minutes, "231", "16", register, "11000"))
    assert await services.diagnostics.check_meter_values(clock.now()) == 0
    assert (await services.incidents.list(status="active", limit=10, offset=0))[1] == 0


async def test_simulated_faults_become_incidents_and_clear(server, services, settings):
    """The simulator's injected connector faults (OCPP 1.6, real WebSocket) open incidents
    that close again when the connector recovers."""
    from evcsms.simulator.connector import SessionPattern
    from evcsms.simulator.fleet import run_fleet

    await services.stations.create("FLT0001", password=None)
    await services.stations.create("FLT0002", password=None)
    pattern = SessionPattern(session_seconds=(1.0, 2.0), idle_seconds=(0.2, 0.5),
                             fault_seconds=(0.5, 1.0))
    await run_fleet(server.ws, 2, "1.6", duration=6, id_prefix="FLT", meter_interval=1,
                    fault_probability=1.0, progress=False, pattern=pattern)
    await asyncio.sleep(0.3)
    rows, _ = await services.incidents.list(kind="connector_fault", limit=100, offset=0)
    assert rows, "no injected fault became an incident"
    assert any(r.status == "resolved" for r in rows), "no incident cleared on recovery"
    for row in rows:
        assert row.station_id in ("FLT0001", "FLT0002")


async def test_stuck_sessions_and_meter_anomalies(services, clock):
    from evcsms.domain.metering import SampledValue

    await services.stations.create("CP1", password=None)
    await services.tokens.create("TAG")
    start = clock.now()
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "TAG", Decimal(1000), start))).transaction_id
    await services.sessions.meter_values("CP1", 1, [SampledValue(
        start + timedelta(hours=1), Decimal(9000), "Energy.Active.Import.Register", "Wh")],
        transaction_id=tx)
    clock.advance(23 * 3600)
    assert await services.diagnostics.check_stuck_sessions(clock.now()) == 0  # not 24 h yet
    clock.advance(2 * 3600)
    assert await services.diagnostics.check_stuck_sessions(clock.now()) == 1
    [stuck] = await _incidents(services, kind="stuck_session")
    assert f"session {tx}" in stuck.message

    # a register that goes backwards during a session is reported when it ends
    tx2 = (await services.sessions.start_v16(
        StartTransaction("CP1", 2, "TAG", Decimal(5000), clock.now()))).transaction_id
    await services.sessions.meter_values("CP1", 2, [SampledValue(
        clock.now() + timedelta(minutes=5), Decimal(400), "Energy.Active.Import.Register", "Wh")],
        transaction_id=tx2)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx2, Decimal(900), clock.now() + timedelta(minutes=10)))
    [backwards] = await _incidents(services, kind="register_backwards")
    assert "went back" in backwards.message


async def test_a_201_notify_event_fault_opens_an_incident_and_its_clearing_resolves_it(
        server, services):
    await services.stations.create("CS1", password=None)
    async with await open_station(server, "CS1", subprotocols=("ocpp2.0.1",)) as ws:
        boot = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
        assert (await rpc(ws, [2, "b", "BootNotification", boot]))[2]["status"] == "Accepted"

        def event(n: int, value: str) -> list[Any]:
            return [2, f"e{n}", "NotifyEvent", {
                "generatedAt": "2026-03-02T10:00:00Z", "seqNo": 0, "eventData": [{
                    "eventId": n, "timestamp": "2026-03-02T10:00:00Z", "trigger": "Delta",
                    "actualValue": value, "techCode": "RCD-6mA",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "Tripped"}}]}]

        assert (await rpc(ws, event(1, "true")))[0] == 3
        [incident] = await _incidents(services, kind="station_event")
        assert incident.severity == "critical" and "RCD-6mA" in incident.message
        assert incident.evidence["eventId"] == 1
        await rpc(ws, event(2, "false"))
        for _ in range(100):
            row, notes = await services.incidents.get(incident.id)
            if row.status == "resolved":
                break
            await asyncio.sleep(0.02)
        assert row.status == "resolved" and "reports it cleared" in notes[-1].text


async def test_meter_value_rules_see_every_reading_when_decoded_in_chunks(services, clock,
                                                                         monkeypatch):
    """A node taking the diagnostics over on a busy database decodes the backlog a chunk at
    a time (bounded memory); every reading still counts."""
    from evcsms.domain.metering import SampledValue
    from evcsms.services import diagnostics

    monkeypatch.setattr(diagnostics, "_CHUNK_ROWS", 1)
    await services.stations.create("CP1", password=None)
    now = clock.now()
    for minutes in (12, 6, 0):
        at = now - timedelta(minutes=minutes)
        await services.sessions.meter_values("CP1", 1, [
            SampledValue(at, Decimal("195"), "Voltage", "V", phase="L1-N"),
            SampledValue(at, Decimal("5000"), "Energy.Active.Import.Register", "Wh"),
            SampledValue(at, Decimal("11000"), "Power.Active.Import", "W")])
    assert await services.diagnostics.check_meter_values(clock.now()) >= 2
    kinds = sorted(i.kind for i in await _incidents(services, status="active"))
    assert kinds == ["frozen_register", "voltage_out_of_band"]
    # all three readings were read: nothing is left for the next sweep
    assert await services.diagnostics.check_meter_values(clock.now()) == 0


async def test_the_meter_value_sweep_yields_between_readings_and_evses(services, clock,
                                                                      monkeypatch):
    """The sweep decodes and checks readings in the node's event loop: it must let the
    stations be served while it works (it once ran 150-320 ms at a stretch), yielding
    after every reading and EVSE when the budget is spent."""
    from evcsms.domain.metering import SampledValue
    from evcsms.services import diagnostics

    pacers: list[Any] = []

    class Recording(diagnostics.Pacer):
        def __init__(self, budget: float) -> None:
            super().__init__(budget)
            pacers.append(self)

    monkeypatch.setattr(diagnostics, "Pacer", Recording)
    monkeypatch.setattr(diagnostics, "_PACE_S", 0.0)
    now = clock.now()
    for station in ("CP1", "CP2"):
        await services.stations.create(station, password=None)
        for minutes in range(10):
            await services.sessions.meter_values(station, 1, [SampledValue(
                now - timedelta(minutes=minutes), Decimal(230), "Voltage", "V", phase="L1-N")])
    assert await services.diagnostics.check_meter_values(clock.now()) == 0
    # 20 readings and 2 EVSEs, one yield after each
    assert sum(p.yields for p in pacers) >= 22

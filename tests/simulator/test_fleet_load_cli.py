"""run_fleet, the benchmark load generator and the ``simulate`` command."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner

from evcsms.simulator import FleetStats, hold_idle, meter_flood, realistic_mix, run_fleet
from evcsms.simulator import cli as cli_module

from .conftest import FAST, CallError, FakeCsms, eventually, registers


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ocpp"


@pytest.mark.slow
async def test_fleet_runs_stations_and_counts(
    csms: FakeCsms, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = await run_fleet(
        csms.url,
        3,
        "1.6",
        duration=3.0,  # room for a whole session even on a busy CI machine
        passwords={"SIM0002": "pw2"},
        password="pw",
        meter_interval=0.05,
        pattern=FAST,
        time_scale=600,
        progress=False,
    )
    assert capsys.readouterr().out == ""
    assert set(csms.connections) == {"SIM0001", "SIM0002", "SIM0003"}
    assert stats.connected == stats.booted == 3 and stats.online == 0
    assert stats.messages_sent == len(csms.received) and stats.call_errors == 0
    assert stats.sessions_started == stats.sessions_completed >= 1 and stats.energy_wh > 0
    auth = {sid: h["authorization"] for sid, h in csms.headers.items()}
    assert auth["SIM0002"] == "Basic " + base64.b64encode(b"SIM0002:pw2").decode()
    assert auth["SIM0001"] == "Basic " + base64.b64encode(b"SIM0001:pw").decode()


@pytest.mark.slow
async def test_cancelled_fleet_stops_sessions_cleanly(csms: FakeCsms) -> None:
    stats = FleetStats()
    pattern = FAST.__class__(session_seconds=(30, 30), idle_seconds=(0.01, 0.01))
    task = asyncio.create_task(
        run_fleet(
            csms.url,
            2,
            "2.0.1",
            duration=None,
            meter_interval=0.05,
            pattern=pattern,
            progress=False,
            stats=stats,
            id_prefix="F",
        )
    )
    await eventually(lambda: stats.sessions_active == 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ended = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Ended"]
    assert sorted(e["transactionInfo"]["stoppedReason"] for e in ended) == ["Local", "Local"]
    assert stats.sessions_completed == 2 and stats.online == 0


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_meter_flood_measures_answers_in_the_window(csms: FakeCsms, version: str) -> None:
    report = await meter_flood(csms.url, 4, version, duration=0.4, warmup=0.1)
    assert report.stations_connected == 4 and report.errors == 0 and report.seconds == 0.4
    meter = csms.calls("MeterValues")
    assert report.messages == len(report.latencies_ms) > 0 and report.messages <= len(meter)
    assert report.rate() > 0 and 0 < report.percentile(50) <= report.percentile(99)
    assert len(csms.calls("BootNotification")) == 4
    for station in csms.connections:
        values = [
            registers(m["meterValue"][0]["sampledValue"])[0]
            for m in csms.calls("MeterValues", station)
        ]
        assert values == sorted(values) and len(set(values)) == len(values)
    assert len(meter[0]["meterValue"][0]["sampledValue"]) == 8


@pytest.mark.slow
async def test_meter_flood_counts_callerrors_and_failed_connections(csms: FakeCsms) -> None:
    def refuse(station: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise CallError("InternalError", "no")

    csms.replies["MeterValues"] = refuse
    report = await meter_flood(csms.url, 2, duration=0.2, warmup=0.0, boot=False)
    assert report.messages > 0 and report.errors == report.messages
    assert csms.calls("BootNotification") == []
    down = await meter_flood(_closed_port_url(), 3, duration=0.1, warmup=0.0)
    assert (down.stations_connected, down.errors, down.messages) == (0, 3, 0)


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_realistic_mix_sends_a_mix(csms: FakeCsms, version: str) -> None:
    report = await realistic_mix(
        csms.url, 5, version, duration=0.5, per_station_interval=0.01, warmup=0.05
    )
    counts = Counter(r.action for r in csms.received if r.action != "BootNotification")
    assert report.stations_connected == 5 and report.errors == 0 and report.messages > 50
    total = sum(counts.values())
    assert (
        counts["MeterValues"] / total > 0.6
        and counts["Heartbeat"] > 0
        and counts["StatusNotification"] > 0
    )
    assert set(csms.connections) == {f"MIX{i:04d}" for i in range(1, 6)}


@pytest.mark.slow
async def test_hold_idle_keeps_connections_open_until_exit(csms: FakeCsms) -> None:
    hold = await hold_idle(csms.url, 20, "2.0.1")
    async with hold:
        assert hold.connected == 20
        await eventually(lambda: len(csms.connections) == 20)
        await asyncio.sleep(0.05)
        assert all(ws.state.name == "OPEN" for ws in csms.connections.values())
    assert hold.connected == 0
    await eventually(lambda: all(ws.state.name == "CLOSED" for ws in csms.connections.values()))
    assert csms.received == []


def test_simulate_command_wires_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def fake_run_fleet(url: str, stations: int, version: str, **kw: Any) -> FleetStats:
        seen.update(url=url, stations=stations, version=version, **kw)
        kw["stats"].booted = stations
        return kw["stats"]

    monkeypatch.setattr(cli_module, "run_fleet", fake_run_fleet)
    result = CliRunner().invoke(
        cli_module.simulate,
        [
            "--url",
            "ws://csms/ocpp",
            "--stations",
            "3",
            "--ocpp",
            "2.0.1",
            "--duration",
            "5",
            "--password",
            "pw",
            "--id-prefix",
            "DEMO",
            "--meter-interval",
            "2",
            "--faults",
            "0.1",
            "--seed",
            "9",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "simulation summary" in result.output and "0 / 3 of 3" in result.output
    assert seen == {
        "url": "ws://csms/ocpp",
        "stations": 3,
        "version": "2.0.1",
        "duration": 5.0,
        "password": "pw",
        "id_prefix": "DEMO",
        "meter_interval": 2.0,
        "fault_probability": 0.1,
        "seed": 9,
        "progress": False,
        "stats": seen["stats"],
        "faults": None,
    }


def test_simulate_command_builds_a_fault_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    from evcsms.simulator.faults import Fault, PlannedFault
    from evcsms.simulator.fleet import FaultPlan, RandomFaults

    seen: dict[str, Any] = {}

    async def fake_run_fleet(url: str, stations: int, version: str, **kw: Any) -> FleetStats:
        seen.update(kw)
        return kw["stats"]

    monkeypatch.setattr(cli_module, "run_fleet", fake_run_fleet)
    args = ["--stations", "2", "--duration", "1", "--quiet"]
    planned = ["--inject", "offline:SIM0002@5+60", "--inject", "voltage_low:SIM0001/2,volts=190"]
    result = CliRunner().invoke(cli_module.simulate, args + planned)
    assert result.exit_code == 0, result.output
    plan = seen["faults"]
    assert isinstance(plan, FaultPlan)
    assert list(plan.faults) == [
        PlannedFault(Fault.OFFLINE, "SIM0002", None, 5.0, 60.0),
        PlannedFault(Fault.VOLTAGE_LOW, "SIM0001", 2, params={"volts": "190"}),
    ]
    result = CliRunner().invoke(cli_module.simulate, [*args, "--fault-every", "30"])
    assert result.exit_code == 0, result.output
    assert isinstance(seen["faults"], RandomFaults) and seen["faults"].every == 30.0
    both = CliRunner().invoke(cli_module.simulate, [*args, *planned, "--fault-every", "30"])
    assert both.exit_code == 0 and len(seen["faults"].schedules) == 2
    for bad, why in (
        ("offline:SIM0009", "no such station in the fleet: SIM0009"),
        ("melted:SIM0001", "unknown fault 'melted'"),
        ("voltage_low:SIM0001,amps=3", "unknown parameter amps"),
    ):
        result = CliRunner().invoke(cli_module.simulate, [*args, "--inject", bad])
        assert result.exit_code == 2 and why in result.output, result.output


@pytest.mark.slow
def test_simulate_against_an_unreachable_csms_prints_a_summary() -> None:
    result = CliRunner().invoke(
        cli_module.simulate,
        ["--url", _closed_port_url(), "--stations", "2", "--duration", "0.3", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert "0 / 0 of 2" in result.output
    bad = CliRunner().invoke(cli_module.simulate, ["--ocpp", "1.5"])
    assert bad.exit_code == 2


@pytest.mark.slow
async def test_cancelled_connect_phase_closes_what_it_opened(csms: FakeCsms) -> None:
    csms.answer_delay = 0.5  # boots answer slowly, so the connect phase is still running
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(hold_idle(csms.url, 30, boot=True, connect_concurrency=5), 0.2)
    assert csms.connections, "some stations connected before the timeout"
    await eventually(lambda: all(ws.state.name == "CLOSED" for ws in csms.connections.values()))

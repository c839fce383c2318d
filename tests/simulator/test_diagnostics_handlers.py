"""The simulator's remote-diagnostics behaviour that needs no CSMS: versions, the boot
payload after an update, and a download the station cannot make."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from evcsms.simulator.handlers import Configuration, Diagnostics, _Firmware, next_version
from evcsms.simulator.messages import dialect_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("location", "current", "expect"), [
    ("https://fw.example/sim-1.2.0.bin", "1.0.0", "1.2.0"),
    ("https://fw.example/releases/2.3/sim.bin", "1.0.0", "1.0.1"),
    ("https://fw.example/build-7.1.tar.gz", "1.0.0", "7.1"),
    ("https://fw.example/latest", "1.9", "1.10"),
    ("https://fw.example/latest", "rc", "rc.1"),
])
def test_next_version(location: str, current: str, expect: str) -> None:
    assert next_version(location, current) == expect


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_after_an_update_the_boot_reports_the_new_version(version: str) -> None:
    inner = dialect_for(version)
    wrapped = _Firmware(inner, "1.2.0")
    _, payload = wrapped.boot("FirmwareUpdate", "SN-1")
    reported = payload.get("firmwareVersion") or payload["chargingStation"]["firmwareVersion"]
    assert reported == "1.2.0"
    assert wrapped.heartbeat() == inner.heartbeat() and wrapped.version == inner.version
    assert inner.boot("PowerUp", "SN-1")[1] != payload  # the original is untouched


@dataclass
class _Connector:
    connector_id: int
    status: str = "Available"


@dataclass
class _Station:
    ocpp_version: str
    station_id: str = "SIM1"
    dialect: Any = None
    connectors: list[_Connector] = field(default_factory=lambda: [_Connector(1)])
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resets: list[str] = field(default_factory=list)

    def now(self) -> datetime:
        return NOW

    def request_reset(self, kind: str) -> None:
        self.resets.append(kind)

    async def call_now(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.sent.append((action, payload))
        return {}


@dataclass
class _Control:
    station: _Station
    config: Configuration = field(default_factory=lambda: Configuration(
        {"HeartbeatInterval": "300"}, frozenset(), lambda k, v: True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_an_unreachable_image_is_download_failed_and_nothing_reboots(version: str) -> None:
    station = _Station(version, dialect=dialect_for(version))
    diagnostics = Diagnostics(_Control(station))  # type: ignore[arg-type]
    diagnostics.firmware_request = 3
    await diagnostics._install(f"http://127.0.0.1:{_free_port()}/sim-1.2.0.bin", None, False)
    statuses = [p["status"] for a, p in station.sent if a == "FirmwareStatusNotification"]
    assert statuses == ["Downloading", "DownloadFailed"]
    if version == "2.0.1":
        assert all(p["requestId"] == 3 for _, p in station.sent)
    assert station.resets == [] and diagnostics.firmware_status == "Idle"


async def test_a_scheduled_2_0_1_download_waits_and_says_so(monkeypatch) -> None:
    station = _Station("2.0.1", dialect=dialect_for("2.0.1"))
    diagnostics = Diagnostics(_Control(station))  # type: ignore[arg-type]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    await diagnostics._install("https://fw.example/fail.bin", "2026-03-02T09:10:00Z", False)
    assert slept == [600.0]
    assert [p["status"] for _, p in station.sent] == [
        "DownloadScheduled", "Downloading", "DownloadFailed"]


async def test_a_base_report_describes_connectors_and_configuration() -> None:
    station = _Station("2.0.1", dialect=dialect_for("2.0.1"),
                       connectors=[_Connector(1), _Connector(2, "Charging")])
    diagnostics = Diagnostics(_Control(station))  # type: ignore[arg-type]
    items = diagnostics._report("FullInventory")
    found = {(i["component"]["name"], i["component"].get("evse", {}).get("id"),
              i["variable"]["name"]): i["variableAttribute"][0]["value"] for i in items}
    assert found[("EVSE", 2, "AvailabilityState")] == "Occupied"
    assert found[("Connector", 1, "ConnectorType")] == "cType2"
    assert found[("OCPPCommCtrlr", None, "HeartbeatInterval")] == "300"
    assert len(diagnostics._report("ConfigurationInventory")) == 1
    summary = diagnostics._report("SummaryInventory")
    assert {i["variable"]["name"] for i in summary} == {"AvailabilityState"}

"""Remote diagnostics end to end: a real node, simulated stations over real WebSockets, the
operator over the REST API. Log files travel over HTTP to the node's own upload endpoint;
firmware is downloaded from a small HTTP server and installed with a reboot; a base report
comes back in NotifyReport chunks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from evcsms.services.users import UserRole
from evcsms.simulator.station import VirtualStation
from tests.integration.conftest import Running

pytestmark = pytest.mark.slow

IMAGE = b"\x7fELF" + bytes(range(256)) * 64  # 16 KiB of "firmware"


@contextlib.asynccontextmanager
async def operator(server: Running) -> AsyncIterator[httpx.AsyncClient]:
    token = await server.services.users.create("op", UserRole.OPERATOR)
    async with httpx.AsyncClient(base_url=f"{server.http}/api/v1", timeout=10,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@contextlib.asynccontextmanager
async def simulated(server: Running, station_id: str, version: str
                    ) -> AsyncIterator[VirtualStation]:
    await server.services.stations.create(station_id, password=None)
    station = VirtualStation(server.ws, station_id, version, connectors=2, seed=5,
                             reconnect_base=0.05, reconnect_cap=0.2, boot_retry_cap=0.1,
                             stop_grace=1.0, call_timeout=5.0)
    station.start()
    try:
        async with asyncio.timeout(5):
            await station.wait_online()
        yield station
    finally:
        await station.stop()


@contextlib.asynccontextmanager
async def firmware_server() -> AsyncIterator[str]:
    """Serves IMAGE at any path ending in .bin; anything else is 404."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1]
        body, status = (IMAGE, b"200 OK") if path.endswith(b".bin") else (b"", b"404 Not Found")
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/octet-stream\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close"
                     b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


async def until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool],
                within: float = 10.0) -> Any:
    """Poll `read` until `done(value)`; the last value (the caller asserts on it)."""
    deadline = time.monotonic() + within
    value = await read()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        value = await read()
    return value


@pytest.mark.parametrize(("version", "log_type"), [("1.6", "diagnostics"),
                                                   ("2.0.1", "security")])
async def test_a_log_upload_ends_with_the_file_stored_and_downloadable(
        server: Running, version: str, log_type: str) -> None:
    station_id = f"LOG{version.replace('.', '')}"
    async with simulated(server, station_id, version), operator(server) as api:
        asked = await api.post(f"/stations/{station_id}/log-uploads", json={
            "log_type": log_type, "start_time": "2026-03-01T00:00:00Z",
            "stop_time": "2026-03-02T09:00:00Z"})
        assert asked.status_code == 201, asked.text
        upload = asked.json()
        assert upload["status"] in ("accepted", "uploading", "uploaded"), upload
        assert upload["station_file_name"].startswith(f"{station_id}-{log_type}-")

        async def read() -> Any:
            return (await api.get(f"/stations/{station_id}/log-uploads/{upload['id']}")).json()

        row = await until(read, lambda r: r["status"] == "uploaded" and any(
            e["status"] == "Uploaded" for e in r["timeline"]))
        assert row["status"] == "uploaded", row
        statuses = [e["status"] for e in row["timeline"]]
        assert statuses[0] == "requested" and "file received" in statuses
        assert statuses.index("Uploading") < statuses.index("file received") < statuses.index(
            "Uploaded")
        assert row["file_name"] == upload["station_file_name"]
        file = await api.get(row["download"].removeprefix("/api/v1"))
        assert file.status_code == 200
        text = file.content.decode()
        assert text.startswith(f"# {log_type} log of {station_id} (evcsms simulator, OCPP "
                               f"{version})")
        assert "window 2026-03-01T00:00:00Z .. 2026-03-02T09:00:00Z" in text
        assert len(file.content) == row["size"]
        assert hashlib.sha256(file.content).hexdigest() == row["sha256"]
        assert f'filename="{row["file_name"]}"' in file.headers["content-disposition"]

        # the link was for one file: the station (or anyone) cannot use it again
        command = (await api.get(f"/commands/{row['command_id']}")).json()
        location = command["params"]["location"]
        again = await api.put(location, content=b"tampered")
        assert again.status_code == 410
        assert (await api.get(row["download"].removeprefix("/api/v1"))).content == file.content


async def test_firmware_update_succeeds_and_the_new_version_is_recorded(server: Running) -> None:
    async with firmware_server() as files, simulated(server, "FW201", "2.0.1"), \
            operator(server) as api:
        asked = await api.post("/stations/FW201/firmware-updates",
                               json={"location": f"{files}/sim-1.2.0.bin", "retries": 1})
        assert asked.status_code == 201, asked.text
        update = asked.json()
        assert update["previous_version"] == "1.0.0"

        async def read() -> Any:
            return (await api.get(f"/stations/FW201/firmware-updates/{update['id']}")).json()

        row = await until(read, lambda r: r["installed_version"] is not None)
        assert (row["status"], row["installed_version"], row["error"]) == (
            "succeeded", "1.2.0", None)
        timeline = [(e["source"], e["status"]) for e in row["timeline"]]
        # the station starts downloading as soon as it answered: its first status may be
        # recorded before its answer is
        assert ("station", "answer: Accepted") in timeline[1:3]
        assert [t for t in timeline if t[1] != "answer: Accepted"] == [
            ("evcsms", "requested"), ("station", "Downloading"), ("station", "Downloaded"),
            ("station", "Installing"), ("station", "Installed"), ("station", "boot")]
        station = (await api.get("/stations/FW201")).json()
        assert station["firmware_version"] == "1.2.0"
        boots = await server.services.stations.events("FW201", kind="boot", limit=5)
        assert boots[0].payload["reason"] == "FirmwareUpdate"

        # asked for its firmware status now, the station says it is idle
        trigger = (await api.post("/stations/FW201/commands", json={
            "name": "trigger_message", "params": {"message": "FirmwareStatusNotification"}})
                   ).json()
        assert trigger["status"] == "accepted"

        async def last_status() -> Any:
            events = await server.services.stations.events("FW201", kind="firmware_status",
                                                           limit=1)
            return events[0].payload["status"]

        assert await until(last_status, lambda s: s == "Idle") == "Idle"
        assert (await read())["status"] == "succeeded"  # a late Idle changes nothing


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_firmware_update_fails_and_opens_an_incident(server: Running, version: str
                                                           ) -> None:
    station_id = f"FWX{version.replace('.', '')}"
    async with firmware_server() as files, simulated(server, station_id, version), \
            operator(server) as api:
        bad = f"{files}/missing-image.txt" if version == "1.6" else f"{files}/fail-2.0.bin"
        update = (await api.post(f"/stations/{station_id}/firmware-updates",
                                 json={"location": bad})).json()

        async def read() -> Any:
            return (await api.get(f"/stations/{station_id}/firmware-updates/{update['id']}")
                    ).json()

        row = await until(read, lambda r: r["status"] == "failed")
        assert (row["status"], row["station_status"]) == ("failed", "DownloadFailed")
        assert row["error"] == "the station could not download the firmware"

        async def incidents() -> Any:
            return (await api.get("/incidents", params={"station_id": station_id,
                                                        "kind": "firmware_failed"})).json()

        found = await until(incidents, lambda r: r["total"] == 1)
        assert found["total"] == 1
        incident = found["items"][0]
        assert incident["key"] == f"firmware:{station_id}:{update['id']}"
        assert incident["evidence"]["location"] == bad
        assert (await api.get(f"/stations/{station_id}")).json()["firmware_version"] == "1.0.0"


async def test_a_base_report_is_folded_into_the_device_model(server: Running) -> None:
    async with simulated(server, "DM201", "2.0.1"), operator(server) as api:
        command = (await api.post("/stations/DM201/commands", json={
            "name": "get_base_report", "params": {"report_base": "FullInventory"}})).json()
        assert command["status"] == "accepted" and command["ocpp_action"] == "GetBaseReport"
        request_id = command["request"]["requestId"]

        async def chunks() -> Any:
            events = await server.services.stations.events("DM201", kind="notify_report",
                                                           limit=50)
            return [e.payload for e in reversed(events)]

        payloads = await until(chunks, lambda p: bool(p) and not p[-1].get("tbc", False))
        assert len(payloads) >= 2
        assert [p["seqNo"] for p in payloads] == list(range(len(payloads)))
        assert {p["requestId"] for p in payloads} == {request_id}
        reported = sum(len(p["reportData"]) for p in payloads)

        model = (await api.get("/stations/DM201/device-model", params={"limit": 500})).json()
        assert model["total"] == reported
        items = {(i["component"], i["evse_id"], i["connector_id"], i["variable"],
                  i["attribute_type"]): i for i in model["items"]}
        assert items[("EVSE", 2, 0, "Power", "MaxSet")]["value"] == "22000"
        assert items[("EVSE", 2, 0, "Power", "MaxSet")]["characteristics"]["unit"] == "W"
        assert items[("Connector", 1, 1, "ConnectorType", "Actual")]["value"] == "cType2"
        heartbeat = items[("OCPPCommCtrlr", 0, 0, "HeartbeatInterval", "Actual")]
        assert heartbeat["mutability"] == "ReadWrite" and heartbeat["source"] == "notify_report"
        only = (await api.get("/stations/DM201/device-model",
                              params={"component": "EVSE"})).json()
        assert only["total"] == 5  # AvailabilityState and Power on two EVSEs; EVSE.Count

        # a GetVariables answer updates the value in place
        await api.post("/stations/DM201/commands", json={"name": "set_variables", "params": {
            "variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval",
                           "value": "45"}]}})
        got = (await api.post("/stations/DM201/commands", json={
            "name": "get_variables", "params": {"variables": [
                {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}})).json()
        assert got["status"] == "accepted"
        after = (await api.get("/stations/DM201/device-model",
                               params={"variable": "HeartbeatInterval"})).json()["items"]
        assert [(i["value"], i["source"], i["mutability"]) for i in after] == [
            ("45", "get_variables", "ReadWrite")]

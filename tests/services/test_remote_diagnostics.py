"""Log uploads, firmware updates and the device model through the services, on SQLite and
PostgreSQL: commands issued through `CommandService` to a station played on the bus (the
request is translated and checked against the official schema, as the gateway would), and
the station's notifications through the real protocol handlers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from evcsms.bus.base import station_subject
from evcsms.domain.commands import CommandName
from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import diagnostics_status_notification as diag16
from evcsms.protocol.v16 import firmware_status_notification as fw16
from evcsms.protocol.v16.commands import to_call as to_call_16
from evcsms.protocol.v201 import firmware_status_notification as fw201
from evcsms.protocol.v201 import log_status_notification as log201
from evcsms.protocol.v201 import notify_report
from evcsms.protocol.v201.commands import to_call as to_call_201
from evcsms.protocol.validation import validate
from evcsms.services.container import Services
from evcsms.services.stations import BootInfo

Answer = Callable[[str, dict[str, Any]], dict[str, Any]]
FW = "https://firmware.example/sim-1.2.0.bin"


async def station(services: Services, station_id: str, version: OcppVersion,
                  answer: Answer) -> list[tuple[str, dict[str, Any]]]:
    """Register `station_id` as booted and answer its commands on the bus like a station
    connected to this node; the CALLs it got are returned (and filled as they come)."""
    await services.stations.create(station_id, password=None)
    await services.stations.boot(station_id, BootInfo("V", "M", None, "1.0.0", "PowerUp",
                                                      version.value, {}))
    translate = to_call_16 if version is OcppVersion.V16 else to_call_201
    calls: list[tuple[str, dict[str, Any]]] = []

    async def serve(message: dict[str, Any]) -> dict[str, Any]:
        action, payload = translate(CommandName(message["name"]), message["params"])
        validate(version, action, payload)
        calls.append((action, payload))
        response = answer(action, payload)
        validate(version, action, response, response=True)
        accepted = response.get("status", "Accepted") in ("Accepted", "AcceptedCanceled")
        return {"status": "accepted" if accepted else "rejected", "ocpp_action": action,
                "request": payload, "response": response}

    await services.bus.serve(station_subject(station_id, "command"), serve)
    return calls


async def notify(module: Any, services: Services, station_id: str, version: OcppVersion,
                 payload: dict[str, Any]) -> None:
    action = "".join(w.capitalize() for w in module.__name__.rsplit(".", 1)[1].split("_"))
    validate(version, action, payload)
    reply = await module.handle(StationContext(station_id, version, services), payload)
    validate(version, action, reply, response=True)


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.01)


# -- firmware ------------------------------------------------------------------------------


async def test_1_6_update_tracked_to_succeeded_with_the_version_booted(services: Services
                                                                        ) -> None:
    calls = await station(services, "FW16", OcppVersion.V16, lambda a, p: {})
    record = await services.commands.issue("FW16", "update_firmware", {"location": FW},
                                           created_by="op")
    assert record.status == "accepted"
    update_id = record.params["update_id"]
    [(action, payload)] = calls
    assert action == "UpdateFirmware"
    assert payload == {"location": FW, "retrieveDate": "2026-03-02T09:00:00Z"}  # now
    row, _ = await services.firmware.get("FW16", update_id)
    assert (row.status, row.previous_version, row.created_by) == ("in_progress", "1.0.0", "op")

    for status in ("Downloading", "Downloaded", "Installing"):
        await notify(fw16, services, "FW16", OcppVersion.V16, {"status": status})
    # 1.6: the station reboots while installing, then says Installed
    await services.stations.boot("FW16", BootInfo("V", "M", None, "1.2.0", None, "1.6", {}))

    async def version() -> Any:
        return (await services.firmware.get("FW16", update_id))[0].installed_version

    assert await eventually(version) == "1.2.0"
    await notify(fw16, services, "FW16", OcppVersion.V16, {"status": "Installed"})
    row, timeline = await services.firmware.get("FW16", update_id)
    assert (row.status, row.station_status, row.installed_version) == (
        "succeeded", "Installed", "1.2.0")
    assert row.completed_at is not None and row.error is None
    assert [(e.source, e.status) for e in timeline] == [
        ("evcsms", "requested"), ("station", "answer: accepted"), ("station", "Downloading"),
        ("station", "Downloaded"), ("station", "Installing"), ("station", "boot"),
        ("station", "Installed")]
    assert timeline[5].note == "reports firmware 1.2.0"


async def test_2_0_1_failure_opens_an_incident_and_a_later_success_clears_it(
        services: Services) -> None:
    calls = await station(services, "FW2", OcppVersion.V201,
                          lambda a, p: {"status": "Accepted"})
    first = await services.commands.issue("FW2", "update_firmware", {
        "location": FW, "retrieve_at": "2026-03-02T10:00:00+01:00", "retries": 2,
        "retry_interval": 60})
    first_id = first.params["update_id"]
    assert calls[0][1] == {"requestId": first_id, "retries": 2, "retryInterval": 60, "firmware": {
        "location": FW, "retrieveDateTime": "2026-03-02T09:00:00Z"}}
    for status in ("Downloading", "DownloadFailed"):
        await notify(fw201, services, "FW2", OcppVersion.V201,
                     {"status": status, "requestId": first_id})
    row, _ = await services.firmware.get("FW2", first_id)
    assert (row.status, row.error) == ("failed", "the station could not download the firmware")
    incidents, total = await services.incidents.list(station_id="FW2", status="active",
                                                     limit=10, offset=0)
    assert total == 1
    assert (incidents[0].kind, incidents[0].key) == ("firmware_failed", f"firmware:FW2:{first_id}")
    assert "DownloadFailed" in incidents[0].message

    second = await services.commands.issue("FW2", "update_firmware", {"location": FW})
    second_id = second.params["update_id"]
    for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing",
                   "InstallRebooting", "Installed"):
        await notify(fw201, services, "FW2", OcppVersion.V201,
                     {"status": status, "requestId": second_id})
    assert (await services.firmware.get("FW2", second_id))[0].status == "succeeded"
    assert (await services.incidents.list(station_id="FW2", status="active", limit=10,
                                          offset=0))[1] == 0
    # a late status for the failed update joins its timeline and changes nothing
    await notify(fw201, services, "FW2", OcppVersion.V201,
                 {"status": "Installed", "requestId": first_id})
    row, timeline = await services.firmware.get("FW2", first_id)
    assert row.status == "failed" and timeline[-1].status == "Installed"


async def test_a_refused_or_undeliverable_update_fails_without_an_incident(
        services: Services) -> None:
    await station(services, "FW3", OcppVersion.V201,
                  lambda a, p: {"status": "InvalidCertificate"})
    record = await services.commands.issue("FW3", "update_firmware", {
        "location": FW, "signing_certificate": "PEM", "signature": "c2ln"})
    assert record.status == "rejected"
    row, _ = await services.firmware.get("FW3", record.params["update_id"])
    assert (row.status, row.signed) == ("failed", True)
    assert row.error == "the station answered InvalidCertificate"
    await services.stations.create("OFF", password=None)
    offline = await services.commands.issue("OFF", "update_firmware", {"location": FW})
    row, _ = await services.firmware.get("OFF", offline.params["update_id"])
    assert (row.status, row.error) == ("failed", "station offline")
    assert (await services.incidents.list(status="active", limit=10, offset=0))[1] == 0


async def test_statuses_that_concern_no_update_are_kept_as_events_only(services: Services
                                                                       ) -> None:
    await station(services, "FW4", OcppVersion.V201, lambda a, p: {"status": "Accepted"})
    await notify(fw201, services, "FW4", OcppVersion.V201, {"status": "Idle"})
    assert await services.firmware.station_status("FW4", "Downloading", 4242) is None
    events = await services.stations.events("FW4", kind="firmware_status", limit=5)
    assert [e.payload for e in events] == [{"status": "Idle"}]


async def test_accepted_canceled_cancels_the_running_update(services: Services) -> None:
    answers = iter([{"status": "Accepted"}, {"status": "AcceptedCanceled"}])
    await station(services, "FW5", OcppVersion.V201, lambda a, p: next(answers))
    first = (await services.commands.issue("FW5", "update_firmware", {"location": FW})).params
    second = (await services.commands.issue("FW5", "update_firmware", {"location": FW})).params
    old, timeline = await services.firmware.get("FW5", first["update_id"])
    assert old.status == "canceled" and timeline[-1].status == "canceled"
    assert (await services.firmware.get("FW5", second["update_id"]))[0].status == "in_progress"


# -- log uploads ---------------------------------------------------------------------------


async def test_1_6_diagnostics_statuses_apply_to_the_newest_upload(services: Services) -> None:
    calls = await station(services, "LG1", OcppVersion.V16,
                          lambda a, p: {"fileName": "diag-LG1.zip"})
    record = await services.commands.issue("LG1", "upload_log", {
        "start_time": "2026-03-01T00:00:00Z", "stop_time": "2026-03-02T00:00:00Z"})
    upload_id = record.params["upload_id"]
    location = calls[0][1]["location"]
    assert location.startswith("http://127.0.0.1:8180/uploads/logs/")
    assert len(location.rsplit("/", 1)[1]) >= 43  # 256 random bits
    row = await services.log_uploads.get("LG1", upload_id)
    assert (row.status, row.station_file_name) == ("accepted", "diag-LG1.zip")
    await notify(diag16, services, "LG1", OcppVersion.V16, {"status": "Uploading"})
    assert (await services.log_uploads.get("LG1", upload_id)).status == "uploading"
    await notify(diag16, services, "LG1", OcppVersion.V16, {"status": "UploadFailed"})
    row = await services.log_uploads.get("LG1", upload_id)
    assert (row.status, row.error) == ("failed", "the station could not upload the file")
    assert [e["status"] for e in row.timeline] == [
        "requested", "answer: accepted", "Uploading", "UploadFailed"]
    with pytest.raises(Exception, match="used up"):
        await services.log_uploads.ticket(location.rsplit("/", 1)[1])


async def test_2_0_1_log_status_by_request_id(services: Services) -> None:
    await station(services, "LG2", OcppVersion.V201,
                  lambda a, p: {"status": "Accepted", "filename": "security.log"})
    first = (await services.commands.issue("LG2", "upload_log", {"log_type": "security"})).params
    second = (await services.commands.issue("LG2", "upload_log", {})).params
    await notify(log201, services, "LG2", OcppVersion.V201,
                 {"status": "Uploading", "requestId": first["upload_id"]})
    assert (await services.log_uploads.get("LG2", first["upload_id"])).status == "uploading"
    assert (await services.log_uploads.get("LG2", second["upload_id"])).status == "accepted"
    # Uploaded with no file having arrived is a failure, said plainly
    await notify(log201, services, "LG2", OcppVersion.V201,
                 {"status": "Uploaded", "requestId": second["upload_id"]})
    row = await services.log_uploads.get("LG2", second["upload_id"])
    assert (row.status, row.error) == (
        "failed", "the station reported Uploaded but no file reached evcsms")
    assert await services.log_uploads.station_status("LG2", "Uploading", 999) is None


async def test_1_6_answer_without_a_file_name_means_nothing_to_upload(services: Services
                                                                      ) -> None:
    await station(services, "LG3", OcppVersion.V16, lambda a, p: {})
    record = await services.commands.issue("LG3", "upload_log", {})
    row = await services.log_uploads.get("LG3", record.params["upload_id"])
    assert (row.status, row.error) == (
        "failed", "the station has no diagnostics to upload (no fileName)")


async def test_a_security_log_from_a_1_6_station_is_refused_before_anything_is_stored(
        services: Services) -> None:
    from evcsms.services.errors import InvalidInputError

    await station(services, "LG4", OcppVersion.V16, lambda a, p: {})
    with pytest.raises(InvalidInputError, match="security exists only in OCPP 2.0.1"):
        await services.commands.issue("LG4", "upload_log", {"log_type": "security"})
    assert (await services.log_uploads.list("LG4", limit=10, offset=0))[1] == 0
    assert (await services.commands.list("LG4", limit=10, offset=0))[1] == 0


# -- device model --------------------------------------------------------------------------


def _report(seq_no: int, tbc: bool, data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"requestId": 77, "generatedAt": "2026-03-02T09:00:00Z", "seqNo": seq_no,
            "tbc": tbc, "reportData": data}


def _item(component: dict[str, Any], variable: str, *attributes: dict[str, Any],
          **characteristics: Any) -> dict[str, Any]:
    item = {"component": component, "variable": {"name": variable},
            "variableAttribute": list(attributes)}
    if characteristics:
        item["variableCharacteristics"] = characteristics
    return item


async def test_report_chunks_and_answers_fold_into_the_device_model(services: Services) -> None:
    calls = await station(services, "DM1", OcppVersion.V201, lambda a, p: (
        {"status": "Accepted"} if a == "GetBaseReport" else {"getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "90",
             "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}))
    record = await services.commands.issue("DM1", "get_base_report",
                                           {"report_base": "FullInventory"})
    request_id = calls[0][1]["requestId"]
    assert record.status == "accepted" and 1 <= request_id < 2**31
    heartbeat = _item({"name": "OCPPCommCtrlr"}, "HeartbeatInterval",
                      {"type": "Actual", "value": "300", "mutability": "ReadWrite",
                       "persistent": True}, dataType="integer", supportsMonitoring=False,
                      unit="s")
    connector = _item({"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                      "ConnectorType", {"value": "cType2", "mutability": "ReadOnly"},
                      dataType="string", supportsMonitoring=False)
    await notify(notify_report, services, "DM1", OcppVersion.V201, _report(0, True, [heartbeat]))
    await notify(notify_report, services, "DM1", OcppVersion.V201,
                 _report(1, False, [connector]))
    rows, total = await services.device_model.list("DM1", limit=50, offset=0)
    assert total == 2
    assert [(r.component, r.evse_id, r.connector_id, r.variable, r.value) for r in rows] == [
        ("Connector", 1, 1, "ConnectorType", "cType2"),
        ("OCPPCommCtrlr", 0, 0, "HeartbeatInterval", "300")]
    assert rows[1].characteristics == {"dataType": "integer", "supportsMonitoring": False,
                                       "unit": "s"}
    assert len(await services.stations.events("DM1", kind="notify_report", limit=5)) == 2

    # a GetVariables answer updates the Actual value and keeps what it does not say
    await services.commands.issue("DM1", "get_variables", {"variables": [
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]})
    [row], _ = await services.device_model.list("DM1", component="OCPPCommCtrlr", limit=5,
                                                offset=0)
    assert (row.value, row.source, row.mutability, row.persistent) == (
        "90", "get_variables", "ReadWrite", True)
    assert row.characteristics["unit"] == "s"
    assert (await services.device_model.list("DM1", variable="Nope", limit=5, offset=0))[1] == 0


async def test_a_1_6_configuration_is_kept_as_a_device_model(services: Services) -> None:
    await station(services, "DM2", OcppVersion.V16, lambda a, p: (
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                              {"key": "NumberOfConnectors", "readonly": True, "value": "2"}]}
        if a == "GetConfiguration" else {"status": "Accepted"}))
    await services.commands.issue("DM2", "get_configuration", {})
    await services.commands.issue("DM2", "change_configuration",
                                  {"key": "HeartbeatInterval", "value": "60"})
    rows, _ = await services.device_model.list("DM2", limit=50, offset=0)
    assert [(r.component, r.variable, r.value, r.mutability, r.source) for r in rows] == [
        ("OCPP16Configuration", "HeartbeatInterval", "60", "ReadWrite", "change_configuration"),
        ("OCPP16Configuration", "NumberOfConnectors", "2", "ReadOnly", "get_configuration")]

"""Answers of the virtual station to CSMS-initiated CALLs (OCPP 1.6 and 2.0.1)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import httpx

from evcsms.simulator.client import Handler, JsonObject, after_reply
from evcsms.simulator.messages import FIRMWARE, RFID_CARD, Clock, iso, parse_time

log = logging.getLogger(__name__)

TRIGGERABLE_16 = frozenset({"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"})
TRIGGERABLE_201 = TRIGGERABLE_16 | {"TransactionEvent"}

# 2.0.1 (component, variable) -> 1.6-style configuration key
VARIABLES_201: dict[tuple[str, str], str] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("TxCtrlr", "StopTxOnInvalidId"): "StopTransactionOnInvalidId",
    ("EVSE", "Count"): "NumberOfConnectors",
}
COMPONENTS_201 = frozenset(component for component, _ in VARIABLES_201)


class Configuration:
    """Configuration keys of a station; ``on_change`` sees every accepted write."""

    def __init__(
        self,
        values: dict[str, str],
        readonly: frozenset[str],
        on_change: Callable[[str, str], bool],
    ) -> None:
        self.values = values
        self.readonly = readonly
        self._on_change = on_change

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> str:
        """Store a value: "Accepted" or "Rejected" (read-only or not applicable)."""
        if key in self.readonly or not self._on_change(key, value):
            return "Rejected"
        self.values[key] = value
        return "Accepted"


class StationParts(Protocol):
    """What the diagnostics handlers (logs, firmware, reports) use of the station itself."""

    dialect: Any  # replaced by a `_Firmware` wrapper once new firmware is installed

    @property
    def station_id(self) -> str: ...
    @property
    def ocpp_version(self) -> str: ...
    @property
    def now(self) -> Clock: ...
    @property
    def connectors(self) -> Sequence[Any]: ...

    def request_reset(self, kind: str) -> None: ...
    async def call_now(self, action: str, payload: JsonObject) -> JsonObject | None: ...


class Control(Protocol):
    """What the handlers need from the station."""

    @property
    def station(self) -> StationParts: ...

    @property
    def config(self) -> Configuration: ...

    def remote_start(
        self,
        id_tag: str,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        token_type: str = RFID_CARD,
    ) -> bool: ...
    def remote_stop(self, tx_id: int | str) -> bool: ...
    def unlock(self, connector_id: int, *, stop_session: bool) -> str: ...
    def change_availability(self, connector_id: int, operative: bool) -> str: ...
    async def report_availability(self) -> None: ...
    def request_reset(self, kind: str) -> None: ...
    async def send_triggered(self, message: str, connector_id: int | None) -> None: ...
    def has_connector(self, connector_id: int) -> bool: ...
    def set_charging_profile(self, payload: JsonObject) -> tuple[str, str | None]: ...
    def clear_charging_profile(self, payload: JsonObject) -> str: ...
    def composite_schedule(self, evse: int, duration_s: int, unit: str) -> JsonObject: ...
    def reserve(self, reservation_id: int, connector_id: int, id_tag: str,
                expires: datetime, parent: str | None = None) -> str: ...
    def cancel_reservation(self, reservation_id: int) -> str: ...


def _status(value: str) -> JsonObject:
    return {"status": value}


def _common() -> dict[str, Handler]:
    async def clear_cache(_: JsonObject) -> JsonObject:
        return _status("Accepted")

    async def data_transfer(_: JsonObject) -> JsonObject:
        return _status("Accepted")

    return {"ClearCache": clear_cache, "DataTransfer": data_transfer}


def _trigger(
    station: Control, message: str, connector_id: int | None, allowed: frozenset[str]
) -> JsonObject:
    if message not in allowed:
        return _status("NotImplemented")
    if connector_id is not None and connector_id != 0 and not station.has_connector(connector_id):
        return _status("Rejected")

    async def send() -> None:
        await station.send_triggered(message, connector_id or None)

    after_reply(send)
    return _status("Accepted")


def _availability(station: Control, connector_id: int, operative: bool) -> JsonObject:
    result = station.change_availability(connector_id, operative)
    if result != "Rejected":
        after_reply(station.report_availability)
    return _status(result)


def _answer(status: str, reason: str | None, *, v201: bool) -> JsonObject:
    """A status; in 2.0.1 with a statusInfo saying why it was not accepted."""
    answer = _status(status)
    if v201 and reason:
        answer["statusInfo"] = {"reasonCode": reason[:20]}
    return answer


def _composite(station: Control, evse: Any, duration: Any, unit: Any) -> JsonObject:
    if not isinstance(evse, int) or not isinstance(duration, int) or duration <= 0:
        return _status("Rejected")
    return station.composite_schedule(evse, duration, unit if unit in ("A", "W") else "A")


def _reserve(station: Control, reservation_id: Any, connector_id: Any, id_tag: Any,
             expires: Any, parent: Any) -> str:
    try:
        expiry = parse_time(expires, "expiry")
    except ValueError:
        expiry = None
    if not isinstance(reservation_id, int) or not isinstance(connector_id, int) \
            or not isinstance(id_tag, str) or expiry is None:
        return "Rejected"
    return station.reserve(reservation_id, connector_id, id_tag, expiry,
                           parent if isinstance(parent, str) else None)


def _smart_charging(station: Control, *, v201: bool) -> dict[str, Handler]:
    """SetChargingProfile, ClearChargingProfile, GetCompositeSchedule, CancelReservation."""

    async def set_profile(p: JsonObject) -> JsonObject:
        return _answer(*station.set_charging_profile(p), v201=v201)

    async def clear_profile(p: JsonObject) -> JsonObject:
        return _status(station.clear_charging_profile(p))

    async def composite(p: JsonObject) -> JsonObject:
        evse = p.get("evseId" if v201 else "connectorId")
        return _composite(station, evse, p.get("duration"), p.get("chargingRateUnit"))

    async def cancel(p: JsonObject) -> JsonObject:
        reservation_id = p.get("reservationId")
        if not isinstance(reservation_id, int):
            return _status("Rejected")
        return _status(station.cancel_reservation(reservation_id))

    return {"SetChargingProfile": set_profile, "ClearChargingProfile": clear_profile,
            "GetCompositeSchedule": composite, "CancelReservation": cancel}


def _reset(station: Control, kind: str) -> JsonObject:
    async def reset() -> None:
        station.request_reset(kind)

    after_reply(reset)
    return _status("Accepted")


def handlers_16(station: Control) -> dict[str, Handler]:
    """Handler table for an OCPP 1.6 station."""
    diagnostics = Diagnostics(station)

    async def remote_start(p: JsonObject) -> JsonObject:
        ok = station.remote_start(str(p.get("idTag", "")), p.get("connectorId"))
        return _status("Accepted" if ok else "Rejected")

    async def remote_stop(p: JsonObject) -> JsonObject:
        return _status(
            "Accepted" if station.remote_stop(p.get("transactionId", -1)) else "Rejected"
        )

    async def reset(p: JsonObject) -> JsonObject:
        return _reset(station, "HardReset" if p.get("type") == "Hard" else "SoftReset")

    async def unlock(p: JsonObject) -> JsonObject:
        result = station.unlock(int(p.get("connectorId", 0)), stop_session=True)
        return _status("Unlocked" if result == "unlocked" else "NotSupported")

    async def change_availability(p: JsonObject) -> JsonObject:
        return _availability(station, int(p.get("connectorId", 0)), p.get("type") == "Operative")

    async def trigger(p: JsonObject) -> JsonObject:
        if p.get("requestedMessage") in diagnostics.TRIGGERS:
            return diagnostics.trigger(str(p["requestedMessage"]))
        return _trigger(
            station, str(p.get("requestedMessage")), p.get("connectorId"), TRIGGERABLE_16
        )

    async def get_configuration(p: JsonObject) -> JsonObject:
        return get_configuration_16(station.config, p.get("key"))

    async def change_configuration(p: JsonObject) -> JsonObject:
        key, value = str(p.get("key", "")), str(p.get("value", ""))
        return _status(station.config.set(key, value))

    async def reserve_now(p: JsonObject) -> JsonObject:
        return _status(_reserve(station, p.get("reservationId"), p.get("connectorId"),
                                p.get("idTag"), p.get("expiryDate"), p.get("parentIdTag")))

    table: dict[str, Handler] = {
        "RemoteStartTransaction": remote_start,
        "RemoteStopTransaction": remote_stop,
        "Reset": reset,
        "UnlockConnector": unlock,
        "ChangeAvailability": change_availability,
        "TriggerMessage": trigger,
        "GetConfiguration": get_configuration,
        "ChangeConfiguration": change_configuration,
        "ReserveNow": reserve_now,
    }
    return {**_common(), **table, **_smart_charging(station, v201=False),
            **diagnostics.handlers()}


def get_configuration_16(config: Configuration, keys: Any) -> JsonObject:
    wanted = [str(k) for k in keys] if isinstance(keys, list) and keys else sorted(config.values)
    known = [k for k in wanted if k in config.values]
    answer: JsonObject = {
        "configurationKey": [
            {"key": k, "readonly": k in config.readonly, "value": config.values[k]} for k in known
        ]
    }
    unknown = [k for k in wanted if k not in config.values]
    if unknown:
        answer["unknownKey"] = unknown
    return answer


def handlers_201(station: Control) -> dict[str, Handler]:
    """Handler table for an OCPP 2.0.1 station."""
    diagnostics = Diagnostics(station)

    async def request_start(p: JsonObject) -> JsonObject:
        token = p.get("idToken") or {}
        ok = station.remote_start(
            str(token.get("idToken", "")),
            p.get("evseId"),
            remote_start_id=p.get("remoteStartId"),
            token_type=str(token.get("type", RFID_CARD)),
        )
        return _status("Accepted" if ok else "Rejected")

    async def request_stop(p: JsonObject) -> JsonObject:
        return _status(
            "Accepted" if station.remote_stop(str(p.get("transactionId", ""))) else "Rejected"
        )

    async def reset(p: JsonObject) -> JsonObject:
        return _reset(station, "HardReset" if p.get("type") == "Immediate" else "SoftReset")

    async def unlock(p: JsonObject) -> JsonObject:
        result = station.unlock(int(p.get("evseId", 0)), stop_session=False)
        names = {"unlocked": "Unlocked", "busy": "OngoingAuthorizedTransaction"}
        return _status(names.get(result, "UnknownConnector"))

    async def change_availability(p: JsonObject) -> JsonObject:
        evse = int((p.get("evse") or {}).get("id", 0))
        return _availability(station, evse, p.get("operationalStatus") == "Operative")

    async def trigger(p: JsonObject) -> JsonObject:
        if p.get("requestedMessage") in diagnostics.TRIGGERS:
            return diagnostics.trigger(str(p["requestedMessage"]))
        evse = (p.get("evse") or {}).get("id")
        return _trigger(station, str(p.get("requestedMessage")), evse, TRIGGERABLE_201)

    async def get_variables(p: JsonObject) -> JsonObject:
        return {
            "getVariableResult": [
                _get_variable(station.config, item) for item in p.get("getVariableData", [])
            ]
        }

    async def set_variables(p: JsonObject) -> JsonObject:
        return {
            "setVariableResult": [
                _set_variable(station.config, item) for item in p.get("setVariableData", [])
            ]
        }

    async def reserve_now(p: JsonObject) -> JsonObject:
        token, group = p.get("idToken") or {}, p.get("groupIdToken") or {}
        return _status(_reserve(station, p.get("id"), p.get("evseId", 0), token.get("idToken"),
                                p.get("expiryDateTime"), group.get("idToken")))

    table: dict[str, Handler] = {
        "RequestStartTransaction": request_start,
        "RequestStopTransaction": request_stop,
        "Reset": reset,
        "UnlockConnector": unlock,
        "ChangeAvailability": change_availability,
        "TriggerMessage": trigger,
        "GetVariables": get_variables,
        "SetVariables": set_variables,
        "ReserveNow": reserve_now,
    }
    return {**_common(), **table, **_smart_charging(station, v201=True),
            **diagnostics.handlers()}


def _variable_key(item: JsonObject) -> tuple[JsonObject, JsonObject, str]:
    component = {"name": str((item.get("component") or {}).get("name", ""))}
    variable = {"name": str((item.get("variable") or {}).get("name", ""))}
    key = VARIABLES_201.get(
        (component["name"], variable["name"]), f"{component['name']}.{variable['name']}"
    )
    return component, variable, key


def _get_variable(config: Configuration, item: JsonObject) -> JsonObject:
    component, variable, key = _variable_key(item)
    result: JsonObject = {"component": component, "variable": variable}
    value = config.get(key)
    if value is not None:
        result.update(attributeStatus="Accepted", attributeType="Actual", attributeValue=value)
    elif component["name"] in COMPONENTS_201:
        result["attributeStatus"] = "UnknownVariable"
    else:
        result["attributeStatus"] = "UnknownComponent"
    return result


def _set_variable(config: Configuration, item: JsonObject) -> JsonObject:
    component, variable, key = _variable_key(item)
    status = config.set(key, str(item.get("attributeValue", "")))
    return {
        "component": component,
        "variable": variable,
        "attributeType": "Actual",
        "attributeStatus": status,
    }


# -- remote diagnostics: log upload, firmware update, device model report ------------------

UPLOAD_TIMEOUT = 30.0  # seconds for one log upload or firmware download
FIRMWARE_MAX_BYTES = 64 * 1024 * 1024
REPORT_CHUNK = 4  # reportData items per NotifyReport
_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


def next_version(location: str, current: str) -> str:
    """The version an image installs: the one in its file name (``sim-1.2.0.bin``), else
    the current one with its last number raised."""
    found = _VERSION.findall(location.rsplit("/", 1)[-1])
    if found:
        return str(found[-1])
    head, _, last = current.rpartition(".")
    return f"{head}.{int(last) + 1}" if last.isdigit() else f"{current}.1"


class _Firmware:
    """A station's dialect that reports another firmware version in BootNotification."""

    def __init__(self, inner: Any, version: str) -> None:
        self._inner = inner
        self.firmware_version = version

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def boot(self, reason: str, serial: str) -> tuple[str, JsonObject]:
        action, payload = self._inner.boot(reason, serial)
        payload = dict(payload)
        if "chargingStation" in payload:  # 2.0.1
            payload["chargingStation"] = {**payload["chargingStation"],
                                          "firmwareVersion": self.firmware_version}
        else:
            payload["firmwareVersion"] = self.firmware_version
        return action, payload


class Diagnostics:
    """GetDiagnostics/GetLog (upload a generated log over HTTP), UpdateFirmware (download,
    install, reboot with the new version) and GetBaseReport (NotifyReport in chunks), with
    the status notifications a real station sends along the way."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.v16 = control.station.ocpp_version == "1.6"
        self.log_status = "Idle"
        self.log_request: int | None = None
        self.firmware_status = "Idle"
        self.firmware_request: int | None = None
        self._firmware_task: asyncio.Task[None] | None = None
        self._upload_task: asyncio.Task[None] | None = None

    @property
    def station(self) -> StationParts:
        return self.control.station

    def handlers(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {"UpdateFirmware": self.update_firmware}
        if self.v16:
            table["GetDiagnostics"] = self.get_diagnostics
        else:
            table["GetLog"] = self.get_log
            table["GetBaseReport"] = self.get_base_report
        return table

    # -- status notifications ------------------------------------------------------------

    async def _log_status(self, status: str) -> None:
        self.log_status = status
        if self.v16:
            await self.station.call_now("DiagnosticsStatusNotification", {"status": status})
        else:
            payload: JsonObject = {"status": status}
            if self.log_request is not None:
                payload["requestId"] = self.log_request
            await self.station.call_now("LogStatusNotification", payload)

    async def _firmware_status(self, status: str) -> None:
        self.firmware_status = status
        payload: JsonObject = {"status": status}
        if not self.v16 and self.firmware_request is not None:
            payload["requestId"] = self.firmware_request
        await self.station.call_now("FirmwareStatusNotification", payload)

    TRIGGERS = frozenset({"DiagnosticsStatusNotification", "LogStatusNotification",
                          "FirmwareStatusNotification"})

    def trigger(self, message: str) -> JsonObject:
        """TriggerMessage for a status: the current one (Idle when nothing runs)."""
        if message == "FirmwareStatusNotification":
            after_reply(lambda: self._firmware_status(self.firmware_status))
        else:
            after_reply(lambda: self._log_status(self.log_status))
        return _status("Accepted")

    # -- logs ------------------------------------------------------------------------------

    def _log_text(self, kind: str, oldest: str | None, latest: str | None) -> bytes:
        st = self.station
        now = iso(st.now())
        lines = [f"# {kind} log of {st.station_id} (evcsms simulator, OCPP {st.ocpp_version})",
                 f"# firmware {getattr(st.dialect, 'firmware_version', FIRMWARE)}",
                 f"# window {oldest or '-'} .. {latest or '-'}, generated {now}"]
        lines += [f"{now} INFO connector {c.connector_id} {c.status}" for c in st.connectors]
        if kind == "security":
            lines.append(f"{now} INFO SecurityEvent StartupOfTheDevice")
        else:
            lines.append(f"{now} INFO heartbeat ok; firmware status {self.firmware_status}")
        return ("\n".join(lines) + "\n").encode()

    def _start_upload(self, location: str, name: str, content: bytes) -> None:
        if self._upload_task is not None and not self._upload_task.done():
            self._upload_task.cancel()

        async def start() -> None:
            self._upload_task = asyncio.create_task(self._upload(location, name, content))

        after_reply(start)

    async def _upload(self, location: str, name: str, content: bytes) -> None:
        """Send the file (1.6: multipart POST, as most chargers do; 2.0.1: PUT) and report."""
        await self._log_status("Uploading")
        try:
            async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT) as http:
                if self.v16:
                    answer = await http.post(location, files={
                        "file": (name, content, "text/plain")})
                else:
                    answer = await http.put(location, content=content,
                                            headers={"Content-Type": "text/plain"})
            ok = answer.is_success
            if not ok:
                log.info("%s: log upload answered %s", self.station.station_id,
                         answer.status_code)
        except (httpx.HTTPError, ValueError) as exc:
            log.info("%s: log upload failed: %s", self.station.station_id, exc)
            ok = False
        await self._log_status("Uploaded" if ok else
                               "UploadFailed" if self.v16 else "UploadFailure")
        self.log_status = "Idle"

    async def get_diagnostics(self, p: JsonObject) -> JsonObject:
        stamp = self.station.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.station.station_id}-diagnostics-{stamp}.log"
        content = self._log_text("diagnostics", p.get("startTime"), p.get("stopTime"))
        self._start_upload(str(p["location"]), name, content)
        return {"fileName": name}

    async def get_log(self, p: JsonObject) -> JsonObject:
        kind = "security" if p.get("logType") == "SecurityLog" else "diagnostics"
        window = p.get("log") or {}
        busy = self._upload_task is not None and not self._upload_task.done()
        self.log_request = p.get("requestId")
        stamp = self.station.now().strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.station.station_id}-{kind}-{stamp}.log"
        content = self._log_text(kind, window.get("oldestTimestamp"), window.get("latestTimestamp"))
        self._start_upload(str(window.get("remoteLocation", "")), name, content)
        return {"status": "AcceptedCanceled" if busy else "Accepted", "filename": name}

    # -- firmware ------------------------------------------------------------------------

    async def update_firmware(self, p: JsonObject) -> JsonObject:
        firmware = p.get("firmware") or p
        location = str(firmware.get("location", ""))
        retrieve = firmware.get("retrieveDateTime") or firmware.get("retrieveDate")
        busy = self._firmware_task is not None and not self._firmware_task.done()
        if busy and self._firmware_task is not None:
            self._firmware_task.cancel()
        self.firmware_request = p.get("requestId")
        signed = firmware.get("signature") is not None

        async def start() -> None:
            self._firmware_task = asyncio.create_task(self._install(location, retrieve, signed))

        after_reply(start)
        if self.v16:
            return {}
        return _status("AcceptedCanceled" if busy else "Accepted")

    async def _download(self, location: str) -> bytes | None:
        """The image, or None when the station cannot get it (unreachable, not http(s), an
        error answer, or a location naming a failure, for demos)."""
        if "fail" in location.lower() or not location.startswith(("http://", "https://")):
            return None
        try:
            async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT) as http, \
                    http.stream("GET", location) as answer:
                if not answer.is_success:
                    return None
                image = bytearray()
                async for chunk in answer.aiter_bytes():
                    image += chunk
                    if len(image) > FIRMWARE_MAX_BYTES:
                        return None
                return bytes(image)
        except httpx.HTTPError as exc:
            log.info("%s: firmware download failed: %s", self.station.station_id, exc)
            return None

    async def _install(self, location: str, retrieve: Any, signed: bool) -> None:
        st = self.station
        wait = _seconds_until(retrieve, st.now())
        if wait > 0:
            if not self.v16:
                await self._firmware_status("DownloadScheduled")
            await asyncio.sleep(wait)
        await self._firmware_status("Downloading")
        image = await self._download(location)
        if image is None:
            await self._firmware_status("DownloadFailed")
            self.firmware_status = "Idle"
            return
        log.info("%s: downloaded %d bytes (sha256 %s)", st.station_id, len(image),
                 hashlib.sha256(image).hexdigest()[:16])
        await self._firmware_status("Downloaded")
        if signed and not self.v16:
            await self._firmware_status("SignatureVerified")
        await self._firmware_status("Installing")
        version = next_version(location, getattr(st.dialect, "firmware_version", FIRMWARE))
        inner = st.dialect._inner if isinstance(st.dialect, _Firmware) else st.dialect
        st.dialect = _Firmware(inner, version)
        await self._firmware_status("Installed")
        self.firmware_status = "Idle"
        reboot = getattr(st, "reboot", None)  # VirtualStation: boot reason FirmwareUpdate
        if reboot is not None:
            reboot("Reboot", "FirmwareUpdate")
        else:
            st.request_reset("SoftReset")

    # -- device model report ---------------------------------------------------------------

    async def get_base_report(self, p: JsonObject) -> JsonObject:
        base = str(p.get("reportBase"))
        items = self._report(base)
        request_id = int(p.get("requestId", 0))

        async def send() -> None:
            generated = iso(self.station.now())
            chunks = [items[i:i + REPORT_CHUNK] for i in range(0, len(items), REPORT_CHUNK)]
            for seq_no, chunk in enumerate(chunks):
                await self.station.call_now("NotifyReport", {
                    "requestId": request_id, "generatedAt": generated, "seqNo": seq_no,
                    "tbc": seq_no < len(chunks) - 1, "reportData": chunk})

        after_reply(send)
        return _status("Accepted")

    def _report(self, base: str) -> list[JsonObject]:
        st = self.station
        items: list[JsonObject] = []
        if base in ("FullInventory", "SummaryInventory"):
            items.append(_report_item({"name": "ChargingStation"}, "AvailabilityState",
                                      "Available", "ReadOnly", "OptionList",
                                      values="Available,Occupied,Reserved,Unavailable,Faulted"))
        if base == "FullInventory":
            firmware = getattr(st.dialect, "firmware_version", FIRMWARE)
            items.append(_report_item({"name": "ChargingStation"}, "Model", "SimCharger",
                                      "ReadOnly", "string"))
            items.append(_report_item({"name": "Controller"}, "FirmwareVersion", firmware,
                                      "ReadOnly", "string"))
        for c in st.connectors:
            evse = {"name": "EVSE", "evse": {"id": c.connector_id}}
            connector = {"name": "Connector", "evse": {"id": c.connector_id, "connectorId": 1}}
            shown = c.status if c.status in ("Available", "Faulted", "Reserved", "Unavailable") \
                else "Occupied"
            if base in ("FullInventory", "SummaryInventory"):
                items.append(_report_item(evse, "AvailabilityState", shown, "ReadOnly",
                                          "OptionList"))
            if base == "FullInventory":
                items.append(_report_item(evse, "Power", "22000", "ReadOnly", "decimal",
                                          attribute="MaxSet", unit="W"))
                items.append(_report_item(connector, "ConnectorType", "cType2", "ReadOnly",
                                          "string"))
        if base in ("FullInventory", "ConfigurationInventory"):
            config = self.control.config
            for (component, variable), key in VARIABLES_201.items():
                value = config.get(key)
                if value is not None:
                    items.append(_report_item(
                        {"name": component}, variable, value,
                        "ReadOnly" if key in config.readonly else "ReadWrite",
                        "integer" if value.isdigit() else "string"))
        return items

def _report_item(component: JsonObject, variable: str, value: str, mutability: str,
                 data_type: str, *, attribute: str = "Actual", unit: str | None = None,
                 values: str | None = None) -> JsonObject:
    characteristics: JsonObject = {"dataType": data_type, "supportsMonitoring": False}
    if unit:
        characteristics["unit"] = unit
    if values:
        characteristics["valuesList"] = values
    return {"component": component, "variable": {"name": variable},
            "variableAttribute": [{"type": attribute, "value": value, "mutability": mutability}],
            "variableCharacteristics": characteristics}


def _seconds_until(when: Any, now: datetime) -> float:
    if not isinstance(when, str):
        return 0.0
    with contextlib.suppress(ValueError):
        return max(0.0, (datetime.fromisoformat(when.replace("Z", "+00:00")) - now)
                   .total_seconds())
    return 0.0

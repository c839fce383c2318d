"""Answers of the virtual station to CSMS-initiated CALLs (OCPP 1.6 and 2.0.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from evcsms.simulator.client import Handler, JsonObject, after_reply
from evcsms.simulator.messages import RFID_CARD

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


class Control(Protocol):
    """What the handlers need from the station."""

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


def _reset(station: Control, kind: str) -> JsonObject:
    async def reset() -> None:
        station.request_reset(kind)

    after_reply(reset)
    return _status("Accepted")


def handlers_16(station: Control) -> dict[str, Handler]:
    """Handler table for an OCPP 1.6 station."""

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
        return _trigger(
            station, str(p.get("requestedMessage")), p.get("connectorId"), TRIGGERABLE_16
        )

    async def get_configuration(p: JsonObject) -> JsonObject:
        return get_configuration_16(station.config, p.get("key"))

    async def change_configuration(p: JsonObject) -> JsonObject:
        key, value = str(p.get("key", "")), str(p.get("value", ""))
        return _status(station.config.set(key, value))

    table: dict[str, Handler] = {
        "RemoteStartTransaction": remote_start,
        "RemoteStopTransaction": remote_stop,
        "Reset": reset,
        "UnlockConnector": unlock,
        "ChangeAvailability": change_availability,
        "TriggerMessage": trigger,
        "GetConfiguration": get_configuration,
        "ChangeConfiguration": change_configuration,
    }
    return {**_common(), **table}


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

    table: dict[str, Handler] = {
        "RequestStartTransaction": request_start,
        "RequestStopTransaction": request_stop,
        "Reset": reset,
        "UnlockConnector": unlock,
        "ChangeAvailability": change_availability,
        "TriggerMessage": trigger,
        "GetVariables": get_variables,
        "SetVariables": set_variables,
    }
    return {**_common(), **table}


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

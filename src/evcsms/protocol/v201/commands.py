"""Version-neutral commands (`domain.commands`) as OCPP 2.0.1 CALLs.

`to_call` expects parameters already checked by `domain.commands.check_command` (plus the
`transaction_ref` that `CommandService` adds for remote_stop); what 2.0.1 cannot express
raises `CommandParamsError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from evcsms.domain.commands import CommandName, CommandParamsError, utc_text

Params = Mapping[str, Any]
Call = tuple[str, dict[str, Any]]

# 1.6 trigger names that 2.0.1 spells differently.
TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification"}


def to_call(command: CommandName, params: Params) -> Call:
    """The 2.0.1 action and payload for `command` with `params`."""
    return _BUILDERS[command](params)


def remote_start_id(params: Params) -> int:
    """A positive 31-bit remoteStartId: `params["remote_start_id"]` when given, else derived
    from the parameters (include a unique `command_id` to tell repeated starts apart)."""
    given = params.get("remote_start_id")
    if given is not None:
        return int(given)
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def _remote_start(p: Params) -> Call:
    payload: dict[str, Any] = {
        "idToken": {"idToken": p["id_token"], "type": "Central"},
        "remoteStartId": remote_start_id(p),
    }
    if p.get("evse_id") is not None:
        payload["evseId"] = p["evse_id"]
    return "RequestStartTransaction", payload


def _remote_stop(p: Params) -> Call:
    ref = p.get("transaction_ref")
    if not ref:
        raise CommandParamsError("transaction_ref (the station's transactionId) is required")
    return "RequestStopTransaction", {"transactionId": ref}


def _reset(p: Params) -> Call:
    return "Reset", {"type": "Immediate" if p.get("type", "soft") == "hard" else "OnIdle"}


def _unlock(p: Params) -> Call:
    return "UnlockConnector", {"evseId": p["evse_id"], "connectorId": p.get("connector_id") or 1}


def _availability(p: Params) -> Call:
    status = "Operative" if p["availability"] == "operative" else "Inoperative"
    payload: dict[str, Any] = {"operationalStatus": status}
    if p.get("evse_id"):
        payload["evse"] = {"id": p["evse_id"]}
    return "ChangeAvailability", payload


def _trigger(p: Params) -> Call:
    payload: dict[str, Any] = {"requestedMessage": TRIGGER_NAMES.get(p["message"], p["message"])}
    if p.get("evse_id"):
        payload["evse"] = {"id": p["evse_id"]}
    return "TriggerMessage", payload


def _get_variables(p: Params) -> Call:
    data = [
        {"component": {"name": v["component"]}, "variable": {"name": v["variable"]}}
        for v in p["variables"]
    ]
    return "GetVariables", {"getVariableData": data}


def _set_variables(p: Params) -> Call:
    data = [
        {
            "attributeValue": v["value"],
            "component": {"name": v["component"]},
            "variable": {"name": v["variable"]},
        }
        for v in p["variables"]
    ]
    return "SetVariables", {"setVariableData": data}


def _data_transfer(p: Params) -> Call:
    payload: dict[str, Any] = {"vendorId": p["vendor_id"]}
    if p.get("message_id") is not None:
        payload["messageId"] = p["message_id"]
    if p.get("data") is not None:
        payload["data"] = p["data"]
    return "DataTransfer", payload


def _cost_updated(p: Params) -> Call:
    return "CostUpdated", {"totalCost": p["total_cost"], "transactionId": p["transaction_id"]}


def _request_id(p: Params) -> int:
    value = p.get("request_id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CommandParamsError("request_id is required (evcsms's command service sets it)")
    return value


def _location(p: Params) -> str:
    location = p.get("location")
    if not isinstance(location, str) or not location:
        raise CommandParamsError("location is required")
    if len(location) > 512:
        raise CommandParamsError("location must be at most 512 characters in OCPP 2.0.1")
    return location


def _optional(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload.update({key: value for key, value in fields.items() if value is not None})
    return payload


LOG_TYPES = {"diagnostics": "DiagnosticsLog", "security": "SecurityLog"}


def _get_log(p: Params) -> Call:
    log = _optional(
        {"remoteLocation": _location(p)},
        oldestTimestamp=utc_text(p["start_time"], "start_time") if p.get("start_time") else None,
        latestTimestamp=utc_text(p["stop_time"], "stop_time") if p.get("stop_time") else None,
    )
    payload = _optional(
        {"logType": LOG_TYPES[p.get("log_type", "diagnostics")], "requestId": _request_id(p),
         "log": log},
        retries=p.get("retries"), retryInterval=p.get("retry_interval"),
    )
    return "GetLog", payload


def _update_firmware(p: Params) -> Call:
    if p.get("retrieve_at") is None:
        raise CommandParamsError("retrieve_at is required (evcsms sets it to now)")
    firmware = _optional(
        {"location": _location(p), "retrieveDateTime": utc_text(p["retrieve_at"], "retrieve_at")},
        signingCertificate=p.get("signing_certificate"), signature=p.get("signature"),
    )
    payload = _optional({"requestId": _request_id(p), "firmware": firmware},
                        retries=p.get("retries"), retryInterval=p.get("retry_interval"))
    return "UpdateFirmware", payload


def _get_base_report(p: Params) -> Call:
    return "GetBaseReport", {"requestId": _request_id(p),
                             "reportBase": p.get("report_base", "FullInventory")}


def _only_v16(command: CommandName, replacement: CommandName) -> Callable[[Params], Call]:
    def build(p: Params) -> Call:
        raise CommandParamsError(
            f"{command.value} is OCPP 1.6 only; use {replacement.value} for OCPP 2.0.1"
        )

    return build


_BUILDERS: dict[CommandName, Callable[[Params], Call]] = {
    CommandName.REMOTE_START: _remote_start,
    CommandName.REMOTE_STOP: _remote_stop,
    CommandName.RESET: _reset,
    CommandName.UNLOCK_CONNECTOR: _unlock,
    CommandName.CHANGE_AVAILABILITY: _availability,
    CommandName.TRIGGER_MESSAGE: _trigger,
    CommandName.GET_CONFIGURATION: _only_v16(
        CommandName.GET_CONFIGURATION, CommandName.GET_VARIABLES
    ),
    CommandName.CHANGE_CONFIGURATION: _only_v16(
        CommandName.CHANGE_CONFIGURATION, CommandName.SET_VARIABLES
    ),
    CommandName.GET_VARIABLES: _get_variables,
    CommandName.SET_VARIABLES: _set_variables,
    CommandName.CLEAR_CACHE: lambda p: ("ClearCache", {}),
    CommandName.DATA_TRANSFER: _data_transfer,
    CommandName.COST_UPDATED: _cost_updated,
    CommandName.UPLOAD_LOG: _get_log,
    CommandName.UPDATE_FIRMWARE: _update_firmware,
    CommandName.GET_BASE_REPORT: _get_base_report,
}

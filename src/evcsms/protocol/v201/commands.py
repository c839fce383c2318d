"""Version-neutral commands (`domain.commands`) as OCPP 2.0.1 CALLs.

`to_call` expects parameters already checked by `domain.commands.check_command` (plus the
`transaction_ref` that `CommandService` adds for remote_stop); what 2.0.1 cannot express
raises `CommandParamsError`. As a last guard every payload built here is validated against
the 2.0.1 request schema: a CALL it returns is one the station can accept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from evcsms.domain.commands import (
    CommandName,
    CommandParamsError,
    schedule_start,
    utc_text,
    wire_limit,
)
from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import OcppError
from evcsms.protocol.validation import validate

Params = Mapping[str, Any]
Call = tuple[str, dict[str, Any]]

# 1.6 trigger names that 2.0.1 spells differently.
TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification"}


def to_call(command: CommandName, params: Params) -> Call:
    """The 2.0.1 action and payload for `command` with `params`; CommandParamsError if 2.0.1
    cannot express it or the payload does not fit the schema."""
    action, payload = _BUILDERS[CommandName(command)](params)
    try:
        validate(OcppVersion.V201, action, payload)
    except OcppError as exc:
        raise CommandParamsError(
            f"{command} does not fit 2.0.1 {action}: {exc.description}") from None
    return action, payload


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


PURPOSES = {"tx": "TxProfile", "tx_default": "TxDefaultProfile",
            "station_max": "ChargingStationMaxProfile"}


def _set_charging_profile(p: Params) -> Call:
    """One limit from now on: an Absolute profile (K01.FR.38 forbids Relative for the station
    max; K01.FR.40 wants its startSchedule) starting now (or at `valid_from`) with one
    open-ended period at startPeriod 0."""
    period = _optional({"startPeriod": 0, "limit": wire_limit(p.get("limit"))},
                       numberPhases=p.get("number_phases"), phaseToUse=p.get("phase_to_use"))
    schedule = {"id": p["profile_id"], "startSchedule": schedule_start(p),
                "chargingRateUnit": p["unit"], "chargingSchedulePeriod": [period]}
    purpose = p.get("purpose", "tx_default")
    valid_to = p.get("valid_to")
    profile = _optional(
        {"id": p["profile_id"], "stackLevel": p.get("stack_level") or 0,
         "chargingProfilePurpose": PURPOSES.get(purpose, purpose),
         "chargingProfileKind": "Absolute", "chargingSchedule": [schedule]},
        transactionId=p.get("transaction_ref") if purpose == "tx" else None,
        validFrom=schedule_start(p) if p.get("valid_from") is not None else None,
        validTo=utc_text(valid_to, "valid_to") if valid_to is not None else None,
    )
    if purpose == "tx" and not profile.get("transactionId"):
        raise CommandParamsError("transaction_ref (the station's transactionId) is required")
    return "SetChargingProfile", {"evseId": p["evse_id"], "chargingProfile": profile}


def _clear_charging_profile(p: Params) -> Call:
    purpose = p.get("purpose")
    criteria = _optional({}, evseId=p.get("evse_id"), stackLevel=p.get("stack_level"),
                         chargingProfilePurpose=PURPOSES.get(purpose, purpose) if purpose else None)
    payload = _optional({}, chargingProfileId=p.get("profile_id"),
                        chargingProfileCriteria=criteria or None)
    return "ClearChargingProfile", payload


def _get_composite_schedule(p: Params) -> Call:
    return "GetCompositeSchedule", _optional(
        {"evseId": p["evse_id"], "duration": p["duration_s"]}, chargingRateUnit=p.get("unit"))


def _central(token: Any) -> dict[str, Any] | None:
    return None if token is None else {"idToken": token, "type": "Central"}


def _reserve_now(p: Params) -> Call:
    return "ReserveNow", _optional(
        {"id": p["reservation_id"], "expiryDateTime": utc_text(p.get("expires_at"), "expires_at"),
         "idToken": _central(p["id_token"])},
        evseId=p.get("evse_id") or None,  # 0 (any EVSE): no evseId
        groupIdToken=_central(p.get("parent_id_token")),
    )


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
    CommandName.SET_CHARGING_PROFILE: _set_charging_profile,
    CommandName.CLEAR_CHARGING_PROFILE: _clear_charging_profile,
    CommandName.GET_COMPOSITE_SCHEDULE: _get_composite_schedule,
    CommandName.RESERVE_NOW: _reserve_now,
    CommandName.CANCEL_RESERVATION: lambda p: (
        "CancelReservation", {"reservationId": p["reservation_id"]}),
}

"""Neutral commands (`domain.commands`) as OCPP 1.6 CALLs: `to_call(name, params)`.

The parameters have been checked by `domain.commands.check_command` (and, for
remote_stop, resolved to the station's `transaction_ref` by the command service).
This module adds what only 1.6 forbids (2.0.1-only commands and trigger messages,
the 20-character idTag) and, as a last guard, validates every payload it builds
against the 1.6 request schema: a CALL it returns is one the station can accept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ocpp.v16.enums import AvailabilityType, ResetType

from evcsms.domain.commands import (
    CommandName,
    CommandParamsError,
    schedule_start,
    utc_text,
    wire_limit,
)
from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import Payload
from evcsms.protocol.errors import OcppError
from evcsms.protocol.validation import validate

Params = dict[str, Any]

# TriggerMessage.json's enum (ocpp's MessageTrigger also lists security-extension messages).
TRIGGERABLE = frozenset({
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "Heartbeat", "MeterValues", "StatusNotification",
})
ID_TAG_MAX = 20  # IdToken is CiString20Type in 1.6


def _with(payload: Payload, **optional: Any) -> Payload:
    """`payload` plus the optional fields that have a value."""
    return payload | {key: value for key, value in optional.items() if value is not None}


def _id_tag(p: Params, key: str) -> str | None:
    value = p.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > ID_TAG_MAX):
        raise CommandParamsError(f"{key} must be at most {ID_TAG_MAX} characters in OCPP 1.6")
    return value


def _remote_start(p: Params) -> Payload:
    if not isinstance(p.get("id_token"), str):
        raise CommandParamsError("id_token is required")
    return _with({"idTag": _id_tag(p, "id_token")}, connectorId=p.get("evse_id"))


def _remote_stop(p: Params) -> Payload:
    try:
        return {"transactionId": int(p["transaction_ref"])}
    except (KeyError, TypeError, ValueError):
        raise CommandParamsError("transaction_ref must be a 1.6 (integer) transaction id") from None


def _reset(p: Params) -> Payload:
    return {"type": (ResetType.hard if p.get("type") == "hard" else ResetType.soft).value}


def _unlock(p: Params) -> Payload:
    return {"connectorId": p.get("evse_id")}


def _availability(p: Params) -> Payload:
    operative = p.get("availability") == "operative"
    kind = AvailabilityType.operative if operative else AvailabilityType.inoperative
    return {"connectorId": p.get("evse_id") or 0, "type": kind.value}


def _trigger(p: Params) -> Payload:
    message = p.get("message")
    if message not in TRIGGERABLE:
        allowed = ", ".join(sorted(TRIGGERABLE))
        raise CommandParamsError(f"message must be one of {allowed} in OCPP 1.6")
    return _with({"requestedMessage": message}, connectorId=p.get("evse_id"))


def _get_configuration(p: Params) -> Payload:
    return _with({}, key=p.get("keys") or None)  # no key: the station reports all


def _change_configuration(p: Params) -> Payload:
    return {"key": p.get("key"), "value": p.get("value")}


def _clear_cache(p: Params) -> Payload:
    return {}


def _data_transfer(p: Params) -> Payload:
    data = p.get("data")
    if data is not None and not isinstance(data, str):
        data = json.dumps(data, separators=(",", ":"))  # 1.6 data is a string
    return _with({"vendorId": p.get("vendor_id")}, messageId=p.get("message_id"), data=data)


COST_VENDOR = "org.openchargealliance.costmsg"  # OCA's 1.6 pricing white paper


def _running_cost(p: Params) -> Payload:
    """The OCA "RunningCost" DataTransfer (Using OCPP 1.6 for pricing): 1.6 transaction ids
    are ours, integers."""
    data: dict[str, Any] = {"transactionId": int(p["transaction_id"]), "cost": p["total_cost"],
                            "state": p.get("state", "Charging")}
    if p.get("timestamp") is not None:
        data["timestamp"] = p["timestamp"]
    if p.get("meter_wh") is not None:
        data["meterValue"] = p["meter_wh"]
    return {"vendorId": COST_VENDOR, "messageId": "RunningCost",
            "data": json.dumps(data, separators=(",", ":"))}


def _location(p: Params) -> str:
    location = p.get("location")
    if not isinstance(location, str) or not location:
        raise CommandParamsError("location is required (evcsms adds its upload URL)")
    return location


def _get_diagnostics(p: Params) -> Payload:
    if p.get("log_type", "diagnostics") != "diagnostics":
        raise CommandParamsError("OCPP 1.6 uploads only diagnostics logs (GetDiagnostics)")
    start, stop = p.get("start_time"), p.get("stop_time")
    return _with({"location": _location(p)},
                 startTime=utc_text(start, "start_time") if start is not None else None,
                 stopTime=utc_text(stop, "stop_time") if stop is not None else None,
                 retries=p.get("retries"), retryInterval=p.get("retry_interval"))


def _update_firmware(p: Params) -> Payload:
    if p.get("retrieve_at") is None:
        raise CommandParamsError("retrieve_at is required in OCPP 1.6 (evcsms sets it to now)")
    for key in ("signing_certificate", "signature"):
        if p.get(key) is not None:
            raise CommandParamsError(f"{key} cannot be sent to an OCPP 1.6 station")
    return _with({"location": _location(p), "retrieveDate": utc_text(p["retrieve_at"],
                                                                      "retrieve_at")},
                 retries=p.get("retries"), retryInterval=p.get("retry_interval"))


def _no_base_report(p: Params) -> Payload:
    raise CommandParamsError(
        "get_base_report is OCPP 2.0.1 only; use get_configuration on 1.6")


def _only_201(p: Params) -> Payload:
    raise CommandParamsError(
        "this command is OCPP 2.0.1 only; use get_configuration/change_configuration on 1.6"
    )


PURPOSES = {"tx": "TxProfile", "tx_default": "TxDefaultProfile",
            "station_max": "ChargePointMaxProfile"}


def _set_charging_profile(p: Params) -> Payload:
    """One limit from now on: an Absolute profile whose schedule starts now (or at
    `valid_from`) with one open-ended period at startPeriod 0."""
    if p.get("phase_to_use") is not None:
        raise CommandParamsError("phase_to_use exists only in OCPP 2.0.1 (1.6 schedule periods "
                                 "cannot pick a phase)")
    purpose = p.get("purpose", "tx_default")
    transaction_id = None
    if purpose == "tx":
        try:
            transaction_id = int(p["transaction_ref"])
        except (KeyError, TypeError, ValueError):
            raise CommandParamsError(
                "transaction_ref must be a 1.6 (integer) transaction id") from None
    period = _with({"startPeriod": 0, "limit": wire_limit(p.get("limit"))},
                   numberPhases=p.get("number_phases"))
    schedule = {"startSchedule": schedule_start(p), "chargingRateUnit": p.get("unit"),
                "chargingSchedulePeriod": [period]}
    valid_to = p.get("valid_to")
    profile = _with(
        {"chargingProfileId": p.get("profile_id"), "stackLevel": p.get("stack_level") or 0,
         "chargingProfilePurpose": PURPOSES.get(purpose, purpose),
         "chargingProfileKind": "Absolute", "chargingSchedule": schedule},
        transactionId=transaction_id,
        validFrom=schedule_start(p) if p.get("valid_from") is not None else None,
        validTo=utc_text(valid_to, "valid_to") if valid_to is not None else None,
    )
    return {"connectorId": p.get("evse_id"), "csChargingProfiles": profile}


def _clear_charging_profile(p: Params) -> Payload:
    purpose = p.get("purpose")
    return _with({}, id=p.get("profile_id"), connectorId=p.get("evse_id"),
                 chargingProfilePurpose=PURPOSES.get(purpose, purpose) if purpose else None,
                 stackLevel=p.get("stack_level"))


def _get_composite_schedule(p: Params) -> Payload:
    return _with({"connectorId": p.get("evse_id"), "duration": p.get("duration_s")},
                 chargingRateUnit=p.get("unit"))


def _reserve_now(p: Params) -> Payload:
    return _with({"connectorId": p.get("evse_id"),
                  "expiryDate": utc_text(p.get("expires_at"), "expires_at"),
                  "idTag": _id_tag(p, "id_token"), "reservationId": p.get("reservation_id")},
                 parentIdTag=_id_tag(p, "parent_id_token"))


def _cancel_reservation(p: Params) -> Payload:
    return {"reservationId": p.get("reservation_id")}


_TRANSLATE: dict[CommandName, tuple[str, Callable[[Params], Payload]]] = {
    CommandName.REMOTE_START: ("RemoteStartTransaction", _remote_start),
    CommandName.REMOTE_STOP: ("RemoteStopTransaction", _remote_stop),
    CommandName.RESET: ("Reset", _reset),
    CommandName.UNLOCK_CONNECTOR: ("UnlockConnector", _unlock),
    CommandName.CHANGE_AVAILABILITY: ("ChangeAvailability", _availability),
    CommandName.TRIGGER_MESSAGE: ("TriggerMessage", _trigger),
    CommandName.GET_CONFIGURATION: ("GetConfiguration", _get_configuration),
    CommandName.CHANGE_CONFIGURATION: ("ChangeConfiguration", _change_configuration),
    CommandName.CLEAR_CACHE: ("ClearCache", _clear_cache),
    CommandName.DATA_TRANSFER: ("DataTransfer", _data_transfer),
    CommandName.COST_UPDATED: ("DataTransfer", _running_cost),
    CommandName.GET_VARIABLES: ("GetVariables", _only_201),
    CommandName.SET_VARIABLES: ("SetVariables", _only_201),
    CommandName.UPLOAD_LOG: ("GetDiagnostics", _get_diagnostics),
    CommandName.UPDATE_FIRMWARE: ("UpdateFirmware", _update_firmware),
    CommandName.GET_BASE_REPORT: ("GetBaseReport", _no_base_report),
    CommandName.SET_CHARGING_PROFILE: ("SetChargingProfile", _set_charging_profile),
    CommandName.CLEAR_CHARGING_PROFILE: ("ClearChargingProfile", _clear_charging_profile),
    CommandName.GET_COMPOSITE_SCHEDULE: ("GetCompositeSchedule", _get_composite_schedule),
    CommandName.RESERVE_NOW: ("ReserveNow", _reserve_now),
    CommandName.CANCEL_RESERVATION: ("CancelReservation", _cancel_reservation),
}


def to_call(command: CommandName, params: Params) -> tuple[str, Payload]:
    """The 1.6 action and payload for `command`; CommandParamsError if 1.6 cannot express it."""
    action, build = _TRANSLATE[CommandName(command)]
    payload = build(params)
    try:
        validate(OcppVersion.V16, action, payload)
    except OcppError as exc:
        raise CommandParamsError(f"{command} does not fit 1.6 {action}: {exc.description}") from None
    return action, payload

"""Version-neutral commands a CSMS sends to a station, with their parameter rules.

`protocol.commands` translates each into the CALL of the station's OCPP version.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any


class CommandName(enum.StrEnum):
    REMOTE_START = "remote_start"
    REMOTE_STOP = "remote_stop"
    RESET = "reset"
    UNLOCK_CONNECTOR = "unlock_connector"
    CHANGE_AVAILABILITY = "change_availability"
    TRIGGER_MESSAGE = "trigger_message"
    GET_CONFIGURATION = "get_configuration"  # OCPP 1.6
    CHANGE_CONFIGURATION = "change_configuration"  # OCPP 1.6
    GET_VARIABLES = "get_variables"  # OCPP 2.0.1
    SET_VARIABLES = "set_variables"  # OCPP 2.0.1
    CLEAR_CACHE = "clear_cache"
    DATA_TRANSFER = "data_transfer"
    COST_UPDATED = "cost_updated"  # 2.0.1 CostUpdated; 1.6 the OCA "RunningCost" DataTransfer
    UPLOAD_LOG = "upload_log"  # 1.6 GetDiagnostics, 2.0.1 GetLog (services/log_uploads.py)
    UPDATE_FIRMWARE = "update_firmware"  # UpdateFirmware (services/firmware.py)
    GET_BASE_REPORT = "get_base_report"  # OCPP 2.0.1 (services/device_model.py)
    SET_CHARGING_PROFILE = "set_charging_profile"  # one-period limit (services/load.py)
    CLEAR_CHARGING_PROFILE = "clear_charging_profile"
    GET_COMPOSITE_SCHEDULE = "get_composite_schedule"
    RESERVE_NOW = "reserve_now"  # services/reservations.py
    CANCEL_RESERVATION = "cancel_reservation"


ONLY_VERSION = {
    CommandName.GET_CONFIGURATION: "1.6",
    CommandName.CHANGE_CONFIGURATION: "1.6",
    CommandName.GET_VARIABLES: "2.0.1",
    CommandName.SET_VARIABLES: "2.0.1",
    CommandName.GET_BASE_REPORT: "2.0.1",
}

TRIGGERABLE = {
    "BootNotification", "Heartbeat", "StatusNotification", "MeterValues",
    "FirmwareStatusNotification", "DiagnosticsStatusNotification", "LogStatusNotification",
    "TransactionEvent", "SignChargingStationCertificate",
}


MAX_INT = 2**31 - 1  # OCPP integers are 32-bit


class CommandParamsError(ValueError):
    """The parameters do not fit the command; the message says which and why."""


def _int(params: Mapping[str, Any], key: str, *, required: bool, minimum: int = 0) -> None:
    value = params.get(key)
    if value is None:
        if required:
            raise CommandParamsError(f"{key} is required")
        return
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_INT:
        raise CommandParamsError(f"{key} must be an integer from {minimum} to {MAX_INT}")


def _str(params: Mapping[str, Any], key: str, *, required: bool, max_len: int = 255) -> None:
    value = params.get(key)
    if value is None:
        if required:
            raise CommandParamsError(f"{key} is required")
        return
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise CommandParamsError(f"{key} must be a non-empty string of at most {max_len} characters")


def _one_of(params: Mapping[str, Any], key: str, allowed: set[str], default: str | None) -> None:
    value = params.get(key, default)
    if value not in allowed:
        raise CommandParamsError(f"{key} must be one of {', '.join(sorted(allowed))}")


def _variables(params: Mapping[str, Any], *, with_value: bool) -> None:
    items = params.get("variables")
    if not isinstance(items, list) or not items:
        raise CommandParamsError("variables must be a non-empty list")
    for item in items:
        if not isinstance(item, dict):
            raise CommandParamsError("each variable must be an object")
        _str(item, "component", required=True, max_len=50)
        _str(item, "variable", required=True, max_len=50)
        if with_value:
            _str(item, "value", required=True, max_len=1000)


def _keys(params: Mapping[str, Any]) -> None:
    keys = params.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise CommandParamsError("keys must be a list of configuration key names")


def _remote_start(p: Mapping[str, Any]) -> None:
    _str(p, "id_token", required=True, max_len=36)
    _int(p, "evse_id", required=False, minimum=1)


def _unlock_connector(p: Mapping[str, Any]) -> None:
    _int(p, "evse_id", required=True, minimum=1)
    _int(p, "connector_id", required=False, minimum=1)


def _change_availability(p: Mapping[str, Any]) -> None:
    _int(p, "evse_id", required=False, minimum=0)
    _one_of(p, "availability", {"operative", "inoperative"}, None)


def _trigger_message(p: Mapping[str, Any]) -> None:
    _one_of(p, "message", TRIGGERABLE, None)
    _int(p, "evse_id", required=False, minimum=1)


def _change_configuration(p: Mapping[str, Any]) -> None:
    _str(p, "key", required=True, max_len=50)
    _str(p, "value", required=True, max_len=500)


def _cost_updated(p: Mapping[str, Any]) -> None:
    _str(p, "transaction_id", required=True, max_len=36)
    cost = p.get("total_cost")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        raise CommandParamsError(f"total_cost: expected a number >= 0, got {cost!r}")
    _int(p, "meter_wh", required=False, minimum=0)
    _one_of(p, "state", {"Charging", "Idle"}, "Charging")


def _data_transfer(p: Mapping[str, Any]) -> None:
    _str(p, "vendor_id", required=True, max_len=255)
    _str(p, "message_id", required=False, max_len=50)


def parse_utc(value: Any, key: str) -> datetime:
    """An ISO 8601 date-time with a zone (e.g. 2027-01-01T00:00:00Z) as aware UTC."""
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise CommandParamsError(
            f"{key} must be an ISO 8601 date-time with a zone, e.g. 2027-01-01T00:00:00Z")
    return parsed.astimezone(UTC)


def utc_text(value: Any, key: str) -> str:
    """`value` (checked by `parse_utc`) as OCPP writes it: UTC with a Z."""
    return parse_utc(value, key).isoformat().replace("+00:00", "Z")


def _chosen_by_evcsms(p: Mapping[str, Any], *keys: str) -> None:
    for key in keys:
        if key in p:
            raise CommandParamsError(f"{key} is chosen by evcsms; leave it out")


LOG_TYPES = {"diagnostics", "security"}
REPORT_BASES = {"ConfigurationInventory", "FullInventory", "SummaryInventory"}
FIRMWARE_SCHEMES = ("http://", "https://", "ftp://", "ftps://", "sftp://")


def _upload_log(p: Mapping[str, Any]) -> None:
    _chosen_by_evcsms(p, "location", "request_id", "upload_id")
    _one_of(p, "log_type", LOG_TYPES, "diagnostics")
    start = parse_utc(p["start_time"], "start_time") if p.get("start_time") is not None else None
    stop = parse_utc(p["stop_time"], "stop_time") if p.get("stop_time") is not None else None
    if start is not None and stop is not None and stop < start:
        raise CommandParamsError("stop_time must not be before start_time")
    _int(p, "retries", required=False)
    _int(p, "retry_interval", required=False)


def _update_firmware(p: Mapping[str, Any]) -> None:
    _chosen_by_evcsms(p, "request_id", "update_id")
    _str(p, "location", required=True, max_len=512)
    location = str(p["location"])
    if not location.lower().startswith(FIRMWARE_SCHEMES) or any(c.isspace() for c in location):
        raise CommandParamsError(
            "location must be an http, https, ftp, ftps or sftp URL without spaces")
    if p.get("retrieve_at") is not None:
        parse_utc(p["retrieve_at"], "retrieve_at")
    _int(p, "retries", required=False)
    _int(p, "retry_interval", required=False)
    _str(p, "signing_certificate", required=False, max_len=5500)
    _str(p, "signature", required=False, max_len=800)


def _get_base_report(p: Mapping[str, Any]) -> None:
    _chosen_by_evcsms(p, "request_id")
    _one_of(p, "report_base", REPORT_BASES, "FullInventory")


PROFILE_PURPOSES = {"tx", "tx_default", "station_max"}
RATE_UNITS = {"A", "W"}


def _number(p: Mapping[str, Any], key: str, *, required: bool) -> None:
    """A number >= 0 given as int, float or decimal text (e.g. "16.5")."""
    value = p.get(key)
    if value is None:
        if required:
            raise CommandParamsError(f"{key} is required")
        return
    if _decimal(value) is None:
        raise CommandParamsError(f"{key} must be a number from 0 to {MAX_INT}, got {value!r}")


def _decimal(value: Any) -> Decimal | None:
    """`value` (int, float or decimal text) as a finite Decimal in 0..MAX_INT, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0 or number > MAX_INT:
        return None
    return number


LIMIT_STEP = Decimal("0.1")  # OCPP limits carry at most one decimal place


def wire_limit(value: Any) -> float:
    """A profile `limit` as the JSON number OCPP carries: one decimal place, rounded DOWN
    (16.59 A -> 16.5 A), so translation can lower a limit but never raise it."""
    number = _decimal(value)
    if number is None:
        raise CommandParamsError(f"limit must be a number from 0 to {MAX_INT}, got {value!r}")
    return float(number.quantize(LIMIT_STEP, rounding=ROUND_DOWN))


def schedule_start(p: Mapping[str, Any], now: datetime | None = None) -> str:
    """startSchedule of set_charging_profile's one-period Absolute schedule, as OCPP writes
    it: `valid_from` when given, else `now` (default: the moment the CALL is built), in
    whole seconds, UTC."""
    if p.get("valid_from") is not None:
        return utc_text(p["valid_from"], "valid_from")
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def _set_charging_profile(p: Mapping[str, Any]) -> None:
    """One limit from now on (a one-period schedule): `limit` in `unit` (A per phase, or W),
    for `evse_id` (0: the whole station), as a `purpose` profile: tx (needs the station's
    `transaction_ref` and an EVSE), tx_default or station_max (evse_id 0 only)."""
    _int(p, "evse_id", required=True)
    _one_of(p, "purpose", PROFILE_PURPOSES, "tx_default")
    _int(p, "profile_id", required=True, minimum=1)
    _int(p, "stack_level", required=False)
    _one_of(p, "unit", RATE_UNITS, None)
    _number(p, "limit", required=True)
    _int(p, "number_phases", required=False, minimum=1)
    if p.get("number_phases") is not None and p["number_phases"] > 3:
        raise CommandParamsError("number_phases must be 1, 2 or 3")
    _int(p, "phase_to_use", required=False, minimum=1)
    if p.get("phase_to_use") is not None:
        if p["phase_to_use"] > 3:
            raise CommandParamsError("phase_to_use must be 1, 2 or 3")
        if p.get("number_phases") != 1:  # OCPP 2.0.1 K01.FR.19
            raise CommandParamsError("phase_to_use needs number_phases 1")
    if p.get("purpose", "tx_default") == "tx":
        _str(p, "transaction_ref", required=True, max_len=36)
        if p["evse_id"] == 0:  # 1.6 and 2.0.1 (K01.FR.16): a TxProfile is for one EVSE
            raise CommandParamsError("a tx profile is for the EVSE of its transaction, not 0")
    elif p.get("transaction_ref") is not None:
        raise CommandParamsError("transaction_ref belongs to a tx profile only")
    if p.get("purpose") == "station_max" and p.get("evse_id") != 0:
        raise CommandParamsError("a station_max profile is for evse_id 0 (the whole station)")
    valid_from, valid_to = (parse_utc(p[key], key) if p.get(key) is not None else None
                            for key in ("valid_from", "valid_to"))
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise CommandParamsError("valid_to must be after valid_from")


CLEAR_CRITERIA = ("evse_id", "purpose", "stack_level")


def _clear_charging_profile(p: Mapping[str, Any]) -> None:
    """Clear by `profile_id`, or by any of `evse_id`, `purpose`, `stack_level` (none: all);
    not both ways at once (a 2.0.1 station ignores the criteria when given an id)."""
    _int(p, "profile_id", required=False, minimum=1)
    _int(p, "evse_id", required=False)
    if p.get("purpose") is not None:
        _one_of(p, "purpose", PROFILE_PURPOSES, None)
    _int(p, "stack_level", required=False)
    if p.get("profile_id") is not None and any(p.get(k) is not None for k in CLEAR_CRITERIA):
        raise CommandParamsError(
            "clear either by profile_id or by evse_id/purpose/stack_level, not both")


def _get_composite_schedule(p: Mapping[str, Any]) -> None:
    _int(p, "evse_id", required=True)
    _int(p, "duration_s", required=True, minimum=1)
    if p.get("unit") is not None:
        _one_of(p, "unit", RATE_UNITS, None)


def _reserve_now(p: Mapping[str, Any]) -> None:
    """`reservation_id` is evcsms's (the reservations service picks it); `evse_id` 0
    reserves any EVSE of the station."""
    _int(p, "reservation_id", required=True, minimum=1)
    _int(p, "evse_id", required=True)
    _str(p, "id_token", required=True, max_len=36)
    _str(p, "parent_id_token", required=False, max_len=36)
    parse_utc(p.get("expires_at"), "expires_at")


ID_TAG_MAX_16 = 20  # IdToken is CiString20Type in 1.6


def _version_rules(command: CommandName, p: Mapping[str, Any], version: str) -> None:
    """Parameters only some versions can carry (the version is known)."""
    if version != "1.6":
        return
    if command is CommandName.UPLOAD_LOG and p.get("log_type") == "security":
        raise CommandParamsError("log_type security exists only in OCPP 2.0.1 (GetLog); "
                                 "this station speaks 1.6")
    if command is CommandName.UPDATE_FIRMWARE:
        for key in ("signing_certificate", "signature"):
            if p.get(key) is not None:
                raise CommandParamsError(f"{key} exists only in OCPP 2.0.1 (signed firmware); "
                                         "this station speaks 1.6")
    if command is CommandName.SET_CHARGING_PROFILE and p.get("phase_to_use") is not None:
        raise CommandParamsError("phase_to_use exists only in OCPP 2.0.1; this station speaks 1.6")
    if command is CommandName.RESERVE_NOW:
        for key in ("id_token", "parent_id_token"):
            if p.get(key) is not None and len(p[key]) > ID_TAG_MAX_16:
                raise CommandParamsError(
                    f"{key} must be at most {ID_TAG_MAX_16} characters in OCPP 1.6")


_RULES: dict[CommandName, Callable[[Mapping[str, Any]], None]] = {
    CommandName.REMOTE_START: _remote_start,
    CommandName.REMOTE_STOP: lambda p: _int(p, "session_id", required=True, minimum=1),
    CommandName.RESET: lambda p: _one_of(p, "type", {"soft", "hard"}, "soft"),
    CommandName.UNLOCK_CONNECTOR: _unlock_connector,
    CommandName.CHANGE_AVAILABILITY: _change_availability,
    CommandName.TRIGGER_MESSAGE: _trigger_message,
    CommandName.GET_CONFIGURATION: _keys,
    CommandName.CHANGE_CONFIGURATION: _change_configuration,
    CommandName.GET_VARIABLES: lambda p: _variables(p, with_value=False),
    CommandName.SET_VARIABLES: lambda p: _variables(p, with_value=True),
    CommandName.CLEAR_CACHE: lambda p: None,
    CommandName.DATA_TRANSFER: _data_transfer,
    CommandName.COST_UPDATED: _cost_updated,
    CommandName.UPLOAD_LOG: _upload_log,
    CommandName.UPDATE_FIRMWARE: _update_firmware,
    CommandName.GET_BASE_REPORT: _get_base_report,
    CommandName.SET_CHARGING_PROFILE: _set_charging_profile,
    CommandName.CLEAR_CHARGING_PROFILE: _clear_charging_profile,
    CommandName.GET_COMPOSITE_SCHEDULE: _get_composite_schedule,
    CommandName.RESERVE_NOW: _reserve_now,
    CommandName.CANCEL_RESERVATION: lambda p: _int(p, "reservation_id", required=True, minimum=1),
}


def check_command(name: str, params: Mapping[str, Any], ocpp_version: str | None) -> CommandName:
    """Validate a command for a station of `ocpp_version` (None: version not known yet)."""
    try:
        command = CommandName(name)
    except ValueError:
        known = ", ".join(c.value for c in CommandName)
        raise CommandParamsError(f"unknown command {name!r}; known: {known}") from None
    only = ONLY_VERSION.get(command)
    if only is not None and ocpp_version is not None and ocpp_version != only:
        raise CommandParamsError(
            f"{command.value} exists only in OCPP {only}; this station speaks {ocpp_version}"
        )
    _RULES[command](params)
    if ocpp_version is not None:
        _version_rules(command, params, ocpp_version)
    return command


ACCEPTING = {"Accepted", "Unlocked", "Scheduled", "AcceptedCanceled"}


def answer_accepted(response: Mapping[str, Any]) -> bool:
    """Whether a station's answer means yes: a status in ACCEPTING, or no status at all."""
    status = response.get("status")
    return status is None or status in ACCEPTING

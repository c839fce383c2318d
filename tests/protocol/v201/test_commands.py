from datetime import UTC, datetime, timedelta

import orjson
import pytest

from evcsms.domain.commands import TRIGGERABLE, CommandName, CommandParamsError, check_command
from evcsms.domain.model import OcppVersion
from evcsms.protocol.v201.commands import remote_start_id, to_call
from evcsms.protocol.validation import validate

VARIABLES = [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"}]

UPLOAD = "https://csms.example:8180/uploads/logs/Zm9vYmFyYmF6cXV4"
FIRMWARE = "https://firmware.example/sim-1.2.0.bin"

CASES = [
    (CommandName.REMOTE_START, {"id_token": "TAG1", "remote_start_id": 7},
     "RequestStartTransaction", {"idToken": {"idToken": "TAG1", "type": "Central"},
                                 "remoteStartId": 7}),
    (CommandName.REMOTE_START, {"id_token": "TAG1", "evse_id": 2, "remote_start_id": 8},
     "RequestStartTransaction", {"idToken": {"idToken": "TAG1", "type": "Central"},
                                 "remoteStartId": 8, "evseId": 2}),
    (CommandName.REMOTE_STOP, {"session_id": 7, "transaction_ref": "b7f1-tx"},
     "RequestStopTransaction", {"transactionId": "b7f1-tx"}),
    (CommandName.RESET, {}, "Reset", {"type": "OnIdle"}),
    (CommandName.RESET, {"type": "soft"}, "Reset", {"type": "OnIdle"}),
    (CommandName.RESET, {"type": "hard"}, "Reset", {"type": "Immediate"}),
    (CommandName.UNLOCK_CONNECTOR, {"evse_id": 2}, "UnlockConnector",
     {"evseId": 2, "connectorId": 1}),
    (CommandName.UNLOCK_CONNECTOR, {"evse_id": 2, "connector_id": 3}, "UnlockConnector",
     {"evseId": 2, "connectorId": 3}),
    (CommandName.CHANGE_AVAILABILITY, {"availability": "inoperative"}, "ChangeAvailability",
     {"operationalStatus": "Inoperative"}),
    (CommandName.CHANGE_AVAILABILITY, {"availability": "operative", "evse_id": 0},
     "ChangeAvailability", {"operationalStatus": "Operative"}),
    (CommandName.CHANGE_AVAILABILITY, {"availability": "operative", "evse_id": 2},
     "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}}),
    (CommandName.TRIGGER_MESSAGE, {"message": "StatusNotification", "evse_id": 1},
     "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
    (CommandName.TRIGGER_MESSAGE, {"message": "DiagnosticsStatusNotification"},
     "TriggerMessage", {"requestedMessage": "LogStatusNotification"}),
    (CommandName.GET_VARIABLES, {"variables": VARIABLES}, "GetVariables",
     {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                           "variable": {"name": "HeartbeatInterval"}}]}),
    (CommandName.SET_VARIABLES, {"variables": VARIABLES}, "SetVariables",
     {"setVariableData": [{"attributeValue": "120", "component": {"name": "OCPPCommCtrlr"},
                           "variable": {"name": "HeartbeatInterval"}}]}),
    (CommandName.CLEAR_CACHE, {}, "ClearCache", {}),
    (CommandName.DATA_TRANSFER, {"vendor_id": "com.acme"}, "DataTransfer",
     {"vendorId": "com.acme"}),
    (CommandName.DATA_TRANSFER, {"vendor_id": "com.acme", "message_id": "m", "data": [1]},
     "DataTransfer", {"vendorId": "com.acme", "messageId": "m", "data": [1]}),
    (CommandName.COST_UPDATED, {"transaction_id": "TX-9", "total_cost": 3.71}, "CostUpdated",
     {"totalCost": 3.71, "transactionId": "TX-9"}),
    (CommandName.UPLOAD_LOG, {"location": UPLOAD, "request_id": 4, "upload_id": 4}, "GetLog",
     {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": UPLOAD}}),
    (CommandName.UPLOAD_LOG, {"location": UPLOAD, "request_id": 5, "log_type": "security",
                              "start_time": "2026-03-01T00:00:00+01:00",
                              "stop_time": "2026-03-02T00:00:00Z", "retries": 2,
                              "retry_interval": 30},
     "GetLog", {"logType": "SecurityLog", "requestId": 5, "retries": 2, "retryInterval": 30,
                "log": {"remoteLocation": UPLOAD, "oldestTimestamp": "2026-02-28T23:00:00Z",
                        "latestTimestamp": "2026-03-02T00:00:00Z"}}),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "retrieve_at": "2026-03-02T09:00:00Z",
                                   "request_id": 9, "update_id": 9},
     "UpdateFirmware", {"requestId": 9, "firmware": {"location": FIRMWARE,
                                                     "retrieveDateTime": "2026-03-02T09:00:00Z"}}),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "retrieve_at": "2026-03-02T09:00:00Z",
                                   "request_id": 10, "retries": 1, "retry_interval": 600,
                                   "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB",
                                   "signature": "MEUCIQDk"},
     "UpdateFirmware", {"requestId": 10, "retries": 1, "retryInterval": 600, "firmware": {
         "location": FIRMWARE, "retrieveDateTime": "2026-03-02T09:00:00Z",
         "signingCertificate": "-----BEGIN CERTIFICATE-----\nMIIB", "signature": "MEUCIQDk"}}),
    (CommandName.GET_BASE_REPORT, {"request_id": 11}, "GetBaseReport",
     {"requestId": 11, "reportBase": "FullInventory"}),
    (CommandName.GET_BASE_REPORT, {"request_id": 12, "report_base": "SummaryInventory"},
     "GetBaseReport", {"requestId": 12, "reportBase": "SummaryInventory"}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 1, "purpose": "tx_default", "profile_id": 11, "stack_level": 1, "unit": "A",
      "limit": "16.59", "number_phases": 1, "phase_to_use": 2,
      "valid_from": "2026-03-02T10:00:00+01:00"},
     "SetChargingProfile",
     {"evseId": 1, "chargingProfile": {
         "id": 11, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Absolute", "validFrom": "2026-03-02T09:00:00Z",
         "chargingSchedule": [{"id": 11, "startSchedule": "2026-03-02T09:00:00Z",
                               "chargingRateUnit": "A",
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5,
                                                           "numberPhases": 1,
                                                           "phaseToUse": 2}]}]}}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 2, "purpose": "tx", "transaction_ref": "b7f1-tx", "profile_id": 12,
      "stack_level": 2, "unit": "W", "limit": 7400, "number_phases": 3,
      "valid_from": "2026-03-02T09:00:00Z", "valid_to": "2026-03-02T10:00:00Z"},
     "SetChargingProfile",
     {"evseId": 2, "chargingProfile": {
         "id": 12, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Absolute", "transactionId": "b7f1-tx",
         "validFrom": "2026-03-02T09:00:00Z", "validTo": "2026-03-02T10:00:00Z",
         "chargingSchedule": [{"id": 12, "startSchedule": "2026-03-02T09:00:00Z",
                               "chargingRateUnit": "W",
                               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0,
                                                           "numberPhases": 3}]}]}}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 0, "purpose": "station_max", "profile_id": 1, "unit": "A", "limit": 63,
      "valid_from": "2026-03-02T09:00:00Z"},
     "SetChargingProfile",
     {"evseId": 0, "chargingProfile": {
         "id": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
         "chargingProfileKind": "Absolute", "validFrom": "2026-03-02T09:00:00Z",
         "chargingSchedule": [{"id": 1, "startSchedule": "2026-03-02T09:00:00Z",
                               "chargingRateUnit": "A",
                               "chargingSchedulePeriod": [{"startPeriod": 0,
                                                           "limit": 63.0}]}]}}),
    (CommandName.CLEAR_CHARGING_PROFILE, {"profile_id": 12}, "ClearChargingProfile",
     {"chargingProfileId": 12}),
    (CommandName.CLEAR_CHARGING_PROFILE, {"evse_id": 1, "purpose": "tx", "stack_level": 2},
     "ClearChargingProfile", {"chargingProfileCriteria": {
         "evseId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 2}}),
    (CommandName.CLEAR_CHARGING_PROFILE, {"purpose": "station_max"}, "ClearChargingProfile",
     {"chargingProfileCriteria": {"chargingProfilePurpose": "ChargingStationMaxProfile"}}),
    (CommandName.CLEAR_CHARGING_PROFILE, {}, "ClearChargingProfile", {}),
    (CommandName.GET_COMPOSITE_SCHEDULE, {"evse_id": 1, "duration_s": 3600, "unit": "W"},
     "GetCompositeSchedule", {"evseId": 1, "duration": 3600, "chargingRateUnit": "W"}),
    (CommandName.GET_COMPOSITE_SCHEDULE, {"evse_id": 0, "duration_s": 60},
     "GetCompositeSchedule", {"evseId": 0, "duration": 60}),
    (CommandName.RESERVE_NOW, {"reservation_id": 5, "evse_id": 1, "id_token": "T" * 36,
                               "parent_id_token": "FLEET",
                               "expires_at": "2026-03-02T10:30:00+01:00"},
     "ReserveNow", {"id": 5, "expiryDateTime": "2026-03-02T09:30:00Z", "evseId": 1,
                    "idToken": {"idToken": "T" * 36, "type": "Central"},
                    "groupIdToken": {"idToken": "FLEET", "type": "Central"}}),
    (CommandName.RESERVE_NOW, {"reservation_id": 6, "evse_id": 0, "id_token": "TAG1",
                               "expires_at": "2026-03-02T09:30:00Z"},
     "ReserveNow", {"id": 6, "expiryDateTime": "2026-03-02T09:30:00Z",
                    "idToken": {"idToken": "TAG1", "type": "Central"}}),
    (CommandName.CANCEL_RESERVATION, {"reservation_id": 5}, "CancelReservation",
     {"reservationId": 5}),
]
# Parameters evcsms adds before translation (the operator may not give them).
ADDED = {CommandName.UPLOAD_LOG: {"location", "request_id", "upload_id"},
         CommandName.UPDATE_FIRMWARE: {"request_id", "update_id"},
         CommandName.GET_BASE_REPORT: {"request_id"}}


@pytest.mark.parametrize(("command", "params", "action", "payload"), CASES)
def test_translation_fits_the_2_0_1_schema(command, params, action, payload):
    given = {k: v for k, v in params.items() if k not in ADDED.get(command, ())}
    check_command(command.value, given, "2.0.1")  # the same params the service accepts
    assert to_call(command, params) == (action, payload)
    validate(OcppVersion.V201, action, payload)
    assert orjson.loads(orjson.dumps(payload)) == payload  # what the gateway puts on the wire


@pytest.mark.parametrize("message", sorted(TRIGGERABLE))
def test_every_triggerable_message_has_a_2_0_1_name(message):
    action, payload = to_call(CommandName.TRIGGER_MESSAGE, {"message": message})
    validate(OcppVersion.V201, action, payload)


def test_remote_start_id_is_positive_and_deterministic():
    params = {"id_token": "TAG1", "command_id": "3f1c"}
    first = remote_start_id(params)
    assert first == remote_start_id(dict(params))
    assert 1 <= first <= 2**31 - 1
    assert remote_start_id({**params, "command_id": "9a2e"}) != first
    action, payload = to_call(CommandName.REMOTE_START, params)
    assert payload["remoteStartId"] == first
    validate(OcppVersion.V201, action, payload)


@pytest.mark.parametrize(
    ("command", "params"),
    [(CommandName.GET_CONFIGURATION, {"keys": []}),
     (CommandName.CHANGE_CONFIGURATION, {"key": "HeartbeatInterval", "value": "60"})],
)
def test_1_6_configuration_commands_are_refused(command, params):
    with pytest.raises(CommandParamsError, match="OCPP 1.6 only"):
        to_call(command, params)


def test_remote_stop_needs_the_station_transaction_id():
    with pytest.raises(CommandParamsError, match="transaction_ref"):
        to_call(CommandName.REMOTE_STOP, {"session_id": 7})


def test_every_command_is_covered_here():
    refused = {CommandName.GET_CONFIGURATION, CommandName.CHANGE_CONFIGURATION}
    assert {case[0] for case in CASES} | refused == set(CommandName)


@pytest.mark.parametrize(("command", "params", "match"), [
    (CommandName.UPLOAD_LOG, {"location": UPLOAD}, "request_id is required"),
    (CommandName.UPLOAD_LOG, {"location": "h" * 513, "request_id": 1}, "at most 512"),
    (CommandName.GET_BASE_REPORT, {}, "request_id is required"),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "request_id": 1},
     "retrieve_at is required"),
])
def test_what_evcsms_must_add_is_checked(command, params, match):
    with pytest.raises(CommandParamsError, match=match):
        to_call(command, params)


PROFILE = {"evse_id": 1, "purpose": "tx_default", "profile_id": 3, "unit": "A", "limit": 16}


@pytest.mark.parametrize(("limit", "wire"), [
    ("16.59", 16.5), (16.99, 16.9), ("7.05", 7.0), (0.09, 0.0), (16.3, 16.3), (32, 32.0),
])
def test_the_limit_is_one_decimal_rounded_down(limit, wire):
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, {**PROFILE, "limit": limit})
    period = payload["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert period["limit"] == wire
    assert f'"limit":{wire}'.encode() in orjson.dumps(payload)


def test_without_valid_from_the_schedule_starts_now():
    before = datetime.now(UTC).replace(microsecond=0)
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, PROFILE)
    profile = payload["chargingProfile"]
    start = datetime.fromisoformat(profile["chargingSchedule"][0]["startSchedule"])
    assert before <= start <= datetime.now(UTC) + timedelta(seconds=1)
    assert "validFrom" not in profile


def test_a_tx_profile_without_transaction_ref_is_refused():
    with pytest.raises(CommandParamsError, match="transaction_ref is required"):
        check_command("set_charging_profile", {**PROFILE, "purpose": "tx"}, "2.0.1")
    with pytest.raises(CommandParamsError, match="transaction_ref"):
        to_call(CommandName.SET_CHARGING_PROFILE, {**PROFILE, "purpose": "tx"})


def test_a_payload_the_2_0_1_schema_refuses_is_a_params_error():
    with pytest.raises(CommandParamsError, match="does not fit 2.0.1 ReserveNow"):
        to_call(CommandName.RESERVE_NOW, {"reservation_id": 1, "evse_id": 1, "id_token": "T" * 37,
                                          "expires_at": "2026-03-02T09:30:00Z"})
    with pytest.raises(CommandParamsError, match="does not fit 2.0.1 GetVariables"):
        to_call(CommandName.GET_VARIABLES, {"variables": [{"component": "C" * 51,
                                                           "variable": "V"}]})

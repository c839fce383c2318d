from datetime import UTC, datetime, timedelta

import orjson
import pytest

from evcsms.domain.commands import CommandName, CommandParamsError, check_command
from evcsms.domain.model import OcppVersion
from evcsms.protocol.v16.commands import to_call
from evcsms.protocol.validation import validate

UPLOAD = "https://csms.example:8180/uploads/logs/Zm9vYmFyYmF6cXV4"
FIRMWARE = "https://firmware.example/sim-1.2.0.bin"

CASES = [
    (CommandName.REMOTE_START, {"id_token": "TAG1"}, "RemoteStartTransaction", {"idTag": "TAG1"}),
    (CommandName.REMOTE_START, {"id_token": "TAG1", "evse_id": 2}, "RemoteStartTransaction",
     {"idTag": "TAG1", "connectorId": 2}),
    (CommandName.REMOTE_STOP, {"session_id": 7, "transaction_ref": "7"}, "RemoteStopTransaction",
     {"transactionId": 7}),
    (CommandName.RESET, {}, "Reset", {"type": "Soft"}),
    (CommandName.RESET, {"type": "hard"}, "Reset", {"type": "Hard"}),
    (CommandName.UNLOCK_CONNECTOR, {"evse_id": 2}, "UnlockConnector", {"connectorId": 2}),
    (CommandName.CHANGE_AVAILABILITY, {"availability": "inoperative"}, "ChangeAvailability",
     {"connectorId": 0, "type": "Inoperative"}),
    (CommandName.CHANGE_AVAILABILITY, {"evse_id": 1, "availability": "operative"},
     "ChangeAvailability", {"connectorId": 1, "type": "Operative"}),
    (CommandName.TRIGGER_MESSAGE, {"message": "Heartbeat"}, "TriggerMessage",
     {"requestedMessage": "Heartbeat"}),
    (CommandName.TRIGGER_MESSAGE, {"message": "MeterValues", "evse_id": 1}, "TriggerMessage",
     {"requestedMessage": "MeterValues", "connectorId": 1}),
    (CommandName.GET_CONFIGURATION, {}, "GetConfiguration", {}),
    (CommandName.GET_CONFIGURATION, {"keys": ["HeartbeatInterval"]}, "GetConfiguration",
     {"key": ["HeartbeatInterval"]}),
    (CommandName.CHANGE_CONFIGURATION, {"key": "HeartbeatInterval", "value": "60"},
     "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
    (CommandName.CLEAR_CACHE, {}, "ClearCache", {}),
    (CommandName.DATA_TRANSFER, {"vendor_id": "com.acme"}, "DataTransfer", {"vendorId": "com.acme"}),
    (CommandName.DATA_TRANSFER, {"vendor_id": "com.acme", "message_id": "Ping", "data": "x"},
     "DataTransfer", {"vendorId": "com.acme", "messageId": "Ping", "data": "x"}),
    (CommandName.DATA_TRANSFER, {"vendor_id": "com.acme", "data": {"a": [1]}}, "DataTransfer",
     {"vendorId": "com.acme", "data": '{"a":[1]}'}),
    (CommandName.COST_UPDATED, {"transaction_id": "42", "total_cost": 3.71, "meter_wh": 12500,
                                "timestamp": "2026-03-02T09:30:00Z"}, "DataTransfer",
     {"vendorId": "org.openchargealliance.costmsg", "messageId": "RunningCost",
      "data": '{"transactionId":42,"cost":3.71,"state":"Charging",'
              '"timestamp":"2026-03-02T09:30:00Z","meterValue":12500}'}),
    (CommandName.UPLOAD_LOG, {"location": UPLOAD, "upload_id": 4, "request_id": 4},
     "GetDiagnostics", {"location": UPLOAD}),
    (CommandName.UPLOAD_LOG, {"location": UPLOAD, "log_type": "diagnostics",
                              "start_time": "2026-03-01T00:00:00+01:00",
                              "stop_time": "2026-03-02T00:00:00Z", "retries": 3,
                              "retry_interval": 60},
     "GetDiagnostics", {"location": UPLOAD, "startTime": "2026-02-28T23:00:00Z",
                        "stopTime": "2026-03-02T00:00:00Z", "retries": 3, "retryInterval": 60}),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "retrieve_at": "2026-03-02T09:00:00Z",
                                   "update_id": 9, "request_id": 9},
     "UpdateFirmware", {"location": FIRMWARE, "retrieveDate": "2026-03-02T09:00:00Z"}),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "retrieve_at": "2026-03-02T10:00:00+01:00",
                                   "retries": 2, "retry_interval": 30},
     "UpdateFirmware", {"location": FIRMWARE, "retrieveDate": "2026-03-02T09:00:00Z",
                        "retries": 2, "retryInterval": 30}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 1, "purpose": "tx_default", "profile_id": 11, "stack_level": 1, "unit": "A",
      "limit": "16.59", "number_phases": 3, "valid_from": "2026-03-02T10:00:00+01:00"},
     "SetChargingProfile",
     {"connectorId": 1, "csChargingProfiles": {
         "chargingProfileId": 11, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Absolute", "validFrom": "2026-03-02T09:00:00Z",
         "chargingSchedule": {"startSchedule": "2026-03-02T09:00:00Z", "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5,
                                                          "numberPhases": 3}]}}}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 2, "purpose": "tx", "transaction_ref": "42", "profile_id": 12,
      "stack_level": 2, "unit": "A", "limit": 10, "valid_from": "2026-03-02T09:00:00Z",
      "valid_to": "2026-03-02T10:00:00Z"},
     "SetChargingProfile",
     {"connectorId": 2, "csChargingProfiles": {
         "chargingProfileId": 12, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Absolute", "transactionId": 42,
         "validFrom": "2026-03-02T09:00:00Z", "validTo": "2026-03-02T10:00:00Z",
         "chargingSchedule": {"startSchedule": "2026-03-02T09:00:00Z", "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}}}),
    (CommandName.SET_CHARGING_PROFILE,
     {"evse_id": 0, "purpose": "station_max", "profile_id": 1, "unit": "W", "limit": 22080.06,
      "valid_from": "2026-03-02T09:00:00Z"},
     "SetChargingProfile",
     {"connectorId": 0, "csChargingProfiles": {
         "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
         "chargingProfileKind": "Absolute", "validFrom": "2026-03-02T09:00:00Z",
         "chargingSchedule": {"startSchedule": "2026-03-02T09:00:00Z", "chargingRateUnit": "W",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22080.0}]}}}),
    (CommandName.CLEAR_CHARGING_PROFILE, {"profile_id": 12}, "ClearChargingProfile", {"id": 12}),
    (CommandName.CLEAR_CHARGING_PROFILE, {"evse_id": 1, "purpose": "tx_default",
                                          "stack_level": 0},
     "ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile",
                              "stackLevel": 0}),
    (CommandName.CLEAR_CHARGING_PROFILE, {}, "ClearChargingProfile", {}),
    (CommandName.GET_COMPOSITE_SCHEDULE, {"evse_id": 1, "duration_s": 3600, "unit": "A"},
     "GetCompositeSchedule", {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"}),
    (CommandName.GET_COMPOSITE_SCHEDULE, {"evse_id": 0, "duration_s": 60},
     "GetCompositeSchedule", {"connectorId": 0, "duration": 60}),
    (CommandName.RESERVE_NOW, {"reservation_id": 5, "evse_id": 1, "id_token": "TAG1",
                               "parent_id_token": "FLEET", "expires_at": "2026-03-02T10:30:00+01:00"},
     "ReserveNow", {"connectorId": 1, "expiryDate": "2026-03-02T09:30:00Z", "idTag": "TAG1",
                    "reservationId": 5, "parentIdTag": "FLEET"}),
    (CommandName.RESERVE_NOW, {"reservation_id": 6, "evse_id": 0, "id_token": "T" * 20,
                               "expires_at": "2026-03-02T09:30:00Z"},
     "ReserveNow", {"connectorId": 0, "expiryDate": "2026-03-02T09:30:00Z", "idTag": "T" * 20,
                    "reservationId": 6}),
    (CommandName.CANCEL_RESERVATION, {"reservation_id": 5}, "CancelReservation",
     {"reservationId": 5}),
]


@pytest.mark.parametrize(("command", "params", "action", "payload"), CASES)
def test_translation_fits_the_1_6_schema(command, params, action, payload):
    assert to_call(command, params) == (action, payload)
    validate(OcppVersion.V16, action, payload)
    assert orjson.loads(orjson.dumps(payload)) == payload  # what the gateway puts on the wire


def test_every_1_6_command_has_a_case():
    only_201 = {CommandName.GET_VARIABLES, CommandName.SET_VARIABLES,
                CommandName.GET_BASE_REPORT}
    assert {case[0] for case in CASES} == set(CommandName) - only_201


@pytest.mark.parametrize("command", [CommandName.GET_VARIABLES, CommandName.SET_VARIABLES])
def test_2_0_1_only_commands_are_refused(command):
    with pytest.raises(CommandParamsError, match=r"OCPP 2\.0\.1 only"):
        to_call(command, {"variables": [{"component": "C", "variable": "V", "value": "1"}]})


@pytest.mark.parametrize("message", ["TransactionEvent", "LogStatusNotification", "Nonsense"])
def test_trigger_of_a_message_1_6_cannot_send_is_refused(message):
    with pytest.raises(CommandParamsError, match="message must be one of"):
        to_call(CommandName.TRIGGER_MESSAGE, {"message": message})


def test_id_token_longer_than_a_1_6_id_tag_is_refused():
    with pytest.raises(CommandParamsError, match="20 characters"):
        to_call(CommandName.REMOTE_START, {"id_token": "T" * 21})


def test_remote_stop_needs_an_integer_transaction_ref():
    with pytest.raises(CommandParamsError, match="transaction_ref"):
        to_call(CommandName.REMOTE_STOP, {"session_id": 7, "transaction_ref": "abc-uuid"})


def test_a_payload_the_schema_refuses_is_a_params_error():
    with pytest.raises(CommandParamsError, match="GetConfiguration"):
        to_call(CommandName.GET_CONFIGURATION, {"keys": ["K" * 51]})


@pytest.mark.parametrize(("command", "params", "match"), [
    (CommandName.GET_BASE_REPORT, {"request_id": 1}, r"OCPP 2\.0\.1 only"),
    (CommandName.UPLOAD_LOG, {"location": UPLOAD, "log_type": "security"}, "only diagnostics"),
    (CommandName.UPLOAD_LOG, {}, "location is required"),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE}, "retrieve_at is required"),
    (CommandName.UPDATE_FIRMWARE, {"location": FIRMWARE, "retrieve_at": "2026-03-02T09:00:00Z",
                                   "signature": "c2ln"}, "signature cannot be sent"),
])
def test_what_1_6_cannot_carry_is_refused(command, params, match):
    with pytest.raises(CommandParamsError, match=match):
        to_call(command, params)


PROFILE = {"evse_id": 1, "purpose": "tx_default", "profile_id": 3, "unit": "A", "limit": 16}


@pytest.mark.parametrize(("limit", "wire", "text"), [
    ("16.59", 16.5, b'"limit":16.5'), (16.99, 16.9, b'"limit":16.9'), ("7.05", 7.0, b'"limit":7.0'),
    (0.09, 0.0, b'"limit":0.0'), (16.3, 16.3, b'"limit":16.3'), (32, 32.0, b'"limit":32.0'),
    ("11040.99", 11040.9, b'"limit":11040.9'),
])
def test_the_limit_is_one_decimal_rounded_down_as_a_json_number(limit, wire, text):
    check_command("set_charging_profile", {**PROFILE, "limit": limit}, "1.6")
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, {**PROFILE, "limit": limit})
    period = payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]
    assert period["limit"] == wire
    assert isinstance(period["limit"], float)
    assert text in orjson.dumps(payload)


def test_without_valid_from_the_schedule_starts_now():
    before = datetime.now(UTC).replace(microsecond=0)
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, PROFILE)
    profile = payload["csChargingProfiles"]
    start = datetime.fromisoformat(profile["chargingSchedule"]["startSchedule"])
    assert before <= start <= datetime.now(UTC) + timedelta(seconds=1)
    assert profile["chargingProfileKind"] == "Absolute"
    assert "validFrom" not in profile
    validate(OcppVersion.V16, "SetChargingProfile", payload)


def test_a_tx_profile_without_transaction_ref_is_refused_before_translation():
    with pytest.raises(CommandParamsError, match="transaction_ref is required"):
        check_command("set_charging_profile", {**PROFILE, "purpose": "tx"}, "1.6")


def test_a_tx_profile_needs_an_integer_1_6_transaction_id():
    with pytest.raises(CommandParamsError, match=r"1\.6 \(integer\) transaction id"):
        to_call(CommandName.SET_CHARGING_PROFILE,
                {**PROFILE, "purpose": "tx", "transaction_ref": "b7f1-uuid"})


def test_phase_to_use_is_refused_on_1_6():
    params = {**PROFILE, "number_phases": 1, "phase_to_use": 2}
    with pytest.raises(CommandParamsError, match=r"phase_to_use exists only in OCPP 2\.0\.1"):
        to_call(CommandName.SET_CHARGING_PROFILE, params)
    with pytest.raises(CommandParamsError, match=r"phase_to_use exists only in OCPP 2\.0\.1"):
        check_command("set_charging_profile", params, "1.6")


@pytest.mark.parametrize("key", ["id_token", "parent_id_token"])
def test_a_21_character_id_tag_cannot_be_reserved_on_1_6(key):
    params = {"reservation_id": 1, "evse_id": 1, "id_token": "TAG1",
              "expires_at": "2026-03-02T09:30:00Z", key: "T" * 21}
    with pytest.raises(CommandParamsError, match=f"{key} must be at most 20 characters"):
        to_call(CommandName.RESERVE_NOW, params)
    with pytest.raises(CommandParamsError, match=f"{key} must be at most 20 characters"):
        check_command("reserve_now", params, "1.6")

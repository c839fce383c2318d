import pytest

from evcsms.domain.commands import CommandName, CommandParamsError
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
]


@pytest.mark.parametrize(("command", "params", "action", "payload"), CASES)
def test_translation_fits_the_1_6_schema(command, params, action, payload):
    assert to_call(command, params) == (action, payload)
    validate(OcppVersion.V16, action, payload)


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

import pytest

from evcsms.domain.commands import TRIGGERABLE, CommandName, CommandParamsError, check_command
from evcsms.domain.model import OcppVersion
from evcsms.protocol.v201.commands import remote_start_id, to_call
from evcsms.protocol.validation import validate

VARIABLES = [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval", "value": "120"}]

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
]


@pytest.mark.parametrize(("command", "params", "action", "payload"), CASES)
def test_translation_fits_the_2_0_1_schema(command, params, action, payload):
    check_command(command.value, params, "2.0.1")  # the same params the service accepts
    assert to_call(command, params) == (action, payload)
    validate(OcppVersion.V201, action, payload)


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

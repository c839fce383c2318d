"""What a station's reports and answers say about its device model."""

from __future__ import annotations

from evcsms.domain.device_model import (
    OCPP16_COMPONENT,
    Variable,
    changed_configuration,
    from_configuration,
    from_get_variables,
    from_report,
    from_set_variables,
)

REPORT = [
    {"component": {"name": "EVSE", "evse": {"id": 1}},
     "variable": {"name": "AvailabilityState"},
     "variableAttribute": [{"type": "Actual", "value": "Available", "mutability": "ReadOnly"}],
     "variableCharacteristics": {"dataType": "OptionList", "supportsMonitoring": True,
                                 "valuesList": "Available,Occupied"}},
    {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
     "variable": {"name": "ConnectorType"},
     "variableAttribute": [{"value": "cType2", "mutability": "ReadOnly", "constant": True}]},
    {"component": {"name": "SampledDataCtrlr"},
     "variable": {"name": "TxUpdatedInterval"},
     "variableAttribute": [{"type": "Actual", "value": "60", "persistent": True},
                           {"type": "MinSet", "value": "10"}, {"type": "MaxSet", "value": "3600"}]},
    {"component": {"name": "Controller", "instance": "Main"},
     "variable": {"name": "Temperature", "instance": "Ambient"},
     "variableAttribute": [{"mutability": "WriteOnly"}]},
]


def test_a_report_gives_one_variable_per_attribute() -> None:
    found = from_report(REPORT)
    assert [v.key for v in found] == [
        ("EVSE", "", 1, 0, "AvailabilityState", "", "Actual"),
        ("Connector", "", 1, 2, "ConnectorType", "", "Actual"),
        ("SampledDataCtrlr", "", 0, 0, "TxUpdatedInterval", "", "Actual"),
        ("SampledDataCtrlr", "", 0, 0, "TxUpdatedInterval", "", "MinSet"),
        ("SampledDataCtrlr", "", 0, 0, "TxUpdatedInterval", "", "MaxSet"),
        ("Controller", "Main", 0, 0, "Temperature", "Ambient", "Actual"),
    ]
    evse = found[0]
    assert (evse.value, evse.mutability, evse.persistent, evse.constant) == (
        "Available", "ReadOnly", None, None)
    assert evse.characteristics == {"dataType": "OptionList", "supportsMonitoring": True,
                                    "valuesList": "Available,Occupied"}
    assert found[1].constant is True and found[1].characteristics is None
    assert found[2].persistent is True and found[2].value == "60"
    assert found[5].value is None and found[5].mutability == "WriteOnly"


def test_within_a_chunk_the_later_entry_for_a_variable_wins() -> None:
    twice = [REPORT[2], {**REPORT[2], "variableAttribute": [{"type": "Actual", "value": "30"}]}]
    actual = [v for v in from_report(twice) if v.attribute_type == "Actual"]
    assert [v.value for v in actual] == ["30"]


def test_get_variables_keeps_only_what_the_station_gave() -> None:
    results = [
        {"attributeStatus": "Accepted", "attributeType": "Actual", "attributeValue": "120",
         "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
        {"attributeStatus": "Accepted", "attributeValue": "true",
         "component": {"name": "EVSE", "evse": {"id": 2}}, "variable": {"name": "Enabled"}},
        {"attributeStatus": "UnknownVariable", "component": {"name": "OCPPCommCtrlr"},
         "variable": {"name": "Nope"}},
    ]
    assert from_get_variables(results) == [
        Variable("OCPPCommCtrlr", "HeartbeatInterval", value="120"),
        Variable("EVSE", "Enabled", evse_id=2, value="true"),
    ]


def test_set_variables_keeps_the_accepted_values_as_sent() -> None:
    sent = [{"attributeValue": "90", "component": {"name": "OCPPCommCtrlr"},
             "variable": {"name": "HeartbeatInterval"}},
            {"attributeValue": "x", "component": {"name": "AuthCtrlr"},
             "variable": {"name": "Enabled"}}]
    results = [{"attributeStatus": "Accepted", "attributeType": "Actual",
                "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}},
               {"attributeStatus": "Rejected", "component": {"name": "AuthCtrlr"},
                "variable": {"name": "Enabled"}}]
    assert from_set_variables(sent, results) == [
        Variable("OCPPCommCtrlr", "HeartbeatInterval", value="90")]


def test_1_6_configuration_keys_become_variables() -> None:
    keys = [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            {"key": "SecretKey", "readonly": False}]
    assert from_configuration(keys) == [
        Variable(OCPP16_COMPONENT, "HeartbeatInterval", value="300", mutability="ReadWrite"),
        Variable(OCPP16_COMPONENT, "NumberOfConnectors", value="2", mutability="ReadOnly"),
        Variable(OCPP16_COMPONENT, "SecretKey", value=None, mutability="ReadWrite"),
    ]
    assert changed_configuration("HeartbeatInterval", "60") == Variable(
        OCPP16_COMPONENT, "HeartbeatInterval", value="60")

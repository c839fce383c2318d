"""Schema validation: error mapping, and the Rust quick check against the reference."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import PropertyConstraintCallError, TypeConstraintCallError
from evcsms.protocol.validation import quick_check, validate, validator


@pytest.mark.parametrize("stamp", ["2026-03-02", "garbage", "2026-13-02T09:00:00Z"])
def test_bad_timestamp_in_meter_values_is_a_property_violation(stamp: str) -> None:
    payload = {"connectorId": 1, "meterValue": [
        {"timestamp": stamp, "sampledValue": [{"value": "1"}]}]}
    with pytest.raises(PropertyConstraintCallError, match="timestamp"):
        validate(OcppVersion.V16, "MeterValues", payload)


# --- the Rust quick check never accepts what the reference validator refuses -------------

_V16_VALID = {
    "BootNotification": {"chargePointVendor": "ACME", "chargePointModel": "X1",
                         "firmwareVersion": "1.2.3"},
    "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available",
                           "timestamp": "2026-03-02T09:00:00Z"},
    "StartTransaction": {"connectorId": 1, "idTag": "RFID1", "meterStart": 1000,
                         "timestamp": "2026-03-02T09:00:00.5+01:00"},
    "StopTransaction": {"transactionId": 7, "meterStop": 2000, "timestamp": "2026-03-02T10:00:00Z",
                        "reason": "Local", "transactionData": [
                            {"timestamp": "2026-03-02T10:00:00Z", "sampledValue": [
                                {"value": "2000", "unit": "Wh", "context": "Transaction.End"}]}]},
    "MeterValues": {"connectorId": 1, "transactionId": 7, "meterValue": [
        {"timestamp": "2026-03-02T09:30:00Z", "sampledValue": [
            {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "location": "Outlet"}]}]},
    "DataTransfer": {"vendorId": "ACME", "messageId": "x", "data": "y"},
}
_V201_VALID = {
    "BootNotification": {"reason": "PowerUp", "chargingStation": {
        "model": "X1", "vendorName": "ACME", "modem": {"iccid": "1"}}},
    "StatusNotification": {"timestamp": "2026-03-02T09:00:00Z", "connectorStatus": "Occupied",
                           "evseId": 1, "connectorId": 1},
    "TransactionEvent": {"eventType": "Updated", "timestamp": "2026-03-02T09:30:00Z",
                         "triggerReason": "MeterValuePeriodic", "seqNo": 3,
                         "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
                         "evse": {"id": 1, "connectorId": 1},
                         "idToken": {"idToken": "RFID1", "type": "ISO14443"},
                         "meterValue": [{"timestamp": "2026-03-02T09:30:00Z", "sampledValue": [
                             {"value": 1500.5, "measurand": "Energy.Active.Import.Register",
                              "unitOfMeasure": {"unit": "kWh", "multiplier": 0}}]}]},
    "NotifyEvent": {"generatedAt": "2026-03-02T09:00:00Z", "seqNo": 0, "eventData": [
        {"eventId": 1, "timestamp": "2026-03-02T09:00:00Z", "trigger": "Delta",
         "actualValue": "Faulted", "eventNotificationType": "HardWiredNotification",
         "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
         "variable": {"name": "AvailabilityState"}}]},
    "MeterValues": {"evseId": 1, "meterValue": [{"timestamp": "2026-03-02T09:00:00Z",
                                                 "sampledValue": [{"value": 1}]}]},
}
_CORPUS = [(OcppVersion.V16, a, p) for a, p in _V16_VALID.items()] + [
    (OcppVersion.V201, a, p) for a, p in _V201_VALID.items()]

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.just(1.0), st.just(-0.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["2026-03-02T09:00:00Z", "2026-03-02T09:00:60Z", "2026-02-30T09:00:00Z",
                     "2026-03-02T24:00:00Z", "2026-03-02T09:00:00+0100", "2026-03-02t09:00:00z",
                     "2026-03-02T09:00:00", "2026-03-02", "Available", "Wh", "", "L1", "é" * 30,
                     "x" * 60, "x" * 501, "ISO14443", "Charging", "PowerUp"]),
    st.text(max_size=8),
)
_json = st.recursive(_json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*path, i))
    return out


def _mutate(payload: Any, path: tuple[Any, ...], how: str, value: Any, key: str) -> Any:
    payload = copy.deepcopy(payload)
    if not path:
        return value if how == "replace" else payload
    parent = payload
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last][key] = value
    return payload


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_quick_check_never_accepts_what_the_reference_refuses(data: st.DataObject) -> None:
    version, action, payload = data.draw(st.sampled_from(_CORPUS))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(payload)))
        payload = _mutate(payload, path, data.draw(st.sampled_from(["replace", "delete", "add"])),
                          data.draw(_json), data.draw(st.text(max_size=6)))
    quick = quick_check(version, action)
    reference = validator(version, action)
    assert quick is not None and reference is not None
    if quick(payload):
        reference(payload)  # raises if the reference refuses it


@pytest.mark.parametrize(("version", "action", "payload"), _CORPUS)
def test_corpus_is_valid_for_both(version: OcppVersion, action: str, payload: Any) -> None:
    quick, reference = quick_check(version, action), validator(version, action)
    assert quick is not None and reference is not None
    assert quick(payload)
    reference(payload)


def test_where_the_quick_check_is_stricter_the_reference_decides() -> None:
    # draft 6 (the 2.0.1 files) counts 1.0 as an integer; the quick check runs draft 4
    v201 = dict(_V201_VALID["MeterValues"], evseId=1.0)
    quick = quick_check(OcppVersion.V201, "MeterValues")
    assert quick is not None and not quick(v201)
    validate(OcppVersion.V201, "MeterValues", v201)  # accepted, as before the quick check
    # draft 4 (the 1.6 files) does not
    v16 = dict(_V16_VALID["MeterValues"], connectorId=1.0)
    with pytest.raises(TypeConstraintCallError, match="connectorId"):
        validate(OcppVersion.V16, "MeterValues", v16)

"""Schema validation maps a bad date-time to PropertyConstraintViolation."""

from __future__ import annotations

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.validation import validate


@pytest.mark.parametrize("stamp", ["2026-03-02", "garbage", "2026-13-02T09:00:00Z"])
def test_bad_timestamp_in_meter_values_is_a_property_violation(stamp: str) -> None:
    payload = {"connectorId": 1, "meterValue": [
        {"timestamp": stamp, "sampledValue": [{"value": "1"}]}]}
    with pytest.raises(PropertyConstraintCallError, match="timestamp"):
        validate(OcppVersion.V16, "MeterValues", payload)

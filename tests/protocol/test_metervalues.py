"""OCPP meterValue parsing (1.6 and 2.0.1) into domain samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcsms.domain.metering import SampledValue, SignedReading, readings_of, session_energy
from evcsms.protocol.metervalues import (
    parse_decimal,
    parse_timestamp,
    parse_v16_meter_values,
    parse_v16_readings,
    parse_v201_meter_values,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OCMF = 'OCMF|{"FV":"1.0","RD":[{"RV":910.083,"RU":"kWh"}]}|{"SD":"3045..."}'


# --- timestamps and numbers ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:00:00z",
        "2026-03-02T09:00:00.000Z",
        "2026-03-02T11:00:00+02:00",
        "2026-03-02T04:00:00-05:00",
        "2026-03-02T09:00:00",  # naive: taken as UTC
        "2026-03-02T09:00Z",
    ],
)
def test_timestamps_become_aware_utc(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed == T0
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "bad", ["", "yesterday", "2026-03-02", "2026-13-02T09:00:00Z", 1700000000, None]
)
def test_bad_timestamps_name_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^meterValue\[3\]\.timestamp: "):
        parse_timestamp(bad, "meterValue[3].timestamp")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12.345", "12.345"), (" 7 ", "7"), (0.1, "0.1"), (1.1, "1.1"), (42, "42"), ("1e3", "1000")],
)
def test_decimals_never_go_through_float_arithmetic(raw: object, expected: str) -> None:
    value = parse_decimal(raw, "v")
    assert value == Decimal(expected)
    assert isinstance(value, Decimal)


@pytest.mark.parametrize("bad", ["abc", "1,5", "", "NaN", "Infinity", True, None, [1], {"v": 1}])
def test_bad_numbers_name_the_field(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^x\.value: "):
        parse_decimal(bad, "x.value")


# --- OCPP 1.6 --------------------------------------------------------------------------


def test_v16_raw_values_keep_the_station_fields() -> None:
    parsed = parse_v16_meter_values(
        [
            {
                "timestamp": "2026-03-02T11:00:00+02:00",
                "sampledValue": [
                    {"value": "910.083", "unit": "kWh", "context": "Transaction.End"},
                    {
                        "value": "7400",
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                        "phase": "L1",
                        "location": "Outlet",
                        "format": "Raw",
                    },
                    {"value": "12345"},
                ],
            }
        ]
    )
    assert parsed.signed == []
    assert parsed.samples == [
        SampledValue(T0, Decimal("910.083"), unit="kWh", context="Transaction.End"),
        SampledValue(T0, Decimal(7400), "Power.Active.Import", "W", "L1", "Outlet"),
        SampledValue(T0, Decimal(12345)),
    ]
    assert parsed.samples[2].measurand == "Energy.Active.Import.Register"
    assert parsed.samples[2].unit is None and parsed.samples[2].location is None


def test_v16_signed_data_is_attached_to_its_raw_sibling() -> None:
    parsed = parse_v16_meter_values(
        [
            {
                "timestamp": "2026-03-02T09:00:00Z",
                "sampledValue": [
                    {
                        "value": OCMF,
                        "format": "SignedData",
                        "context": "Transaction.End",
                        "location": "Outlet",
                    },
                    {"value": "910083", "context": "Transaction.End"},
                    {
                        "value": "7400",
                        "measurand": "Power.Active.Import",
                        "context": "Transaction.End",
                    },
                ],
            }
        ]
    )
    register, power = parsed.samples
    assert register.signed_data == OCMF and register.value == 910083
    assert power.signed_data is None
    assert parsed.signed == [
        SignedReading(T0, OCMF, Decimal(910083), location="Outlet", context="Transaction.End")
    ]


def test_v16_signed_data_without_a_raw_sibling_is_kept_alone() -> None:
    parsed = parse_v16_meter_values(
        [
            {
                "timestamp": "2026-03-02T09:00:00Z",
                "sampledValue": [
                    {"value": "opaque-blob", "format": "SignedData"},
                    {"value": "100", "context": "Transaction.Begin"},  # different context
                ],
            }
        ]
    )
    assert parsed.signed == [SignedReading(T0, "opaque-blob")]
    assert [s.signed_data for s in parsed.samples] == [None]


@pytest.mark.parametrize(
    ("meter_value", "message"),
    [
        ({"timestamp": "x"}, r"^meterValue: expected an array"),
        ([{"sampledValue": [{"value": "1"}]}], r"^meterValue\[0\]\.timestamp: "),
        (
            [{"timestamp": "2026-03-02T09:00:00Z"}],
            r"^meterValue\[0\]\.sampledValue: expected an array",
        ),
        (
            [
                {
                    "timestamp": "2026-03-02T09:00:00Z",
                    "sampledValue": [{"value": "1"}, {"value": "1,5"}],
                }
            ],
            r"^meterValue\[0\]\.sampledValue\[1\]\.value: '1,5' is not a decimal number",
        ),
        (
            [{"timestamp": "2026-03-02T09:00:00Z", "sampledValue": [{}]}],
            r"^meterValue\[0\]\.sampledValue\[0\]\.value: expected a number",
        ),
        (
            [
                {
                    "timestamp": "2026-03-02T09:00:00Z",
                    "sampledValue": [{"value": "1", "format": "Hex"}],
                }
            ],
            r"^meterValue\[0\]\.sampledValue\[0\]\.format: 'Hex'",
        ),
        (
            [{"timestamp": "2026-03-02T09:00:00Z", "sampledValue": [{"value": "1", "unit": 5}]}],
            r"^meterValue\[0\]\.sampledValue\[0\]\.unit: expected a string",
        ),
        (
            [
                {
                    "timestamp": "2026-03-02T09:00:00Z",
                    "sampledValue": [{"value": "", "format": "SignedData"}],
                }
            ],
            r"^meterValue\[0\]\.sampledValue\[0\]\.value: SignedData",
        ),
        (["not an object"], r"^meterValue\[0\]: expected an object"),
    ],
)
def test_v16_bad_input_names_the_field(meter_value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_v16_meter_values(meter_value)


def test_v16_offline_start_transaction_bills_83_wh() -> None:
    """StopTransaction transactionData from a station that started offline (the 910 kWh bug)."""
    transaction_data = [
        {
            "timestamp": "2026-03-02T09:00:00Z",
            "sampledValue": [{"value": "0", "context": "Transaction.Begin"}],
        },
        {
            "timestamp": "2026-03-02T09:01:00Z",
            "sampledValue": [{"value": "910.000", "unit": "kWh"}],
        },
        {
            "timestamp": "2026-03-02T09:05:00Z",
            "sampledValue": [{"value": "910083", "context": "Transaction.End"}],
        },
    ]
    samples = parse_v16_meter_values(transaction_data).samples
    result = session_energy(
        samples,
        meter_start_wh=Decimal(0),
        started_at=T0,
        meter_stop_wh=Decimal(910083),
        stopped_at=datetime(2026, 3, 2, 9, 5, tzinfo=UTC),
    )
    assert result.energy_wh == 83


# --- OCPP 2.0.1 ------------------------------------------------------------------------


def test_v201_multiplier_is_applied_exactly() -> None:
    parsed = parse_v201_meter_values(
        [
            {
                "timestamp": "2026-03-02T09:00:00Z",
                "sampledValue": [
                    {"value": 1.1, "unitOfMeasure": {"unit": "Wh", "multiplier": 2}},
                    {"value": 12345, "unitOfMeasure": {"unit": "kWh", "multiplier": -3}},
                    {
                        "value": 7.4,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "W", "multiplier": 3},
                    },
                    {"value": 500, "unitOfMeasure": {"unit": "Wh"}},
                    {"value": Decimal("0.3"), "context": "Sample.Clock"},
                ],
            }
        ]
    )
    values = [(s.value, s.unit) for s in parsed.samples]
    assert values == [
        (Decimal(110), "Wh"),  # 1.1 * 100 in float would be 110.00000000000001
        (Decimal("12.345"), "kWh"),
        (Decimal(7400), "W"),
        (Decimal(500), "Wh"),
        (Decimal("0.3"), None),
    ]
    assert all(isinstance(v, Decimal) for v, _ in values)


def test_v201_signed_meter_value_kept_as_compact_json() -> None:
    signed = {
        "signedMeterData": "T0NNRnx7...",
        "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF",
        "publicKey": "MFkwEwYH...",
    }
    parsed = parse_v201_meter_values(
        [
            {
                "timestamp": "2026-03-02T09:00:00Z",
                "sampledValue": [
                    {
                        "value": 910.083,
                        "context": "Transaction.End",
                        "location": "Outlet",
                        "unitOfMeasure": {"unit": "kWh"},
                        "signedMeterValue": signed,
                    },
                ],
            }
        ]
    )
    (sample,) = parsed.samples
    assert sample.signed_data is not None
    assert json.loads(sample.signed_data) == signed
    assert " " not in sample.signed_data
    assert sample.value == Decimal("910.083")
    assert parsed.signed == [
        SignedReading(
            T0,
            sample.signed_data,
            Decimal("910.083"),
            unit="kWh",
            location="Outlet",
            context="Transaction.End",
        )
    ]


@pytest.mark.parametrize(
    ("sampled_value", "message"),
    [
        ({"value": "abc"}, r"sampledValue\[0\]\.value: 'abc' is not a decimal number"),
        ({"value": True}, r"sampledValue\[0\]\.value: expected a number"),
        ({"value": float("nan")}, r"sampledValue\[0\]\.value: nan is not a finite number"),
        (
            {"value": 1, "unitOfMeasure": {"multiplier": 1.5}},
            r"sampledValue\[0\]\.unitOfMeasure\.multiplier: 1\.5 is not an integer",
        ),
        (
            {"value": 1, "unitOfMeasure": {"multiplier": 400}},
            r"sampledValue\[0\]\.unitOfMeasure\.multiplier: 400 is out of range",
        ),
        (
            {"value": 1, "unitOfMeasure": "kWh"},
            r"sampledValue\[0\]\.unitOfMeasure: expected an object",
        ),
        (
            {"value": 1, "signedMeterValue": "x"},
            r"sampledValue\[0\]\.signedMeterValue: expected an object",
        ),
        ({"value": 1, "measurand": 7}, r"sampledValue\[0\]\.measurand: expected a string"),
    ],
)
def test_v201_bad_input_names_the_field(sampled_value: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_v201_meter_values(
            [{"timestamp": "2026-03-02T09:00:00Z", "sampledValue": [sampled_value]}]
        )


def test_v201_transaction_with_multiplier_end_to_end() -> None:
    """A 2.0.1 TransactionEvent series in kWh with a multiplier gives exact Wh energy."""
    meter_value = [
        {
            "timestamp": "2026-03-02T09:00:00Z",
            "sampledValue": [
                {
                    "value": 12.3451,
                    "context": "Transaction.Begin",
                    "unitOfMeasure": {"unit": "kWh", "multiplier": 0},
                }
            ],
        },
        {
            "timestamp": "2026-03-02T09:30:00+00:00",
            "sampledValue": [
                {"value": 1.23501, "unitOfMeasure": {"unit": "kWh", "multiplier": 1}, "phase": None}
            ],
        },
        {
            "timestamp": "2026-03-02T10:00:00Z",
            "sampledValue": [
                {
                    "value": 0.0135553,
                    "context": "Transaction.End",
                    "unitOfMeasure": {"unit": "MWh", "multiplier": 0},
                },
                {
                    "value": 135553,
                    "context": "Transaction.End",
                    "unitOfMeasure": {"unit": "Wh", "multiplier": -1},
                },
            ],
        },
    ]
    samples = parse_v201_meter_values(meter_value).samples
    result = session_energy(samples)
    assert result.energy_wh == Decimal("1210.2")  # 13555.3 - 12345.1
    assert [a.kind.value for a in result.anomalies] == ["unknown_unit"]  # MWh is not OCPP


# --- the MeterValues hot path agrees with the full parser --------------------------------

_field = st.one_of(st.none(), st.sampled_from(["L1", "L2-N", "Outlet", "Sample.Periodic", "Wh",
                                              "kWh", "Voltage", "Current.Import", ""]),
                   st.integers(-3, 3), st.text(max_size=3))
_value = st.one_of(st.sampled_from(["0", "12.5", " 7 ", "1E3", "-0.001", "abc", "NaN", "1E40", ""]),
                   st.integers(-10, 10), st.floats(allow_nan=True), st.none())
_sampled = st.fixed_dictionaries(
    {"value": _value},
    optional={"measurand": _field, "phase": _field, "location": _field, "context": _field,
              "unit": _field, "format": st.sampled_from(["Raw", "SignedData", "Other", None])},
)
_entry = st.one_of(
    st.fixed_dictionaries({
        "timestamp": st.sampled_from(["2026-03-02T09:00:00Z", "2026-03-02T09:00:10+01:00",
                                      "bad", "2026-03-02"]),
        "sampledValue": st.one_of(st.lists(_sampled, max_size=4), st.just("x")),
    }),
    st.just("not an object"),
)


@settings(deadline=None)  # a loaded CI machine is slow; the property is what is tested
@given(st.one_of(st.lists(_entry, max_size=3), st.just({"not": "a list"})))
def test_v16_readings_match_the_full_parser(meter_value: Any) -> None:
    try:
        expected: object = readings_of(parse_v16_meter_values(meter_value).samples)
    except (ValueError, TypeError) as exc:
        expected = str(exc)
    try:
        got: object = parse_v16_readings(meter_value)
    except (ValueError, TypeError) as exc:
        got = str(exc)
    assert got == expected

"""Session energy: golden cases (one JSON file each in metering_cases/) and properties."""

from __future__ import annotations

import ast
import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evcsms.domain import metering
from evcsms.domain.metering import (
    AnomalyKind,
    SampledValue,
    normalise,
    register_readings,
    session_energy,
)

CASES = Path(__file__).parent / "metering_cases"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _sample(raw: dict[str, Any]) -> SampledValue:
    fields = {k: v for k, v in raw.items() if k not in ("timestamp", "value")}
    return SampledValue(
        timestamp=datetime.fromisoformat(raw["timestamp"]), value=Decimal(raw["value"]), **fields
    )


def _run_case(case: dict[str, Any]) -> metering.EnergyResult:
    kwargs: dict[str, Any] = {
        "meter_start_wh": _dec(case.get("meter_start_wh")),
        "meter_stop_wh": _dec(case.get("meter_stop_wh")),
        "started_at": _at(case.get("started_at")),
        "stopped_at": _at(case.get("stopped_at")),
        "offline_start": case.get("offline_start", False),
    }
    if "max_plausible_power_w" in case:
        kwargs["max_plausible_power_w"] = Decimal(case["max_plausible_power_w"])
    return session_energy([_sample(s) for s in case["samples"]], **kwargs)


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = json.loads(path.read_text())
    expected = case["expected"]
    result = _run_case(case)
    assert result.energy_wh == Decimal(expected["energy_wh"]), case["description"]
    assert [a.kind.value for a in result.anomalies] == expected["anomalies"], result.anomalies
    for field in ("baseline_wh", "last_register_wh"):
        if field in expected:
            assert getattr(result, field) == _dec(expected[field]), field
    assert all(
        isinstance(v, Decimal) for v in (result.energy_wh, result.baseline_wh) if v is not None
    )


def test_there_are_golden_cases() -> None:
    assert len(list(CASES.glob("*.json"))) >= 10


def test_offline_start_anomaly_explains_the_numbers() -> None:
    case = json.loads((CASES / "offline_start_zero_begin.json").read_text())
    (anomaly,) = _run_case(case).anomalies
    assert anomaly.kind is AnomalyKind.UNTRUSTED_ZERO_BASELINE
    assert "910000 Wh" in anomaly.detail and "offline" in anomaly.detail


def test_implausible_jump_detail_has_the_power() -> None:
    case = json.loads((CASES / "implausible_jump.json").read_text())
    (anomaly,) = _run_case(case).anomalies
    assert "900000 Wh in 60 s" in anomaly.detail
    assert "54000000 W" in anomaly.detail
    assert anomaly.timestamp == datetime(2026, 3, 2, 9, 11, tzinfo=UTC)


# --- normalise -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "measurand", "expected"),
    [
        ("12.345", "kWh", "Energy.Active.Import.Register", "12345"),
        ("12.345", "KWH", "Energy.Active.Import.Register", "12345"),
        ("500", "Wh", "Energy.Active.Import.Register", "500"),
        ("500", None, "Energy.Active.Import.Register", "500"),
        ("7.4", "kW", "Power.Active.Import", "7400"),
        ("2", "kvarh", "Energy.Reactive.Import.Register", "2000"),
        ("3", "kvar", "Power.Reactive.Import", "3000"),
        ("1.5", "kVAh", "Energy.Apparent.Import", "1500"),
        ("16", "A", "Current.Import", "16"),
        ("230.1", "V", "Voltage", "230.1"),
        ("25", "Celsius", "Temperature", "25"),
        ("80", "Percent", "SoC", "80"),
        ("0.98", None, "Power.Factor", "0.98"),
        ("1", "kW", "Vendor.Custom", "1000"),
        ("50", "Hertz", "Frequency", "50"),
        ("21", "Celcius", "Temperature", "21"),
    ],
)
def test_normalise(value: str, unit: str | None, measurand: str, expected: str) -> None:
    result = normalise(Decimal(value), unit, measurand)
    assert result == Decimal(expected)
    assert isinstance(result, Decimal)


@pytest.mark.parametrize(
    ("unit", "measurand", "message"),
    [
        ("MWh", "Energy.Active.Import.Register", "unknown unit 'MWh'"),
        ("furlongs", "Power.Active.Import", "unknown unit 'furlongs'"),
        ("W", "Energy.Active.Import.Register", "expected Wh"),
        ("kWh", "Power.Active.Import", "expected W"),
        ("V", "Current.Import", "expected A"),
    ],
)
def test_normalise_rejects_bad_units(unit: str, measurand: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise(Decimal(1), unit, measurand)


# --- register_readings and SampledValue ------------------------------------------------


def test_register_readings_sorted_collapsed_and_in_wh() -> None:
    samples = [
        SampledValue(T0 + timedelta(minutes=10), Decimal("1.5"), unit="kWh"),
        SampledValue(T0, Decimal(1000)),
        SampledValue(T0, Decimal(1000), context="Transaction.Begin"),
        SampledValue(T0 + timedelta(minutes=5), Decimal("7400"), "Power.Active.Import"),
    ]
    assert register_readings(samples) == [
        (T0, Decimal(1000)),
        (T0 + timedelta(minutes=10), Decimal(1500)),
    ]


def test_register_readings_keeps_both_ends_of_a_conflict_lowest_first() -> None:
    samples = [
        SampledValue(T0, Decimal(900)),
        SampledValue(T0, Decimal(800)),
        SampledValue(T0, Decimal(850)),
    ]
    assert register_readings(samples) == [(T0, Decimal(800)), (T0, Decimal(900))]


def test_sampled_value_is_stored_in_utc() -> None:
    cest = timezone(timedelta(hours=2))
    sample = SampledValue(datetime(2026, 3, 2, 11, 0, tzinfo=cest), Decimal(1))
    assert sample.timestamp == T0 and sample.timestamp.tzinfo is UTC


def test_sampled_value_rejects_naive_time_float_and_nan() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        SampledValue(datetime(2026, 3, 2, 9, 0), Decimal(1))  # noqa: DTZ001
    with pytest.raises(TypeError, match="Decimal"):
        SampledValue(T0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        SampledValue(T0, Decimal("NaN"))


def test_session_energy_rejects_float_meter_values_and_naive_times() -> None:
    with pytest.raises(TypeError, match="meter_start_wh"):
        session_energy([], meter_start_wh=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="started_at"):
        session_energy([], started_at=datetime(2026, 3, 2))  # noqa: DTZ001


def test_negative_register_value_is_ignored() -> None:
    result = session_energy(
        [SampledValue(T0 + timedelta(minutes=5), Decimal(-40))],
        meter_start_wh=Decimal(100),
        started_at=T0,
        meter_stop_wh=Decimal(300),
        stopped_at=T0 + timedelta(minutes=10),
    )
    assert result.energy_wh == 200
    assert [a.kind for a in result.anomalies] == [AnomalyKind.REGISTER_BACKWARDS]


def test_domain_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(metering.__file__).read_text())
    roots = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not (isinstance(node, ast.ImportFrom) and node.module is None)
    }
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}, roots


# --- properties ------------------------------------------------------------------------

_times = st.integers(min_value=0, max_value=4 * 3600).map(lambda s: T0 + timedelta(seconds=s))
_wh = st.decimals(
    min_value=-10, max_value=2_000_000, places=3, allow_nan=False, allow_infinity=False
)
_samples = st.lists(
    st.builds(
        SampledValue,
        timestamp=_times,
        value=_wh,
        unit=st.sampled_from([None, "Wh", "kWh", "MWh"]),
        phase=st.sampled_from([None, None, "L1", "L2", "L3", "N"]),
        location=st.sampled_from([None, "Outlet", "EV"]),
        context=st.sampled_from([None, "Sample.Periodic", "Transaction.Begin", "Transaction.End"]),
    ),
    max_size=12,
)
_session_kwargs = st.fixed_dictionaries(
    {
        "meter_start_wh": st.none() | _wh,
        "meter_stop_wh": st.none() | _wh,
        "started_at": st.none() | _times,
        "stopped_at": st.none() | _times,
        "offline_start": st.booleans(),
        "max_plausible_power_w": st.sampled_from([Decimal(1000), Decimal(22000), Decimal(10**6)]),
    }
)


@given(_samples, _session_kwargs)
def test_energy_is_never_negative(samples: list[SampledValue], kwargs: dict[str, Any]) -> None:
    result = session_energy(samples, **kwargs)
    assert result.energy_wh >= 0
    assert isinstance(result.energy_wh, Decimal)


@given(
    st.lists(st.integers(min_value=0, max_value=4 * 3600), min_size=1, max_size=15, unique=True),
    st.lists(st.decimals(min_value=0, max_value=10_000, places=3), min_size=15, max_size=15),
    st.decimals(min_value=0, max_value=10**7, places=3),
)
def test_monotone_register_gives_last_minus_first(
    seconds: list[int], steps: list[Decimal], first: Decimal
) -> None:
    values, total = [], first
    for step in steps[: len(seconds)]:
        total += step
        values.append(total)
    samples = [
        SampledValue(T0 + timedelta(seconds=s), v)
        for s, v in zip(sorted(seconds), values, strict=True)
    ]
    result = session_energy(samples, max_plausible_power_w=Decimal(10**30))
    assert result.energy_wh == values[-1] - values[0]
    assert result.anomalies == ()


@given(_samples.filter(bool), st.data(), _session_kwargs)
def test_repeating_a_sample_changes_nothing(
    samples: list[SampledValue], data: st.DataObject, kwargs: dict[str, Any]
) -> None:
    repeated = data.draw(st.sampled_from(samples))
    position = data.draw(st.integers(min_value=0, max_value=len(samples)))
    with_copy = [*samples[:position], repeated, *samples[position:]]
    assert session_energy(with_copy, **kwargs) == session_energy(samples, **kwargs)


@given(_samples, st.data(), _session_kwargs)
def test_sample_order_does_not_matter(
    samples: list[SampledValue], data: st.DataObject, kwargs: dict[str, Any]
) -> None:
    shuffled = data.draw(st.permutations(samples))
    assert session_energy(shuffled, **kwargs) == session_energy(samples, **kwargs)

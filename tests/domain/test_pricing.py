"""The pricing engine: golden cases (one folder each in pricing_cases/) and properties.

Every golden figure comes from the OCPI 2.2.1 specification's own worked examples (quoted
in each case's `source`) or from a hand calculation written out there; none was produced
by this engine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcsms.domain import jsontext
from evcsms.domain.cdr_usage import quote_to_ocpi, usage_from_cdr
from evcsms.domain.pricing import PricingError, State, Usage, UsagePeriod, price_session
from evcsms.domain.tariffs import TariffError, parse_tariff, tariff_to_ocpi

CASES = Path(__file__).parent / "pricing_cases"
PRICE_FIELDS = ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
                "total_parking_cost")
NUMBER_FIELDS = ("total_energy", "total_time", "total_parking_time")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=Decimal)


def _priced(case: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    expected = _load(case / "expected.json")
    tariff = parse_tariff(_load(case / "tariff.json"))
    usage = usage_from_cdr(_load(case / "cdr.json"))
    quote = price_session(tariff, usage, ZoneInfo(expected["time_zone"]))
    return quote_to_ocpi(quote), expected


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if p.is_dir()),
                         ids=lambda p: p.name)
def test_golden_case(case: Path) -> None:
    got, expected = _priced(case)
    checked = 0
    for name in PRICE_FIELDS:
        if name in expected:
            want = {k: Decimal(str(v)) for k, v in expected[name].items()}
            assert {k: got[name][k] for k in want} == want, f"{name} ({expected['source']})"
            checked += 1
    for name in NUMBER_FIELDS:
        if name in expected:
            assert got[name] == Decimal(str(expected[name])), name
            checked += 1
    assert checked, "a golden case must check at least one figure"


def test_there_are_enough_golden_cases() -> None:
    assert len([p for p in CASES.iterdir() if p.is_dir()]) >= 25


def test_tariffs_survive_an_export_and_import() -> None:
    for case in CASES.iterdir():
        original = _load(case / "tariff.json")
        text = jsontext.dumps(tariff_to_ocpi(parse_tariff(original)))
        again = parse_tariff(json.loads(text, parse_float=Decimal))
        assert again == parse_tariff(original), case.name
        assert tariff_to_ocpi(again).get("last_updated") == original.get("last_updated")


# -- properties -----------------------------------------------------------------------------

T0 = datetime(2024, 3, 29, 20, 0, tzinfo=UTC)  # a Friday evening, two days before DST
ZONE = ZoneInfo("Europe/Amsterdam")
RICH_TARIFF = parse_tariff({
    "id": "P", "currency": "EUR", "min_price": {"excl_vat": 0.5}, "max_price": {"excl_vat": 80},
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.35, "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.19, "vat": 21, "step_size": 100}],
         "restrictions": {"start_time": "23:00", "end_time": "07:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.29, "vat": 21, "step_size": 100}],
         "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"], "min_kwh": 10}},
        {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 21, "step_size": 100}]},
        {"price_components": [{"type": "TIME", "price": 0.60, "vat": 21, "step_size": 60}],
         "restrictions": {"min_power": 22}},
        {"price_components": [{"type": "PARKING_TIME", "price": 4.00, "vat": 21, "step_size": 300}],
         "restrictions": {"min_duration": 7200, "start_time": "08:00", "end_time": "20:00"}},
    ],
})

_periods = st.lists(
    st.tuples(st.integers(1, 6 * 3600), st.decimals(0, 80, places=3),
              st.sampled_from(list(State)), st.one_of(st.none(), st.decimals(0, 150, places=1))),
    min_size=1, max_size=6,
)


def _usage(spec: list[tuple[int, Decimal, State, Decimal | None]]) -> Usage:
    periods, at = [], T0
    for seconds, energy, state, power in spec:
        periods.append(UsagePeriod(at, energy if state is State.CHARGING else Decimal(0),
                                   state, power))
        at += timedelta(seconds=seconds)
    return Usage(T0, at, tuple(periods))


@settings(max_examples=150, deadline=None)
@given(_periods)
def test_a_price_is_never_negative(spec: list[tuple[int, Decimal, State, Decimal | None]]) -> None:
    quote = price_session(RICH_TARIFF, _usage(spec), ZONE)
    assert quote.total_cost.excl_vat >= 0
    assert quote.total_cost.incl_vat is not None and quote.total_cost.incl_vat >= quote.total_cost.excl_vat


# One price per kWh, with time-of-day elements that differ only in step_size.
ENERGY_ONLY = parse_tariff({"id": "E", "currency": "EUR", "elements": [
    {"price_components": [{"type": "ENERGY", "price": 0.34, "vat": 19, "step_size": 250}],
     "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
    {"price_components": [{"type": "ENERGY", "price": 0.34, "vat": 19, "step_size": 500}]}]})


@settings(max_examples=150, deadline=None)
@given(st.decimals(0, 200, places=3), st.decimals(0, 50, places=3), st.integers(60, 12 * 3600))
def test_energy_only_price_grows_with_energy(energy: Decimal, more: Decimal, seconds: int) -> None:
    def total(kwh: Decimal) -> Decimal:
        usage = Usage(T0, T0 + timedelta(seconds=seconds), (UsagePeriod(T0, kwh),))
        return price_session(ENERGY_ONLY, usage, ZONE).total_cost.excl_vat

    assert total(energy) <= total(energy + more)


def test_ocpi_step_size_can_make_more_energy_cheaper() -> None:
    """Found by the property above on a night/day tariff (0.21 / 0.34 per kWh, steps 250 /
    500 Wh): OCPI rounds the session's total energy up with the step of the *last* priced
    component and bills the extra at its price, so 44 Wh mostly at night cost less than
    1 Wh: the rounding extra shrinks faster than the cheap energy adds. That is the rule as
    written (mod_cdrs "step_size"), so the engine keeps it; this pins the behaviour."""
    tou = parse_tariff({"id": "E", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.21, "step_size": 250}],
         "restrictions": {"start_time": "22:00", "end_time": "06:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.34, "step_size": 500}]}]})
    end = T0 + timedelta(seconds=32401)  # 21:00 to 06:00:01 local: the last second is "day"

    def total(kwh: str) -> Decimal:
        usage = Usage(T0, end, (UsagePeriod(T0, Decimal(kwh)),))
        return price_session(tou, usage, ZONE).total_cost.excl_vat

    assert total("0.001") == Decimal("0.17")  # 1 Wh billed as 500 Wh at 0.34
    assert total("0.044") == Decimal("0.16")


@settings(max_examples=150, deadline=None)
@given(_periods, st.lists(st.integers(1, 6 * 3600 - 1), min_size=1, max_size=4),
       st.integers(0, 30_000))
def test_splitting_periods_differently_gives_the_same_total(
    spec: list[tuple[int, Decimal, State, Decimal | None]], cuts: list[int], rate: int
) -> None:
    # the first period charges at a steady `rate` (in 1e-6 kWh per second), so its energy
    # splits exactly at whole seconds
    seconds, _energy, state, power = spec[0]
    spec = [(seconds, Decimal(seconds * rate) / 1_000_000, state, power), *spec[1:]]
    usage = _usage(spec)
    first = usage.periods[0]
    offsets = sorted({c for c in cuts if c < seconds})
    bounds = [0, *offsets, seconds]
    pieces = tuple(
        UsagePeriod(first.start + timedelta(seconds=a),
                    Decimal((b - a) * rate) / 1_000_000 if first.energy_kwh else Decimal(0),
                    first.state, first.power_kw)
        for a, b in zip(bounds, bounds[1:], strict=False)
    )
    resplit = Usage(usage.start, usage.end, (*pieces, *usage.periods[1:]))
    assert price_session(RICH_TARIFF, resplit, ZONE) .total_cost == \
        price_session(RICH_TARIFF, usage, ZONE).total_cost


# -- bad input names the field ----------------------------------------------------------------


@pytest.mark.parametrize(("tariff", "message"), [
    ({"currency": "EUR", "elements": []}, "id: required"),
    ({"id": "1", "currency": "EUX", "elements": [{"price_components": [
        {"type": "ENERGY", "price": 1, "step_size": 1}]}]}, "currency: 'EUX'"),
    ({"id": "1", "currency": "EUR", "elements": []}, "elements:"),
    ({"id": "1", "currency": "EUR", "elements": [{"price_components": [
        {"type": "KWH", "price": 1, "step_size": 1}]}]}, r"elements\[0\].price_components\[0\].type"),
    ({"id": "1", "currency": "EUR", "elements": [{"price_components": [
        {"type": "ENERGY", "price": "1", "step_size": 1}]}]}, r"price_components\[0\].price"),
    ({"id": "1", "currency": "EUR", "elements": [{"price_components": [
        {"type": "ENERGY", "price": 1, "step_size": 1}], "restrictions": {"start_time": "25:00"}}]},
     r"elements\[0\].restrictions.start_time"),
    ({"id": "1", "currency": "EUR", "elements": [{"price_components": [
        {"type": "TIME", "price": 1, "step_size": 0}]}]}, "step_size"),
])
def test_bad_tariffs_name_the_field(tariff: dict[str, Any], message: str) -> None:
    with pytest.raises(TariffError, match=message):
        parse_tariff(tariff)


@pytest.mark.parametrize(("cdr", "message"), [
    ({"end_date_time": "2024-01-01T10:00:00Z", "charging_periods": []}, "start_date_time"),
    ({"start_date_time": "2024-01-01T10:00:00Z", "end_date_time": "2024-01-01T11:00:00Z",
      "charging_periods": [{"start_date_time": "2024-01-01T09:00:00Z",
                            "dimensions": [{"type": "ENERGY", "volume": 1}]}]},
     r"charging_periods\[0\].start_date_time: before"),
    ({"start_date_time": "2024-01-01T10:00:00Z", "end_date_time": "2024-01-01T11:00:00Z",
      "charging_periods": [{"start_date_time": "2024-01-01T10:00:00Z",
                            "dimensions": [{"type": "TIME", "volume": 3}]}]},
     r"charging_periods\[0\].dimensions.TIME: 3 h"),
    ({"start_date_time": "2024-01-01T10:00:00Z", "end_date_time": "2024-01-01T11:00:00Z",
      "charging_periods": [{"start_date_time": "2024-01-01T10:30:00Z",
                            "dimensions": [{"type": "ENERGY", "volume": 1}]},
                           {"start_date_time": "2024-01-01T10:10:00Z",
                            "dimensions": [{"type": "ENERGY", "volume": 1}]}]},
     r"charging_periods\[1\].start_date_time: not after"),
    ({"start_date_time": "2024-01-01T10:00:00Z", "end_date_time": "2024-01-01T11:00:00Z",
      "charging_periods": [{"start_date_time": "2024-01-01T10:00:00Z",
                            "dimensions": [{"type": "WATTS", "volume": 1}]}]},
     r"dimensions\[0\].type"),
])
def test_inconsistent_cdrs_name_the_field(cdr: dict[str, Any], message: str) -> None:
    with pytest.raises(PricingError, match=message):
        price_session(parse_tariff(_load(CASES / "energy_only" / "tariff.json")),
                      usage_from_cdr(cdr), ZONE)

"""Thresholds per scope: checked field by field, merged default < site < model < station."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from evcsms.domain import thresholds as th
from evcsms.domain.faults import DEFAULTS


def test_parse_types_each_field_as_the_rules_use_it() -> None:
    parsed = th.parse({"heartbeat_misses": "3", "voltage_tolerance": 0.15,
                       "flap_window": 1200, "rated_current_a": "32", "max_temperature": "-5"})
    assert parsed == {"heartbeat_misses": 3, "voltage_tolerance": Decimal("0.15"),
                      "flap_window": timedelta(seconds=1200), "rated_current_a": Decimal(32),
                      "max_temperature": Decimal(-5)}
    assert th.parse({"rated_current_a": None}) == {"rated_current_a": None}


@pytest.mark.parametrize(("values", "field", "words"), [
    ({"voltage_tolernce": "0.1"}, "voltage_tolernce", "unknown threshold"),
    ({"heartbeat_misses": "2.5"}, "heartbeat_misses", "whole number"),
    ({"heartbeat_misses": 0}, "heartbeat_misses", "from 1 to 100"),
    ({"voltage_tolerance": "0.9"}, "voltage_tolerance", "from 0.001 to 0.5"),
    ({"flap_window": "ten minutes"}, "flap_window", "expected a number"),
    ({"nominal_voltage": True}, "nominal_voltage", "expected a number"),
    ({"nominal_voltage": "NaN"}, "nominal_voltage", "finite"),
    ({"nominal_voltage": None}, "nominal_voltage", "cannot be null"),
    ({"frozen_power_w": [500]}, "frozen_power_w", "expected a number"),
])
def test_parse_names_the_wrong_field(values: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(th.ThresholdError) as caught:
        th.parse(values)
    assert caught.value.field == field and words in str(caught.value)


def test_narrower_scopes_win_field_by_field() -> None:
    book = th.ThresholdBook({
        ("default", ""): th.parse({"voltage_tolerance": "0.08", "max_temperature": "60"}),
        ("site", "WEAK-GRID"): th.parse({"voltage_tolerance": "0.15"}),
        ("model", "AC22"): th.parse({"rated_current_a": "32", "max_temperature": "65"}),
        ("station", "CP1"): th.parse({"rated_current_a": "16"}),
    })
    cp1 = book.for_station("CP1", "WEAK-GRID", "AC22")
    assert cp1.voltage_tolerance == Decimal("0.15")  # site over default
    assert cp1.max_temperature == Decimal(65)  # model over default
    assert cp1.rated_current_a == Decimal(16)  # station over model
    assert cp1.nominal_voltage == DEFAULTS.nominal_voltage  # nobody sets it
    assert book.sources("CP1", "WEAK-GRID", "AC22") | {} == {
        **dict.fromkeys(th.FIELDS, "builtin"), "voltage_tolerance": "site",
        "max_temperature": "model", "rated_current_a": "station"}
    other = book.for_station("CP2", None, "DC50")  # no site, another model
    assert (other.voltage_tolerance, other.max_temperature, other.rated_current_a) == (
        Decimal("0.08"), Decimal(60), None)
    assert th.EMPTY.for_station("CP1") == DEFAULTS


def test_widest_covers_every_scope_and_the_default() -> None:
    book = th.ThresholdBook({("site", "S"): th.parse({"frozen_minutes": 30}),
                             ("model", "M"): th.parse({"frozen_minutes": 5})})
    assert book.widest("frozen_minutes") == 30
    assert th.EMPTY.widest("frozen_minutes") == DEFAULTS.frozen_minutes


def test_as_text_round_trips_through_parse() -> None:
    text = th.as_text(DEFAULTS)
    assert text["flap_window"] == "600" and text["rated_current_a"] is None
    assert th.merge([th.parse(text)]) == DEFAULTS

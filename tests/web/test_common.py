"""The dashboard's shared formats (web/common.py) and SVG charts (web/charts.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from evcsms.web.charts import Series, bar_chart, line_chart, nice_ticks
from evcsms.web.common import kwh, local_time, money, number, valid_locale


@pytest.mark.parametrize(("amount", "currency", "locale", "text"), [
    (Decimal("12.5"), "EUR", "en", "€12.50"),
    (Decimal("12.5"), "EUR", "de_DE", "12,50\xa0€"),
    (Decimal("1234.567"), "USD", "en", "$1,234.57"),
    (Decimal("1234"), "JPY", "en", "¥1,234"),
    ("0.10", "gbp", "en", "£0.10"),
    (Decimal("-3.20"), "EUR", "nl_NL", "€\xa0-3,20"),
])
def test_money_in_the_currency_and_locale_format(amount: Decimal | str, currency: str,
                                                 locale: str, text: str) -> None:
    assert money(amount, currency, locale) == text


def test_money_never_goes_through_float() -> None:
    # 0.1 + 0.2 as floats is 0.30000000000000004; a Decimal sum stays exact
    assert money(Decimal("0.1") + Decimal("0.2"), "EUR") == "€0.30"
    assert money(Decimal("2.665"), "EUR") == "€2.67"  # half-up as receipts (float: 2.66)
    assert money(Decimal("0.125"), "EUR") == "€0.13"
    assert money(None, "EUR") == ""


def test_numbers_kwh_and_locales() -> None:
    assert number(Decimal("1234.5678"), "en") == "1,234.57"
    assert number(Decimal("1234.5678"), "de_DE") == "1.234,57"
    assert kwh(12345, "en") == "12.35 kWh"
    assert kwh(None) == ""
    assert valid_locale("xx_YY") == "en" and valid_locale("fr_FR") == "fr_FR"


def test_local_time_in_the_site_zone() -> None:
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time(at, "Europe/Amsterdam") == "2026-07-01 14:00 CEST"
    assert local_time(at, "America/New_York") == "2026-07-01 08:00 EDT"
    assert local_time(at, "No/Such_Zone") == "2026-07-01 12:00 UTC"
    assert local_time(None, "UTC") == ""


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert nice_ticks(0, 7.4) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, 22) == [0, 10, 20, 30]
    assert nice_ticks(0, 0.37) == [0, 0.1, 0.2, 0.3, 0.4]
    ticks = nice_ticks(0, 0)
    assert ticks[0] == 0 and ticks[-1] >= 1


def test_line_chart_draws_each_series_in_the_zone() -> None:
    t0 = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    power = Series("power", [(t0 + timedelta(minutes=m), m / 2) for m in range(10)])
    limit = Series("limit", [(t0, 11), (t0 + timedelta(minutes=9), 7)], step=True)
    svg = str(line_chart([power, limit], title="Power <kW>", unit="kW",
                         zone=ZoneInfo("Europe/Amsterdam"), chart_id="p"))
    assert svg.startswith('<svg class="chart" id="p"') and svg.endswith("</svg>")
    assert 'data-points="12"' in svg
    assert re.search(r'data-series="power" data-points="10"', svg)
    assert "Power &lt;kW&gt;" in svg  # escaped
    assert ">12:00:00<" in svg and ">12:09:00<" in svg  # 10:00 UTC is 12:00 in Amsterdam
    step = re.search(r'data-series="limit"[^>]*points="([^"]+)"', svg)
    assert step and len(step.group(1).split()) == 3  # the step adds a corner point
    assert 'data-points="0"' in str(line_chart([], title="x", unit="kW"))
    short = str(line_chart([Series("p", [(t0, 1), (t0 + timedelta(minutes=2), 2)])],
                           title="x", unit="kW"))
    assert ">10:00:00<" in short and ">10:00:30<" in short and ">10:02:00<" in short


def test_bar_chart_heights_follow_the_values() -> None:
    svg = str(bar_chart([("Jan", Decimal("10")), ("Feb", Decimal("20"))], title="Spend",
                        unit="EUR", value_label=lambda v: money(Decimal(str(v)), "EUR")))
    heights = [float(h) for h in re.findall(r'<rect class="bar[^>]* height="([0-9.]+)"', svg)]
    assert len(heights) == 2 and heights[1] == pytest.approx(heights[0] * 2, rel=0.01)
    assert "Feb: €20.00" in svg
    assert 'data-bars="0"' in str(bar_chart([], title="x", unit="EUR"))


def test_whole_numbers_from_queries_and_paths() -> None:
    from evcsms.web.common import MAX_ID, whole_number

    assert whole_number(None, default=1) == 1 and whole_number("  ", default=1) == 1
    assert whole_number("42") == 42 and whole_number(" 7 ") == 7
    for bad in ("0", "-1", "1.5", "x", "１", "1000000", "²"):
        assert whole_number(bad, default=1) is None, bad
    assert whole_number(str(MAX_ID), most=MAX_ID) == MAX_ID
    assert whole_number(str(MAX_ID + 1), most=MAX_ID) is None

"""NEVI uptime (23 CFR 680.116(b)): golden cases (uptime_cases/) and properties."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcsms.domain.uptime import Change, Exclusion, PortState, combined, port_uptime

CASES = Path(__file__).parent / "uptime_cases"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _changes(items: list[dict[str, Any]]) -> list[Change]:
    return [Change(_at(c["at"]), PortState(c["state"])) for c in items]


def _decimal(value: Fraction, places: int = 6) -> str:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = json.loads(path.read_text())
    result = port_uptime(
        _at(case["start"]), _at(case["end"]), _changes(case["history"]),
        [Exclusion(_at(e["start"]), _at(e["end"]), e["reason"]) for e in case["exclusions"]],
        initial=PortState(case.get("initial", "unknown")),
        connectivity=_changes(case["connectivity"]) if "connectivity" in case else None,
    )
    expected = case["expected"]
    assert _decimal(result.outage_minutes) == expected["outage_minutes"], case["description"]
    assert _decimal(result.excluded_minutes) == expected["excluded_minutes"]
    assert _decimal(result.percent) == expected["percent"]


def test_there_are_golden_cases() -> None:
    assert len(list(CASES.glob("*.json"))) >= 10


def test_unknown_exclusion_reasons_and_bad_periods_are_refused() -> None:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="'bad weather' is not an excluded-outage reason"):
        port_uptime(t0, t0 + timedelta(days=1), [], [Exclusion(t0, t0, "bad weather")])
    with pytest.raises(ValueError, match="ends before it starts"):
        port_uptime(t0, t0 - timedelta(days=1), [])


def test_ports_combine_by_port_minutes() -> None:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    day = t0 + timedelta(days=1)
    up = port_uptime(t0, day, [Change(t0, PortState.AVAILABLE)])
    half = port_uptime(t0, day, [Change(t0, PortState.AVAILABLE),
                                 Change(t0 + timedelta(hours=12), PortState.FAULTED)])
    assert combined([up, half]).percent == 75


_T0 = datetime(2026, 3, 2, tzinfo=UTC)
_states = st.sampled_from(list(PortState))
_history = st.lists(st.tuples(st.integers(-600, 2000), _states), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_history, st.lists(st.tuples(st.integers(-600, 2000), st.integers(0, 600)), max_size=4))
def test_uptime_stays_between_0_and_100_and_exclusions_only_help(history, exclusions) -> None:
    changes = [Change(_T0 + timedelta(minutes=m), s) for m, s in history]
    end = _T0 + timedelta(days=1)
    without = port_uptime(_T0, end, changes)
    with_exclusions = port_uptime(_T0, end, changes, [
        Exclusion(_T0 + timedelta(minutes=a), _T0 + timedelta(minutes=a + d), "vandalism")
        for a, d in exclusions])
    assert 0 <= without.percent <= with_exclusions.percent <= 100
    assert 0 <= with_exclusions.excluded_minutes <= with_exclusions.outage_minutes <= 1440

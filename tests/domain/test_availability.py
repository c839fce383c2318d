"""Availability and the when-does-it-free-up estimate: golden cases (availability_cases/)
and the rules around them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evcsms.domain import availability as av

CASES = Path(__file__).parent / "availability_cases"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _port_view(port: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    view = {key: port[key] for key in expected if key != "reason_contains"}
    if "reason_contains" in expected:
        assert expected["reason_contains"] in port["reason"], (port, expected)
        view["reason_contains"] = expected["reason_contains"]
    return view


@pytest.mark.parametrize("path", sorted(CASES.glob("*.json")), ids=lambda p: p.stem)
def test_golden_case(path: Path) -> None:
    case = json.loads(path.read_text())
    result = av.from_dict(case).as_dict()
    expected = case["expected"]
    assert result["at"] == case["now"]
    for key in ("connectors_total", "available_now", "next_free_at"):
        assert result[key] == expected[key], (key, case["description"])
    if "by_kind" in expected:
        assert result["by_kind"] == expected["by_kind"], case["description"]
    assert len(result["connectors"]) == len(expected["connectors"]), case["description"]
    for port, want in zip(result["connectors"], expected["connectors"], strict=True):
        assert _port_view(port, want) == want, case["description"]
        if not port["available_now"] and port["free_at"] is not None:
            assert port["free_at"] > case["now"], "an estimate is never in the past"


def test_there_are_golden_cases() -> None:
    assert len(list(CASES.glob("*.json"))) >= 15


def test_incident_keys_name_their_evse() -> None:
    assert av.incident_evse("fault:CP1/2/1:GroundFailure", "CP1") == 2
    assert av.incident_evse("fault:CP1/0/0:Faulted", "CP1") == 0
    assert av.incident_evse("silent:CP1/3/1", "CP1") == 3
    assert av.incident_evse("frozen:CP1/12", "CP1") == 12
    assert av.incident_evse("voltage:CP1/1:L2", "CP1") == 1
    # not about a port: the link, firmware, one session, another station with a longer id
    assert av.incident_evse("offline:CP1", "CP1") is None
    assert av.incident_evse("firmware:CP1:7", "CP1") is None
    assert av.incident_evse("stuck:42", "CP1") is None
    assert av.incident_evse("fault:CP10/1/1:GroundFailure", "CP1") is None
    assert av.incident_evse("fault:CP1/x/1:Faulted", "CP1") is None
    assert av.incident_evse("nocolon", "CP1") is None


def test_estimate_uses_the_evse_then_the_site_then_says_it_cannot() -> None:
    start = NOW - timedelta(minutes=10)
    end, basis, _ = av.estimate_end(NOW, start, [1200.0, 1800.0, 2400.0], [60.0] * 10)
    assert (end, basis) == (start + timedelta(minutes=30), av.Basis.EVSE_HISTORY)
    end, basis, _ = av.estimate_end(NOW, start, [1200.0], [1200.0, 3600.0, 6000.0])
    assert (end, basis) == (start + timedelta(minutes=60), av.Basis.SITE_HISTORY)
    end, basis, reason = av.estimate_end(NOW, start, [], [])
    assert (end, basis) == (None, None) and "too few" in reason


def test_an_estimate_is_never_before_a_minute_from_now() -> None:
    for minutes in range(0, 300, 7):
        start = NOW - timedelta(minutes=minutes)
        end, _, _ = av.estimate_end(NOW, start, [600.0, 3600.0, 7200.0, 9000.0], [])
        assert end is not None and end >= NOW + av.MIN_AHEAD


def test_past_sessions_of_zero_length_say_nothing() -> None:
    result = av.site_availability(
        NOW, [av.Station("A", True)], [av.Connector("A", 1, 1, "Charging")],
        sessions=[av.ActiveSession("A", 1, NOW - timedelta(minutes=5))],
        history=[av.PastSession("A", 1, 0.0)] * 5)
    assert result.ports[0].free_at is None


def test_a_case_time_without_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        av.from_dict({"now": "2026-03-02T12:00:00"})

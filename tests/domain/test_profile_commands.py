"""Parameter rules of the load-management and reservation commands (domain.commands):
set_charging_profile, clear_charging_profile, get_composite_schedule, reserve_now,
cancel_reservation; and the limit as OCPP carries it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evcsms.domain.commands import (
    CommandName,
    CommandParamsError,
    answer_accepted,
    check_command,
    schedule_start,
    wire_limit,
)

PROFILE = {"evse_id": 1, "profile_id": 7, "unit": "A", "limit": 16}
RESERVE = {"reservation_id": 3, "evse_id": 1, "id_token": "TAG1",
           "expires_at": "2026-03-02T09:30:00Z"}


@pytest.mark.parametrize(("name", "params", "version"), [
    ("set_charging_profile", PROFILE, "1.6"),
    ("set_charging_profile", {**PROFILE, "purpose": "tx", "transaction_ref": "42",
                              "stack_level": 3, "limit": "6.5"}, "1.6"),
    ("set_charging_profile", {**PROFILE, "evse_id": 0, "purpose": "station_max", "unit": "W",
                              "limit": 22080.5, "number_phases": 3}, "2.0.1"),
    ("set_charging_profile", {**PROFILE, "number_phases": 1, "phase_to_use": 3}, "2.0.1"),
    ("set_charging_profile", {**PROFILE, "limit": 0}, None),  # 0: pause
    ("set_charging_profile", {**PROFILE, "valid_from": "2026-03-02T09:00:00Z",
                              "valid_to": "2026-03-02T11:00:00+01:00"}, "2.0.1"),
    ("set_charging_profile", {**PROFILE, "valid_to": "2026-03-02T10:00:00Z"}, "1.6"),
    ("clear_charging_profile", {}, "1.6"),
    ("clear_charging_profile", {"profile_id": 7}, "2.0.1"),
    ("clear_charging_profile", {"evse_id": 0, "purpose": "station_max", "stack_level": 0}, "1.6"),
    ("get_composite_schedule", {"evse_id": 0, "duration_s": 86400}, "1.6"),
    ("get_composite_schedule", {"evse_id": 2, "duration_s": 60, "unit": "W"}, "2.0.1"),
    ("reserve_now", RESERVE, "1.6"),
    ("reserve_now", {**RESERVE, "evse_id": 0, "id_token": "T" * 36,
                     "parent_id_token": "FLEET"}, "2.0.1"),
    ("cancel_reservation", {"reservation_id": 3}, "2.0.1"),
])
def test_accepted(name, params, version) -> None:
    assert check_command(name, params, version) is CommandName(name)


@pytest.mark.parametrize(("name", "params", "version", "message"), [
    ("set_charging_profile", {**PROFILE, "evse_id": None}, "1.6", "evse_id is required"),
    ("set_charging_profile", {**PROFILE, "evse_id": -1}, "1.6", "evse_id must be an integer"),
    ("set_charging_profile", {**PROFILE, "profile_id": 0}, "1.6", "profile_id must be an integer"),
    ("set_charging_profile", {**PROFILE, "purpose": "max"}, "1.6", "purpose must be one of"),
    ("set_charging_profile", {**PROFILE, "unit": "kW"}, "1.6", "unit must be one of"),
    ("set_charging_profile", {k: v for k, v in PROFILE.items() if k != "unit"}, "1.6",
     "unit must be one of"),
    ("set_charging_profile", {**PROFILE, "limit": None}, "1.6", "limit is required"),
    ("set_charging_profile", {**PROFILE, "limit": -1}, "1.6", "limit must be a number"),
    ("set_charging_profile", {**PROFILE, "limit": "sixteen"}, "1.6", "limit must be a number"),
    ("set_charging_profile", {**PROFILE, "limit": "NaN"}, "1.6", "limit must be a number"),
    ("set_charging_profile", {**PROFILE, "limit": True}, "1.6", "limit must be a number"),
    ("set_charging_profile", {**PROFILE, "limit": [16]}, "1.6", "limit must be a number"),
    ("set_charging_profile", {**PROFILE, "stack_level": -1}, "1.6", "stack_level must be"),
    ("set_charging_profile", {**PROFILE, "number_phases": 4}, "1.6", "number_phases must be 1"),
    ("set_charging_profile", {**PROFILE, "number_phases": 0}, "1.6", "number_phases must be"),
    ("set_charging_profile", {**PROFILE, "number_phases": 1, "phase_to_use": 4}, "2.0.1",
     "phase_to_use must be 1, 2 or 3"),
    ("set_charging_profile", {**PROFILE, "number_phases": 3, "phase_to_use": 1}, "2.0.1",
     "phase_to_use needs number_phases 1"),
    ("set_charging_profile", {**PROFILE, "phase_to_use": 1}, "2.0.1",
     "phase_to_use needs number_phases 1"),
    ("set_charging_profile", {**PROFILE, "number_phases": 1, "phase_to_use": 1}, "1.6",
     r"phase_to_use exists only in OCPP 2\.0\.1"),
    ("set_charging_profile", {**PROFILE, "purpose": "tx"}, "2.0.1",
     "transaction_ref is required"),
    ("set_charging_profile", {**PROFILE, "purpose": "tx", "transaction_ref": "T" * 37}, "2.0.1",
     "transaction_ref must be a non-empty string"),
    ("set_charging_profile", {**PROFILE, "purpose": "tx", "transaction_ref": "42",
                              "evse_id": 0}, "1.6", "tx profile is for the EVSE"),
    ("set_charging_profile", {**PROFILE, "transaction_ref": "42"}, "1.6",
     "transaction_ref belongs to a tx profile only"),
    ("set_charging_profile", {**PROFILE, "purpose": "station_max"}, "2.0.1",
     "station_max profile is for evse_id 0"),
    ("set_charging_profile", {**PROFILE, "valid_from": "today"}, "1.6",
     "valid_from must be an ISO 8601"),
    ("set_charging_profile", {**PROFILE, "valid_to": "2026-03-02T10:00:00"}, "1.6",
     "valid_to must be an ISO 8601 date-time with a zone"),
    ("set_charging_profile", {**PROFILE, "valid_from": "2026-03-02T10:00:00Z",
                              "valid_to": "2026-03-02T11:00:00+01:00"}, "2.0.1",
     "valid_to must be after valid_from"),
    ("clear_charging_profile", {"profile_id": 0}, "1.6", "profile_id must be an integer"),
    ("clear_charging_profile", {"purpose": "all"}, "1.6", "purpose must be one of"),
    ("clear_charging_profile", {"stack_level": "1"}, "1.6", "stack_level must be an integer"),
    ("clear_charging_profile", {"profile_id": 7, "evse_id": 1}, "2.0.1",
     "either by profile_id or by evse_id/purpose/stack_level"),
    ("get_composite_schedule", {"duration_s": 60}, "1.6", "evse_id is required"),
    ("get_composite_schedule", {"evse_id": 1}, "1.6", "duration_s is required"),
    ("get_composite_schedule", {"evse_id": 1, "duration_s": 0}, "1.6", "duration_s must be"),
    ("get_composite_schedule", {"evse_id": 1, "duration_s": 60, "unit": "kW"}, "1.6",
     "unit must be one of"),
    ("reserve_now", {**RESERVE, "reservation_id": None}, "1.6", "reservation_id is required"),
    ("reserve_now", {**RESERVE, "reservation_id": 0}, "1.6", "reservation_id must be"),
    ("reserve_now", {**RESERVE, "evse_id": None}, "1.6", "evse_id is required"),
    ("reserve_now", {**RESERVE, "id_token": ""}, "2.0.1", "id_token must be a non-empty"),
    ("reserve_now", {**RESERVE, "id_token": "T" * 37}, "2.0.1", "at most 36 characters"),
    ("reserve_now", {**RESERVE, "id_token": "T" * 21}, "1.6",
     "id_token must be at most 20 characters in OCPP 1.6"),
    ("reserve_now", {**RESERVE, "parent_id_token": "P" * 21}, "1.6",
     "parent_id_token must be at most 20 characters in OCPP 1.6"),
    ("reserve_now", {**RESERVE, "expires_at": None}, "1.6", "expires_at must be an ISO 8601"),
    ("reserve_now", {**RESERVE, "expires_at": "in an hour"}, "1.6", "expires_at must be"),
    ("cancel_reservation", {}, "1.6", "reservation_id is required"),
    ("cancel_reservation", {"reservation_id": "3"}, "1.6", "reservation_id must be an integer"),
])
def test_refused_with_a_reason(name, params, version, message) -> None:
    with pytest.raises(CommandParamsError, match=message):
        check_command(name, params, version)


def test_the_version_rules_wait_for_a_known_version() -> None:
    """A 21-character idTag or a phase_to_use is fine until the station is known to be 1.6."""
    check_command("reserve_now", {**RESERVE, "id_token": "T" * 21}, None)
    check_command("set_charging_profile", {**PROFILE, "number_phases": 1, "phase_to_use": 1},
                  None)


@pytest.mark.parametrize(("value", "wire"), [
    (16, 16.0), ("16", 16.0), (16.59, 16.5), ("16.59", 16.5), ("16.5", 16.5), (0.19, 0.1),
    ("0.0999", 0.0), (16.3, 16.3), (7.7, 7.7), (" 11.04 ", 11.0), ("22080.99", 22080.9),
    (2**31 - 1, 2147483647.0),
])
def test_the_wire_limit_never_rises(value, wire) -> None:
    result = wire_limit(value)
    assert result == wire
    assert isinstance(result, float)
    assert result <= float(str(value).strip())


@pytest.mark.parametrize("value", [None, -0.1, "x", True, float("inf"), 2**31])
def test_a_limit_that_is_not_a_number_has_no_wire_form(value) -> None:
    with pytest.raises(CommandParamsError, match="limit must be a number"):
        wire_limit(value)


def test_the_schedule_starts_at_valid_from_or_now() -> None:
    assert schedule_start({"valid_from": "2026-03-02T10:00:00.250+01:00"}) \
        == "2026-03-02T09:00:00.250000Z"
    now = datetime(2026, 3, 2, 9, 15, 30, 999_000, tzinfo=UTC)
    assert schedule_start({}, now) == "2026-03-02T09:15:30Z"


@pytest.mark.parametrize(("answer", "accepted"), [
    ({"status": "Accepted"}, True), ({"status": "Rejected"}, False),
    ({"status": "Occupied"}, False), ({"status": "Faulted"}, False),
    ({"status": "Unavailable"}, False), ({"status": "Unknown"}, False),
])
def test_answers_of_the_new_commands(answer, accepted) -> None:
    assert answer_accepted(answer) is accepted

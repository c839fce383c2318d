"""Pure unit tests (no sockets) of the simulator's charging-profile model: which period is in
force, which profile wins, how a station maximum is shared, what a car draws, and the
payloads for profiles, composite schedules and reservations."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evcsms.domain.commands import CommandName
from evcsms.protocol.v16.commands import to_call as to_call_16
from evcsms.protocol.v201.commands import to_call as to_call_201
from evcsms.simulator import SessionPattern, VirtualStation
from evcsms.simulator.control import SmartCharging
from evcsms.simulator.messages import V16, V201, ClearCriteria, Session, dialect_for
from evcsms.simulator.meter import (
    ChargeProfile,
    Draw,
    Period,
    Profile,
    draw,
    new_profile,
    sample,
    water_fill,
)

from .conftest import schema_errors

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def profile(pid: int = 1, limit: float = 16, *, stack: int = 0, purpose: str = "tx_default",
            kind: str = "Absolute", start: datetime | None = T0, **kw: Any) -> Profile:
    return Profile(pid, stack, purpose, kind, kw.pop("unit", "A"),
                   kw.pop("periods", (Period(0, limit),)), start, **kw)


# -- the period in force ---------------------------------------------------------------------


def test_an_absolute_schedule_with_periods_and_a_duration() -> None:
    p = profile(periods=(Period(0, 16), Period(600, 10, 1)), duration_s=1200)
    assert p.limit_at(at(-1), T0) is None  # not started yet
    assert p.limit_at(at(0), T0) == Period(0, 16)
    assert p.limit_at(at(599.9), T0) == Period(0, 16)
    assert p.limit_at(at(600), T0) == Period(600, 10, 1)
    assert p.limit_at(at(1200), T0) is None  # the schedule is over: a lower stack applies
    assert p.changes(at(0), at(3600), T0) == [at(600), at(1200)]


def test_validity_bounds_a_profile() -> None:
    p = profile(valid_from=at(10), valid_to=at(20))
    assert [p.limit_at(at(s), T0) is not None for s in (9, 10, 19.99, 20)] == [
        False, True, True, False]
    assert p.changes(at(0), at(60), T0) == [at(10), at(20)]


def test_a_relative_schedule_counts_from_the_transaction() -> None:
    p = profile(kind="Relative", start=None, periods=(Period(0, 6), Period(60, 16)))
    assert p.limit_at(at(30), relative_to=at(0)).limit == 6
    assert p.limit_at(at(90), relative_to=at(0)).limit == 16
    assert p.limit_at(at(90), relative_to=at(60)).limit == 6


def test_a_daily_schedule_recurs() -> None:
    p = profile(kind="Recurring", recurrency="Daily", start=T0,
                periods=(Period(0, 8), Period(3600, 32)))
    day = timedelta(days=1)
    assert p.limit_at(T0 + 3 * day + timedelta(minutes=30), T0).limit == 8
    assert p.limit_at(T0 + 3 * day + timedelta(hours=2), T0).limit == 32
    assert p.limit_at(T0 - day + timedelta(minutes=1), T0).limit == 8  # before startSchedule


# -- sharing and drawing -------------------------------------------------------------------------


@pytest.mark.parametrize(("demands", "cap", "shares"), [
    ({1: 16, 2: 16}, 40, {1: 16, 2: 16}),  # enough for both
    ({1: 16, 2: 16}, 20, {1: 10, 2: 10}),
    ({1: 4, 2: 16}, 20, {1: 4, 2: 16}),  # what one does not need goes to the other
    ({1: 4, 2: 16, 3: 16}, 20, {1: 4, 2: 8, 3: 8}),
    ({1: 16, 2: 16}, 0, {1: 0, 2: 0}),
])
def test_water_fill_shares_a_cap_in_equal_parts(demands: dict[int, float], cap: float,
                                                shares: dict[int, float]) -> None:
    got = water_fill(demands, dict.fromkeys(demands, 1.0), cap)
    assert got == pytest.approx(shares)
    assert sum(got.values()) <= cap + 1e-9 or got == demands


def test_water_fill_in_watts_weighs_by_phases() -> None:
    # 11040 W between a three-phase car (690 W per A) and a single-phase one (230 W per A)
    got = water_fill({"3ph": 16.0, "1ph": 32.0}, {"3ph": 690.0, "1ph": 230.0}, 11040)
    assert got == pytest.approx({"3ph": 12.0, "1ph": 12.0})


def test_a_car_draws_the_lower_of_the_offer_and_what_it_wants() -> None:
    car = ChargeProfile(16 * 230 * 3, 3, 100)
    assert car.max_current_a == pytest.approx(16)
    assert draw(car, 11040, None) == draw(car, 11040, 20) == Draw(11040, 3)
    limited = draw(car, 11040, 10.079)  # a meter shows 0.01 A: the car takes 10.07 A
    assert (limited.power_w, limited.phases, limited.current_a) == (6948.3, 3, 10.07)
    assert draw(car, 3000, 10).current_a is None  # ramping up below the offer: its own curve
    one_phase = draw(car, 11040, 10, phases=1)  # the profile allows one phase only
    assert (one_phase.power_w, one_phase.phases) == (2300.0, 1)
    assert draw(car, 11040, 0).power_w == 0.0


def test_a_limited_car_reports_the_offered_current_on_its_phases() -> None:
    s = sample(1000, 6900.0, 3, random.Random(1), current_a=10.0)
    assert s.currents_a == (10.0, 10.0, 10.0) and s.power_w == 6900.0
    s1 = sample(1000, 2300.0, 1, random.Random(1), current_a=10.0)
    assert s1.currents_a == (10.0, 0.0, 0.0)


def test_the_car_maximum_is_configurable() -> None:
    rng = random.Random(3)
    cars = [new_profile(rng, (60, 60), 10, (1, 3), max_current_a=32) for _ in range(20)]
    assert {c.phases for c in cars} == {1, 3}
    assert all(c.max_current_a == pytest.approx(32) for c in cars)
    assert {c.target_w for c in cars} == {32 * 230, 32 * 230 * 3}
    default = new_profile(random.Random(3), (60, 60), 10)
    assert default.target_w in (7400.0, 11000.0)


# -- which profile wins, and what the station accepts ---------------------------------------------


def smart(version: str = "1.6", connectors: int = 2) -> tuple[VirtualStation, SmartCharging]:
    st = VirtualStation("ws://127.0.0.1:9/ocpp", "CP1", version, connectors=connectors,
                        pattern=SessionPattern(auto_start=False), now=lambda: T0)
    return st, st.control.smart


def charging(st: VirtualStation, connector: int, tx_id: int | str, phases: int = 3,
             amps: float = 16) -> None:
    st.connectors[connector - 1].session = Session(
        connector, "TAG", ChargeProfile(amps * 230 * phases, phases, 1000), tx_id=tx_id,
        started_at=T0)


def test_tx_overrides_the_default_and_the_default_of_a_connector_beats_the_station_wide() -> None:
    st, sc = smart()
    charging(st, 1, 1000)
    c1 = st.connectors[0]
    assert sc.install(0, profile(1, 20))[0] == "Accepted"  # TxDefault for every connector
    assert sc.connector_limit(c1, T0).value == 20
    assert sc.install(1, profile(2, 12))[0] == "Accepted"  # same stack, on connector 1
    assert sc.connector_limit(c1, T0).value == 12
    assert sc.install(0, profile(3, 18, stack=1))[0] == "Accepted"  # higher stack wins
    assert sc.connector_limit(c1, T0).value == 18
    tx = profile(4, 8, purpose="tx", tx_id=1000, valid_to=at(60))
    assert sc.install(1, tx)[0] == "Accepted"
    assert sc.connector_limit(c1, at(30)).value == 8
    assert sc.connector_limit(c1, at(60)).value == 18  # expired: the default again
    sc.transaction_ended(1)
    assert 4 not in sc.installed and len(sc.installed) == 3


def test_a_station_maximum_caps_the_sum_and_the_offer_of_each_car() -> None:
    st, sc = smart()
    charging(st, 1, 1000)
    charging(st, 2, 1001, phases=1, amps=32)
    assert sc.offers(T0) == {}  # no profiles: no limits at all
    assert sc.install(0, profile(1, 30, purpose="station_max"))[0] == "Accepted"
    offers = sc.offers(T0)
    assert offers[1].current_a == pytest.approx(15) and offers[2].current_a == pytest.approx(15)
    assert sc.install(2, profile(2, 5))[0] == "Accepted"
    offers = sc.offers(T0)
    assert offers[2].current_a == pytest.approx(5) and offers[1].current_a == pytest.approx(16)
    assert sc.clear(ClearCriteria(purpose="station_max")) == "Accepted"
    assert sc.offers(T0)[1].current_a is None and sc.offers(T0)[2].current_a == 5


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_same_stack_level_and_purpose(version: str) -> None:
    """1.6 replaces the older profile; 2.0.1 refuses a second id (K01.FR.39) but replaces
    a profile sent again with its own id."""
    st, sc = smart(version)
    assert sc.install(1, profile(1, 16))[0] == "Accepted"
    status, reason = sc.install(1, profile(2, 10))
    if version == "1.6":
        assert status == "Accepted" and set(sc.installed) == {2}
    else:
        assert (status, reason) == ("Rejected", "DuplicateStackLevel") and set(sc.installed) == {1}
    assert sc.install(1, profile(1, 6))[0] == "Accepted"
    assert sc.installed[1].profile.periods[0].limit == 6


@pytest.mark.parametrize(("evse", "p", "reason"), [
    (3, profile(), "UnknownEVSE"),
    (1, profile(purpose="station_max"), "NotForAnEVSE"),
    (0, profile(purpose="tx", tx_id=1000), "TxProfileOnStation"),
    (2, profile(purpose="tx", tx_id=1000), "NoTransaction"),
    (1, profile(purpose="tx", tx_id=999), "UnknownTransaction"),
    (1, profile(stack=9), "StackLevelTooHigh"),
])
def test_what_the_station_refuses(evse: int, p: Profile, reason: str) -> None:
    st, sc = smart()
    charging(st, 1, 1000)
    assert sc.install(evse, p) == ("Rejected", reason)
    assert sc.installed == {}


def test_clear_by_id_or_by_criteria() -> None:
    st, sc = smart()
    for pid, evse, stack in ((1, 0, 0), (2, 1, 0), (3, 1, 1), (4, 2, 1)):
        sc.install(evse, profile(pid, stack=stack))
    assert sc.clear(ClearCriteria(profile_id=9)) == "Unknown"
    assert sc.clear(ClearCriteria(profile_id=1)) == "Accepted" and 1 not in sc.installed
    assert sc.clear(ClearCriteria(evse=1, stack_level=1)) == "Accepted"
    assert set(sc.installed) == {2, 4}
    assert sc.clear(ClearCriteria(purpose="station_max")) == "Unknown"
    assert sc.clear(ClearCriteria()) == "Accepted" and sc.installed == {}


def test_the_composite_schedule_merges_the_profiles() -> None:
    st, sc = smart()
    charging(st, 1, 1000)
    sc.install(1, profile(1, 6))
    sc.install(1, profile(2, 13, stack=1, purpose="tx", tx_id=1000, valid_to=at(120)))
    sc.install(0, profile(3, 10, purpose="station_max", valid_from=at(60)))
    assert sc.composite(1, 300, "A", T0) == [(0, 13.0, None), (60, 10.0, None), (120, 6.0, None)]
    assert sc.composite(1, 300, "W", T0) == [(0, 8970.0, None), (60, 6900.0, None),
                                            (120, 4140.0, None)]
    assert sc.composite(0, 300, "A", T0) == [(0, 64.0, None), (60, 10.0, None)]  # 2 x 32 A
    assert sc.composite(1, 30, "A", T0) == [(0, 13.0, None)]
    assert sc.composite(3, 30, "A", T0) is None


# -- payloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profiles_from_evcsms_are_read_back(version: str) -> None:
    to_call = to_call_16 if version == "1.6" else to_call_201
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, {
        "evse_id": 2, "purpose": "tx", "transaction_ref": "1000", "profile_id": 10002,
        "stack_level": 1, "unit": "W", "limit": "7400.06", "number_phases": 1,
        "valid_from": "2026-03-02T09:00:00Z", "valid_to": "2026-03-02T09:05:00Z"})
    evse, p = dialect_for(version).parse_profile(payload)
    assert evse == 2
    assert (p.id, p.stack_level, p.purpose, p.kind, p.unit) == (10002, 1, "tx", "Absolute", "W")
    assert p.periods == (Period(0, 7400.0, 1),)
    assert (p.start, p.valid_from, p.valid_to) == (T0, T0, at(300))
    assert str(p.tx_id) == "1000"


@pytest.mark.parametrize(("version", "change"), [
    ("2.0.1", {"chargingProfileKind": "Relative"}),  # Relative with a startSchedule (K01.FR.41)
    ("2.0.1", {"chargingProfilePurpose": "ChargingStationExternalConstraints"}),
    ("2.0.1", {"chargingProfilePurpose": "TxProfile"}),  # without a transactionId
    ("2.0.1", {"chargingProfileKind": "Recurring"}),  # without recurrencyKind
    ("1.6", {"validFrom": "2026-03-02T10:00:00Z", "validTo": "2026-03-02T09:00:00Z"}),
    ("1.6", {"stackLevel": -1}),
    ("1.6", {"chargingProfileId": "7"}),
])
def test_nonsense_is_refused_while_reading(version: str, change: dict[str, Any]) -> None:
    to_call = to_call_16 if version == "1.6" else to_call_201
    _, payload = to_call(CommandName.SET_CHARGING_PROFILE, {
        "evse_id": 1, "purpose": "tx_default", "profile_id": 3, "unit": "A", "limit": 10})
    key = "csChargingProfiles" if version == "1.6" else "chargingProfile"
    payload[key].update(change)
    with pytest.raises(ValueError):
        dialect_for(version).parse_profile(payload)


def test_2_0_1_station_maximum_cannot_be_relative_and_absolute_needs_a_start() -> None:
    base = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "ChargingStationMaxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]}]}
    with pytest.raises(ValueError, match="cannot be Relative"):
        V201().parse_profile({"evseId": 0, "chargingProfile": base})
    with pytest.raises(ValueError, match="needs startSchedule"):
        V201().parse_profile({"evseId": 0, "chargingProfile": {
            **base, "chargingProfileKind": "Absolute"}})
    # 1.6 takes an Absolute profile without startSchedule as counted from the transaction
    evse, p = V16().parse_profile({"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                 "limit": 6}]}}})
    assert p.limit_at(at(10), relative_to=at(5)) == Period(0, 6.0)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_answers_and_reservation_messages_fit_the_schemas(version: str) -> None:
    d = dialect_for(version)
    composite = d.composite(1, "2026-03-02T09:00:00.000Z", 300, "A",
                            [(0, 13.0, None), (60, 10.0, 1), (120, 6.5, None)])
    assert schema_errors(version, "GetCompositeSchedule", composite, response=True) == []
    s = Session(1, "TAG1", ChargeProfile(11040.0, 3, 10), tx_id=d.local_tx_id(
        random.Random(1)) or 1000, reservation_id=41)
    action, start = d.start(s, sample(0, 0.0, 3, random.Random(1)), "2026-03-02T09:00:00Z")
    assert start["reservationId"] == 41
    assert schema_errors(version, action, start) == []
    reserved = d.status(1, d.connector_status("Reserved"), "NoError", "2026-03-02T09:00:00Z")
    assert schema_errors(version, *reserved) == []
    assert (reserved[1].get("status") or reserved[1].get("connectorStatus")) == "Reserved"
    update = d.reservation_update(41, "Expired")
    if version == "1.6":
        assert update is None
    else:
        assert update is not None and schema_errors(version, *update) == []

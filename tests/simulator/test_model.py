"""Pure unit tests (no sockets): power model, payload builders, configuration, load statistics."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evcsms.simulator.handlers import Configuration
from evcsms.simulator.load import LoadReport
from evcsms.simulator.messages import V16, V201, Session, dialect_for, iso
from evcsms.simulator.meter import ChargeProfile, new_profile, sample

from .conftest import schema_errors

TS = "2025-03-01T12:00:00.000Z"


@settings(deadline=None, max_examples=50)
@given(seed=st.integers(0, 2**32), minutes=st.floats(1, 600))
def test_profile_ramps_and_tapers_within_target(seed: int, minutes: float) -> None:
    rng = random.Random(seed)
    profile = new_profile(rng, (minutes * 60, minutes * 60), 10.0)
    assert profile.target_w in (7400.0, 11000.0)
    assert profile.phases == (1 if profile.target_w == 7400.0 else 3)
    powers = [profile.power_at(k, rng) for k in range(profile.total_samples)]
    assert all(0 < p <= profile.target_w * 1.02 for p in powers)
    if profile.total_samples >= 10:
        assert powers[0] < powers[3]  # ramp up
        assert powers[-1] < powers[profile.total_samples // 2]  # taper at the end


@settings(deadline=None, max_examples=50)
@given(register=st.floats(0, 1e9), power=st.floats(0, 22_000), phases=st.sampled_from([1, 3]))
def test_sample_currents_match_power(register: float, power: float, phases: int) -> None:
    s = sample(register, power, phases, random.Random(1))
    assert s.register_wh == int(register)
    assert sum(a * v for a, v in zip(s.currents_a, s.voltages_v, strict=True)) == pytest.approx(
        power, rel=0.01, abs=5
    )
    assert all(a == 0.0 for a in s.currents_a[phases:])


def test_iso_is_utc_with_z() -> None:
    cet = timezone(timedelta(hours=1))
    assert iso(datetime(2025, 3, 1, 13, 0, tzinfo=cet)) == TS
    with pytest.raises(ValueError):
        iso(datetime(2025, 3, 1))  # noqa: DTZ001 - the naive value is the point


@settings(deadline=None, max_examples=50)
@given(
    version=st.sampled_from(["1.6", "2.0.1"]),
    register=st.integers(0, 10**9),
    power=st.floats(0, 22_000),
    reason=st.sampled_from(
        [
            "EVDisconnected",
            "Local",
            "Remote",
            "HardReset",
            "SoftReset",
            "UnlockCommand",
            "DeAuthorized",
        ]
    ),
)
def test_transaction_payloads_are_schema_valid(
    version: str, register: int, power: float, reason: str
) -> None:
    d = dialect_for(version)
    rng = random.Random(register)
    s = Session(
        1,
        "TAG1",
        ChargeProfile(11000.0, 3, 10),
        tx_id=d.local_tx_id(rng) or 1234,
        stop_reason=reason,
    )
    m = sample(register, power, 3, rng)
    for action, payload in (
        d.start(s, m, TS),
        d.update(s, m, TS),
        d.update(s, m, TS, trigger=True),
        d.end(s, m, TS),
        d.idle_meter(2, m, TS),
        d.authorize("TAG1", "ISO14443"),
        d.boot("PowerUp", "SN-" + "X" * 40),
        d.heartbeat(),
        d.status(1, d.connector_status("Charging"), "NoError", TS),
    ):
        assert schema_errors(version, action, payload) == [], (action, payload)


def test_dialect_specifics() -> None:
    s = Session(2, "T", ChargeProfile(7400.0, 1, 3))
    assert (
        V16().start_status(s, {"transactionId": 9, "idTagInfo": {"status": "Accepted"}})
        == "Accepted"
    )
    assert s.tx_id == 9
    assert (
        V16().start_status(Session(1, "T", s.profile), {"idTagInfo": {"status": "Accepted"}})
        == "Invalid"
    )
    assert V201().start_status(s, {}) == "Accepted"
    assert [V201().connector_status(x) for x in ("Preparing", "Charging", "Faulted")] == [
        "Occupied",
        "Occupied",
        "Faulted",
    ]
    a, b = V201().local_tx_id(random.Random(5)), V201().local_tx_id(random.Random(5))
    assert a == b and len(a or "") == 36
    with pytest.raises(ValueError):
        dialect_for("1.5")


def test_configuration_readonly_and_validation() -> None:
    applied: list[tuple[str, str]] = []

    def apply(key: str, value: str) -> bool:
        applied.append((key, value))
        return value != "bad"

    config = Configuration({"A": "1", "RO": "x"}, frozenset({"RO"}), apply)
    assert config.set("A", "2") == "Accepted" and config.get("A") == "2"
    assert config.set("A", "bad") == "Rejected" and config.get("A") == "2"
    assert config.set("RO", "y") == "Rejected" and config.get("RO") == "x"
    assert applied == [("A", "2"), ("A", "bad")]


def test_load_report_rate_and_percentiles() -> None:
    report = LoadReport(
        stations_connected=2, messages=4, errors=0, seconds=2.0, latencies_ms=[4.0, 1.0, 3.0, 2.0]
    )
    assert report.rate() == 2.0
    assert report.percentile(0) == 1.0 and report.percentile(100) == 4.0
    assert report.percentile(50) == pytest.approx(2.5)
    assert LoadReport(0, 0, 0, 0.0).rate() == 0.0
    assert LoadReport(0, 0, 0, 1.0).percentile(99) == 0.0


@settings(deadline=None, max_examples=50)
@given(st.lists(st.floats(0, 1e4), min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_and_bounded(data: list[float], p: float, q: float) -> None:
    report = LoadReport(1, len(data), 0, 1.0, data)
    low, high = sorted((p, q))
    assert min(data) <= report.percentile(low) <= report.percentile(high) <= max(data)


def test_utc_timestamps_from_injected_clock() -> None:
    fixed = datetime(2030, 1, 1, tzinfo=UTC)
    from evcsms.simulator import VirtualStation

    st_ = VirtualStation("ws://127.0.0.1:9/ocpp", "CP1", now=lambda: fixed, seed=3)
    again = VirtualStation("ws://127.0.0.1:9/ocpp", "CP1", now=lambda: fixed, seed=3)
    assert [c.register_wh for c in st_.connectors] == [c.register_wh for c in again.connectors]
    assert iso(st_.now()) == "2030-01-01T00:00:00.000Z"

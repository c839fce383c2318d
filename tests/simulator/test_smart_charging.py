"""Charging profiles and reservations on a VirtualStation, driven over a real WebSocket by the
fake CSMS with the CALLs evcsms's own translations build (protocol.v16/v201.commands)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evcsms.domain.commands import CommandName, check_command
from evcsms.protocol.v16.commands import to_call as to_call_16
from evcsms.protocol.v201.commands import to_call as to_call_201
from evcsms.simulator import SessionPattern, VirtualStation

from .conftest import FakeCsms, eventually, make_station, registers, running, status_trail

pytestmark = pytest.mark.slow

INTERVAL = 0.05  # s between meter values
SCALE = 600.0  # simulated seconds per real second (energy)
# cars plugged in by the tests: 16 A on three phases, charging until told to stop
CARS = SessionPattern(session_seconds=(600.0, 600.0), auto_start=False, phases=(3,),
                      max_current_a=16.0)
VERSIONS = ["1.6", "2.0.1"]


def station(csms: FakeCsms, version: str, **kw: Any) -> VirtualStation:
    options: dict[str, Any] = {"pattern": CARS, "meter_interval": INTERVAL,
                               "time_scale": SCALE}
    return make_station(csms, version, **(options | kw))


async def command(csms: FakeCsms, version: str, name: CommandName, **params: Any) -> Any:
    """Send a neutral command as evcsms would: checked, translated, CALLed; the answer."""
    check_command(name.value, params, version)
    action, payload = (to_call_16 if version == "1.6" else to_call_201)(name, params)
    answer = await csms.call("CP1", action, payload)
    assert answer[0] == 3, answer
    return answer[2]


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def samples(csms: FakeCsms, connector: int = 1) -> list[dict[str, Any]]:
    """Meter samples of a connector's transactions: currents L1-L3, power, register."""
    out = []
    tx_evse: dict[str, int] = {}
    for r in csms.received:
        if r.action == "MeterValues" and r.payload.get("transactionId") is not None:
            if r.payload["connectorId"] != connector:
                continue
            values = r.payload["meterValue"][0]["sampledValue"]
        elif r.action == "TransactionEvent":
            info = r.payload["transactionInfo"]
            if r.payload["eventType"] == "Started":
                tx_evse[info["transactionId"]] = r.payload["evse"]["id"]
            if r.payload["eventType"] != "Updated" or tx_evse.get(info["transactionId"]) \
                    != connector:
                continue
            values = r.payload["meterValue"][0]["sampledValue"]
        else:
            continue
        amps = {v["phase"]: float(v["value"]) for v in values
                if v["measurand"] == "Current.Import"}
        power = next(float(v["value"]) for v in values if v["measurand"] == "Power.Active.Import")
        out.append({"amps": (amps["L1"], amps["L2"], amps["L3"]), "power": power,
                    "register": registers(values)[0], "at": r.at,
                    "ts": datetime.fromisoformat(r.payload["meterValue"][0]["timestamp"])})
    return out


async def drawing(csms: FakeCsms, at_least: float, connector: int = 1,
                  at_most: float | None = None, within: float = 5.0) -> list[dict[str, Any]]:
    """Wait for a sample whose L1 current is in [at_least, at_most]."""
    def seen() -> bool:
        got = samples(csms, connector)
        return bool(got) and at_least <= got[-1]["amps"][0] <= (at_most or 1e9)
    await csms.wait_for(seen, within)
    return samples(csms, connector)


def arrival(csms: FakeCsms) -> int:
    return max((r.at for r in csms.received), default=-1)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_profile_lowers_the_draw_within_one_meter_interval(csms: FakeCsms,
                                                                   version: str) -> None:
    async with running(station(csms, version)) as st:
        await st.wait_online()
        assert st.start_session(1, "TAG1")
        before = await drawing(csms, 15.5)  # full speed: 16 A per phase (after the ramp)
        answer = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                               purpose="tx_default", profile_id=7, unit="A", limit="10.07")
        answered = arrival(csms)
        assert answer["status"] == "Accepted"
        limited = await drawing(csms, 9.9, at_most=10.0)
        await csms.wait_for(lambda: len([s for s in samples(csms) if s["at"] > answered]) >= 3)
        after = [s for s in samples(csms) if s["at"] > answered]
    assert before[-1]["amps"] == pytest.approx((16.0, 16.0, 16.0), abs=0.5)
    # the first sample built after the answer is limited (one already built may go first)
    assert any(s["amps"] == (10.0, 10.0, 10.0) for s in after[:2])
    assert all(a <= 10.0 for s in after[1:] for a in s["amps"])
    last = limited[-1]
    assert last["amps"] == (10.0, 10.0, 10.0)  # 10.07 A went out as 10.0 (rounded down)
    assert last["power"] == pytest.approx(10 * 230 * 3)
    full_step = before[-1]["register"] - before[-2]["register"]
    step = limited[-1]["register"] - limited[-2]["register"]
    assert step == pytest.approx(6900 * INTERVAL * SCALE / 3600, abs=1.5)  # 57.5 Wh
    assert full_step > 85  # ~11 kW: 92 Wh


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_tx_profile_ends_with_its_transaction(csms: FakeCsms, version: str) -> None:
    async with running(station(csms, version)) as st:
        await st.wait_online()
        assert st.start_session(1, "TAG1")
        await drawing(csms, 15.5)
        tx_id = st.connectors[0].session.tx_id
        ok = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                           purpose="tx", transaction_ref=str(tx_id), profile_id=10001,
                           stack_level=1, unit="W", limit=5520, number_phases=3)
        assert ok["status"] == "Accepted"
        await drawing(csms, 7.9, at_most=8.0)  # 5520 W on three phases: 8 A
        assert [p.purpose for _, p in st.charging_profiles] == ["tx"]
        assert st.stop_session(1)
        await eventually(lambda: st.connectors[0].session is None and st.connectors[0].idle
                         .is_set())
        assert st.charging_profiles == []  # dropped with its transaction
        late = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                             purpose="tx", transaction_ref=str(tx_id), profile_id=10001,
                             stack_level=1, unit="A", limit=8)
        assert st.start_session(1, "TAG2")
        await drawing(csms, 15.5)  # the next car charges at full speed again
    assert late["status"] == "Rejected"  # no such transaction any more
    if version == "2.0.1":
        assert late["statusInfo"]["reasonCode"] == "NoTransaction"


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_expired_live_profile_falls_back_to_the_default(csms: FakeCsms,
                                                                 version: str) -> None:
    async with running(station(csms, version)) as st:
        await st.wait_online()
        default = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                                purpose="tx_default", profile_id=9001, stack_level=0,
                                unit="A", limit=6)
        assert st.start_session(1, "TAG1")
        await drawing(csms, 5.9, at_most=6.0)  # the failsafe default holds from the start
        tx_id = st.connectors[0].session.tx_id
        lease_end = soon(0.8)
        live = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                             purpose="tx", transaction_ref=str(tx_id), profile_id=10001,
                             stack_level=1, unit="A", limit=12, valid_to=lease_end)
        await drawing(csms, 11.9, at_most=12.0)  # the live profile overrides the default
        await drawing(csms, 5.9, at_most=6.0, within=3.0)  # its lease ran out: 6 A again
        valid_to = datetime.fromisoformat(lease_end)
        await csms.wait_for(lambda: samples(csms)[-1]["ts"] > valid_to + timedelta(seconds=0.2))
        seen = [(s["ts"], s["amps"][0]) for s in samples(csms)]
    assert default["status"] == live["status"] == "Accepted"
    live_samples = [ts for ts, a in seen if a == 12.0]
    assert live_samples and max(live_samples) < valid_to + timedelta(seconds=0.05)
    after_lease = [a for ts, a in seen if ts >= valid_to + timedelta(seconds=0.05)]
    assert after_lease and set(after_lease) == {6.0}


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_station_maximum_caps_two_connectors(csms: FakeCsms, version: str) -> None:
    async with running(station(csms, version, connectors=2)) as st:
        await st.wait_online()
        assert st.start_session(1, "TAG1") and st.start_session(2, "TAG2")
        await drawing(csms, 15.5, 1)
        await drawing(csms, 15.5, 2)
        cap = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=0,
                            purpose="station_max", profile_id=1, unit="A", limit=20)
        one = await drawing(csms, 9.9, 1, at_most=10.0)  # 20 A shared: 10 A each
        two = await drawing(csms, 9.9, 2, at_most=10.0)
        small = await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                              purpose="tx_default", profile_id=2, unit="A", limit=4)
        await drawing(csms, 3.9, 1, at_most=4.0)
        await drawing(csms, 15.5, 2, at_most=16.4)  # what car 1 cannot take goes to car 2
        station_wide = await command(csms, version, CommandName.GET_COMPOSITE_SCHEDULE,
                                     evse_id=0, duration_s=600, unit="A")
        first = await command(csms, version, CommandName.GET_COMPOSITE_SCHEDULE, evse_id=1,
                              duration_s=600, unit="W")
        cleared = await command(csms, version, CommandName.CLEAR_CHARGING_PROFILE,
                                purpose="station_max")
        again = await command(csms, version, CommandName.CLEAR_CHARGING_PROFILE,
                              purpose="station_max")
    assert cap["status"] == small["status"] == "Accepted"
    assert one[-1]["amps"][0] + two[-1]["amps"][0] <= 20.0
    assert cleared == {"status": "Accepted"} and again == {"status": "Unknown"}
    periods = (_schedule(station_wide, version), _schedule(first, version))
    assert [p["limit"] for p in periods[0]["chargingSchedulePeriod"]] == [20.0]
    assert [p["limit"] for p in periods[1]["chargingSchedulePeriod"]] == [4 * 230 * 3]
    assert periods[1]["chargingRateUnit"] == "W"


def _schedule(answer: dict[str, Any], version: str) -> dict[str, Any]:
    assert answer["status"] == "Accepted"
    return answer["chargingSchedule"] if version == "1.6" else answer["schedule"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_composite_schedule_shows_when_a_lease_runs_out(csms: FakeCsms,
                                                                  version: str) -> None:
    async with running(station(csms, version)) as st:
        await st.wait_online()
        await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                      purpose="tx_default", profile_id=9001, unit="A", limit=6)
        assert st.start_session(1, "TAG1")
        await drawing(csms, 5.9, at_most=6.0)
        tx_id = st.connectors[0].session.tx_id
        await command(csms, version, CommandName.SET_CHARGING_PROFILE, evse_id=1,
                      purpose="tx", transaction_ref=str(tx_id), profile_id=10001,
                      stack_level=1, unit="A", limit=13, valid_to=soon(120))
        answer = await command(csms, version, CommandName.GET_COMPOSITE_SCHEDULE, evse_id=1,
                               duration_s=300)
        unknown = await command(csms, version, CommandName.GET_COMPOSITE_SCHEDULE, evse_id=5,
                                duration_s=300)
    schedule = _schedule(answer, version)
    limits = [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]]
    assert limits[0] == (0, 13.0) and limits[1][1] == 6.0
    assert 118 <= limits[1][0] <= 120 and len(limits) == 2
    assert schedule["duration"] == 300 and schedule["chargingRateUnit"] == "A"
    assert unknown["status"] == "Rejected"


@pytest.mark.parametrize("version", VERSIONS)
async def test_nonsense_profiles_are_rejected(csms: FakeCsms, version: str) -> None:
    v16 = version == "1.6"
    key, purpose_key = ("csChargingProfiles", "connectorId") if v16 else ("chargingProfile",
                                                                           "evseId")

    def profile(evse: int, purpose: str, **changes: Any) -> dict[str, Any]:
        _, payload = (to_call_16 if v16 else to_call_201)(
            CommandName.SET_CHARGING_PROFILE,
            {"evse_id": evse, "purpose": "tx_default", "profile_id": 3, "unit": "A",
             "limit": 10})
        payload[purpose_key] = evse
        payload[key]["chargingProfilePurpose"] = purpose
        payload[key].update(changes)
        return payload

    station_max = "ChargePointMaxProfile" if v16 else "ChargingStationMaxProfile"
    schedule = profile(1, "TxDefaultProfile")[key]["chargingSchedule"]
    late_start = ({**schedule, "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 6}]}
                  if v16 else [{**schedule[0],
                                "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 6}]}])
    async with running(station(csms, version, connectors=2)) as st:
        await st.wait_online()
        answers = [(await csms.call("CP1", "SetChargingProfile", payload))[2]["status"]
                   for payload in (
                       profile(1, station_max),  # a station maximum on one connector
                       profile(3, "TxDefaultProfile"),  # no connector 3
                       profile(1, "TxProfile", transactionId=1 if v16 else "x"),  # no tx
                       profile(1, "TxDefaultProfile", chargingSchedule=late_start),
                       profile(1, "TxDefaultProfile", stackLevel=99),
                   )]
        good = (await csms.call("CP1", "SetChargingProfile", profile(0, station_max)))[2]
    assert answers == ["Rejected"] * 5
    assert good["status"] == "Accepted"
    assert [(evse, p.purpose) for evse, p in st.charging_profiles] == [(0, "station_max")]


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_reservation_blocks_other_tokens_and_is_used_by_its_own(
    csms: FakeCsms, version: str
) -> None:
    async with running(station(csms, version)) as st:
        await st.wait_online()
        answer = await command(csms, version, CommandName.RESERVE_NOW, reservation_id=41,
                               evse_id=1, id_token="RESERVED1", expires_at=soon(60))
        await csms.wait_for(lambda: status_trail(csms)[-1] == "S:Reserved")
        refused_local = st.start_session(1, "SOMEONE")
        refused_remote = await command(csms, version, CommandName.REMOTE_START,
                                       id_token="SOMEONE", evse_id=1, remote_start_id=1)
        taken = await command(csms, version, CommandName.RESERVE_NOW, reservation_id=42,
                              evse_id=1, id_token="OTHER", expires_at=soon(60))
        assert st.start_session(1, "reserved1")  # idTags compare case-insensitively
        await drawing(csms, 1.0)
        again = await command(csms, version, CommandName.CANCEL_RESERVATION, reservation_id=41)
    assert answer == {"status": "Accepted"}
    assert refused_local is False and refused_remote == {"status": "Rejected"}
    assert taken == {"status": "Occupied"}
    assert again == {"status": "Rejected"}  # it was used up by its session
    if version == "1.6":
        start = csms.calls("StartTransaction")
        assert [(s["idTag"], s.get("reservationId")) for s in start] == [("reserved1", 41)]
    else:
        started = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Started"]
        assert [(e["idToken"]["idToken"], e.get("reservationId")) for e in started] == [
            ("reserved1", 41)]
    assert csms.calls("Authorize") and all(
        (a.get("idTag") or a["idToken"]["idToken"]) == "reserved1" for a in csms.calls("Authorize"))
    trail = [s for s in status_trail(csms) if s.startswith("S:")]
    assert trail[:2] == ["S:Available", "S:Reserved"]
    assert trail[2] == ("S:Preparing" if version == "1.6" else "S:Occupied")


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_reservation_expires_or_is_cancelled(csms: FakeCsms, version: str) -> None:
    async with running(station(csms, version, connectors=2)) as st:
        await st.wait_online()
        short = await command(csms, version, CommandName.RESERVE_NOW, reservation_id=7,
                              evse_id=1, id_token="TAG1", expires_at=soon(0.5))
        reserved_at = time.monotonic()
        anywhere = await command(csms, version, CommandName.RESERVE_NOW, reservation_id=8,
                                 evse_id=0, id_token="TAG2", expires_at=soon(60))
        await csms.wait_for(lambda: status_trail(csms, connector=2)[-1] == "S:Reserved")
        await csms.wait_for(lambda: status_trail(csms)[-1:] == ["S:Available"]
                            and "S:Reserved" in status_trail(csms), within=3)
        expired_after = time.monotonic() - reserved_at
        cancelled = await command(csms, version, CommandName.CANCEL_RESERVATION,
                                  reservation_id=8)
        await csms.wait_for(lambda: status_trail(csms, connector=2)[-1] == "S:Available")
        unknown = await command(csms, version, CommandName.CANCEL_RESERVATION, reservation_id=8)
        assert st.start_session(1, "ANYONE")  # free for everybody again
        await drawing(csms, 1.0)
        occupied = await command(csms, version, CommandName.RESERVE_NOW, reservation_id=9,
                                 evse_id=1, id_token="TAG3", expires_at=soon(60))
    assert short == anywhere == cancelled == {"status": "Accepted"}
    assert unknown == {"status": "Rejected"} and occupied == {"status": "Occupied"}
    assert 0.4 < expired_after < 2.0
    updates = csms.calls("ReservationStatusUpdate")
    if version == "2.0.1":  # cancelled reservations are not reported back
        assert updates == [{"reservationId": 7, "reservationUpdateStatus": "Expired"}]
    else:
        assert updates == []


async def test_a_reservation_is_refused_where_the_connector_cannot_take_it(
    csms: FakeCsms,
) -> None:
    async with running(station(csms, "1.6", connectors=3)) as st:
        await st.wait_online()
        assert st.start_session(1, "TAG1")
        await drawing(csms, 1.0)
        await command(csms, "1.6", CommandName.CHANGE_AVAILABILITY, evse_id=2,
                      availability="inoperative")
        await csms.wait_for(lambda: status_trail(csms, connector=2)[-1] == "S:Unavailable")
        st.inject("connector_fault", 3)
        await csms.wait_for(lambda: status_trail(csms, connector=3)[-1] == "S:Faulted")
        answers = [
            (await command(csms, "1.6", CommandName.RESERVE_NOW, reservation_id=n, evse_id=n,
                           id_token="TAG9", expires_at=soon(60)))["status"]
            for n in (1, 2, 3)]
        anywhere = await command(csms, "1.6", CommandName.RESERVE_NOW, reservation_id=4,
                                 evse_id=0, id_token="TAG9", expires_at=soon(60))
        past = (await csms.call("CP1", "ReserveNow", {
            "connectorId": 1, "expiryDate": "2020-01-01T00:00:00Z", "idTag": "TAG9",
            "reservationId": 5}))[2]
    assert answers == ["Occupied", "Unavailable", "Faulted"]
    assert anywhere == {"status": "Occupied"}  # the first reason found among the connectors
    assert past == {"status": "Rejected"}


async def test_four_cars_share_a_site_limit(csms: FakeCsms) -> None:
    """Cars of 32 A on one phase: four of them on a 64 A station maximum get 16 A each, and
    the shares follow as cars leave."""
    cars = SessionPattern(session_seconds=(600.0, 600.0), auto_start=False, phases=(1,),
                          max_current_a=32.0)
    async with running(station(csms, "2.0.1", connectors=4, pattern=cars)) as st:
        await st.wait_online()
        assert st.start_session(1, "TAG1")
        alone = await drawing(csms, 31.5, 1)
        await command(csms, "2.0.1", CommandName.SET_CHARGING_PROFILE, evse_id=0,
                      purpose="station_max", profile_id=1, unit="W", limit=64 * 230)
        for n in (2, 3, 4):
            assert st.start_session(n, f"TAG{n}")
        for n in (1, 2, 3, 4):
            await drawing(csms, 15.9, n, at_most=16.0)
        st.stop_session(4)
        st.stop_session(3)
        for n in (1, 2):
            await drawing(csms, 31.5, n, at_most=32.8)
        await asyncio.sleep(3 * INTERVAL)
        one, two = samples(csms, 1)[-1], samples(csms, 2)[-1]
    assert alone[-1]["amps"][1:] == (0.0, 0.0)  # one phase
    assert one["power"] + two["power"] <= 64 * 230 + 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_group_reservation_takes_a_member_of_the_group(csms: FakeCsms,
                                                               version: str) -> None:
    def authorize(station: str, payload: dict[str, Any]) -> dict[str, Any]:
        tag = payload.get("idTag") or payload["idToken"]["idToken"]
        if version == "1.6":
            return {"idTagInfo": {"status": "Accepted",
                                  **({"parentIdTag": "FLEET"} if tag == "MEMBER" else {})}}
        group = {"groupIdToken": {"idToken": "FLEET", "type": "Central"}}
        return {"idTokenInfo": {"status": "Accepted", **(group if tag == "MEMBER" else {})}}

    csms.replies["Authorize"] = authorize
    async with running(station(csms, version)) as st:
        await st.wait_online()
        await command(csms, version, CommandName.RESERVE_NOW, reservation_id=5, evse_id=1,
                      id_token="DRIVER1", parent_id_token="FLEET", expires_at=soon(60))
        await csms.wait_for(lambda: status_trail(csms)[-1] == "S:Reserved")
        assert st.start_session(1, "OUTSIDER")  # plugs in; the Authorize answer shows no group
        await csms.wait_calls("Authorize")
        await csms.wait_for(lambda: status_trail(csms)[-1] == "S:Reserved")
        assert st.connectors[0].reservation is not None
        remote = await command(csms, version, CommandName.REMOTE_START, id_token="MEMBER",
                               remote_start_id=3)
        await drawing(csms, 1.0)
    assert remote == {"status": "Accepted"}
    if version == "1.6":
        assert [(s["idTag"], s.get("reservationId")) for s in
                csms.calls("StartTransaction")] == [("MEMBER", 5)]
    else:
        started = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Started"]
        assert [(e["idToken"]["idToken"], e.get("reservationId")) for e in started] == [
            ("MEMBER", 5)]
    assert [a.get("idTag") or a["idToken"]["idToken"] for a in csms.calls("Authorize")] == [
        "OUTSIDER", "MEMBER"]  # a remote start on a group reservation asks who it is

"""Load management over the API: the tree, pins, pause, and the allocation it gives."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction
from tests.api.conftest import flush

TREE: dict[str, Any] = {
    "circuits": [{"id": "grid", "max_current_a": [32, 32, 32]},
                 {"id": "fuse-a", "parent": "grid", "max_current_a": [20, 20, 20]}],
    "evses": [{"id": f"CP{n}/1", "circuit": "fuse-a" if n <= 2 else "grid",
               "max_current_a": 32} for n in range(1, 5)],
}


async def _site(client: Any, services: Any) -> None:
    await client.put("/sites/DEPOT", json={"name": "Depot", "time_zone": "Europe/Amsterdam"})
    for n in range(1, 5):
        await client.post("/stations", json={"id": f"CP{n}"})
        await services.stations.set_connected(f"CP{n}", True, "node-a")  # (no socket here)
    await services.tokens.create("TAG")


async def _start(services: Any, station: str, minutes_ago: int) -> int:
    at = services.clock.now() - timedelta(minutes=minutes_ago)
    return (await services.sessions.start_v16(
        StartTransaction(station, 1, "TAG", Decimal(0), at))).transaction_id


def _setpoints(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["evse"]: s for s in body["setpoints"]}


async def test_a_site_tree_is_stored_checked_and_shares_the_grid(client, services):
    await _site(client, services)
    put = await client.put("/sites/DEPOT/load", json=TREE)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1 and put.json()["policy"] == "equal"
    assert [c["id"] for c in put.json()["tree"]["circuits"]] == ["grid", "fuse-a"]
    for n in (1, 2, 3):
        await _start(services, f"CP{n}", minutes_ago=10 - n)

    body = (await client.get("/sites/DEPOT/allocation")).json()
    points = _setpoints(body)
    # CP1 and CP2 share the 20 A fuse; CP3 gets what the 32 A grid has left; CP4 is idle
    assert points["CP1/1"]["limit"] == 10 and points["CP2/1"]["limit"] == 10
    assert points["CP3/1"]["limit"] == 12 and points["CP3/1"]["reason"] == "limited"
    assert points["CP4/1"]["limit"] == 0 and points["CP4/1"]["reason"] == "idle"
    assert points["CP1/1"]["bound"] == {"node": "fuse-a", "quantity": "L1"}
    assert points["CP1/1"]["session_id"] is not None and points["CP4/1"]["session_id"] is None
    grid = next(n for n in body["nodes"] if n["node"] == "grid")
    assert grid["used_a"] == [32, 32, 32]

    # a pin and a pause
    assert (await client.put("/sites/DEPOT/load/pins/CP3/1", json={"value": 6})).status_code == 200
    points = _setpoints((await client.get("/sites/DEPOT/allocation")).json())
    assert points["CP3/1"]["limit"] == 6 and points["CP3/1"]["reason"] == "pinned"
    assert (await client.post("/sites/DEPOT/load/pause")).json()["paused"] is True
    points = _setpoints((await client.get("/sites/DEPOT/allocation")).json())
    assert {p["limit"] for p in points.values()} == {0}
    await client.post("/sites/DEPOT/load/resume")
    await client.delete("/sites/DEPOT/load/pins/CP3/1")
    assert _setpoints((await client.get("/sites/DEPOT/allocation")).json())["CP3/1"]["limit"] == 12


async def test_measured_draw_frees_power_for_others(client, services):
    await _site(client, services)
    await client.put("/sites/DEPOT/load", json={
        "circuits": [{"id": "grid", "max_current_a": [32, 32, 32]}],
        "evses": [{"id": "CP1/1", "circuit": "grid", "max_current_a": 32},
                  {"id": "CP2/1", "circuit": "grid", "max_current_a": 32}]})
    tx1 = await _start(services, "CP1", minutes_ago=20)
    await _start(services, "CP2", minutes_ago=10)
    now = services.clock.now()
    # CP1's car takes 6 A on one phase only
    await services.sessions.meter_values("CP1", 1, [
        SampledValue(now - timedelta(seconds=20), Decimal(value), "Current.Import", "A", phase=ph)
        for ph, value in (("L1", "6"), ("L2", "0"), ("L3", "0"))], transaction_id=tx1)
    await flush(services)
    points = _setpoints((await client.get("/sites/DEPOT/allocation")).json())
    assert points["CP1/1"]["draw_a"] == [6, 0, 0], points
    assert points["CP1/1"]["number_phases"] == 1  # a single-phase car
    # L1 is shared at 16 A each; a three-phase EVSE's limit is per phase, so CP2 has 16 A
    assert points["CP1/1"]["limit"] == 16 and points["CP2/1"]["limit"] == 16


async def test_bad_trees_are_refused_with_the_field_named(client, services):
    await _site(client, services)
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/sites/NOWHERE/load", TREE, 404, "site 'NOWHERE' does not exist"),
        ("/sites/DEPOT/load", {**TREE, "evses": [{"id": "CP1/1", "circuit": "fuse-9",
                                                  "max_current_a": 32}]}, 422, "fuse-9"),
        ("/sites/DEPOT/load", {**TREE, "evses": [{"id": "CP404/1", "circuit": "grid",
                                                  "max_current_a": 32}]}, 404,
         "station 'CP404' does not exist"),
        ("/sites/DEPOT/load", {**TREE, "evses": [{"id": "CP1", "circuit": "grid",
                                                  "max_current_a": 32}]}, 422, "STATION/EVSE"),
        ("/sites/DEPOT/load", {**TREE, "evses": [{"id": "CP1/²", "circuit": "grid",
                                                  "max_current_a": 32}]}, 422, "STATION/EVSE"),
        ("/sites/DEPOT/load", {**TREE, "policy": "loudest"}, 422, "policy"),
    ]
    for url, body, status, words in cases:
        response = await client.put(url, json=body)
        assert response.status_code == status, (url, response.text)
        assert words in response.json()["detail"], response.text
    assert (await client.get("/sites/DEPOT/load")).status_code == 404  # nothing half-stored
    assert (await client.put("/sites/DEPOT/load", json=TREE)).status_code == 200
    await client.put("/sites/OTHER", json={"name": "Other", "time_zone": "UTC"})
    taken = await client.put("/sites/OTHER/load", json=TREE)
    assert taken.status_code == 409 and "already under load management" in taken.json()["detail"]
    bad_pin = await client.put("/sites/DEPOT/load/pins/CP1/1", json={"value": 3})
    assert bad_pin.status_code == 422 and "0 or 6" in bad_pin.json()["detail"]


async def test_circuits_and_evses_are_edited_one_at_a_time(client, services):
    await _site(client, services)
    await client.put("/sites/DEPOT/load", json=TREE)
    body = (await client.put("/sites/DEPOT/load/circuits/fuse-b",
                             json={"parent": "grid", "max_current_a": [16, 16, 16]})).json()
    assert [c["id"] for c in body["tree"]["circuits"]] == ["grid", "fuse-a", "fuse-b"]
    body = (await client.put("/sites/DEPOT/load/evses/CP4/1",
                             json={"circuit": "fuse-b", "max_current_a": 16,
                                   "wiring": ["L2"]})).json()
    cp4 = next(e for e in body["tree"]["evses"] if e["id"] == "CP4/1")
    assert cp4["circuit"] == "fuse-b" and cp4["wiring"] == ["L2"]
    in_use = await client.delete("/sites/DEPOT/load/circuits/fuse-b")
    assert in_use.status_code == 422 and "fuse-b" in in_use.json()["detail"]
    assert (await client.delete("/sites/DEPOT/load/evses/CP4/1")).status_code == 200
    assert (await client.delete("/sites/DEPOT/load/circuits/fuse-b")).status_code == 200
    limits = await client.put("/sites/DEPOT/load/limits", json={
        "peak_limit": {"windows": [{"start": "17:00", "end": "21:00", "kw": 11}]}})
    assert limits.status_code == 200, limits.text
    assert limits.json()["version"] == 6
    assert [s["site_id"] for s in (await client.get("/load/sites")).json()] == ["DEPOT"]
    assert (await client.delete("/sites/DEPOT/load")).status_code == 204
    assert (await client.get("/load/sites")).json() == []


async def test_an_offline_station_keeps_what_it_may_still_draw(client, services):
    """Its car may go on at the failsafe (or its last limit): the others never count on it."""
    await _site(client, services)
    await client.put("/sites/DEPOT/load", json=TREE)
    for n in (1, 2, 3):
        await _start(services, f"CP{n}", minutes_ago=10 - n)
    await services.stations.set_connected("CP3", False, "node-a")
    points = _setpoints((await client.get("/sites/DEPOT/allocation")).json())
    # failsafe: 4 EVSEs on 32 A = 8 A each; CP3 is held at 8, so CP1 and CP2 get 10 each
    assert points["CP3/1"]["limit"] == 8 and points["CP3/1"]["reason"] == "pinned"
    assert points["CP1/1"]["limit"] == 10


def test_setpoints_go_out_in_a_unit_the_station_takes() -> None:
    from evcsms.domain import load as ld
    from evcsms.services.load_inputs import in_unit, parse_rate_units

    assert parse_rate_units("Current,Power") == {"A", "W"}
    assert parse_rate_units("W") == {"W"} and parse_rate_units(None) == frozenset()
    ac = ld.Setpoint("CP1/1", Decimal("10.6"), ld.Unit.A, Decimal("10.6"), Decimal(7314), 3,
                     None, (ld.Phase.L1, ld.Phase.L2, ld.Phase.L3), ld.Reason.LIMITED)
    assert in_unit(ac, frozenset({"A", "W"}), Decimal(230)) is ac
    as_w = in_unit(ac, frozenset({"W"}), Decimal(230))
    assert (as_w.unit, as_w.limit) == (ld.Unit.W, Decimal(7314))  # 10.6 x 230 x 3
    dc = ld.Setpoint("DC1/1", Decimal(7999), ld.Unit.W, Decimal("11.6"), Decimal(7999), None,
                     None, (ld.Phase.L1, ld.Phase.L2, ld.Phase.L3), ld.Reason.LIMITED)
    as_a = in_unit(dc, frozenset({"A"}), Decimal(230))
    assert (as_a.unit, as_a.limit) == (ld.Unit.A, Decimal("11.5"))  # 11.59.. rounded down


async def test_a_station_that_takes_only_watts_is_sent_watts(client, services):
    from evcsms.storage import tables as t

    await _site(client, services)
    await client.put("/sites/DEPOT/load", json=TREE)

    async def seed(conn: Any) -> None:
        await conn.execute(t.table_of(t.DeviceVariable).insert().values(
            station_id="CP3", component="SmartChargingCtrlr", component_instance="",
            evse_id=0, connector_id=0, variable="RateUnit", variable_instance="",
            attribute_type="Actual", value="W", source="notify_report",
            updated_at=services.clock.now()))

    await services.writer.submit(seed, "test-seed")
    await _start(services, "CP3", minutes_ago=5)
    body = (await client.post("/sites/DEPOT/allocation")).json()
    [sent] = [s for s in body["sent"] if s["evse"] == "CP3/1"]
    # alone at the site: its EVSE max, 32 A on three phases, as W (the station has no
    # socket here, so the command itself fails: what matters is what evcsms asked)
    assert (sent["unit"], sent["limit"]) == ("W", 22080)

"""NEVI uptime over the API from the recorded status history and exclusions."""

from __future__ import annotations

from datetime import timedelta

from evcsms.services.stations import ConnectorStatus
from tests.conftest import T0


async def _history(services, clock) -> None:
    await services.stations.set_connected("CP1", True, "node-a")  # 09:00
    await services.stations.connector_status("CP1", ConnectorStatus(1, 1, "Available"), T0)
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Faulted", "GroundFailure"), T0 + timedelta(minutes=60))
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Available"), T0 + timedelta(minutes=90))
    clock.advance(180 * 60)  # 12:00: the link drops for 20 minutes
    await services.stations.set_connected("CP1", False, "node-a")
    clock.advance(20 * 60)
    await services.stations.set_connected("CP1", True, "node-a")


async def test_uptime_from_the_status_history_and_exclusions(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await _history(services, clock)
    added = await client.post("/uptime/exclusions", json={
        "station_id": "CP1", "start": "2026-03-02T12:00:00Z", "end": "2026-03-02T12:10:00Z",
        "reason": "utility_outage", "note": "grid operator notice 4711"})
    assert added.status_code == 201
    params = {"from": "2026-03-02T09:00:00Z", "to": "2026-03-02T13:00:00Z", "station_id": "CP1"}
    body = (await client.get("/uptime", params=params)).json()
    # 240 minutes; down 30 (fault) + 20 (offline) = 50, 10 excluded: (240 - 40) / 240
    assert body["total"] == {"percent": 83.3333, "period_minutes": 240, "outage_minutes": 50,
                             "excluded_minutes": 10}
    assert [(p["evse_id"], p["connector_id"]) for p in body["ports"]] == [(1, 1)]
    csv_lines = (await client.get("/uptime.csv", params=params)).text.splitlines()
    assert csv_lines[0].startswith("station_id,evse_id,connector_id")
    assert csv_lines[1].endswith(",240,50,10,83.3333")


async def test_uptime_errors(client, services):
    await client.post("/stations", json={"id": "CP1"})
    bad_reason = await client.post("/uptime/exclusions", json={
        "station_id": "CP1", "start": "2026-03-02T12:00:00Z", "end": "2026-03-02T13:00:00Z",
        "reason": "bad weather"})
    assert bad_reason.status_code == 422 and "reason" in bad_reason.json()["detail"]
    backwards = await client.get("/uptime", params={"from": "2026-03-02T13:00:00Z",
                                                    "to": "2026-03-02T12:00:00Z"})
    assert backwards.status_code == 422
    unknown = await client.get("/uptime", params={"from": "2026-03-02T09:00:00Z",
                                                  "to": "2026-03-02T10:00:00Z",
                                                  "station_id": "NOPE"})
    assert unknown.status_code == 404


async def test_a_station_that_never_reported_is_down(client):
    await client.post("/stations", json={"id": "QUIET"})
    body = (await client.get("/uptime", params={"from": "2026-03-02T00:00:00Z",
                                                "to": "2026-03-03T00:00:00Z"})).json()
    assert body["total"]["percent"] == 0 and body["ports_counted"] == 1


async def test_station_status_history(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await _history(services, clock)
    body = (await client.get("/stations/CP1/history")).json()
    assert [(i["source"], i["state"]) for i in body["items"]] == [
        ("connection", "online"), ("connection", "offline"), ("status", "available"),
        ("status", "faulted"), ("status", "available"), ("connection", "online")]
    assert body["items"][3]["error_code"] == "GroundFailure"
    assert (await client.get("/stations/NOPE/history")).status_code == 404

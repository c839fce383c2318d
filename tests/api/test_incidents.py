"""Incidents over the API: list, acknowledge, comment, resolve."""

from __future__ import annotations

from evcsms.domain.faults import error_code


async def test_operators_acknowledge_comment_and_resolve(client, services):
    await services.stations.create("CP9", password=None)
    finding = error_code("CP9/1/1", "Faulted", "PowerSwitchFailure")
    assert finding is not None
    incident_id = await services.incidents.report("CP9", finding)
    listed = (await client.get("/incidents", params={"status": "active"})).json()
    assert [i["id"] for i in listed["items"]] == [incident_id]
    assert listed["items"][0]["action"] == "send a technician"
    ack = (await client.post(f"/incidents/{incident_id}/acknowledge")).json()
    assert ack["status"] == "acknowledged"
    assert (await client.post(f"/incidents/{incident_id}/acknowledge")).status_code == 409
    note = await client.post(f"/incidents/{incident_id}/comments", json={"text": "on my way"})
    assert note.json()["timeline"][-1]["text"] == "on my way"
    done = (await client.post(f"/incidents/{incident_id}/resolve", json={"text": "relay swapped"})).json()
    assert done["status"] == "resolved" and done["resolved_at"] is not None
    assert [n["what"] for n in done["timeline"]] == ["opened", "acknowledged", "comment", "resolved"]
    assert (await client.get("/incidents", params={"status": "active"})).json()["total"] == 0
    assert (await client.get("/incidents/999999")).status_code == 404


async def test_fleet_health_summary(client, services, clock):
    from evcsms.services.stations import ConnectorStatus
    from tests.conftest import T0

    for station in ("CP1", "CP2", "CP3"):
        await client.post("/stations", json={"id": station})
    await services.stations.set_connected("CP1", True, "node-a")
    await services.stations.set_connected("CP2", True, "node-a")
    await services.stations.connector_status("CP1", ConnectorStatus(1, 1, "Charging"), T0)
    await services.stations.connector_status("CP2", ConnectorStatus(1, 1, "Faulted", "GroundFailure"), T0)
    first = await services.incidents.report("CP2", error_code("CP2/1/1", "Faulted", "GroundFailure"))
    await services.incidents.report("CP3", error_code("CP3/1/1", "Available", "WeakSignal"))
    clock.advance(45 * 60)
    await services.incidents.resolve(first, "alice", "fixed")
    await services.incidents.report("CP2", error_code("CP2/1/1", "Faulted", "ReaderFailure"))
    body = (await client.get("/fleet/health")).json()
    assert body["stations"] == {"total": 3, "online": 2, "offline": 1}
    assert body["connectors"] == {"Charging": 1, "Faulted": 1}
    assert body["open_incidents"]["total"] == 2
    assert body["open_incidents"]["by_severity"] == {"critical": 1, "info": 1}
    assert [w["station_id"] for w in body["worst_stations"]] == ["CP2", "CP3"]
    assert body["mean_time_to_recovery_minutes"] == 45.0 and body["recovered_incidents"] == 1

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

import pytest

from evcsms.bus.base import station_subject


@pytest.fixture
async def station(client):
    assert (await client.post("/stations", json={"id": "CP1"})).status_code == 201
    return "CP1"


async def test_command_to_offline_station_fails_at_once(client, station):
    response = await client.post(
        "/stations/CP1/commands", json={"name": "reset", "params": {"type": "hard"}}
    )
    assert response.status_code == 200
    record = response.json()
    assert (record["status"], record["error"]) == ("failed", "station offline")
    assert (record["name"], record["params"], record["station_id"]) == (
        "reset", {"type": "hard"}, "CP1",
    )
    assert record["created_by"] == "op"
    assert record["created_at"] == "2026-03-02T09:00:00Z"
    assert record["completed_at"] == "2026-03-02T09:00:00Z"
    assert record["sent_at"] is None
    fetched = await client.get(f"/commands/{record['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == record


async def test_command_answered_by_the_holding_node(client, services, station):
    async def gateway(message):
        await services.commands.mark_sent(message["id"], "Reset", {"type": "Hard"})
        return {"status": "accepted", "ocpp_action": "Reset", "request": {"type": "Hard"},
                "response": {"status": "Accepted"}}

    await services.bus.serve(station_subject("CP1", "command"), gateway)
    response = await client.post("/stations/CP1/commands", json={"name": "reset"})
    record = response.json()
    assert record["status"] == "accepted"
    assert record["ocpp_action"] == "Reset"
    assert record["request"] == {"type": "Hard"}
    assert record["response"] == {"status": "Accepted"}
    assert record["sent_at"] == "2026-03-02T09:00:00Z"


async def test_list_commands_of_a_station(client, station, clock):
    for _ in range(3):
        await client.post("/stations/CP1/commands", json={"name": "clear_cache"})
        clock.advance(1)
    body = (await client.get("/stations/CP1/commands", params={"limit": 2})).json()
    assert (body["total"], body["limit"], body["offset"], len(body["items"])) == (3, 2, 0, 2)
    assert body["items"][0]["created_at"] == "2026-03-02T09:00:02Z"  # newest first
    assert (await client.get("/stations/NOPE/commands")).status_code == 404


async def test_bad_commands(client, station):
    response = await client.post("/stations/NOPE/commands", json={"name": "reset"})
    assert response.status_code == 404
    assert response.json() == {"detail": "station 'NOPE' not found"}

    response = await client.post("/stations/CP1/commands", json={"name": "explode"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("name: Input should be 'remote_start'")

    response = await client.post(
        "/stations/CP1/commands", json={"name": "unlock_connector", "params": {}}
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "evse_id is required"}

    response = await client.post(
        "/stations/CP1/commands",
        json={"name": "data_transfer", "params": {"vendor_id": "x", "data": ["a\x00"]}},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "params: must not contain NUL characters"

    response = await client.post(
        "/stations/CP1/commands", json={"name": "remote_stop", "params": {"session_id": 2**70}}
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "params: integers must fit in 64 bits"}

    response = await client.get("/commands/no-such-command")
    assert response.status_code == 404
    assert response.json() == {"detail": "command 'no-such-command' not found"}

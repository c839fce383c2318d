from evcsms.domain.model import Direction
from tests.api.conftest import flush


async def _seed(services, station_id, count):
    for n in range(count):
        direction = Direction.IN if n % 2 == 0 else Direction.OUT
        services.message_log.record(
            station_id, direction, f'[2,"{n}","Heartbeat",{{}}]',
            message_type=2, unique_id=str(n), action="Heartbeat",
        )
    await flush(services)


async def test_frames_newest_first_with_cursor(client, services):
    await _seed(services, "CP1", 5)
    await _seed(services, "CP2", 1)
    first = (await client.get("/stations/CP1/messages", params={"limit": 3})).json()
    assert [m["unique_id"] for m in first["items"]] == ["4", "3", "2"]
    top = first["items"][0]
    assert (top["direction"], top["message_type"], top["action"]) == ("in", 2, "Heartbeat")
    assert top["frame"] == '[2,"4","Heartbeat",{}]'
    assert top["at"] == "2026-03-02T09:00:00Z"
    assert first["next_before_id"] == first["items"][-1]["id"]
    rest = (
        await client.get(
            "/stations/CP1/messages", params={"limit": 3, "before_id": first["next_before_id"]}
        )
    ).json()
    assert [m["unique_id"] for m in rest["items"]] == ["1", "0"]
    assert rest["next_before_id"] is None


async def test_unknown_station_has_no_frames(client):
    body = (await client.get("/stations/NOPE/messages")).json()
    assert body == {"items": [], "limit": 50, "next_before_id": None}


async def test_bad_parameters(client):
    response = await client.get("/stations/CP1/messages", params={"before_id": 0})
    assert response.status_code == 422
    assert (await client.get("/stations/CP1/messages", params={"limit": 501})).status_code == 422
    response = await client.get("/stations/CP%001/messages")
    assert response.status_code == 422
    assert response.json() == {"detail": "path parameter station_id: must not contain NUL characters"}
    response = await client.get("/sessions", params={"station_id": "a\x00"})
    assert response.json() == {"detail": "query parameter station_id: must not contain NUL characters"}

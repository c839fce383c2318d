from evcsms.services.stations import Admission, BootInfo, ConnectorStatus
from tests.conftest import T0


async def test_create_generates_a_password_shown_once(client, services):
    response = await client.post("/stations", json={"id": "CP1", "description": "yard"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == "CP1"
    assert body["description"] == "yard"
    assert body["registration"] == "Accepted"
    assert body["online"] is False
    assert body["connectors"] == []
    password = body["password"]
    assert len(password) >= 16
    assert await services.stations.admit("CP1", password) is Admission.ADMITTED
    again = (await client.get("/stations/CP1")).json()
    assert "password" not in again


async def test_create_with_password_does_not_echo_it(client, services):
    response = await client.post(
        "/stations", json={"id": "CP2", "password": "correct horse battery", "registration": "Pending"}
    )
    assert response.status_code == 201
    assert response.json()["password"] is None
    assert response.json()["registration"] == "Pending"
    assert await services.stations.admit("CP2", "correct horse battery") is Admission.ADMITTED


async def test_duplicate_station_is_409(client):
    assert (await client.post("/stations", json={"id": "CP1"})).status_code == 201
    response = await client.post("/stations", json={"id": "CP1"})
    assert response.status_code == 409
    assert response.json() == {"detail": "station 'CP1' already exists"}


async def test_bad_station_ids_are_422(client):
    for bad, words in (
        ("a/b", "must not contain '/'"),
        ("x" * 49, "at most 48 characters"),
        ("", "at least 1 character"),
        ("a\x00b", "control characters"),
    ):
        response = await client.post("/stations", json={"id": bad})
        assert response.status_code == 422, bad
        detail = response.json()["detail"]
        assert detail.startswith("id: ") and words in detail, detail


async def test_bad_fields_are_422_with_readable_detail(client):
    response = await client.post("/stations", json={"id": "CP1", "registration": "Maybe"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("registration: Input should be 'Accepted'")
    response = await client.post("/stations", json={"id": "CP1", "pasword": "x" * 20})
    assert response.json()["detail"] == "pasword: Extra inputs are not permitted"
    response = await client.post("/stations", json={"id": "CP1", "password": "short"})
    assert "at least 16 characters" in response.json()["detail"]
    response = await client.post(
        "/stations", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("request body is not valid JSON")


async def test_list_is_paginated(client):
    for n in range(5):
        await client.post("/stations", json={"id": f"CP{n}"})
    body = (await client.get("/stations", params={"limit": 2, "offset": 3})).json()
    assert [s["id"] for s in body["items"]] == ["CP3", "CP4"]
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 3)
    default = (await client.get("/stations")).json()
    assert (default["limit"], default["offset"], len(default["items"])) == (50, 0, 5)
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}):
        response = await client.get("/stations", params=bad)
        assert response.status_code == 422
        assert response.json()["detail"].startswith("query parameter "), response.json()


async def test_detail_shows_boot_connectors_and_last_seen(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await services.stations.boot(
        "CP1", BootInfo("ACME", "X1", "SN1", "1.2.3", "PowerUp", "1.6", {})
    )
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Faulted", "GroundFailure", "E42", "leak"), T0
    )
    clock.advance(90)
    services.presence.touch("CP1")
    body = (await client.get("/stations/CP1")).json()
    assert (body["vendor"], body["model"], body["serial_number"]) == ("ACME", "X1", "SN1")
    assert (body["firmware_version"], body["ocpp_version"]) == ("1.2.3", "1.6")
    assert body["boot_reason"] == "PowerUp"
    assert body["last_boot_at"] in ("2026-03-02T09:00:00Z", "2026-03-02T09:00:00+00:00")
    assert body["last_seen"] == "2026-03-02T09:01:30Z"  # presence is newer than the row
    assert body["connectors"] == [
        {"evse_id": 1, "connector_id": 1, "status": "Faulted", "error_code": "GroundFailure",
         "vendor_error_code": "E42", "info": "leak", "status_at": "2026-03-02T09:00:00Z"}
    ]
    listed = (await client.get("/stations")).json()["items"][0]
    assert listed["last_seen"] == "2026-03-02T09:01:30Z"


async def test_patch_then_delete(client, services):
    await client.post("/stations", json={"id": "CP1", "description": "old"})
    response = await client.patch("/stations/CP1", json={"password": "a new password 123"})
    assert response.status_code == 200
    assert await services.stations.admit("CP1", "a new password 123") is Admission.ADMITTED
    response = await client.patch(
        "/stations/CP1",
        json={"description": "new", "registration": "Rejected", "validation_mode": "lenient"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["description"], body["registration"], body["validation_mode"]) == (
        "new", "Rejected", "lenient",
    )
    assert (await client.delete("/stations/CP1")).status_code == 204
    response = await client.get("/stations/CP1")
    assert response.status_code == 404
    assert response.json() == {"detail": "station 'CP1' not found"}
    assert (await client.delete("/stations/CP1")).status_code == 404


async def test_patch_rejects_nulls_unknown_fields_and_unknown_stations(client):
    await client.post("/stations", json={"id": "CP1"})
    response = await client.patch("/stations/CP1", json={"description": None})
    assert response.status_code == 422
    assert "cannot be null" in response.json()["detail"]
    response = await client.patch("/stations/CP1", json={"validation_mode": "loose"})
    assert response.status_code == 422
    response = await client.patch("/stations/NOPE", json={"description": "x"})
    assert response.status_code == 404


async def test_events_newest_first_filtered_by_kind(client, services):
    await client.post("/stations", json={"id": "CP1"})
    await services.stations.record_event("CP1", "firmware", T0, {"status": "Downloading"})
    await services.stations.record_event("CP1", "security", T0, {"type": "Tamper"})
    await services.stations.record_event("CP1", "firmware", T0, {"status": "Installed"})
    body = (await client.get("/stations/CP1/events", params={"kind": "firmware"})).json()
    assert [e["payload"]["status"] for e in body["items"]] == ["Installed", "Downloading"]
    body = (await client.get("/stations/CP1/events", params={"limit": 1})).json()
    assert [e["kind"] for e in body["items"]] == ["firmware"]
    assert body["limit"] == 1
    assert (await client.get("/stations/NOPE/events")).status_code == 404

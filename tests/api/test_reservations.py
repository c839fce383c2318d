"""Reservations and availability over the API: operators under /reservations, drivers under
/me/reservations, availability for both; the station is played on the bus."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from evcsms.bus.base import station_subject
from evcsms.domain.model import OcppVersion
from evcsms.services.container import Services
from evcsms.services.stations import ConnectorStatus
from tests.conftest import T0
from tests.services.test_reservations import eventually, station

UNTIL = "2026-03-02T09:30:00Z"


def body(**changes: Any) -> dict[str, Any]:
    return {"station_id": "CP1", "evse_id": 1, "id_token": "CARD-A", "expires_at": UNTIL,
            **changes}


@pytest.fixture
async def setup(client: httpx.AsyncClient, services: Services) -> list[tuple[str, Any]]:
    calls = await station(services, "CP1", evses=2)
    for card in ("CARD-A", "CARD-B", "CARD-D"):
        assert (await client.post("/id-tokens", json={"token": card})).status_code == 201
    return calls


@pytest.fixture
async def driver(app: FastAPI, client: httpx.AsyncClient, setup: Any) -> Any:
    created = await client.post("/drivers", json={"name": "dana", "tokens": ["CARD-D"]})
    assert created.status_code == 201, created.text
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {created.json()['api_token']}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1",
                                 headers=headers) as dana:
        yield dana


async def test_reserve_read_list_and_cancel(client: httpx.AsyncClient, setup: Any) -> None:
    made = await client.post("/reservations", json=body())
    assert made.status_code == 201, made.text
    row = made.json()
    assert (row["status"], row["station_id"], row["evse_id"], row["id_token"]) == (
        "accepted", "CP1", 1, "CARD-A")
    assert row["expires_at"] == "2026-03-02T09:30:00Z" and row["created_by"] == "op"
    assert row["reason"] is None and row["command_id"] and row["ended_at"] is None
    assert setup[-1][0] == "ReserveNow" and setup[-1][1]["reservationId"] == row["id"]
    assert (await client.get(f"/reservations/{row['id']}")).json() == row
    listed = (await client.get("/reservations", params={"station_id": "CP1",
                                                        "status": "active"})).json()
    assert listed["total"] == 1 and listed["items"] == [row]
    cancelled = await client.delete(f"/reservations/{row['id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["reason"]) == ("cancelled", "cancelled")
    assert setup[-1] == ("CancelReservation", {"reservationId": row["id"]})
    again = await client.delete(f"/reservations/{row['id']}")
    assert again.status_code == 409 and "is cancelled" in again.json()["detail"]
    assert (await client.get("/reservations", params={"status": "active"})).json()["total"] == 0
    assert (await client.get("/reservations", params={"status": "cancelled"})).json()[
        "total"] == 1
    assert (await client.get("/reservations/999999")).status_code == 404


@pytest.mark.parametrize(("changes", "status", "detail"), [
    ({"station_id": "NOPE"}, 404, "station 'NOPE' not found"),
    ({"id_token": "NOBODY"}, 404, "id token 'NOBODY' not found"),
    ({"expires_at": "2026-03-02T09:30:00"}, 422, "expires_at: Input should have timezone"),
    ({"expires_at": "2026-03-02T08:59:00Z"}, 422, "is not in the future"),
    ({"expires_at": "2026-03-04T09:00:00Z"}, 422, "at most 24 h"),
    ({"evse_id": -1}, 422, "evse_id: Input should be greater than or equal to 0"),
    ({"evse_id": 7}, 422, "has no EVSE 7"),
    ({"color": "red"}, 422, "color: Extra inputs are not permitted"),
    ({"id_token": "A\x00"}, 422, "id_token: must not contain control characters"),
])
async def test_bad_requests_are_4xx_and_store_nothing(client: httpx.AsyncClient, setup: Any,
                                                      changes: dict[str, Any], status: int,
                                                      detail: str) -> None:
    answer = await client.post("/reservations", json=body(**changes))
    assert answer.status_code == status, answer.text
    assert detail in answer.json()["detail"]
    assert (await client.get("/reservations")).json()["total"] == 0
    assert setup == []


async def test_an_overlap_is_409(client: httpx.AsyncClient, setup: Any) -> None:
    assert (await client.post("/reservations", json=body())).status_code == 201
    taken = await client.post("/reservations", json=body(id_token="CARD-B"))
    assert taken.status_code == 409 and "EVSE 1 of 'CP1' is already reserved" in taken.json()[
        "detail"]
    twice = await client.post("/reservations", json=body(evse_id=2))
    assert twice.status_code == 409 and "already holds reservation" in twice.json()["detail"]


async def test_refusals_and_an_offline_station_are_201_records_with_a_reason(
        client: httpx.AsyncClient, services: Services) -> None:
    await station(services, "BUSY", OcppVersion.V201,
                  answer=lambda a, p: {"status": "Faulted",
                                       "statusInfo": {"reasonCode": "GroundFault"}})
    await services.stations.create("GONE", password=None)
    await client.post("/id-tokens", json={"token": "CARD-A"})
    await client.post("/id-tokens", json={"token": "CARD-B"})
    refused = await client.post("/reservations", json=body(station_id="BUSY"))
    assert refused.status_code == 201
    assert (refused.json()["status"], refused.json()["reason"]) == (
        "rejected", "the station answered Faulted (GroundFault)")
    offline = await client.post("/reservations", json=body(station_id="GONE",
                                                           id_token="CARD-B"))
    assert offline.status_code == 201
    assert (offline.json()["status"], offline.json()["reason"]) == ("failed", "station offline")
    assert offline.json()["ended_at"] is not None


async def test_cancelling_when_the_station_is_unreachable_is_503(
        client: httpx.AsyncClient, services: Services, setup: Any) -> None:
    row = (await client.post("/reservations", json=body())).json()
    responder = services.bus._responders[station_subject("CP1", "command")]  # type: ignore[attr-defined]
    await responder.unsubscribe()
    answer = await client.delete(f"/reservations/{row['id']}")
    assert answer.status_code == 503
    assert "station offline; it stays until it expires at" in answer.json()["detail"]
    assert (await client.get(f"/reservations/{row['id']}")).json()["status"] == "accepted"


async def test_roles(anon: httpx.AsyncClient, driver: httpx.AsyncClient) -> None:
    assert (await anon.get("/api/v1/reservations")).status_code == 401
    assert (await anon.get("/api/v1/sites/S/availability")).status_code == 401
    assert (await driver.get("/reservations")).status_code == 403
    assert (await driver.post("/reservations", json=body(id_token="CARD-D"))).status_code == 403


async def test_a_driver_reserves_and_cancels_only_their_own(
        client: httpx.AsyncClient, driver: httpx.AsyncClient) -> None:
    theirs = await client.post("/reservations", json=body(id_token="CARD-A"))
    assert theirs.status_code == 201
    not_mine = await driver.post("/me/reservations", json=body(evse_id=2, id_token="CARD-A"))
    assert not_mine.status_code == 404 and "id token 'CARD-A' not found" in not_mine.json()[
        "detail"]
    mine = await driver.post("/me/reservations", json=body(evse_id=2, id_token="CARD-D"))
    assert mine.status_code == 201, mine.text
    assert (mine.json()["status"], mine.json()["created_by"]) == ("accepted", "dana")
    listed = (await driver.get("/me/reservations")).json()
    assert [r["id"] for r in listed["items"]] == [mine.json()["id"]]
    assert (await driver.delete(f"/me/reservations/{theirs.json()['id']}")).status_code == 404
    done = await driver.delete(f"/me/reservations/{mine.json()['id']}")
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    assert (await driver.get("/me/reservations", params={"status": "active"})).json()[
        "total"] == 0


async def test_availability_for_operators_and_drivers(
        client: httpx.AsyncClient, driver: httpx.AsyncClient, services: Services) -> None:
    assert (await client.put("/sites/MALL", json={"name": "Mall"})).status_code in (200, 201)
    assert (await client.put("/stations/CP1/site", json={"site_id": "MALL"})).status_code == 204
    await services.stations.set_connected("CP1", True, "node")
    await services.stations.connector_status("CP1", ConnectorStatus(2, 1, "Faulted",
                                                                     "GroundFailure"), T0)
    held = (await client.post("/reservations", json=body())).json()

    async def incident_open() -> bool:  # diagnostics hears the Faulted status on the bus
        return (await services.incidents.list(status="active", limit=5, offset=0))[1] == 1

    assert await eventually(incident_open)
    for who in (client, driver):
        answer = await who.get("/sites/MALL/availability")
        assert answer.status_code == 200, answer.text
        site = answer.json()
        assert (site["site_id"], site["at"], site["connectors_total"], site["available_now"]) == (
            "MALL", "2026-03-02T09:00:00Z", 2, 0)
        assert site["next_free_at"] == UNTIL
        first, second = site["connectors"]
        assert (first["state"], first["free_at"], first["free_at_basis"]) == (
            "reserved", UNTIL, "reservation_expiry")
        assert (second["state"], second["free_at"]) == ("faulted", None)
        assert second["reason"] == ("open critical incident: CP1/2/1: earth fault / residual "
                                    "current detected")
        assert site["by_kind"] == [{"connector_type": None, "max_power_w": None, "total": 2,
                                    "available_now": 0, "next_free_at": UNTIL}]
        assert "id_token" not in str(site) and "CARD" not in str(site)
    await client.delete(f"/reservations/{held['id']}")
    freed = (await driver.get("/availability", params={"station_id": ["CP1"]})).json()
    assert freed["available_now"] == 1 and freed["connectors"][0]["available_now"] is True
    assert (await driver.get("/sites/NOWHERE/availability")).status_code == 404
    missing = await client.get("/availability", params={"station_id": ["CP1", "GHOST"]})
    assert missing.status_code == 404 and "'GHOST'" in missing.json()["detail"]
    assert (await client.get("/availability")).status_code == 422
    listed = (await client.get("/reservations", params={"site_id": "MALL"})).json()
    assert listed["total"] == 1


async def test_time_moves_on(client: httpx.AsyncClient, services: Services, setup: Any,
                             clock: Any) -> None:
    row = (await client.post("/reservations", json=body(
        expires_at=(T0 + timedelta(minutes=2)).isoformat()))).json()
    clock.advance(3 * 60)
    await services.reservations.expire_due()
    expired = (await client.get(f"/reservations/{row['id']}")).json()
    assert (expired["status"], expired["reason"]) == ("expired",
                                                      "expired at 2026-03-02T09:02:00Z")

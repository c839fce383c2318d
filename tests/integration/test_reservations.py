"""Reservations end to end: a real node, a simulated station over a real WebSocket, the
operator over the REST API, on the node's real clock (the station keeps its own).

What the station must do is OCPP's (1.6 §3.10/5.13, 2.0.1 H01/H03/H04): answer ReserveNow
Accepted and report the connector Reserved; refuse to charge any other token there; start
the reserved token's transaction naming the reservationId (which makes ours `used`); and
at the expiry end the reservation, report the connector Available again (2.0.1 also sends
ReservationStatusUpdate Expired; for 1.6 our sweep marks it expired).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from evcsms.domain.clock import SystemClock
from evcsms.settings import Settings
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.station import VirtualStation
from tests.integration.conftest import Running
from tests.integration.test_remote_diagnostics import operator, until

pytestmark = pytest.mark.slow


@pytest.fixture
def clock() -> SystemClock:
    """The simulator keeps real time: so must the node here."""
    return SystemClock()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reservation_sweep_interval": 0.2})


@contextlib.asynccontextmanager
async def simulated(server: Running, station_id: str, version: str
                    ) -> AsyncIterator[VirtualStation]:
    await server.services.stations.create(station_id, password=None)
    station = VirtualStation(server.ws, station_id, version, connectors=2, seed=3,
                             pattern=SessionPattern(auto_start=False),
                             id_tags=["CARD-R", "CARD-O", "CARD-E"], meter_interval=1.0,
                             reconnect_base=0.05, reconnect_cap=0.2, boot_retry_cap=0.1,
                             stop_grace=1.0, call_timeout=5.0)
    station.start()
    try:
        await until(lambda: _connectors(server, station_id), lambda c: len(c) >= 2)
        yield station
    finally:
        await station.stop()


async def _connectors(server: Running, station_id: str) -> dict[int, str]:
    _, rows = await server.services.stations.get(station_id)
    return {r.evse_id: r.status for r in rows if r.evse_id > 0}


async def _remote_start(api: httpx.AsyncClient, station_id: str, token: str, evse: int
                        ) -> dict[str, Any]:
    answer = await api.post(f"/stations/{station_id}/commands", json={
        "name": "remote_start", "params": {"id_token": token, "evse_id": evse}})
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_reserve_refuse_others_use_and_expire(server: Running, version: str) -> None:
    station_id = f"RSV{version.replace('.', '')}"
    services = server.services
    for card in ("CARD-R", "CARD-O", "CARD-E"):
        await services.tokens.create(card)
    async with simulated(server, station_id, version), operator(server) as api:
        assert (await _connectors(server, station_id)) == {1: "Available", 2: "Available"}
        expires = services.clock.now() + timedelta(minutes=5)
        made = await api.post("/reservations", json={
            "station_id": station_id, "evse_id": 1, "id_token": "CARD-R",
            "expires_at": expires.isoformat()})
        assert made.status_code == 201, made.text
        reservation = made.json()
        assert reservation["status"] == "accepted", reservation["reason"]

        # the station reports the connector Reserved; availability says until when
        seen = await until(lambda: _connectors(server, station_id),
                           lambda c: c.get(1) == "Reserved")
        assert seen == {1: "Reserved", 2: "Available"}
        view = (await api.get("/availability", params={"station_id": station_id})).json()
        assert [(p["evse_id"], p["state"]) for p in view["connectors"]] == [
            (1, "reserved"), (2, "available")]
        assert view["connectors"][0]["free_at_basis"] == "reservation_expiry"

        # another token may not charge on the reserved EVSE
        await _remote_start(api, station_id, "CARD-O", 1)

        async def sessions() -> list[Any]:
            page = await _get(api, f"/sessions?station_id={station_id}")
            return list(page["items"])

        others = await until(sessions, lambda s: any(r["id_token"] == "CARD-O" for r in s),
                             within=2.0)
        assert not any(r["id_token"] == "CARD-O" for r in others), "CARD-O charged on EVSE 1"
        assert (await api.get(f"/reservations/{reservation['id']}")).json()[
            "status"] == "accepted"

        # the reserved token starts: the station names the reservation, which is used
        await _remote_start(api, station_id, "CARD-R", 1)
        used = await until(
            lambda: _get(api, f"/reservations/{reservation['id']}"),
            lambda r: r["status"] == "used")
        assert used["status"] == "used", used
        session = await _get(api, f"/sessions/{used['session_id']}")
        assert (session["id_token"], session["evse_id"], session["status"]) == (
            "CARD-R", 1, "active")
        # ... because the station named it (not by our token fallback)
        start = "StartTransaction" if version == "1.6" else "TransactionEvent"

        async def starts() -> list[dict[str, Any]]:
            frames = (await _get(api, f"/stations/{station_id}/messages?limit=200"))["items"]
            return [orjson.loads(f["frame"])[3] for f in frames
                    if f["action"] == start and f["direction"] == "in"]

        named = await until(starts, lambda fs: any(
            f.get("reservationId") == reservation["id"] for f in fs))
        assert any(f.get("reservationId") == reservation["id"] for f in named), named

        # a reservation nobody comes for expires at the station and here
        short = await api.post("/reservations", json={
            "station_id": station_id, "evse_id": 2, "id_token": "CARD-E",
            "expires_at": (services.clock.now() + timedelta(seconds=3)).isoformat()})
        assert short.status_code == 201 and short.json()["status"] == "accepted", short.text
        await until(lambda: _connectors(server, station_id), lambda c: c.get(2) == "Reserved")
        expired = await until(lambda: _get(api, f"/reservations/{short.json()['id']}"),
                              lambda r: r["status"] == "expired", within=15.0)
        assert expired["status"] == "expired", expired
        back = await until(lambda: _connectors(server, station_id),
                           lambda c: c.get(2) == "Available", within=10.0)
        assert back.get(2) == "Available"


async def _get(api: httpx.AsyncClient, path: str) -> Any:
    answer = await api.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()

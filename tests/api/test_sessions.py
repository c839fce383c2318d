from datetime import timedelta
from decimal import Decimal

import pytest

from evcsms.api.schemas import json_number, wh_number
from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.conftest import T0


async def _start(services, station_id, tag="TAG1", minutes=0, meter=Decimal(1000)):
    msg = StartTransaction(station_id, 1, tag, meter, T0 + timedelta(minutes=minutes))
    return (await services.sessions.start_v16(msg)).transaction_id


@pytest.fixture
async def two_stations(client):
    for station_id in ("CP1", "CP2"):
        assert (await client.post("/stations", json={"id": station_id})).status_code == 201


async def test_filter_by_station_returns_only_its_sessions(client, services, two_stations):
    mine = [await _start(services, "CP1", minutes=m) for m in (0, 1)]
    await _start(services, "CP2", minutes=2)
    body = (await client.get("/sessions", params={"station_id": "CP1"})).json()
    assert [s["id"] for s in body["items"]] == sorted(mine, reverse=True)  # newest first
    assert {s["station_id"] for s in body["items"]} == {"CP1"}
    assert body["total"] == 2
    assert (await client.get("/sessions")).json()["total"] == 3


async def test_other_filters_and_pagination(client, services, two_stations):
    first = await _start(services, "CP1", tag="A", minutes=0)
    second = await _start(services, "CP1", tag="B", minutes=10)
    await _start(services, "CP2", tag="A", minutes=20)
    await services.sessions.stop_v16(StopTransaction("CP1", first, Decimal(1500), T0))

    async def ids(**params):
        return [s["id"] for s in (await client.get("/sessions", params=params)).json()["items"]]

    assert await ids(id_token="B") == [second]
    assert await ids(status="completed") == [first]
    assert len(await ids(status="active")) == 2
    after = (T0 + timedelta(minutes=5)).isoformat()
    before = (T0 + timedelta(minutes=15)).isoformat()
    assert await ids(started_after=after, started_before=before) == [second]
    assert await ids(started_before="2026-03-02T09:00:00Z") == []
    page = (await client.get("/sessions", params={"limit": 1, "offset": 1})).json()
    assert (len(page["items"]), page["total"], page["limit"], page["offset"]) == (1, 3, 1, 1)
    assert page["items"][0]["id"] == second


async def test_bad_filters_are_422(client):
    response = await client.get("/sessions", params={"started_after": "2026-03-02T09:00:00"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "query parameter started_after: Input should have timezone info"
    )
    response = await client.get("/sessions", params={"status": "paused"})
    assert response.status_code == 422
    assert "'active' or 'completed'" in response.json()["detail"]


async def test_detail_has_energy_and_meter_values(client, services, two_stations):
    session_id = await _start(services, "CP1")
    samples = [
        SampledValue(T0 + timedelta(minutes=1), Decimal("1.2345678"), unit="kWh",
                     context="Sample.Periodic", signed_data="OCMF|{...}"),
        SampledValue(T0 + timedelta(minutes=1), Decimal("230.1"), measurand="Voltage",
                     unit="V", phase="L1-N"),
    ]
    await services.sessions.meter_values("CP1", 1, samples, transaction_id=session_id)
    await services.sessions.stop_v16(
        StopTransaction("CP1", session_id, Decimal("1734.5678"), T0 + timedelta(minutes=2))
    )
    response = await client.get(f"/sessions/{session_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert (body["meter_start_wh"], body["meter_stop_wh"]) == (1000, 1734.568)
    assert body["energy_wh"] == 734.568
    assert body["energy_wh_exact"] == "734.5678"  # same text on SQLite and PostgreSQL
    assert body["stopped_at"] == "2026-03-02T09:02:00Z"
    assert body["stop_reason"] == "Local"
    assert body["meter_anomalies"] == []
    assert body["meter_values"] == [
        {"timestamp": "2026-03-02T09:01:00Z", "measurand": "Energy.Active.Import.Register",
         "phase": None, "location": None, "context": "Sample.Periodic", "unit": "kWh",
         "value": 1.2345678, "signed": "OCMF|{...}"},
        {"timestamp": "2026-03-02T09:01:00Z", "measurand": "Voltage", "phase": "L1-N",
         "location": None, "context": None, "unit": "V", "value": 230.1, "signed": None},
    ]
    listed = (await client.get("/sessions")).json()["items"][0]
    assert "meter_values" not in listed
    assert listed["energy_wh"] == 734.568
    assert '"energy_wh":734.568,' in (await client.get("/sessions")).text


async def test_unknown_or_bad_session_id(client):
    response = await client.get("/sessions/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "session 999 not found"}
    assert (await client.get("/sessions/0")).status_code == 422
    assert (await client.get(f"/sessions/{2**63}")).status_code == 422
    assert (await client.get("/sessions/abc")).status_code == 422


def test_decimal_numbers_render_exactly():
    assert wh_number(Decimal("12.0000")) == 12 and isinstance(wh_number(Decimal("12.0")), int)
    assert wh_number(Decimal("0.0005")) == 0  # half-even to 0.001 Wh
    assert repr(wh_number(Decimal("123456789012.345678"))) == "123456789012.346"
    assert json_number(Decimal("1E+3")) == 1000
    assert repr(json_number(Decimal("0.1"))) == "0.1"

"""Fault thresholds over the API, and the rules applying each station's own thresholds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from evcsms.domain.metering import SampledValue


async def test_operators_set_thresholds_per_scope_and_see_what_applies(client, services):
    await client.post("/stations", json={"id": "CP1"})
    await client.put("/sites/WEAK-GRID", json={"name": "Weak grid", "time_zone": "Europe/Amsterdam"})
    await client.put("/stations/CP1/site", json={"site_id": "WEAK-GRID"})
    put = await client.put("/fault-thresholds/default", json={"values": {"max_temperature": 60}})
    assert put.status_code == 200 and put.json()["values"] == {"max_temperature": "60"}
    assert put.json()["updated_by"] == "op"
    assert (await client.put("/fault-thresholds/site/WEAK-GRID",
                             json={"values": {"voltage_tolerance": "0.15"}})).status_code == 200
    assert (await client.put("/fault-thresholds/station/CP1",
                             json={"values": {"rated_current_a": "16"}})).status_code == 200
    listed = (await client.get("/fault-thresholds")).json()
    assert [(s["scope"], s["scope_id"]) for s in listed["scopes"]] == [
        ("default", ""), ("site", "WEAK-GRID"), ("station", "CP1")]
    assert {f["name"]: f["builtin"] for f in listed["fields"]}["voltage_tolerance"] == "0.10"

    applied = (await client.get("/stations/CP1/fault-thresholds")).json()
    assert applied["values"]["voltage_tolerance"] == "0.15"
    assert applied["values"]["max_temperature"] == "60"
    assert applied["values"]["rated_current_a"] == "16"
    assert applied["sources"]["voltage_tolerance"] == "site"
    assert applied["sources"]["max_temperature"] == "default"
    assert applied["sources"]["rated_current_a"] == "station"
    assert applied["sources"]["nominal_voltage"] == "builtin"

    assert (await client.delete("/fault-thresholds/site/WEAK-GRID")).status_code == 204
    after = (await client.get("/stations/CP1/fault-thresholds")).json()
    assert after["values"]["voltage_tolerance"] == "0.10"
    assert (await client.delete("/fault-thresholds/site/WEAK-GRID")).status_code == 404


async def test_bad_thresholds_are_refused_with_the_field_named(client, services):
    await client.post("/stations", json={"id": "CP1"})
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        ("/fault-thresholds/default", {"values": {"voltage_tolerance": "2"}}, 422,
         "voltage_tolerance: must be from 0.001 to 0.5"),
        ("/fault-thresholds/default", {"values": {"heartbeat_miss": 3}}, 422,
         "heartbeat_miss: unknown threshold"),
        ("/fault-thresholds/station/CP404", {"values": {}}, 404, "station 'CP404' does not exist"),
        ("/fault-thresholds/site/NOWHERE", {"values": {}}, 404, "site 'NOWHERE' does not exist"),
    ]
    for url, body, status, words in cases:
        response = await client.put(url, json=body)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
    assert (await client.put("/fault-thresholds/planet/X", json={"values": {}})).status_code == 422
    assert (await client.get("/stations/CP404/fault-thresholds")).status_code == 404
    assert (await client.get("/fault-thresholds")).json()["scopes"] == []  # nothing half-stored


async def test_model_thresholds_apply_to_every_station_of_that_model(client, services):
    """A rating set for a model wires `over_current`; a wider voltage band for a site
    silences what would be out of band elsewhere."""
    from evcsms.services.stations import BootInfo

    for station in ("CP1", "CP2"):
        await client.post("/stations", json={"id": station})
    await services.stations.boot("CP1", BootInfo("V", "AC22", None, None, None, "1.6", {}))
    await services.stations.boot("CP2", BootInfo("V", "DC50", None, None, None, "1.6", {}))
    await client.put("/fault-thresholds/model/AC22", json={"values": {"rated_current_a": 32}})
    now = services.clock.now()

    def frame(amps: str, volts: str) -> list[SampledValue]:
        return [SampledValue(now - timedelta(seconds=10), Decimal(amps), "Current.Import", "A",
                             phase=phase) for phase in ("L1", "L2", "L3")] + [
            SampledValue(now - timedelta(seconds=10), Decimal(volts), "Voltage", "V", phase="L1-N")]

    await services.sessions.meter_values("CP1", 1, frame("40", "230"))
    await services.sessions.meter_values("CP2", 1, frame("40", "230"))  # no rating known: fine
    assert await services.diagnostics.check_meter_values(services.clock.now()) == 1
    [over] = (await services.incidents.list(kind="over_current", limit=10, offset=0))[0]
    assert over.station_id == "CP1" and "above the 32 A rating" in over.message

    await client.put("/sites/S", json={"name": "S", "time_zone": "UTC"})
    await client.put("/stations/CP2/site", json={"site_id": "S"})
    await client.put("/fault-thresholds/site/S", json={"values": {"voltage_tolerance": "0.2"}})
    await services.sessions.meter_values("CP1", 2, frame("16", "190"))
    await services.sessions.meter_values("CP2", 2, frame("16", "190"))
    assert await services.diagnostics.check_meter_values(services.clock.now()) == 1
    [low] = (await services.incidents.list(kind="voltage_out_of_band", limit=10, offset=0))[0]
    assert low.station_id == "CP1"  # 190 V is within CP2's site band of 184-276 V

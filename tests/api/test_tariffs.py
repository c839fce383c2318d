"""Tariffs over the API: versions, assignments and their precedence, and session costs."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


def tariff(tariff_id: str = "AC-1", energy: str = "0.30", **extra: Any) -> str:
    """OCPI tariff JSON text (numbers written exactly as given)."""
    return (
        f'{{"id": "{tariff_id}", "currency": "EUR", "country_code": "NL", "party_id": "EVC",'
        f' "elements": [{{"price_components": ['
        f'{{"type": "FLAT", "price": 0.50, "vat": 21, "step_size": 1}},'
        f'{{"type": "ENERGY", "price": {energy}, "vat": 21, "step_size": 1}},'
        f'{{"type": "PARKING_TIME", "price": 6.00, "vat": 21, "step_size": 300}}]}}]'
        + "".join(f', "{k}": {json.dumps(v)}' for k, v in extra.items()) + "}"
    )


async def put(client, tariff_id: str, text: str):
    return await client.put(f"/tariffs/{tariff_id}", content=text,
                            headers={"content-type": "application/json"})


async def test_versions_are_added_only_for_changes(client):
    first = await put(client, "AC-1", tariff())
    assert first.status_code == 201
    assert first.json()["version"] == 1 and first.json()["new_version"] is True
    same = await put(client, "AC-1", tariff(last_updated="2026-03-02T09:00:00Z"))
    assert same.status_code == 200 and same.json()["version"] == 1
    changed = await put(client, "AC-1", tariff(energy="0.3125"))
    assert changed.status_code == 201 and changed.json()["version"] == 2
    # numbers come back digit for digit (no float on the way)
    latest = await client.get("/tariffs/AC-1")
    assert '"price": 0.3125' in latest.text
    assert (await client.get("/tariffs/AC-1", params={"version": 1})).json()["elements"][0][
        "price_components"][1]["price"] == 0.30
    versions = (await client.get("/tariffs/AC-1/versions")).json()
    assert [v["version"] for v in versions] == [1, 2]
    listed = (await client.get("/tariffs")).json()
    assert listed["total"] == 1 and listed["items"][0]["version"] == 2


@pytest.mark.parametrize(("text", "message"), [
    ('{"id": "AC-1", "currency": "EUR", "elements": []}', "elements"),
    ('{"id": "OTHER", "currency": "EUR", "elements": []}', "id: 'OTHER' differs"),
    ('{"currency": "EUR", "elements": [{"price_components": [{"type": "TIME", "price": 1, '
     '"step_size": 1}], "restrictions": {"day_of_week": ["FUNDAY"]}}]}',
     r"elements\[0\].restrictions.day_of_week"),
    ("not json", "body: not JSON"),
])
async def test_invalid_tariffs_are_refused_naming_the_field(client, text, message):
    response = await put(client, "AC-1", text)
    assert response.status_code == 422
    assert re.search(message, response.json()["detail"]), response.json()
    assert (await client.get("/tariffs/AC-1")).status_code == 404


async def test_assignment_precedence_group_station_site_default(client, services):
    for tid in ("DEFAULT", "SITE", "STATION", "GROUP"):
        assert (await put(client, tid, tariff(tid))).status_code == 201
    assert (await client.post("/stations", json={"id": "CP1"})).status_code == 201
    assert (await client.post("/id-tokens", json={"token": "CARD1", "group_id": "FLEET-A"})
            ).status_code == 201
    assert (await client.get("/stations/CP1/tariff")).status_code == 404

    async def chosen(**params: str) -> tuple[str, str]:
        body = (await client.get("/stations/CP1/tariff", params=params)).json()
        return body["scope"], body["tariff_id"]

    assert (await client.put("/tariff-assignments/default", json={"tariff_id": "DEFAULT"})
            ).status_code == 200
    assert await chosen() == ("default", "DEFAULT")
    assert (await client.put("/sites/HARBOUR", json={"name": "Harbour", "time_zone":
                                                    "Europe/Amsterdam"})).status_code == 200
    assert (await client.put("/stations/CP1/site", json={"site_id": "HARBOUR"})).status_code == 204
    assert (await client.put("/tariff-assignments/site/HARBOUR", json={"tariff_id": "SITE"})
            ).status_code == 200
    assert await chosen() == ("site", "SITE")
    assert (await client.put("/tariff-assignments/station/CP1", json={"tariff_id": "STATION"})
            ).status_code == 200
    assert await chosen() == ("station", "STATION")
    assert (await client.put("/tariff-assignments/group/FLEET-A", json={"tariff_id": "GROUP"})
            ).status_code == 200
    assert await chosen(id_token="CARD1") == ("group", "GROUP")
    assert await chosen(id_token="SOMEONE-ELSE") == ("station", "STATION")
    assert (await client.delete("/tariff-assignments/station/CP1")).status_code == 204
    assert await chosen() == ("site", "SITE")
    assert len((await client.get("/tariff-assignments")).json()) == 3


async def test_expired_tariffs_are_skipped(client):
    await client.post("/stations", json={"id": "CP1"})
    await put(client, "OLD", tariff("OLD", end_date_time="2026-01-01T00:00:00Z"))
    await put(client, "FALLBACK", tariff("FALLBACK"))
    await client.put("/tariff-assignments/station/CP1", json={"tariff_id": "OLD"})
    await client.put("/tariff-assignments/default", json={"tariff_id": "FALLBACK"})
    assert (await client.get("/stations/CP1/tariff")).json()["tariff_id"] == "FALLBACK"


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/tariff-assignments/planet/X", {"tariff_id": "AC-1"}, 422, "scope: 'planet'"),
    ("/tariff-assignments/station/NOPE", {"tariff_id": "AC-1"}, 404, "station 'NOPE'"),
    ("/tariff-assignments/site/NOPE", {"tariff_id": "AC-1"}, 404, "site 'NOPE'"),
    ("/tariff-assignments/default", {"tariff_id": "MISSING"}, 404, "tariff 'MISSING'"),
    ("/sites/S1", {"time_zone": "Europe/Atlantis"}, 422, "time_zone: 'Europe/Atlantis'"),
])
async def test_bad_assignments_and_sites(client, path, body, status, message):
    await put(client, "AC-1", tariff())
    response = await client.put(path, json=body)
    assert response.status_code == status
    assert message in response.json()["detail"]


async def _charge(services, tag: str = "CARD1") -> int:
    """14 kWh in the first hour, then 40 minutes connected without energy."""
    start = await services.sessions.start_v16(StartTransaction("CP1", 1, tag, Decimal(1000), T0))
    tx = start.transaction_id
    for minutes, wh in ((30, 8000), (60, 15000), (90, 15000)):
        await services.sessions.meter_values(
            "CP1", 1, [SampledValue(T0 + timedelta(minutes=minutes), Decimal(wh), REGISTER, "Wh")],
            transaction_id=tx)
    return tx


async def test_a_finished_session_costs_what_its_tariff_version_says(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await client.put("/sites/HARBOUR", json={"time_zone": "Europe/Amsterdam"})
    await client.put("/stations/CP1/site", json={"site_id": "HARBOUR"})
    await put(client, "AC-1", tariff())
    await client.put("/tariff-assignments/default", json={"tariff_id": "AC-1"})
    tx = await _charge(services)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx, Decimal(15000), T0 + timedelta(minutes=100)))

    cost = (await client.get(f"/sessions/{tx}/cost")).json()
    # start 0.50 + 14 kWh x 0.30 + 40 min parked x 6.00/h = 8.70; 21 % VAT: 10.527 -> 10.53
    assert cost["final"] is True and cost["tariff_id"] == "AC-1" and cost["tariff_version"] == 1
    assert cost["total_cost"] == {"excl_vat": 8.70, "incl_vat": 10.53}
    assert cost["total_energy_cost"] == {"excl_vat": 4.20, "incl_vat": 5.08}
    assert cost["total_parking_cost"] == {"excl_vat": 4.00, "incl_vat": 4.84}
    assert cost["total_energy"] == 14 and cost["total_parking_time"] == pytest.approx(2 / 3, abs=1e-6)
    assert cost["time_zone"] == "Europe/Amsterdam"

    # a new version changes nothing for this session, but applies to the next one
    await put(client, "AC-1", tariff(energy="0.50"))
    assert (await client.get(f"/sessions/{tx}/cost")).json()["total_cost"]["excl_vat"] == 8.70
    second = await services.sessions.start_v16(
        StartTransaction("CP1", 2, "CARD1", Decimal(15000), T0 + timedelta(minutes=120)))
    assert (await client.get(f"/sessions/{second.transaction_id}/cost")).json()[
        "tariff_version"] == 2


async def test_a_running_session_has_a_cost_so_far(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await put(client, "AC-1", tariff())
    await client.put("/tariff-assignments/default", json={"tariff_id": "AC-1"})
    tx = await _charge(services)
    clock.advance(3600)  # now T0 + 60 min: 14 kWh so far, no parking yet
    cost = (await client.get(f"/sessions/{tx}/cost")).json()
    assert cost["final"] is False
    assert cost["total_cost"]["excl_vat"] == 4.70  # 0.50 + 14 x 0.30


async def test_a_session_without_a_tariff_has_no_cost(client, services):
    await client.post("/stations", json={"id": "CP1"})
    tx = await _charge(services)
    response = await client.get(f"/sessions/{tx}/cost")
    assert response.status_code == 404 and "no tariff" in response.json()["detail"]
    assert (await client.get("/sessions/999999/cost")).status_code == 404


# -- CDRs --------------------------------------------------------------------------------------


async def _finished_session(client, services) -> int:
    await client.post("/stations", json={"id": "CP1"})
    await client.post("/id-tokens", json={"token": "CARD1"})
    await client.put("/sites/HARBOUR", json={"name": "Harbour", "time_zone": "Europe/Amsterdam"})
    await client.put("/stations/CP1/site", json={"site_id": "HARBOUR"})
    await put(client, "AC-1", tariff())
    await client.put("/tariff-assignments/default", json={"tariff_id": "AC-1"})
    tx = await _charge(services)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx, Decimal(15000), T0 + timedelta(minutes=100)))
    return tx


async def _cdr_of(client, tx: int) -> Any:
    for _ in range(100):  # issued by the "session ended" event, off the OCPP path
        response = await client.get(f"/sessions/{tx}/cdr")
        if response.status_code == 200:
            return response.json()
        await asyncio.sleep(0.02)
    raise AssertionError(f"no CDR for session {tx}: {response.json()}")


async def test_a_finished_session_gets_an_immutable_ocpi_cdr(client, services):
    tx = await _finished_session(client, services)
    cdr = await _cdr_of(client, tx)
    assert cdr["id"] == f"S{tx:012d}" and cdr["session_id"] == str(tx)
    assert cdr["total_cost"] == {"excl_vat": 8.70, "incl_vat": 10.53}
    assert cdr["total_energy"] == 14 and cdr["currency"] == "EUR" and cdr["credit"] is False
    assert cdr["cdr_token"]["uid"] == "CARD1" and cdr["cdr_token"]["type"] == "RFID"
    assert cdr["auth_method"] == "WHITELIST"
    assert cdr["cdr_location"]["id"] == "HARBOUR" and cdr["cdr_location"]["evse_uid"] == "CP1-1"
    assert [t["id"] for t in cdr["tariffs"]] == ["AC-1"]
    kinds = [[d["type"] for d in p["dimensions"]] for p in cdr["charging_periods"]]
    assert kinds[-1] == ["PARKING_TIME"] and "ENERGY" in kinds[0]
    # issuing again, or changing the tariff, changes nothing
    again = await services.cdrs.issue(tx)
    assert again == json.loads((await client.get(f"/sessions/{tx}/cdr")).text,
                               parse_float=Decimal)
    await put(client, "AC-1", tariff(energy="0.99"))
    assert (await client.get(f"/sessions/{tx}/cdr")).json() == cdr
    assert (await client.get("/cdrs")).json()["total"] == 1


async def test_a_correction_credits_the_cdr_and_issues_a_new_one(client, services, clock):
    tx = await _finished_session(client, services)
    original = await _cdr_of(client, tx)
    # a meter value for the session arrives late: 2 kWh more than the stop value said
    await services.sessions.meter_values(
        "CP1", 1, [SampledValue(T0 + timedelta(minutes=95), Decimal(17000), REGISTER, "Wh")],
        transaction_id=tx)
    clock.advance(3600)
    response = await client.post(f"/sessions/{tx}/cdr/corrections",
                                 json={"reason": "meter values arrived after the stop"})
    assert response.status_code == 201, response.json()
    credit, fresh = response.json()["credit"], response.json()["cdr"]
    assert credit["credit"] is True and credit["credit_reference_id"] == original["id"]
    assert credit["total_cost"] == {"excl_vat": -8.70, "incl_vat": -10.53}
    assert fresh["id"] == f"S{tx:012d}-R1" and fresh["credit"] is False
    assert (await client.get(f"/sessions/{tx}/cdr")).json()["id"] == fresh["id"]
    listed = (await client.get("/cdrs")).json()
    assert [c["id"] for c in listed["items"]] == [original["id"], credit["id"], fresh["id"]]
    csv_text = (await client.get("/cdrs.csv")).text.splitlines()
    assert csv_text[0].startswith("id,session_id,credit,")
    assert len(csv_text) == 4 and ",true," in csv_text[2] and ",-8.70," in csv_text[2]


async def test_cdr_errors(client, services):
    await client.post("/stations", json={"id": "CP1"})
    tx = await _charge(services)  # still running
    assert (await client.get(f"/sessions/{tx}/cdr")).status_code == 404
    response = await client.post(f"/sessions/{tx}/cdr/corrections", json={"reason": "x"})
    assert response.status_code == 404
    assert (await client.post(f"/sessions/{tx}/cdr/corrections", json={})).status_code == 422


async def test_receipts_html_and_pdf_with_sequential_numbers(client, services):
    tx = await _finished_session(client, services)
    await _cdr_of(client, tx)
    html = await client.get(f"/sessions/{tx}/receipt")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    page = html.text
    assert "Receipt NLEVC-000001" in page
    assert "8.70 EUR" in page and "10.53 EUR" in page  # totals excl./incl. VAT
    assert "1.000 kWh" in page and "15.000 kWh" in page  # meter at start and stop
    assert "14 kWh" in page and "0.30 EUR" in page and "21%" in page  # energy line: rate, VAT
    assert "Parking time" in page and "Start fee" in page
    assert "Europe/Amsterdam" in page and "10:00:00 CET" in page  # 09:00Z in local time
    assert "*ARD1" in page and "CARD1" not in page  # the token is masked
    pdf = await client.get(f"/sessions/{tx}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    # a correction issues a credit note and a new receipt: numbers 2 and 3, no gap
    await client.post(f"/sessions/{tx}/cdr/corrections", json={"reason": "re-read meter"})
    assert "Receipt NLEVC-000003" in (await client.get(f"/sessions/{tx}/receipt")).text


async def test_no_receipt_before_the_cdr(client, services):
    await client.post("/stations", json={"id": "CP1"})
    tx = await _charge(services)
    response = await client.get(f"/sessions/{tx}/receipt")
    assert response.status_code == 404 and "no receipt" in response.json()["detail"]
    assert (await client.get(f"/sessions/{tx}/receipt.pdf")).status_code == 404


async def test_meter_keys_are_checked(client):
    from tests.services.test_signatures import keypair

    await client.post("/stations", json={"id": "CP1"})
    _, key = keypair()
    assert (await client.put("/stations/CP1/meter-key", json={"public_key": key})).status_code == 204
    bad = await client.put("/stations/CP1/meter-key", json={"public_key": "abcd"})
    assert bad.status_code == 422 and "public_key" in bad.json()["detail"]
    assert (await client.put("/stations/NOPE/meter-key", json={"public_key": key})).status_code == 404
    assert (await client.put("/stations/CP1/meter-key", json={"public_key": None})).status_code == 204


async def test_cost_updates_opt_in(client, services):
    await client.post("/stations", json={"id": "CP1"})
    assert (await client.put("/stations/CP1/cost-updates", json={"enabled": True})).status_code == 204
    assert (await client.put("/stations/NOPE/cost-updates", json={"enabled": True})).status_code == 404
    assert (await client.put("/stations/CP1/cost-updates", json={})).status_code == 422


async def test_a_receipt_agrees_with_its_cdr_after_late_meter_values(client, services):
    tx = await _finished_session(client, services)
    cdr = await _cdr_of(client, tx)
    await services.sessions.meter_values(
        "CP1", 1, [SampledValue(T0 + timedelta(minutes=95), Decimal(17000), REGISTER, "Wh")],
        transaction_id=tx)
    receipt = await services.receipts.receipt(tx)
    assert receipt.total_excl == "8.70 EUR" and cdr["total_cost"]["excl_vat"] == 8.70
    assert receipt.energy_kwh == "14.000 kWh"
    assert sum(ln.value_excl for ln in receipt.lines) == Decimal("8.70")

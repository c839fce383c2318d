"""Drivers see their own sessions, costs, receipts and monthly totals, and nobody else's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from evcsms.domain.metering import SampledValue
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.api.test_tariffs import put, tariff
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


async def _session(services, tag: str, minutes: int, kwh: int, connector: int = 1) -> int:
    start = T0 + timedelta(minutes=minutes)
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", connector, tag, Decimal(0), start))).transaction_id
    await services.sessions.meter_values(
        "CP1", connector, [SampledValue(start + timedelta(minutes=30), Decimal(kwh * 1000),
                                        REGISTER, "Wh")], transaction_id=tx)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx, Decimal(kwh * 1000), start + timedelta(minutes=30)))
    await services.cdrs.issue(tx)
    return tx


@pytest.fixture
async def setup(client, services, app):
    await client.post("/stations", json={"id": "CP1"})
    for card in ("CARD-A", "CARD-B", "CARD-A2"):
        await client.post("/id-tokens", json={"token": card})
    await put(client, "AC-1", tariff())  # 0.50 start + 0.30/kWh (+ parking), 21 % VAT
    await client.put("/tariff-assignments/default", json={"tariff_id": "AC-1"})
    created = await client.post("/drivers", json={"name": "alice", "tokens": ["CARD-A"]})
    assert created.status_code == 201, created.json()
    bob = (await client.post("/drivers", json={"name": "bob", "tokens": ["CARD-B"]})).json()
    assert (await client.put("/drivers/alice/tokens/CARD-A2")).status_code == 204
    sessions = {
        "alice": [await _session(services, "CARD-A", 0, 10),
                  await _session(services, "CARD-A2", 60, 20, connector=2)],
        "bob": [await _session(services, "CARD-B", 120, 5)],
    }
    transport = httpx.ASGITransport(app=app)

    def as_driver(token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=transport, base_url="http://test/api/v1",
                                 headers={"Authorization": f"Bearer {token}"})

    return as_driver(created.json()["api_token"]), as_driver(bob["api_token"]), sessions


async def test_a_driver_sees_only_their_sessions(setup):
    alice, bob, sessions = setup
    async with alice, bob:
        me = (await alice.get("/me")).json()
        assert me == {"name": "alice", "role": "driver", "tokens": ["CARD-A", "CARD-A2"]}
        listed = (await alice.get("/me/sessions")).json()
        assert [s["id"] for s in listed["items"]] == sorted(sessions["alice"], reverse=True)
        first = next(s for s in listed["items"] if s["id"] == sessions["alice"][0])
        # 0.50 + 10 kWh x 0.30 = 3.50 excl.; 4.235 -> 4.24 incl.
        assert first["cost"] == {"currency": "EUR", "final": True, "excl_vat": 3.50,
                                 "incl_vat": 4.24}
        assert first["energy_wh"] == 10000
        theirs = sessions["bob"][0]
        for path in (f"/me/sessions/{theirs}/receipt", f"/me/sessions/{theirs}/receipt.pdf",
                     f"/me/sessions/{theirs}/cost"):
            response = await alice.get(path)
            assert response.status_code == 404, path
            assert response.json()["detail"] == f"session {theirs} not found"
        assert (await bob.get(f"/me/sessions/{theirs}/receipt")).status_code == 200
        pdf = await alice.get(f"/me/sessions/{sessions['alice'][1]}/receipt.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert [s["id"] for s in (await bob.get("/me/sessions")).json()["items"]] == [theirs]


async def test_monthly_spending_nets_out_corrections(setup, client):
    alice, bob, sessions = setup
    async with alice, bob:
        months = (await alice.get("/me/spending")).json()
        # 3.50 + (0.50 + 20 x 0.30 = 6.50) = 10.00 excl.; 4.24 + 7.87 = 12.11 incl.
        assert months == [{"month": "2026-03", "currency": "EUR", "sessions": 2,
                           "energy_kwh": 30, "total_excl_vat": 10.00, "total_incl_vat": 12.11}]
        await client.post(f"/sessions/{sessions['alice'][0]}/cdr/corrections",
                          json={"reason": "checked"})
        again = (await alice.get("/me/spending")).json()
        assert again[0]["total_excl_vat"] == 10.00 and again[0]["energy_kwh"] == 30
        assert (await alice.get("/me/spending", params={"year": 2025})).json() == []


async def test_roles_are_kept_apart(setup, client):
    alice, bob, _ = setup
    async with alice, bob:
        for path in ("/sessions", "/stations", "/cdrs", "/tariffs"):
            assert (await alice.get(path)).status_code == 403, path
        assert (await alice.post("/drivers", json={"name": "mallory"})).status_code == 403
    assert (await client.get("/me/sessions")).status_code == 403  # an operator is no driver


async def test_drivers_need_existing_tokens(client):
    response = await client.post("/drivers", json={"name": "carol", "tokens": ["NOPE"]})
    assert response.status_code == 404 and "NOPE" in response.json()["detail"]
    assert (await client.put("/drivers/nobody/tokens/NOPE")).status_code == 404


async def test_monthly_statements(setup, client):
    alice, bob, sessions = setup
    async with alice, bob:
        html = await alice.get("/me/statements/2026-03")
        assert html.status_code == 200
        assert html.text.count("NLEVC-") == 2  # alice's two receipts, not bob's
        assert "3.50 EUR" in html.text and "6.50 EUR" in html.text and "10.00 EUR" in html.text
        pdf = await alice.get("/me/statements/2026-03.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert "No charging sessions" in (await alice.get("/me/statements/2026-04")).text
        assert (await alice.get("/me/statements/2026-13")).status_code == 422
    by_operator = await client.get("/drivers/bob/statements/2026-03")
    assert by_operator.status_code == 200 and by_operator.text.count("NLEVC-") == 1
    assert (await client.get("/drivers/nobody/statements/2026-03")).status_code == 404

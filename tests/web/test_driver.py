"""The drivers' portal (/ui/me/...): each driver sees only their own tokens, sessions,
receipts and spending; another driver's session is the same 404 as a missing one."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.web.common import money
from tests.conftest import T0
from tests.web.conftest import PASSWORD, log_in

REGISTER = "Energy.Active.Import.Register"
TARIFF = {"id": "AC-1", "currency": "EUR", "country_code": "NL", "party_id": "EVC",
          "elements": [{"price_components": [
              {"type": "FLAT", "price": Decimal("0.50"), "vat": Decimal(21), "step_size": 1},
              {"type": "ENERGY", "price": Decimal("0.30"), "vat": Decimal(21), "step_size": 1},
          ]}]}


@dataclass
class Drivers:
    dana: list[int]  # finished sessions, oldest first
    erik: list[int]
    running: int | None = None  # dana's running session


async def flush(services: Services) -> None:
    await services.writer.submit(lambda conn: asyncio.sleep(0), "test-flush")
    await services.sessions.refresh_energy()


async def finished(services: Services, tag: str, minutes: int, kwh: int,
                   connector: int = 1) -> int:
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


async def make_drivers(services: Services, clock: FrozenClock, *, running: bool = False
                       ) -> Drivers:
    """Station CP1 at site HARBOUR (Europe/Amsterdam) with tariff AC-1 (0.50 + 0.30/kWh,
    21 % VAT); drivers dana (CARD-A, CARD-A2) and erik (CARD-B), each with finished
    sessions; dana optionally charging now on connector 3."""
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")
    await services.tariffs.put_site("HARBOUR", name="Harbour Square",
                                    time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    for card in ("CARD-A", "CARD-A2", "CARD-B"):
        await services.tokens.create(card, expires_at=datetime(2027, 1, 31, tzinfo=UTC)
                                     if card == "CARD-A2" else None)
    await services.tariffs.put(TARIFF)
    await services.tariffs.assign("default", "", "AC-1")
    await services.drivers.create("dana", ["CARD-A", "CARD-A2"])
    await services.drivers.create("erik", ["CARD-B"])
    for name in ("dana", "erik"):
        await services.users.set_password(name, PASSWORD)
    out = Drivers(dana=[await finished(services, "CARD-A", 0, 10),
                        await finished(services, "CARD-A2", 60, 20, connector=2)],
                  erik=[await finished(services, "CARD-B", 120, 5)])
    if running:
        start = T0 + timedelta(hours=3)
        tx = (await services.sessions.start_v16(
            StartTransaction("CP1", 3, "CARD-A", Decimal(1000), start))).transaction_id
        await services.sessions.meter_values(
            "CP1", 3, [SampledValue(start + timedelta(minutes=20), Decimal(5500), REGISTER,
                                    "Wh")], transaction_id=tx)
        out.running = tx
    clock.advance(4 * 3600)
    await flush(services)
    return out


async def as_driver(client: httpx.AsyncClient, name: str) -> httpx.AsyncClient:
    response = await log_in(client, name, PASSWORD)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/me/"
    return client


def session_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-session-id="(\d+)"', html)]


async def test_a_driver_sees_only_their_sessions(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    await as_driver(browser, "dana")
    page = await browser.get("/ui/me/")
    assert page.status_code == 200, page.text
    html = page.text
    assert session_ids(html) == sorted(d.dana, reverse=True)  # newest first, not erik's
    assert "You are not charging right now." in html
    first = re.search(rf'<tr data-session-id="{d.dana[0]}">(.*?)</tr>', html, re.DOTALL)
    assert first
    row = first.group(1)
    assert "Harbour Square" in row
    assert "2026-03-02 10:00 CET" in row  # 09:00 UTC in Amsterdam
    assert "10 kWh" in row
    assert "€4.24" in row  # 0.50 + 10 x 0.30 = 3.50 excl.; 4.235 -> 4.24 incl.
    assert f'href="/ui/me/sessions/{d.dana[0]}"' in row
    assert "CARD-B" not in html


async def test_the_session_page_and_its_receipt(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    await as_driver(browser, "dana")
    page = await browser.get(f"/ui/me/sessions/{d.dana[1]}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "2026-03-02 11:00 CET" in html and "2026-03-02 11:30 CET" in html
    assert "20 kWh" in html
    # 0.50 start + 20 x 0.30 = 6.50 excl.; 7.865 -> 7.87 incl.
    assert re.search(r'data-total-excl>€6.50<', html) and re.search(r'data-total>€7.87<', html)
    assert "Start fee" in html and "Energy" in html
    assert f'href="/ui/me/sessions/{d.dana[1]}/receipt.pdf"' in html
    pdf = await browser.get(f"/ui/me/sessions/{d.dana[1]}/receipt.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == \
        f'attachment; filename="receipt-{d.dana[1]}.pdf"'


async def test_another_drivers_session_is_not_found(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    await as_driver(browser, "dana")
    theirs, missing = d.erik[0], 999_999
    pages = {}
    for session_id in (theirs, missing):
        for suffix in ("", "/receipt.pdf"):
            response = await browser.get(f"/ui/me/sessions/{session_id}{suffix}")
            assert response.status_code == 404, (session_id, suffix)
            pages[(session_id, suffix)] = response.text.replace(f"session {session_id}.",
                                                                "session N.")
    # the same page whether it is erik's or does not exist; nothing of erik's in it
    assert pages[(theirs, "")] == pages[(missing, "")]
    assert pages[(theirs, "/receipt.pdf")] == pages[(missing, "")]
    assert "CARD-B" not in pages[(theirs, "")] and "Harbour" not in pages[(theirs, "")]
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        assert (await browser.get(f"/ui/me/sessions/{bad}")).status_code == 404
    # erik sees his own
    browser.cookies.clear()
    await as_driver(browser, "erik")
    assert (await browser.get(f"/ui/me/sessions/{theirs}")).status_code == 200
    assert session_ids((await browser.get("/ui/me/")).text) == [theirs]


async def test_tokens_page_lists_only_mine(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_drivers(services, clock)
    await services.tokens.update("CARD-A", status="Blocked")
    await as_driver(browser, "dana")
    page = await browser.get("/ui/me/tokens")
    assert page.status_code == 200
    tokens = re.findall(r'<tr data-token="([^"]+)">', page.text)
    assert tokens == ["CARD-A", "CARD-A2"]
    assert re.search(r'data-token="CARD-A">.*?data-token-status="blocked"', page.text, re.DOTALL)
    assert re.search(r'data-token="CARD-A2">.*?data-token-status="valid".*?2027-01-31',
                     page.text, re.DOTALL)


async def test_live_cost_of_a_running_session(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock, running=True)
    assert d.running is not None
    await as_driver(browser, "dana")
    cost = await services.billing.session_cost(d.running)
    assert cost is not None and not cost.final
    expected = cost.quote.total_cost.incl_vat
    assert expected is not None and expected > 0

    live = await browser.get("/ui/me/live")
    assert live.status_code == 200
    data = json.loads(live.text)
    assert [s["id"] for s in data["sessions"]] == [d.running]
    item = data["sessions"][0]
    assert Decimal(item["amount"]) == expected
    assert item["cost"] == money(expected, "EUR")
    assert item["energy"] == "4.5 kWh"  # 5500 - 1000 Wh
    assert item["duration"] == "1 h 00 min"  # started 3 h after T0, now 4 h after

    page = await browser.get("/ui/me/")
    assert f'data-live-session="{d.running}"' in page.text
    assert money(expected, "EUR") in page.text
    assert "/ui/me/live" in page.text  # the page polls it
    assert session_ids(page.text)[0] == d.running  # listed as the newest session too
    detail = await browser.get(f"/ui/me/sessions/{d.running}")
    assert detail.status_code == 200 and "still charging" in detail.text
    assert "receipt.pdf" not in detail.text
    # no receipt before the end
    assert (await browser.get(f"/ui/me/sessions/{d.running}/receipt.pdf")).status_code == 404

    browser.cookies.clear()
    await as_driver(browser, "erik")
    assert json.loads((await browser.get("/ui/me/live")).text) == {"sessions": []}


async def test_spending_per_month(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    await as_driver(browser, "dana")
    months = await services.drivers.monthly(await services.drivers.user_id("dana"))
    assert [(m.month, m.total_incl_vat) for m in months] == [("2026-03", Decimal("12.11"))]
    page = await browser.get("/ui/me/spending")
    assert page.status_code == 200
    html = page.text
    row = re.search(r'<tr data-month="2026-03" data-currency="EUR">(.*?)</tr>', html, re.DOTALL)
    assert row, html
    amount = re.search(r'data-amount="([^"]+)"', row.group(1))
    assert amount and Decimal(amount.group(1)) == Decimal("12.11")
    assert "€12.11" in row.group(1)
    assert "30 kWh" in row.group(1)
    assert 'href="/ui/me/statements/2026-03.pdf"' in row.group(1)
    assert re.search(r'data-chart="spending-EUR"[^>]*data-bars="12"', html)
    bars = re.findall(r'<rect class="bar series-0" data-label="(\w+)" data-value="([^"]+)"', html)
    assert [label for label, _ in bars] == ["Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                            "Nov", "Dec", "Jan", "Feb", "Mar"]
    assert [Decimal(v) for _, v in bars] == [Decimal(0)] * 11 + [Decimal("12.11")]
    assert "Apr 2025 to Mar 2026" in html
    statement = await browser.get("/ui/me/statements/2026-03.pdf")
    assert statement.status_code == 200 and statement.content.startswith(b"%PDF")
    assert (await browser.get("/ui/me/statements/2026-13.pdf")).status_code == 404
    assert len(d.erik) == 1
    browser.cookies.clear()
    await as_driver(browser, "erik")
    erik = (await browser.get("/ui/me/spending")).text
    erik_amount = re.search(r'data-month="2026-03".*?data-amount="([^"]+)"', erik, re.DOTALL)
    assert erik_amount and Decimal(erik_amount.group(1)) == Decimal("2.42")  # 2.00 excl.


async def test_availability_of_sites(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_drivers(services, clock)
    from evcsms.services.stations import ConnectorStatus
    await services.stations.set_connected("CP1", True, "node-1")
    for evse, status in ((1, "Available"), (2, "Charging"), (3, "Faulted")):
        await services.stations.connector_status("CP1", ConnectorStatus(evse, 1, status),
                                                 clock.now())
    await as_driver(browser, "dana")
    page = await browser.get("/ui/me/availability")
    assert page.status_code == 200, page.text
    card = re.search(r'data-site="HARBOUR">(.*?)</li>\s*</ul>', page.text, re.DOTALL)
    assert card, page.text
    assert "Harbour Square" in card.group(1)
    counts = dict(re.findall(r'data-(available|occupied|out)>(\d+)<', card.group(1)))
    assert counts == {"available": "1", "occupied": "1", "out": "1"}
    one = await browser.get("/ui/me/availability", params={"site": "HARBOUR"})
    assert one.status_code == 200
    assert re.findall(r'<tr data-port="([^"]+)">', one.text) == ["CP1-1-1", "CP1-2-1", "CP1-3-1"]
    assert (await browser.get("/ui/me/availability", params={"site": "NOPE"})).status_code == 404
    assert (await browser.get("/ui/me/availability", params={"page": "x"})).status_code == 400


async def test_roles_and_login(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock,
        operator: str) -> None:
    d = await make_drivers(services, clock)
    # not logged in: the login form
    for path in ("/ui/me/", "/ui/me/tokens", "/ui/me/spending", "/ui/me/availability",
                 f"/ui/me/sessions/{d.dana[0]}", f"/ui/me/sessions/{d.dana[0]}/receipt.pdf"):
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/ui/login"
    assert (await browser.get("/ui/me/live")).status_code == 401
    # a driver lands on /ui/me/ and may not see the fleet
    await as_driver(browser, "dana")
    assert (await browser.get("/ui/")).status_code == 403
    assert (await browser.get("/ui/me")).headers["location"] == "/ui/me/"
    assert (await browser.get("/ui/me/?page=0")).status_code == 400
    # an operator is no driver
    browser.cookies.clear()
    response = await log_in(browser, operator, PASSWORD)
    assert response.headers["location"] == "/ui/"
    for path in ("/ui/me/", "/ui/me/spending", f"/ui/me/sessions/{d.dana[0]}", "/ui/me/live",
                 f"/ui/me/sessions/{d.dana[0]}/receipt.pdf"):
        assert (await browser.get(path)).status_code == 403, path


async def test_the_session_list_is_paginated(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    for i in range(50):  # 52 of dana's in all
        start = T0 + timedelta(hours=5, minutes=i)
        tx = (await services.sessions.start_v16(
            StartTransaction("CP1", 1, "CARD-A2", Decimal(0), start))).transaction_id
        await services.sessions.stop_v16(StopTransaction("CP1", tx, Decimal(0), start))
    await as_driver(browser, "dana")
    first = await browser.get("/ui/me/")
    assert len(session_ids(first.text)) == 50
    assert "Page 1 of 2" in first.text and 'href="/ui/me/?page=2"' in first.text
    second = await browser.get("/ui/me/?page=2")
    assert session_ids(second.text) == sorted(d.dana, reverse=True)  # the oldest two
    assert 'href="/ui/me/?page=1"' in second.text
    assert session_ids((await browser.get("/ui/me/?page=3")).text) == []

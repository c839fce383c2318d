"""The sessions pages in Debian's Chromium: a session charged over a real OCPP 1.6
connection (raw WebSocket), found by filtering the list, opened with its charts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.api.conftest import flush
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.conftest import T0
from tests.integration.conftest import Running, open_station, rpc

pytestmark = [pytest.mark.slow, LOOP]

REGISTER = "Energy.Active.Import.Register"
TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "FLAT", "price": Decimal("0.50"), "vat": Decimal(21), "step_size": 1},
    {"type": "ENERGY", "price": Decimal("0.30"), "vat": Decimal(21), "step_size": 1}]}]}


async def priced_fleet(services: Services) -> None:
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.put(TARIFF)
    await services.tariffs.assign("default", "", "AC-1")
    await services.tokens.create("CARD1")


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def test_an_operator_filters_sessions_and_opens_a_finished_one(
        node: Running, page: Page, services: Services):
    password = "a-long-station-password-1"
    await services.stations.create("CP1", password=password, description="Harbour, bay 1")
    await services.stations.create("CP2", password=None)
    await priced_fleet(services)
    await services.tariffs.place_station("CP1", "HARBOUR")
    await services.sessions.start_v16(StartTransaction("CP2", 1, "OTHER", Decimal(0), T0))
    ws = await open_station(node, "CP1", password=password)
    try:
        boot = await rpc(ws, [2, "b1", "BootNotification", {
            "chargePointVendor": "V", "chargePointModel": "M"}])
        assert boot[2]["status"] == "Accepted"
        start = await rpc(ws, [2, "s1", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD1", "meterStart": 1000, "timestamp": at(0)}])
        tx = start[2]["transactionId"]
        for i, (minutes, wh, w) in enumerate(((15, 4500, 14000), (30, 8000, 14000),
                                              (45, 11500, 14000), (60, 15000, 0))):
            answer = await rpc(ws, [2, f"m{i}", "MeterValues", {
                "connectorId": 1, "transactionId": tx, "meterValue": [{
                    "timestamp": at(minutes), "sampledValue": [
                        {"value": str(wh), "measurand": "Energy.Active.Import.Register",
                         "unit": "Wh"},
                        {"value": str(w), "measurand": "Power.Active.Import", "unit": "W"}]}]}])
            assert answer[0] == 3
        stop = await rpc(ws, [2, "t1", "StopTransaction", {
            "transactionId": tx, "meterStop": 15000, "timestamp": at(70),
            "reason": "EVDisconnected"}])
        assert stop[0] == 3
    finally:
        await ws.close()
    await flush(services)

    await log_in(page, node, services)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    await expect(page).to_have_url(f"{node.http}/ui/sessions")
    await expect(page.locator("#sessions tbody tr[data-session-id]")).to_have_count(2)
    await page.get_by_label("Station").fill("CP1")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(f"{node.http}/ui/sessions?station=CP1&token=&status=&from=&to=")
    rows = page.locator("#sessions tbody tr[data-session-id]")
    await expect(rows).to_have_count(1)
    row = page.locator(f'tr[data-session-id="{tx}"]')
    await expect(row).to_have_attribute("data-status", "finished")
    await expect(row.locator("[data-energy]")).to_have_text("14 kWh")
    await screenshot(page, "sessions-list")

    await row.get_by_role("link", name=str(tx)).click()
    await expect(page).to_have_url(f"{node.http}/ui/sessions/{tx}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Session {tx}")
    await expect(page.locator("[data-energy]")).to_have_text("14 kWh")
    await expect(page.locator("[data-stop-reason]")).to_have_text("EVDisconnected")
    power = page.locator("svg#power-chart")
    await expect(power).to_be_visible()
    await expect(power).to_have_attribute("data-points", "4")
    await expect(power.locator("polyline[data-series]")).to_have_attribute("data-source",
                                                                           "measured")
    await expect(page.locator("svg#energy-chart")).to_have_attribute("data-points", "4")
    # 0.50 + 14 kWh x 0.30 = 4.70, 21 % VAT
    await expect(page.locator("[data-total-incl]")).to_have_text("€5.69")
    await expect(page.locator("[data-started]")).to_have_text("2026-03-02 10:00:00 CET")
    await screenshot(page, "session-detail")


async def test_a_running_session_refreshes_its_figures_and_charts(
        node: Running, page: Page, services: Services, clock: FrozenClock):
    await services.stations.create("CP1", password=None)
    await priced_fleet(services)
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "CARD1", Decimal(1000), T0))).transaction_id

    async def reading(minutes: int, wh: int) -> None:
        await services.sessions.meter_values("CP1", 1, [SampledValue(
            T0 + timedelta(minutes=minutes), Decimal(wh), REGISTER, "Wh")], transaction_id=tx)
        clock.advance(15 * 60)
        await flush(services)

    await reading(15, 4500)
    await log_in(page, node, services)
    await page.clock.install()  # the page's 10 s timer runs when the test says so
    await page.goto(f"{node.http}/ui/sessions/{tx}")
    await expect(page.locator("#live")).to_have_attribute("data-running", "true")
    await expect(page.locator("[data-energy]")).to_have_text("3.5 kWh")
    await expect(page.locator("svg#energy-chart")).to_have_attribute("data-points", "1")
    await expect(page.locator("[data-total-cost]")).to_contain_text("€1.88")  # (0.5+1.05)x1.21

    await reading(30, 8000)
    await page.clock.run_for(10_000)
    await expect(page.locator("[data-energy]")).to_have_text("7 kWh")
    await expect(page.locator("svg#energy-chart")).to_have_attribute("data-points", "2")
    # from the meter start: 0-15 min and 15-30 min
    await expect(page.locator("svg#power-chart")).to_have_attribute("data-points", "2")
    await expect(page.locator("[data-total-cost]")).to_contain_text("€3.15")  # (0.5+2.1)x1.21

    # it ends: the next refresh shows the final figures and stops refreshing
    await services.sessions.stop_v16(StopTransaction("CP1", tx, Decimal(8000),
                                                     T0 + timedelta(minutes=30)))
    await flush(services)
    await page.clock.run_for(10_000)
    await expect(page.locator("#live")).to_have_attribute("data-running", "false")
    await expect(page.locator("#live [data-status]")).to_have_text("finished")
    await expect(page.locator("[data-stopped]")).to_have_text("2026-03-02 09:30:00 UTC")

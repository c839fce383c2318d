"""Billing in Debian's Chromium: the overview with its charts, a tariff in words, a price
preview, and editing the tariff (an invalid value refused, then a new version saved)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.integration.conftest import Running

pytestmark = [pytest.mark.slow, LOOP]

TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "FLAT", "price": Decimal("0.50"), "vat": 21, "step_size": 1},
    {"type": "ENERGY", "price": Decimal("0.30"), "vat": 21, "step_size": 1}]}]}


async def a_billed_session(services: Services, clock: FrozenClock) -> None:
    await services.stations.create("CP1", password=None)
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    await services.tariffs.put(TARIFF)
    await services.tariffs.assign("default", "", "AC-1")
    start = clock.now()
    begun = await services.sessions.start_v16(StartTransaction("CP1", 1, "CARD1", Decimal(0), start))
    tx = begun.transaction_id
    await services.sessions.meter_values("CP1", 1, [SampledValue(
        start + timedelta(minutes=60), Decimal(20000), "Energy.Active.Import.Register", "Wh")],
        transaction_id=tx)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx, Decimal(20000), start + timedelta(minutes=60)))
    assert await services.cdrs.issue(tx) is not None  # 0.50 + 20 kWh x 0.30 = 6.50


async def test_an_operator_reads_billing_previews_a_price_and_edits_a_tariff(
        node: Running, page: Page, services: Services, clock: FrozenClock):
    await a_billed_session(services, clock)
    await log_in(page, node, services)

    await page.get_by_role("link", name="Billing").click()
    await expect(page).to_have_url(f"{node.http}/ui/billing")
    await expect(page.locator("svg#revenue-EUR")).to_be_visible()
    await expect(page.locator("svg#energy rect.bar").last).to_have_attribute("data-value", "20")
    await expect(page.locator('#per-station tr[data-key="CP1"] td.money').first).to_have_text(
        "€6.50")
    await screenshot(page, "billing-overview")

    await page.get_by_role("link", name="Tariffs", exact=True).click()
    await page.get_by_role("link", name="AC-1").click()
    await expect(page).to_have_url(f"{node.http}/ui/billing/tariffs/AC-1")
    await expect(page.locator('tr[data-component="ENERGY"]')).to_contain_text("€0.30 per kWh")

    await page.fill("#pv-start", "2026-03-02T10:00")
    await page.select_option("#pv-zone", "HARBOUR")
    await page.fill("#pv-minutes", "60")
    await page.fill("#pv-kwh", "10")
    await page.get_by_role("button", name="Preview price").click()
    await expect(page.locator("[data-preview-total]")).to_have_text("€3.50")  # 0.50 + 3.00
    await screenshot(page, "tariff-view")

    await page.get_by_role("link", name="Edit (as a new version)").click()
    text = await page.locator("#ocpi").input_value()
    assert json.loads(text)["elements"][0]["price_components"][1]["price"] == 0.30
    await page.fill("#ocpi", text.replace('"price": 0.30', '"price": "cheap"'))
    await page.get_by_role("button", name="Save new version").click()
    await expect(page.locator("#errors")).to_contain_text(
        "elements[0].price_components[1].price: expected a number")
    await expect(page.locator("#ocpi")).to_have_value(
        text.replace('"price": 0.30', '"price": "cheap"'))
    await screenshot(page, "tariff-edit")

    await page.fill("#ocpi", text.replace('"price": 0.30', '"price": 0.35'))
    await page.get_by_role("button", name="Save new version").click()
    await expect(page).to_have_url(f"{node.http}/ui/billing/tariffs/AC-1?saved=2")
    await expect(page.locator("#saved")).to_have_text("Saved as version 2.")
    await expect(page.locator('tr[data-component="ENERGY"]')).to_have_attribute(
        "data-price", "0.35")
    await expect(page.locator('#versions tr[data-version="1"]')).to_be_visible()

"""Driver journeys through the portal (/ui/me/) on a phone-sized screen in Debian's
Chromium: a finished session and its receipt, another driver's session kept out of reach,
and no page wider than the phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StopTransaction
from evcsms.services.stations import ConnectorStatus
from evcsms.web.common import money
from evcsms.web.driver import LIVE_SECONDS
from tests.browser.conftest import LOOP, TIMEOUT_MS, screenshot
from tests.integration.conftest import Running
from tests.web.conftest import PASSWORD
from tests.web.test_driver import REGISTER, Drivers, flush, make_drivers

pytestmark = [pytest.mark.slow, LOOP]

PHONE = {"width": 390, "height": 844}


@pytest_asyncio.fixture(loop_scope="session")
async def phone(browser: Browser, node: Running, request: pytest.FixtureRequest
                ) -> AsyncIterator[Page]:
    """A fresh phone-sized, touch browser context; its screenshot is saved at the end."""
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                        device_scale_factor=2, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    tab = await context.new_page()
    try:
        yield tab
    finally:
        try:
            if not tab.is_closed():
                await screenshot(tab, request.node.name)
        finally:
            await context.close()


async def log_in_as(page: Page, node: Running, name: str) -> None:
    await page.goto(f"{node.http}/ui/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{node.http}/ui/me/")


async def assert_fits(page: Page) -> None:
    """Nothing on the page sticks out sideways at the phone's width."""
    fits = await page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth")
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert fits, f"{page.url} overflows: {width}"


async def test_a_driver_sees_a_finished_session_and_downloads_its_receipt(
        node: Running, phone: Page, services: Services, clock: FrozenClock,
        tmp_path: Path) -> None:
    d: Drivers = await make_drivers(services, clock, running=True)
    await services.stations.set_connected("CP1", True, "node-test")
    for evse, status in ((1, "Available"), (2, "Available"), (3, "Charging")):
        await services.stations.connector_status("CP1", ConnectorStatus(evse, 1, status),
                                                 clock.now())
    page = phone
    await log_in_as(page, node, "dana")
    rows = page.locator("#sessions tbody tr[data-session-id]")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_have_attribute("data-session-id", str(d.running))
    live = page.locator(f'[data-live-session="{d.running}"]')
    await expect(live.locator("[data-energy]")).to_have_text("4.5 kWh")
    await expect(live.locator("[data-duration]")).to_have_text("1 h 00 min")
    await expect(live.locator("[data-cost]")).to_have_text("€2.24")  # (0.50 + 1.35) x 1.21
    await assert_fits(page)
    await screenshot(page, "driver-home")

    row = page.locator(f'tr[data-session-id="{d.dana[0]}"]')
    await expect(row.locator("[data-cost]")).to_have_text("€4.24")
    await row.get_by_role("link", name="Details").click()
    await expect(page).to_have_url(f"{node.http}/ui/me/sessions/{d.dana[0]}")
    await expect(page.locator("[data-total]")).to_have_text("€4.24")
    await expect(page.locator("[data-started]")).to_have_text("2026-03-02 10:00 CET")
    await assert_fits(page)
    await screenshot(page, "driver-session")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download receipt (PDF)").click()
    download = await info.value
    assert download.suggested_filename == f"receipt-{d.dana[0]}.pdf"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")

    await page.get_by_role("link", name="Spending").click()
    await expect(page).to_have_url(f"{node.http}/ui/me/spending")
    await expect(page.locator('svg[data-chart="spending-EUR"]')).to_have_attribute(
        "data-bars", "12")
    await expect(page.locator('tr[data-month="2026-03"] [data-amount]')).to_have_text("€12.11")
    await assert_fits(page)
    await screenshot(page, "driver-spending")

    await page.get_by_role("link", name="Find a charger").click()
    await expect(page).to_have_url(f"{node.http}/ui/me/availability")
    site = page.locator('[data-site="HARBOUR"]')
    await expect(site.get_by_role("heading", name="Harbour Square")).to_be_visible()
    await expect(site.locator("[data-available]")).to_have_text("2")
    await expect(site.locator("[data-occupied]")).to_have_text("1")
    await site.get_by_role("link", name="Harbour Square").click()
    await expect(page).to_have_url(f"{node.http}/ui/me/availability?site=HARBOUR")
    await assert_fits(page)
    await screenshot(page, "driver-availability")

    await page.get_by_role("link", name="Tokens").click()
    await expect(page.locator("#tokens tbody tr[data-token]")).to_have_count(2)
    await assert_fits(page)


async def test_a_driver_cannot_open_another_drivers_session(
        node: Running, phone: Page, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock)
    page = phone
    await log_in_as(page, node, "dana")
    theirs = d.erik[0]
    response = await page.goto(f"{node.http}/ui/me/sessions/{theirs}")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", name="Session not found")).to_be_visible()
    html = await page.content()
    for secret in ("CARD-B", "Harbour", "erik", "kWh", "receipt.pdf"):
        assert secret not in html, secret
    receipt = await page.goto(f"{node.http}/ui/me/sessions/{theirs}/receipt.pdf")
    assert receipt is not None and receipt.status == 404
    assert "%PDF" not in await page.content()
    await assert_fits(page)
    # their own sessions list never shows erik's
    await page.goto(f"{node.http}/ui/me/")
    await expect(page.locator(f'tr[data-session-id="{theirs}"]')).to_have_count(0)
    await expect(page.locator("#sessions tbody tr[data-session-id]")).to_have_count(2)
    await expect(page.locator("[data-no-running]")).to_be_visible()


async def test_the_charging_page_follows_a_running_session(
        node: Running, phone: Page, services: Services, clock: FrozenClock) -> None:
    d = await make_drivers(services, clock, running=True)
    assert d.running is not None
    page = phone
    await log_in_as(page, node, "dana")
    # the page's timers run when the test says so; installed before the login, Chromium
    # 156.0.8078.108 left the timers of the page the login redirects to on the real clock
    await page.clock.install()
    await page.goto(f"{node.http}/ui/me/")
    card = page.locator(f'[data-live-session="{d.running}"]')
    await expect(card.locator("[data-energy]")).to_have_text("4.5 kWh")
    await expect(card.locator("[data-cost]")).to_have_text("€2.24")

    # 10 more minutes and 3 kWh more: the next refresh shows them without a reload
    clock.advance(600)
    await services.sessions.meter_values(
        "CP1", 3, [SampledValue(clock.now(), Decimal(8500), REGISTER, "Wh")],
        transaction_id=d.running)
    await flush(services)
    cost = await services.billing.session_cost(d.running)
    assert cost is not None and cost.quote.total_cost.incl_vat is not None
    expected = money(cost.quote.total_cost.incl_vat, "EUR")
    assert expected == "€3.33"  # (0.50 + 7.5 x 0.30) x 1.21 = 3.3275
    await page.clock.run_for(LIVE_SECONDS * 1000 + 500)
    await expect(card.locator("[data-energy]")).to_have_text("7.5 kWh")
    await expect(card.locator("[data-duration]")).to_have_text("1 h 10 min")
    await expect(card.locator("[data-cost]")).to_have_text(expected)
    await expect(card.locator("[data-updated]")).to_contain_text("Updated")

    # the session ends: the next refresh reloads the page, which shows it as finished
    await services.sessions.stop_v16(StopTransaction("CP1", d.running, Decimal(8500),
                                                     clock.now()))
    await flush(services)
    await page.clock.run_for(LIVE_SECONDS * 1000 + 500)
    await expect(page.locator("[data-no-running]")).to_be_visible()
    await expect(page.locator(f'tr[data-session-id="{d.running}"]')).to_be_visible()
    await assert_fits(page)

"""Sites and load management in Debian's Chromium: an operator opens Sites, then a site,
reads its load picture and chart, and pauses charging there."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction
from evcsms.services.stations import ConnectorStatus
from tests.api.conftest import flush
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.integration.conftest import Running
from tests.web.test_sites import accept_commands, make_site

pytestmark = [pytest.mark.slow, LOOP]


async def two_hours_of_load(services: Services, clock: FrozenClock) -> None:
    """DEPOT (tests.web.test_sites.make_site), then two hours at quarter-hour steps: the cars
    on CP1 and CP2 report their power, a third car arrives on CP3 after an hour, and load
    management allocates at every step (the stations accept its profiles); CP2's car
    ends up drawing more than it was given."""
    sessions = await make_site(services, clock)
    await accept_commands(services, "CP3")
    for step in range(8):
        clock.advance(900)
        if step == 4:
            sessions["CP3"] = (await services.sessions.start_v16(StartTransaction(
                "CP3", 1, "TAG", Decimal(0), clock.now()))).transaction_id
            await services.stations.connector_status(
                "CP3", ConnectorStatus(1, 1, "Charging"), clock.now())
        for n, station in enumerate(sorted(sessions)):
            kw = Decimal(6000 + 400 * ((step + 2 * n) % 5))
            if station == "CP2" and step == 7:
                kw = Decimal(8000)  # at last above its 6.9 kW, as if it ignored its profile
            await services.sessions.meter_values(station, 1, [SampledValue(
                clock.now(), kw, "Power.Active.Import", "W")],
                transaction_id=sessions[station])
        await services.load.settled()
        await services.load.rebalance("DEPOT")
    await flush(services)


async def test_an_operator_reads_a_sites_load_and_pauses_it(
        node: Running, page: Page, services: Services, clock: FrozenClock):
    await two_hours_of_load(services, clock)
    await log_in(page, node, services)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sites").click()
    await expect(page).to_have_url(f"{node.http}/ui/sites")
    depot = page.locator('tr[data-site-id="DEPOT"]')
    await expect(depot.locator("[data-managed]")).to_have_attribute("data-managed", "yes")
    await expect(depot.locator("[data-running]")).to_have_text("3")
    await expect(page.locator('tr[data-site-id="HARBOUR"] [data-managed]')).to_have_text("no")
    await screenshot(page, "sites-list")

    await depot.get_by_role("link", name="DEPOT").click()
    await expect(page).to_have_url(f"{node.http}/ui/sites/DEPOT")
    await expect(page.get_by_role("heading", name="Site DEPOT")).to_be_visible()
    await expect(page.locator("dd[data-limit-kw]")).to_have_text("22.08 kW")
    profiles = {(p.station_id, p.purpose): p for p in await services.load.profiles("DEPOT")}
    for n in (1, 2, 3):
        row = page.locator(f'tr[data-evse="CP{n}/1"]')
        await expect(row.locator("[data-live-limit]")).to_have_attribute(
            "data-live-limit", str(profiles[(f"CP{n}", "allocation")].limit))
        await expect(row.locator("svg.evse-bar")).to_be_visible()
    chart = page.locator("#site-load-chart")
    await expect(chart).to_be_visible()
    for name in ("Allocated", "Drawn", "Limit"):
        await expect(chart.locator(f'polyline[data-series="{name}"]')).to_have_count(1)
    await page.get_by_label("Time span").select_option("3")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(f"{node.http}/ui/sites/DEPOT?hours=3")
    await expect(page.locator('#site-stations tr[data-station-id="CP3"] [data-state]')
                 ).to_have_text("charging")
    await screenshot(page, "site-load")
    await expect(page.locator('tr[data-evse="CP2/1"] [data-over-kw]')).to_have_count(1)
    await page.set_viewport_size({"width": 375, "height": 800})  # a phone: nothing spills over
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await screenshot(page, "site-load-phone")
    await page.set_viewport_size({"width": 1280, "height": 800})

    await page.get_by_role("button", name="Pause charging").click()
    await expect(page).to_have_url(f"{node.http}/ui/sites/DEPOT")
    await expect(page.locator("dd[data-paused]")).to_have_attribute("data-paused", "yes")
    assert (await services.load.get("DEPOT")).paused
    await page.get_by_role("button", name="Resume charging").click()
    await expect(page.locator("dd[data-paused]")).to_have_attribute("data-paused", "no")

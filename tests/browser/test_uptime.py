"""The uptime report in Debian's Chromium: an operator opens Uptime, picks a period preset,
reads the NEVI figures per port, site and fleet, and downloads the CSV."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from evcsms.domain.clock import FrozenClock
from evcsms.services.container import Services
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.conftest import T0
from tests.integration.conftest import Running
from tests.web.test_uptime import make_fleet

pytestmark = [pytest.mark.slow, LOOP]


async def test_an_operator_reads_the_uptime_report_and_downloads_it(
        node: Running, page: Page, services: Services, clock: FrozenClock,
        tmp_path: Path):
    await make_fleet(services, clock)
    await log_in(page, node, services)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Uptime").click()
    await expect(page).to_have_url(f"{node.http}/ui/uptime")
    await expect(page.get_by_role("heading", name="Uptime")).to_be_visible()
    # February by default: B1 was down two days, 6 h of it excused
    await expect(page.locator('tr[data-port="B1/1/1"] [data-meets]')).to_have_text("✗ below 97 %")
    await expect(page.locator("#uptime-fleet")).to_have_attribute("data-percent", "97.9911")

    await page.get_by_label("Period", exact=True).select_option("last-30-days")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"/ui/uptime\?period=last-30-days&"))
    await expect(page.get_by_label("Period", exact=True)).to_have_value("last-30-days")
    ports = await services.uptime.ports(T0 - timedelta(days=30), T0)
    total = services.uptime.total(ports).figures()
    await expect(page.locator("#uptime-fleet")).to_have_attribute(
        "data-percent", str(total["percent"]))
    for p in ports:
        row = page.locator(f'tr[data-port="{p.station_id}/{p.evse_id}/{p.connector_id}"]')
        await expect(row).to_have_attribute("data-percent", str(p.uptime.figures()["percent"]))
    b1 = page.locator('tr[data-port="B1/1/1"]')
    await expect(b1.locator("td").nth(2)).to_have_text("94.16 %")  # 1 - 2520/43200, down
    await expect(page.locator("#uptime-ports tbody tr").first).to_have_attribute(
        "data-port", "B1/1/1")  # worst first
    await expect(page.locator('svg[data-chart="uptime-ports-chart"] rect.bar')).to_have_count(2)
    await expect(page.locator("#uptime-exclusions tbody tr[data-exclusion-id]")).to_have_count(2)
    await screenshot(page, "uptime-report")

    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename == "uptime-2026-01-31-2026-03-02.csv"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0].startswith("row,station_id,evse_id,connector_id,site_id,from,to,")
    assert lines[-1].startswith("fleet,") and lines[-1].endswith(f",{total['percent']},yes"
                                                                 if total["percent"] >= 97
                                                                 else f",{total['percent']},no")

    await page.set_viewport_size({"width": 375, "height": 800})  # a phone: nothing spills over
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await screenshot(page, "uptime-report-phone")

"""Incidents in Debian's Chromium: a real OCPP 1.6 station (raw WebSocket) faults, the fleet
page follows it live, and the operator works the incident diagnostics raised for it."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from evcsms.domain.faults import Finding, Severity
from evcsms.services.container import Services
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.integration.conftest import Running, open_station, rpc

pytestmark = [pytest.mark.slow, LOOP]


async def test_the_fleet_view_updates_when_a_station_faults(
        node: Running, page: Page, services: Services):
    password = "a-long-station-password-1"
    await services.stations.create("CP1", password=password, description="Harbour, bay 1")
    ws = await open_station(node, "CP1", password=password)
    try:
        boot = await rpc(ws, [2, "b1", "BootNotification",
                              {"chargePointVendor": "V", "chargePointModel": "M"}])
        assert boot[2]["status"] == "Accepted"
        await rpc(ws, [2, "s1", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available"}])

        await log_in(page, node, services)
        await expect(page.locator("#live")).to_have_attribute("data-live", "on")
        state = page.locator('tr[data-station-id="CP1"] [data-state]')
        await expect(state).to_have_attribute("data-state", "available")
        await expect(page.locator('[data-count="faulted"]')).to_have_text("0")

        await rpc(ws, [2, "s2", "StatusNotification", {
            "connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted"}])
        # no reload: the row and the counts change over /ui/events
        await expect(state).to_have_attribute("data-state", "faulted")
        await expect(state).to_have_text("faulted")
        await expect(page.locator('[data-count="faulted"]')).to_have_text("1")
        await expect(page.locator('[data-count="available"]')).to_have_text("0")

        # the diagnostics singleton (running on this node) opened an incident for it
        await page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Incidents").click()
        await expect(page).to_have_url(f"{node.http}/ui/incidents")
        row = page.locator('tr[data-station-id="CP1"]')
        await expect(row).to_have_count(1)
        await expect(row.locator("[data-status]")).to_have_attribute("data-status", "open")
        await expect(row.locator("[data-kind]")).to_have_text("connector_fault")
        await expect(row.locator("[data-severity]")).to_have_text("critical")
        await expect(row.locator("[data-where]")).to_have_text("EVSE 1, connector 1")
        await expect(row.locator("[data-message]")).to_contain_text("earth fault")
        await expect(page.locator('[data-count="open"]')).to_have_text("1")
        await screenshot(page, "incidents-list")

        await row.get_by_role("link", name="#").click()
        await expect(page.locator("#incident [data-status]")).to_have_text("open")
        await page.get_by_role("button", name="Acknowledge").click()
        await expect(page.locator("[data-done]")).to_have_text("Acknowledged.")
        await expect(page.locator("#incident [data-status]")).to_have_attribute(
            "data-status", "acknowledged")
        await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

        await page.get_by_label("Resolution note (optional)").fill("RCD reset on site")
        await page.get_by_role("button", name="Resolve").click()
        await expect(page.locator("[data-done]")).to_have_text("Resolved.")
        await expect(page.locator("#incident [data-status]")).to_have_attribute(
            "data-status", "resolved")
        timeline = page.locator("#timeline li")
        await expect(timeline).to_have_count(3)
        await expect(timeline.nth(1)).to_contain_text("acknowledged")
        await expect(timeline.nth(2)).to_contain_text("RCD reset on site")
        await expect(timeline.nth(2)).to_contain_text("by alice")
        await screenshot(page, "incident-detail")

        await page.get_by_role("link", name="← Incidents").click()
        await expect(page.locator('tr[data-station-id="CP1"]')).to_have_count(0)  # not active
        await expect(page.locator('[data-count="resolved"]')).to_have_text("1")
    finally:
        await ws.close()


async def test_the_incident_list_follows_new_and_resolved_incidents_live(
        node: Running, page: Page, services: Services):
    await services.stations.create("CP7", password=None)
    await log_in(page, node, services)
    await page.goto(f"{node.http}/ui/incidents")
    await expect(page.locator("#live")).to_have_attribute("data-live", "on")
    await expect(page.locator('[data-count="active"]')).to_have_text("0")

    opened = await services.incidents.report("CP7", Finding(
        kind="repeated_reboots", severity=Severity.CRITICAL, key="reboots:CP7",
        message="CP7 booted 4 times in 1:00:00", action="read the station's logs"))
    row = page.locator(f'tr[data-incident-id="{opened}"]')  # no reload
    await expect(row.locator("[data-status]")).to_have_attribute("data-status", "open")
    await expect(page.locator('[data-count="active"]')).to_have_text("1")
    await expect(page.locator("#live")).to_have_attribute("data-live", "on")
    await page.set_viewport_size({"width": 375, "height": 800})  # a phone: no sideways page
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await expect(row.locator("[data-status]")).to_be_visible()
    await screenshot(page, "incidents-list-phone")

    await services.incidents.clear("reboots:CP7", "CP7 stable again", exact=True)
    await expect(row).to_have_count(0)
    await expect(page.locator('[data-count="resolved"]')).to_have_text("1")
    await expect(page.locator('[data-count="active"]')).to_have_text("0")

"""Operator journeys through the web dashboard (/ui) in Debian's Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from evcsms.services.container import Services
from evcsms.services.users import UserRole
from tests.browser.conftest import LOOP, TIMEOUT_MS, screenshot
from tests.integration.conftest import Running, open_station, rpc

pytestmark = [pytest.mark.slow, LOOP]


PASSWORD = "correct horse battery"


async def log_in(page: Page, node: Running, services: Services, name: str = "alice") -> None:
    await services.users.create(name, UserRole.OPERATOR)
    await services.users.set_password(name, PASSWORD)
    await page.goto(f"{node.http}/ui/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{node.http}/ui/")


async def test_an_operator_logs_in_and_sees_the_fleet(
    node: Running, page: Page, services: Services,
):
    await services.users.create("alice", UserRole.OPERATOR)
    await services.users.set_password("alice", "correct horse battery")
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")

    await page.goto(f"{node.http}/ui/")  # not logged in: sent to the login form
    await expect(page).to_have_url(f"{node.http}/ui/login")
    assert await page.locator("input[name=csrf_token]").get_attribute("value")
    await page.fill("input[name=username]", "alice")
    await page.fill("input[name=password]", "correct horse battery")
    await page.get_by_role("button", name="Log in").click()

    await expect(page).to_have_url(f"{node.http}/ui/")
    row = page.locator('tr[data-station-id="CP1"]')
    await expect(row).to_be_visible()
    await expect(row.locator("[data-state]")).to_have_attribute("data-state", "offline")
    await expect(page.locator('[data-count="offline"]')).to_have_text("1")


async def test_the_fleet_page_follows_a_station_live(node: Running, page: Page, services: Services):
    station_password = "a-long-station-password-1"
    await services.stations.create("CP1", password=station_password)
    await log_in(page, node, services)
    await expect(page.locator("#live")).to_have_attribute("data-live", "on")  # SSE connected
    state = page.locator('tr[data-station-id="CP1"] [data-state]')
    await expect(state).to_have_attribute("data-state", "offline")

    ws = await open_station(node, "CP1", password=station_password)
    try:
        boot = await rpc(ws, [2, "b1", "BootNotification",
                              {"chargePointVendor": "V", "chargePointModel": "M"}])
        assert boot[2]["status"] == "Accepted"
        await rpc(ws, [2, "s1", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available"}])
        # no reload: the row and the counts change over /ui/events
        await expect(state).to_have_attribute("data-state", "available")
        await expect(page.locator('[data-count="available"]')).to_have_text("1")
        await expect(page.locator('[data-count="offline"]')).to_have_text("0")
    finally:
        await ws.close()


async def test_a_wrong_password_stays_on_the_login_form(node: Running, page: Page, services: Services):
    await services.users.create("alice", UserRole.OPERATOR)
    await services.users.set_password("alice", PASSWORD)
    await page.goto(f"{node.http}/ui/login")
    await page.fill("input[name=username]", "alice")
    await page.fill("input[name=password]", "not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.locator("input[name=username]")).to_have_value("alice")
    await page.goto(f"{node.http}/ui/")  # still not logged in
    await expect(page).to_have_url(f"{node.http}/ui/login")


async def tab_to(page: Page, description: str, check: str, limit: int = 40) -> None:
    """Press Tab until the focused element matches `check` (a JS expression on `el`)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(f"(() => {{ const el = document.activeElement; "
                               f"return !!el && ({check}); }})()"):
            return
    raise AssertionError(f"Tab never reached {description}")


async def test_an_operator_gets_around_with_the_keyboard_only(
    node: Running, page: Page, services: Services,
):
    await services.users.create("kim", UserRole.OPERATOR)
    await services.users.set_password("kim", PASSWORD)
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")

    await page.goto(f"{node.http}/ui/login")
    await tab_to(page, "the user name", "el.name === 'username'")
    await page.keyboard.type("kim")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{node.http}/ui/")

    await page.keyboard.press("Tab")  # the first stop is the skip link, and it shows
    skip = page.get_by_role("link", name="Skip to content")
    await expect(skip).to_be_focused()
    assert (await skip.bounding_box() or {"x": -1})["x"] >= 0
    await tab_to(page, "the Incidents link", "el.textContent.trim() === 'Incidents'")
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # focus is visible
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{node.http}/ui/incidents")

    await page.goto(f"{node.http}/ui/")
    await tab_to(page, "the CP1 link", "el.tagName === 'A' && el.textContent.trim() === 'CP1'")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{node.http}/ui/stations/CP1")
    await tab_to(page, "the soft reset button",
                 "el.tagName === 'BUTTON' && el.textContent.includes('Reset (soft)')", 80)


async def test_every_operator_page_fits_a_phone(
    node: Running, browser: Browser, services: Services,
):
    await services.users.create("pat", UserRole.OPERATOR)
    await services.users.set_password("pat", PASSWORD)
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")
    await services.tariffs.put_site("QUAY", name="Quay", time_zone="Europe/Amsterdam")
    context = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    phone = await context.new_page()
    try:
        await phone.goto(f"{node.http}/ui/login")
        await phone.fill("input[name=username]", "pat")
        await phone.fill("input[name=password]", PASSWORD)
        await phone.get_by_role("button", name="Log in").click()
        await expect(phone).to_have_url(f"{node.http}/ui/")
        for path in ("/ui/", "/ui/stations/CP1", "/ui/incidents", "/ui/sessions", "/ui/sites",
                     "/ui/sites/QUAY", "/ui/billing", "/ui/billing/tariffs", "/ui/uptime"):
            response = await phone.goto(f"{node.http}{path}")
            assert response is not None and response.status == 200, path
            width = await phone.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert width[0] <= width[1], f"{path} is {width[0]} px wide on a {width[1]} px phone"
            name = "phone-" + (path.strip("/").replace("/", "-") or "ui")
            await screenshot(phone, name)
    finally:
        await context.close()

"""The station page in Debian's Chromium: from the fleet table to a remote reset that a
real OCPP 1.6 connection (raw WebSocket) accepts; the live power chart following a real
station's MeterValues without a reload."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import orjson
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import ClientConnection

from evcsms.services.container import Services
from tests.browser.conftest import LOOP, screenshot
from tests.browser.test_dashboard import log_in
from tests.integration.conftest import Running, open_station, rpc

pytestmark = [pytest.mark.slow, LOOP]


async def answer_calls(ws: ClientConnection, seen: list[str]) -> None:
    """Answer every CALL from the CSMS with Accepted, as a cooperative station would."""
    async for raw in ws:
        frame = orjson.loads(raw)
        if frame[0] == 2:
            seen.append(frame[2])
            await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())


async def test_an_operator_resets_a_station_from_its_page(
        node: Running, page: Page, services: Services):
    password = "a-long-station-password-1"
    await services.stations.create("CP1", password=password, description="Harbour, bay 1")
    ws = await open_station(node, "CP1", password=password)
    seen: list[str] = []
    answering: asyncio.Task[None] | None = None
    try:
        boot = await rpc(ws, [2, "b1", "BootNotification", {
            "chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2.3"}])
        assert boot[2]["status"] == "Accepted"
        await rpc(ws, [2, "s1", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Available"}])
        answering = asyncio.create_task(answer_calls(ws, seen))

        await log_in(page, node, services)
        await page.locator('tr[data-station-id="CP1"]').get_by_role("link", name="CP1").click()
        await expect(page).to_have_url(f"{node.http}/ui/stations/CP1")
        await expect(page.locator("[data-firmware]")).to_have_text("1.2.3")
        await expect(page.locator("[data-ocpp-version]")).to_have_text("1.6")
        await expect(page.locator('tr[data-connector="1-1"] [data-status]')).to_have_text("Available")

        await page.get_by_role("button", name="Reset (soft)").click()
        await expect(page).to_have_url(f"{node.http}/ui/stations/CP1")
        status = page.locator('tr[data-command="reset"] [data-command-status]')
        await expect(status).to_have_attribute("data-command-status", "accepted")
        assert seen == ["Reset"]
    finally:
        if answering is not None:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await answering
        await ws.close()


def meter_values(tx: int, at: datetime, wh: int, watts: int) -> dict[str, object]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": stamp,
            "sampledValue": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": str(watts), "measurand": "Power.Active.Import", "unit": "W"}]}]}


async def test_the_live_chart_gains_points_while_the_page_is_open(
        node: Running, page: Page, services: Services):
    password = "a-long-station-password-2"
    await services.stations.create("CP2", password=password, description="Quay, bay 2")
    await services.tokens.create("CARD1")
    ws = await open_station(node, "CP2", password=password)
    try:
        boot = await rpc(ws, [2, "b1", "BootNotification", {
            "chargePointVendor": "V", "chargePointModel": "M", "firmwareVersion": "1.2.3"}])
        assert boot[2]["status"] == "Accepted"
        await rpc(ws, [2, "s1", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Preparing"}])
        now = services.clock.now()
        start = await rpc(ws, [2, "t1", "StartTransaction", {
            "connectorId": 1, "idTag": "CARD1", "meterStart": 1000,
            "timestamp": now.isoformat().replace("+00:00", "Z")}])
        tx = start[2]["transactionId"]
        assert start[2]["idTagInfo"]["status"] == "Accepted"
        await rpc(ws, [2, "s2", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Charging"}])
        await rpc(ws, [2, "m1", "MeterValues",
                       meter_values(tx, now + timedelta(minutes=1), 1100, 6000)])

        await log_in(page, node, services)
        await page.goto(f"{node.http}/ui/stations/CP2")
        chart = page.locator("svg#power-1")
        await expect(chart).to_have_attribute("data-points", "1")
        await expect(page.locator("#live-status")).to_have_attribute("data-live", "on")
        await expect(page.locator('tr[data-connector="1-1"] [data-status]')).to_have_text(
            "Charging")

        # the station keeps measuring; the page follows without a reload
        marker = await page.evaluate("window.__kept = 'same page'")
        assert marker == "same page"
        for i, watts in enumerate((7200, 7400), start=2):
            await rpc(ws, [2, f"m{i}", "MeterValues",
                           meter_values(tx, now + timedelta(minutes=i), 1100 + 120 * i, watts)])
        await expect(chart).to_have_attribute("data-points", "3")
        await expect(page.locator("[data-power-kw]")).to_have_attribute("data-power-kw", "7.4")
        assert await page.evaluate("window.__kept") == "same page"  # no reload happened
        assert int(await page.locator("#live").get_attribute("data-refreshed") or 0) >= 1

        # a status change arrives the same way
        await rpc(ws, [2, "s3", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Faulted"}])
        await expect(page.locator('tr[data-connector="1-1"] [data-status]')).to_have_text(
            "Faulted")
        await expect(page.locator("#station [data-state]")).to_have_text("faulted")
        await screenshot(page, "station-live")
        # readable on a phone: nothing wider than the screen but the scrolling tables
        await page.set_viewport_size({"width": 375, "height": 800})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await screenshot(page, "station-live-phone")
    finally:
        await ws.close()

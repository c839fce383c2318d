"""The station page in Debian's Chromium: from the fleet table to a remote reset that a
real OCPP 1.6 connection (raw WebSocket) accepts."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from playwright.async_api import Page, expect
from websockets.asyncio.client import ClientConnection

from evcsms.services.container import Services
from tests.browser.conftest import LOOP
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

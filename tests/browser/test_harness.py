"""The browser harness itself: Debian's Chromium opens pages of a real node."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from evcsms.api.app import PREFIX
from evcsms.services.container import Services
from evcsms.services.users import UserRole
from tests.api.test_tariffs import _cdr_of, _finished_session
from tests.browser.conftest import LOOP, screenshot_path
from tests.integration.conftest import Running

pytestmark = [pytest.mark.slow, LOOP]


async def test_the_api_docs_page_opens_in_chromium(node: Running, page: Page, request):
    response = await page.goto(f"{node.http}/docs", wait_until="domcontentloaded")
    assert response is not None and response.ok
    assert "evcsms" in await page.title()
    assert screenshot_path(request.node.name).name == "test_the_api_docs_page_opens_in_chromium.png"


async def test_the_receipt_of_a_finished_session_renders_in_chromium(
    node: Running, page: Page, services: Services,
):
    token = await services.users.create("op", UserRole.OPERATOR)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"{node.http}{PREFIX}", headers=headers) as client:
        tx = await _finished_session(client, services)
        await _cdr_of(client, tx)
    await page.set_extra_http_headers(headers)
    response = await page.goto(f"{node.http}{PREFIX}/sessions/{tx}/receipt")
    assert response is not None and response.ok
    await expect(page.get_by_text("Receipt NLEVC-000001")).to_be_visible()
    await expect(page.get_by_text("10.53 EUR").first).to_be_visible()
    await expect(page.locator("body")).not_to_contain_text("CARD1")  # the token is masked

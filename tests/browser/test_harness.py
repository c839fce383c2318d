"""The browser harness itself: Debian's Chromium opens pages of a real node."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.browser.conftest import LOOP, screenshot_path
from tests.integration.conftest import Running

pytestmark = [pytest.mark.slow, LOOP]


async def test_the_api_docs_page_opens_in_chromium(node: Running, page: Page, request):
    response = await page.goto(f"{node.http}/docs", wait_until="domcontentloaded")
    assert response is not None and response.ok
    assert "evcsms" in await page.title()
    assert screenshot_path(request.node.name).name == "test_the_api_docs_page_opens_in_chromium.png"

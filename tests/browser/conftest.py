"""Browser tests: Playwright drives Debian's Chromium against a real evcsms node.

The browser is the system package (/usr/bin/chromium, installed by `make test` through
scripts/ensure-chromium), never a Playwright download. Without it the tests are skipped with
one summary line, except under CI=true, where a missing browser fails the run.

Every test runs on the session's event loop (`pytestmark` in each module, see `LOOP`): the
browser is launched once per session (per xdist worker) and Playwright's connection belongs
to the loop it was started on, so the node's services are built on that loop too.

Each test leaves a full-page screenshot in test-results/screenshots/<test name>.png (also
when it fails: the page fixture takes it on teardown).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from evcsms.bootstrap import build_services, close_services
from evcsms.domain.clock import FrozenClock
from evcsms.services.container import Services
from evcsms.settings import Settings
from tests.conftest import _missing
from tests.integration.conftest import Running, running

CHROMIUM = os.environ.get("EVCSMS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # without these Chromium's own connections (updates, sync, ...) are refused by a closed
    # network and slow every page down
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
TIMEOUT_MS = 5_000  # each browser test stays well under ~10 s

LOOP = pytest.mark.asyncio(loop_scope="session")


def require_chromium() -> None:
    """Skip (laptop) or fail (CI=true) when Debian's Chromium is not installed."""
    if os.access(CHROMIUM, os.X_OK):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing (required under CI=true; apt-get install chromium)")
    _missing.add(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is missing")


def screenshot_path(name: str) -> Path:
    """test-results/screenshots/<test name>.png, the name made safe for a file."""
    return SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_')}.png"


async def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot of `page` as test-results/screenshots/<name>.png."""
    path = screenshot_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(
    browser: Browser, node: Running, request: pytest.FixtureRequest,
) -> AsyncIterator[Page]:
    """A fresh browser context and page; its screenshot is saved when the test ends.

    Depends on `node` so that the page (and any /ui/events stream it holds) is closed before
    the node stops: uvicorn would otherwise wait for the open stream on shutdown."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """SQLite is enough for the browser (overrides the sqlite/postgres parametrised one)."""
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/test.db", heartbeat_interval=60)


@pytest_asyncio.fixture(loop_scope="session")
async def services(settings: Settings, clock: FrozenClock) -> AsyncIterator[Services]:
    svc = await build_services(settings, clock=clock, migrate=True)
    yield svc
    await close_services(svc)


@pytest_asyncio.fixture(loop_scope="session")
async def node(services: Services, settings: Settings) -> AsyncIterator[Running]:
    """A real evcsms node (uvicorn on a loopback port, as `evcsms serve`)."""
    async with running(services, settings) as served:
        yield served

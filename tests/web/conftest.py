"""The web dashboard through the node's real ASGI app (bootstrap.build_app), in process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from evcsms.bootstrap import build_app
from evcsms.services.container import Services
from evcsms.services.users import UserRole
from evcsms.settings import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
async def operator(services: Services) -> str:
    await services.users.create("alice", UserRole.OPERATOR)
    await services.users.set_password("alice", PASSWORD)
    return "alice"


@pytest.fixture
async def browser(services: Services, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies and does not follow redirects."""
    transport = httpx.ASGITransport(app=build_app(services, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    page = await client.get("/ui/login")
    assert page.status_code == 200
    return await client.post("/ui/login", data={
        "username": name, "password": password, "csrf_token": csrf_of(page.text)})


@pytest.fixture
async def logged_in(browser: httpx.AsyncClient, operator: str) -> httpx.AsyncClient:
    response = await log_in(browser, operator, PASSWORD)
    assert response.status_code == 303, response.text
    return browser

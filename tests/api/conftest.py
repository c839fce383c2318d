"""An httpx client over ASGITransport against `create_api`, on every database of `services`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from evcsms.api.app import create_api
from evcsms.services.container import Services
from evcsms.services.users import UserRole
from evcsms.settings import Settings


@pytest.fixture
def app(services: Services, settings: Settings) -> FastAPI:
    return create_api(services, settings)


@pytest.fixture
async def operator_token(services: Services) -> str:
    return await services.users.create("op", UserRole.OPERATOR)


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def client(app: FastAPI, operator_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client sending the operator's bearer token, rooted at /api/v1."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {operator_token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=headers
    ) as client:
        yield client


async def flush(services: Services) -> None:
    """Wait until everything queued on the writer (message log, token use) is committed and
    running sessions' energy counts every reading stored."""
    await services.writer.submit(lambda conn: asyncio.sleep(0), "test-flush")
    await services.sessions.refresh_energy()

"""An API request while the database cannot be reached is a 503 with Retry-After, not a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from evcsms.services.container import Services
from evcsms.storage.outage import StorageUnavailableError


async def test_storage_unavailable_is_503_with_retry_after(
        client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise StorageUnavailableError("connection refused")

    monkeypatch.setattr(services.stations, "list", unreachable)
    response = await client.get("/stations")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "storage unavailable" in response.json()["detail"]

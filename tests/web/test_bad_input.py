"""Numbers in queries, paths and forms that are digits to Python but not to int() ("²",
"١") or out of range get a 4xx page, never a 500 (every page, one test)."""

from __future__ import annotations

import httpx
import pytest

from evcsms.services.container import Services
from tests.web.conftest import csrf_of

ODD = ["²", "١٢", "0", "99999999999999999999999"]


@pytest.mark.parametrize("odd", ODD)
async def test_odd_numbers_in_queries_and_paths_are_refused_not_crashed(
        logged_in: httpx.AsyncClient, services: Services, odd: str) -> None:
    await services.stations.create("CP1", password=None)
    await services.tariffs.put_site("QUAY", name="Quay", time_zone="Europe/Amsterdam")
    for path, params in [
        ("/ui/", {"page": odd}), ("/ui/sessions", {"page": odd}), (f"/ui/sessions/{odd}", {}),
        ("/ui/incidents", {"page": odd}), (f"/ui/incidents/{odd}", {}),
        ("/ui/sites", {"page": odd}), ("/ui/sites/QUAY", {"hours": odd}),
        ("/ui/uptime", {"page": odd}), ("/ui/billing", {"station_page": odd}),
        ("/ui/billing/tariffs", {"page": odd}), ("/ui/billing/tariffs/T1", {"version": odd}),
        ("/ui/stations/CP1", {"hpage": odd}),
    ]:
        response = await logged_in.get(path, params=params)
        assert 400 <= response.status_code < 500, (path, params, response.status_code)


async def test_odd_numbers_in_station_forms_are_refused_not_crashed(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await services.stations.create("CP1", password=None)
    token = csrf_of((await logged_in.get("/ui/stations/CP1")).text)
    unlock = await logged_in.post("/ui/stations/CP1/commands/unlock_connector",
                                  data={"csrf_token": token, "evse_id": "²"})
    assert 400 <= unlock.status_code < 500, unlock.text
    firmware = await logged_in.post("/ui/stations/CP1/firmware", data={
        "csrf_token": token, "location": "https://example.com/fw.bin", "retries": "²"})
    assert firmware.status_code == 422 and "retries" in firmware.text

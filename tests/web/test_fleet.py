"""The fleet overview: states and counts from connection and connector statuses, filters,
and the live updates by server-sent events."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import httpx

from evcsms.domain.clock import FrozenClock
from evcsms.services.container import Services
from evcsms.services.stations import ConnectorStatus
from evcsms.settings import Settings
from evcsms.web.fleet import station_state
from tests.integration.conftest import running
from tests.web.conftest import PASSWORD, log_in

FLEET = {  # station -> (connected, connector statuses), and the state the page must show
    "CP1": (True, ["Charging", "Available"], "charging"),
    "CP2": (True, ["Available"], "available"),
    "CP3": (True, ["Faulted", "Charging"], "faulted"),
    "CP4": (False, ["Charging"], "offline"),
    "CP5": (True, ["Available", "Available"], "available"),
}


async def make_fleet(services: Services, clock: FrozenClock) -> None:
    for station_id, (connected, statuses, _) in FLEET.items():
        await services.stations.create(station_id, password=None,
                                       description=f"bay {station_id[-1]}")
        for evse, status in enumerate(statuses, start=1):
            await services.stations.connector_status(
                station_id, ConnectorStatus(evse, 1, status), clock.now())
        if connected:
            await services.stations.set_connected(station_id, True, "node-a")


def states_of(html: str) -> dict[str, str]:
    return dict(re.findall(
        r'<tr data-station-id="([^"]+)">.*?<td data-state="([^"]+)"', html, re.DOTALL))


def counts_of(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="([a-z]+)">(\d+)<', html)}


def test_station_state_rules() -> None:
    assert station_state(False, ["Charging"]) == "offline"
    assert station_state(True, ["Available", "Faulted"]) == "faulted"
    assert station_state(True, ["SuspendedEV", "Available"]) == "charging"
    assert station_state(True, ["Preparing"]) == "occupied"
    assert station_state(True, []) == "available"
    assert station_state(True, ["Unavailable"]) == "unavailable"


async def test_fleet_page_lists_stations_with_states_and_counts(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    page = await logged_in.get("/ui/")
    assert page.status_code == 200
    assert states_of(page.text) == {sid: want for sid, (_, _, want) in FLEET.items()}
    assert counts_of(page.text) == {"charging": 1, "available": 2, "faulted": 1, "offline": 1}
    assert "script-src 'self' 'nonce-" in page.headers["content-security-policy"]


async def test_fleet_page_filters_by_state_and_text(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    faulted = await logged_in.get("/ui/", params={"state": "faulted"})
    assert list(states_of(faulted.text)) == ["CP3"]
    assert counts_of(faulted.text)["available"] == 2  # the counts stay the fleet's
    assert list(states_of((await logged_in.get("/ui/", params={"q": "bay 2"})).text)) == ["CP2"]
    assert list(states_of((await logged_in.get(
        "/ui/", params={"q": "cp", "state": "available"})).text)) == ["CP2", "CP5"]
    assert states_of((await logged_in.get("/ui/", params={"q": "none\x00"})).text) == {}


async def test_events_stream_delivers_a_status_change(
        services: Services, settings: Settings, clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    async with running(services, settings) as node, httpx.AsyncClient(
            base_url=node.http, timeout=10) as client:
        assert (await log_in(client, "alice", PASSWORD)).status_code == 401  # no such user yet
        from evcsms.services.users import UserRole

        await services.users.create("alice", UserRole.OPERATOR)
        await services.users.set_password("alice", PASSWORD)
        assert (await log_in(client, "alice", PASSWORD)).status_code == 303
        async with client.stream("GET", "/ui/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await anext(lines) == ": connected"
            await services.stations.connector_status(
                "CP2", ConnectorStatus(1, 1, "Faulted"), clock.now())
            await services.stations.set_connected("CP1", False, "node-a")

            async def next_event() -> dict[str, str]:
                async for line in lines:
                    if line.startswith("data: "):
                        return dict(json.loads(line[6:]))
                raise AssertionError("stream ended")

            first = await asyncio.wait_for(next_event(), 5)
            second = await asyncio.wait_for(next_event(), 5)
        assert first == {"station_id": "CP2", "state": "faulted", "previous": "available",
                         "connectors": "1: Faulted"}
        assert second["station_id"] == "CP1" and second["state"] == "offline"


async def test_one_feed_serves_every_open_page_with_one_lookup_per_burst(
        services: Services, clock: FrozenClock) -> None:
    from evcsms.web.fleet import FleetFeed

    await make_fleet(services, clock)
    feed = FleetFeed(services, batch_seconds=0.1)
    pages = [feed.stream() for _ in range(3)]
    for page in pages:
        assert await anext(page) == ": connected\n\n"
    for station_id in ("CP2", "CP5", "CP2"):  # a burst: CP2 twice
        await services.stations.connector_status(
            station_id, ConnectorStatus(1, 1, "Faulted"), clock.now())

    async def events(page: AsyncIterator[str]) -> list[dict[str, str]]:
        got = []
        while len(got) < 2:
            text = await anext(page)
            if text.startswith("event: station"):
                got.append(json.loads(text.split("data: ", 1)[1]))
        return got

    seen = [await asyncio.wait_for(events(page), 5) for page in pages]
    assert all([e["station_id"] for e in got] == ["CP2", "CP5"] for got in seen)
    assert all(e["state"] == "faulted" for got in seen for e in got)
    assert feed.queries == 1  # three pages, three events: one query
    for page in pages:
        await page.aclose()
    assert feed._task is None and feed._subs == []  # the last page closed the feed


async def test_the_fleet_list_is_paged_and_the_counts_cover_every_page(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    from evcsms.web.fleet import PAGE_SIZE, fleet

    for n in range(PAGE_SIZE + 5):
        await services.stations.create(f"S{n:03d}", password=None)
        await services.stations.set_connected(f"S{n:03d}", True, "node-a")
    first = await logged_in.get("/ui/")
    assert len(states_of(first.text)) == PAGE_SIZE
    assert counts_of(first.text)["available"] == PAGE_SIZE + 5
    assert f"1-{PAGE_SIZE} of {PAGE_SIZE + 5} matching" in first.text
    assert 'href="/ui/?page=2"' in first.text
    second = await logged_in.get("/ui/", params={"page": "2"})
    assert list(states_of(second.text)) == [f"S{n:03d}" for n in range(PAGE_SIZE, PAGE_SIZE + 5)]
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    filtered = await logged_in.get("/ui/", params={"q": "S10", "page": "1"})
    assert list(states_of(filtered.text)) == ["S100", "S101", "S102", "S103", "S104"]
    assert (await logged_in.get("/ui/", params={"page": "3"})).status_code == 404
    for bad in ("0", "x", "-1", "9999999"):
        assert (await logged_in.get("/ui/", params={"page": bad})).status_code == 400, bad
    # a site's stations only
    await services.tariffs.put_site("QUAY", name="Quay", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("S007", "QUAY")
    assert [r.station_id for r in await fleet(services.engine, site_id="QUAY")] == ["S007"]


async def test_live_updates_carry_the_previous_state_for_stations_on_other_pages(
        services: Services, clock: FrozenClock) -> None:
    from evcsms.web.fleet import FleetFeed

    await make_fleet(services, clock)
    feed = FleetFeed(services, batch_seconds=0.05)
    page = feed.stream()
    assert await anext(page) == ": connected\n\n"
    await services.stations.set_connected("CP2", False, "node-a")
    text = await asyncio.wait_for(anext(page), 5)
    assert json.loads(text.split("data: ", 1)[1]) == {
        "station_id": "CP2", "state": "offline", "previous": "available", "connectors": "1: Available"}
    await services.stations.set_connected("CP2", True, "node-a")
    text = await asyncio.wait_for(anext(page), 5)
    assert json.loads(text.split("data: ", 1)[1])["previous"] == "offline"
    await page.aclose()

"""The station page (/ui/stations/{id}): state, connectors, incidents, commands, and the
remote-action forms (CSRF, command issued, 303 back to the page)."""

from __future__ import annotations

import re

import httpx

from evcsms.domain.clock import FrozenClock
from evcsms.domain.faults import Finding, Severity
from evcsms.services.container import Services
from evcsms.services.stations import ConnectorStatus
from tests.web.conftest import csrf_of


async def make_station(services: Services, clock: FrozenClock) -> None:
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Faulted", error_code="GroundFailure"), clock.now())
    await services.stations.connector_status("CP1", ConnectorStatus(2, 1, "Available"), clock.now())
    await services.incidents.report("CP1", Finding(
        kind="connector_faulted", severity=Severity.CRITICAL, key="faulted:CP1:1",
        message="Connector 1 reports GroundFailure", action="Send a technician"))


async def test_station_page_shows_connectors_incidents_and_commands(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    # offline station: the command fails at once, and is listed with that final status
    await services.commands.issue("CP1", "reset", {"type": "soft"}, created_by="alice")

    page = await logged_in.get("/ui/stations/CP1")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Harbour, bay 1" in html
    assert 'data-state="offline"' in html
    rows = re.findall(r'<tr data-connector="([^"]+)">.*?data-status="([^"]+)".*?'
                      r'<td data-error-code>([^<]*)</td>', html, re.DOTALL)
    assert rows == [("1-1", "Faulted", "GroundFailure"), ("2-1", "Available", "")]
    assert "connector_faulted" in html and "Connector 1 reports GroundFailure" in html
    assert re.search(r'data-command="reset".*?data-command-status="failed"', html, re.DOTALL)
    for action in ("reset", "unlock_connector", "change_availability", "trigger_message"):
        assert f'action="/ui/stations/CP1/commands/{action}"' in html
    assert "Reset (soft)" in html and "Reset (hard)" in html
    # the fleet table links to it
    fleet = await logged_in.get("/ui/")
    assert 'href="/ui/stations/CP1"' in fleet.text


async def test_an_action_issues_the_command_and_redirects_back(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    page = await logged_in.get("/ui/stations/CP1")
    response = await logged_in.post("/ui/stations/CP1/commands/change_availability", data={
        "csrf_token": csrf_of(page.text), "evse_id": "2", "availability": "inoperative"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/stations/CP1"
    records, total = await services.commands.list("CP1", limit=10, offset=0)
    assert total == 1
    assert records[0].name == "change_availability"
    assert records[0].params == {"availability": "inoperative", "evse_id": 2}
    assert records[0].created_by == "alice"
    assert records[0].status == "failed"  # not connected
    again = await logged_in.get("/ui/stations/CP1")
    assert 'data-command="change_availability"' in again.text


async def test_actions_need_the_csrf_token(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    for token in (None, "forged"):
        data = {"type": "hard"} if token is None else {"type": "hard", "csrf_token": token}
        response = await logged_in.post("/ui/stations/CP1/commands/reset", data=data)
        assert response.status_code == 403
    assert (await services.commands.list("CP1", limit=10, offset=0))[1] == 0


async def test_bad_parameters_and_unknown_actions_are_refused(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    token = csrf_of((await logged_in.get("/ui/stations/CP1")).text)
    bad = await logged_in.post("/ui/stations/CP1/commands/change_availability",
                               data={"csrf_token": token, "availability": "sideways"})
    assert bad.status_code == 422
    unknown = await logged_in.post("/ui/stations/CP1/commands/format_disk",
                                   data={"csrf_token": token})
    assert unknown.status_code == 404
    assert (await services.commands.list("CP1", limit=10, offset=0))[1] == 0


async def test_an_unknown_station_is_a_404_page(logged_in: httpx.AsyncClient) -> None:
    page = await logged_in.get("/ui/stations/NOPE")
    assert page.status_code == 404
    assert "Station not found" in page.text
    token = csrf_of((await logged_in.get("/ui/")).text)
    post = await logged_in.post("/ui/stations/NOPE/commands/reset",
                                data={"csrf_token": token, "type": "soft"})
    assert post.status_code == 404


async def test_logged_out_is_sent_to_the_login_form(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    page = await browser.get("/ui/stations/CP1")
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/login"
    post = await browser.post("/ui/stations/CP1/commands/reset", data={"type": "soft"})
    assert post.status_code == 303
    assert (await services.commands.list("CP1", limit=10, offset=0))[1] == 0

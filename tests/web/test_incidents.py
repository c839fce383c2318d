"""The incidents pages (/ui/incidents, /ui/incidents/{id}): list, filters, counts, detail
with its timeline, and the acknowledge / comment / resolve forms (CSRF, 303 back)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import update

from evcsms.domain.clock import FrozenClock
from evcsms.domain.faults import Finding, Severity
from evcsms.services.container import Services
from evcsms.services.users import UserRole
from evcsms.storage import tables as t
from evcsms.web import incidents as web_incidents
from tests.web.conftest import PASSWORD, csrf_of, log_in


def fault(station: str, evse: int, code: str = "GroundFailure",
          action: str = "do not reset remotely: send a technician") -> Finding:
    return Finding(kind="connector_fault", severity=Severity.CRITICAL,
                   key=f"fault:{station}/{evse}/1:{code}",
                   message=f"{station}/{evse}/1: {code} reported",
                   action=action, evidence={"error_code": code, "status": "Faulted"})


def offline(station: str) -> Finding:
    return Finding(kind="offline", severity=Severity.WARNING, key=f"offline:{station}",
                   message=f"{station} is offline (not connected)", action="check power")


async def berlin_site(services: Services, clock: FrozenClock, station: str) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(t.table_of(t.Site).insert().values(
            id="harbour", name="Harbour", time_zone="Europe/Berlin", created_at=clock.now(),
            updated_at=clock.now()))
        await conn.execute(update(t.Station).where(t.Station.id == station)
                           .values(site_id="harbour"))


async def make_incidents(services: Services, clock: FrozenClock) -> dict[str, int]:
    await services.stations.create("CP1", password=None, description="Harbour, bay 1")
    await services.stations.create("CP2", password=None)
    await berlin_site(services, clock, "CP1")
    ids = {"fault": await services.incidents.report("CP1", fault("CP1", 1)),
           "offline": await services.incidents.report("CP2", offline("CP2")),
           "old": await services.incidents.report("CP2", fault("CP2", 2, "HighTemperature"))}
    await services.incidents.acknowledge(ids["offline"], "bob")
    await services.incidents.resolve(ids["old"], "bob", "replaced the fan")
    return ids


def listed(html: str) -> list[tuple[int, str]]:
    """(id, status) of each row of the table, in order."""
    return [(int(i), s) for i, s in re.findall(
        r'<tr data-incident-id="(\d+)".*?data-status="([a-z]+)"', html, re.DOTALL)]


async def test_the_list_shows_active_incidents_newest_first_with_counts(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    page = await logged_in.get("/ui/incidents")
    assert page.status_code == 200, page.text
    html = page.text
    assert listed(html) == [(ids["offline"], "acknowledged"), (ids["fault"], "open")]
    for status, n in (("active", 2), ("open", 1), ("acknowledged", 1), ("resolved", 1)):
        assert f'data-count="{status}">{n}</span>' in html
    # a row: severity and kind, the station link, the EVSE, the message, the local time
    row = re.search(rf'<tr data-incident-id="{ids["fault"]}".*?</tr>', html, re.DOTALL)
    assert row is not None
    text = row.group(0)
    assert 'data-severity="critical"' in text and "connector_fault" in text
    assert 'href="/ui/stations/CP1"' in text and "EVSE 1, connector 1" in text
    assert "CP1/1/1: GroundFailure reported" in text
    assert "2026-03-02 10:00 CET" in text  # 09:00 UTC at a Berlin site
    assert f'href="/ui/incidents/{ids["fault"]}"' in text
    offline_row = re.search(rf'<tr data-incident-id="{ids["offline"]}".*?</tr>', html, re.DOTALL)
    assert offline_row is not None and "2026-03-02 09:00 UTC" in offline_row.group(0)


async def test_the_list_filters_by_status_kind_station_and_text(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)

    async def rows(query: str) -> list[tuple[int, str]]:
        page = await logged_in.get(f"/ui/incidents?{query}")
        assert page.status_code == 200, page.text
        return listed(page.text)

    assert await rows("status=resolved") == [(ids["old"], "resolved")]
    assert await rows("status=open") == [(ids["fault"], "open")]
    assert await rows("status=all") == [(ids["old"], "resolved"), (ids["offline"], "acknowledged"),
                                        (ids["fault"], "open")]
    assert await rows("status=all&kind=connector_fault") == [(ids["old"], "resolved"),
                                                             (ids["fault"], "open")]
    assert await rows("status=all&station=CP2") == [(ids["old"], "resolved"),
                                                    (ids["offline"], "acknowledged")]
    assert await rows("status=all&q=groundfail") == [(ids["fault"], "open")]
    assert await rows("q=100%25") == []  # LIKE wildcards are matched literally
    # counts follow the other filters
    page = await logged_in.get("/ui/incidents?station=CP2")
    assert 'data-count="resolved">1</span>' in page.text
    assert 'data-count="open">0</span>' in page.text
    # kinds offered in the filter
    assert '<option value="offline"' in page.text


async def test_bad_filters_are_a_400_page(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    for query in ("status=closed", "page=0", "page=abc", "kind=" + "x" * 41):
        page = await logged_in.get(f"/ui/incidents?{query}")
        assert page.status_code == 400, query
        assert 'role="alert"' in page.text


async def test_the_list_is_paginated(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await services.stations.create("CP1", password=None)
    for n in range(1, 53):
        await services.incidents.report("CP1", fault("CP1", n))
    first = await logged_in.get("/ui/incidents")
    assert len(listed(first.text)) == 50
    assert 'rel="next" href="/ui/incidents?page=2"' in first.text
    second = await logged_in.get("/ui/incidents?page=2")
    assert len(listed(second.text)) == 2
    assert 'rel="prev"' in second.text
    assert listed(first.text)[0][0] > listed(second.text)[0][0]


async def test_the_detail_shows_facts_and_timeline(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    page = await logged_in.get(f"/ui/incidents/{ids['old']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-status="resolved"' in html
    assert re.findall(r'data-note="([a-z]+)"', html) == ["opened", "resolved"]
    assert "replaced the fan" in html and "by bob" in html
    assert 'id="acknowledge"' not in html and 'id="resolve"' not in html  # nothing to do
    assert 'id="comment"' in html

    page = await logged_in.get(f"/ui/incidents/{ids['fault']}")
    html = page.text
    assert 'data-status="open"' in html and "do not reset remotely" in html
    assert "2026-03-02 10:00 CET" in html and "Europe/Berlin" in html
    assert 'href="/ui/stations/CP1"' in html
    for form in ("acknowledge", "comments", "resolve"):
        assert f'action="/ui/incidents/{ids["fault"]}/{form}"' in html
    assert "GroundFailure" in html  # the evidence
    # the remote actions that fit: ask for the status again, but no reset (advised against)
    assert re.search(r'action="/ui/stations/CP1/commands/trigger_message">.*?'
                     r'name="evse_id" value="1"', html, re.DOTALL)
    assert "/commands/reset" not in html and "/commands/unlock_connector" not in html

    lock = await services.incidents.report("CP1", fault(
        "CP1", 2, "ConnectorLockFailure", "unlock the connector remotely; else soft reset"))
    html = (await logged_in.get(f"/ui/incidents/{lock}")).text
    assert 'action="/ui/stations/CP1/commands/reset"' in html
    assert re.search(r'action="/ui/stations/CP1/commands/unlock_connector">.*?'
                     r'name="evse_id" value="2"', html, re.DOTALL)
    offline_page = (await logged_in.get(f"/ui/incidents/{ids['offline']}")).text
    assert "/commands/" not in offline_page  # an offline station cannot be commanded
    assert 'data-station-link' in offline_page


async def test_acknowledge_comment_resolve_change_the_incident(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    url = f"/ui/incidents/{ids['fault']}"
    token = csrf_of((await logged_in.get(url)).text)

    response = await logged_in.post(f"{url}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}?done=acknowledged"
    row, _ = await services.incidents.get(ids["fault"])
    assert row.status == "acknowledged" and row.acknowledged_at is not None

    response = await logged_in.post(f"{url}/comments", data={
        "csrf_token": token, "text": "  technician booked <b>tomorrow</b>  "})
    assert response.status_code == 303
    response = await logged_in.post(f"{url}/resolve", data={
        "csrf_token": token, "text": "RCD reset on site"})
    assert response.status_code == 303
    row, notes = await services.incidents.get(ids["fault"])
    assert row.status == "resolved" and row.resolved_at is not None
    assert [(n.what, n.author, n.text) for n in notes] == [
        ("opened", "evcsms", "CP1/1/1: GroundFailure reported"),
        ("acknowledged", "alice", ""),
        ("comment", "alice", "technician booked <b>tomorrow</b>"),
        ("resolved", "alice", "RCD reset on site")]

    page = await logged_in.get(f"{url}?done=resolved")
    assert re.findall(r'data-note="([a-z]+)"', page.text) == [
        "opened", "acknowledged", "comment", "resolved"]
    assert "technician booked &lt;b&gt;tomorrow&lt;/b&gt;" in page.text  # escaped
    assert 'data-done' in page.text and "Resolved." in page.text
    listing = await logged_in.get("/ui/incidents")
    assert listed(listing.text) == [(ids["offline"], "acknowledged")]


async def test_conflicts_and_bad_comments_are_4xx_pages(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    url = f"/ui/incidents/{ids['old']}"
    token = csrf_of((await logged_in.get(url)).text)
    for action in ("resolve", "acknowledge"):
        response = await logged_in.post(f"{url}/{action}", data={"csrf_token": token})
        assert response.status_code == 409, action
        assert "resolved" in response.text and 'role="alert"' in response.text
    acked = f"/ui/incidents/{ids['offline']}"
    response = await logged_in.post(f"{acked}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 409
    for text in ("", "   ", "x" * 2001):
        response = await logged_in.post(f"{url}/comments", data={"csrf_token": token,
                                                                 "text": text})
        assert response.status_code == 422, text[:5]
    response = await logged_in.post(f"{acked}/resolve", data={"csrf_token": token,
                                                              "text": "y" * 2001})
    assert response.status_code == 422
    _, notes = await services.incidents.get(ids["old"])
    assert [n.what for n in notes] == ["opened", "resolved"]
    row, _ = await services.incidents.get(ids["offline"])
    assert row.status == "acknowledged"


async def test_forms_need_the_csrf_token(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    url = f"/ui/incidents/{ids['fault']}"
    for action, text in (("acknowledge", ""), ("comments", "hello"), ("resolve", "done")):
        for data in ({"text": text}, {"text": text, "csrf_token": "forged"}):
            response = await logged_in.post(f"{url}/{action}", data=data)
            assert response.status_code == 403, action
    row, notes = await services.incidents.get(ids["fault"])
    assert row.status == "open" and len(notes) == 1


async def test_unknown_incidents_are_404(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    token = csrf_of((await logged_in.get(f"/ui/incidents/{ids['fault']}")).text)
    for raw in ("999999", "0", "abc", "-1", "99999999999999999999"):
        page = await logged_in.get(f"/ui/incidents/{raw}")
        assert page.status_code == 404, raw
        assert "Incident not found" in page.text
        response = await logged_in.post(f"/ui/incidents/{raw}/acknowledge",
                                        data={"csrf_token": token})
        assert response.status_code == 404, raw


async def test_drivers_get_403_and_strangers_the_login(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    ids = await make_incidents(services, clock)
    url = f"/ui/incidents/{ids['fault']}"
    for path in ("/ui/incidents", url):
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    response = await browser.post(f"{url}/acknowledge", data={"csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert (await browser.get("/ui/incidents/events")).status_code == 401

    await services.users.create("dora", UserRole.DRIVER)
    await services.users.set_password("dora", PASSWORD)
    assert (await log_in(browser, "dora", PASSWORD)).status_code == 303
    for path in ("/ui/incidents", url):
        assert (await browser.get(path)).status_code == 403
    me = await browser.get("/ui/me/")
    token = csrf_of(me.text) if me.status_code == 200 else "x"
    response = await browser.post(f"{url}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 403
    row, _ = await services.incidents.get(ids["fault"])
    assert row.status == "open"
    assert (await browser.get("/ui/incidents/events")).status_code == 401


async def test_the_event_stream_tells_of_every_change(
        services: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opened and resolved arrive over the bus at once; an acknowledgement or a comment
    (no bus event) is found by the poll of the newest timeline note."""
    monkeypatch.setattr(web_incidents, "POLL_SECONDS", 0.05)
    await services.stations.create("CP1", password=None)
    stream = web_incidents._stream(services)
    try:
        assert await anext(stream) == ": connected\n\n"
        opened = await services.incidents.report("CP1", fault("CP1", 1))

        async def until(what: str) -> str:
            """The first event about `what`: a poll may see a note before its bus event."""
            while True:
                chunk = await asyncio.wait_for(anext(stream), 5)
                if f'"what": "{what}"' in chunk:
                    assert chunk.startswith("event: incident\ndata: {")
                    return chunk

        assert f'"id": {opened}' in await until("opened")
        await services.incidents.acknowledge(opened, "bob")
        assert await until("changed") == 'event: incident\ndata: {"what": "changed"}\n\n'
        assert (await asyncio.wait_for(anext(stream), 5)).startswith(":")  # nothing new
        await services.incidents.comment(opened, "bob", "on my way")
        await until("changed")
        await services.incidents.resolve(opened, "bob")
        assert f'"id": {opened}' in await until("resolved")
    finally:
        await stream.aclose()

"""Sites and load management (/ui/sites, /ui/sites/{id}): the figures the pages show are
the load service's (limits, profiles sent, draws), pause/resume, and the refusals."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from evcsms.bus.base import station_subject
from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction
from evcsms.services.stations import ConnectorStatus
from evcsms.services.users import UserRole
from tests.api.conftest import flush
from tests.web.conftest import PASSWORD, csrf_of, log_in

TREE: dict[str, Any] = {
    "circuits": [{"id": "grid", "max_current_a": [32, 32, 32]},
                 {"id": "fuse-a", "parent": "grid", "max_current_a": [20, 20, 20]}],
    "evses": [{"id": f"CP{n}/1", "circuit": "fuse-a" if n <= 2 else "grid",
               "max_current_a": 32} for n in range(1, 4)],
}


async def accept_commands(services: Services, station: str) -> Any:
    """Answer the station's commands as its gateway would when the station accepts."""

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        return {"status": "accepted", "ocpp_action": "SetChargingProfile",
                "response": {"status": "Accepted"}}

    return await services.bus.serve(station_subject(station, "command"), answer)


async def make_site(services: Services, clock: FrozenClock) -> dict[str, int]:
    """DEPOT (Amsterdam) with CP1..CP3 on a 32 A grid (CP1, CP2 behind a 20 A fuse), cars
    charging on CP1 and CP2 with meter values; CP1 and CP2 accept profiles, CP3 is idle.
    HARBOUR has a station but no load tree."""
    await services.tariffs.put_site("DEPOT", name="Depot", time_zone="Europe/Amsterdam")
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="UTC")
    for n in range(1, 4):
        await services.stations.create(f"CP{n}", password=None, description=f"Bay {n}")
        await services.tariffs.place_station(f"CP{n}", "DEPOT")
        await services.stations.set_connected(f"CP{n}", True, "node-a")
        await services.stations.connector_status(
            f"CP{n}", ConnectorStatus(1, 1, "Charging" if n <= 2 else "Available"), clock.now())
    await services.stations.create("HB1", password=None)
    await services.tariffs.place_station("HB1", "HARBOUR")
    for n in (1, 2):
        await accept_commands(services, f"CP{n}")
    await services.tokens.create("TAG")
    await services.load.put("DEPOT", TREE, by="test")
    await services.load.settled()
    sessions = {}
    for n, minutes in ((1, 50), (2, 40)):
        sessions[f"CP{n}"] = (await services.sessions.start_v16(StartTransaction(
            f"CP{n}", 1, "TAG", Decimal(0), clock.now() - timedelta(minutes=minutes)))
        ).transaction_id
    await services.load.settled()
    await services.load.rebalance("DEPOT")
    now = clock.now()
    # CP1 reports its power; CP2 only currents (6 A on each phase)
    await services.sessions.meter_values("CP1", 1, [
        SampledValue(now - timedelta(seconds=30), Decimal(6900), "Power.Active.Import", "W"),
        *(SampledValue(now - timedelta(seconds=30), Decimal(10), "Current.Import", "A", phase=ph)
          for ph in ("L1", "L2", "L3"))], transaction_id=sessions["CP1"])
    await services.sessions.meter_values("CP2", 1, [
        SampledValue(now - timedelta(seconds=20), Decimal(6), "Current.Import", "A", phase=ph)
        for ph in ("L1", "L2", "L3")], transaction_id=sessions["CP2"])
    await flush(services)
    return sessions


def attr(html: str, selector: str, name: str) -> str:
    found = re.search(selector + r'[^>]*?' + name + r'="([^"]*)"', html, re.DOTALL)
    assert found, (selector, name)
    return found.group(1)


def evse_row(html: str, key: str) -> str:
    found = re.search(rf'<tr data-evse="{re.escape(key)}".*?</tr>', html, re.DOTALL)
    assert found, key
    return found.group(0)


async def test_the_site_page_shows_the_services_limits_allocations_and_draws(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    sessions = await make_site(services, clock)
    page = await logged_in.get("/ui/sites/DEPOT")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-time-zone>Europe/Amsterdam<' in html
    assert attr(html, '<dd', "data-paused") == "no"
    # the grid connection: 32 A x 3 phases x 230 V
    assert Decimal(attr(html, "<dd", "data-limit-kw")) == Decimal("22.08")
    assert re.search(r'data-circuit="fuse-a".*?data-max-current-a>20 / 20 / 20<', html,
                     re.DOTALL)

    profiles = {(p.station_id, p.evse_id, p.purpose): p
                for p in await services.load.profiles("DEPOT")}
    outcome = await services.load.rebalance("DEPOT", send=False)
    for n in (1, 2):
        row = evse_row(html, f"CP{n}/1")
        live = profiles[(f"CP{n}", 1, "allocation")]
        assert live.status == "accepted" and live.limit == 10  # 20 A fuse shared
        assert Decimal(attr(row, "<span", "data-live-limit")) == live.limit
        assert attr(row, "<small", "data-live-status") == "accepted"
        phases = live.number_phases or 3
        assert Decimal(attr(row, "<tr", "data-allocated-kw")) == live.limit * 230 * phases / 1000
        assert f'data-session="{sessions[f"CP{n}"]}"' in row
        assert 'href="/ui/stations/CP' in row
        assert Decimal(attr(row, "<span", "data-setpoint")) == \
            outcome.allocation.setpoint(f"CP{n}/1").limit
    # draws: the service's measured draw (CP1 its power; CP2 its currents x 230 V)
    cp1, cp2 = evse_row(html, "CP1/1"), evse_row(html, "CP2/1")
    assert Decimal(attr(cp1, "<tr", "data-draw-kw")) == outcome.draws["CP1/1"]["draw_kw"] \
        == Decimal("6.9")
    assert outcome.draws["CP2/1"]["draw_kw"] is None
    assert outcome.draws["CP2/1"]["draw_a"] == (6, 6, 6)
    assert Decimal(attr(cp2, "<tr", "data-draw-kw")) == Decimal(18 * 230) / 1000
    assert attr(cp1, "<tr", "data-stale") == "no"
    # CP3 idle: its failsafe was never accepted (no gateway answers for it), nothing runs
    cp3 = evse_row(html, "CP3/1")
    assert 'data-session=""' in cp3 and attr(cp3, "<tr", "data-allocated-kw") == ""
    # totals
    total = Decimal(attr(html, "<dd", "data-allocated-kw"))
    assert total == sum(Decimal(attr(evse_row(html, f"CP{n}/1"), "<tr", "data-allocated-kw"))
                        for n in (1, 2))
    assert Decimal(attr(html, "<dd", "data-draw-kw")) == Decimal("6.9") + Decimal("4.14")
    # the chart: allocated from the profiles sent, drawn from the readings, the limit
    assert 'id="site-load-chart"' in html
    for name in ("Allocated", "Drawn", "Limit"):
        assert f'data-series="{name}"' in html
    assert Decimal(attr(html, '<polyline[^>]*data-series="Allocated"', "data-total")) == total
    assert Decimal(attr(html, '<polyline[^>]*data-series="Drawn"', "data-total")) == \
        Decimal("11.04")
    assert Decimal(attr(html, '<polyline[^>]*data-series="Limit"', "data-total")) == \
        Decimal("22.08")
    # the stations placed on the site, with their state (fleet rows)
    stations = re.search(r'<table id="site-stations">.*?</table>', html, re.DOTALL)
    assert stations is not None
    assert re.findall(r'<tr data-station-id="([^"]+)"', stations.group(0)) == \
        ["CP1", "CP2", "CP3"]
    assert 'data-state="charging"' in stations.group(0)
    assert "data-over-kw" not in html
    # a car drawing well above its allocation (a station ignoring its profile) is flagged
    await services.sessions.meter_values("CP1", 1, [SampledValue(
        clock.now(), Decimal(9000), "Power.Active.Import", "W")], transaction_id=sessions["CP1"])
    await flush(services)
    again = await logged_in.get("/ui/sites/DEPOT")
    assert Decimal(attr(evse_row(again.text, "CP1/1"), "<strong", "data-over-kw")) == \
        Decimal(9) - Decimal(attr(cp1, "<tr", "data-allocated-kw"))


async def test_the_sites_list_shows_every_site_with_its_figures(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_site(services, clock)
    page = await logged_in.get("/ui/sites")
    assert page.status_code == 200, page.text
    rows = dict(re.findall(r'<tr data-site-id="([^"]+)">(.*?)</tr>', page.text, re.DOTALL))
    assert list(rows) == ["DEPOT", "HARBOUR"]
    depot, harbour = rows["DEPOT"], rows["HARBOUR"]
    assert "Europe/Amsterdam" in depot and 'data-stations>3<' in depot
    assert 'data-managed="yes"' in depot and 'data-managed="no"' in harbour
    assert Decimal(attr(depot, "<td", "data-limit-kw")) == Decimal("22.08")
    assert 'data-running>2<' in depot
    profiles = [p for p in await services.load.profiles("DEPOT") if p.purpose == "allocation"]
    assert Decimal(attr(depot, "<td", "data-allocated-kw")) == sum(
        p.limit * 230 * (p.number_phases or 3) / 1000 for p in profiles)
    assert Decimal(attr(depot, "<td", "data-draw-kw")) == Decimal("11.04")
    assert 'data-stations>1<' in harbour and attr(harbour, "<td", "data-limit-kw") == ""
    assert 'href="/ui/sites/DEPOT"' in depot


async def test_pause_and_resume_hold_the_site_at_zero_and_back(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_site(services, clock)
    page = await logged_in.get("/ui/sites/DEPOT")
    token = csrf_of(page.text)
    assert 'action="/ui/sites/DEPOT/pause"' in page.text
    response = await logged_in.post("/ui/sites/DEPOT/pause", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sites/DEPOT"
    managed = await services.load.get("DEPOT")
    assert managed.paused and managed.updated_by == "alice"
    paused = await logged_in.get("/ui/sites/DEPOT")
    assert attr(paused.text, "<dd", "data-paused") == "yes"
    assert 'action="/ui/sites/DEPOT/resume"' in paused.text
    assert set(re.findall(r'data-reason="([^"]+)"', paused.text)) == {"paused"}
    listed = await logged_in.get("/ui/sites")
    assert "data-paused" in listed.text

    response = await logged_in.post("/ui/sites/DEPOT/resume", data={"csrf_token": token})
    assert response.status_code == 303
    assert not (await services.load.get("DEPOT")).paused
    # a site without a load tree cannot be paused
    refused = await logged_in.post("/ui/sites/HARBOUR/pause", data={"csrf_token": token})
    assert refused.status_code == 409 and "not under load management" in refused.text


async def test_forms_need_their_csrf_token(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_site(services, clock)
    for data in ({}, {"csrf_token": "forged"}):
        response = await logged_in.post("/ui/sites/DEPOT/pause", data=data)
        assert response.status_code == 403
    assert not (await services.load.get("DEPOT")).paused


async def test_unknown_sites_and_bad_parameters_get_clear_pages(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_site(services, clock)
    missing = await logged_in.get("/ui/sites/NOWHERE")
    assert missing.status_code == 404 and "There is no site" in missing.text
    page = await logged_in.get("/ui/sites/DEPOT")
    posted = await logged_in.post("/ui/sites/NOWHERE/pause",
                                  data={"csrf_token": csrf_of(page.text)})
    assert posted.status_code == 404
    for url in ("/ui/sites/DEPOT?hours=abc", "/ui/sites/DEPOT?hours=5",
                "/ui/sites?page=0", "/ui/sites?page=x"):
        response = await logged_in.get(url)
        assert response.status_code == 400, url
    assert (await logged_in.get("/ui/sites?page=9")).status_code == 404
    for n in range(50):  # 52 sites: two pages
        await services.tariffs.put_site(f"S{n:02}", name=None, time_zone=None)
    first, second = (await logged_in.get("/ui/sites")), (await logged_in.get("/ui/sites?page=2"))
    assert first.text.count("<tr data-site-id=") == 50 and "Page 1 of 2" in first.text
    assert re.findall(r'<tr data-site-id="([^"]+)"', second.text) == ["S48", "S49"]
    assert 'href="/ui/sites?page=1"' in second.text
    # a site without load management still shows its stations and draw chart
    harbour = await logged_in.get("/ui/sites/HARBOUR?hours=24")
    assert harbour.status_code == 200
    assert 'data-managed="no"' in harbour.text and 'data-station-id="HB1"' in harbour.text
    assert 'id="site-load-chart"' in harbour.text


async def test_drivers_and_strangers_are_kept_out(
        browser: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_site(services, clock)
    for url in ("/ui/sites", "/ui/sites/DEPOT"):
        response = await browser.get(url)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert (await browser.post("/ui/sites/DEPOT/pause")).status_code == 303
    await services.users.create("dora", UserRole.DRIVER)
    await services.users.set_password("dora", PASSWORD)
    assert (await log_in(browser, "dora", PASSWORD)).status_code == 303
    for url in ("/ui/sites", "/ui/sites/DEPOT"):
        assert (await browser.get(url)).status_code == 403
    assert (await browser.post("/ui/sites/DEPOT/pause")).status_code == 403
    assert not (await services.load.get("DEPOT")).paused


async def test_the_chart_follows_the_profiles_sent_and_the_readings_over_time(
        services: Services, clock: FrozenClock) -> None:
    """Allocations are kept only as the latest state; the chart reads their history from
    the profiles load management sent (the command log) and the draw from meter values."""
    from evcsms.services.sessions import StopTransaction
    from evcsms.web.sites import history

    sessions = await make_site(services, clock)
    t0 = clock.now()  # CP1 and CP2 get 10 A each (the 20 A fuse); nothing was sent before
    clock.advance(600)
    await services.sessions.stop_v16(StopTransaction(
        "CP2", sessions["CP2"], Decimal(1000), clock.now()))
    await services.load.settled()
    await services.load.rebalance("DEPOT")  # CP1 alone behind the fuse: 20 A
    await services.sessions.meter_values("CP1", 1, [SampledValue(
        clock.now(), Decimal(13000), "Power.Active.Import", "W")], transaction_id=sessions["CP1"])
    await flush(services)
    live = {p.station_id: p for p in await services.load.profiles("DEPOT")
            if p.purpose == "allocation"}
    assert live["CP1"].limit == 20

    managed = await services.load.get("DEPOT")
    start, end = t0 - timedelta(minutes=62), clock.now()  # a step of one minute
    async with services.engine.connect() as conn:
        series = {s.name: dict(s.points) for s in
                  await history(conn, "DEPOT", managed, start, end)}
    assert set(series) == {"Allocated", "Drawn", "Limit"}
    allocated, drawn, limit = series["Allocated"], series["Drawn"], series["Limit"]
    phases = live["CP1"].number_phases or 3
    assert allocated[end] == Decimal(20) * 230 * phases / 1000  # CP1 only, its new profile
    assert allocated[t0] == 2 * Decimal(10) * 230 * phases / 1000  # both, at 10 A
    assert t0 - timedelta(minutes=1) not in allocated  # running, but nothing sent yet
    assert allocated[start] == 0  # nothing running at all
    assert drawn[end] == 13 and drawn[t0] == Decimal("6.9") + Decimal("4.14")
    assert drawn[t0 - timedelta(minutes=5)] == 0  # no reading before
    assert set(limit.values()) == {Decimal("22.08")}

"""The uptime report (/ui/uptime) and its CSV (/ui/uptime.csv): the figures shown are the
uptime service's, per port, per site and for the fleet, over the chosen period."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from evcsms.domain.clock import FrozenClock
from evcsms.domain.uptime import combined
from evcsms.services.container import Services
from evcsms.services.stations import ConnectorStatus
from evcsms.services.users import UserRole
from evcsms.web.uptime import BadReport, read_period
from tests.conftest import T0
from tests.web.conftest import PASSWORD, log_in

FEB = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))  # 40,320 minutes


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 2, day, hour, tzinfo=UTC)


async def move_to(clock: FrozenClock, when: datetime) -> None:
    clock.advance((when - clock.now()).total_seconds())


async def make_fleet(services: Services, clock: FrozenClock) -> None:
    """All up since 31 January, except in February: A1 port 1 faulted for 12 h on the
    10th; B1 offline for two days from the 20th, the first 6 h of it a utility outage (and
    maintenance excluded on the 25th while it was up, which changes nothing). A1 is at
    NORTH (Berlin), B1 at SOUTH, C1 has no site."""
    await services.tariffs.put_site("NORTH", name="North depot", time_zone="Europe/Berlin")
    await services.tariffs.put_site("SOUTH", name="South", time_zone="UTC")
    await move_to(clock, datetime(2026, 1, 31, tzinfo=UTC))
    for station, site, ports in (("A1", "NORTH", 2), ("B1", "SOUTH", 1), ("C1", None, 1)):
        await services.stations.create(station, password=None)
        if site:
            await services.tariffs.place_station(station, site)
        await services.stations.set_connected(station, True, "node-a")
        for evse in range(1, ports + 1):
            await services.stations.connector_status(
                station, ConnectorStatus(evse, 1, "Available"), clock.now())
    await services.stations.connector_status(
        "A1", ConnectorStatus(1, 1, "Faulted", "GroundFailure"), at(10))
    await services.stations.connector_status("A1", ConnectorStatus(1, 1, "Available"),
                                             at(10, 12))
    await move_to(clock, at(20))
    await services.stations.set_connected("B1", False, "node-a")
    await move_to(clock, at(22))
    await services.stations.set_connected("B1", True, "node-a")
    await move_to(clock, T0)
    await services.uptime.exclude("B1", None, at(20), at(20, 6), "utility_outage",
                                  "grid notice 4711", "alice")
    await services.uptime.exclude("B1", 1, at(25), at(25, 2), "scheduled_maintenance", "", "alice")


def rows_of(html: str, table: str) -> dict[str, dict[str, str]]:
    """The data- attributes of each row of a table, by its data-port or data-site."""
    body = re.search(rf'<table id="{table}">.*?</table>', html, re.DOTALL)
    assert body, html
    out = {}
    for tr in re.findall(r"<tr (data-[^>]*)>", body.group(0), re.DOTALL):
        attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tr))
        out[attrs.get("port") or attrs["site"]] = attrs
    return out


def expected(u: object) -> dict[str, str]:
    f = u.figures()  # type: ignore[attr-defined]
    return {"percent": str(f["percent"]), "outage": str(f["outage_minutes"]),
            "excluded": str(f["excluded_minutes"]), "total": str(f["period_minutes"])}


def shown(attrs: dict[str, str]) -> dict[str, str]:
    return {k: attrs[k] for k in ("percent", "outage", "excluded", "total")}


async def test_the_report_shows_the_services_figures_per_port_site_and_fleet(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    page = await logged_in.get("/ui/uptime")  # last month by default: February
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-from="2026-02-01T00:00:00+00:00" data-to="2026-03-01T00:00:00+00:00"' in html
    assert "40,320 minutes per port" in html

    ports = await services.uptime.ports(*FEB)
    rows = rows_of(html, "uptime-ports")
    assert set(rows) == {"A1/1/1", "A1/2/1", "B1/1/1", "C1/1/1"}
    for p in ports:
        assert shown(rows[f"{p.station_id}/{p.evse_id}/{p.connector_id}"]) == expected(p.uptime)
    assert rows["A1/1/1"]["percent"] == "98.2143" and rows["A1/1/1"]["meets"] == "yes"
    assert shown(rows["B1/1/1"]) == {"percent": "93.7500", "outage": "2880", "excluded": "360",
                                     "total": "40320"}
    assert rows["B1/1/1"]["meets"] == "no"
    # worst first, with the verdict in words
    order = re.findall(r'<tr data-port="([^"]+)"', html)
    assert order == ["B1/1/1", "A1/1/1", "A1/2/1", "C1/1/1"]
    b1 = re.search(r'<tr data-port="B1/1/1".*?</tr>', html, re.DOTALL)
    assert b1 and "93.75 %" in b1.group(0) and "below 97 %" in b1.group(0)

    sites = rows_of(html, "uptime-sites-table")
    for site, key in (("NORTH", "NORTH"), ("SOUTH", "SOUTH"), (None, "-")):
        assert shown(sites[key]) == expected(combined(p.uptime for p in ports
                                                      if p.site_id == site))
    assert sites["NORTH"]["percent"] == "99.1071" and sites["NORTH"]["meets"] == "yes"
    assert sites["SOUTH"]["meets"] == "no"
    assert re.findall(r'<tr data-site="([^"]+)"', html) == ["SOUTH", "NORTH", "-"]

    fleet = services.uptime.total(ports)
    section = re.search(r'<section id="uptime-fleet"[^>]*>.*?</section>', html, re.DOTALL)
    assert section, html
    assert f'data-percent="{fleet.figures()["percent"]}"' in section.group(0)
    assert 'data-percent="97.9911"' in section.group(0)  # (161280 - 3240) / 161280
    assert "97.99 %" in section.group(0) and "meets 97 %" in section.group(0)
    assert "<dd data-outage-minutes>3,600</dd>" in section.group(0)
    assert "<dd data-excluded-minutes>360</dd>" in section.group(0)

    # both exclusions overlap February, in the site's local time (SOUTH is UTC)
    exclusions = re.findall(r'<tr data-exclusion-id="\d+">(.*?)</tr>', html, re.DOTALL)
    assert len(exclusions) == 2 and 'data-exclusions="2"' in html
    assert "utility outage" in exclusions[0] and "2026-02-20 00:00 UTC" in exclusions[0]
    assert 'data-minutes="360"' in exclusions[0] and "grid notice 4711" in exclusions[0]
    assert "scheduled maintenance" in exclusions[1] and "EVSE 1" in exclusions[1]
    # the charts: the worst ports and the sites
    # the charts: counted downtime of the ports that had some, and of every site
    assert re.search(r'data-chart="uptime-ports-chart" data-bars="2"', html)
    assert re.search(r'data-chart="uptime-sites-chart" data-bars="3"', html)
    bars = re.findall(r'<rect class="bar series-0" data-label="([^"]+)" data-value="([^"]+)"',
                      html)
    assert bars[:2] == [("B1 1/1", "6.2500"), ("A1 1/1", "1.7857")]
    assert bars[2:] == [("SOUTH", "6.2500"), ("NORTH", "0.8929"), ("no site", "0.0000")]
    assert 'href="/ui/uptime.csv?period=last-month"' in html


async def test_the_site_filter_and_the_sort_by_station(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    page = await logged_in.get("/ui/uptime", params={"site": "NORTH", "sort": "station"})
    assert page.status_code == 200, page.text
    assert re.findall(r'<tr data-port="([^"]+)"', page.text) == ["A1/1/1", "A1/2/1"]
    north = services.uptime.total(await services.uptime.ports(*FEB, site_id="NORTH"))
    assert f'<section id="uptime-fleet" aria-labelledby="fleet-h" data-percent="' \
           f'{north.figures()["percent"]}" data-meets="yes"' in page.text
    assert "Site NORTH" in page.text
    assert 'data-exclusions="0"' in page.text  # B1's are at SOUTH
    assert 'href="/ui/uptime.csv?period=last-month&amp;site=NORTH"' in page.text


@pytest.mark.parametrize(("params", "start", "end"), [
    ({"period": "last-month"}, *FEB),
    ({"period": "this-month"}, datetime(2026, 3, 1, tzinfo=UTC), T0),
    ({"period": "last-30-days"}, T0 - timedelta(days=30), T0),
    ({"period": "custom", "from": "2026-02-10", "to": "2026-02-20"},
     at(10), at(21)),
    ({"from": "2026-02-20", "to": "2026-03-05"}, at(20), T0),  # no further than now
])
async def test_the_period_presets(logged_in: httpx.AsyncClient, services: Services,
                                  clock: FrozenClock, params: dict[str, str],
                                  start: datetime, end: datetime) -> None:
    await make_fleet(services, clock)
    page = await logged_in.get("/ui/uptime", params=params)
    assert page.status_code == 200, page.text
    assert f'data-from="{start.isoformat()}" data-to="{end.isoformat()}"' in page.text
    ports = await services.uptime.ports(start, end)
    rows = rows_of(page.text, "uptime-ports")
    for p in ports:
        assert shown(rows[f"{p.station_id}/{p.evse_id}/{p.connector_id}"]) == expected(p.uptime)
    total = services.uptime.total(ports).figures()["percent"]
    assert f'<section id="uptime-fleet" aria-labelledby="fleet-h" data-percent="{total}"' \
        in page.text
    # the chosen preset is the one selected in the form
    preset = params.get("period", "custom")
    assert f'<option value="{preset}" selected>' in page.text


async def test_the_csv_download(logged_in: httpx.AsyncClient, services: Services,
                                clock: FrozenClock) -> None:
    await make_fleet(services, clock)
    response = await logged_in.get("/ui/uptime.csv",
                                   params={"from": "2026-02-01", "to": "2026-02-28"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == \
        'attachment; filename="uptime-2026-02-01-2026-02-28.csv"'
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert response.text.splitlines()[0] == (
        "row,station_id,evse_id,connector_id,site_id,from,to,period_minutes,"
        "operative_minutes,outage_minutes,excluded_minutes,counted_outage_minutes,"
        "uptime_percent,meets_97_percent")
    assert [r["row"] for r in table] == ["port"] * 4 + ["site"] * 3 + ["fleet"]
    ports = await services.uptime.ports(*FEB)
    for p, r in zip(ports, table[:4], strict=True):
        f = p.uptime.figures()
        assert (r["station_id"], r["evse_id"], r["connector_id"], r["site_id"]) == (
            p.station_id, str(p.evse_id), str(p.connector_id), p.site_id or "")
        assert (r["from"], r["to"]) == ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
        assert Decimal(r["uptime_percent"]) == f["percent"]
        assert Decimal(r["outage_minutes"]) == f["outage_minutes"]
        assert Decimal(r["excluded_minutes"]) == f["excluded_minutes"]
        assert Decimal(r["period_minutes"]) == f["period_minutes"]
        assert Decimal(r["operative_minutes"]) == f["period_minutes"] - f["outage_minutes"]
    b1 = next(r for r in table if r["station_id"] == "B1")
    assert (b1["operative_minutes"], b1["counted_outage_minutes"], b1["uptime_percent"],
            b1["meets_97_percent"]) == ("37440", "2520", "93.7500", "no")
    sites = {r["site_id"]: r for r in table if r["row"] == "site"}
    assert set(sites) == {"", "NORTH", "SOUTH"}
    assert sites["NORTH"]["uptime_percent"] == "99.1071" and sites["NORTH"]["period_minutes"] \
        == "80640"
    assert sites[""]["uptime_percent"] == "100.0000"
    fleet = table[-1]
    assert (fleet["station_id"], fleet["site_id"], fleet["period_minutes"],
            fleet["outage_minutes"], fleet["excluded_minutes"], fleet["uptime_percent"],
            fleet["meets_97_percent"]) == ("", "", "161280", "3600", "360", "97.9911", "yes")

    north = await logged_in.get("/ui/uptime.csv", params={"period": "this-month",
                                                          "site": "NORTH"})
    assert north.headers["content-disposition"] == \
        'attachment; filename="uptime-2026-03-01-2026-03-02.csv"'
    north_rows = list(csv.DictReader(io.StringIO(north.text)))
    assert [(r["row"], r["station_id"], r["site_id"]) for r in north_rows] == [
        ("port", "A1", "NORTH"), ("port", "A1", "NORTH"), ("site", "", "NORTH"),
        ("fleet", "", "")]
    assert north_rows[0]["to"] == "2026-03-02T09:00:00Z"


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"from": "2026-02-30", "to": "2026-03-01"}, 400, "from: &#39;2026-02-30&#39; is not a date"),
    ({"from": "yesterday", "to": "2026-03-01"}, 400, "is not a date (YYYY-MM-DD)"),
    ({"from": "2026-02-20", "to": "2026-02-10"}, 400, "is after to"),
    ({"period": "custom", "from": "2026-02-20"}, 400, "give both a from and a to date"),
    ({"from": "2026-04-01", "to": "2026-04-30"}, 400, "the period has not begun"),
    ({"from": "2024-01-01", "to": "2026-02-01"}, 400, "at most 366 days"),
    ({"period": "last-year"}, 400, "period: &#39;last-year&#39; is not one of"),
    ({"sort": "best"}, 400, "sort: &#39;best&#39;"),
    ({"page": "0"}, 400, "page: &#39;0&#39; is not a page number"),
    ({"page": "7"}, 400, "there are only 1 pages"),
    ({"site": "NOWHERE"}, 404, "there is no site &#39;NOWHERE&#39;"),
])
async def test_bad_queries_get_a_page_with_a_message(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock,
        params: dict[str, str], status: int, message: str) -> None:
    await make_fleet(services, clock)
    page = await logged_in.get("/ui/uptime", params=params)
    assert page.status_code == status, page.text
    assert 'id="uptime-problem"' in page.text and message in page.text
    assert 'id="uptime-filter"' in page.text  # the form stays, to fix the query
    if "page" not in params:
        download = await logged_in.get("/ui/uptime.csv", params=params)
        assert download.status_code == status and message in download.text


async def test_an_empty_fleet_and_a_station_that_never_reported(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    empty = await logged_in.get("/ui/uptime")
    assert empty.status_code == 200 and "No ports in this report." in empty.text
    assert 'data-chart="uptime-ports-chart" data-bars="0"' in empty.text
    assert "No port had counted downtime in this period." in empty.text
    await services.stations.create("QUIET", password=None)
    clock.advance(10 * 86400)
    page = await logged_in.get("/ui/uptime", params={"period": "last-30-days"})
    rows = rows_of(page.text, "uptime-ports")
    assert rows["QUIET/1/1"]["percent"] == "0.0000" and rows["QUIET/1/1"]["meets"] == "no"
    # counted from its registration ten days ago, not over the whole 30 days
    assert rows["QUIET/1/1"]["total"] == str(10 * 24 * 60)
    # registered after last month: not in last month's report at all
    before = await logged_in.get("/ui/uptime", params={"period": "last-month"})
    assert before.status_code == 200 and 'data-port="QUIET/' not in before.text


async def test_login_and_the_operator_role_are_required(
        browser: httpx.AsyncClient, services: Services) -> None:
    for path in ("/ui/uptime", "/ui/uptime.csv"):
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    await services.users.create("dora", UserRole.DRIVER)
    await services.users.set_password("dora", PASSWORD)
    assert (await log_in(browser, "dora", PASSWORD)).status_code == 303
    for path in ("/ui/uptime", "/ui/uptime.csv?period=last-month"):
        response = await browser.get(path)
        assert response.status_code == 403, path
        assert "Operators only" in response.text


def test_the_period_of_this_month_needs_a_minute_of_it() -> None:
    first = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(BadReport, match="only just begun"):
        read_period({"period": "this-month"}, first + timedelta(seconds=30))
    period = read_period({"period": "this-month"}, first + timedelta(minutes=1, seconds=30))
    assert (period.start, period.end) == (first, first + timedelta(minutes=1))
    january = read_period({}, datetime(2026, 2, 15, 12, tzinfo=UTC))
    assert (january.start, january.end) == (datetime(2026, 1, 1, tzinfo=UTC),
                                            datetime(2026, 2, 1, tzinfo=UTC))
    december = read_period({"period": "last-month"}, datetime(2026, 1, 3, tzinfo=UTC))
    assert (december.first_day.isoformat(), december.last_day.isoformat()) == (
        "2025-12-01", "2025-12-31")

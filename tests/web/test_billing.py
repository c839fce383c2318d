"""Billing pages (/ui/billing...): revenue and energy from the issued CDRs, the CDR export,
tariffs in words, editing a tariff as OCPI JSON, and the price preview."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from evcsms.api.app import create_api
from evcsms.domain import jsontext
from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.domain.pricing import State, Usage, UsagePeriod, price_session
from evcsms.domain.tariffs import parse_tariff
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.services.users import UserRole
from evcsms.settings import Settings
from tests.conftest import T0
from tests.web.conftest import csrf_of, log_in

REGISTER = "Energy.Active.Import.Register"


def dumps(value: Any) -> str:
    return jsontext.dumps(value, indent=None)


def tariff(tariff_id: str = "AC-1", currency: str = "EUR", energy: str = "0.30") -> dict[str, Any]:
    return json.loads(
        f'{{"id": "{tariff_id}", "currency": "{currency}", "elements": ['
        f'{{"price_components": [{{"type": "ENERGY", "price": 0.20, "vat": 21, "step_size": 1}}],'
        f' "restrictions": {{"start_time": "22:00", "end_time": "06:00",'
        f' "day_of_week": ["SATURDAY", "SUNDAY"]}}}},'
        f'{{"price_components": ['
        f'{{"type": "FLAT", "price": 0.50, "vat": 21, "step_size": 1}},'
        f'{{"type": "ENERGY", "price": {energy}, "vat": 21, "step_size": 1}},'
        f'{{"type": "PARKING_TIME", "price": 6.00, "vat": 21, "step_size": 300}}]}}]}}',
        parse_float=Decimal)


async def setup_fleet(services: Services) -> None:
    """CP1 on site HARBOUR (Amsterdam) with the EUR default; CP2 on no site, priced in USD."""
    await services.stations.create("CP1", password=None)
    await services.stations.create("CP2", password=None)
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    await services.tariffs.put(tariff())
    await services.tariffs.put(tariff("US-1", "USD", energy="0.40"))
    await services.tariffs.assign("default", "", "AC-1")
    await services.tariffs.assign("station", "CP2", "US-1")


async def finished_session(services: Services, clock: FrozenClock, station: str) -> int:
    """14 kWh in the first hour, then 40 minutes parked; its CDR issued at the clock's now."""
    start = clock.now()
    begun = await services.sessions.start_v16(
        StartTransaction(station, 1, "CARD1", Decimal(1000), start))
    tx = begun.transaction_id
    for minutes, wh in ((30, 8000), (60, 15000), (90, 15000)):
        await services.sessions.meter_values(station, 1, [SampledValue(
            start + timedelta(minutes=minutes), Decimal(wh), REGISTER, "Wh")], transaction_id=tx)
    await services.sessions.stop_v16(
        StopTransaction(station, tx, Decimal(15000), start + timedelta(minutes=100)))
    assert await services.cdrs.issue(tx) is not None
    return tx


async def history(services: Services, clock: FrozenClock) -> int:
    """2 Mar: a CP1 session (EUR 8.70); 3 Mar: another on CP1 and one on CP2 (USD);
    4 Mar: the first one corrected (credit + new CDR, 2 kWh more)."""
    await setup_fleet(services)
    first = await finished_session(services, clock, "CP1")
    clock.advance(86400)
    await finished_session(services, clock, "CP1")
    await finished_session(services, clock, "CP2")
    clock.advance(86400)
    await services.sessions.meter_values("CP1", 1, [SampledValue(
        T0 + timedelta(minutes=95), Decimal(17000), REGISTER, "Wh")], transaction_id=first)
    await services.cdrs.correct(first, "late meter values")
    return first


def bars(html: str, chart_id: str) -> dict[str, Decimal]:
    svg = re.search(rf'<svg[^>]*id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert svg, f"no chart {chart_id}"
    return {label: Decimal(value) for label, value in
            re.findall(r'<rect class="bar[^"]*" data-label="([^"]+)" data-value="([^"]+)"',
                       svg.group(0))}


def rows(html: str, table_id: str) -> dict[tuple[str, str], dict[str, str]]:
    table = re.search(rf'<table id="{table_id}">.*?</table>', html, re.DOTALL)
    assert table, f"no table {table_id}"
    out = {}
    for attrs in re.findall(r'<tr (data-key="[^>]*)>', table.group(0)):
        found = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', attrs))
        out[(found["key"], found["currency"])] = found
    return out


async def test_revenue_and_energy_per_day_station_and_site_match_the_cdrs(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await history(services, clock)
    cdrs, total = await services.cdrs.list(issued_from=None, issued_to=None, limit=100, offset=0)
    assert total == 5  # 3 CDRs, 1 credit, 1 re-issued

    page = await logged_in.get("/ui/billing", params={"from": "2026-03-01", "to": "2026-03-05"})
    assert page.status_code == 200, page.text
    html = page.text
    revenue = bars(html, "revenue-EUR")
    assert list(revenue) == ["01 Mar", "02 Mar", "03 Mar", "04 Mar", "05 Mar"]
    per_day = {d: sum((Decimal(c["total_cost"]["excl_vat"]) for c in cdrs
                       if c["currency"] == "EUR" and c["last_updated"].startswith(f"2026-03-0{d}")),
                      Decimal(0)) for d in range(1, 6)}
    assert [revenue[f"0{d} Mar"] for d in range(1, 6)] == [per_day[d] for d in range(1, 6)]
    assert revenue["02 Mar"] == Decimal("8.70") and revenue["03 Mar"] == Decimal("8.70")
    assert revenue["04 Mar"] == Decimal("-8.70") + Decimal(cdrs[4]["total_cost"]["excl_vat"])
    assert bars(html, "revenue-USD")["03 Mar"] == Decimal(cdrs[2]["total_cost"]["excl_vat"])
    energy = bars(html, "energy")
    assert energy["02 Mar"] == 14 and energy["03 Mar"] == 28
    assert energy["04 Mar"] == Decimal(cdrs[4]["total_energy"]) - 14 == 2  # credit, then 16 kWh

    # per station and per site, one row per currency: EUR and USD never added together
    stations = rows(html, "per-station")
    assert set(stations) == {("CP1", "EUR"), ("CP2", "USD")}
    cp1 = stations[("CP1", "EUR")]
    eur = [c for c in cdrs if c["currency"] == "EUR"]
    assert Decimal(cp1["excl"]) == sum(Decimal(c["total_cost"]["excl_vat"]) for c in eur)
    assert Decimal(cp1["incl"]) == sum(Decimal(c["total_cost"]["incl_vat"]) for c in eur)
    assert cp1["sessions"] == "2" and Decimal(cp1["energy"]) == 30  # 16 + 14 kWh
    assert Decimal(stations[("CP2", "USD")]["excl"]) == Decimal(cdrs[2]["total_cost"]["excl_vat"])
    sites = rows(html, "per-site")
    assert set(sites) == {("HARBOUR", "EUR"), ("", "USD")}
    assert sites[("HARBOUR", "EUR")]["excl"] == cp1["excl"]
    # and as charts, one per currency, each bar a station's or site's revenue
    assert bars(html, "revenue-per-station-EUR") == {"CP1": Decimal(cp1["excl"])}
    assert bars(html, "revenue-per-station-USD") == {"CP2": Decimal(
        stations[("CP2", "USD")]["excl"])}
    assert bars(html, "revenue-per-site-EUR") == {"HARBOUR": Decimal(cp1["excl"])}
    assert set(bars(html, "revenue-per-site-USD")) == {"(no site)"}
    totals = dict(re.findall(r'<tr data-currency="([A-Z]{3})" data-sessions="(\d+)"', html))
    assert totals == {"EUR": "2", "USD": "1"}
    # money shown in its currency's format
    assert "$" in html and "€" in html


async def test_the_period_selects_the_cdrs_and_bad_periods_are_refused(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await history(services, clock)
    page = await logged_in.get("/ui/billing", params={"from": "2026-03-03", "to": "2026-03-03"})
    assert list(bars(page.text, "revenue-EUR")) == ["03 Mar"]
    assert rows(page.text, "per-station")[("CP1", "EUR")]["excl"] == "8.70"
    # default: the last 30 days up to today (4 Mar)
    default = await logged_in.get("/ui/billing")
    labels = list(bars(default.text, "energy"))
    assert len(labels) == 30 and labels[-1] == "04 Mar"
    # a period across a new year labels its days with the year
    turn = await logged_in.get("/ui/billing", params={"from": "2025-12-31", "to": "2026-01-01",
                                                      "zone": "Europe/Amsterdam"})
    assert list(bars(turn.text, "energy")) == [] and 'data-bars="0"' in turn.text
    turn = await logged_in.get("/ui/billing", params={"from": "2025-12-31", "to": "2026-03-02",
                                                      "zone": "Europe/Amsterdam"})
    labels = list(bars(turn.text, "energy"))
    assert labels[0] == "31 Dec 2025" and labels[-1] == "02 Mar 2026"
    assert bars(turn.text, "revenue-EUR")["02 Mar 2026"] == Decimal("8.70")
    # nothing issued: the charts say so
    empty = await logged_in.get("/ui/billing", params={"from": "2025-01-01", "to": "2025-01-31"})
    assert empty.status_code == 200 and 'data-bars="0"' in empty.text
    for params in ({"from": "2026-13-01"}, {"from": "2026-03-05", "to": "2026-03-01"},
                   {"from": "2020-01-01", "to": "2026-01-01"}, {"zone": "Mars/Base"},
                   {"station_page": "x"}):
        response = await logged_in.get("/ui/billing", params=params)
        assert response.status_code == 422, params
        assert "error" in response.text


async def test_the_csv_export_equals_the_apis(
        logged_in: httpx.AsyncClient, services: Services, settings: Settings,
        clock: FrozenClock) -> None:
    await history(services, clock)
    token = await services.users.create("api", UserRole.OPERATOR)
    transport = httpx.ASGITransport(app=create_api(services, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        for first, last, api_from, api_to in (
                ("2026-03-02", "2026-03-04", "2026-03-02T00:00:00Z", "2026-03-05T00:00:00Z"),
                ("2026-03-03", "2026-03-03", "2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z")):
            expected = await api.get("/cdrs.csv", params={"issued_from": api_from,
                                                          "issued_to": api_to})
            got = await logged_in.get("/ui/billing/cdrs.csv", params={"from": first, "to": last})
            assert got.status_code == 200
            assert got.headers["content-type"].startswith("text/csv")
            assert "attachment" in got.headers["content-disposition"]
            assert got.text == expected.text
    lines = got.text.splitlines()
    assert lines[0].startswith("id,session_id,credit,") and len(lines) == 3
    whole = (await logged_in.get("/ui/billing/cdrs.csv",
                                 params={"from": "2026-03-01", "to": "2026-03-31"})).text
    assert len(whole.splitlines()) == 6 and ",true," in whole  # the credit is in it
    assert (await logged_in.get("/ui/billing/cdrs.csv", params={"to": "never"})).status_code == 422
    page = await logged_in.get("/ui/billing")
    assert 'action="/ui/billing/cdrs.csv"' in page.text


async def test_tariffs_list_and_view_in_words(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    listing = await logged_in.get("/ui/billing/tariffs")
    assert listing.status_code == 200
    assert re.search(r'data-tariff-id="AC-1" data-version="1".*?Fleet default', listing.text,
                     re.DOTALL)
    assert re.search(r'data-tariff-id="US-1".*?Station CP2', listing.text, re.DOTALL)
    assert 'href="/ui/billing/tariffs/AC-1"' in listing.text

    view = await logged_in.get("/ui/billing/tariffs/AC-1")
    assert view.status_code == 200
    html = view.text
    components = re.findall(r'data-component="([A-Z_]+)" data-price="([^"]+)"', html)
    assert components == [("ENERGY", "0.20"), ("FLAT", "0.50"), ("ENERGY", "0.30"),
                          ("PARKING_TIME", "6.00")]
    assert "€0.30 per kWh, plus 21 % VAT" in html
    assert "per hour parked" in html and "steps of 5 minutes" in html
    assert "from 22:00 to 06:00 local time (through midnight)" in html
    assert "on Saturday, Sunday" in html
    assert 'id="assigned">Fleet default' in html
    assert 'data-version="1"' in html
    assert (await logged_in.get("/ui/billing/tariffs/NOPE")).status_code == 404
    assert (await logged_in.get("/ui/billing/tariffs/AC-1?version=9")).status_code == 404
    assert (await logged_in.get("/ui/billing/tariffs/AC-1?version=x")).status_code == 422


async def test_an_invalid_edit_is_shown_again_and_stores_nothing(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    form = await logged_in.get("/ui/billing/tariffs/AC-1/edit")
    assert form.status_code == 200
    assert "&#34;ENERGY&#34;" in form.text or "&quot;ENERGY&quot;" in form.text  # pre-filled
    token = csrf_of(form.text)
    broken = '{"id": "AC-1", "currency": "EUR", "elements": [ oops'
    bad_price = dumps(tariff()).replace('"price": 0.30,', '"price": -1,', 1)
    assert '"price": -1' in bad_price
    for text, message in ((broken, "Not JSON"),
                          (bad_price, "elements[1].price_components[1].price: must not be "
                                      "negative"),
                          ('{"currency": "EURO", "elements": []}', "currency")):
        response = await logged_in.post("/ui/billing/tariffs/AC-1/edit", data={
            "csrf_token": token, "ocpi": text, "action": "save"})
        assert response.status_code == 422, response.text
        assert message in response.text
        shown = re.search(r'<textarea[^>]*>(.*?)</textarea>', response.text, re.DOTALL)
        assert shown and shown.group(1).replace("&#34;", '"').replace("&quot;", '"') == text
    assert [v.version for v in await services.tariffs.versions("AC-1")] == [1]


async def test_a_valid_edit_stores_a_new_version(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    token = csrf_of((await logged_in.get("/ui/billing/tariffs/AC-1/edit")).text)
    changed = dumps(tariff(energy="0.45"))
    response = await logged_in.post("/ui/billing/tariffs/AC-1/edit", data={
        "csrf_token": token, "ocpi": changed, "action": "save"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/billing/tariffs/AC-1?saved=2"
    stored = await services.tariffs.get("AC-1")
    assert stored.version == 2 and stored.tariff.elements[1].price_components[1].price == \
        Decimal("0.45")
    view = await logged_in.get(response.headers["location"])
    assert "Saved as version 2" in view.text and 'data-price="0.45"' in view.text
    # the same text again: no new version
    again = await logged_in.post("/ui/billing/tariffs/AC-1/edit", data={
        "csrf_token": token, "ocpi": changed, "action": "save"})
    assert again.headers["location"].endswith("saved=unchanged")
    assert (await services.tariffs.get("AC-1")).version == 2

    # a new tariff
    new_form = await logged_in.get("/ui/billing/new-tariff")
    assert new_form.status_code == 200 and "NEW-TARIFF" in new_form.text
    created = await logged_in.post("/ui/billing/new-tariff", data={
        "csrf_token": token, "ocpi": dumps(tariff("DC-1", energy="0.59")),
        "action": "save"})
    assert created.status_code == 303
    assert created.headers["location"] == "/ui/billing/tariffs/DC-1?saved=1"
    taken = await logged_in.post("/ui/billing/new-tariff", data={
        "csrf_token": token, "ocpi": dumps(tariff("DC-1")), "action": "save"})
    assert taken.status_code == 422 and "exists already" in taken.text


def expected_quote(text: dict[str, Any], start: str, zone: str, minutes: int, kwh: str,
                   power: str, parking: int) -> Any:
    begin = datetime.fromisoformat(start).replace(
        tzinfo=ZoneInfo(zone))
    stop = begin + timedelta(minutes=minutes)
    periods = [UsagePeriod(begin, Decimal(kwh), State.CHARGING, Decimal(power))]
    if parking:
        periods.append(UsagePeriod(stop, Decimal(0), State.PARKING))
    usage = Usage(begin, stop + timedelta(minutes=parking), tuple(periods))
    return price_session(parse_tariff(text), usage, ZoneInfo(zone))


async def test_the_price_preview_is_the_pricing_engines(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    # Saturday 7 March 2026, 21:30 in Amsterdam: the night element applies from 22:00
    params = {"start": "2026-03-07T21:30", "zone": "HARBOUR", "minutes": "90", "kwh": "22.5",
              "power": "15", "parking": "25"}
    page = await logged_in.get("/ui/billing/tariffs/AC-1", params=params)
    assert page.status_code == 200, page.text
    quote = expected_quote(tariff(), "2026-03-07T21:30", "Europe/Amsterdam", 90, "22.5", "15", 25)
    found = re.search(r'id="preview"[^>]*data-total-excl="([^"]+)" data-total-incl="([^"]+)"',
                      page.text)
    assert found and (Decimal(found.group(1)), Decimal(found.group(2))) == (
        quote.total_cost.excl_vat, quote.total_cost.incl_vat)
    # 0.50 + 7.5 kWh x 0.30 + 15 kWh x 0.20 + 25 min parked (rounded to 5 min) x 6.00/h
    assert quote.total_cost.excl_vat == Decimal("8.25")
    parts = dict(re.findall(r'data-part="([^"]+)" data-excl="([^"]+)"', page.text))
    assert Decimal(parts["Energy"]) == quote.total_energy_cost.excl_vat == Decimal("5.25")
    assert Decimal(parts["Parking time"]) == quote.total_parking_cost.excl_vat
    assert "€8.25" in page.text and "Europe/Amsterdam" in page.text

    # the edit form previews the text being edited, without saving it
    form = await logged_in.get("/ui/billing/tariffs/AC-1/edit")
    edited = tariff(energy="0.40")
    response = await logged_in.post("/ui/billing/tariffs/AC-1/edit", data={
        "csrf_token": csrf_of(form.text), "ocpi": dumps(edited), "action": "preview",
        **{**params, "zone": "UTC"}})
    assert response.status_code == 200, response.text
    quote = expected_quote(edited, "2026-03-07T21:30", "UTC", 90, "22.5", "15", 25)
    found = re.search(r'data-total-excl="([^"]+)"', response.text)
    assert found and Decimal(found.group(1)) == quote.total_cost.excl_vat
    assert "0.4" in re.search(r"<textarea[^>]*>(.*?)</textarea>", response.text,
                              re.DOTALL).group(1)  # type: ignore[union-attr]
    assert [v.version for v in await services.tariffs.versions("AC-1")] == [1]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("start", "tomorrow", "start: 'tomorrow' is not a local date and time"),
    ("zone", "MOON", "neither UTC nor a site"),
    ("minutes", "0", "charging minutes: at least 1 minute"),
    ("minutes", "-5", "is not a whole number of minutes"),
    ("kwh", "lots", "energy (kWh): 'lots' is not a number"),
    ("kwh", "NaN", "energy (kWh): a number from 0"),
    ("power", "-1", "power (kW): a number from 0"),
    ("parking", "99999999", "parking minutes"),
])
async def test_bad_preview_inputs_get_a_clear_message(
        logged_in: httpx.AsyncClient, services: Services, field: str, value: str,
        message: str) -> None:
    await setup_fleet(services)
    params = {"start": "2026-03-07T21:30", "zone": "UTC", "minutes": "60", "kwh": "10",
              "power": "", "parking": "0", field: value}
    page = await logged_in.get("/ui/billing/tariffs/AC-1", params=params)
    assert page.status_code == 422
    assert 'id="preview-error"' in page.text
    assert message in page.text.replace("&#39;", "'")


async def test_forms_need_the_csrf_token(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    for token in (None, "forged"):
        data = {"ocpi": dumps(tariff(energy="0.99")), "action": "save"}
        if token is not None:
            data["csrf_token"] = token
        for path in ("/ui/billing/tariffs/AC-1/edit", "/ui/billing/new-tariff"):
            assert (await logged_in.post(path, data=data)).status_code == 403
    assert (await services.tariffs.get("AC-1")).version == 1


async def test_drivers_are_refused_and_strangers_sent_to_log_in(
        browser: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    paths = ("/ui/billing", "/ui/billing/cdrs.csv", "/ui/billing/tariffs",
             "/ui/billing/tariffs/AC-1", "/ui/billing/tariffs/AC-1/edit", "/ui/billing/new-tariff")
    for path in paths:
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert (await browser.post("/ui/billing/new-tariff", data={})).status_code == 303
    await services.users.create("dora", UserRole.DRIVER)
    await services.users.set_password("dora", "a driver's password")
    assert (await log_in(browser, "dora", "a driver's password")).status_code == 303
    for path in paths:
        assert (await browser.get(path)).status_code == 403, path
    page = await browser.get("/ui/me/")
    response = await browser.post("/ui/billing/tariffs/AC-1/edit", data={
        "csrf_token": csrf_of(page.text) if page.status_code == 200 else "x",
        "ocpi": dumps(tariff(energy="0.99")), "action": "save"})
    assert response.status_code == 403
    assert (await services.tariffs.get("AC-1")).version == 1

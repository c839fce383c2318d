"""The sessions pages (/ui/sessions, /ui/sessions/{id}, its receipt.pdf): list with filters
and pager, detail with charts, cost breakdown, CDR and signed meter data verdicts."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

import httpx

from evcsms.domain.clock import FrozenClock
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.services.users import UserRole
from evcsms.web.power import thinned
from tests.api.conftest import flush
from tests.conftest import T0
from tests.services.test_signatures import keypair, ocmf
from tests.web.conftest import PASSWORD, log_in

REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "FLAT", "price": Decimal("0.50"), "vat": Decimal(21), "step_size": 1},
    {"type": "ENERGY", "price": Decimal("0.30"), "vat": Decimal(21), "step_size": 1},
    {"type": "PARKING_TIME", "price": Decimal("6.00"), "vat": Decimal(21), "step_size": 300}]}]}


async def setup_fleet(services: Services) -> None:
    """CP1 on an Amsterdam site with tariff AC-1 as the fleet default; CP2 without a site."""
    for station in ("CP1", "CP2"):
        await services.stations.create(station, password=None)
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    await services.tariffs.put(TARIFF)
    await services.tariffs.assign("default", "", "AC-1")


async def charge(services: Services, station: str = "CP1", tag: str = "CARD1", *,
                 start_offset: timedelta = timedelta(0), stop: bool = True,
                 power: bool = False) -> int:
    """14 kWh in the first hour (registers at 30, 60, 90 min), then parked until 100 min."""
    t0 = T0 + start_offset
    tx = (await services.sessions.start_v16(
        StartTransaction(station, 1, tag, Decimal(1000), t0))).transaction_id
    for minutes, wh, kw in ((30, 8000, 14), (60, 15000, 14), (90, 15000, 0)):
        samples = [SampledValue(t0 + timedelta(minutes=minutes), Decimal(wh), REGISTER, "Wh")]
        if power:
            samples.append(SampledValue(t0 + timedelta(minutes=minutes), Decimal(kw * 1000),
                                        POWER, "W"))
        await services.sessions.meter_values(station, 1, samples, transaction_id=tx)
    if stop:
        await services.sessions.stop_v16(StopTransaction(
            station, tx, Decimal(15000), t0 + timedelta(minutes=100), reason="EVDisconnected"))
    await flush(services)
    return tx


async def cdr_of(services: Services, tx: int) -> None:
    for _ in range(100):  # issued off the OCPP path, on the "session ended" event
        try:
            await services.cdrs.get(tx)
            return
        except Exception:
            await asyncio.sleep(0.02)
    await services.cdrs.issue(tx)


def rows_of(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<tr data-session-id="(\d+)" data-station="([^"]+)" '
                      r'data-status="([^"]+)">', html)


async def test_the_list_shows_sessions_newest_first_with_energy_and_cost(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await setup_fleet(services)
    first = await charge(services)
    second = await charge(services, "CP2", "CARD2", start_offset=timedelta(hours=3), stop=False)
    # our clock is behind the station's: its running cost cannot be worked out yet
    early = await logged_in.get("/ui/sessions")
    assert early.status_code == 200 and "unavailable" in early.text
    detail = await logged_in.get(f"/ui/sessions/{second}")
    assert detail.status_code == 200 and "cost cannot be worked out" in detail.text
    clock.advance(5 * 3600)
    page = await logged_in.get("/ui/sessions")
    assert page.status_code == 200, page.text
    html = page.text
    assert rows_of(html) == [(str(second), "CP2", "running"), (str(first), "CP1", "finished")]
    row = re.search(rf'data-session-id="{first}".*?</tr>', html, re.DOTALL)
    assert row is not None
    text = row.group(0)
    assert f'href="/ui/sessions/{first}"' in text and 'href="/ui/stations/CP1"' in text
    # local time on the Amsterdam site (UTC+1 in March), 14 kWh, 8.70 excl. -> €10.53 incl.
    assert "2026-03-02 10:00 CET" in text and "2026-03-02 11:40 CET" in text
    assert "14 kWh" in text and "1 h 40 min" in text
    assert "€10.53" in text
    cost = await services.billing.session_cost(first)
    assert cost is not None and cost.quote.total_cost.incl_vat == Decimal("10.53")
    running = re.search(rf'data-session-id="{second}".*?</tr>', html, re.DOTALL)
    assert running is not None and "12:00 UTC" in running.group(0)  # CP2 has no site
    so_far = await services.billing.session_cost(second)
    # so far: (0.50 + 14 x 0.30 + 1 h parked x 6.00) x 1.21 = 12.947
    assert so_far is not None and so_far.quote.total_cost.incl_vat == Decimal("12.95")
    assert "€12.95" in running.group(0)


async def test_filters_by_station_token_status_and_dates(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    a = await charge(services, "CP1", "CARD1")
    b = await charge(services, "CP2", "CARD2", start_offset=timedelta(days=2))
    c = await charge(services, "CP1", "CARD2", start_offset=timedelta(days=4), stop=False)

    async def ids(query: str) -> list[int]:
        page = await logged_in.get(f"/ui/sessions?{query}")
        assert page.status_code == 200, page.text
        return [int(i) for i, _, _ in rows_of(page.text)]

    assert await ids("") == [c, b, a]
    assert await ids("station=CP1") == [c, a]
    assert await ids("token=CARD2") == [c, b]
    assert await ids("status=running") == [c]
    assert await ids("status=finished&station=CP2") == [b]
    assert await ids("from=2026-03-04&to=2026-03-04") == [b]  # UTC days, both inclusive
    assert await ids("from=2026-03-03") == [c, b]
    assert await ids("to=2026-03-02") == [a]
    assert await ids("station=NOPE") == []
    for bad in ("from=yesterday", "to=2026-13-01", "status=paused", "page=0", "page=x",
                "from=2026-03-05&to=2026-03-01", "station=" + "x" * 60):
        response = await logged_in.get(f"/ui/sessions?{bad}")
        assert response.status_code == 400, bad
        assert "Bad filter" in response.text


async def test_the_list_is_paginated_by_50(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await services.stations.create("CP1", password=None)
    for i in range(53):
        await services.sessions.start_v16(StartTransaction(
            "CP1", 1 + i % 2, f"T{i}", Decimal(0), T0 + timedelta(minutes=i)))
    first = await logged_in.get("/ui/sessions?station=CP1")
    assert len(rows_of(first.text)) == 50
    assert "Page 1 of 2" in first.text
    assert 'href="/ui/sessions?station=CP1&amp;page=2"' in first.text
    second = await logged_in.get("/ui/sessions?station=CP1&page=2")
    assert len(rows_of(second.text)) == 3 and "Page 2 of 2" in second.text
    assert [t for t in re.findall(r"<td data-token>([^<]*)</td>", second.text)] == [
        "T2", "T1", "T0"]


async def test_a_finished_session_shows_its_figures_charts_cost_and_cdr(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    tx = await charge(services, power=True)
    await cdr_of(services, tx)
    page = await logged_in.get(f"/ui/sessions/{tx}")
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-status="finished"' in html
    assert "2026-03-02 10:00:00 CET" in html and "2026-03-02 11:40:00 CET" in html
    assert re.search(r"data-stop-reason>EVDisconnected<", html)
    assert re.search(r"data-meter-start>1 kWh<", html) and re.search(r"data-meter-stop>15 kWh<", html)
    energy = re.search(r'data-energy="([^"]+)">([^<]+)<', html)
    assert energy is not None and Decimal(energy.group(1)) == Decimal(14000)
    assert energy.group(2) == "14 kWh"
    # charts: three measured power samples, three register readings
    assert 'data-power-source="measured"' in html
    assert re.search(r'id="power-chart" data-chart="power-chart" data-points="3"', html)
    assert re.search(r'id="energy-chart" data-chart="energy-chart" data-points="3"', html)
    # the cost breakdown is the billing service's
    cost = await services.billing.session_cost(tx)
    assert cost is not None
    assert cost.quote.total_cost.excl_vat == Decimal("8.70")
    assert 'data-tariff="AC-1"' in html and re.search(r"data-tariff-version>1<", html)
    assert re.search(r"data-total-excl>€8.70<", html)
    assert re.search(r"data-total-incl>€10.53<", html)
    assert re.search(r"data-vat>€1.83<", html)
    energy_line = re.search(r'<tr data-line="Energy">.*?</tr>', html, re.DOTALL)
    assert energy_line is not None and "14 kWh" in energy_line.group(0)
    assert "€4.20" in energy_line.group(0) and "€5.08" in energy_line.group(0)
    parking = re.search(r'<tr data-line="Parking time">.*?</tr>', html, re.DOTALL)
    assert parking is not None and "€4.00" in parking.group(0)
    # the CDR, with its OCPI JSON folded away, and the receipt link
    cdr = await services.cdrs.get(tx)
    assert f'data-cdr-id="{cdr["id"]}"' in html
    assert '<details id="cdr-json">' in html and f"&#34;id&#34;: &#34;{cdr['id']}&#34;" in html
    assert f'href="/ui/sessions/{tx}/receipt.pdf"' in html
    assert "no-signatures" in html


async def test_power_is_derived_from_the_register_without_power_readings(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    tx = await charge(services)
    html = (await logged_in.get(f"/ui/sessions/{tx}")).text
    assert 'data-power-source="derived"' in html
    # the meter start (1 kWh) and 3 register readings: 3 intervals of 30 min,
    # 7 kWh = 14 kW, 7 kWh = 14 kW, then 0 kW
    assert re.search(r'id="power-chart" data-chart="power-chart" data-points="3"', html)
    assert re.search(r'id="energy-chart" data-chart="energy-chart" data-points="3"', html)


async def test_a_running_session_shows_its_cost_so_far_and_refreshes(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await setup_fleet(services)
    tx = await charge(services, stop=False)
    clock.advance(3600)  # T0 + 60 min: 14 kWh so far
    html = (await logged_in.get(f"/ui/sessions/{tx}")).text
    assert 'data-running="true"' in html and 'data-status="running"' in html
    assert "Cost so far" in html
    cost = await services.billing.session_cost(tx)
    assert cost is not None and not cost.final
    assert f'data-total-cost="{cost.quote.total_cost.incl_vat}"' in html
    assert cost.quote.total_cost.excl_vat == Decimal("4.70")
    assert "setTimeout(refresh, 10000)" in html and 'id="no-cdr"' in html
    assert "receipt.pdf" not in html
    # a finished session's page does not refresh itself
    done = await charge(services, "CP2", "CARD2")
    assert "setTimeout" not in (await logged_in.get(f"/ui/sessions/{done}")).text


async def test_a_session_without_a_tariff_is_free(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await services.stations.create("CP1", password=None)
    tx = await charge(services)
    html = (await logged_in.get(f"/ui/sessions/{tx}")).text
    assert 'id="no-cost"' in html and "free of charge" in html
    await cdr_of(services, tx)  # issued at zero
    running = await charge(services, tag="CARD2", stop=False)
    html = (await logged_in.get("/ui/sessions")).text
    cells = dict(re.findall(r'data-session-id="(\d+)".*?<td class="money" data-cost>(.*?)</td>',
                            html, re.DOTALL))
    assert cells[str(tx)] == "€0.00"
    assert "no tariff" in cells[str(running)]


async def test_signed_values_show_their_verification_result(
        logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    private, key = keypair()
    await services.tariffs.set_meter_key("CP1", key)
    await services.stations.create("CP3", password=None)  # no key known
    for station in ("CP1", "CP3"):
        tx = (await services.sessions.start_v16(
            StartTransaction(station, 1, "TAG", Decimal(1000), T0))).transaction_id
        begin = SampledValue(T0, Decimal(1000), REGISTER, "Wh", context="Transaction.Begin",
                             signed_data=ocmf(private, "1.000", "B"))
        forged = ocmf(private, "3.500", "E").replace('"RV":3.500', '"RV":2.500')
        end = SampledValue(T0 + timedelta(minutes=30), Decimal(2500), REGISTER, "Wh",
                           context="Transaction.End", signed_data=forged)
        await services.sessions.meter_values(station, 1, [begin, end], transaction_id=tx)
        await services.sessions.stop_v16(
            StopTransaction(station, tx, Decimal(2500), T0 + timedelta(minutes=30)))
        html = (await logged_in.get(f"/ui/sessions/{tx}")).text
        verdicts = re.findall(r'data-signature="\d+" data-verdict="([^"]+)"', html)
        if station == "CP1":
            assert verdicts == ["verified", "invalid"]
            assert "✔ verified" in html and "✘ failed" in html
            assert "the signature does not match the signed data" in html
        else:
            assert verdicts == ["no_key", "no_key"]
            assert "no key known" in html


async def test_the_receipt_pdf(logged_in: httpx.AsyncClient, services: Services) -> None:
    await setup_fleet(services)
    tx = await charge(services)
    await cdr_of(services, tx)
    response = await logged_in.get(f"/ui/sessions/{tx}/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    running = await charge(services, "CP2", "CARD2", stop=False)
    missing = await logged_in.get(f"/ui/sessions/{running}/receipt.pdf")
    assert missing.status_code == 404 and "no receipt" in missing.text
    assert (await logged_in.get("/ui/sessions/999999/receipt.pdf")).status_code == 404


async def test_unknown_ids_are_404(logged_in: httpx.AsyncClient) -> None:
    for bad in ("999999", "abc", "0", "-1", "99999999999999999999"):
        response = await logged_in.get(f"/ui/sessions/{bad}")
        assert response.status_code == 404, bad
        assert "Session not found" in response.text


async def test_login_and_the_operator_role_are_required(
        browser: httpx.AsyncClient, services: Services) -> None:
    await services.stations.create("CP1", password=None)
    tx = await charge(services)
    for path in ("/ui/sessions", f"/ui/sessions/{tx}", f"/ui/sessions/{tx}/receipt.pdf"):
        response = await browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    await services.users.create("dora", UserRole.DRIVER)
    await services.users.set_password("dora", PASSWORD)
    assert (await log_in(browser, "dora", PASSWORD)).status_code == 303
    for path in ("/ui/sessions", f"/ui/sessions/{tx}", f"/ui/sessions/{tx}/receipt.pdf"):
        response = await browser.get(path)
        assert response.status_code == 403, path
        assert "Operators only" in response.text


def test_long_series_are_thinned_for_the_chart() -> None:
    points = [(T0 + timedelta(seconds=10 * i), Decimal(i)) for i in range(8640)]
    shown = thinned(points)
    assert len(shown) <= 721 and shown[0] == points[0] and shown[-1] == points[-1]
    assert thinned(points[:5]) == points[:5]

"""The station page (/ui/stations/{id}): state, connectors, incidents, commands, and the
remote-action forms (CSRF, command issued, 303 back to the page)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from evcsms.domain.clock import FrozenClock
from evcsms.domain.commands import CommandName
from evcsms.domain.faults import Finding, Severity
from evcsms.domain.metering import SampledValue
from evcsms.services.container import Services
from evcsms.services.log_uploads import ReceivedFile
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.services.stations import ConnectorStatus
from evcsms.web import station
from tests.api.conftest import flush
from tests.conftest import T0
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
    assert re.search(r'<a href="/ui/incidents/\d+">connector_faulted</a>', html)
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


# -- second slice: live sessions, status history, uptime, log uploads, firmware -----------

REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": Decimal("0.30"), "vat": Decimal(21), "step_size": 1}]}]}


async def start_charging(services: Services, clock: FrozenClock, *, power: bool) -> int:
    """CP1 on an Amsterdam site; a session on connector 1 with registers at 10, 20, 30 min
    (1 kWh each: 6 kW), with Power.Active.Import samples when `power`."""
    await services.stations.create("CP1", password=None)
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "CARD1", Decimal(1000), T0))).transaction_id
    for i, minutes in enumerate((10, 20, 30), start=1):
        at = T0 + timedelta(minutes=minutes)
        samples = [SampledValue(at, Decimal(1000 + 1000 * i), REGISTER, "Wh")]
        if power:
            samples.append(SampledValue(at, Decimal("5.5"), POWER, "kW"))
        await services.sessions.meter_values("CP1", 1, samples, transaction_id=tx)
    await flush(services)
    clock.advance(31 * 60)
    return tx


def chart_points(html: str, evse: int) -> int:
    found = re.search(rf'<svg class="chart" id="power-{evse}"[^>]*data-points="(\d+)"', html)
    assert found, html
    return int(found.group(1))


async def test_a_running_session_shows_its_power_chart_energy_and_cost(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await services.tariffs.put(TARIFF)
    await services.tariffs.assign("default", "", "AC-1")
    tx = await start_charging(services, clock, power=True)
    stored = [s for s in await services.sessions.samples(tx) if s.measurand == POWER]
    assert len(stored) == 3

    page = await logged_in.get("/ui/stations/CP1")
    assert page.status_code == 200, page.text
    html = page.text
    assert chart_points(html, 1) == len(stored)
    assert f'data-session="{tx}"' in html
    assert 'data-power-kw="5.5"' in html and "5.5 kW" in html and "(measured)" in html
    assert 'data-energy-wh="3000.000"' in html and "3 kWh" in html
    cost = await services.billing.session_cost(tx)
    assert cost is not None and cost.quote.total_cost.incl_vat is not None
    assert f'data-cost="{cost.quote.total_cost.incl_vat}"' in html
    assert "€1.09" in html  # 3 kWh at 0.30 + 21 % VAT
    assert "10:10" in html  # the first point's time on the axis, in Amsterdam (UTC+1)
    assert 'data-live-url="/ui/stations/CP1/live"' in html
    assert 'src="/ui/static/station.js"' in html

    fragment = await logged_in.get("/ui/stations/CP1/live")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert chart_points(fragment.text, 1) == 3
    for table in ("connectors", "commands", "log-uploads"):
        assert f'id="{table}"' in fragment.text
    # one more reading: the fragment gains a point
    clock.advance(60)
    await services.sessions.meter_values("CP1", 1, [
        SampledValue(T0 + timedelta(minutes=31), Decimal(4100), REGISTER, "Wh"),
        SampledValue(T0 + timedelta(minutes=31), Decimal(6600), POWER, "W")], transaction_id=tx)
    await flush(services)
    assert chart_points((await logged_in.get("/ui/stations/CP1/live")).text, 1) == 4


async def test_power_is_derived_from_the_register_without_power_samples(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    tx = await start_charging(services, clock, power=False)
    registers = [s for s in await services.sessions.samples(tx) if s.measurand == REGISTER]
    html = (await logged_in.get("/ui/stations/CP1")).text
    assert chart_points(html, 1) == len(registers) == 3
    assert 'data-power-kw="6.000"' in html and "from the energy register" in html
    assert "no tariff applies" in html and 'data-cost=""' in html
    # once it ends, nothing is charging
    await services.sessions.stop_v16(StopTransaction("CP1", tx, Decimal(4000), clock.now()))
    after = (await logged_in.get("/ui/stations/CP1/live")).text
    assert "data-no-sessions" in after and 'id="power-1"' not in after


async def test_the_status_history_lists_and_draws_the_changes(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await services.stations.create("CP1", password=None)
    await services.tariffs.put_site("HARBOUR", name="Harbour", time_zone="Europe/Amsterdam")
    await services.tariffs.place_station("CP1", "HARBOUR")
    now = clock.now()
    for at, status in ((now - timedelta(days=3), "Available"),
                       (now - timedelta(hours=2), "Charging"),
                       (now - timedelta(hours=1), "Faulted")):
        await services.stations.connector_status("CP1", ConnectorStatus(1, 1, status), at)
    await flush(services)

    day = (await logged_in.get("/ui/stations/CP1")).text
    rows = re.findall(r'<tr data-history="\d+"><td>([^<]+)</td>.*?data-history-state="([^"]+)"',
                      day, re.DOTALL)
    expected, _ = await services.uptime.history("CP1", since=now - timedelta(hours=24),
                                                limit=50, offset=0)
    assert [state for _, state in rows] == [r.state for r in expected] == ["faulted", "occupied"]
    assert rows[0][0] == "2026-03-02 09:00:00 CET"  # 08:00 UTC in Amsterdam
    track = re.search(r'data-track="status-1-1">(.*?)</svg>', day, re.DOTALL)
    assert track, day
    segments = re.findall(r'data-state="([a-z]+)" x="([\d.]+)%" y="2" width="([\d.]+)%"',
                          track.group(1))
    # the day opens with the state from before it (available), then charging, then faulted
    assert [s for s, _, _ in segments] == ["available", "occupied", "faulted"]
    assert sum(float(w) for _, _, w in segments) == pytest.approx(100, abs=0.01)
    assert float(segments[2][2]) == pytest.approx(100 / 24, abs=0.01)
    assert re.search(r'data-track-now="faulted">3 periods; now <strong>faulted</strong> '
                     r"since 2026-03-02 09:00 CET", day)
    # the legend names every colour in text
    assert re.search(r'<li><span class="swatch seg-faulted" aria-hidden="true"></span> faulted',
                     day)

    week = (await logged_in.get("/ui/stations/CP1?history=7d")).text
    assert len(re.findall(r"<tr data-history=", week)) == 3
    for bad in ("?history=1y", "?hpage=0", "?hpage=x"):
        response = await logged_in.get(f"/ui/stations/CP1{bad}")
        assert response.status_code == 400, bad


async def test_uptime_per_port_is_the_services_figure(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)  # connector 1 faulted, 2 available
    await services.stations.set_connected("CP1", True, "node-1")
    clock.advance(30 * 86400)  # the window opens a day later: 29 days faulted, then 1 up
    await services.stations.connector_status("CP1", ConnectorStatus(1, 1, "Available"),
                                             clock.now())
    clock.advance(86400)
    await flush(services)
    now = clock.now()
    ports = await services.uptime.ports(now - timedelta(days=30), now, station_id="CP1")
    html = (await logged_in.get("/ui/stations/CP1")).text
    shown = dict(re.findall(r'<tr data-port="([^"]+)">.*?data-uptime-percent="([^"]+)"',
                            html, re.DOTALL))
    assert shown == {f"{p.evse_id}-{p.connector_id}": str(p.uptime.figures()["percent"])
                     for p in ports}
    assert len(shown) == 2
    total = services.uptime.total(ports).figures()["percent"]
    assert f'data-uptime-total="{total}"' in html
    assert shown["2-1"] == "100.0000" and 3 < Decimal(shown["1-1"]) < 4


async def test_a_log_upload_is_asked_and_fails_for_an_offline_station(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    token = csrf_of((await logged_in.get("/ui/stations/CP1")).text)
    response = await logged_in.post("/ui/stations/CP1/log-upload", data={
        "csrf_token": token, "log_type": "diagnostics", "start_time": "2026-03-01T10:00"})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/stations/CP1"
    uploads, total = await services.log_uploads.list("CP1", limit=10, offset=0)
    assert total == 1
    upload = uploads[0]
    assert upload.status == "failed" and "offline" in (upload.error or "")
    assert upload.start_time == T0.replace(day=1, hour=10)  # the station has no site: UTC
    assert upload.created_by == "alice"
    html = (await logged_in.get("/ui/stations/CP1")).text
    assert re.search(rf'data-log-upload="{upload.id}".*?data-upload-status="failed"', html,
                     re.DOTALL)
    assert "data-download" not in html
    # no file: the download is a 404 page
    missing = await logged_in.get(f"/ui/stations/CP1/log-uploads/{upload.id}/file")
    assert missing.status_code == 404 and "no file yet" in missing.text
    assert (await logged_in.get("/ui/stations/CP1/log-uploads/x/file")).status_code == 404
    # bad input: the service's (or the form's) message, nothing asked
    bad = await logged_in.post("/ui/stations/CP1/log-upload", data={
        "csrf_token": token, "log_type": "diagnostics", "start_time": "yesterday"})
    assert bad.status_code == 422 and "is not a date and time" in bad.text
    backwards = await logged_in.post("/ui/stations/CP1/log-upload", data={
        "csrf_token": token, "start_time": "2026-03-02T10:00", "stop_time": "2026-03-01T10:00"})
    assert backwards.status_code == 422 and "stop_time must not be before start_time" in \
        backwards.text
    assert (await services.log_uploads.list("CP1", limit=10, offset=0))[1] == 1


async def test_an_uploaded_log_can_be_downloaded(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    # as if a connected station had accepted: the record with its one-time link
    params = await services.log_uploads.prepare("CP1", "cmd-1", CommandName.UPLOAD_LOG,
                                                {"log_type": "diagnostics"}, "alice")
    token = params["location"].rsplit("/", 1)[-1]
    row = await services.log_uploads.receive(token, ReceivedFile(
        file_name="diag.log", content_type="text/plain", content=b"all good\n"))
    html = (await logged_in.get("/ui/stations/CP1")).text
    link = f"/ui/stations/CP1/log-uploads/{row.id}/file"
    assert f'data-download href="{link}"' in html
    download = await logged_in.get(link)
    assert download.status_code == 200
    assert download.content == b"all good\n"
    assert 'filename="diag.log"' in download.headers["content-disposition"]
    assert download.headers["content-type"] == "application/octet-stream"
    logged_out = httpx.AsyncClient(transport=logged_in._transport, base_url="http://test")
    async with logged_out:
        assert (await logged_out.get(link)).status_code == 303


async def test_a_firmware_update_is_sent_and_refused_with_a_bad_url(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    token = csrf_of((await logged_in.get("/ui/stations/CP1")).text)
    bad = await logged_in.post("/ui/stations/CP1/firmware", data={
        "csrf_token": token, "location": "file:///etc/passwd"})
    assert bad.status_code == 422
    assert "location must be an http, https, ftp, ftps or sftp URL" in bad.text
    assert (await services.firmware.list("CP1", limit=10, offset=0))[1] == 0

    response = await logged_in.post("/ui/stations/CP1/firmware", data={
        "csrf_token": token, "location": "https://fw.example.com/v2.bin",
        "retrieve_at": "2026-03-03T06:30", "retries": "2"})
    assert response.status_code == 303
    updates, total = await services.firmware.list("CP1", limit=10, offset=0)
    assert total == 1
    update = updates[0]
    assert update.location == "https://fw.example.com/v2.bin"
    assert update.retrieve_at == T0.replace(day=3, hour=6, minute=30)
    assert update.retries == 2
    assert update.status == "failed" and "offline" in (update.error or "")
    _, events = await services.firmware.get("CP1", update.id)
    html = (await logged_in.get("/ui/stations/CP1")).text
    assert re.search(rf'data-firmware-update="{update.id}".*?data-firmware-status="failed"',
                     html, re.DOTALL)
    assert len(re.findall(r"<li data-firmware-event=", html)) == len(events) >= 1


async def test_the_new_forms_need_the_csrf_token(
        logged_in: httpx.AsyncClient, services: Services, clock: FrozenClock) -> None:
    await make_station(services, clock)
    for path, data in (("log-upload", {"log_type": "diagnostics"}),
                       ("firmware", {"location": "https://fw.example.com/v2.bin"})):
        for token in (None, "forged"):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            response = await logged_in.post(f"/ui/stations/CP1/{path}", data=body)
            assert response.status_code == 403, path
    assert (await services.log_uploads.list("CP1", limit=10, offset=0))[1] == 0
    assert (await services.firmware.list("CP1", limit=10, offset=0))[1] == 0
    token = csrf_of((await logged_in.get("/ui/")).text)
    gone = await logged_in.post("/ui/stations/NOPE/firmware", data={
        "csrf_token": token, "location": "https://fw.example.com/v2.bin"})
    assert gone.status_code == 404


async def test_the_live_part_and_its_events_need_an_operator(
        browser: httpx.AsyncClient, logged_in: httpx.AsyncClient, services: Services,
        clock: FrozenClock) -> None:
    await make_station(services, clock)
    assert (await logged_in.get("/ui/stations/NOPE/live")).status_code == 404
    assert (await logged_in.get("/ui/stations/NOPE/events")).status_code == 404
    async with httpx.AsyncClient(transport=logged_in._transport,
                                 base_url="http://test") as anonymous:
        assert (await anonymous.get("/ui/stations/CP1/live")).status_code == 303
        assert (await anonymous.get("/ui/stations/CP1/events")).status_code == 401


async def test_the_event_stream_says_change_for_statuses_commands_and_meter_values(
        services: Services, clock: FrozenClock) -> None:
    tx = await start_charging(services, clock, power=False)
    await services.stations.create("CP9", password=None)
    stream = station._stream(services, "CP1")
    try:
        assert await anext(stream) == ": connected\n\n"
        # another station's change is not this page's
        await services.stations.connector_status("CP9", ConnectorStatus(1, 1, "Faulted"),
                                                 clock.now())
        await services.stations.connector_status("CP1", ConnectorStatus(1, 1, "Charging"),
                                                 clock.now())
        assert await asyncio.wait_for(anext(stream), 5) == "event: change\ndata: {}\n\n"
        # a command's final status (its event names only the command)
        await services.commands.issue("CP1", "reset", {"type": "soft"})
        assert await asyncio.wait_for(anext(stream), 5) == "event: change\ndata: {}\n\n"
        # meter values publish no event: the stream finds the new reading itself
        await services.sessions.meter_values("CP1", 1, [SampledValue(
            T0 + timedelta(minutes=40), Decimal(5000), REGISTER, "Wh")], transaction_id=tx)
        await flush(services)
        assert await asyncio.wait_for(anext(stream), 5) == "event: change\ndata: {}\n\n"
    finally:
        await stream.aclose()

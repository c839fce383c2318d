"""Stations with several CSMS addresses: the first that answers, round robin on a failed
connect or a lost connection, HTTP 503 refusals honoured (Retry-After); and the fleet and
``simulate`` passing several addresses on."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from click.testing import CliRunner
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from evcsms.simulator import FleetStats, VirtualStation
from evcsms.simulator import cli as cli_module
from evcsms.simulator.client import refusal_delay
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.fleet import build_fleet, station_urls

from .conftest import FakeCsms, eventually, running

pytestmark = pytest.mark.slow

SUBPROTOCOLS = [Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]
ONE_SESSION = SessionPattern(session_seconds=(1.2, 1.2), auto_start=False)


def station(urls: str | list[str], version: str = "1.6", **kw: Any) -> VirtualStation:
    options: dict[str, Any] = {"connectors": 1, "reconnect_base": 0.02, "reconnect_cap": 0.1,
                               "boot_retry_cap": 0.05, "seed": 3}
    return VirtualStation(urls, "CP1", version, **(options | kw))


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ocpp"


@contextlib.asynccontextmanager
async def fake_node() -> AsyncIterator[tuple[FakeCsms, Server]]:
    """One more fake CSMS (the `csms` fixture is the other node)."""
    fake = FakeCsms()
    async with serve(fake.handler, "127.0.0.1", 0, subprotocols=SUBPROTOCOLS,
                     compression=None) as server:
        fake.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
        yield fake, server
    assert fake.errors == [], fake.errors


@contextlib.asynccontextmanager
async def refusing(retry_after: str | None) -> AsyncIterator[tuple[str, list[float]]]:
    """A node that refuses every handshake with HTTP 503 (and ``Retry-After``); yields its
    url and the times of the attempts."""
    attempts: list[float] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        attempts.append(time.monotonic())
        response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - never admitted
        raise AssertionError("admitted")

    async with serve(never, "127.0.0.1", 0, process_request=refuse,
                     subprotocols=SUBPROTOCOLS) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp", attempts


async def test_the_first_address_that_answers_is_used(csms: FakeCsms) -> None:
    dead, dead_too = closed_url(), closed_url()
    st = station([dead, dead_too, csms.url], "2.0.1")
    async with running(st):
        await st.wait_online()
        assert st.url == csms.url
        assert st.stats.connect_failures == 2 and st.stats.failovers == 2
        assert csms.connects == {"CP1": 1}
    assert st.urls == (dead, dead_too, csms.url)
    single = station(csms.url)
    assert single.urls == (csms.url,) and single.url == csms.url


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_lost_node_hands_the_running_session_to_the_next(
        csms: FakeCsms, version: str) -> None:
    async with fake_node() as (first, first_server):
        st2 = station([first.url, csms.url], version, pattern=ONE_SESSION, meter_interval=0.1,
                      time_scale=600.0, keep_journal=True)
        async with running(st2):
            await st2.wait_online()
            assert st2.url == first.url
            assert st2.start_session(1, "TAG1")
            await first.wait_for(lambda: len(_updates(first, version)) >= 2)
            first_server.close()  # the node dies: its sockets close
            await csms.wait_for(lambda: bool(_ended(csms, version)), within=10)
        assert st2.url == csms.url and st2.stats.failovers == 1 and st2.stats.reconnects == 1
    started = _started(first, version)
    assert len(started) == 1 and _started(csms, version) == []  # one transaction, two nodes
    tx = _tx_id(started[0], version, first)
    moved = _updates(csms, version)
    assert moved and all(_tx_of(p, version) == tx for p in moved + _ended(csms, version))
    # every transaction-related message the station sent was acknowledged by one node or
    # the other (the node died between answers, or a re-sent one reached the other)
    acked = [(e.action, _key(e.payload)) for e in st2.journal]
    sent = [(r.action, _key(r.payload)) for fake in (first, csms) for r in fake.received
            if r.action in ("StartTransaction", "StopTransaction", "TransactionEvent")
            or (r.action == "MeterValues" and "transactionId" in r.payload)]
    assert set(acked) == set(sent) and len(acked) == len(set(acked))
    assert [e.action for e in st2.journal][-1] in ("StopTransaction", "TransactionEvent")


async def test_a_refusal_is_a_failed_connect_and_the_next_address_is_tried(
        csms: FakeCsms) -> None:
    async with refusing("30") as (busy, attempts):
        st2 = station([busy, csms.url])
        async with running(st2):
            await st2.wait_online()
        assert len(attempts) == 1 and st2.stats.refusals == 1 and st2.url == csms.url


async def test_retry_after_is_honoured_before_the_next_connect() -> None:
    async with refusing("1") as (busy, attempts):
        st = station(busy)
        async with running(st):
            await eventually(lambda: len(attempts) >= 3, within=5)
        gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
        assert all(gap >= 0.95 for gap in gaps), gaps  # without it: 0.1 s at most
        assert st.stats.refusals >= 3 and st.stats.booted == 0
    async with refusing(None) as (bare, plain):  # a 503 without Retry-After: the backoff
        st = station(bare, reconnect_cap=0.05)
        async with running(st):
            await eventually(lambda: len(plain) >= 4, within=3)


def test_refusal_delay_reads_seconds_and_dates() -> None:
    from websockets.exceptions import InvalidStatus

    def refused(status: int, **headers: str) -> InvalidStatus:
        return InvalidStatus(Response(status, "x", Headers(headers), b""))

    assert refusal_delay(refused(503, **{"Retry-After": "7"})) == 7.0
    assert refusal_delay(refused(503)) == 0.0
    assert refusal_delay(refused(503, **{"Retry-After": "soon"})) == 0.0
    later = refusal_delay(refused(503, **{"Retry-After": time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))}))
    assert later is not None and 100 < later <= 121
    assert refusal_delay(refused(403)) is None
    assert refusal_delay(OSError("refused")) is None


def test_fleet_addresses_in_order_or_spread() -> None:
    urls = ["ws://a/ocpp", "ws://b/ocpp", "ws://c/ocpp"]
    assert station_urls("ws://a/ocpp", 5, True) == "ws://a/ocpp"
    assert station_urls(urls, 4, False) == tuple(urls)
    assert [station_urls(urls, i, True)[0] for i in range(4)] == [*urls, urls[0]]
    fleet = build_fleet(urls, 4, "1.6", stats=FleetStats(), spread=True, keep_journal=True,
                        tx_attempts=3, tx_retry_interval=0.5)
    assert [st.url for st in fleet] == [*urls, urls[0]]
    assert all(st.keep_journal and st.tx_attempts == 3 for st in fleet)
    assert fleet[0].config.get("TransactionMessageRetryInterval") == "0.5"


def test_simulate_takes_several_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def fake_run_fleet(url: Any, stations: int, version: str, **kw: Any) -> FleetStats:
        seen.update(url=url, **kw)
        return kw["stats"]

    monkeypatch.setattr(cli_module, "run_fleet", fake_run_fleet)
    args = ["--url", "ws://a/ocpp", "--url", "ws://b/ocpp", "--duration", "1", "--quiet"]
    result = CliRunner().invoke(cli_module.simulate, args)
    assert result.exit_code == 0, result.output
    assert seen["url"] == ("ws://a/ocpp", "ws://b/ocpp") and "spread" not in seen
    result = CliRunner().invoke(cli_module.simulate, [*args, "--spread"])
    assert result.exit_code == 0 and seen["spread"] is True


# -- what the fake nodes received ---------------------------------------------------------------


def _key(payload: dict[str, Any]) -> str:
    return repr(sorted(payload.items()))


def _events(fake: FakeCsms, kind: str) -> list[dict[str, Any]]:
    return [p for p in fake.calls("TransactionEvent") if p["eventType"] == kind]


def _started(fake: FakeCsms, version: str) -> list[dict[str, Any]]:
    return fake.calls("StartTransaction") if version == "1.6" else _events(fake, "Started")


def _updates(fake: FakeCsms, version: str) -> list[dict[str, Any]]:
    if version == "1.6":
        return [p for p in fake.calls("MeterValues") if "transactionId" in p]
    return _events(fake, "Updated")


def _ended(fake: FakeCsms, version: str) -> list[dict[str, Any]]:
    return fake.calls("StopTransaction") if version == "1.6" else _events(fake, "Ended")


def _tx_of(payload: dict[str, Any], version: str) -> Any:
    if version == "1.6":
        return payload["transactionId"]
    return payload["transactionInfo"]["transactionId"]


def _tx_id(started: dict[str, Any], version: str, fake: FakeCsms) -> Any:
    if version == "1.6":  # the fake numbers transactions from 1000
        return 1000
    return started["transactionInfo"]["transactionId"]

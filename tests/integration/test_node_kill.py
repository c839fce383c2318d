"""A node of a cluster is killed (SIGKILL) under load: real `evcsms serve` processes on
PostgreSQL and NATS, simulated stations that know every node's address.

1. Stations of both OCPP versions charge with meter values every 0.3-0.5 s on node A; A is
   killed mid-session; the stations reconnect to a survivor, their transactions go on and
   end there. From the database: every meter value a station had acknowledged is stored
   exactly once (none missing, no duplicates, nothing else), every session's energy is its
   register difference and its cost what the tariff says, no session is left open, and
   every session gets its CDR.
2. Reconnection storm: a node holding a few hundred stations is killed; they all reconnect
   at once to the two survivors and are back online within a bound; no node crashes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from evcsms.bootstrap import build_services, close_services
from evcsms.services.container import Services
from evcsms.settings import Settings
from evcsms.simulator import FleetStats, VirtualStation
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.stats import Acknowledged
from evcsms.storage import tables as t
from tests.conftest import PG_URL, _truncate, require_service
from tests.integration.cluster import Cluster, NodeProcess, node_cluster

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

REGISTER = "Energy.Active.Import.Register"
PRICE_KWH, FLAT = Decimal("0.30"), Decimal("0.50")
TARIFF = {"id": "KILL", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": PRICE_KWH, "step_size": 1},
    {"type": "FLAT", "price": FLAT, "step_size": 1}]}]}


@pytest.fixture
async def db(pg_schema: str) -> AsyncIterator[Services]:
    """The test's own view of the cluster's database (no background loops)."""
    require_service("NATS", 4222)
    await _truncate(PG_URL, pg_schema)
    services = await build_services(Settings(database_url=PG_URL, database_schema=pg_schema),
                                    background=False)
    try:
        yield services
    finally:
        await close_services(services)


async def until(what: str, condition: Any, within: float, step: float = 0.05) -> float:
    """Poll ``condition()`` until true; the seconds it took (TimeoutError names ``what``)."""
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - polling state nobody signals
                await asyncio.sleep(step)
    except TimeoutError:
        raise TimeoutError(f"{what}: not within {within:.0f}s") from None
    return time.monotonic() - t0


def addresses(first: NodeProcess, survivors: Sequence[NodeProcess], i: int) -> list[str]:
    """``first`` then the survivors, rotated per station (a load balancer picking one)."""
    k = i % len(survivors)
    rest = [*survivors[k:], *survivors[:k]]
    return [first.ws, *(n.ws for n in rest)]


def assert_alive(cluster: Cluster, *nodes: NodeProcess) -> None:
    for node in nodes:
        assert node.alive, f"node {node.name} exited with code {node.returncode}"


# -- 1. sessions across a killed node ------------------------------------------------------------


async def test_sessions_survive_a_killed_node_and_every_acknowledged_reading_is_stored_once(
        db: Services, pg_schema: str, tmp_path: Path) -> None:
    n_stations = 20
    await db.tariffs.put(TARIFF)
    await db.tariffs.assign("default", "", "KILL")
    for i in range(n_stations):
        await db.tokens.create(f"KTAG{i:03d}")
    stats = FleetStats()
    async with node_cluster(PG_URL, pg_schema, tmp_path, nodes=3) as cluster:
        a, b, c = cluster.nodes
        stations = [
            VirtualStation(
                addresses(a, [b, c], i), f"KILL{i:03d}", "1.6" if i % 2 else "2.0.1",
                connectors=1, meter_interval=0.3 + 0.2 * i / n_stations, time_scale=60.0,
                pattern=SessionPattern(session_seconds=(9.0, 9.0), auto_start=False,
                                       phases=(3,)),
                id_tags=[f"KTAG{i:03d}"], seed=i, stats=stats, keep_journal=True,
                call_timeout=5.0, reconnect_base=0.2, reconnect_cap=2.0,
                tx_retry_interval=0.5)
            for i in range(n_stations)
        ]
        for st in stations:
            st.start()
        try:
            await until("all stations online on A",
                        lambda: stats.online == n_stations, within=30)
            assert all(st.url == a.ws for st in stations)
            for st in stations:
                assert st.start_session(1)
            await until("three meter values acknowledged everywhere", lambda: all(
                sum(e.action in ("MeterValues", "TransactionEvent") for e in st.journal) >= 4
                for st in stations), within=20)
            killed_at = time.monotonic()
            a.kill()
            back = await until("all stations back online on a survivor", lambda: all(
                st.booted and st.url != a.ws for st in stations), within=30)
            ended = await until("every session ended", lambda: all(
                _ended(st.journal) for st in stations), within=45)
            log.warning("node kill: %d stations back online %.2fs after SIGKILL; sessions "
                        "ended %.2fs later", n_stations, back, ended)
            print(f"\nnode kill: {n_stations} stations back online {back:.2f}s after the "
                  f"SIGKILL of node A; all sessions ended {back + ended:.2f}s after it; "
                  f"{stats.tx_retries} re-sent after CALLERROR/timeout, {stats.resent} "
                  f"after the lost connection, "
                  f"{stats.reconnects} reconnects, {stats.failovers} failovers")
            assert_alive(cluster, b, c)
        finally:
            await asyncio.gather(*(st.stop() for st in stations))
        assert time.monotonic() - killed_at < 90
        assert stats.tx_dropped == 0
        assert {st.url for st in stations} <= {b.ws, c.ws}
        await _check_database(db, stations)
        assert_alive(cluster, b, c)


def _ended(journal: list[Acknowledged]) -> bool:
    return any(e.action == "StopTransaction" or (
        e.action == "TransactionEvent" and e.payload["eventType"] == "Ended") for e in journal)


def _acked_readings(journal: list[Acknowledged]) -> list[tuple[datetime, int]]:
    """(timestamp, register Wh) of every meterValue in an acknowledged message."""
    out = []
    for e in journal:
        values = e.payload.get("meterValue") or e.payload.get("transactionData") or []
        for mv in values:
            at = datetime.fromisoformat(mv["timestamp"].replace("Z", "+00:00"))
            wh = [int(float(sv["value"])) for sv in mv["sampledValue"]
                  if sv.get("measurand") == REGISTER]
            assert len(wh) == 1
            out.append((at, wh[0]))
    return out


def _registers(journal: list[Acknowledged]) -> list[int]:
    """Every register value the station told the CSMS (1.6 meterStart/meterStop too)."""
    values = [wh for _, wh in _acked_readings(journal)]
    for e in journal:
        for key in ("meterStart", "meterStop"):
            if key in e.payload:
                values.append(int(e.payload[key]))
    return values


async def _check_database(db: Services, stations: Sequence[VirtualStation]) -> None:
    ids = [st.station_id for st in stations]
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(t.MeterReading).where(
            t.MeterReading.station_id.in_(ids)))).all()
        sessions = (await conn.execute(select(t.ChargingSession).where(
            t.ChargingSession.station_id.in_(ids)))).all()
        open_sessions = await conn.scalar(select(func.count()).select_from(
            t.table_of(t.ChargingSession)).where(t.ChargingSession.status != "completed"))
    assert open_sessions == 0, "no session is left open"
    stored: dict[str, Counter[tuple[datetime, int]]] = {sid: Counter() for sid in ids}
    for row in rows:
        registers = [int(Decimal(s[5])) for s in json.loads(row.samples) if s[0] == REGISTER]
        assert len(registers) == 1, row.samples
        stored[row.station_id][(row.timestamp, registers[0])] += 1
    by_station = {s.station_id: s for s in sessions}
    assert len(sessions) == len(stations), "one session per station: no re-sent start doubled"
    total_readings = 0
    for st in stations:
        acked = _acked_readings(st.journal)
        total_readings += len(acked)
        counts = stored[st.station_id]
        dupes = {k: n for k, n in counts.items() if n > 1}
        assert not dupes, f"{st.station_id}: stored more than once: {dupes}"
        assert len(acked) == len(set(acked)), f"{st.station_id}: acknowledged twice"
        missing = set(acked) - set(counts)
        extra = set(counts) - set(acked)
        assert not missing, f"{st.station_id}: acknowledged, not stored: {sorted(missing)}"
        assert not extra, f"{st.station_id}: stored, never acknowledged: {sorted(extra)}"
        session = by_station[st.station_id]
        registers = _registers(st.journal)
        expected_wh = max(registers) - min(registers)
        assert session.status == "completed"
        assert Decimal(session.energy_wh) == expected_wh, st.station_id
        assert expected_wh > 0
        cost = await db.billing.session_cost(session.id)
        assert cost is not None and cost.final, f"{st.station_id}: not priced"
        assert cost.quote.total_energy_kwh == Fraction(expected_wh, 1000)
        exact = FLAT + PRICE_KWH * Decimal(expected_wh) / 1000
        assert abs(cost.quote.total_cost.excl_vat - exact) <= Decimal("0.005"), (
            st.station_id, cost.quote.total_cost, exact)
    cdrs, waited = 0, time.monotonic()
    while time.monotonic() - waited < 20:  # issued by the node holding the CDR lease
        async with db.engine.connect() as conn:
            cdrs = int(await conn.scalar(select(func.count()).select_from(t.table_of(t.Cdr))
                                         .where(t.Cdr.session_id.in_([s.id for s in sessions])))
                       or 0)
        if cdrs >= len(sessions):
            break
        await asyncio.sleep(0.5)
    print(f"database: {total_readings} acknowledged readings of {len(stations)} sessions, "
          f"each stored once; energy and cost match; CDRs for {cdrs} of them "
          f"{time.monotonic() - waited:.1f}s after the checks began")
    assert cdrs == len(sessions), "every session gets its CDR, whichever node ended it"


# -- 2. a reconnection storm ---------------------------------------------------------------------


async def _connected_nodes(db: Services, prefix: str) -> Counter[str | None]:
    """How many of the storm's stations the database shows connected, by node."""
    async with db.engine.connect() as conn:
        rows = (await conn.execute(
            select(t.Station.connected_node, func.count())
            .where(t.Station.id.like(f"{prefix}%"), t.Station.connected.is_(True))
            .group_by(t.Station.connected_node))).all()
    return Counter({node: int(n) for node, n in rows})


async def test_a_reconnection_storm_after_a_node_is_killed_is_absorbed_by_the_survivors(
        db: Services, pg_schema: str, tmp_path: Path) -> None:
    n_stations = 300
    stats = FleetStats()
    async with node_cluster(PG_URL, pg_schema, tmp_path, nodes=1) as cluster:
        # the survivors have tight handshake admission: part of the storm is refused (HTTP 503
        # + Retry-After) and comes back later
        b, c = await cluster.start(2, env={"EVCSMS_MAX_HANDSHAKES": "8",
                                           "EVCSMS_HANDSHAKE_QUEUE": "24"})
        a = cluster.nodes[0]
        stations = [
            VirtualStation(addresses(a, [b, c], i), f"STORM{i:04d}", "1.6" if i % 2 else "2.0.1",
                           connectors=1, pattern=SessionPattern(auto_start=False), seed=i,
                           stats=stats, call_timeout=15.0, reconnect_base=1.0,
                           reconnect_cap=10.0)
            for i in range(n_stations)
        ]
        t0 = time.monotonic()
        for st in stations:
            st.start()
        try:
            first = await until("all stations online on A", lambda: stats.online == n_stations,
                                within=45, step=0.1)
            assert all(st.url == a.ws for st in stations)
            on_a = await _connected_nodes(db, "STORM")
            assert sum(on_a.values()) == n_stations and len(on_a) == 1, on_a
            [node_a] = on_a
            before = (stats.connect_failures, stats.refusals)
            a.kill()
            back = await until("every station back online on a survivor", lambda: (
                stats.online == n_stations and all(st.url != a.ws for st in stations)),
                within=40, step=0.1)

            async def recorded() -> Counter[str | None]:
                async with asyncio.timeout(20):
                    while True:
                        nodes = await _connected_nodes(db, "STORM")
                        if node_a not in nodes and sum(nodes.values()) == n_stations:
                            return nodes
                        await asyncio.sleep(0.2)

            survivors = await recorded()
            failures = stats.connect_failures - before[0]
            refusals = stats.refusals - before[1]
            print(f"\nstorm: {n_stations} stations online on A {first:.1f}s after start "
                  f"({time.monotonic() - t0:.1f}s in all); A killed; all back online on the "
                  f"survivors {back:.2f}s later, split {sorted(survivors.values())}; "
                  f"{failures} failed connects ({refusals} refused with 503)")
            assert len(survivors) == 2, survivors
            assert_alive(cluster, b, c)
            assert await b.healthy() and await c.healthy()
        finally:
            await asyncio.gather(*(st.stop() for st in stations))
        assert back < 40
        assert_alive(cluster, b, c)

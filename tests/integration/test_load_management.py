"""A site with a 32 A grid connection and four cars, over real WebSockets: once the
allocation settles the cars never draw more than 32 A per phase together, and it settles
within a bounded time; power freed by a car that leaves goes to the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from evcsms.bootstrap import build_services, close_services
from evcsms.services.users import UserRole
from evcsms.simulator import SessionPattern, VirtualStation
from tests.integration.conftest import Running, running

pytestmark = pytest.mark.slow

GRID_A = 32
CARS = SessionPattern(session_seconds=(3600.0, 3600.0), auto_start=False, phases=(3,),
                      max_current_a=32.0)
SETTLE_WITHIN = 10.0  # s, from the last car's start to every car at its share
STATIONS = [("LM16-1", "1.6"), ("LM16-2", "1.6"), ("LM201-1", "2.0.1"), ("LM201-2", "2.0.1")]


@pytest.fixture
async def live(settings: Any) -> AsyncIterator[Running]:
    """A node on the real clock (charging profiles carry real validity times)."""
    services = await build_services(settings, migrate=settings.is_sqlite)
    services.load._min_interval = 0.2  # noqa: SLF001 - re-allocate promptly in a test
    try:
        async with running(services, settings) as node:
            yield node
    finally:
        await close_services(services)


def per_phase(stations: list[VirtualStation]) -> float:
    """What the cars draw now, A per phase, all together (three-phase cars)."""
    total = 0.0
    for st in stations:
        c = st.connectors[0]
        if c.session is not None and c.power_w > 0:
            total += c.power_w / (230 * c.phases)
    return total


@contextlib.asynccontextmanager
async def fleet(node: Running) -> AsyncIterator[list[VirtualStation]]:
    stations = [VirtualStation(node.ws, sid, version, connectors=1, meter_interval=0.2,
                               time_scale=60, pattern=CARS, id_tags=["LMTAG"], seed=n)
                for n, (sid, version) in enumerate(STATIONS)]
    for st in stations:
        st.start()
    try:
        async with asyncio.timeout(10):
            for st in stations:
                await st.wait_online()
        yield stations
    finally:
        await asyncio.gather(*(st.stop() for st in stations))


async def test_four_cars_share_a_32_a_connection(live: Running) -> None:
    services = live.services
    await services.tokens.create("LMTAG")
    for sid, _ in STATIONS:
        await services.stations.create(sid, password=None)
    await services.tariffs.put_site("DEPOT", name="Depot", time_zone="Europe/Amsterdam")
    await services.load.put("DEPOT", {
        "circuits": [{"id": "grid", "max_current_a": [GRID_A] * 3}],
        "evses": [{"id": f"{sid}/1", "circuit": "grid", "max_current_a": 32}
                  for sid, _ in STATIONS]}, by="test")
    loop = asyncio.get_running_loop()
    async with fleet(live) as stations:
        # every station holds its failsafe default (32 A / 4) from its boot on
        async def failsafes() -> int:
            rows = await services.load.profiles("DEPOT")
            return sum(1 for r in rows if r.purpose == "failsafe" and r.status == "accepted")
        for _ in range(200):
            if await failsafes() == len(STATIONS):
                break
            await asyncio.sleep(0.05)
        assert await failsafes() == len(STATIONS)
        for st in stations:
            [(evse, failsafe)] = st.charging_profiles
            assert (evse, failsafe.purpose, failsafe.stack_level) == (1, "tx_default", 0)
            assert failsafe.periods[0].limit == 8 and failsafe.valid_to is None

        for st in stations:
            assert st.start_session(1, "LMTAG")
        started = loop.time()
        # settled: all four charging, together within the grid limit
        while loop.time() - started < SETTLE_WITHIN:
            charging = [st for st in stations if st.connectors[0].power_w > 0]
            if len(charging) == 4 and per_phase(stations) <= GRID_A + 0.05:
                break
            await asyncio.sleep(0.05)
        settled = loop.time() - started
        assert settled < SETTLE_WITHIN, f"not settled: {per_phase(stations):.1f} A per phase"

        # from then on, never above the limit (sampled at the cars' own meter interval)
        peak = 0.0
        for _ in range(40):
            peak = max(peak, per_phase(stations))
            await asyncio.sleep(0.05)
        assert peak <= GRID_A + 0.05, f"{peak:.2f} A per phase after settling"
        shares = [st.connectors[0].power_w / (230 * 3) for st in stations]
        assert all(7.5 <= a <= 8.05 for a in shares), shares  # 32 A / 4, in 0.1 A steps

        # a car leaves: the three others share its 8 A
        assert stations[0].stop_session(1)
        deadline = loop.time() + SETTLE_WITHIN
        while loop.time() < deadline:
            rest = [st.connectors[0].power_w / (230 * 3) for st in stations[1:]]
            if all(a >= 10.0 for a in rest) and per_phase(stations) <= GRID_A + 0.05:
                break
            await asyncio.sleep(0.05)
        rest = [st.connectors[0].power_w / (230 * 3) for st in stations[1:]]
        assert all(10.0 <= a <= 10.75 for a in rest), rest
        assert per_phase(stations) <= GRID_A + 0.05

        # what evcsms shows agrees: the leaver idle, three live profiles at 10.6 A, accepted
        outcome = await services.load.rebalance("DEPOT", send=False)
        limits = {s.evse: s.limit for s in outcome.allocation.setpoints}
        assert limits.pop("LM16-1/1") == 0
        # 32 A / 3 in 0.1 A steps: 10.6 each, and the 0.2 A left over to two of them
        assert sorted(limits.values()) == [Decimal("10.6"), Decimal("10.7"), Decimal("10.7")]
        live_rows = {f"{r.station_id}/{r.evse_id}": r for r in await services.load.profiles("DEPOT")
                     if r.purpose == "allocation" and r.status == "accepted"
                     and r.station_id != "LM16-1"}
        assert {k: r.limit for k, r in live_rows.items()} == limits  # what the stations hold
        assert all(r.valid_to is not None for r in live_rows.values())  # leased

        # and the stations say so themselves (GetCompositeSchedule, over the API)
        token = await services.users.create("op", UserRole.OPERATOR)
        async with httpx.AsyncClient(base_url=f"{live.http}/api/v1",
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            for sid, _ in STATIONS[1:]:
                answer = (await api.get(f"/stations/{sid}/evses/1/composite-schedule",
                                        params={"duration": 600})).json()
                assert answer["status"] == "accepted", answer
                schedule = answer["response"].get("chargingSchedule") or \
                    answer["response"]["schedule"]["chargingSchedulePeriod"]
                periods = schedule["chargingSchedulePeriod"] if isinstance(schedule, dict) \
                    else schedule
                assert Decimal(str(periods[0]["limit"])) == limits[f"{sid}/1"], answer
    print(f"settled {settled:.2f} s after the last start")

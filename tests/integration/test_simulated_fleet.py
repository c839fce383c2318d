"""The simulator against a real node, both OCPP versions: sessions, meter values, energy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evcsms.services.session_queries import SessionFilter, list_sessions
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.fleet import run_fleet
from tests.integration.conftest import Running

pytestmark = pytest.mark.slow

QUICK = SessionPattern(session_seconds=(1.5, 2.5), idle_seconds=(0.05, 0.2))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_fleet_charges_and_everything_is_stored(server: Running, version: str) -> None:
    ids = [f"SIM{i:04d}" for i in range(1, 4)]
    for station_id in ids:
        await server.services.stations.create(station_id, password="fleet-password-1")
    await server.services.tokens.create("SIMTAG01")
    stats = await run_fleet(
        server.ws, len(ids), version, duration=6.0, password="fleet-password-1",
        id_prefix="SIM", meter_interval=0.1, progress=False, id_tags=["SIMTAG01"],
        pattern=QUICK, seed=7,
    )
    assert stats.booted == len(ids)
    assert stats.call_errors == 0
    assert stats.sessions_completed >= len(ids)
    await server.services.writer.barrier()
    sessions, total = await list_sessions(
        server.services.engine, SessionFilter(status="completed"), limit=500, offset=0)
    assert total >= stats.sessions_completed
    for session in sessions:
        assert session.station_id in ids
        assert session.meter_anomalies == []
        samples = await server.services.sessions.samples(session.id)
        register = [s.value for s in samples if s.measurand == "Energy.Active.Import.Register"]
        assert register, "every session has energy register samples"
        readings = register + [v for v in (session.meter_start_wh, session.meter_stop_wh) if v]
        assert session.energy_wh == max(readings) - min(readings)
    # A session the fleet's stop cut short may have delivered nothing; most did.
    assert sum(1 for s in sessions if s.energy_wh > 0) >= len(sessions) // 2
    stored_wh = sum((s.energy_wh for s in sessions), Decimal(0))
    # The simulator's own count of delivered energy matches what the CSMS billed.
    # 1.6 meterStart/meterStop are whole Wh: allow 1 Wh of rounding per session.
    assert abs(float(stored_wh) - stats.energy_wh) <= 0.01 * stats.energy_wh + len(sessions)
    for station_id in ids:
        row, connectors = await server.services.stations.get(station_id)
        assert row.ocpp_version == version and row.vendor
        assert connectors, "status notifications must be stored"

"""Every fault class the simulator can inject becomes an incident of the right kind through
the real path (a virtual station, a WebSocket, a real node), and resolves once the fault is
cleared.

Time: the node's `clock` is a FrozenClock. The station reads it too and steps it 5 s each
time it timestamps a message (`Stepping`), so meter values, sessions and the node agree on
time and energy flows at a plausible rate. Rules that need a window to pass get it from
`clock.advance`; the sweep's parts are called directly instead of waiting for the
periodic one (which may also run meanwhile: every check polls for its result).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from evcsms.domain.clock import FrozenClock
from evcsms.simulator import SessionPattern, VirtualStation
from evcsms.simulator.faults import Fault, Injection

pytestmark = pytest.mark.slow

TAG = "FAULT-TAG"
STEP = 5.0  # simulated seconds per timestamped message
METER_INTERVAL = 0.03  # real seconds between meter values: each is STEP simulated seconds
# three-phase sessions that run until stopped (a single-phase car shows 0 A on L2/L3)
PATTERN = SessionPattern(session_seconds=(3600.0, 3600.0), auto_start=False, phases=(3,))


class Stepping:
    """The station's clock: the node's FrozenClock, moved on `step` s per timestamp taken."""

    def __init__(self, clock: FrozenClock, step: float = STEP) -> None:
        self.clock, self.step = clock, step

    def __call__(self) -> datetime:
        self.clock.advance(self.step)
        return self.clock.now()


async def until(
    check: Callable[[], Awaitable[Any]],
    what: str,
    *,
    within: float = 10.0,
    tick: Callable[[], Awaitable[Any]] | None = None,
) -> Any:
    """Poll ``check`` (after ``tick``, e.g. a sweep) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if tick is not None:
            await tick()
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


async def incidents(services: Any, kind: str, status: str | None = None) -> list[Any]:
    rows, _ = await services.incidents.list(kind=kind, status=status, limit=100, offset=0)
    return list(rows)


async def opened(
    services: Any, kind: str, *, tick: Any = None, within: float = 10.0, count: int = 1
) -> Any:
    """The active incident of ``kind`` (waiting for it); a list if ``count`` is not 1."""

    async def check() -> list[Any]:
        rows = await incidents(services, kind, "active")
        return rows if len(rows) >= count else []

    rows = await until(check, f"{count} active {kind} incident(s)", tick=tick, within=within)
    assert len(rows) == count, [(r.key, r.message) for r in rows]
    return rows[0] if count == 1 else rows


async def resolved(services: Any, incident: Any, *, tick: Any = None, within: float = 10.0) -> Any:
    async def check() -> Any:
        row, notes = await services.incidents.get(incident.id)
        return (row, notes) if row.status == "resolved" else None

    row, notes = await until(check, f"{incident.key} resolved", tick=tick, within=within)
    assert [n.what for n in notes][0] == "opened" and notes[-1].what == "resolved"
    assert notes[-1].author == "evcsms"  # resolved by itself, not by an operator
    return row


async def no_active_incidents(services: Any) -> None:
    rows, total = await services.incidents.list(status="active", limit=100, offset=0)
    assert total == 0, [(r.kind, r.message) for r in rows]


@contextlib.asynccontextmanager
async def station(
    server: Any, services: Any, clock: FrozenClock, version: str = "1.6", **options: Any
) -> AsyncIterator[VirtualStation]:
    sid = "FI16" if version == "1.6" else "FI201"
    await services.stations.create(sid, password=None)
    with contextlib.suppress(Exception):
        await services.tokens.create(TAG)
    kw: dict[str, Any] = {
        "connectors": 1,
        "meter_interval": METER_INTERVAL,
        "time_scale": STEP / METER_INTERVAL,
        "pattern": PATTERN,
        "now": Stepping(clock),
        "id_tags": [TAG],
        "reconnect_base": 0.05,
        "reconnect_cap": 0.2,
        "boot_retry_cap": 0.1,
        "stop_grace": 2.0,
        "seed": 3,
    }
    st = VirtualStation(server.ws, sid, version, **(kw | options))
    st.start()
    try:
        async with asyncio.timeout(5):
            await st.wait_online()
        yield st
    finally:
        await st.stop()


async def sweep_meters(services: Any, clock: FrozenClock) -> None:
    await services.diagnostics.check_meter_values(clock.now())


async def samples(inj: Injection, count: int = 1) -> None:
    """Wait until the station has sent ``count`` meter values with the fault."""
    async with asyncio.timeout(10):
        await inj.wait_for("sample", count)


# -- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connector", "code", "words"),
    [
        ("1.6", 1, "PowerSwitchFailure", "the contactor/relay does not switch"),
        ("1.6", 0, "InternalError", "internal hardware or software error"),
        ("2.0.1", 1, "GroundFailure", "reports the connector Faulted"),
    ],
)
async def test_connector_fault(
    server: Any, services: Any, clock: FrozenClock, version: str, connector: int, code: str,
    words: str,
) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.CONNECTOR_FAULT, connector=connector, code=code)
        incident = await opened(services, "connector_fault")
        assert incident.severity == "critical" and words in incident.message
        evse = connector if version == "1.6" else 1
        assert incident.key.startswith(f"fault:{st.station_id}/{evse}/{min(connector, 1)}:")
        if version == "2.0.1":  # the NotifyEvent with the code is an incident of its own
            event = await opened(services, "station_event")
            assert code in event.message
        st.clear_fault(Fault.CONNECTOR_FAULT, connector)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await resolved(services, incident)
        await until(lambda: _no_active(services), "every incident resolved")


async def _no_active(services: Any) -> bool:
    return (await services.incidents.list(status="active", limit=1, offset=0))[1] == 0


# -- link --------------------------------------------------------------------------------------


async def _connected(services: Any, sid: str) -> bool:
    return bool((await services.stations.get(sid))[0].connected)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_offline(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.OFFLINE)
        async with asyncio.timeout(5):
            await inj.wait_for("drop")

        async def gone() -> bool:
            return not await _connected(services, st.station_id)

        await until(gone, "the node sees the station disconnected")
        clock.advance(30)  # within the 60 s grace: not yet
        await services.diagnostics.sweep()
        assert await incidents(services, "offline") == []
        clock.advance(31)
        incident = await opened(services, "offline", tick=services.diagnostics.sweep)
        assert "not connected" in incident.message
        st.clear_fault(Fault.OFFLINE)
        await resolved(services, incident)
        assert st.booted


async def test_hung_station(server: Any, services: Any, clock: FrozenClock) -> None:
    services.diagnostics._probe_timeout = 0.3  # the ping's answer is awaited this long
    async with station(server, services, clock, "2.0.1") as st:
        inj = st.inject(Fault.HUNG)
        async with asyncio.timeout(5):
            await inj.wait_for("hung")
        await services.presence.flush()
        clock.advance(70)  # silent past 1.1 heartbeat intervals (60 s): it gets pinged
        incident = await opened(services, "offline", tick=services.diagnostics.sweep)
        assert incident.evidence["ping_answered"] is False

        async def dropped() -> bool:
            return not await _connected(services, st.station_id)

        await until(dropped, "the node drops the hung socket")
        st.clear_fault(Fault.HUNG)  # it wakes up, finds the socket gone and reconnects
        await resolved(services, incident)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_flapping(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.FLAPPING, count=3, down=0.05, up=0.05)
        incident = await opened(services, "flapping_link")
        assert "disconnected 3 times" in incident.message
        async with asyncio.timeout(5):
            await inj.wait_for("drop", 3)
        st.clear_fault(Fault.FLAPPING)
        await st.wait_online()
        await services.diagnostics.sweep()
        assert (await services.incidents.get(incident.id))[0].status == "open"  # window open
        clock.advance(11 * 60)  # the 10 min window passes without another drop
        await resolved(services, incident, tick=services.diagnostics.sweep)
        assert await incidents(services, "repeated_reboots") == []  # it never rebooted


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_boot_loop(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.BOOT_LOOP, count=2, interval=0.05)
        incident = await opened(services, "repeated_reboots")  # the first boot counts too
        assert "booted 3 times" in incident.message
        async with asyncio.timeout(5):
            await inj.wait_for("boot", 2)
        st.clear_fault(Fault.BOOT_LOOP)
        clock.advance(61 * 60)  # an hour without another boot
        await resolved(services, incident, tick=services.diagnostics.sweep)


# -- meter values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "fault", "kind", "count", "words"),
    [
        ("1.6", Fault.VOLTAGE_LOW, "voltage_out_of_band", 3, "voltage low on L"),  # per phase
        ("2.0.1", Fault.VOLTAGE_HIGH, "voltage_out_of_band", 3, "voltage high on L"),
        ("1.6", Fault.PHASE_IMBALANCE, "phase_imbalance", 1, "are imbalanced"),
        ("2.0.1", Fault.PHASE_IMBALANCE, "phase_imbalance", 1, "are imbalanced"),
        ("1.6", Fault.OVER_TEMPERATURE, "over_temperature", 1, "85.0 °C"),
        ("2.0.1", Fault.OVER_TEMPERATURE, "station_event", 1, "Temperature is 85.0"),
        ("1.6", Fault.OVER_CURRENT, "over_current", 1, "40.00 A"),
        ("2.0.1", Fault.OVER_CURRENT, "over_current", 1, "40.0 A"),
    ],
)
async def test_meter_faults(
    server: Any, services: Any, clock: FrozenClock, version: str, fault: Fault, kind: str,
    count: int, words: str,
) -> None:
    tick = lambda: sweep_meters(services, clock)  # noqa: E731
    async with station(server, services, clock, version) as st:
        await services.thresholds.set("station", st.station_id, {"rated_current_a": "32"},
                                      by="test")
        assert st.start_session(1)  # a healthy session first: no incident
        for _ in range(3):
            async with asyncio.timeout(5):
                await _next_sample(st)
            await tick()
        await no_active_incidents(services)
        inj = st.inject(fault)
        found = await opened(services, kind, tick=tick, count=count)
        for incident in found if count > 1 else [found]:
            assert words in incident.message, incident.message
        st.clear_fault(fault)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        for incident in found if count > 1 else [found]:
            await resolved(services, incident, tick=tick)


async def _next_sample(st: VirtualStation) -> None:
    """Wait for the next meter value of connector 1 (through a throw-away injection-free
    watch: the register of the running session moves on)."""
    conn = st.connectors[0]
    before = conn.register_wh
    while conn.register_wh == before or conn.session is None:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_frozen_register(server: Any, services: Any, clock: FrozenClock) -> None:
    tick = lambda: sweep_meters(services, clock)  # noqa: E731
    async with station(server, services, clock) as st:
        assert st.start_session(1)
        inj = st.inject(Fault.FROZEN_REGISTER)
        await samples(inj)
        for n in range(2, 8):  # 6 min of a frozen register while 11 kW flows: not yet
            clock.advance(60)
            await samples(inj, n)
        await tick()
        assert await incidents(services, "frozen_register") == []
        for n in range(8, 14):  # past 10 min
            clock.advance(60)
            await samples(inj, n)
        incident = await opened(services, "frozen_register", tick=tick)
        assert "energy register stuck" in incident.message
        st.clear_fault(Fault.FROZEN_REGISTER)
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        clock.advance(16 * 60)  # the frozen run leaves the rule's look-back window
        await resolved(services, incident, tick=tick)


# -- register anomalies, reported when the session ends ------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        (Fault.REGISTER_BACKWARDS, "register_backwards", "went back"),
        (Fault.IMPLAUSIBLE_JUMP, "implausible_jump", "plausibility limit"),
    ],
)
async def test_register_anomalies(
    server: Any, services: Any, clock: FrozenClock, version: str, fault: Fault, kind: str,
    words: str,
) -> None:
    async with station(server, services, clock, version) as st:
        await _clean_session(st, services)  # a healthy session reports nothing
        await no_active_incidents(services)
        inj = st.inject(fault)  # starts a session, steps the register, ends the session
        async with asyncio.timeout(10):
            await inj.wait_for("session_end")
        incident = await opened(services, kind)
        assert words in incident.message, incident.message
        st.clear_fault(fault)
        await _clean_session(st, services)  # the meter counts right again
        await resolved(services, incident, within=2)


async def _clean_session(st: VirtualStation, services: Any) -> None:
    """A session with energy, started and stopped by a driver; waits until the node has
    processed its end."""
    conn = st.connectors[0]
    await until(_async(lambda: conn.free), "the connector free")
    ended = asyncio.Event()

    async def on_end(_subject: str, _message: dict[str, Any]) -> None:
        ended.set()

    sub = await services.bus.subscribe("events.session.ended", on_end)
    try:
        start = conn.register_wh
        assert st.start_session(1)
        await until(_async(lambda: conn.register_wh > start + 20), "energy flows")
        assert st.stop_session(1)
        async with asyncio.timeout(5):
            await ended.wait()
        await asyncio.sleep(0.1)  # the diagnostics subscriber runs on the same event
    finally:
        await sub.unsubscribe()


def _async(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


# -- sessions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_failed_session(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.FAILED_SESSION, seconds=0.05)
        incident = await opened(services, "failed_session")
        assert "was authorised but delivered no energy" in incident.message
        async with asyncio.timeout(5):
            await inj.wait_for("session_end")
        st.clear_fault(Fault.FAILED_SESSION)
        await _clean_session(st, services)  # the connector delivers energy again
        await resolved(services, incident, within=2)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_silent_failure(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.SILENT_FAILURE, count=3, seconds=0.05)
        incident = await opened(services, "silent_failure")
        assert "3 sessions" in incident.message
        async with asyncio.timeout(5):
            await inj.wait_for("session_end", 3)
        st.clear_fault(Fault.SILENT_FAILURE)
        await _clean_session(st, services)  # drivers can charge here again
        await resolved(services, incident, within=2)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_stuck_session(server: Any, services: Any, clock: FrozenClock, version: str) -> None:
    async with station(server, services, clock, version) as st:
        inj = st.inject(Fault.STUCK_SESSION)  # a session opens and never draws energy
        await samples(inj, 2)
        clock.advance(23 * 3600)
        await samples(inj, 3)
        assert await services.diagnostics.check_stuck_sessions(clock.now()) == 0  # < 24 h
        clock.advance(2 * 3600)
        await samples(inj, 4)  # still open, still 0 W
        incident = await opened(
            services,
            "stuck_session",
            tick=lambda: services.diagnostics.check_stuck_sessions(clock.now()),
        )
        assert "is open since" in incident.message
        st.clear_fault(Fault.STUCK_SESSION)  # the session ends
        async with asyncio.timeout(5):
            await inj.wait_for("cleared")
        await resolved(services, incident, tick=services.diagnostics.sweep, within=3)


# -- no fault, no incident ---------------------------------------------------------------------


@pytest.mark.parametrize("phases", [1, 3])
async def test_a_healthy_session_opens_no_incident(
    server: Any, services: Any, clock: FrozenClock, phases: int
) -> None:
    """The control for every test above. A single-phase car (7.4 kW on L1; the meter shows
    0 A on L2 and L3) is a normal session, not a phase imbalance."""
    pattern = SessionPattern(session_seconds=(3600.0, 3600.0), auto_start=False, phases=(phases,))
    async with station(server, services, clock, pattern=pattern) as st:
        await _clean_session(st, services)
        assert st.connectors[0].phases == phases
        await sweep_meters(services, clock)
        await services.diagnostics.check_stuck_sessions(clock.now())
        await no_active_incidents(services)


# -- make run ----------------------------------------------------------------------------------


def test_the_demo_injects_faults_that_open_and_resolve_incidents(tmp_path: Any) -> None:
    """`make run` in small: random faults (here only connector faults, every second, each
    held a second) become incidents on the demo's node and resolve again."""
    import os
    import socket
    import sqlite3
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp_path / "demo.db"
    env = os.environ | {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                        "EVCSMS_PORT": str(port), "EVCSMS_LOG_LEVEL": "warning"}
    env.pop("EVCSMS_ADMIN_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "evcsms", "demo", "--stations", "2", "--meter-interval", "1",
         "--session-seconds", "3", "5", "--duration", "6", "--fault-every", "1",
         "--fault-hold", "1", "--fault-kinds", "connector_fault"],
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"http://127.0.0.1:{port}/api/v1/incidents?status=active" in result.stdout
    assert "injected connector_fault on DEMO" in result.stdout
    assert "cleared connector_fault on DEMO" in result.stdout
    rows = sqlite3.connect(db).execute(
        "select kind, status from incidents where kind = 'connector_fault'").fetchall()
    assert rows, "no injected fault became an incident"
    assert ("connector_fault", "resolved") in rows

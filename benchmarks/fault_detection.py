"""Fault detection benchmark: how long evcsms takes to turn each fault a station shows into an
incident, and to resolve the incident once the fault is gone.

    .venv/bin/python benchmarks/fault_detection.py                    # SQLite, 5 runs a class
    .venv/bin/python benchmarks/fault_detection.py --runs 10 --only offline,hung,flapping
    .venv/bin/python benchmarks/fault_detection.py --ocpp 2.0.1 --json out.json
    .venv/bin/python benchmarks/fault_detection.py \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

A real node runs in this process (uvicorn on a loopback port, the app `evcsms serve` runs,
SQLite in a temp directory unless --database-url), with a simulated fleet connected over
WebSockets. Each fault class is injected `--runs` times, every run on a station of its own
(so one class's side effects, say a reboot's disconnect or an empty session, never count
towards another's rule), with `VirtualStation.inject`; the node's bus tells when the
incident opens and resolves.

Detection is timed from the moment the station sends the fault (the Faulted status, the
first faulty meter value, the disconnect or boot or session end that crosses a rule's
threshold) -- or, for a rule that by design waits for a window (offline grace, frozen
register, stuck session, the silence before a ping), from the moment that window has
passed. Windows are not waited out in real time: the node and the stations share a clock
that the benchmark moves forward ("jumps") by the window. The sweep runs every `--sweep`
seconds (default 1 s instead of 30 s); the last columns say what the default configuration
implies. It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)

LOOPBACK = "127.0.0.1"
TAG = "BENCH-TAG"
RATING_A = "32"  # the stations' current rating (threshold rated_current_a), for over_current
METER_INTERVAL = 0.2  # s between meter values in a session
WAIT = 60.0  # s at most for any one step before the run is given up


# -- what each fault class needs -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How one fault class is injected and timed, and what the defaults imply."""

    params: dict[str, Any] = field(default_factory=dict)
    detect_default: str = ""
    resolve_default: str = ""
    measured_from: str = ""  # what detection is timed from
    resolved_from: str = "the clearing sent"  # what resolution is timed from


PLANS: dict[str, Plan] = {
    "connector_fault": Plan({}, "on the status (event)", "on the Available status",
                            "Faulted status sent", "Available status sent"),
    "voltage_low": Plan({}, "next sweep: <= 30 s", "next sweep: <= 30 s", "first faulty sample",
                       "first normal sample"),
    "voltage_high": Plan({}, "next sweep: <= 30 s", "next sweep: <= 30 s", "first faulty sample",
                       "first normal sample"),
    "phase_imbalance": Plan({}, "next sweep: <= 30 s", "next sweep: <= 30 s",
                            "first faulty sample", "first normal sample"),
    "over_current": Plan({}, "next sweep: <= 30 s (rating set)", "next sweep: <= 30 s",
                         "first faulty sample", "first normal sample"),
    "over_temperature": Plan({}, "next sweep: <= 30 s (2.0.1: on the NotifyEvent)",
                             "next sweep: <= 30 s (2.0.1: on the clearing event)",
                             "first faulty sample / event", "first normal sample / event"),
    "frozen_register": Plan({}, "10 min frozen + sweep: 10-10.5 min",
                            "frozen run leaves the 15 min look-back + sweep: ~15 min",
                            "10 min of frozen samples (jump)", "the run out of look-back (jump)"),
    "register_backwards": Plan({"samples": 1}, "at session end (event)",
                               "next session with energy ends (event)", "session end sent",
                               "a session with energy ending"),
    "implausible_jump": Plan({"samples": 1}, "at session end (event)",
                             "next session with energy ends (event)", "session end sent",
                             "a session with energy ending"),
    "failed_session": Plan({"seconds": 0.2}, "at session end (event)",
                           "next session with energy ends (event)", "session end sent",
                           "a session with energy ending"),
    "silent_failure": Plan({"count": 3, "seconds": 0.2}, "at the 3rd empty session's end",
                           "next session with energy ends (event)", "3rd session end sent",
                           "a session with energy ending"),
    "stuck_session": Plan({}, "24 h open (2 h idle) + sweep: 24 h-24 h 30 s",
                          "the session ends (event)", "24 h without energy (jump)",
                          "the clearing (session ends)"),
    "flapping": Plan({"count": 3, "down": 0.2, "up": 0.3}, "on the 3rd disconnect in 10 min",
                     "10 min after the last drop + sweep: 10-10.5 min", "3rd disconnect",
                     "10 min window over (jump)"),
    "offline": Plan({}, "60 s grace + sweep: 60-90 s", "on reconnect (event)",
                    "60 s grace over (jump)", "the clearing (it reconnects)"),
    "hung": Plan({}, "1.1 heartbeat intervals + sweep + 10 s ping: 340-370 s at 300 s",
                 "on reconnect (event)", "1.1 intervals of silence (jump)",
                 "the clearing (it reconnects)"),
    "boot_loop": Plan({"count": 3, "interval": 0.2}, "on the 3rd boot in 1 h",
                      "1 h after the last boot + sweep: 60-60.5 min", "3rd boot sent",
                      "1 h window over (jump)"),
}


@dataclass
class Result:
    fault: str
    kind: str = ""
    detect: list[float] = field(default_factory=list)  # seconds
    resolve: list[float] = field(default_factory=list)
    missed: int = 0  # no incident within WAIT
    unresolved: int = 0  # no resolution within --resolve-timeout
    notes: list[str] = field(default_factory=list)


# -- a clock the benchmark can move forward ------------------------------------------------------


class JumpClock:
    """Wall-clock time plus an offset the benchmark increases to pass a rule's window."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump(self, seconds: float) -> float:
        """Move on ``seconds``; the monotonic time it happened."""
        self.offset += timedelta(seconds=seconds)
        return time.monotonic()


# -- the node ------------------------------------------------------------------------------------


class Incidents:
    """When incidents open and resolve, straight from the node's bus."""

    def __init__(self) -> None:
        self.opened: list[tuple[float, dict[str, Any]]] = []
        self.resolved: dict[int, float] = {}
        self._changed = asyncio.Event()

    async def on_opened(self, _subject: str, message: dict[str, Any]) -> None:
        self.opened.append((time.monotonic(), message))
        self._changed.set()

    async def on_resolved(self, _subject: str, message: dict[str, Any]) -> None:
        self.resolved.setdefault(int(message["id"]), time.monotonic())
        self._changed.set()

    async def _until(self, find: Callable[[], Any], within: float) -> Any:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while (found := find()) is None:
                    self._changed.clear()
                    await self._changed.wait()
                return found
        return None

    async def wait_opened(self, kind: str, station: str, after: float,
                          within: float = WAIT) -> tuple[float, int] | None:
        def find() -> tuple[float, int] | None:
            return next(((at, int(m["id"])) for at, m in self.opened if at >= after
                         and m["kind"] == kind and m["station_id"] == station), None)
        return await self._until(find, within)

    async def wait_resolved(self, incident_id: int, within: float) -> float | None:
        return await self._until(lambda: self.resolved.get(incident_id), within)


@dataclass
class Node:
    services: Any
    settings: Any
    clock: JumpClock
    url: str
    incidents: Incidents


@contextlib.asynccontextmanager
async def node(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Node]:
    import uvicorn

    from evcsms.bootstrap import build_app, build_services, close_services, uvicorn_config
    from evcsms.services.diagnostics import DiagnosticsService
    from evcsms.settings import Settings

    url = args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    port = sock.getsockname()[1]
    settings = Settings(database_url=url, host=LOOPBACK, port=port, log_level="warning",
                        database_schema=args.database_schema)
    clock = JumpClock()
    services = await build_services(settings, clock=clock, migrate=True)
    # the same rules, swept every --sweep seconds instead of every 30
    await services.diagnostics.close()
    services.diagnostics = DiagnosticsService(
        services.engine, services.bus, clock, services.incidents, services.thresholds,
        heartbeat_interval=settings.heartbeat_interval, sweep_interval=args.sweep,
        probe_timeout=args.probe_timeout)
    await services.diagnostics.start()
    incidents = Incidents()
    await services.bus.subscribe("events.incident.opened", incidents.on_opened)
    await services.bus.subscribe("events.incident.resolved", incidents.on_resolved)
    app = build_app(services, settings)
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield Node(services, settings, clock, f"ws://{LOOPBACK}:{port}/ocpp", incidents)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await app.gateway.registry.close_all()
        await close_services(services)
        sock.close()


# -- one run -------------------------------------------------------------------------------------


async def _until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            value = check()
            if not isinstance(value, bool):
                value = await value
            if value:
                return
            await asyncio.sleep(0.01)


async def _next_sample(st: Any) -> float:
    """Wait for the next meter value of connector 1 (its register moves just before it is
    sent); when it went."""
    conn = st.connectors[0]
    before = conn.register_wh
    await _until(lambda: conn.register_wh != before, "a meter value")
    return time.monotonic()


async def _clean_session(st: Any) -> float:
    """A session that delivers energy, ended by the driver; when its end was asked for."""
    conn = st.connectors[0]
    await _until(lambda: conn.free, "the connector free")
    start = conn.register_wh
    assert st.start_session(1, TAG)
    await _until(lambda: conn.register_wh > start + 2, "energy")
    asked = time.monotonic()
    st.stop_session(1)
    await _until(lambda: conn.idle.is_set() and conn.session is None, "the session ended")
    return asked


async def _tidy(st: Any) -> None:
    st.clear_faults()
    if st.connectors[0].session is not None:
        st.stop_session(1)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10):
            await st.wait_online()
            await _until(lambda: st.connectors[0].idle.is_set(), "idle")


async def run_once(n: Node, st: Any, fault: Any, args: argparse.Namespace,
                   result: Result) -> None:
    from evcsms.domain.faults import DEFAULTS
    from evcsms.simulator.faults import FAULTS, Fault

    spec, plan, clock = FAULTS[fault], PLANS[fault.value], n.clock
    kind = result.kind = spec.incident_for(st.ocpp_version)
    t0 = time.monotonic()
    inj = st.inject(fault, **plan.params)
    cond: float | None = None
    async with asyncio.timeout(WAIT):
        if fault is Fault.OFFLINE:
            await inj.wait_for("drop")
            await _until(_disconnected(n, st.station_id), "the node sees it gone")
            cond = clock.jump(61)
        elif fault is Fault.HUNG:
            await inj.wait_for("hung")
            await asyncio.sleep(0.3)  # the last words reach the node
            await n.services.presence.flush()
            cond = clock.jump(float(DEFAULTS.probe_after) * n.settings.heartbeat_interval + 1)
        elif fault is Fault.FROZEN_REGISTER:
            await inj.wait_for("sample", 2)
            clock.jump(DEFAULTS.frozen_minutes * 60 + 1)
            cond = await inj.wait_for("sample", len(inj.times("sample")) + 1)
        elif fault is Fault.STUCK_SESSION:
            await inj.wait_for("sample")
            clock.jump(DEFAULTS.stuck_hours * 3600 + 1)
            cond = await inj.wait_for("sample", len(inj.times("sample")) + 1)
        elif spec.group == "meter":
            cond = await inj.wait_for(spec.symptom_for(st.ocpp_version))
        elif fault is Fault.CONNECTOR_FAULT:
            cond = await inj.wait_for("status")
    found = await n.incidents.wait_opened(kind, st.station_id, t0)
    if found is None:
        result.missed += 1
        await _tidy(st)
        return
    t_open, incident = found
    if cond is None:  # a threshold rule: the symptom that crossed it
        cond = max((t for t in inj.times(spec.symptom) if t <= t_open), default=t0)
    result.detect.append(t_open - cond)

    st.clear_fault(fault)
    async with asyncio.timeout(WAIT):
        if fault in (Fault.FLAPPING, Fault.BOOT_LOOP):
            await st.wait_online()
            window = DEFAULTS.flap_window if fault is Fault.FLAPPING else DEFAULTS.reboot_window
            cleared = clock.jump(window.total_seconds() + 1)
        elif fault is Fault.FROZEN_REGISTER:
            await inj.wait_for("cleared")
            clock.jump((DEFAULTS.frozen_minutes + 5) * 60 + 1)
            cleared = await _next_sample(st)
        elif fault in (Fault.OFFLINE, Fault.HUNG, Fault.STUCK_SESSION):
            cleared = inj.cleared_at or time.monotonic()
        elif spec.group in ("register", "session"):
            cleared = await _clean_session(st)
        else:
            cleared = await inj.wait_for("cleared")
    t_resolved = await n.incidents.wait_resolved(incident, args.resolve_timeout)
    if t_resolved is None:
        result.unresolved += 1
    else:
        result.resolve.append(t_resolved - cleared)
    await _tidy(st)


def _disconnected(n: Node, station_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not (await n.services.stations.get(station_id))[0].connected
    return check


# -- the fleet and the runs ----------------------------------------------------------------------


async def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Result]:
    from evcsms.simulator import SessionPattern, VirtualStation
    from evcsms.simulator.faults import Fault

    faults = [Fault(name) for name in args.only]
    results = {f.value: Result(f.value) for f in faults}
    async with node(args, workdir) as n:
        ids = [f"BENCH{i:03d}" for i in range(1, len(faults) * args.runs + 1)]
        with contextlib.suppress(Exception):
            await n.services.tokens.create(TAG)
        for sid in ids:
            await n.services.stations.create(sid, password=None)
            await n.services.thresholds.set("station", sid, {"rated_current_a": RATING_A},
                                            by="benchmark")
        # three-phase sessions that last until stopped; no random sessions in between
        pattern = SessionPattern(session_seconds=(3600.0, 3600.0), auto_start=False,
                                 phases=(3,))
        fleet = [VirtualStation(n.url, sid, args.ocpp, connectors=1, pattern=pattern,
                                meter_interval=METER_INTERVAL, now=n.clock.now, id_tags=[TAG],
                                seed=i, reconnect_base=0.2, reconnect_cap=1.0, stop_grace=2.0)
                 for i, sid in enumerate(ids)]
        for st in fleet:
            st.start()
            await asyncio.sleep(0.02)  # connect staggered
        try:
            async with asyncio.timeout(60):
                for st in fleet:
                    await st.wait_online()
            columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn())
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("", total=len(faults) * args.runs)
                for c, fault in enumerate(faults):
                    progress.update(task, description=fault.value)
                    for run in range(args.runs):
                        st = fleet[c * args.runs + run]
                        try:
                            await run_once(n, st, fault, args, results[fault.value])
                        except TimeoutError:
                            results[fault.value].notes.append(f"run {run + 1} stalled")
                            await _tidy(st)
                        progress.advance(task)
        finally:
            await asyncio.gather(*(st.stop() for st in fleet), return_exceptions=True)
    return results


# -- output --------------------------------------------------------------------------------------


def _ms(values: list[float], pick: Callable[[list[float]], float]) -> str:
    if not values:
        return "-"
    x = pick(values)
    return f"{x * 1000:,.0f} ms" if x < 10 else f"{x:,.1f} s"


def results_table(results: dict[str, Result], args: argparse.Namespace) -> Table:
    table = Table(title=f"Fault detection (OCPP {args.ocpp}, {args.runs} runs a class, "
                        f"sweep every {args.sweep:g} s, ping timeout {args.probe_timeout:g} s)")
    for name in ("fault", "incident", "detected p50", "max", "resolved p50", "max",
                 "detection timed from", "resolution timed from", "default config: detection",
                 "default: resolution"):
        table.add_column(name, justify="right" if name in ("detected p50", "max", "resolved p50")
                         else "left")
    for r in results.values():
        plan = PLANS[r.fault]
        detected = f"{_ms(r.detect, statistics.median)}"
        if r.missed:
            detected += f" ({r.missed} missed)"
        resolved = _ms(r.resolve, statistics.median)
        if r.unresolved:
            resolved = f"{resolved} ({r.unresolved}/{len(r.detect)} never)"
        table.add_row(r.fault, r.kind, detected, _ms(r.detect, max), resolved,
                      _ms(r.resolve, max), plan.measured_from, plan.resolved_from,
                      plan.detect_default, plan.resolve_default)
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="injections per fault class")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6")
    p.add_argument("--only", default=",".join(PLANS), help="fault classes, comma separated")
    p.add_argument("--sweep", type=float, default=1.0, help="seconds between sweeps")
    p.add_argument("--probe-timeout", type=float, default=10.0,
                   help="seconds a silent station has to answer the ping (node default 10)")
    p.add_argument("--resolve-timeout", type=float, default=10.0,
                   help="seconds to wait for an incident to resolve after the fault is cleared")
    p.add_argument("--database-url", default=None, help="default: SQLite in a temp directory")
    p.add_argument("--database-schema", default=None, help="PostgreSQL schema (migrated)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = p.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(PLANS))
    if unknown:
        p.error(f"unknown fault class {', '.join(unknown)} (one of {', '.join(PLANS)})")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("evcsms").setLevel(logging.ERROR)  # hung stations are dropped on purpose
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="evcsms-faults-") as tmp:
        results = asyncio.run(run_all(args, Path(tmp)))
    console.print(results_table(results, args))
    for r in results.values():
        for note in r.notes:
            console.print(f"[yellow]{r.fault}: {note}")
    console.print(f"{sum(len(r.detect) + r.missed for r in results.values())} injections in "
                  f"{time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                                  if k != "json"},
                                         "results": [r.__dict__ for r in results.values()]},
                                        indent=2, default=str))
        console.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

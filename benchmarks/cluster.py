"""Cluster benchmark (issue 6): evcsms nodes on PostgreSQL + NATS beside a bare WebSocket
server, measured in the same run by the same load client.

    .venv/bin/python benchmarks/cluster.py                               # everything
    .venv/bin/python benchmarks/cluster.py --nodes 1,2 --stations 200 --phases flood,mix
    .venv/bin/python benchmarks/cluster.py --wait-quiet 600 --json cluster.json

Phases (each on freshly started servers):

* flood    -- N stations (spread evenly over the nodes, as a load balancer would) send
              MeterValues back-to-back: msgs/s with persistence.
* mixmax   -- the same N stations run the realistic station timeline (``MixShape``: heartbeat
              every 60 s, meter values every 10-60 s while charging, session starts and stops)
              back-to-back: msgs/s at a realistic mix of messages.
* mix      -- that timeline paced (``--mix-speedup`` station seconds per real second): the
              p50/p99 round trip a station sees at a realistic load.
* idle     -- M stations connect to ONE node and stay silent: connections held, RSS per
              connection.
* recovery -- N stations on ``--recovery-nodes`` nodes run the paced timeline; one node is
              killed with SIGKILL; its stations reconnect to the survivors with back-off and
              jitter (1 s base) and resume with a BootNotification. Time from the kill until
              each is answered there: p50/p99/max, and the total (the last one back).

Every figure is beside the bare reference (benchmarks/ref_bare_server.py: JSON-parse, answer
``[3, id, {}]``; the ceiling of one Python process here), as a ratio. evcsms runs
``python -m evcsms serve --role all`` on one fresh PostgreSQL schema (dropped at the end)
with the NATS bus. It prints figures; it never fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from gateway_throughput import (
    ADMIN_TOKEN,
    BUSY_MACHINE_CORES,
    LOOPBACK,
    Sampler,
    ServerProcess,
    ServerSpec,
    ServerUnavailable,
    _csv_choice,
    _fmt,
    _ratio,
    _round,
    client_loop,
    console,
    environment,
    feasible_idle_stations,
    flood_phase,
    guarded_phase,
    idle_phase,
    import_load_module,
    latency_figures,
    phase_budget,
    raise_nofile_limit,
    server_specs,
    summary_line,
    wait_until_quiet,
    work_directory,
)
from rich.markup import escape
from rich.table import Table

PHASES = ("flood", "mixmax", "mix", "idle", "recovery")
CPU_BOUND_PHASES = ("flood", "mixmax", "mix", "recovery")
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_BUS_URL = "nats://127.0.0.1:4222"
TOKEN_CONCURRENCY = 16
PG_BACKEND_PORT = re.compile(r"\((\d+)\)")


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", default="1,2,3", help="cluster sizes measured, comma separated")
    p.add_argument("--stations", type=int, default=1000, help="stations for flood and mix")
    p.add_argument("--duration", type=float, default=10.0, help="flood/mixmax seconds measured")
    p.add_argument("--mix-duration", type=float, default=20.0, help="paced mix seconds measured")
    p.add_argument(
        "--mix-speedup", type=float, default=10.0,
        help="station seconds per real second in the paced mix and recovery (10: ~0.5 msg/s "
             "per station, N stations load a node like 10 N real ones)",
    )
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--idle-stations", type=int, default=10_000, help="idle connections, one node")
    p.add_argument("--recovery-stations", type=int, default=None, help="default: --stations")
    p.add_argument("--recovery-nodes", type=int, default=None,
                   help="nodes in the recovery phase (default: the largest of --nodes, >= 2)")
    p.add_argument("--recovery-duration", type=float, default=30.0,
                   help="seconds the stations run in the recovery phase")
    p.add_argument("--kill-after", type=float, default=5.0,
                   help="seconds into the recovery phase when one node is killed")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="OCPP version")
    p.add_argument("--phases", default=",".join(PHASES), help="phases, comma separated")
    p.add_argument("--only", default="bare,evcsms", help="servers: bare,evcsms")
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL (asyncpg)")
    p.add_argument("--bus-url", default=DEFAULT_BUS_URL, help="NATS server the nodes share")
    p.add_argument("--password", default=None, help="station password, if evcsms needs one")
    p.add_argument(
        "--wait-quiet", type=float, default=0.0,
        help="before each phase wait up to this many seconds for other processes to go idle",
    )
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    args = p.parse_args(argv)
    args.phases = _csv_choice(p, args.phases, PHASES, "--phases")
    args.only = _csv_choice(p, args.only, ("bare", "evcsms"), "--only")
    try:
        args.nodes = sorted({int(n) for n in args.nodes.split(",") if n.strip()})
    except ValueError:
        p.error("--nodes: comma separated numbers, e.g. 1,2,3")
    if not args.nodes or min(args.nodes) < 1 or max(args.nodes) > 8:
        p.error("--nodes: between 1 and 8 nodes")
    if not args.database_url.startswith("postgresql+asyncpg://"):
        p.error("--database-url: a cluster shares PostgreSQL (postgresql+asyncpg://...)")
    args.recovery_stations = args.recovery_stations or args.stations
    args.recovery_nodes = args.recovery_nodes or max(2, *args.nodes)
    if args.recovery_nodes < 2:
        p.error("--recovery-nodes: a node must survive the kill (>= 2)")
    if args.kill_after >= args.recovery_duration:
        p.error("--kill-after must be shorter than --recovery-duration")
    if args.stations < 1 or args.duration <= 0 or args.idle_stations < 0:
        p.error("--stations >= 1, --duration > 0, --idle-stations >= 0")
    return args


# --------------------------------------------------------------------------- database


@contextlib.asynccontextmanager
async def fresh_schema(database_url: str) -> AsyncIterator[str]:
    """A new PostgreSQL schema, migrated to head; dropped (with everything in it) afterwards."""
    from sqlalchemy import text

    from evcsms.storage.database import create_engine, upgrade

    schema = f"bench_cluster_{os.getpid()}_{int(time.time())}"
    admin = create_engine(database_url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        migrated = create_engine(database_url, schema=schema, timeout=600)
        try:
            await upgrade(migrated)
        finally:
            await migrated.dispose()
        console.print(f"PostgreSQL schema {schema} created and migrated")
        yield schema
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()
        console.print(f"PostgreSQL schema {schema} dropped")


# --------------------------------------------------------------------------- a group of nodes


class Infra:
    """CPU of the shared services the nodes lean on: the NATS server and the PostgreSQL
    processes serving the nodes' own connections (backends matched by client port) plus its
    writer/checkpointer processes. Counted from when each process is first seen."""

    def __init__(self, nodes: list[ServerProcess], pg_port: int, bus_port: int) -> None:
        self.nodes = nodes
        self.ports = (pg_port, bus_port)
        self._cpu: dict[int, tuple[float, float]] = {}  # pid -> (first seen, last seen)

    def _client_ports(self) -> set[str]:
        ports: set[str] = set()
        for node in self.nodes:
            with contextlib.suppress(psutil.Error):
                for c in node.ps.net_connections(kind="tcp"):
                    if c.raddr and c.raddr.port == self.ports[0]:
                        ports.add(str(c.laddr.port))
        return ports

    def _processes(self) -> Iterator[psutil.Process]:
        ours = self._client_ports()
        for proc in psutil.process_iter(["name", "cmdline"]):
            name, cmd = proc.info["name"] or "", " ".join(proc.info["cmdline"] or ())
            if name.startswith("nats-server"):
                yield proc
            elif name == "postgres" and cmd.startswith("postgres:"):
                port = PG_BACKEND_PORT.search(cmd)
                if port is None or port.group(1) in ours:  # auxiliary process, or ours
                    yield proc

    def cpu_seconds(self) -> float:
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                now = t.user + t.system
                first = self._cpu.get(proc.pid, (now, now))[0]
                self._cpu[proc.pid] = (first, now)
        return sum(last - first for first, last in self._cpu.values())


class Cluster:
    """N evcsms nodes (or N bare servers) measured as one server by the phases."""

    def __init__(self, nodes: list[ServerProcess], infra: Infra | None) -> None:
        self.nodes = nodes
        self.infra = infra

    @property
    def url(self) -> list[str]:
        return [node.url for node in self.nodes]

    def rss(self) -> int:
        return sum(node.rss() for node in self.nodes if node.proc.poll() is None)

    def node_cpu_seconds(self) -> float:
        return sum(node.cpu_seconds() for node in self.nodes)

    def cpu_seconds(self) -> float:
        return self.node_cpu_seconds() + (self.infra.cpu_seconds() if self.infra else 0.0)


def evcsms_spec(args: argparse.Namespace, schema: str) -> ServerSpec:
    def argv(port: int) -> list[str]:
        serve = ["serve", "--host", LOOPBACK, "--port", str(port), "--role", "all"]
        return [sys.executable, "-m", "evcsms", *serve, "--log-level", "warning"]

    return ServerSpec(
        "evcsms",
        "evcsms",
        argv,
        env={
            "EVCSMS_ADMIN_TOKEN": ADMIN_TOKEN,
            "EVCSMS_DATABASE_URL": args.database_url,
            "EVCSMS_DATABASE_SCHEMA": schema,
            "EVCSMS_BUS_URL": args.bus_url,
            "EVCSMS_UNKNOWN_STATIONS": "accept",
        },
        health_path="/api/v1/health",
    )


@contextlib.asynccontextmanager
async def cluster_running(
    spec: ServerSpec, count: int, workdir: Path, args: argparse.Namespace
) -> AsyncIterator[Cluster]:
    """Start ``count`` servers of ``spec`` at once; stop them all afterwards."""
    nodes: list[ServerProcess] = []
    try:
        nodes.extend(ServerProcess(spec, workdir) for _ in range(count))
        results = await asyncio.gather(*(n.wait_ready() for n in nodes), return_exceptions=True)
        for node, result in zip(nodes, results, strict=True):
            if isinstance(result, BaseException):
                raise ServerUnavailable(f"{spec.name} did not start: {result}\n{node.tail()}")
        infra = None
        if spec.name == "evcsms":
            pg, bus = urlsplit(args.database_url).port or 5432, urlsplit(args.bus_url).port or 4222
            infra = Infra(nodes, pg, bus)
        yield Cluster(nodes, infra)
    finally:
        for node in nodes:
            node.stop()


async def register_tokens(node: ServerProcess, count: int, mix_token: Callable[[int], str]) -> None:
    """The mix stations' id tokens, Accepted, through the REST API (unknown ones are refused)."""
    gate = asyncio.Semaphore(TOKEN_CONCURRENCY)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    base = f"http://{LOOPBACK}:{node.port}/api/v1/id-tokens"
    async with httpx.AsyncClient(headers=headers, timeout=30.0) as client:

        async def one(i: int) -> None:
            async with gate:
                r = await client.post(base, json={"token": mix_token(i), "status": "Accepted"})
                if r.status_code not in (201, 409):
                    raise RuntimeError(f"token {mix_token(i)}: HTTP {r.status_code} {r.text}")

        await asyncio.gather(*(one(i) for i in range(count)))


# --------------------------------------------------------------------------- phases


def shape_for(load: Any, args: argparse.Namespace, paced: bool) -> Any:
    return load.MixShape(speedup=args.mix_speedup if paced else 0.0)


async def measured_mix(
    load: Any, cluster: Cluster, args: argparse.Namespace, *, paced: bool, prefix: str
) -> dict[str, Any]:
    duration = args.mix_duration if paced else args.duration
    with Sampler(cluster) as sampler, infra_meter(cluster) as infra:
        report = await asyncio.wait_for(
            load.station_mix(
                cluster.url, args.stations, args.ocpp, duration,
                shape=shape_for(load, args, paced), password=args.password,
                id_prefix=prefix, warmup=args.warmup,
            ),
            phase_budget(args.stations, args.warmup + duration),
        )
    return {
        **latency_figures(report),
        **sampler.figures(),
        **infra(),
        "offered_per_s": round(report.sent / report.seconds, 1) if report.seconds else None,
        "lost": report.lost,
        "actions": {
            name: {
                "answered": len(lat),
                "p50_ms": _round(load.percentile(lat, 50)),
                "p99_ms": _round(load.percentile(lat, 99)),
            }
            for name, lat in sorted(report.action_latencies_ms.items())
        },
    }


@contextlib.contextmanager
def infra_meter(cluster: Cluster) -> Iterator[Callable[[], dict[str, float | None]]]:
    """Mean cores of the nodes alone and of PostgreSQL + NATS over the phase."""
    start = (time.monotonic(), cluster.node_cpu_seconds(), cluster.infra and cluster.infra.cpu_seconds())
    figures: dict[str, float | None] = {}
    yield lambda: figures
    wall = max(time.monotonic() - start[0], 1e-6)
    figures["nodes_cpu"] = _round((cluster.node_cpu_seconds() - start[1]) / wall)
    if cluster.infra is not None and start[2] is not None:
        figures["infra_cpu"] = _round((cluster.infra.cpu_seconds() - start[2]) / wall)


async def flood(load: Any, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    with infra_meter(cluster) as infra:
        figures = await flood_phase(load, cluster, args)
    return {**figures, **infra()}


async def mixmax(load: Any, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    return await measured_mix(load, cluster, args, paced=False, prefix=f"MX{len(cluster.nodes)}N")


async def mix(load: Any, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    return await measured_mix(load, cluster, args, paced=True, prefix=f"MP{len(cluster.nodes)}N")


async def idle(load: Any, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    return await idle_phase(load, cluster.nodes[0], args)


async def recovery(load: Any, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """Kill the last node mid-run; time its stations' way back onto the survivors."""
    started = asyncio.Event()
    backoff = load.Backoff()
    shape = shape_for(load, args, paced=True)
    run = asyncio.create_task(
        load.station_mix(
            cluster.url, args.recovery_stations, args.ocpp, args.recovery_duration,
            shape=shape, backoff=backoff, password=args.password, resume="boot",
            id_prefix=f"RC{len(cluster.nodes)}N", warmup=0.0, started=started,
        )
    )
    try:
        async with asyncio.timeout(phase_budget(args.recovery_stations, 0)):
            await started.wait()
        await asyncio.sleep(args.kill_after)
        victim = cluster.nodes[-1]
        killed_at = perf_counter()
        os.killpg(victim.proc.pid, signal.SIGKILL)
        report = await asyncio.wait_for(
            run, phase_budget(args.recovery_stations, args.recovery_duration)
        )
    finally:
        run.cancel()
    on_victim = report.stations_by_url.get(victim.url, 0)
    pct = load.percentile
    back = sorted(r.back_at - killed_at for r in report.reconnects if r.back_at is not None)
    from_drop = sorted(r.back_at - r.dropped_at for r in report.reconnects if r.back_at is not None)
    seen = sorted(r.dropped_at - killed_at for r in report.reconnects)
    stations_back = len({r.station for r in report.reconnects if r.back_at is not None})
    return {
        "nodes": len(cluster.nodes),
        "stations": report.stations_connected,
        "on_killed_node": on_victim,
        "dropped": len({r.station for r in report.reconnects}),
        "back": stations_back,
        "all_back": stations_back >= on_victim and on_victim > 0,
        "p50_s": _round(pct(back, 50)) if back else None,
        "p99_s": _round(pct(back, 99)) if back else None,
        "max_s": _round(back[-1] if back else None),
        "from_drop_p50_s": _round(pct(from_drop, 50)) if from_drop else None,
        "detected_max_s": _round(seen[-1] if seen else None),
        "attempts_max": max((r.attempts for r in report.reconnects), default=0),
        "lost_calls": report.lost,
        "errors": report.errors,
        "mix_p99_ms": _round(report.percentile(99)),
        "seconds_left_after_kill": round(args.recovery_duration - args.kill_after, 1),
        "backoff": backoff.describe(),
        "resume": "BootNotification",
    }


PhaseFn = Callable[[Any, Cluster, argparse.Namespace], Awaitable[dict[str, Any]]]
PHASE_FNS: dict[str, PhaseFn] = {
    "flood": flood, "mixmax": mixmax, "mix": mix, "idle": idle, "recovery": recovery,
}


def recovery_summary(fig: dict[str, Any]) -> str:
    return (
        f"  killed 1 of {fig['nodes']} nodes holding {fig['on_killed_node']} stations: "
        f"{fig['back']} back on survivors, p50/p99/max {fig['p50_s']}/{fig['p99_s']}/"
        f"{fig['max_s']} s after the kill (up to {fig['attempts_max']} attempts), "
        f"{fig['lost_calls']} CALLs lost, mix p99 {fig['mix_p99_ms']} ms"
    )


async def run_phase(
    load: Any, cluster: Cluster, phase: str, args: argparse.Namespace, tokens: int
) -> dict[str, Any]:
    """One phase on a started cluster; first the mix stations' tokens when ``tokens`` > 0."""
    if tokens:
        await register_tokens(cluster.nodes[0], tokens, load.mix_token)
    return await PHASE_FNS[phase](load, cluster, args)


# --------------------------------------------------------------------------- the run


@dataclass
class Plan:
    """Which (server, nodes, phase) runs, in order."""

    steps: list[tuple[str, int, str]]

    @classmethod
    def of(cls, args: argparse.Namespace) -> Plan:
        steps: list[tuple[str, int, str]] = []
        for server in args.only:
            sizes = args.nodes if server == "evcsms" else [1]
            for phase in args.phases:
                if phase == "idle":
                    if args.idle_stations:
                        steps.append((server, 1, phase))
                elif phase == "recovery":
                    steps.append((server, args.recovery_nodes, phase))
                else:
                    steps.extend((server, n, phase) for n in sizes)
        return cls(steps)


async def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load = import_load_module()
    results: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        specs = {"bare": server_specs(None, workdir)["bare"]}
        if "evcsms" in args.only:
            schema = await stack.enter_async_context(fresh_schema(args.database_url))
            specs["evcsms"] = evcsms_spec(args, schema)
            results["schema"] = schema
        tokens_ready = False
        for server, count, phase in Plan.of(args).steps:
            key = f"{server}-{count}"
            entry = results.setdefault(key, {"server": server, "nodes": count})
            console.rule(f"{server} x {count}: {phase}")
            if phase in CPU_BOUND_PHASES:
                entry.setdefault("other_cpu_before", {})[phase] = await wait_until_quiet(
                    args.wait_quiet
                )
            try:
                async with cluster_running(specs[server], count, workdir, args) as cluster:
                    tokens = 0
                    if server == "evcsms" and not tokens_ready and phase not in ("flood", "idle"):
                        tokens = max(args.stations, args.recovery_stations)
                    work = run_phase(load, cluster, phase, args, tokens)
                    entry[phase] = await guarded_phase(key, phase, work)
                    tokens_ready = tokens_ready or (tokens > 0 and "error" not in entry[phase])
            except ServerUnavailable as exc:
                console.print(f"[bold yellow]{key} {phase} skipped:[/] {escape(str(exc))}")
                entry[phase] = {"error": str(exc).splitlines()[0]}
            fig = entry[phase]
            if "error" in fig:
                continue
            console.print(recovery_summary(fig) if phase == "recovery" else summary_line(
                "idle" if phase == "idle" else "flood", fig))
            if "actions" in fig:
                console.print("  by action (answered, p50/p99 ms): " + ", ".join(
                    f"{name} {a['answered']} {a['p50_ms']}/{a['p99_ms']}"
                    for name, a in fig["actions"].items()))
    return results


# --------------------------------------------------------------------------- report


def _fig(results: dict[str, Any], key: str, phase: str, name: str) -> float | None:
    value = results.get(key, {}).get(phase, {}).get(name)
    return None if value is None or isinstance(value, (str, dict)) else float(value)


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def throughput_table(results: dict[str, Any], args: argparse.Namespace) -> Table:
    table = Table(title=f"OCPP {args.ocpp}, {args.stations} stations spread over the nodes; "
                        f"ratios to bare (1 process)")
    for col in ("server", "flood msgs/s", "x bare", "x 1 node", "flood p99 ms", "mixmax msgs/s",
                "x bare", "= real stations", "mix msgs/s (offered)", "mix p50/p99 ms", "x bare p99", "errors",
                "flood CPU nodes/pg+nats/cli/other"):
        table.add_column(col, justify="left" if col == "server" else "right", overflow="fold")
    bare = "bare-1"
    one = "evcsms-1"
    for key, entry in results.items():
        if not isinstance(entry, dict) or "server" not in entry:
            continue
        if not any(p in entry for p in ("flood", "mixmax", "mix")):
            continue
        label = f"{entry['server']} x {entry['nodes']}" if entry["server"] == "evcsms" else "bare"
        busy = any(
            (entry.get(p, {}).get("other_cpu") or 0.0) > BUSY_MACHINE_CORES
            for p in ("flood", "mixmax", "mix")
        )
        flood_rate = _fig(results, key, "flood", "msgs_per_s")
        mm_rate = _fig(results, key, "mixmax", "msgs_per_s")
        p99 = _fig(results, key, "mix", "p99_ms")
        errors = sum(
            int(_fig(results, key, p, "errors") or 0) for p in ("flood", "mixmax", "mix")
        )
        cpu = "/".join(
            _fmt(_fig(results, key, "flood", k), ".2f")
            for k in ("nodes_cpu", "infra_cpu", "client_cpu", "other_cpu")
        )
        table.add_row(
            label + (" [red]*busy" if busy else ""),
            _fmt(flood_rate),
            _x(_ratio(flood_rate, _fig(results, bare, "flood", "msgs_per_s"))),
            _x(_ratio(flood_rate, _fig(results, one, "flood", "msgs_per_s")))
            if entry["server"] == "evcsms" else "",
            _fmt(_fig(results, key, "flood", "p99_ms"), ",.0f"),
            _fmt(mm_rate),
            _x(_ratio(mm_rate, _fig(results, bare, "mixmax", "msgs_per_s"))),
            _fmt(real_stations(results, key, args)),
            f"{_fmt(_fig(results, key, 'mix', 'msgs_per_s'))} "
            f"({_fmt(_fig(results, key, 'mix', 'offered_per_s'))})",
            "/".join(_fmt(_fig(results, key, "mix", k), ".1f") for k in ("p50_ms", "p99_ms")),
            _x(_ratio(p99, _fig(results, bare, "mix", "p99_ms"))),
            str(errors),
            cpu,
        )
    return table


def real_stations(results: dict[str, Any], key: str, args: argparse.Namespace) -> float | None:
    """How many stations at real pace the mixmax rate serves: mixmax msgs/s over what one
    station offered in the paced mix, brought back to 1x."""
    offered = _fig(results, key, "mix", "offered_per_s")
    per_station = None if offered is None else offered / args.stations / args.mix_speedup
    return _ratio(_fig(results, key, "mixmax", "msgs_per_s"), per_station)


def idle_table(results: dict[str, Any]) -> Table:
    table = Table(title="Idle stations held by one node")
    for col in ("server", "requested", "held (server side)", "connected in s", "KB/conn", "x bare"):
        table.add_column(col, justify="left" if col == "server" else "right", overflow="fold")
    bare_kb = _fig(results, "bare-1", "idle", "kb_per_conn")
    for key in ("bare-1", "evcsms-1"):
        fig = results.get(key, {}).get("idle")
        if not fig or "error" in fig:
            continue
        kb = _fig(results, key, "idle", "kb_per_conn")
        table.add_row(
            key.split("-")[0],
            _fmt(fig["requested"]),
            f"{_fmt(fig['connected'])} ({_fmt(fig['held_server_side'])})",
            _fmt(fig["connect_seconds"], ".1f"),
            _fmt(kb, ".1f"),
            _x(_ratio(kb, bare_kb)),
        )
    return table


def recovery_table(results: dict[str, Any]) -> Table | None:
    rows = [
        (entry["server"], entry["recovery"])
        for entry in results.values()
        if isinstance(entry, dict) and "error" not in entry.get("recovery", {"error": 1})
    ]
    if not rows:
        return None
    fig0 = rows[0][1]
    table = Table(
        title=f"Recovery: SIGKILL 1 of {fig0['nodes']} nodes {fig0['seconds_left_after_kill']} s "
        f"before the end; stations reconnect to a survivor after {fig0['backoff']}, resume "
        f"with a {fig0['resume']}; times from the kill"
    )
    for col in ("server", "stations", "on killed node", "back", "p50 s", "p99 s",
                "max s (= all back)", "x bare max", "attempts max", "CALLs lost", "mix p99 ms"):
        table.add_column(col, justify="left" if col == "server" else "right", overflow="fold")
    bare_max = next((f["max_s"] for s, f in rows if s == "bare"), None)
    for server, fig in rows:
        table.add_row(
            server, _fmt(fig["stations"]), _fmt(fig["on_killed_node"]),
            f"{fig['back']}" + ("" if fig["all_back"] else " [red](not all)"),
            _fmt(fig["p50_s"], ".2f"), _fmt(fig["p99_s"], ".2f"), _fmt(fig["max_s"], ".2f"),
            _x(_ratio(fig["max_s"], bare_max)) if server != "bare" else "",
            _fmt(fig["attempts_max"]), _fmt(fig["lost_calls"]), _fmt(fig["mix_p99_ms"], ".1f"),
        )
    return table


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile_limit()
    if "idle" in args.phases:
        args.idle_stations = feasible_idle_stations(args.idle_stations, nofile[0])
    meta = {
        **environment(args, nofile),
        "nodes": args.nodes,
        "mix_speedup": args.mix_speedup,
        "recovery": {
            "stations": args.recovery_stations, "nodes": args.recovery_nodes,
            "duration_s": args.recovery_duration, "kill_after_s": args.kill_after,
        },
        "database": urlsplit(args.database_url)._replace(netloc="…").geturl(),
        "bus": args.bus_url,
    }
    load = import_load_module()
    console.print(
        f"client: python {meta['python']}, loop {meta['client_loop']}, {meta['cpus']} CPUs, "
        f"RLIMIT_NOFILE {nofile[0]}/{nofile[1]}; station timeline: "
        f"{load.MixShape(speedup=args.mix_speedup).describe()}"
    )
    factory, _ = client_loop()
    with work_directory() as workdir, asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(run_all(args, workdir))
    console.print(throughput_table(results, args))
    if "idle" in args.phases:
        console.print(idle_table(results))
    table = recovery_table(results)
    if table is not None:
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"environment": meta, "results": results}, indent=2,
                                        default=str))
        console.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Gateway benchmark: evcsms beside two reference servers, measured in the same run.

    .venv/bin/python benchmarks/gateway_throughput.py                  # make bench
    .venv/bin/python benchmarks/gateway_throughput.py --only bare,ocpp --json out.json
    .venv/bin/python benchmarks/gateway_throughput.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

This process is the load client (``evcsms.simulator.load``); every server runs as its own
subprocess on a free loopback port and is restarted for each phase, so one phase's backlog
or heap growth never leaks into the next:

* flood -- N stations send MeterValues back-to-back for D seconds: msgs/s and latency.
* mix   -- N stations each send about one message a second (mostly MeterValues, some
           Heartbeat/StatusNotification): latency at a realistic load.
* idle  -- M stations connect and stay silent: server RSS growth per connection.

Servers: ``bare`` (benchmarks/ref_bare_server.py, the ceiling of a Python node), ``ocpp``
(benchmarks/ref_ocpp_server.py, the ``ocpp`` library alone, default validation) and
``evcsms`` (``python -m evcsms serve``, validation and persistence included).
It prints figures and PASS/MISS against the targets; it never fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
ALL_SERVERS = ("bare", "ocpp", "evcsms")
IDLE_SERVERS = ("bare", "evcsms")  # the idle-memory target compares these two
ADMIN_TOKEN = "bench-token-not-secret"  # evcsms requires at least 16 characters
FD_HEADROOM = 256  # descriptors kept free for the interpreter, logs, the listener...
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
SAMPLE_EVERY = 0.5
IDLE_SETTLE = 3.0
BUSY_MACHINE_CORES = 0.25  # other processes' CPU above which a phase is flagged

PERCENTILE_KEYS = ("p50_ms", "p95_ms", "p99_ms")

TARGET_VS_BARE = 0.5
TARGET_VS_OCPP = 3.0
TARGET_MIX_P99_MS = 100.0
TARGET_IDLE_VS_BARE = 2.0

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


# --------------------------------------------------------------------------- load client API


class Report(Protocol):
    stations_connected: int
    messages: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def rate(self) -> float: ...

    def percentile(self, p: float) -> float: ...


def import_load_module() -> Any:
    try:
        from evcsms.simulator import load
    except ImportError as exc:
        console.print(f"[red]cannot import evcsms.simulator.load ({exc}); is evcsms installed?")
        sys.exit(2)
    return load


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stations", type=int, default=1000, help="stations for flood and mix")
    p.add_argument("--duration", type=float, default=10.0, help="flood seconds measured")
    p.add_argument("--mix-duration", type=float, default=20.0, help="mix seconds measured")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    p.add_argument("--idle-stations", type=int, default=10_000, help="idle connections held")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6", help="OCPP version")
    p.add_argument("--only", default=",".join(ALL_SERVERS), help="servers, comma separated")
    p.add_argument("--phases", default="flood,mix,idle", help="phases, comma separated")
    p.add_argument("--database-url", default=None, help="evcsms database (default: temp SQLite)")
    p.add_argument("--password", default=None, help="station password, if evcsms needs one")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each phase wait up to this many seconds for other processes to go idle",
    )
    p.add_argument("--json", type=Path, default=None, help="also write all figures here")
    args = p.parse_args(argv)
    args.only = _csv_choice(p, args.only, ALL_SERVERS, "--only")
    args.phases = _csv_choice(p, args.phases, ("flood", "mix", "idle"), "--phases")
    if args.stations < 1 or args.duration <= 0 or args.idle_stations < 0:
        p.error("--stations >= 1, --duration > 0, --idle-stations >= 0")
    return args


def _csv_choice(
    p: argparse.ArgumentParser, raw: str, allowed: tuple[str, ...], flag: str
) -> list[str]:
    picked = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = sorted(set(picked) - set(allowed))
    if unknown or not picked:
        p.error(f"{flag}: choose from {', '.join(allowed)}")
    return [x for x in allowed if x in picked]


# --------------------------------------------------------------------------- limits


def raise_nofile_limit() -> tuple[int, int]:
    """Raise our soft RLIMIT_NOFILE to the hard limit; servers inherit it. Returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def ephemeral_ports() -> int:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return 28_000
    return int(high) - int(low) + 1


def feasible_idle_stations(wanted: int, nofile: int) -> int:
    """Cap M by the descriptor limit (client and server each need M) and the port range."""
    cap = min(nofile - FD_HEADROOM, ephemeral_ports() - FD_HEADROOM)
    if wanted <= cap:
        return wanted
    console.print(
        f"[bold red]!! --idle-stations {wanted} does not fit: RLIMIT_NOFILE hard limit is "
        f"{nofile} and the ephemeral port range holds {ephemeral_ports()}. Reducing to {cap}. "
        f"Raise the limit (ulimit -Hn / LimitNOFILE / docker --ulimit nofile) for the full run."
    )
    return max(cap, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class ServerSpec:
    name: str
    label: str
    argv: Callable[[int], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    health_path: str | None = None


def evcsms_argv(port: int, db_url: str) -> list[str]:
    serve = ["serve", "--host", LOOPBACK, "--port", str(port), "--database-url", db_url]
    return [sys.executable, "-m", "evcsms", *serve, "--unknown-stations", "accept"]


def server_specs(database_url: str | None, workdir: Path) -> dict[str, ServerSpec]:
    """The three servers. Without --database-url every evcsms start gets a fresh SQLite file."""
    py = sys.executable

    def db_url(port: int) -> str:
        return database_url or f"sqlite+aiosqlite:///{workdir}/evcsms-{port}.db"

    return {
        "bare": ServerSpec(
            "bare",
            "bare",
            lambda port: [py, str(HERE / "ref_bare_server.py"), "--port", str(port)],
        ),
        "ocpp": ServerSpec(
            "ocpp",
            "plain ocpp",
            lambda port: [py, str(HERE / "ref_ocpp_server.py"), "--port", str(port)],
        ),
        "evcsms": ServerSpec(
            "evcsms",
            "evcsms",
            lambda port: evcsms_argv(port, db_url(port)),
            env={"EVCSMS_ADMIN_TOKEN": ADMIN_TOKEN},
            health_path="/api/v1/health",
        ),
    }


class ServerUnavailable(RuntimeError):
    pass


class Measured(Protocol):
    """What the phases and the sampler need of a server: one process or a group of them
    (benchmarks/cluster.py passes several nodes; ``url`` may then be a list)."""

    @property
    def url(self) -> Any: ...

    def rss(self) -> int: ...

    def cpu_seconds(self) -> float: ...


class ServerProcess:
    """One server subprocess: started in its own session, sampled with psutil, then stopped."""

    def __init__(self, spec: ServerSpec, workdir: Path) -> None:
        self.spec = spec
        self.port = free_port()
        self.log_path = workdir / f"{spec.name}-{self.port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            spec.argv(self.port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **spec.env},
            start_new_session=True,  # its own process group: we stop exactly what we started
        )
        self.ps = psutil.Process(self.proc.pid)

    @property
    def url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/ocpp"

    def tail(self, lines: int = 25) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    async def wait_ready(self) -> None:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not (await self._accepts() and await self._healthy()):
                    if self.proc.poll() is not None:
                        raise ServerUnavailable(f"exited with code {self.proc.returncode}")
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise ServerUnavailable(f"not ready within {START_TIMEOUT:.0f}s") from None

    async def _accepts(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, self.port), 2)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _healthy(self) -> bool:
        if self.spec.health_path is None:
            return True
        url = f"http://{LOOPBACK}:{self.port}{self.spec.health_path}"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            return []

    def rss(self) -> int:
        """Resident memory of the server and any children it spawned, in bytes."""
        total = 0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def nofile_limit(self) -> int | None:
        try:
            return int(self.ps.rlimit(psutil.RLIMIT_NOFILE)[0])
        except (psutil.Error, AttributeError):
            return None

    def established(self) -> int:
        """TCP connections the server side holds open on its port (independent of the client)."""
        count = 0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                count += sum(
                    1
                    for c in p.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == self.port
                )
        return count

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self._log.close()


@contextlib.asynccontextmanager
async def running(spec: ServerSpec, workdir: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(spec, workdir)
    try:
        try:
            await server.wait_ready()
        except ServerUnavailable as exc:
            raise ServerUnavailable(f"{spec.name} did not start: {exc}\n{server.tail()}") from exc
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- sampling


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent not idle (all processes, all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0))


def own_cpu_seconds() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


@dataclass
class CpuSample:
    at: float
    server: float
    client: float
    machine: float

    @classmethod
    def take(cls, server: Measured | None) -> CpuSample:
        srv = server.cpu_seconds() if server else 0.0
        return cls(time.monotonic(), srv, own_cpu_seconds(), busy_cpu_seconds())

    def cores_since(self, prev: CpuSample) -> tuple[float, float, float]:
        """(server, client, everything else) in cores over the interval since ``prev``."""
        wall = max(self.at - prev.at, 1e-6)
        srv = (self.server - prev.server) / wall
        cli = (self.client - prev.client) / wall
        rest = (self.machine - prev.machine) / wall - srv - cli
        return srv, cli, max(rest, 0.0)


class Sampler:
    """Samples server RSS and CPU (server, client, other processes) while a phase runs.

    CPU is the median over sampling intervals in cores (1.0 = one core busy): the steady
    state of the phase rather than the connection storm at its start. "other" is whatever
    else ran on the machine meanwhile; when it is high the figures are not trustworthy.
    """

    def __init__(self, server: Measured) -> None:
        self.server = server
        self.peak_rss = 0
        self.cores: list[tuple[float, float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        prev = CpuSample.take(self.server)
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            now = CpuSample.take(self.server)
            self.cores.append(now.cores_since(prev))
            self.peak_rss = max(self.peak_rss, self.server.rss())
            prev = now

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    def figures(self) -> dict[str, float | None]:
        def median(i: int) -> float | None:
            return _round(statistics.median(c[i] for c in self.cores)) if self.cores else None

        return {
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "server_cpu": median(0),
            "client_cpu": median(1),
            "other_cpu": median(2),
        }


async def other_cores(seconds: float = 2.0) -> float:
    """Cores used by processes other than ours over the next ``seconds``."""
    before = CpuSample.take(None)
    await asyncio.sleep(seconds)
    return CpuSample.take(None).cores_since(before)[2]


async def wait_until_quiet(max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) for other processes to leave the CPU; warn if they don't."""
    started = time.monotonic()
    other = await other_cores()
    if other > BUSY_MACHINE_CORES and max_wait > 0:
        console.print(f"  waiting up to {max_wait:.0f} s: other processes use {other:.2f} cores")
    while other > BUSY_MACHINE_CORES and time.monotonic() - started < max_wait:
        other = await other_cores(5.0)
    if max_wait > 0 and time.monotonic() - started > 10:
        console.print(f"  waited {time.monotonic() - started:.0f} s for a quiet machine")
    if other > BUSY_MACHINE_CORES:
        console.print(
            f"[bold red]!! other processes are using {other:.2f} cores; the figures of this "
            f"phase will be lower than this machine can do (see --wait-quiet)."
        )
    return round(other, 2)


# --------------------------------------------------------------------------- phases


def latency_figures(report: Report) -> dict[str, Any]:
    if not report.latencies_ms:
        pct: dict[str, float | None] = dict.fromkeys(PERCENTILE_KEYS)
    else:
        pct = {k: _round(report.percentile(float(k[1:3]))) for k in PERCENTILE_KEYS}
    return {
        "stations": report.stations_connected,
        "messages": report.messages,
        "errors": report.errors,
        "seconds": round(report.seconds, 2),
        "msgs_per_s": round(report.rate(), 1),
        **pct,
        "max_ms": _round(max(report.latencies_ms, default=math.nan)),
    }


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 2)


def phase_budget(stations: int, seconds: float) -> float:
    """Hard wall-clock bound for one phase: connecting, warm-up, measuring, closing."""
    return 60.0 + seconds + stations / 20


async def flood_phase(load: Any, server: Measured, args: argparse.Namespace) -> dict[str, Any]:
    with Sampler(server) as sampler:
        report = await asyncio.wait_for(
            load.meter_flood(
                server.url,
                args.stations,
                args.ocpp,
                args.duration,
                password=args.password,
                warmup=args.warmup,
            ),
            phase_budget(args.stations, args.warmup + args.duration),
        )
    return {**latency_figures(report), **sampler.figures()}


async def mix_phase(load: Any, server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    with Sampler(server) as sampler:
        report = await asyncio.wait_for(
            load.realistic_mix(
                server.url,
                args.stations,
                args.ocpp,
                args.mix_duration,
                password=args.password,
                warmup=args.warmup,
            ),
            phase_budget(args.stations, args.warmup + args.mix_duration),
        )
    return {**latency_figures(report), **sampler.figures()}


async def idle_phase(load: Any, server: ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # let start-up allocations settle before the baseline
    before = server.rss()
    started = time.monotonic()
    async with asyncio.timeout(phase_budget(args.idle_stations, IDLE_SETTLE)):
        hold = load.hold_idle(server.url, args.idle_stations, args.ocpp, password=args.password)
        if inspect.isawaitable(hold) and not hasattr(hold, "__aenter__"):
            hold = await hold  # hold_idle may be a coroutine that returns the open hold
        async with hold:
            connect_s = time.monotonic() - started
            await asyncio.sleep(IDLE_SETTLE)
            after = server.rss()
            held_server_side = server.established()
            connected = int(hold.connected)
    per_conn = (after - before) / connected / 1024 if connected else math.nan
    return {
        "requested": args.idle_stations,
        "connected": connected,
        "held_server_side": held_server_side,
        "connect_seconds": round(connect_s, 1),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "kb_per_conn": _round(per_conn),
    }


PHASES = {"flood": flood_phase, "mix": mix_phase, "idle": idle_phase}
CPU_BOUND_PHASES = ("flood", "mix")  # idle memory does not care about other processes


def phases_for(name: str, args: argparse.Namespace) -> list[str]:
    wanted = list(args.phases)
    if name not in IDLE_SERVERS or args.idle_stations == 0:
        wanted = [p for p in wanted if p != "idle"]
    return wanted


async def guarded_phase(name: str, phase: str, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A phase's figures, or ``{"error": ...}`` (said on the console) when it timed out or
    broke: one broken phase must not lose the other figures. ServerUnavailable passes."""
    try:
        return await work
    except ServerUnavailable:
        raise
    except TimeoutError:
        console.print(f"[bold red]{name} {phase}: phase exceeded its time budget")
        return {"error": "timeout"}
    except Exception as exc:
        console.print(f"[bold red]{name} {phase} failed:[/] {escape(repr(exc))}")
        return {"error": repr(exc)}


async def bench_server(
    load: Any, spec: ServerSpec, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    result: dict[str, Any] = {"label": spec.label}

    async def measure(phase: str) -> dict[str, Any]:
        if phase in CPU_BOUND_PHASES:
            await wait_until_quiet(args.wait_quiet)
        async with running(spec, workdir) as server:
            result.setdefault("nofile", server.nofile_limit())
            return dict(await PHASES[phase](load, server, args))

    for phase in phases_for(spec.name, args):
        console.rule(f"{spec.label}: {phase}")
        try:
            result[phase] = await guarded_phase(spec.name, phase, measure(phase))
        except ServerUnavailable as exc:
            console.print(f"[bold yellow]skipping {spec.name}:[/] {escape(str(exc))}")
            result["error"] = str(exc).splitlines()[0]
            return result
        if "error" not in result[phase]:
            console.print(summary_line(phase, result[phase]))
    return result


def summary_line(phase: str, fig: dict[str, Any]) -> str:
    if phase == "idle":
        return (
            f"  held {fig['connected']}/{fig['requested']} "
            f"(server side {fig['held_server_side']}), RSS {fig['rss_before_mb']} -> "
            f"{fig['rss_after_mb']} MB = {fig['kb_per_conn']} KB/conn "
            f"(connected in {fig['connect_seconds']} s)"
        )
    busy = (fig["other_cpu"] or 0.0) > BUSY_MACHINE_CORES
    return (
        f"  {'[bold red]BUSY MACHINE, not trustworthy:[/] ' if busy else ''}"
        f"{fig['msgs_per_s']:,.0f} msgs/s, p50/p95/p99 {fig['p50_ms']}/{fig['p95_ms']}/"
        f"{fig['p99_ms']} ms, errors {fig['errors']}, stations {fig['stations']}, "
        f"CPU server {fig['server_cpu']} client {fig['client_cpu']} other {fig['other_cpu']}, "
        f"peak RSS {fig['peak_rss_mb']} MB"
    )


# --------------------------------------------------------------------------- report


def _get(results: dict[str, Any], server: str, phase: str, key: str) -> float | None:
    value = results.get(server, {}).get(phase, {}).get(key)
    return None if value is None else float(value)


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "—" if x is None else format(x, spec)


def results_table(results: dict[str, Any], args: argparse.Namespace) -> Table:
    table = Table(
        title=f"OCPP {args.ocpp}: flood/mix with {args.stations} stations, "
        f"idle with {args.idle_stations}"
    )
    table.add_column("server")
    for col in ("flood msgs/s", "flood p50/p95/p99 ms", "errors", "mix msgs/s", "mix p50/p99 ms"):
        table.add_column(col, justify="right")
    for col in ("idle KB/conn", "conns held", "flood CPU srv/cli/other"):
        table.add_column(col, justify="right")
    for name, res in results.items():
        lat = "/".join(_fmt(_get(results, name, "flood", k), ".1f") for k in PERCENTILE_KEYS)
        held = res.get("idle", {}).get("connected") or _get(results, name, "flood", "stations")
        table.add_row(
            res["label"] + (" [red](failed)" if "error" in res else "") + busy_mark(res),
            _fmt(_get(results, name, "flood", "msgs_per_s")),
            lat,
            _fmt(_get(results, name, "flood", "errors")),
            _fmt(_get(results, name, "mix", "msgs_per_s")),
            "/".join(_fmt(_get(results, name, "mix", k), ".1f") for k in ("p50_ms", "p99_ms")),
            _fmt(_get(results, name, "idle", "kb_per_conn"), ".1f"),
            _fmt(None if held is None else float(held)),
            "/".join(
                _fmt(_get(results, name, "flood", k), ".2f")
                for k in ("server_cpu", "client_cpu", "other_cpu")
            ),
        )
    return table


def busy_mark(res: dict[str, Any]) -> str:
    """A red star when another process used the CPU during one of the server's phases."""
    others = [ph.get("other_cpu") or 0.0 for ph in res.values() if isinstance(ph, dict)]
    return " [red]*busy" if any(o > BUSY_MACHINE_CORES for o in others) else ""


@dataclass
class Target:
    name: str
    goal: str
    value: float | None
    passed: bool | None
    fmt: str = ".2f"

    def verdict(self) -> str:
        return {True: "[green]PASS", False: "[red]MISS", None: "[dim]n/a"}[self.passed]


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def evaluate_targets(results: dict[str, Any], args: argparse.Namespace) -> list[Target]:
    ev_rate = _get(results, "evcsms", "flood", "msgs_per_s")
    vs_bare = _ratio(ev_rate, _get(results, "bare", "flood", "msgs_per_s"))
    vs_ocpp = _ratio(ev_rate, _get(results, "ocpp", "flood", "msgs_per_s"))
    mix_p99 = _get(results, "evcsms", "mix", "p99_ms")
    kb_ratio = _ratio(
        _get(results, "evcsms", "idle", "kb_per_conn"), _get(results, "bare", "idle", "kb_per_conn")
    )
    held = _get(results, "evcsms", "idle", "connected")

    def check(value: float | None, ok: Callable[[float], bool]) -> bool | None:
        return None if value is None else ok(value)

    return [
        Target("evcsms / bare flood throughput", f">= {TARGET_VS_BARE}", vs_bare,
               check(vs_bare, lambda v: v >= TARGET_VS_BARE)),
        Target("evcsms / plain ocpp flood throughput", f">= {TARGET_VS_OCPP}", vs_ocpp,
               check(vs_ocpp, lambda v: v >= TARGET_VS_OCPP)),
        Target(f"evcsms mix p99 ms ({args.stations} stations)", f"< {TARGET_MIX_P99_MS:.0f}",
               mix_p99, check(mix_p99, lambda v: v < TARGET_MIX_P99_MS)),
        Target("evcsms / bare KB per idle connection", f"<= {TARGET_IDLE_VS_BARE}", kb_ratio,
               check(kb_ratio, lambda v: v <= TARGET_IDLE_VS_BARE)),
        Target("evcsms idle connections held", f"= {args.idle_stations:,}", held,
               check(held, lambda v: v >= args.idle_stations), ",.0f"),
    ]  # fmt: skip


def targets_table(targets: list[Target]) -> Table:
    table = Table(title="Targets for evcsms")
    table.add_column("target")
    table.add_column("goal", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("", justify="center")
    for t in targets:
        table.add_row(t.name, t.goal, _fmt(t.value, t.fmt), t.verdict())
    return table


def environment(args: argparse.Namespace, nofile: tuple[int, int]) -> dict[str, Any]:
    return {
        "argv": sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_affinity": len(psutil.Process().cpu_affinity() or []),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "nofile_soft_hard": list(nofile),
        "ocpp": args.ocpp,
        "stations": args.stations,
        "duration_s": args.duration,
        "mix_duration_s": args.mix_duration,
        "warmup_s": args.warmup,
        "idle_stations": args.idle_stations,
        "client_loop": client_loop()[1],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def client_loop() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop
    except ImportError:
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


# --------------------------------------------------------------------------- main


async def run_all(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load = import_load_module()
    specs = server_specs(args.database_url, workdir)
    results: dict[str, Any] = {}
    for name in args.only:
        results[name] = await bench_server(load, specs[name], args, workdir)
    return results


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="evcsms-bench-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile_limit()
    if "idle" in args.phases:
        args.idle_stations = feasible_idle_stations(args.idle_stations, nofile[0])
    meta = environment(args, nofile)
    console.print(
        f"client: python {meta['python']}, loop {meta['client_loop']}, {meta['cpus']} CPUs, "
        f"RLIMIT_NOFILE {nofile[0]}/{nofile[1]} (servers inherit it)"
    )
    factory, _ = client_loop()
    with work_directory() as workdir, asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(run_all(args, workdir))
    targets = evaluate_targets(results, args)
    console.print(results_table(results, args))
    console.print(targets_table(targets))
    if args.json:
        payload = {
            "environment": meta,
            "results": results,
            "targets": [t.__dict__ for t in targets],
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
        console.print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

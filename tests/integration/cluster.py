"""Real `python -m evcsms serve` node processes sharing the machine's PostgreSQL and NATS.

`node_cluster(url, schema, workdir, nodes=3)` migrates the schema, starts the nodes (each on a
free loopback port, in its own process group, output to a log file), waits until each
answers `GET /api/v1/health`, and stops them all at the end (SIGTERM, then SIGKILL). A test
kills one with `node.kill()` (SIGKILL: no shutdown at all) or stops it with `node.stop()`
(SIGTERM: a graceful shutdown). If the block fails, the tail of every node's output is
added to the exception as notes, so the test report shows what the nodes said.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evcsms.bootstrap import build_services, close_services
from evcsms.settings import Settings

NATS_URL = "nats://127.0.0.1:4222"
LOOPBACK = "127.0.0.1"
ADMIN_TOKEN = "cluster-test-admin-token"
START_TIMEOUT = 60.0  # s: a node process until it answers its health probe (2 busy cores)
STOP_TIMEOUT = 15.0  # s: a SIGTERM until the process is gone (then SIGKILL)


class NodeError(RuntimeError):
    """A node did not start, or exited when it should not have."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """One `evcsms serve` process."""

    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @property
    def ws(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/ocpp"

    @property
    def http(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no output file)"
        return "\n".join(text[-lines:]) or "(no output)"

    async def healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(f"{self.http}/api/v1/health")).status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_ready(self, within: float = START_TIMEOUT) -> None:
        try:
            async with asyncio.timeout(within):
                while not await self.healthy():
                    if not self.alive:
                        raise NodeError(f"node {self.name} exited with code {self.returncode}:\n"
                                        f"{self.tail()}")
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise NodeError(f"node {self.name} not ready within {within:.0f}s:\n"
                            f"{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL the node (and anything it spawned): it gets no chance to shut down."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (a graceful shutdown); SIGKILL if it is not gone within ``timeout``."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.wait(STOP_TIMEOUT))


@dataclass
class Cluster:
    """Node processes on one database schema and one NATS server."""

    database_url: str
    schema: str
    workdir: Path
    bus_url: str = NATS_URL
    unknown_stations: str = "accept"
    heartbeat_interval: int = 60
    env: Mapping[str, str] = field(default_factory=dict)
    nodes: list[NodeProcess] = field(default_factory=list)

    def environment(self, port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "EVCSMS_HOST": LOOPBACK,
            "EVCSMS_PORT": str(port),
            "EVCSMS_DATABASE_URL": self.database_url,
            "EVCSMS_DATABASE_SCHEMA": self.schema,
            "EVCSMS_BUS_URL": self.bus_url,
            "EVCSMS_UNKNOWN_STATIONS": self.unknown_stations,
            "EVCSMS_ADMIN_TOKEN": ADMIN_TOKEN,
            "EVCSMS_HEARTBEAT_INTERVAL": str(self.heartbeat_interval),
            "EVCSMS_LOG_LEVEL": "warning",
            **self.env,
            **(extra or {}),
        }

    def spawn(self, name: str | None = None, env: Mapping[str, str] | None = None) -> NodeProcess:
        """Start one node process (not yet ready: `wait_ready`); ``env``: its own settings."""
        if name is None:
            k = len(self.nodes)
            name = "ABCDEFGH"[k] if k < 8 else f"N{k}"
        port = free_port()
        log_path = self.workdir / f"node-{name}-{port}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "evcsms", "serve", "--role", "all"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.environment(port, env),
                start_new_session=True,  # its own process group: we signal exactly that
            )
        node = NodeProcess(name, port, log_path, proc)
        self.nodes.append(node)
        return node

    async def start(self, count: int = 1, env: Mapping[str, str] | None = None
                    ) -> list[NodeProcess]:
        """Start ``count`` nodes at once and wait until each answers its health probe."""
        started = [self.spawn(env=env) for _ in range(count)]
        await asyncio.gather(*(n.wait_ready() for n in started))
        return started

    def by_name(self, name: str) -> NodeProcess:
        return next(n for n in self.nodes if n.name == name)

    def tails(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- node {n.name} (port {n.port}, "
            f"{'running' if n.alive else f'exit {n.returncode}'}) ---\n{n.tail(lines)}"
            for n in self.nodes
        )

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every node still running; exit codes by node name."""
        return {n.name: n.stop() for n in self.nodes}


async def prepare(database_url: str, schema: str) -> None:
    """Migrate the schema and create the operator of `ADMIN_TOKEN`, once, before any node
    starts (nodes started together on a fresh database each try to create it, and all but
    one then fail to start with "user 'admin' already exists")."""
    settings = Settings(database_url=database_url, database_schema=schema,
                        admin_token=ADMIN_TOKEN)
    services = await build_services(settings, migrate=True, background=False)
    await close_services(services)


@contextlib.asynccontextmanager
async def node_cluster(
    database_url: str, schema: str, workdir: Path, nodes: int = 3, **options: object
) -> AsyncIterator[Cluster]:
    """``nodes`` running node processes on ``schema`` (migrated first); stopped at the end.

    ``options`` are `Cluster` fields (bus_url, unknown_stations, heartbeat_interval, env).
    A failure inside the block carries the nodes' output tails as exception notes."""
    await prepare(database_url, schema)
    cluster = Cluster(database_url, schema, workdir, **options)  # type: ignore[arg-type]
    try:
        await cluster.start(nodes)
        yield cluster
    except BaseException as exc:
        exc.add_note(cluster.tails())
        raise
    finally:
        await asyncio.to_thread(cluster.stop_all)

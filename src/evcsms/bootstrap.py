"""The one place that picks implementations and wires them: settings -> services -> app."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import sys
from typing import Any

from evcsms.bus.base import Bus
from evcsms.bus.memory import MemoryBus
from evcsms.domain.clock import Clock, SystemClock
from evcsms.domain.commands import CommandName
from evcsms.services.billing import BillingService, CdrService
from evcsms.services.commands import CommandService
from evcsms.services.container import Services
from evcsms.services.device_model import DeviceModelService
from evcsms.services.diagnostics import DiagnosticsService
from evcsms.services.drivers import DriverService
from evcsms.services.firmware import FirmwareService
from evcsms.services.incidents import IncidentService
from evcsms.services.leases import Leases
from evcsms.services.live_cost import LiveCostService
from evcsms.services.load import LoadService
from evcsms.services.log_uploads import LogUploadService
from evcsms.services.messagelog import MessageLog
from evcsms.services.presence import Presence
from evcsms.services.receipts import ReceiptService
from evcsms.services.reservations import ReservationService
from evcsms.services.sessions import SessionService
from evcsms.services.stations import StationService
from evcsms.services.tariffs import TariffService
from evcsms.services.thresholds import ThresholdService
from evcsms.services.tokens import TokenService
from evcsms.services.uptime import UptimeService
from evcsms.services.users import UserService
from evcsms.services.webhooks import WebhookService
from evcsms.settings import Settings
from evcsms.storage.database import create_engine, upgrade
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)


def node_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def build_services(
    settings: Settings, *, clock: Clock | None = None, migrate: bool | None = None,
    background: bool = True,
) -> Services:
    """Create engine, writer, bus and services; migrate SQLite (or when asked); start loops.

    `background=False` (one-shot CLI commands) starts only what every write needs, not the
    cluster singletons (CDR issuing, running costs, diagnostics, load management, webhooks,
    firmware tracking, reservation expiry). With it, a node whose role includes `worker`
    runs each singleton it holds the lease of (`services.leases`): all of them on SQLite,
    one node's share of them in a cluster.
    """
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url, schema=settings.database_schema,
                           timeout=settings.storage_timeout)
    if migrate if migrate is not None else settings.is_sqlite:
        await upgrade(engine)
    writer = BatchWriter(engine, probe_timeout=min(5.0, settings.storage_timeout))
    await writer.start()
    bus = await _bus(settings)
    users = UserService(engine, writer, clock)
    billing = BillingService(engine, clock)
    commands = CommandService(engine, writer, bus, clock, call_timeout=settings.call_timeout)
    incidents = IncidentService(engine, writer, bus, clock)
    thresholds = ThresholdService(engine, writer, clock)
    services = Services(
        engine=engine, writer=writer, bus=bus, clock=clock,
        stations=StationService(
            engine, writer, bus, clock, unknown_policy=settings.unknown_stations.value,
            heartbeat_interval=settings.heartbeat_interval,
        ),
        tokens=TokenService(engine, writer, clock),
        sessions=SessionService(engine, writer, bus, clock),
        commands=commands,
        presence=Presence(writer, clock),
        message_log=MessageLog(
            engine, writer, clock, keep=settings.message_log_keep, days=settings.message_log_days
        ),
        users=users,
        drivers=DriverService(engine, writer, clock, users),
        tariffs=TariffService(engine, writer, clock),
        billing=billing,
        live_cost=LiveCostService(engine, billing, commands, clock,
                                  interval=settings.cost_update_interval),
        incidents=incidents,
        diagnostics=DiagnosticsService(engine, bus, clock, incidents, thresholds,
                                       heartbeat_interval=settings.heartbeat_interval),
        thresholds=thresholds,
        load=LoadService(engine, writer, bus, clock, commands),
        uptime=UptimeService(engine, writer, clock),
        webhooks=WebhookService(engine, writer, bus, clock),
        cdrs=CdrService(engine, writer, bus, clock, country_code=settings.ocpi_country_code,
                        party_id=settings.ocpi_party_id),
        receipts=ReceiptService(
            engine, operator=settings.ocpi_country_code + settings.ocpi_party_id),
        log_uploads=LogUploadService(engine, writer, bus, clock,
                                     base_url=settings.upload_base_url(),
                                     max_bytes=settings.max_upload_bytes),
        firmware=FirmwareService(engine, writer, bus, clock, incidents),
        device_model=DeviceModelService(engine, writer, clock),
        reservations=ReservationService(engine, writer, bus, clock, commands,
                                        sweep_interval=settings.reservation_sweep_interval),
        leases=Leases(engine, schema=settings.database_schema, interval=settings.lease_interval),
    )
    _hook_commands(services)
    for name in SINGLETONS:
        services.leases.add(name, getattr(services, name))
    await services.presence.start()
    await services.message_log.start()
    await services.sessions.start()
    if background and settings.role.worker:
        await services.leases.start()
    if settings.admin_token and await services.users.ensure_admin(settings.admin_token):
        log.info("created the first operator from EVCSMS_ADMIN_TOKEN")
    return services


# the cluster singletons, by their attribute name in Services (see services/leases.py)
SINGLETONS = ("cdrs", "live_cost", "diagnostics", "load", "webhooks", "firmware", "reservations")


def _hook_commands(services: Services) -> None:
    """The services that keep their own records of some commands (docs/remote-diagnostics.md)."""
    services.commands.hook(CommandName.UPLOAD_LOG, services.log_uploads)
    services.commands.hook(CommandName.UPDATE_FIRMWARE, services.firmware)
    for name in (CommandName.GET_BASE_REPORT, CommandName.GET_VARIABLES,
                 CommandName.SET_VARIABLES, CommandName.GET_CONFIGURATION,
                 CommandName.CHANGE_CONFIGURATION):
        services.commands.hook(name, services.device_model)
    for name in (CommandName.RESERVE_NOW, CommandName.CANCEL_RESERVATION):
        services.commands.hook(name, services.reservations)


async def close_services(services: Services) -> None:
    await services.leases.close()  # stops the singletons this node runs
    await services.webhooks.aclose()
    await services.sessions.close()
    await services.presence.close()
    await services.message_log.close()
    await services.bus.close()
    await services.writer.close()
    await services.engine.dispose()


class Router:
    """One port for both: WebSocket `/ocpp/...` to the gateway, everything else to the API
    (and the web dashboard it mounts at `/ui`).

    A node without the gateway role refuses station connections (HTTP 404 at the
    handshake); one without the API role serves only `/api/v1/health`."""

    def __init__(self, gateway: Any, api: Any) -> None:
        self.gateway = gateway
        self.api = api

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith("/ocpp/"):
            if self.gateway is not None:
                await self.gateway(scope, receive, send)
            else:
                await _refuse_websocket(scope, receive, send)
        else:
            if scope["type"] == "http" and scope["path"] == "/ui":  # the dashboard's root
                scope = dict(scope, path="/ui/", raw_path=b"/ui/")
            await self.api(scope, receive, send)


async def _refuse_websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()  # websocket.connect
    body = b"this node does not serve OCPP (its role is not gateway)"
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": 404,
                    "headers": [(b"content-type", b"text/plain"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": body.decode()})


SWITCH_INTERVAL = 0.0005  # s; see tune_gc


def tune_gc() -> None:
    """Move everything alive after start-up out of the collector's sight and collect less often.

    Each OCPP frame allocates many short-lived objects; with the default gen-0 threshold
    (700) the collector ran every couple of frames and kept rescanning the long-lived
    start-up heap (SQLAlchemy metadata, compiled schemas). Measured on the MeterValues
    flood: see benchmarks/README.md.

    The GIL switch interval drops from 5 ms to 0.5 ms: the SQLite driver thread needs the
    GIL briefly between statements, and with the event loop always busy it waited up to
    the whole interval each time, stalling every commit (ADR 0004).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    sys.setswitchinterval(SWITCH_INTERVAL)


async def _bus(settings: Settings) -> Bus:
    """The in-process bus for one node; NATS when nodes share EVCSMS_BUS_URL."""
    if settings.bus_url is None:
        return MemoryBus()
    from evcsms.bus.nats import NatsBus

    return await NatsBus.connect(settings.bus_url, name=f"evcsms-{node_name()}",
                                 prefix=settings.cluster_namespace())


def build_app(services: Services, settings: Settings) -> Router:
    """The node's ASGI app: the OCPP gateway and the REST API on one port."""
    from evcsms.api.app import create_api
    from evcsms.gateway.server import OcppGateway

    gateway = (
        OcppGateway(services, node=node_name(), call_timeout=settings.call_timeout,
                    max_handshakes=settings.max_handshakes,
                    handshake_queue=settings.handshake_queue)
        if settings.role.gateway else None
    )
    services.log_uploads.base_url = settings.upload_base_url()  # the address actually served
    api = create_api(services, settings)
    api.state.gateway = gateway  # /health shows its connections and admission counters
    if settings.role.api:  # the operators' web dashboard (login, fleet overview, live)
        from evcsms.web import create_web

        api.mount("/ui", create_web(services, settings))
    return Router(gateway, api)


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> Any:
    import uvicorn

    from evcsms.gateway.transport import ProbingWebSocketProtocol

    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "ws": ProbingWebSocketProtocol,
        "ws_max_size": settings.max_frame_bytes, "ws_per_message_deflate": False,
        "lifespan": "on", "log_level": settings.log_level, "access_log": False,
        "server_header": False,
        "ssl_certfile": str(settings.tls_cert) if settings.tls_cert else None,
        "ssl_keyfile": str(settings.tls_key) if settings.tls_key else None,
    }
    return uvicorn.Config(app, **(options | extra))


def node_server(app: Router, config: Any, drain_seconds: float = 0.0) -> Any:
    """The uvicorn server of a node. On shutdown it first stops accepting connections, then,
    with `drain_seconds`, closes its stations' connections spread over that time (so they
    move to the other nodes of a cluster in a trickle), then shuts down as uvicorn does."""
    import uvicorn

    class NodeServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if drain_seconds > 0 and app.gateway is not None and not self.force_exit:
                for listener in self.servers:
                    listener.close()  # the load balancer sends newcomers elsewhere
                for sock in sockets or []:
                    sock.close()
                await app.gateway.registry.drain(drain_seconds)
            await super().shutdown(sockets)

    return NodeServer(config)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run one node until SIGINT/SIGTERM, or until `stop` is set."""
    services = await build_services(settings)
    app = build_app(services, settings)
    config = uvicorn_config(app, settings)
    server = node_server(app, config, settings.drain_seconds)

    async def watch() -> None:
        if stop is not None:
            await stop.wait()
            server.should_exit = True

    watcher = asyncio.create_task(watch(), name="stop-watcher")
    tune_gc()
    try:
        await server.serve()
    finally:
        watcher.cancel()
        if app.gateway is not None:
            await app.gateway.registry.close_all()
        await close_services(services)


def stop_on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def run(settings: Settings) -> None:
    """Blocking entry point: uvloop when available.

    uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal; with
    SIGTERM's default action the process would die before `serve` drains the storage
    writer, so SIGTERM is made to unwind like Ctrl-C (the CLI then exits 0).
    """
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(settings))

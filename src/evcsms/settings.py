"""Settings from `EVCSMS_*` environment variables, overridden by `serve` flags.

A missing or wrong setting fails at start with a message that names it
(`SettingsError`), never later with a stack trace.
"""

from __future__ import annotations

import enum
import hashlib
import socket
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./evcsms.db"


class UnknownStationPolicy(enum.StrEnum):
    """What the gateway does with a station id it has never seen."""

    REJECT = "reject"  # refuse at the handshake (default, secure)
    PENDING = "pending"  # register it as pending; an operator accepts it
    ACCEPT = "accept"  # register and accept it (demo and benchmarks only)


class Role(enum.StrEnum):
    """What a node of a cluster runs (docs/operations.md)."""

    ALL = "all"  # everything: the one node of a small installation
    GATEWAY = "gateway"  # the OCPP WebSocket endpoint only
    API = "api"  # the REST API (and log uploads) only
    WORKER = "worker"  # cluster singletons only: load management, CDRs, diagnostics, ...

    @property
    def gateway(self) -> bool:
        return self in (Role.ALL, Role.GATEWAY)

    @property
    def api(self) -> bool:
        return self in (Role.ALL, Role.API)

    @property
    def worker(self) -> bool:
        return self in (Role.ALL, Role.WORKER)


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVCSMS_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    host: str = "127.0.0.1"
    port: int = Field(default=8180, ge=1, le=65535)
    unknown_stations: UnknownStationPolicy = UnknownStationPolicy.REJECT
    admin_token: str | None = Field(default=None, min_length=16)
    heartbeat_interval: int = Field(default=300, ge=10, le=86400)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    role: Role = Role.ALL
    bus_url: str | None = Field(
        default=None, pattern=r"^nats://", description="NATS server shared by the nodes of a "
        "cluster (e.g. nats://127.0.0.1:4222); unset: one node, in-process bus")
    bus_prefix: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the cluster's namespace on the NATS server (every subject starts with "
                    "it); default: derived from the database's host, port, name and schema, "
                    "so the nodes of one cluster agree and two clusters never mix")
    call_timeout: float = Field(default=30.0, gt=0, le=600)
    storage_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="seconds a PostgreSQL connect or statement may take before the node "
                    "treats the database as unavailable (stations get a CALLERROR and retry)")
    lease_interval: float = Field(
        default=2.0, gt=0, le=60,
        description="seconds between a node's checks of its cluster-singleton leases")
    drain_seconds: float = Field(
        default=0.0, ge=0, le=3600,
        description="on SIGTERM, seconds over which a gateway node closes its stations' "
                    "connections (after it stops accepting new ones) so they move to the "
                    "other nodes in a trickle; 0: all at once")
    max_handshakes: int = Field(
        default=64, ge=1, le=100_000,
        description="station handshakes a gateway node processes at once (admission control)")
    handshake_queue: int = Field(
        default=1000, ge=0, le=1_000_000,
        description="handshakes that may wait for a slot; beyond this: HTTP 503 + Retry-After")
    message_log_keep: int = Field(default=2000, ge=10, description="frames kept per station")
    message_log_days: int = Field(default=30, ge=1)
    max_frame_bytes: int = Field(default=256 * 1024, ge=4096)
    log_level: str = "info"
    cost_update_interval: float = Field(
        default=60.0, ge=0, le=3600,
        description="seconds between running-cost pushes to opted-in stations (0: never)")
    ocpi_country_code: str = Field(default="NL", pattern=r"^[A-Z]{2}$",
                                   description="the operator's ISO 3166 code in OCPI CDRs")
    ocpi_party_id: str = Field(default="EVC", pattern=r"^[A-Z0-9]{3}$",
                               description="the operator's OCPI party id in CDRs")
    public_url: str | None = Field(
        default=None, max_length=300,
        description="base URL stations reach this node at, for log uploads "
                    "(default: http(s)://host:port from the listen address)")
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=1024**3,
                                  description="largest log file a station may upload")
    reservation_sweep_interval: float = Field(
        default=30.0, gt=0, le=3600,
        description="seconds between sweeps that mark reservations past their expiry expired")
    locale: str = Field(default="en", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$",
                        description="how the dashboard writes money and numbers (en, de_DE, ...)")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
            raise ValueError("must be an http:// or https:// URL without spaces")
        return value.rstrip("/")

    def upload_base_url(self) -> str:
        """Where stations send files: `public_url`, else this node's own listen address (a
        wildcard address becomes this machine's name, which stations may need DNS for)."""
        if self.public_url:
            return self.public_url
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming the wildcard, not binding it
            host = socket.getfqdn()
        elif ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def cluster_namespace(self) -> str:
        """`bus_prefix`, or one derived from where the cluster's data lives."""
        if self.bus_prefix:
            return self.bus_prefix
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        where = f"{url.host}:{url.port}/{url.database}/{self.database_schema or ''}"
        return "evcsms-" + hashlib.blake2b(where.encode(), digest_size=5).hexdigest()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment plus explicit overrides (flags).

    Overrides that are None are ignored so an absent flag falls back to the
    environment variable.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise SettingsError("EVCSMS_TLS_CERT and EVCSMS_TLS_KEY must be given together")
    if settings.role is not Role.ALL and settings.bus_url is None:
        raise SettingsError(
            f"EVCSMS_ROLE (--role): a {settings.role.value!r} node is one part of a cluster: "
            "give the cluster's NATS server (EVCSMS_BUS_URL=nats://...) and its PostgreSQL"
        )
    if settings.bus_url is not None and settings.is_sqlite:
        raise SettingsError("EVCSMS_BUS_URL: nodes that share a bus must share a database: "
                            "use PostgreSQL (EVCSMS_DATABASE_URL=postgresql+asyncpg://...)")
    for name in ("tls_cert", "tls_key"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise SettingsError(f"EVCSMS_{name.upper()}: no such file: {path}")
    return settings


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        lines.append(f"EVCSMS_{field.upper()} (--{field.replace('_', '-')}): {error['msg']}")
    return "invalid settings:\n  " + "\n  ".join(lines)

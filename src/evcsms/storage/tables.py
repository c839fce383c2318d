"""ORM tables. One Alembic history (storage/migrations) creates exactly these."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from evcsms.storage.types import DecimalText, JsonType, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL wants BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Station(Base):
    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    registration: Mapped[str] = mapped_column(String(16), default="Accepted")
    validation_mode: Mapped[str] = mapped_column(String(16), default="strict")
    description: Mapped[str | None] = mapped_column(String(200))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    last_boot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    boot_reason: Mapped[str | None] = mapped_column(String(40))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_node: Mapped[str | None] = mapped_column(String(64))
    site_id: Mapped[str | None] = mapped_column(String(48), index=True)
    meter_public_key: Mapped[str | None] = mapped_column(Text)  # hex DER, for signed values
    cost_updates: Mapped[bool] = mapped_column(Boolean, default=False)  # push running costs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Site(Base):
    """A place with stations: its time zone is where tariff times of day are read."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TariffVersion(Base):
    """One version of an OCPI tariff, never changed once stored: a change is a new
    version, and a session keeps the version it started with."""

    __tablename__ = "tariff_versions"
    __table_args__ = (UniqueConstraint("tariff_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    ocpi: Mapped[str] = mapped_column(Text)  # the OCPI JSON as imported, numbers exact
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TariffAssignment(Base):
    """Which tariff applies where: scope "group" (an id token's group), "station",
    "site" or "default" (scope_id "")."""

    __tablename__ = "tariff_assignments"
    __table_args__ = (UniqueConstraint("scope", "scope_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(48), default="")
    tariff_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Cdr(Base):
    """An issued OCPI 2.2.1 CDR, never changed: a correction is a credit CDR (the negative
    of the one it corrects) plus a new CDR."""

    __tablename__ = "cdrs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cdr_id: Mapped[str] = mapped_column(String(36), unique=True)
    invoice_number: Mapped[int] = mapped_column(Integer, unique=True)  # 1, 2, 3, ... no gaps
    session_id: Mapped[int] = mapped_column(BigInteger, index=True)
    credit: Mapped[bool] = mapped_column(Boolean, default=False)
    credit_reference_id: Mapped[str | None] = mapped_column(String(36))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)  # credited later
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    total_incl_vat: Mapped[Decimal] = mapped_column(DecimalText())
    total_energy_kwh: Mapped[Decimal] = mapped_column(DecimalText())
    start_date_time: Mapped[datetime] = mapped_column(UTCDateTime())
    end_date_time: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ocpi: Mapped[str] = mapped_column(Text)  # the CDR as OCPI JSON, numbers exact


class Connector(Base):
    """Live status of an EVSE connector. 1.6 connector N is stored as evse N, connector 1;
    1.6 connector 0 (the whole station) as evse 0, connector 0."""

    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(
        ForeignKey("stations.id", ondelete="CASCADE"), primary_key=True
    )
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(200))
    status_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdToken(Base):
    __tablename__ = "id_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(20), default="ISO14443")
    status: Mapped[str] = mapped_column(String(16), default="Accepted")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    group_id: Mapped[str | None] = mapped_column(String(36))
    owner_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # a driver
    max_concurrent_sessions: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChargingSession(Base):
    """A transaction. `id` is also the 1.6 transactionId; `transaction_ref` is the
    station's own id (2.0.1 transactionId, or str(id) for 1.6)."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("station_id", "transaction_ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    transaction_ref: Mapped[str] = mapped_column(String(64))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str | None] = mapped_column(String(36), index=True)
    auth_status: Mapped[str | None] = mapped_column(String(16))  # token decision at start
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meter_start_wh: Mapped[Decimal | None] = mapped_column(DecimalText())
    meter_stop_wh: Mapped[Decimal | None] = mapped_column(DecimalText())
    energy_wh: Mapped[Decimal] = mapped_column(DecimalText(), default=Decimal(0))
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    offline_start: Mapped[bool] = mapped_column(Boolean, default=False)
    meter_anomalies: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    tariff_version_id: Mapped[int | None] = mapped_column(BigInteger)  # chosen at the start
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __mapper_args__ = {"eager_defaults": False}


Index("ix_sessions_station_started", ChargingSession.station_id, ChargingSession.started_at)


class MeterReading(Base):
    """One meterValue element: the samples a station took at one moment, as compact JSON.

    `samples` is a JSON array of `[measurand, phase, location, context, unit, value,
    signed_data]` (absent phase/location/context as "", the value as exact decimal text);
    `services.meter_store` reads and writes it. `session_id` 0 means outside any session.
    The unique key (with `digest`, a hash of `samples`) makes a re-sent frame a no-op;
    readers drop a sample seen twice in different readings, so energy is never
    double-counted. One row per moment instead of one per sample: a typical
    eight-sample frame costs one row and two index entries, not eight rows and sixteen
    (ADR 0004).
    """

    __tablename__ = "meter_readings"
    __table_args__ = (
        # timestamp first: readings arrive in roughly time order, so the index grows at
        # its end instead of dirtying one page per station on every commit
        UniqueConstraint(
            "timestamp", "station_id", "session_id", "evse_id", "digest",
            name="uq_meter_readings_reading",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    session_id: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    digest: Mapped[str] = mapped_column(String(16))
    samples: Mapped[str] = mapped_column(Text)


class TransactionEvent(Base):
    """2.0.1 TransactionEvent audit trail; (session, seq_no) unique drops re-sent events."""

    __tablename__ = "transaction_events"
    __table_args__ = (UniqueConstraint("session_id", "seq_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(16))
    trigger_reason: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StationEvent(Base):
    """Everything else a station reports that is worth keeping: boots, firmware and log
    status, security events, NotifyEvent, NotifyReport, DataTransfer."""

    __tablename__ = "station_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)


Index("ix_station_events_station_kind", StationEvent.station_id, StationEvent.kind, StationEvent.id)


class StatusChange(Base):
    """The status history of every port and station: one row per change, for uptime and
    the timeline. `source` is "status" (a StatusNotification; evse 0 is the station) or
    "connection" (the station's link: state "offline" or "online")."""

    __tablename__ = "status_history"
    __table_args__ = (Index("ix_status_history_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutageExclusion(Base):
    """Outage time the operator tags as excluded from uptime (NEVI): utility outage,
    vandalism, scheduled maintenance, ... `evse_id` None means every port of the station."""

    __tablename__ = "outage_exclusions"
    __table_args__ = (Index("ix_outage_exclusions_station", "station_id", "start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Incident(Base):
    """A detected fault an operator sees and closes. At most one open incident per `key`
    (the cause on one subject); the service keeps that through the single writer."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_key_status", "key", "status"),
                      Index("ix_incidents_station", "station_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    station_id: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16))  # open, acknowledged, resolved
    message: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonType)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Webhook(Base):
    """An HTTP endpoint told about incidents (opened, resolved). The signing secret must be
    kept retrievable to sign with (HMAC); it is only ever shown to the operator once."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[str] = mapped_column(String(200))  # comma-separated subjects
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_status: Mapped[str | None] = mapped_column(String(200))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FaultThresholds(Base):
    """Fault-rule thresholds an operator set for one scope: "default" (scope_id ""), "site",
    "model" (the station model as its BootNotification gives it) or "station". `values` holds
    only the fields set here, as strings; `domain.faults.Thresholds` has the rest."""

    __tablename__ = "fault_thresholds"
    __table_args__ = (UniqueConstraint("scope", "scope_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(100), default="")
    values: Mapped[dict[str, Any]] = mapped_column(JsonType)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentNote(Base):
    """An incident's timeline: opened, seen again, acknowledged, commented, resolved."""

    __tablename__ = "incident_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    what: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text, default="")


class Command(Base):
    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(16))
    ocpp_action: Mapped[str | None] = mapped_column(String(40))
    request: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    response: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


Index("ix_commands_station_created", Command.station_id, Command.created_at)


class MessageLogEntry(Base):
    """Every OCPP frame in and out, kept per station with bounded retention."""

    __tablename__ = "message_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    direction: Mapped[str] = mapped_column(String(3))
    message_type: Mapped[int | None] = mapped_column(Integer)
    unique_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(50))
    frame: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_message_log_station_id", MessageLogEntry.station_id, MessageLogEntry.id)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # PBKDF2 of the password an operator logs in to the web dashboard with (migration 0010)
    password_hash: Mapped[str | None] = mapped_column(String(200))


class WebSecret(Base):
    """Keys of the web dashboard (the session cookie's HMAC key), made once per database so
    every node of a cluster signs and checks the same cookies (migration 0010)."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """API bearer tokens, stored as SHA-256 digests (the tokens are 256-bit random)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# -- remote diagnostics: log uploads, firmware updates, device model (migration 0008) -------

# JSON whose Python None is SQL NULL (not JSON null), so COALESCE can keep an older value.
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class LogUpload(Base):
    """A log upload asked of a station (1.6 GetDiagnostics, 2.0.1 GetLog; `id` is the 2.0.1
    requestId) and the file it sent to evcsms's upload endpoint, kept here because nodes
    share the database, not a disk. The upload link's token is stored as its SHA-256.
    `content` is last so listing the other columns never reads the file."""

    __tablename__ = "log_uploads"
    __table_args__ = (Index("ix_log_uploads_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    command_id: Mapped[str | None] = mapped_column(String(36))
    log_type: Mapped[str] = mapped_column(String(16))  # diagnostics, security
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # domain.log_uploads.UploadState
    error: Mapped[str | None] = mapped_column(Text)
    station_file_name: Mapped[str | None] = mapped_column(String(255))  # from the answer
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stop_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    timeline: Mapped[list[Any]] = mapped_column(JsonType)  # [{"at", "status", "source"}]
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    file_name: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)


class FirmwareUpdate(Base):
    """A firmware update asked of a station (`id` is the 2.0.1 requestId), tracked through
    its FirmwareStatusNotifications to `succeeded` or `failed` (domain.firmware)."""

    __tablename__ = "firmware_updates"
    __table_args__ = (Index("ix_firmware_updates_station", "station_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(48))
    command_id: Mapped[str | None] = mapped_column(String(36))
    location: Mapped[str] = mapped_column(String(512))
    retrieve_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retries: Mapped[int | None] = mapped_column(Integer)
    retry_interval: Mapped[int | None] = mapped_column(Integer)
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # domain.firmware.UpdateState
    station_status: Mapped[str | None] = mapped_column(String(32))  # the last one reported
    error: Mapped[str | None] = mapped_column(Text)
    previous_version: Mapped[str | None] = mapped_column(String(50))  # when it was asked
    installed_version: Mapped[str | None] = mapped_column(String(50))  # reported at boot
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FirmwareUpdateEvent(Base):
    """A firmware update's timeline: requested, the station's answer, every status it
    reported, the boot that showed the installed version."""

    __tablename__ = "firmware_update_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    update_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))  # evcsms, station
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")


class DeviceVariable(Base):
    """A station's device model (domain.device_model): one value per component, variable
    and attribute type, from 2.0.1 NotifyReport and GetVariables/SetVariables answers, or a
    1.6 configuration key (component "OCPP16Configuration"). Absent instance is "", absent
    EVSE or connector 0."""

    __tablename__ = "device_variables"
    __table_args__ = (
        UniqueConstraint("station_id", "component", "component_instance", "evse_id",
                         "connector_id", "variable", "variable_instance", "attribute_type",
                         name="uq_device_variables_identity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(50))
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    variable: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")
    attribute_type: Mapped[str] = mapped_column(String(8))
    value: Mapped[str | None] = mapped_column(Text)
    mutability: Mapped[str | None] = mapped_column(String(16))
    persistent: Mapped[bool | None] = mapped_column(Boolean)
    constant: Mapped[bool | None] = mapped_column(Boolean)
    characteristics: Mapped[dict[str, Any] | None] = mapped_column(NullableJson)
    source: Mapped[str] = mapped_column(String(24))  # notify_report, get_variables, ...
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SiteLoad(Base):
    """A site under load management: its electrical tree (`domain.load` dict form, exact
    decimals as JSON text), the sharing policy, operator pins and whether it is paused."""

    __tablename__ = "site_load"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"),
                                         primary_key=True)
    tree: Mapped[str] = mapped_column(Text)  # circuits, evses, voltage, schedules
    policy: Mapped[str] = mapped_column(String(16), default="equal")
    pins: Mapped[str] = mapped_column(Text, default="[]")  # [{"evse", "value"}]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChargingProfileRecord(Base):
    """The charging profile a station holds for one EVSE and purpose, as last sent: the
    live allocation ("allocation": a TxProfile with a lease), the failsafe ("failsafe": a
    TxDefaultProfile at stack level 0) or an operator's."""

    __tablename__ = "charging_profiles"
    __table_args__ = (UniqueConstraint("station_id", "evse_id", "purpose"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[str | None] = mapped_column(String(48))
    profile_id: Mapped[int] = mapped_column(Integer)
    stack_level: Mapped[int] = mapped_column(Integer)
    limit: Mapped[Decimal] = mapped_column(DecimalText())
    unit: Mapped[str] = mapped_column(String(1))
    number_phases: Mapped[int | None] = mapped_column(Integer)
    transaction_ref: Mapped[str | None] = mapped_column(String(64))
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # pending, accepted, rejected, failed
    command_id: Mapped[str | None] = mapped_column(String(36))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Reservation(Base):
    """A ReserveNow: `id` is the OCPP reservationId. Status: pending (sent), accepted,
    rejected, failed, cancelled, used (the token started a session), expired."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_station_status", "station_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)  # 0: any EVSE of the station
    id_token: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    command_id: Mapped[str | None] = mapped_column(String(36))
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def table_of(model: type[Base]) -> Table:
    """The Core `Table` a mapped class is declared on (SQLAlchemy types it as `FromClause`)."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single Table")
    return table

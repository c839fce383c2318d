"""Request and response bodies of the REST API.

Numbers that are `Decimal` in the services (energy and meter readings) leave as JSON
numbers, so scripts can add them up without parsing strings:

- Wh quantities (`energy_wh`, `meter_start_wh`, `meter_stop_wh`) are rounded half-even to
  0.001 Wh and written as an integer when whole. Below 10**12 Wh such a number has at most
  15 significant digits, which a double and its shortest JSON rendering reproduce
  exactly: the text in the response is the rounded decimal, digit for digit.
- `energy_wh_exact` is the stored Decimal as a string, for billing and reconciliation.
- Meter sample values are written as numbers unrounded (exact up to 15 significant digits).

Input models forbid unknown fields (a typo is a 422, not a silently ignored change) and
refuse NUL characters (PostgreSQL cannot store them).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)

from evcsms.domain.commands import CommandName
from evcsms.domain.model import Registration, ValidationMode

T = TypeVar("T")
_MILLI = Decimal("0.001")


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: int when whole (exact at any size), else float."""
    return int(value) if value == value.to_integral_value() else float(value)


def wh_number(value: Decimal) -> int | float:
    return json_number(value.quantize(_MILLI))


WhNumber = Annotated[Decimal, PlainSerializer(wh_number, return_type=float, when_used="json")]
JsonDecimal = Annotated[Decimal, PlainSerializer(json_number, return_type=float, when_used="json")]


def _printable_id(value: str) -> str:
    if "/" in value:
        raise ValueError("must not contain '/'")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is out of range once converted to UTC") from None


UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    Field(description="ISO 8601 with a zone, e.g. 2027-01-01T00:00:00Z"),
]
StationId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=48),
    AfterValidator(_printable_id),
    Field(description="1..48 characters, no '/' (it is the last segment of the station's URL)"),
]
StationPassword = Annotated[
    str,
    StringConstraints(min_length=16, max_length=40),
    Field(description="HTTP Basic password of OCPP security profiles 1/2 (16..40 characters)"),
]
TokenText = Annotated[
    str, StringConstraints(min_length=1, max_length=36), AfterValidator(_printable_id)
]
Description = Annotated[str, StringConstraints(max_length=200)]
TokenType = Literal[
    "Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress",
    "NoAuthorization",
]
StoredTokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]


def _leaves(value: Any) -> Iterator[Any]:
    """The scalars of a JSON-like value, dict keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _has_nul(value: Any) -> bool:
    return any(isinstance(leaf, str) and "\x00" in leaf for leaf in _leaves(value))


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class PatchModel(InputModel):
    """A partial update: absent fields stay; null is refused (clearing is not supported)."""

    @model_validator(mode="after")
    def _no_nulls(self) -> PatchModel:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"cannot be null (clearing is not supported): {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    role: str = Field(description="what this node runs: all, gateway, api or worker")
    singletons: list[str] = Field(
        description="the cluster singletons this node runs now (it holds their leases)")
    stations_connected: int | None = Field(
        default=None, description="stations connected to this node (gateway roles only)")
    admission: dict[str, Any] | None = Field(
        default=None, description="handshake admission counters (gateway roles only): "
        "active, waiting, admitted, refused (503 for a full queue), storage_refused, ...")


# -- stations ------------------------------------------------------------------------------


class StationCreate(InputModel):
    id: StationId
    password: StationPassword | None = Field(
        default=None, description="omit to have one generated and returned once"
    )
    description: Description | None = None
    registration: Registration = Registration.ACCEPTED


class StationPatch(PatchModel):
    description: Description | None = None
    registration: Registration | None = None
    validation_mode: ValidationMode | None = None
    password: StationPassword | None = None


class ConnectorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    vendor_error_code: str | None
    info: str | None
    status_at: datetime


class StationSummary(BaseModel):
    id: str
    description: str | None
    registration: str
    validation_mode: str
    online: bool
    last_seen: datetime | None
    ocpp_version: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, row: Any, live_seen: datetime | None) -> dict[str, Any]:
        seen = [at for at in (live_seen, row.last_seen_at) if at is not None]
        return {
            "id": row.id, "description": row.description, "registration": row.registration,
            "validation_mode": row.validation_mode, "online": bool(row.connected),
            "last_seen": max(seen) if seen else None, "ocpp_version": row.ocpp_version,
            "vendor": row.vendor, "model": row.model, "serial_number": row.serial_number,
            "firmware_version": row.firmware_version, "created_at": row.created_at,
            "updated_at": row.updated_at,
        }


class StationDetail(StationSummary):
    last_boot_at: datetime | None
    boot_reason: str | None
    connectors: list[ConnectorOut]

    @classmethod
    def build(
        cls, row: Any, connectors: list[Any], live_seen: datetime | None, **extra: Any
    ) -> Self:
        return cls(
            **cls.fields_of(row, live_seen), last_boot_at=row.last_boot_at,
            boot_reason=row.boot_reason,
            connectors=[ConnectorOut.model_validate(c) for c in connectors], **extra,
        )


class StationCreated(StationDetail):
    password: str | None = Field(
        description="the generated password, shown only in this response; null when given"
    )


class StationEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    timestamp: datetime
    payload: dict[str, Any]


class EventList(BaseModel):
    items: list[StationEventOut]
    limit: int


# -- id tokens -----------------------------------------------------------------------------


class IdTokenCreate(InputModel):
    token: TokenText
    type: TokenType = "ISO14443"
    status: StoredTokenStatus = "Accepted"
    expires_at: UtcDatetime | None = None
    group_id: TokenText | None = None
    max_concurrent_sessions: Annotated[int, Field(ge=1, le=1000)] | None = None
    description: Description | None = None


class IdTokenPatch(PatchModel):
    type: TokenType | None = None
    status: StoredTokenStatus | None = None
    expires_at: UtcDatetime | None = None
    group_id: TokenText | None = None
    max_concurrent_sessions: Annotated[int, Field(ge=1, le=1000)] | None = None
    description: Description | None = None


class IdTokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    token: str
    type: str
    status: str
    expires_at: datetime | None
    group_id: str | None
    max_concurrent_sessions: int | None
    description: str | None
    created_at: datetime
    updated_at: datetime


# -- sessions ------------------------------------------------------------------------------


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    transaction_ref: str
    evse_id: int
    connector_id: int
    id_token: str | None
    status: str
    started_at: datetime
    stopped_at: datetime | None
    meter_start_wh: WhNumber | None
    meter_stop_wh: WhNumber | None
    energy_wh: WhNumber = Field(description="session energy in Wh, rounded to 0.001 Wh")
    energy_wh_exact: str = Field(description="session energy in Wh, exact, as stored")
    stop_reason: str | None
    offline_start: bool
    meter_anomalies: list[dict[str, Any]]

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return data
        fields = {name: getattr(data, name) for name in _SESSION_COLUMNS}
        # normalize: PostgreSQL NUMERIC(30, 9) pads to 9 places, SQLite text does not
        fields["energy_wh_exact"] = format(Decimal(data.energy_wh).normalize(), "f")
        fields["meter_anomalies"] = list(data.meter_anomalies or [])
        return fields


_SESSION_COLUMNS = tuple(name for name in SessionOut.model_fields if name != "energy_wh_exact")


class MeterValueOut(BaseModel):
    timestamp: datetime
    measurand: str
    phase: str | None
    location: str | None
    context: str | None
    unit: str | None
    value: JsonDecimal
    signed: str | None = Field(description="signed meter data, as the station sent it")

    @classmethod
    def from_row(cls, row: Any) -> MeterValueOut:
        return cls(
            timestamp=row.timestamp, measurand=row.measurand, phase=row.phase or None,
            location=row.location or None, context=row.context or None, unit=row.unit,
            value=row.value, signed=row.signed_data,
        )


class SessionDetail(SessionOut):
    meter_values: list[MeterValueOut] = Field(default_factory=list)


# -- commands ------------------------------------------------------------------------------


class CommandRequest(InputModel):
    name: CommandName
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params", mode="after")
    @classmethod
    def _int64(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(isinstance(leaf, int) and not -(2**63) <= leaf < 2**63 for leaf in _leaves(value)):
            raise ValueError("integers must fit in 64 bits")
        return value


class CommandOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    station_id: str
    name: str
    params: dict[str, Any]
    status: str
    ocpp_action: str | None
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    error: str | None
    created_by: str | None
    created_at: datetime
    sent_at: datetime | None
    completed_at: datetime | None


# -- message log ---------------------------------------------------------------------------


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    direction: str
    message_type: int | None
    unique_id: str | None
    action: str | None
    frame: str
    at: datetime


class MessageList(BaseModel):
    items: list[MessageOut]
    limit: int
    next_before_id: int | None = Field(
        description="pass as before_id for the next (older) page; null on the last page"
    )

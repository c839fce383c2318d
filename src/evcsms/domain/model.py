"""Version-neutral vocabulary shared by every layer: statuses, versions, kinds."""

from __future__ import annotations

import enum


class OcppVersion(enum.StrEnum):
    V16 = "1.6"
    V201 = "2.0.1"

    @property
    def subprotocol(self) -> str:
        return "ocpp" + self.value

    @classmethod
    def from_subprotocol(cls, name: str) -> OcppVersion:
        return cls(name.removeprefix("ocpp"))


class Registration(enum.StrEnum):
    """The station's registration with this CSMS (answer to BootNotification)."""

    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


class TokenStatus(enum.StrEnum):
    """Status of an id token, as OCPP AuthorizationStatus understands it."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class CommandStatus(enum.StrEnum):
    PENDING = "pending"  # stored, not yet on the wire
    SENT = "sent"  # CALL written, waiting for the answer
    ACCEPTED = "accepted"  # the station answered positively
    REJECTED = "rejected"  # the station answered negatively (Rejected, NotSupported, ...)
    FAILED = "failed"  # CALLERROR, station offline, or the CALL could not be sent
    TIMED_OUT = "timed_out"  # no answer within the call timeout

    @property
    def final(self) -> bool:
        return self not in (CommandStatus.PENDING, CommandStatus.SENT)


class Direction(enum.StrEnum):
    IN = "in"  # station -> CSMS
    OUT = "out"  # CSMS -> station


class ValidationMode(enum.StrEnum):
    """Per-station schema validation: strict by default, lenient for a known-quirky model."""

    STRICT = "strict"
    LENIENT = "lenient"

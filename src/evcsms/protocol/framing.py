"""OCPP-J frames: parse untrusted text into typed frames, build replies.

    [2, "<id>", "<Action>", {payload}]   CALL
    [3, "<id>", {payload}]               CALLRESULT
    [4, "<id>", "<code>", "<description>", {details}]   CALLERROR

Anything else raises an `OcppError` that carries the message id when one
could be read, so the caller can still answer with a CALLERROR ("-1" when
no id could be read, as OCPP 2.0.1 part 4 prescribes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import (
    FormatViolationCallError,
    MessageTypeNotSupportedError,
    OcppError,
    ProtocolCallError,
    RpcFrameworkCallError,
)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_ID_LENGTH = 36
UNKNOWN_ID = "-1"


@dataclass(frozen=True, slots=True)
class Call:
    unique_id: str
    action: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CallResult:
    unique_id: str
    payload: Any


@dataclass(frozen=True, slots=True)
class CallError:
    unique_id: str
    code: str
    description: str
    details: Any


Frame = Call | CallResult | CallError


class FrameError(Exception):
    """A frame that cannot be processed; `error` is what to answer, to `unique_id`."""

    def __init__(self, unique_id: str, error: OcppError) -> None:
        super().__init__(error.description)
        self.unique_id = unique_id
        self.error = error


def parse(text: str | bytes) -> Frame:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError(UNKNOWN_ID, RpcFrameworkCallError("frame is not valid JSON")) from None
    if not isinstance(message, list) or len(message) < 3:
        raise FrameError(
            UNKNOWN_ID, RpcFrameworkCallError("frame is not an OCPP-J array [type, id, ...]")
        )
    kind, unique_id = message[0], message[1]
    if not isinstance(unique_id, str) or not unique_id or len(unique_id) > MAX_ID_LENGTH:
        raise FrameError(
            UNKNOWN_ID,
            RpcFrameworkCallError(f"message id must be a string of 1 to {MAX_ID_LENGTH} characters"),
        )
    if kind == CALL:
        return _call(unique_id, message)
    if kind == CALLRESULT:
        if len(message) != 3:
            raise FrameError(unique_id, FormatViolationCallError("CALLRESULT must have 3 elements"))
        return CallResult(unique_id, message[2])
    if kind == CALLERROR:
        if len(message) != 5 or not isinstance(message[2], str):
            raise FrameError(unique_id, FormatViolationCallError("CALLERROR must have 5 elements"))
        return CallError(unique_id, message[2], str(message[3]), message[4])
    raise FrameError(
        unique_id, MessageTypeNotSupportedError(f"message type {kind!r} is not 2, 3 or 4")
    )


def _call(unique_id: str, message: list[Any]) -> Call:
    if len(message) != 4:
        raise FrameError(unique_id, ProtocolCallError("CALL must have 4 elements"))
    action = message[2]
    if not isinstance(action, str) or not action:
        raise FrameError(unique_id, FormatViolationCallError("CALL action must be a string"))
    return Call(unique_id, action, message[3])


def call(unique_id: str, action: str, payload: Any) -> str:
    return orjson.dumps([CALL, unique_id, action, payload]).decode()


def call_result(unique_id: str, payload: Any) -> str:
    return orjson.dumps([CALLRESULT, unique_id, payload]).decode()


def call_error(unique_id: str, error: OcppError, version: OcppVersion | None) -> str:
    return orjson.dumps(
        [CALLERROR, unique_id, error.code_for(version), error.description[:255], error.details]
    ).decode()

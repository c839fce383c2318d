"""OCPP-J CALLERROR codes as exceptions; only these escape a handler.

    OcppError                          (GenericError)
    ├── NotImplementedCallError        (NotImplemented: unknown action)
    ├── NotSupportedCallError          (NotSupported: known action, not supported here)
    ├── InternalCallError              (InternalError: our fault; details are logged, not sent)
    ├── ProtocolCallError              (ProtocolError: payload incomplete)
    ├── SecurityCallError              (SecurityError)
    ├── FormatViolationCallError       (1.6 FormationViolation / 2.0.1 FormatViolation)
    ├── PropertyConstraintCallError    (PropertyConstraintViolation)
    ├── OccurrenceConstraintCallError  (1.6 OccurenceConstraintViolation / 2.0.1 Occurrence...)
    ├── TypeConstraintCallError        (TypeConstraintViolation)
    ├── MessageTypeNotSupportedError   (2.0.1 MessageTypeNotSupported; 1.6 NotSupported)
    └── RpcFrameworkCallError          (2.0.1 RpcFrameworkError; 1.6 GenericError)
"""

from __future__ import annotations

from typing import Any, ClassVar

from evcsms.domain.model import OcppVersion


class OcppError(Exception):
    code: ClassVar[str] = "GenericError"
    code_v16: ClassVar[str | None] = None  # when 1.6 spells the code differently

    def __init__(self, description: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details = details or {}

    def code_for(self, version: OcppVersion | None) -> str:
        if version is OcppVersion.V16 and self.code_v16 is not None:
            return self.code_v16
        return self.code


class NotImplementedCallError(OcppError):
    code = "NotImplemented"


class NotSupportedCallError(OcppError):
    code = "NotSupported"


class InternalCallError(OcppError):
    code = "InternalError"


class ProtocolCallError(OcppError):
    code = "ProtocolError"


class SecurityCallError(OcppError):
    code = "SecurityError"


class FormatViolationCallError(OcppError):
    code = "FormatViolation"
    code_v16 = "FormationViolation"


class PropertyConstraintCallError(OcppError):
    code = "PropertyConstraintViolation"


class OccurrenceConstraintCallError(OcppError):
    code = "OccurrenceConstraintViolation"
    code_v16 = "OccurenceConstraintViolation"  # sic: the 1.6 spelling


class TypeConstraintCallError(OcppError):
    code = "TypeConstraintViolation"


class MessageTypeNotSupportedError(OcppError):
    code = "MessageTypeNotSupported"
    code_v16 = "NotSupported"


class RpcFrameworkCallError(OcppError):
    code = "RpcFrameworkError"
    code_v16 = "GenericError"

"""Payload validation against the official OCPP JSON schemas, compiled once.

The schemas are the ones the `ocpp` package ships (OCA's 1.6 and 2.0.1 files).
Each is compiled twice, the first time an action is seen:

* `jsonschema_rs` (Rust) answers "valid?" for the common case, in about 2 us for an
  eight-sample MeterValues where the generated Python below takes about 18 us. It runs
  with draft-4 semantics for every file (the OCPP schemas use no draft-6 keyword), so it
  is at most stricter than the files' own drafts (draft 6 counts 1.0 as an integer).
* `fastjsonschema` (generated Python, ~50x faster than interpreting the schema) has the
  last word: a payload the Rust check refuses is checked again here, and only this
  verdict counts, with its field and rule mapped to the CALLERROR code OCPP-J
  prescribes. So the Rust check can only make acceptance faster, never stricter;
  `tests/protocol/test_validation.py` checks that it never accepts what this path
  refuses. Schemas with formats other than date-time (1.6 "uri") skip the Rust check.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastjsonschema
import jsonschema_rs

from evcsms.domain.model import OcppVersion
from evcsms.protocol.errors import (
    FormatViolationCallError,
    NotImplementedCallError,
    OccurrenceConstraintCallError,
    OcppError,
    PropertyConstraintCallError,
    TypeConstraintCallError,
)

log = logging.getLogger(__name__)

Validator = Callable[[Any], Any]

_PACKAGE = {OcppVersion.V16: "ocpp.v16", OcppVersion.V201: "ocpp.v201"}


def _file_name(version: OcppVersion, action: str, response: bool) -> str:
    if version is OcppVersion.V16:
        return f"{action}Response.json" if response else f"{action}.json"
    return f"{action}Response.json" if response else f"{action}Request.json"


@functools.cache
def _schema(version: OcppVersion, action: str, response: bool) -> dict[str, Any] | None:
    try:
        text = (
            resources.files(_PACKAGE[version])
            .joinpath("schemas", _file_name(version, action, response))
            .read_text(encoding="utf-8")
        )
    except (FileNotFoundError, OSError):
        return None
    schema: dict[str, Any] = json.loads(text)
    schema.pop("$id", None)  # 2.0.1 ids are URNs; refs are local anyway
    return schema


@functools.cache
def validator(version: OcppVersion, action: str, response: bool = False) -> Validator | None:
    """The compiled validator for an action's request (or response); None if unknown.
    It raises `fastjsonschema.JsonSchemaValueException` naming the field and rule."""
    schema = _schema(version, action, response)
    return None if schema is None else fastjsonschema.compile(schema, use_formats=True)


@functools.cache
def quick_check(
    version: OcppVersion, action: str, response: bool = False
) -> Callable[[Any], bool] | None:
    """The Rust "is it valid?" check, or None where it is not used (see module doc)."""
    schema = _schema(version, action, response)
    if schema is None or not _formats(schema) <= {"date-time"}:
        return None
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True).is_valid


def _formats(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["format"]} if isinstance(node.get("format"), str) else set()
        for value in node.values():
            found |= _formats(value)
        return found
    if isinstance(node, list):
        return set().union(*(_formats(item) for item in node))
    return set()


def known_action(version: OcppVersion, action: str) -> bool:
    return validator(version, action) is not None


def validate(
    version: OcppVersion, action: str, payload: Any, *, response: bool = False,
    lenient: bool = False,
) -> None:
    """Raise the right OcppError if `payload` does not fit the action's schema.

    In lenient mode only a missing or mistyped field is an error (a handler cannot
    work without it); other deviations (extra fields, over-long strings, unknown
    enum values) are logged and let through.
    """
    quick = quick_check(version, action, response)
    if quick is not None and quick(payload):
        return
    check = validator(version, action, response)
    if check is None:
        raise NotImplementedCallError(f"unknown action {action!r} for OCPP {version.value}")
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        error = map_error(exc)
        if lenient and not isinstance(
            error, OccurrenceConstraintCallError | TypeConstraintCallError
        ):
            log.warning("lenient: %s %s accepted despite: %s", version.value, action, exc.message)
            return
        raise error from None


def map_error(exc: fastjsonschema.JsonSchemaValueException) -> OcppError:
    """OCPP-J: missing field -> OccurrenceConstraint, wrong JSON type or string type length ->
    TypeConstraint, invalid value -> PropertyConstraint, unexpected fields -> FormatViolation."""
    name = exc.name or "data"  # the generated validators always set it; "data" is the root
    path = name.removeprefix("data").lstrip(".") or "payload"
    details = {"field": path, "rule": exc.rule}
    message = f"{path}: {exc.message.removeprefix(name + ' ')}"
    rule = exc.rule
    if rule == "required":
        return OccurrenceConstraintCallError(message, details)
    if rule == "type" and path == "payload":
        return FormatViolationCallError("payload must be a JSON object", details)
    if rule in ("type", "maxLength", "minLength"):
        return TypeConstraintCallError(message, details)
    if rule == "additionalProperties":
        return FormatViolationCallError(message, details)
    return PropertyConstraintCallError(message, details)

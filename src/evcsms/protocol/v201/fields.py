"""Semantic checks the 2.0.1 schemas leave open, as CallErrors (the schema checked the types)."""

from __future__ import annotations

from typing import Any

from evcsms.domain.metering import SampledValue
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.metervalues import parse_v201_meter_values

INT32_MAX = 2**31 - 1  # what our integer columns (and most stations) hold


def checked_int(value: int, field: str, *, minimum: int = 0) -> int:
    """`value` if it lies in [minimum, 2^31 - 1]; otherwise a PropertyConstraintViolation."""
    if not minimum <= value <= INT32_MAX:
        raise PropertyConstraintCallError(
            f"{field} must be between {minimum} and {INT32_MAX}, not {value}", {"field": field}
        )
    return value


def meter_samples(meter_value: list[dict[str, Any]]) -> list[SampledValue]:
    """The samples of a `meterValue` array; a value we cannot read is a PropertyConstraint."""
    try:
        return parse_v201_meter_values(meter_value).samples
    except ValueError as exc:
        raise PropertyConstraintCallError(str(exc)) from None

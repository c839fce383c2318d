"""1.6 MeterValues: store the samples, attached to the transaction when one is named."""

from __future__ import annotations

from typing import Any

from evcsms.domain.metering import SampledValue
from evcsms.protocol.context import Payload, StationContext
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.metervalues import parse_v16_meter_values, parse_v16_readings


def parse_samples(meter_value: list[dict[str, Any]], field: str) -> list[SampledValue]:
    """The numeric samples of a 1.6 meterValue array; bad input -> PropertyConstraint.

    SignedData values travel on the Raw sample they sign (`SampledValue.signed_data`).
    """
    try:
        return parse_v16_meter_values(meter_value).samples
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if message.startswith("meterValue"):
            message = field + message.removeprefix("meterValue")
        raise PropertyConstraintCallError(message) from None


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    try:
        readings = parse_v16_readings(payload["meterValue"])
    except (ValueError, TypeError) as exc:
        raise PropertyConstraintCallError(str(exc)) from None
    await ctx.services.sessions.meter_readings(
        ctx.station_id, payload["connectorId"], readings,
        transaction_id=payload.get("transactionId"),
    )
    return {}

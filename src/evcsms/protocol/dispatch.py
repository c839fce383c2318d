"""Serve one incoming CALL: validate, route to its handler, validate the answer."""

from __future__ import annotations

import logging
from typing import Any

from evcsms.domain.model import OcppVersion
from evcsms.protocol import validation
from evcsms.protocol.context import Payload, Routes, StationContext
from evcsms.protocol.errors import (
    InternalCallError,
    NotSupportedCallError,
    OcppError,
    PropertyConstraintCallError,
)
from evcsms.protocol.v16.routes import ROUTES as V16_ROUTES
from evcsms.protocol.v201.routes import ROUTES as V201_ROUTES
from evcsms.services.errors import InvalidInputError

log = logging.getLogger(__name__)

ROUTES: dict[OcppVersion, Routes] = {OcppVersion.V16: V16_ROUTES, OcppVersion.V201: V201_ROUTES}

# The InternalError description when the database cannot be reached: nothing was stored,
# the station keeps the message and sends it again (OCPP 1.6 4.7 / 2.0.1 E "retry").
STORAGE_UNAVAILABLE = "storage unavailable, retry later"


async def handle_call(
    ctx: StationContext, action: str, payload: Any, *, lenient: bool = False
) -> Payload:
    """The answer payload for a CALL, or an OcppError to send back as CALLERROR."""
    validation.validate(ctx.version, action, payload, lenient=lenient)
    handler = ROUTES[ctx.version].get(action)
    if handler is None:
        raise NotSupportedCallError(f"{action} is not supported by this CSMS")
    try:
        answer = await handler(ctx, payload)
    except OcppError:
        raise
    except InvalidInputError as exc:  # a value the station sent that cannot be stored
        raise PropertyConstraintCallError(str(exc)) from None
    except Exception as exc:
        if ctx.services.writer.unavailable(exc):  # the database cannot be reached
            log.debug("%s %s for %s: %s (%s)", ctx.version.value, action, ctx.station_id,
                        STORAGE_UNAVAILABLE, exc)
            raise InternalCallError(STORAGE_UNAVAILABLE) from exc
        log.exception("handler %s %s failed for %s", ctx.version.value, action, ctx.station_id)
        raise InternalCallError(f"{action} could not be processed") from exc
    return answer

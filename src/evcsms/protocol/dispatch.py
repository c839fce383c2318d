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
        log.exception("handler %s %s failed for %s", ctx.version.value, action, ctx.station_id)
        raise InternalCallError(f"{action} could not be processed") from exc
    return answer

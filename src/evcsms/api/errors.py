"""Every API error is JSON `{"detail": "<a sentence a person can act on>"}`.

    ServiceError (services.errors)
    ├── NotFoundError      -> 404
    ├── ConflictError      -> 409
    ├── InvalidInputError  -> 422
    └── (any other)        -> 400
    RequestValidationError -> 422, with the pydantic errors rendered as one readable line
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from evcsms.services.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceError,
)
from evcsms.storage.outage import StorageUnavailableError

_STATUS: tuple[tuple[type[ServiceError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
)


def status_of(exc: ServiceError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def describe_validation(errors: Sequence[Any]) -> str:
    """'query parameter limit: Input should be ...; id: String should have ...'."""
    parts = [_describe_one(error) for error in errors]
    return "; ".join(dict.fromkeys(parts)) or "invalid request"


def _describe_one(error: Any) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        return f"request body is not valid JSON: {error.get('ctx', {}).get('error', message)}"
    if not loc:
        return message
    where, rest = loc[0], loc[1:]
    if where == "body":
        return f"{'.'.join(rest) or 'request body'}: {message}"
    if where in ("query", "path", "header", "cookie"):
        return f"{where} parameter {'.'.join(rest)}: {message}"
    return f"{'.'.join(loc)}: {message}"


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse({"detail": str(exc) or type(exc).__name__}, status_code=status_of(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation(exc.errors())}, status_code=422)


async def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (an outage, a restart): 503, try again shortly."""
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StorageUnavailableError, _storage_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)

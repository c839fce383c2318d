"""Errors a use case raises; the API maps them to HTTP statuses, the CLI to messages.

    ServiceError
    ├── NotFoundError      (404)
    ├── ConflictError      (409)
    └── InvalidInputError  (422)
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class of use-case failures."""


class NotFoundError(ServiceError):
    pass


class ConflictError(ServiceError):
    pass


class InvalidInputError(ServiceError):
    pass

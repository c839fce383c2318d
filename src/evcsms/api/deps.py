"""FastAPI dependencies: the services container, bearer-token auth by role, pagination.

Auth is one callable class, `RequireRole`, parametrised by the roles an endpoint admits;
`require_operator` is the only instance used so far. Driver endpoints will add e.g.
`require_user = RequireRole(UserRole.OPERATOR, UserRole.DRIVER)` and scope their queries
to the returned `Principal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evcsms.services.container import Services
from evcsms.services.users import Principal, UserRole

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
MAX_OFFSET = 2**31 - 1  # beyond any real table; keeps OFFSET inside every backend's integer


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An API token: `Authorization: Bearer <token>`.",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


class RequireRole:
    """Authenticate the bearer token; admit only principals with one of `roles`."""

    def __init__(self, *roles: UserRole) -> None:
        self.roles = frozenset(roles)

    async def __call__(
        self,
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or not credentials.credentials:
            raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        token = credentials.credentials
        principal = await services.users.authenticate(token)
        if principal is None:
            raise _unauthorized("invalid API token")
        if principal.role not in self.roles:
            wanted = " or ".join(sorted(role.value for role in self.roles))
            raise HTTPException(
                status_code=403,
                detail=f"this endpoint needs the {wanted} role (token of {principal.role.value}"
                f" {principal.name!r})",
            )
        await services.users.touch_token(token)
        return principal


require_operator = RequireRole(UserRole.OPERATOR)
Operator = Annotated[Principal, Depends(require_operator)]


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int
    offset: int


def page_query(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")] = 0,
) -> PageQuery:
    return PageQuery(limit, offset)


Paging = Annotated[PageQuery, Depends(page_query)]


async def reject_nul(request: Request) -> None:
    """Refuse NUL characters in path and query values (PostgreSQL cannot store them)."""
    for where, items in (
        ("path", request.path_params.items()),
        ("query", request.query_params.multi_items()),
    ):
        for name, value in items:
            if isinstance(value, str) and "\x00" in value:
                raise HTTPException(
                    status_code=422,
                    detail=f"{where} parameter {name}: must not contain NUL characters",
                )

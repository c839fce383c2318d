"""Liveness: `GET /health` answers without auth once the app serves requests, with the
node's role and the cluster singletons it runs (docs/operations.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from evcsms.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness probe (no auth): role and singletons of this node",
            response_model_exclude_none=True)
async def health(request: Request) -> Health:
    state = request.app.state
    gateway = getattr(state, "gateway", None)
    if gateway is None:
        return Health(role=state.settings.role.value, singletons=state.services.leases.held)
    return Health(role=state.settings.role.value, singletons=state.services.leases.held,
                  stations_connected=len(gateway.registry), admission=gateway.admission_stats())

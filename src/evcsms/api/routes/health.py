"""Liveness: `GET /health` answers without auth once the app serves requests."""

from __future__ import annotations

from fastapi import APIRouter

from evcsms.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness probe (no auth)")
async def health() -> Health:
    return Health()

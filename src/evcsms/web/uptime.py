"""Dashboard pages: uptime (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from evcsms.web.common import Web


def routes(web: Web) -> APIRouter:
    return APIRouter()

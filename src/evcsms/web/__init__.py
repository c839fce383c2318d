"""The operators' web dashboard at /ui: server-rendered pages (Jinja2), live by SSE."""

from evcsms.web.app import create_web

__all__ = ["create_web"]

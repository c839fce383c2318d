"""Dialect-specific statements that both backends support with the same meaning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

K = TypeVar("K")
IN_LIST = 500  # values per IN list: well inside SQLite's bound-parameter limit (32,766)


def in_lists(keys: Sequence[K], size: int = IN_LIST) -> list[list[K]]:
    """`keys` cut into IN lists of at most `size`."""
    return [list(keys[i:i + size]) for i in range(0, len(keys), size)]


def insert(connection: AsyncConnection, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both SQLite and PostgreSQL."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

"""Telling an unreachable database from a bad statement.

A statement that fails on its own data (a constraint, a bad value) fails alone and is
worth retrying job by job; a database that cannot be reached (refused, reset, timed out,
shutting down, too many connections) fails everything until it is back, and the writer's
circuit breaker (`storage.writer`) fails fast meanwhile.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

STORAGE_UNAVAILABLE = "storage unavailable, retry later"

# SQLSTATEs that mean "cannot talk to the database": class 08 (connection exception),
# administrator/crash shutdown, cannot connect now (starting up), too many connections.
_UNAVAILABLE_STATES = ("57P01", "57P02", "57P03", "53300")


class StorageUnavailableError(RuntimeError):
    """The database cannot be reached; the operation was not stored (retry later)."""

    def __init__(self, cause: str = "") -> None:
        super().__init__(f"{STORAGE_UNAVAILABLE} ({cause})" if cause else STORAGE_UNAVAILABLE)
        self.cause = cause


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means the database cannot be reached, as opposed
    to an error of the statement itself (a constraint, bad data)."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo and len(seen) < 16:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, StorageUnavailableError | OSError | sa_exc.TimeoutError):
            return True  # OSError covers refused, reset, unreachable and TimeoutError
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
        text = str(error)
        if type(error).__name__ == "InterfaceError" and "connection" in text and "closed" in text:
            return True  # asyncpg: "cannot perform operation: connection is closed"
        todo.extend(e for e in (getattr(error, "orig", None), error.__cause__, error.__context__)
                    if isinstance(e, BaseException))
    return False


def timed_out(exc: BaseException) -> bool:
    todo: list[BaseException] = [exc]
    for _ in range(16):
        if not todo:
            break
        error = todo.pop()
        if isinstance(error, TimeoutError | sa_exc.TimeoutError):
            return True
        todo.extend(e for e in (getattr(error, "orig", None), error.__cause__)
                    if isinstance(e, BaseException))
    return False


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

"""Id tokens (RFID cards, app tokens, ...): authorisation decisions and CRUD."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.domain.model import SessionStatus, TokenStatus
from evcsms.domain.tokens import TokenDecision, TokenRecord, decide
from evcsms.services.errors import ConflictError, InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter

_STORABLE = {TokenStatus.ACCEPTED, TokenStatus.BLOCKED, TokenStatus.EXPIRED, TokenStatus.INVALID}


async def token_record(conn: AsyncConnection, token: str) -> TokenRecord | None:
    row = (await conn.execute(select(t.IdToken).where(t.IdToken.token == token))).first()
    if row is None:
        return None
    return TokenRecord(
        token=row.token, status=TokenStatus(row.status), expires_at=row.expires_at,
        group_id=row.group_id, max_concurrent_sessions=row.max_concurrent_sessions,
    )


async def decide_in(
    conn: AsyncConnection, token: str, now: datetime, *, starting: bool, exclude_session: int = 0
) -> TokenDecision:
    """The decision for `token`, counting its other active sessions when a session starts."""
    record = await token_record(conn, token)
    active = 0
    if starting and record is not None and record.max_concurrent_sessions is not None:
        active = int(
            await conn.scalar(
                select(func.count())
                .select_from(t.ChargingSession)
                .where(
                    t.ChargingSession.id_token == token,
                    t.ChargingSession.status == SessionStatus.ACTIVE.value,
                    t.ChargingSession.auth_status == TokenStatus.ACCEPTED.value,
                    t.ChargingSession.id != exclude_session,
                )
            )
            or 0
        )
    return decide(record, now=now, active_sessions=active, starting=starting)


class TokenService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    async def authorize(self, token: str) -> TokenDecision:
        async with self._engine.connect() as conn:
            return await decide_in(conn, token, self._clock.now(), starting=False)

    async def create(
        self, token: str, *, type: str = "ISO14443", status: str = "Accepted",
        expires_at: datetime | None = None, group_id: str | None = None,
        max_concurrent_sessions: int | None = None, description: str | None = None,
    ) -> Any:
        values = _checked(
            {"type": type, "status": status, "expires_at": expires_at, "group_id": group_id,
             "max_concurrent_sessions": max_concurrent_sessions, "description": description}
        )
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> bool:
            stmt = insert(conn, t.IdToken).values(
                token=token, created_at=now, updated_at=now, **values
            )
            return bool((await conn.execute(stmt.on_conflict_do_nothing())).rowcount)

        if not await self._writer.submit(op, "token-create"):
            raise ConflictError(f"id token {token!r} already exists")
        return await self.get(token)

    async def update(self, token: str, **changes: Any) -> Any:
        values = _checked(changes)
        values["updated_at"] = self._clock.now()

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(t.IdToken).where(t.IdToken.token == token).values(**values)
            )
            return int(result.rowcount)

        if not await self._writer.submit(op, "token-update"):
            raise NotFoundError(f"id token {token!r} not found")
        return await self.get(token)

    async def delete(self, token: str) -> None:
        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(delete(t.IdToken).where(t.IdToken.token == token))).rowcount)

        if not await self._writer.submit(op, "token-delete"):
            raise NotFoundError(f"id token {token!r} not found")

    async def get(self, token: str) -> Any:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.IdToken).where(t.IdToken.token == token))).first()
        if row is None:
            raise NotFoundError(f"id token {token!r} not found")
        return row

    async def list(self, *, limit: int, offset: int) -> tuple[builtins.list[Any], int]:
        async with self._engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t.IdToken))
            rows = (
                await conn.execute(
                    select(t.IdToken).order_by(t.IdToken.token).limit(limit).offset(offset)
                )
            ).all()
        return list(rows), int(total or 0)


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in values.items() if value is not None}
    if "status" in out:
        try:
            status = TokenStatus(out["status"])
        except ValueError:
            status = None
        if status not in _STORABLE:
            allowed = ", ".join(sorted(s.value for s in _STORABLE))
            raise InvalidInputError(f"status must be one of {allowed}, not {out['status']!r}")
        out["status"] = status.value if status else out["status"]
    if "expires_at" in out and out["expires_at"].tzinfo is None:
        raise InvalidInputError("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    limit = out.get("max_concurrent_sessions")
    if limit is not None and limit < 1:
        raise InvalidInputError("max_concurrent_sessions must be at least 1")
    return out

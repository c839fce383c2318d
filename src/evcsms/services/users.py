"""Users (operators now, drivers later) and their API bearer tokens (stored hashed)."""

from __future__ import annotations

import asyncio
import enum
import secrets as _secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.services import secrets
from evcsms.services.errors import ConflictError, InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter


class UserRole(enum.StrEnum):
    OPERATOR = "operator"
    DRIVER = "driver"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    name: str
    role: UserRole


MIN_PASSWORD_LENGTH = 12
# verified against when the user is unknown or has no password, so that a wrong name
# takes as long as a wrong password (no user enumeration by timing)
_DUMMY_HASH = (f"{secrets.ALGORITHM}${secrets.ITERATIONS}$AAAAAAAAAAAAAAAAAAAAAA=="
               "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


class UserService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    async def create(self, name: str, role: UserRole, *, token: str | None = None) -> str:
        """Create a user with an API token; return the token (shown once, stored hashed)."""
        token = token or secrets.new_token()
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                insert(conn, t.User)
                .values(name=name, role=role.value, created_at=now)
                .on_conflict_do_nothing()
                .returning(t.User.id)
            )
            user_id = result.scalar_one_or_none()
            if user_id is None:
                return False
            await conn.execute(
                t.table_of(t.ApiToken).insert().values(
                    user_id=user_id, token_hash=secrets.hash_token(token), label="initial",
                    created_at=now,
                )
            )
            return True

        if not await self._writer.submit(op, "user-create"):
            raise ConflictError(f"user {name!r} already exists")
        return token

    async def ensure_admin(self, token: str) -> bool:
        """Make `token` the first operator's token unless that token exists (EVCSMS_ADMIN_TOKEN).

        Nodes of a cluster starting together all try this: the one whose insert wins
        creates the operator, the others find the token there and do nothing."""
        for _ in range(3):
            if await self.authenticate(token) is not None:
                return False
            async with self._engine.connect() as conn:
                taken = await conn.scalar(select(t.User.id).where(t.User.name == "admin"))
            name = "admin" if taken is None else f"admin-{secrets.hash_token(token)[:8]}"
            try:
                await self.create(name, UserRole.OPERATOR, token=token)
            except (ConflictError, IntegrityError):  # another node was quicker: look again
                continue
            return True
        raise ConflictError("could not create the first operator: the user names are taken")

    async def authenticate(self, token: str) -> Principal | None:
        digest = secrets.hash_token(token)
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.User.id, t.User.name, t.User.role)
                    .join(t.ApiToken, t.ApiToken.user_id == t.User.id)
                    .where(t.ApiToken.token_hash == digest)
                )
            ).first()
        if row is None:
            return None
        return Principal(row.id, row.name, UserRole(row.role))

    async def touch_token(self, token: str) -> None:
        digest, now = secrets.hash_token(token), self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            await conn.execute(
                update(t.ApiToken).where(t.ApiToken.token_hash == digest).values(last_used_at=now)
            )

        self._writer.submit_nowait(op, "token-used")

    async def set_password(self, name: str, password: str) -> None:
        """Set the password `name` logs in to the web dashboard with (PBKDF2, >= 12 chars)."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise InvalidInputError(
                f"password: must be at least {MIN_PASSWORD_LENGTH} characters long")
        digest = await asyncio.to_thread(secrets.hash_password, password)

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(
                update(t.User).where(t.User.name == name).values(password_hash=digest))
            return int(result.rowcount)

        if not await self._writer.submit(op, "user-password"):
            raise NotFoundError(f"user {name!r} not found")

    async def login(self, name: str, password: str) -> Principal | None:
        """The principal whose name and password these are, or None (same cost either way)."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(t.User.id, t.User.name, t.User.role, t.User.password_hash)
                .where(t.User.name == name)
            )).first()
        stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
        matches = await asyncio.to_thread(secrets.verify_password, password, stored)
        if row is None or not row.password_hash or not matches:
            return None
        return Principal(row.id, row.name, UserRole(row.role))

    async def web_principal(self, user_id: int) -> tuple[Principal, str] | None:
        """The user with this id and their password hash (a session is bound to it), if any."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(
                select(t.User.id, t.User.name, t.User.role, t.User.password_hash)
                .where(t.User.id == user_id)
            )).first()
        if row is None or not row.password_hash:
            return None
        return Principal(row.id, row.name, UserRole(row.role)), row.password_hash

    async def web_secret(self, name: str = "session") -> str:
        """A random key kept in the database, the same on every node (made on first use)."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(select(t.WebSecret.value).where(t.WebSecret.name == name))
        if value is not None:
            return str(value)
        fresh, now = _secrets.token_hex(32), self._clock.now()

        async def op(conn: AsyncConnection) -> str:
            await conn.execute(
                insert(conn, t.WebSecret).values(name=name, value=fresh, created_at=now)
                .on_conflict_do_nothing())
            stored = await conn.scalar(select(t.WebSecret.value).where(t.WebSecret.name == name))
            return str(stored)

        return str(await self._writer.submit(op, "web-secret"))

"""Drivers: users with the driver role who own id tokens, and what they may see.

Everything here is scoped to one driver's tokens: a session, receipt or total belongs to a
driver when its id token is one of theirs. Anything else is "not found", never
"forbidden", so a driver cannot learn that another driver's session exists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.services.errors import NotFoundError
from evcsms.services.tariffs import site_zone
from evcsms.services.users import UserRole, UserService
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter


@dataclass(frozen=True, slots=True)
class MonthTotal:
    month: str  # YYYY-MM, in the site's local time of the session's end
    currency: str
    sessions: int
    energy_kwh: Decimal
    total_excl_vat: Decimal
    total_incl_vat: Decimal


class DriverService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock,
                 users: UserService) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock
        self._users = users

    async def create(self, name: str, tokens: list[str]) -> str:
        """A driver owning `tokens` (which must exist); returns their API token, once."""
        async with self._engine.connect() as conn:
            known = set((await conn.execute(
                select(t.IdToken.token).where(t.IdToken.token.in_(tokens)))).scalars())
        missing = [tok for tok in tokens if tok not in known]
        if missing:
            raise NotFoundError(f"id token(s) {', '.join(missing)} do not exist; add them first")
        api_token = await self._users.create(name, UserRole.DRIVER)
        for token in tokens:
            await self.link(name, token)
        return api_token

    async def link(self, name: str, token: str) -> None:
        """Give `token` to driver `name` (taking it from whoever had it)."""

        async def op(conn: AsyncConnection) -> None:
            user_id = await conn.scalar(select(t.User.id).where(
                t.User.name == name, t.User.role == UserRole.DRIVER.value))
            if user_id is None:
                raise NotFoundError(f"driver {name!r} does not exist")
            result = await conn.execute(update(t.IdToken).where(t.IdToken.token == token)
                                        .values(owner_user_id=user_id))
            if not result.rowcount:
                raise NotFoundError(f"id token {token!r} does not exist")

        await self._writer.submit(op, "driver-link")

    async def user_id(self, name: str) -> int:
        async with self._engine.connect() as conn:
            user_id = await conn.scalar(select(t.User.id).where(
                t.User.name == name, t.User.role == UserRole.DRIVER.value))
        if user_id is None:
            raise NotFoundError(f"driver {name!r} does not exist")
        return int(user_id)

    async def tokens(self, user_id: int) -> list[str]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(
                select(t.IdToken.token).where(t.IdToken.owner_user_id == user_id)
                .order_by(t.IdToken.token))).scalars())

    async def sessions(self, user_id: int, *, limit: int, offset: int) -> tuple[list[Any], int]:
        """The driver's sessions, newest first, each with its current CDR total if any."""
        mine = select(t.IdToken.token).where(t.IdToken.owner_user_id == user_id)
        where = t.ChargingSession.id_token.in_(mine)
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(
                select(func.count()).select_from(t.ChargingSession).where(where)) or 0)
            rows = (await conn.execute(
                select(t.ChargingSession).where(where)
                .order_by(t.ChargingSession.started_at.desc(), t.ChargingSession.id.desc())
                .limit(limit).offset(offset))).all()
            cdrs = {r.session_id: r for r in (await conn.execute(
                select(t.Cdr).where(t.Cdr.session_id.in_([row.id for row in rows]),
                                    t.Cdr.credit.is_(False), t.Cdr.superseded.is_(False))))}
        return [(row, cdrs.get(row.id)) for row in rows], total

    async def owns_session(self, user_id: int, session_id: int) -> bool:
        async with self._engine.connect() as conn:
            owner = await conn.scalar(
                select(t.IdToken.owner_user_id)
                .join(t.ChargingSession, t.ChargingSession.id_token == t.IdToken.token)
                .where(t.ChargingSession.id == session_id))
        return owner == user_id

    async def require_session(self, user_id: int, session_id: int) -> None:
        if not await self.owns_session(user_id, session_id):
            raise NotFoundError(f"session {session_id} not found")

    async def monthly(self, user_id: int, year: int | None = None) -> list[MonthTotal]:
        """Totals per month (and currency) from the driver's issued CDRs, credits included,
        so a corrected session counts once, at its corrected price."""
        mine = select(t.IdToken.token).where(t.IdToken.owner_user_id == user_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(t.Cdr.session_id, t.Cdr.credit, t.Cdr.currency, t.Cdr.total_excl_vat,
                       t.Cdr.total_incl_vat, t.Cdr.total_energy_kwh, t.Cdr.end_date_time,
                       t.ChargingSession.station_id)
                .join(t.ChargingSession, t.ChargingSession.id == t.Cdr.session_id)
                .where(t.ChargingSession.id_token.in_(mine)))).all()
            zones = {station: await site_zone(conn, station) for station in {r.station_id for r in rows}}
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for r in rows:
            month = r.end_date_time.astimezone(zones[r.station_id]).strftime("%Y-%m")
            if year is None or month.startswith(f"{year:04d}-"):
                groups[(month, r.currency)].append(r)
        out = []
        for (month, currency), cdrs in sorted(groups.items()):
            sign = [(-1 if c.credit else 1) for c in cdrs]
            out.append(MonthTotal(
                month=month, currency=currency,
                sessions=len({c.session_id for c in cdrs}),
                energy_kwh=sum((Decimal(c.total_energy_kwh) * s for c, s in zip(cdrs, sign,
                                                                                strict=True)),
                               Decimal(0)),
                total_excl_vat=sum((Decimal(c.total_excl_vat) for c in cdrs), Decimal(0)),
                total_incl_vat=sum((Decimal(c.total_incl_vat) for c in cdrs), Decimal(0)),
            ))
        return out


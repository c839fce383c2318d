"""Tariffs: stored as versioned OCPI JSON, assigned to where they apply, chosen per session.

A tariff is identified by its OCPI `id`. Storing a tariff whose content differs from its
latest version adds a version; an identical one changes nothing. Versions are never
altered or deleted, and a session records the version it started with, so a later change
never alters a session's price.

Which tariff applies to a session, first match wins:
  1. the id token's group (`scope` "group", the token's group_id),
  2. the station (`scope` "station"),
  3. the station's site (`scope` "site"),
  4. the fleet default (`scope` "default").
An assigned tariff whose latest version is outside its validity period (OCPI
start_date_time / end_date_time) at that moment is skipped.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.domain import jsontext
from evcsms.domain.clock import Clock
from evcsms.domain.tariffs import Tariff, TariffError, parse_tariff, tariff_to_ocpi
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.signatures import valid_key
from evcsms.storage import tables as t
from evcsms.storage.dialect import insert
from evcsms.storage.writer import BatchWriter

SCOPES = ("group", "station", "site", "default")


@dataclass(frozen=True, slots=True)
class StoredTariff:
    row_id: int  # tariff_versions.id, what a session records
    tariff_id: str
    version: int
    created_at: datetime
    tariff: Tariff

    def ocpi(self) -> dict[str, Any]:
        return tariff_to_ocpi(self.tariff)


@dataclass(frozen=True, slots=True)
class Choice:
    scope: str
    scope_id: str
    tariff: StoredTariff


def load_ocpi(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return data


def _stored(row: Any) -> StoredTariff:
    return StoredTariff(int(row.id), row.tariff_id, int(row.version), row.created_at,
                        parse_tariff(load_ocpi(row.ocpi)))


async def tariff_version(conn: AsyncConnection, row_id: int) -> StoredTariff | None:
    row = (await conn.execute(select(t.TariffVersion).where(t.TariffVersion.id == row_id))).first()
    return None if row is None else _stored(row)


async def latest_version(conn: AsyncConnection, tariff_id: str) -> StoredTariff | None:
    row = (await conn.execute(
        select(t.TariffVersion).where(t.TariffVersion.tariff_id == tariff_id)
        .order_by(t.TariffVersion.version.desc()).limit(1)
    )).first()
    return None if row is None else _stored(row)


async def choose_tariff(
    conn: AsyncConnection, station_id: str, id_token: str | None, at: datetime
) -> Choice | None:
    """The tariff that applies to a session starting `at` (see the module doc)."""
    candidates: list[tuple[str, str]] = []
    if id_token:
        group = await conn.scalar(select(t.IdToken.group_id).where(t.IdToken.token == id_token))
        if group:
            candidates.append(("group", group))
    candidates.append(("station", station_id))
    site = await conn.scalar(select(t.Station.site_id).where(t.Station.id == station_id))
    if site:
        candidates.append(("site", site))
    candidates.append(("default", ""))
    rows = {
        (r.scope, r.scope_id): r.tariff_id
        for r in await conn.execute(select(t.TariffAssignment))
        if (r.scope, r.scope_id) in set(candidates)
    }
    for key in candidates:
        tariff_id = rows.get(key)
        if tariff_id is None:
            continue
        stored = await latest_version(conn, tariff_id)
        if stored is not None and stored.tariff.valid_at(at):
            return Choice(key[0], key[1], stored)
    return None


async def site_zone(conn: AsyncConnection, station_id: str) -> ZoneInfo:
    """The time zone of the station's site (UTC when it has none)."""
    name = await conn.scalar(
        select(t.Site.time_zone).join(t.Station, t.Station.site_id == t.Site.id)
        .where(t.Station.id == station_id)
    )
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class TariffService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, clock: Clock) -> None:
        self._engine = engine
        self._writer = writer
        self._clock = clock

    # -- tariffs ------------------------------------------------------------------------------

    async def put(self, data: Any, *, tariff_id: str | None = None) -> tuple[StoredTariff, bool]:
        """Store an OCPI tariff; (the latest version, whether this call added it).

        InvalidInputError names the field when the tariff is not valid OCPI 2.2.1.
        """
        if tariff_id is not None and isinstance(data, dict):
            if data.get("id") not in (None, tariff_id):
                raise InvalidInputError(
                    f"id: {data.get('id')!r} differs from the tariff id in the path ({tariff_id!r})")
            data = {**data, "id": tariff_id}
        try:
            tariff = parse_tariff(data)
        except TariffError as exc:
            raise InvalidInputError(str(exc)) from None
        text = jsontext.dumps(tariff_to_ocpi(tariff), indent=None)
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> tuple[StoredTariff, bool]:
            latest = await latest_version(conn, tariff.id)
            if latest is not None and _same(latest.tariff, tariff):
                return latest, False
            version = 1 if latest is None else latest.version + 1
            await conn.execute(t.table_of(t.TariffVersion).insert().values(
                tariff_id=tariff.id, version=version, currency=tariff.currency, ocpi=text,
                created_at=now))
            stored = await latest_version(conn, tariff.id)
            assert stored is not None
            return stored, True

        return await self._writer.submit(op, "tariff-put")

    async def get(self, tariff_id: str, version: int | None = None) -> StoredTariff:
        async with self._engine.connect() as conn:
            if version is None:
                stored = await latest_version(conn, tariff_id)
            else:
                row = (await conn.execute(select(t.TariffVersion).where(
                    t.TariffVersion.tariff_id == tariff_id, t.TariffVersion.version == version,
                ))).first()
                stored = None if row is None else _stored(row)
        if stored is None:
            what = f"tariff {tariff_id!r}" + (f" version {version}" if version else "")
            raise NotFoundError(f"{what} does not exist")
        return stored

    async def versions(self, tariff_id: str) -> builtins.list[StoredTariff]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(t.TariffVersion).where(t.TariffVersion.tariff_id == tariff_id)
                .order_by(t.TariffVersion.version)
            )).all()
        if not rows:
            raise NotFoundError(f"tariff {tariff_id!r} does not exist")
        return [_stored(r) for r in rows]

    async def list(self, *, limit: int, offset: int) -> tuple[list[StoredTariff], int]:
        """The latest version of every tariff, by id."""
        latest = (
            select(t.TariffVersion.tariff_id, func.max(t.TariffVersion.version).label("v"))
            .group_by(t.TariffVersion.tariff_id).subquery()
        )
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(latest)) or 0)
            rows = (await conn.execute(
                select(t.TariffVersion).join(latest, (t.TariffVersion.tariff_id == latest.c.tariff_id)
                                             & (t.TariffVersion.version == latest.c.v))
                .order_by(t.TariffVersion.tariff_id).limit(limit).offset(offset)
            )).all()
        return [_stored(r) for r in rows], total

    # -- assignments --------------------------------------------------------------------------

    async def assign(self, scope: str, scope_id: str, tariff_id: str) -> Any:
        scope_id = _check_scope(scope, scope_id)
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> Any:
            if await latest_version(conn, tariff_id) is None:
                raise NotFoundError(f"tariff {tariff_id!r} does not exist; store it first")
            if scope == "station" and await conn.scalar(
                    select(t.Station.id).where(t.Station.id == scope_id)) is None:
                raise NotFoundError(f"station {scope_id!r} does not exist")
            if scope == "site" and await conn.scalar(
                    select(t.Site.id).where(t.Site.id == scope_id)) is None:
                raise NotFoundError(f"site {scope_id!r} does not exist")
            stmt = insert(conn, t.TariffAssignment).values(
                scope=scope, scope_id=scope_id, tariff_id=tariff_id, created_at=now,
                updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["scope", "scope_id"],
                set_={"tariff_id": tariff_id, "updated_at": now}))
            return (await conn.execute(select(t.TariffAssignment).where(
                t.TariffAssignment.scope == scope, t.TariffAssignment.scope_id == scope_id,
            ))).one()

        return await self._writer.submit(op, "tariff-assign")

    async def unassign(self, scope: str, scope_id: str) -> None:
        scope_id = _check_scope(scope, scope_id)

        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(delete(t.TariffAssignment).where(
                t.TariffAssignment.scope == scope, t.TariffAssignment.scope_id == scope_id,
            ))).rowcount)

        if not await self._writer.submit(op, "tariff-unassign"):
            raise NotFoundError(f"no tariff is assigned to {scope} {scope_id!r}".replace(" ''", ""))

    async def assignments(self) -> builtins.list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(
                select(t.TariffAssignment).order_by(t.TariffAssignment.scope,
                                                    t.TariffAssignment.scope_id)
            )).all())

    async def choose(self, station_id: str, id_token: str | None = None) -> Choice | None:
        async with self._engine.connect() as conn:
            if await conn.scalar(select(t.Station.id).where(t.Station.id == station_id)) is None:
                raise NotFoundError(f"station {station_id!r} does not exist")
            return await choose_tariff(conn, station_id, id_token, self._clock.now())

    # -- sites ----------------------------------------------------------------------------------

    async def put_site(self, site_id: str, *, name: str | None, time_zone: str | None) -> Any:
        if not site_id or len(site_id) > 48 or "/" in site_id:
            raise InvalidInputError("site id: 1 to 48 characters without '/'")
        if time_zone is not None:
            try:
                ZoneInfo(time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise InvalidInputError(
                    f"time_zone: {time_zone!r} is not an IANA time zone (e.g. Europe/Amsterdam)"
                ) from None
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> Any:
            changes = {k: v for k, v in (("name", name), ("time_zone", time_zone)) if v is not None}
            stmt = insert(conn, t.Site).values(
                id=site_id, name=name or "", time_zone=time_zone or "UTC", created_at=now,
                updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(
                index_elements=["id"], set_={**changes, "updated_at": now}))
            return (await conn.execute(select(t.Site).where(t.Site.id == site_id))).one()

        return await self._writer.submit(op, "site-put")

    async def sites(self) -> builtins.list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(select(t.Site).order_by(t.Site.id))).all())

    async def site(self, site_id: str) -> Any:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(t.Site).where(t.Site.id == site_id))).first()
        if row is None:
            raise NotFoundError(f"site {site_id!r} does not exist")
        return row

    async def set_meter_key(self, station_id: str, key_hex: str | None) -> None:
        """The public key the station's meter signs with (hex DER), or None to remove it."""
        if key_hex is not None:
            key_hex = key_hex.strip().lower()
            if not valid_key(key_hex):
                raise InvalidInputError(
                    "public_key: not an EC public key in hex DER (SubjectPublicKeyInfo)")

        async def op(conn: AsyncConnection) -> None:
            result = await conn.execute(t.table_of(t.Station).update().where(
                t.Station.id == station_id).values(meter_public_key=key_hex,
                                                   updated_at=self._clock.now()))
            if not result.rowcount:
                raise NotFoundError(f"station {station_id!r} does not exist")

        await self._writer.submit(op, "station-meter-key")

    async def set_cost_updates(self, station_id: str, enabled: bool) -> None:
        """Whether running costs are pushed to the station (see services.live_cost)."""

        async def op(conn: AsyncConnection) -> None:
            result = await conn.execute(t.table_of(t.Station).update().where(
                t.Station.id == station_id).values(cost_updates=enabled,
                                                   updated_at=self._clock.now()))
            if not result.rowcount:
                raise NotFoundError(f"station {station_id!r} does not exist")

        await self._writer.submit(op, "station-cost-updates")

    async def place_station(self, station_id: str, site_id: str | None) -> None:
        """Put a station on a site (None: on none)."""

        async def op(conn: AsyncConnection) -> None:
            if site_id is not None and await conn.scalar(
                    select(t.Site.id).where(t.Site.id == site_id)) is None:
                raise NotFoundError(f"site {site_id!r} does not exist")
            result = await conn.execute(t.table_of(t.Station).update().where(
                t.Station.id == station_id).values(site_id=site_id, updated_at=self._clock.now()))
            if not result.rowcount:
                raise NotFoundError(f"station {station_id!r} does not exist")

        await self._writer.submit(op, "station-site")


def _same(a: Tariff, b: Tariff) -> bool:
    """Equal pricing and equal OCPI extras, `last_updated` aside."""
    strip = {"last_updated"}
    return a == b and {k: v for k, v in a.extra.items() if k not in strip} == {
        k: v for k, v in b.extra.items() if k not in strip}


def _check_scope(scope: str, scope_id: str) -> str:
    if scope not in SCOPES:
        raise InvalidInputError(f"scope: {scope!r} is not one of {', '.join(SCOPES)}")
    if scope == "default":
        if scope_id:
            raise InvalidInputError("scope_id: the default scope takes no id")
        return ""
    if not scope_id:
        raise InvalidInputError(f"scope_id: required for scope {scope!r}")
    return scope_id


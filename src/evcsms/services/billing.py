"""A session's cost: its stored meter readings priced with the tariff version it started with.

The usage handed to the pricing engine is built from the session's register readings:
- the session runs from `started_at` to `stopped_at` (or now, for a live cost);
- between consecutive register readings the energy is the register's rise (a fall counts
  as nothing), then every interval is scaled so the session's energy adds up to
  `energy_wh`, the figure the metering rules settled on (offline baseline, resets); for
  a running session that figure is worked out from the samples read here, since the
  stored one may be a few seconds behind (`services.meter_sink`);
- the time after the last rise of the register is *parking* (the car is connected but
  takes no more energy); before it, every interval is *charging*, pauses included (a
  pause the station or the grid imposed is not the driver's idle time);
- an interval's power is its energy over its duration; its current the highest sum of
  the Current.Import phases sampled in it (none sampled: unknown, so current
  restrictions do not hold).
"""

from __future__ import annotations

import asyncio
import builtins
import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain import jsontext
from evcsms.domain.cdrs import SessionFacts, build_cdr, cdr_id, credit_of
from evcsms.domain.clock import Clock
from evcsms.domain.metering import REGISTER, register_readings, session_energy
from evcsms.domain.model import SessionStatus
from evcsms.domain.money import show
from evcsms.domain.pricing import Quote, State, Usage, UsagePeriod, price_session
from evcsms.domain.tariffs import parse_datetime
from evcsms.services.errors import NotFoundError
from evcsms.services.meter_store import StoredSample, stored_samples
from evcsms.services.periodic import Periodic
from evcsms.services.signatures import verify_stored
from evcsms.services.tariffs import StoredTariff, load_ocpi, site_zone, tariff_version
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)

CURRENT = "Current.Import"


@dataclass(frozen=True, slots=True)
class SessionCost:
    session_id: int
    final: bool  # False while the session runs: a cost so far
    tariff: StoredTariff
    time_zone: str
    usage: Usage
    quote: Quote
    energy_wh: Decimal  # the energy priced


def session_usage(row: Any, samples: list[StoredSample], until: datetime,
                  energy_wh: Decimal | None = None) -> Usage:
    """The usage of a session row (see the module doc); `energy_wh` instead of the row's."""
    start = row.started_at
    end = max(until, start)
    total_wh = Fraction(Decimal(row.energy_wh if energy_wh is None else energy_wh))
    registers = [(at, wh) for at, wh in register_readings(s.sampled_value() for s in samples
                                                          if s.measurand == REGISTER)
                 if start <= at <= end]
    points: list[tuple[datetime, Fraction]] = []  # (time, energy since the previous point)
    previous: Decimal | None = None
    if row.meter_start_wh is not None:
        previous = Decimal(row.meter_start_wh)
    for at, wh in registers:
        if previous is not None:
            points.append((at, Fraction(max(wh - previous, Decimal(0)))))
        previous = wh
    if row.stopped_at is not None and row.meter_stop_wh is not None and previous is not None:
        points.append((end, Fraction(max(Decimal(row.meter_stop_wh) - previous, Decimal(0)))))
    points = [(at, e) for at, e in points if start < at <= end]
    rise = sum((e for _, e in points), Fraction(0))
    if rise <= 0:  # nothing to spread: all the energy in one charging period
        return Usage(start, end, (UsagePeriod(start, _kwh(total_wh), State.CHARGING),))
    scale = total_wh / rise
    last_rise = max(at for at, e in points if e > 0)
    currents = _currents(samples)
    periods = []
    cursor = start
    for at, energy in points:
        if at <= cursor or at > last_rise:
            continue  # a repeated timestamp; or after the last rise: parking
        periods.append(_period(cursor, at, energy * scale, currents))
        cursor = at
    if cursor < end:
        periods.append(UsagePeriod(cursor, Decimal(0), State.PARKING))
    return Usage(start, end, tuple(periods))


def _period(a: datetime, b: datetime, wh: Fraction,
            currents: list[tuple[datetime, Decimal]]) -> UsagePeriod:
    hours = Fraction(int((b - a).total_seconds() * 1000), 3_600_000)
    power = _kw(wh / hours) if hours > 0 else None
    inside = [amps for at, amps in currents if a < at <= b]
    return UsagePeriod(a, _kwh(wh), State.CHARGING, power, max(inside) if inside else None)


def _currents(samples: list[StoredSample]) -> list[tuple[datetime, Decimal]]:
    """Per timestamp, the current summed over L1-L3 (or the total when no phase)."""
    by_time: dict[datetime, dict[str, Decimal]] = {}
    for s in samples:
        if s.measurand == CURRENT and s.phase in ("", "L1", "L2", "L3"):
            by_time.setdefault(s.timestamp, {})[s.phase] = s.value
    out = []
    for at, phases in sorted(by_time.items()):
        out.append((at, phases[""] if "" in phases else sum(phases.values(), Decimal(0))))
    return out


def _kwh(wh: Fraction) -> Decimal:
    return (Decimal(wh.numerator) / Decimal(wh.denominator) / 1000)


def _kw(w: Fraction) -> Decimal:
    return (Decimal(w.numerator) / Decimal(w.denominator) / 1000).quantize(Decimal("0.001"))


class BillingService:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def session_cost(self, session_id: int) -> SessionCost | None:
        """The session's cost (so far, while it runs); None when it has no tariff."""
        async with self._engine.connect() as conn:
            return await cost_in(conn, session_id, self._clock.now())


async def cost_in(conn: AsyncConnection, session_id: int, now: datetime) -> SessionCost | None:
    row = (await conn.execute(
        select(t.ChargingSession).where(t.ChargingSession.id == session_id))).first()
    if row is None or row.tariff_version_id is None:
        return None
    tariff = await tariff_version(conn, row.tariff_version_id)
    if tariff is None:
        return None
    zone = await site_zone(conn, row.station_id)
    samples = await stored_samples(conn, session_id)
    until = row.stopped_at or now
    energy = Decimal(row.energy_wh)
    if row.stopped_at is None:  # running: the stored energy may lag the samples
        energy = session_energy(
            (s.sampled_value() for s in samples if s.measurand == REGISTER),
            meter_start_wh=row.meter_start_wh, started_at=row.started_at,
            offline_start=row.offline_start).energy_wh
    usage = session_usage(row, samples, until, energy)
    quote = price_session(tariff.tariff, usage, zone)
    return SessionCost(session_id, row.stopped_at is not None, tariff, str(zone), usage, quote,
                       energy)


# -- CDRs ---------------------------------------------------------------------------------------


class CdrService:
    """Issues one OCPI CDR per finished session (idempotent), credits and re-issues.

    A CDR is issued when the session's end is heard on the bus; since events are at most
    once (a NATS outage, a failover of this singleton), every `catch_up` seconds, and at
    start, it also issues any a finished session is still missing."""

    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock, *,
                 country_code: str, party_id: str, catch_up: float = 300.0) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._country_code = country_code
        self._party_id = party_id
        self._subscription: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._catch_up = Periodic("cdr-catch-up", catch_up, self.issue_missing)

    async def start(self) -> None:
        """Issue CDRs for sessions that end from now on, and for any finished session that
        has none yet (a node that stopped between the two)."""
        self._subscription = await self._bus.subscribe("events.session.ended", self._on_ended)
        task = asyncio.create_task(self.issue_missing(), name="cdr-backlog")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._catch_up.start()

    async def close(self) -> None:
        await self._catch_up.close()
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_ended(self, _subject: str, message: dict[str, Any]) -> None:
        try:
            await self.issue(int(message["session_id"]))
        except Exception:
            log.exception("issuing the CDR of session %s failed", message.get("session_id"))

    async def issue_missing(self) -> int:
        async with self._engine.connect() as conn:
            ids = (await conn.execute(
                select(t.ChargingSession.id).where(
                    t.ChargingSession.status == SessionStatus.COMPLETED.value,
                    ~select(t.Cdr.id).where(t.Cdr.session_id == t.ChargingSession.id).exists(),
                ).order_by(t.ChargingSession.id)
            )).scalars().all()
        for session_id in ids:
            await self.issue(int(session_id))
        return len(ids)

    async def issue(self, session_id: int) -> dict[str, Any] | None:
        """The session's CDR, issued now if it has none; None while the session runs."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> dict[str, Any] | None:
            current = await _current_cdr(conn, session_id)
            if current is not None:
                return load_ocpi(current.ocpi)
            document = await self._document(conn, session_id, now, revision=0)
            if document is not None:
                await _store_cdr(conn, session_id, document, now)
            return document

        return await self._writer.submit(op, "cdr-issue")

    async def correct(self, session_id: int, reason: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Credit the session's current CDR and issue a new one from the data as it is now
        (late meter values, a fixed station clock, ...): (credit, new CDR)."""
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> tuple[dict[str, Any], dict[str, Any]]:
            current = await _current_cdr(conn, session_id)
            if current is None:
                raise NotFoundError(f"session {session_id} has no CDR yet")
            revisions = int(await conn.scalar(select(func.count()).select_from(t.Cdr).where(
                t.Cdr.session_id == session_id, t.Cdr.credit.is_(True))) or 0) + 1
            credit = credit_of(load_ocpi(current.ocpi),
                               cdr_id=cdr_id(session_id, revisions, credit=True),
                               issued_at=now, reason=reason)
            await conn.execute(update(t.Cdr).where(t.Cdr.id == current.id).values(superseded=True))
            await _store_cdr(conn, session_id, credit, now, credit=True)
            fresh = await self._document(conn, session_id, now, revision=revisions)
            if fresh is None:
                raise NotFoundError(f"session {session_id} is not finished")
            await _store_cdr(conn, session_id, fresh, now)
            return credit, fresh

        return await self._writer.submit(op, "cdr-correct")

    async def get(self, session_id: int) -> dict[str, Any]:
        async with self._engine.connect() as conn:
            current = await _current_cdr(conn, session_id)
        if current is None:
            raise NotFoundError(f"session {session_id} has no CDR (it runs, or is unknown)")
        return load_ocpi(current.ocpi)

    async def list(self, *, issued_from: datetime | None, issued_to: datetime | None,
                   limit: int, offset: int) -> tuple[builtins.list[dict[str, Any]], int]:
        """CDRs (credits included) issued in [issued_from, issued_to), oldest first."""
        where = []
        if issued_from is not None:
            where.append(t.Cdr.issued_at >= issued_from)
        if issued_to is not None:
            where.append(t.Cdr.issued_at < issued_to)
        async with self._engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(t.Cdr).where(*where))
                        or 0)
            rows = (await conn.execute(select(t.Cdr.ocpi).where(*where).order_by(t.Cdr.id)
                                       .limit(limit).offset(offset))).scalars().all()
        return [load_ocpi(text) for text in rows], total

    async def _document(self, conn: AsyncConnection, session_id: int, now: datetime, *,
                        revision: int) -> dict[str, Any] | None:
        row = (await conn.execute(
            select(t.ChargingSession).where(t.ChargingSession.id == session_id))).first()
        if row is None or row.stopped_at is None:
            return None
        cost = await cost_in(conn, session_id, now)
        token_type = await conn.scalar(select(t.IdToken.type).where(t.IdToken.token == row.id_token))
        site = (await conn.execute(
            select(t.Site.id, t.Site.name).join(t.Station, t.Station.site_id == t.Site.id)
            .where(t.Station.id == row.station_id))).first()
        samples = await stored_samples(conn, session_id)
        facts = SessionFacts(
            country_code=self._country_code, party_id=self._party_id, session_id=session_id,
            station_id=row.station_id, evse_id=row.evse_id, connector_id=row.connector_id,
            id_token=row.id_token, token_type=token_type,
            authorized=row.auth_status == "Accepted", site_id=site.id if site else None,
            site_name=site.name if site else None, start=row.started_at,
            end=max(row.stopped_at, row.started_at),
            energy_kwh=show(Fraction(Decimal(row.energy_wh)) / 1000, 4),
            signed=_signed_values(samples),
            public_key=await conn.scalar(select(t.Station.meter_public_key).where(
                t.Station.id == row.station_id)),
        )
        document = build_cdr(
            facts, cost.quote if cost else None, cost.tariff.ocpi() if cost else None,
            cost.tariff.tariff_id if cost else None, cdr_id=cdr_id(session_id, revision),
            issued_at=now,
        )
        if facts.signed:
            verdicts = [verify_stored(v["signed_data"], facts.public_key).status
                        for v in facts.signed]
            document["remark"] = (
                f"signed meter values: {len(verdicts)}, verified {verdicts.count('verified')}"
                + "".join(f", {status} {verdicts.count(status)}"
                          for status in sorted(set(verdicts) - {"verified"})))
        return document


def _signed_values(samples: builtins.list[StoredSample]) -> builtins.list[dict[str, Any]]:
    signed = [s for s in samples if s.signed_data]
    out = []
    for i, s in enumerate(signed):
        nature = "Start" if i == 0 else "End" if i == len(signed) - 1 else "Intermediate"
        out.append({"nature": nature, "plain_data": format(s.value, "f"),
                    "signed_data": s.signed_data})
    return out


async def _current_cdr(conn: AsyncConnection, session_id: int) -> Any:
    return (await conn.execute(
        select(t.Cdr).where(t.Cdr.session_id == session_id, t.Cdr.credit.is_(False),
                            t.Cdr.superseded.is_(False))
        .order_by(t.Cdr.id.desc()).limit(1))).first()


async def _store_cdr(conn: AsyncConnection, session_id: int, document: dict[str, Any],
                     now: datetime, *, credit: bool = False) -> None:
    total = document["total_cost"]
    # the next invoice number, in the writer's transaction: sequential, and a failed
    # transaction takes its number with it, so there are no gaps
    number = int(await conn.scalar(select(func.max(t.Cdr.invoice_number))) or 0) + 1
    await conn.execute(t.table_of(t.Cdr).insert().values(
        cdr_id=document["id"], invoice_number=number, session_id=session_id, credit=credit,
        credit_reference_id=document.get("credit_reference_id"), superseded=False,
        currency=document["currency"], total_excl_vat=Decimal(total["excl_vat"]),
        total_incl_vat=Decimal(total["incl_vat"]),
        total_energy_kwh=Decimal(document["total_energy"]),
        start_date_time=document_time(document["start_date_time"]),
        end_date_time=document_time(document["end_date_time"]),
        issued_at=now, ocpi=jsontext.dumps(document, indent=None),
    ))


def document_time(text: str) -> datetime:
    return parse_datetime(text, "cdr")


# -- CDR export ---------------------------------------------------------------------------------

CSV_COLUMNS = ("id", "session_id", "credit", "credit_reference_id", "start_date_time",
               "end_date_time", "currency", "total_energy", "total_time", "total_parking_time",
               "total_cost_excl_vat", "total_cost_incl_vat", "total_energy_cost_excl_vat",
               "total_time_cost_excl_vat", "total_parking_cost_excl_vat",
               "total_fixed_cost_excl_vat", "evse_uid", "token_uid", "last_updated")


async def cdrs_csv(cdrs: CdrService, *, issued_from: datetime | None,
                   issued_to: datetime | None) -> str:
    """The CDRs (credits included) issued in [issued_from, issued_to) as CSV, one line
    each, oldest first: what /api/v1/cdrs.csv and the dashboard's export download."""
    items, _ = await cdrs.list(issued_from=issued_from, issued_to=issued_to,
                               limit=1_000_000, offset=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cdr in items:
        writer.writerow([_csv_value(cdr, column) for column in CSV_COLUMNS])
    return out.getvalue()


def _csv_value(cdr: dict[str, Any], column: str) -> str:
    if column == "evse_uid":
        return str(cdr.get("cdr_location", {}).get("evse_uid", ""))
    if column == "token_uid":
        return str(cdr.get("cdr_token", {}).get("uid", ""))
    for suffix in ("_excl_vat", "_incl_vat"):
        if column.endswith(suffix) and column.removesuffix(suffix) in cdr:
            value = cdr[column.removesuffix(suffix)].get(suffix[1:])
            return "" if value is None else format(Decimal(value), "f")
    value = cdr.get(column)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value).lower() if isinstance(value, bool) else str(value)

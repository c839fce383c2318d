"""Receipts: one per CDR (credits are credit notes), as HTML and PDF.

A receipt shows what a driver needs to check the price by hand: where and when (in the
site's local time), the meter readings at start and stop, the energy and the duration,
every price component with its rate and VAT, the totals, and how to verify signed meter
data. Its number is the CDR's invoice number: sequential without gaps for the operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jinja2
from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.domain.cdr_usage import usage_from_cdr
from evcsms.domain.money import minor_units, round_money, show
from evcsms.domain.pricing import Line, price_session
from evcsms.domain.tariffs import parse_tariff
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.signatures import verify_stored
from evcsms.services.tariffs import load_ocpi, site_zone, tariff_version
from evcsms.storage import tables as t

DIMENSION_TEXT = {"FLAT": "Start fee", "ENERGY": "Energy", "TIME": "Charging time",
                  "PARKING_TIME": "Parking time (connected, not charging)"}
UNIT_TEXT = {"FLAT": "session", "ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h"}

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("evcsms", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


@dataclass
class ReceiptLine:
    description: str
    quantity: Decimal
    unit: str
    rate: str  # excl. VAT, per unit
    vat: str
    amount_excl: str
    amount_incl: str
    value_excl: Decimal  # the rounded amount, for adding up


@dataclass
class Receipt:
    number: str
    kind: str  # "Receipt" or "Credit note"
    cdr_id: str
    issued: str
    operator: str
    site: str
    station: str
    evse: str
    token: str
    time_zone: str
    start: str
    stop: str
    duration: str
    meter_start_kwh: str
    meter_stop_kwh: str
    energy_kwh: str
    currency: str
    lines: list[ReceiptLine] = field(default_factory=list)
    total_excl: str = ""
    total_incl: str = ""
    vat_amount: str = ""
    notes: list[str] = field(default_factory=list)
    signed_values: int = 0
    signatures: list[tuple[str, str, str]] = field(default_factory=list)  # nature, status, why


class ReceiptService:
    def __init__(self, engine: AsyncEngine, *, operator: str) -> None:
        self._engine = engine
        self._operator = operator

    async def statement(self, user_id: int, driver: str, month: str) -> Statement:
        return await statement(self._engine, self._operator, user_id, driver, month)

    async def receipt(self, session_id: int) -> Receipt:
        async with self._engine.connect() as conn:
            session = (await conn.execute(select(t.ChargingSession).where(
                t.ChargingSession.id == session_id))).first()
            cdr_row = (await conn.execute(
                select(t.Cdr).where(t.Cdr.session_id == session_id, t.Cdr.credit.is_(False),
                                    t.Cdr.superseded.is_(False))
                .order_by(t.Cdr.id.desc()).limit(1))).first()
            if session is None or cdr_row is None:
                raise NotFoundError(f"session {session_id} has no receipt yet (it has no CDR)")
            zone = await site_zone(conn, session.station_id)
            version = (await tariff_version(conn, session.tariff_version_id)
                       if session.tariff_version_id else None)
            key = await conn.scalar(select(t.Station.meter_public_key).where(
                t.Station.id == session.station_id))
        cdr = load_ocpi(cdr_row.ocpi)
        currency = cdr["currency"]
        # the lines come from the CDR itself (its tariff snapshot and charging periods), so
        # the receipt agrees with what was issued even if meter data arrived later
        quote = (price_session(parse_tariff(cdr["tariffs"][0]), usage_from_cdr(cdr), zone)
                 if cdr["tariffs"] else None)

        def money(value: Any) -> str:
            return f"{Decimal(value):,.{minor_units(currency)}f} {currency}"

        def local(at: datetime) -> str:
            return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

        stop = session.stopped_at or session.started_at
        seconds = int((stop - session.started_at).total_seconds())
        receipt = Receipt(
            number=f"{self._operator}-{cdr_row.invoice_number:06d}", kind="Receipt",
            cdr_id=cdr_row.cdr_id, issued=local(cdr_row.issued_at), operator=self._operator,
            site=cdr["cdr_location"].get("name", ""), station=session.station_id,
            evse=cdr["cdr_location"].get("evse_id", ""), token=_masked(session.id_token),
            time_zone=str(zone), start=local(session.started_at), stop=local(stop),
            duration=f"{seconds // 3600} h {seconds % 3600 // 60:02d} min",
            meter_start_kwh=_kwh(session.meter_start_wh), meter_stop_kwh=_kwh(session.meter_stop_wh),
            energy_kwh=f"{Decimal(cdr['total_energy']):,.3f} kWh", currency=currency,
            total_excl=money(cdr["total_cost"]["excl_vat"]),
            total_incl=money(cdr["total_cost"]["incl_vat"]),
            vat_amount=money(Decimal(cdr["total_cost"]["incl_vat"])
                             - Decimal(cdr["total_cost"]["excl_vat"])),
            signed_values=len(cdr.get("signed_data", {}).get("signed_values", [])),
        )
        if quote is not None:
            every = [ln for p in quote.pieces for ln in p.lines] + list(quote.step_lines)
            if quote.flat is not None:
                every.insert(0, quote.flat)
            receipt.lines = _grouped(every, money, currency)
            shown = sum((ln.value_excl for ln in receipt.lines), Decimal(0))
            if quote.limited_by:
                receipt.notes.append(
                    f"The tariff's {quote.limited_by.replace('_', ' ')} applies: the total is "
                    f"{receipt.total_excl} excl. VAT instead of the sum of the lines.")
            elif shown != Decimal(cdr["total_cost"]["excl_vat"]):
                receipt.notes.append("Lines are rounded one by one; the total is rounded once "
                                     "from the exact amounts, so they may differ by a cent.")
            which = f"version {version.version}" if version else "as issued"
            receipt.notes.append(f"Tariff {cdr['tariffs'][0]['id']}, {which}; "
                                 f"times of day are in {zone}.")
        else:
            receipt.notes.append("No tariff applied to this session: it is free of charge.")
        for value in cdr.get("signed_data", {}).get("signed_values", []):
            verdict = verify_stored(value["signed_data"], key)
            receipt.signatures.append((value["nature"], verdict.status, verdict.detail))
        if receipt.signed_values:
            verified = sum(1 for _, status, _ in receipt.signatures if status == "verified")
            receipt.notes.append(
                f"Signed meter values: {receipt.signed_values}, of which {verified} verified "
                "here with the meter's public key. To check them yourself, open the CDR's "
                "signed_data in a transparency tool (for example the S.A.F.E. "
                "Transparenzsoftware) with the same key.")
        return receipt

    async def html(self, session_id: int) -> str:
        return _templates.get_template("receipt.html").render(r=await self.receipt(session_id))

    async def pdf(self, session_id: int) -> bytes:
        return render_pdf(await self.receipt(session_id))


def _grouped(lines: list[Line], money: Any, currency: str) -> list[ReceiptLine]:
    """One line per (dimension, tariff element, rate, VAT), quantities summed."""
    groups: dict[tuple[Any, ...], list[Line]] = {}
    for ln in lines:
        groups.setdefault((ln.dimension.value, ln.element, ln.unit_price, ln.vat), []).append(ln)
    out = []
    for (dimension, _element, rate, vat), members in groups.items():
        quantity = sum((m.quantity for m in members), Fraction(0))
        excl = sum((m.excl_vat for m in members), Fraction(0))
        incl = sum((m.incl_vat for m in members), Fraction(0))
        stepped = any(m.step_size_extra for m in members)
        out.append(ReceiptLine(
            description=DIMENSION_TEXT[dimension] + (" (incl. rounding up to the tariff's step)"
                                                     if stepped else ""),
            quantity=show(quantity, 4), unit=UNIT_TEXT[dimension],
            rate=money(rate), vat=f"{vat}%" if vat is not None else "none",
            amount_excl=money(round_money(excl, currency)),
            amount_incl=money(round_money(incl, currency)),
            value_excl=round_money(excl, currency),
        ))
    return out


def _kwh(wh: Any) -> str:
    if wh is None:
        return "-"
    return f"{Decimal(wh) / 1000:,.3f} kWh"


def _masked(token: str | None) -> str:
    if not token:
        return "-"
    return token if len(token) <= 4 else "*" * (len(token) - 4) + token[-4:]


def render_pdf(r: Receipt) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"{r.kind} {r.number}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for label, value in (("Operator", r.operator), ("Issued", r.issued), ("CDR", r.cdr_id),
                         ("Site", r.site), ("Charge point", f"{r.station}, EVSE {r.evse}"),
                         ("Token", r.token), ("Start", r.start), ("Stop", r.stop),
                         ("Duration", r.duration), ("Meter at start", r.meter_start_kwh),
                         ("Meter at stop", r.meter_stop_kwh), ("Energy", r.energy_kwh)):
        pdf.cell(40, 6, _latin(label))
        pdf.cell(0, 6, _latin(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (62, 22, 26, 14, 30, 30)
    pdf.set_font("Helvetica", "B", 9)
    for width, title in zip(widths, ("Item", "Quantity", "Rate excl. VAT", "VAT",
                                     "Excl. VAT", "Incl. VAT"), strict=True):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for ln in r.lines:
        cells = (ln.description[:40], f"{ln.quantity} {ln.unit}", ln.rate, ln.vat,
                 ln.amount_excl, ln.amount_incl)
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin(text))
        pdf.ln()
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(sum(widths[:4]), 8, "Total", border="T")
    pdf.cell(widths[4], 8, _latin(r.total_excl), border="T")
    pdf.cell(widths[5], 8, _latin(r.total_incl), border="T", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 6, _latin(f"of which VAT: {r.vat_amount}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for nature, status, detail in r.signatures:
        pdf.multi_cell(0, 5, _latin(f"Signed value ({nature}): {status} - {detail}"),
                       new_x="LMARGIN", new_y="NEXT")
    for note in r.notes:
        pdf.multi_cell(0, 5, _latin(note), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin(text: str) -> str:
    """The core PDF fonts are Latin-1: anything else is replaced, never dropped silently."""
    return text.encode("latin-1", errors="replace").decode("latin-1")



# -- monthly statements -------------------------------------------------------------------------


@dataclass
class StatementLine:
    number: str
    date: str
    station: str
    token: str
    energy_kwh: str
    amount_excl: str
    amount_incl: str
    credit: bool


@dataclass
class Statement:
    driver: str
    month: str
    operator: str
    lines: list[StatementLine] = field(default_factory=list)
    totals: list[tuple[str, str, str]] = field(default_factory=list)  # currency, excl, incl


async def statement(engine: AsyncEngine, operator: str, user_id: int, driver: str,
                    month: str) -> Statement:
    """Every CDR (credits included) of the driver's tokens that ended in `month` (YYYY-MM,
    in the site's local time), with totals per currency."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise InvalidInputError(f"month: {month!r} is not YYYY-MM")
    mine = select(t.IdToken.token).where(t.IdToken.owner_user_id == user_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(t.Cdr.invoice_number, t.Cdr.credit, t.Cdr.currency, t.Cdr.total_excl_vat,
                   t.Cdr.total_incl_vat, t.Cdr.total_energy_kwh, t.Cdr.end_date_time,
                   t.ChargingSession.station_id, t.ChargingSession.id_token)
            .join(t.ChargingSession, t.ChargingSession.id == t.Cdr.session_id)
            .where(t.ChargingSession.id_token.in_(mine)).order_by(t.Cdr.invoice_number))).all()
        zones = {s: await site_zone(conn, s) for s in {r.station_id for r in rows}}
    out = Statement(driver=driver, month=month, operator=operator)
    sums: dict[str, list[Decimal]] = {}
    for r in rows:
        local = r.end_date_time.astimezone(zones[r.station_id])
        if local.strftime("%Y-%m") != month:
            continue
        digits = minor_units(r.currency)
        out.lines.append(StatementLine(
            number=f"{operator}-{r.invoice_number:06d}", date=local.strftime("%Y-%m-%d %H:%M"),
            station=r.station_id, token=_masked(r.id_token),
            energy_kwh=f"{Decimal(r.total_energy_kwh):,.3f}",
            amount_excl=f"{Decimal(r.total_excl_vat):,.{digits}f} {r.currency}",
            amount_incl=f"{Decimal(r.total_incl_vat):,.{digits}f} {r.currency}",
            credit=bool(r.credit)))
        total = sums.setdefault(r.currency, [Decimal(0), Decimal(0)])
        total[0] += Decimal(r.total_excl_vat)
        total[1] += Decimal(r.total_incl_vat)
    out.totals = [(c, f"{v[0]:,.{minor_units(c)}f} {c}", f"{v[1]:,.{minor_units(c)}f} {c}")
                  for c, v in sorted(sums.items())]
    return out


def statement_html(s: Statement) -> str:
    return _templates.get_template("statement.html").render(s=s)


def statement_pdf(s: Statement) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 10, _latin(f"Statement {s.month} for {s.driver}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.cell(0, 6, _latin(f"Operator {s.operator}"), new_x="LMARGIN", new_y="NEXT")
    widths = (32, 30, 30, 22, 22, 27, 27)
    pdf.set_font("Helvetica", "B", 8)
    for width, title in zip(widths, ("Document", "Date", "Station", "Token", "kWh",
                                     "Excl. VAT", "Incl. VAT"), strict=True):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=8)
    for ln in s.lines:
        cells = (ln.number + (" (credit)" if ln.credit else ""), ln.date, ln.station, ln.token,
                 ln.energy_kwh, ln.amount_excl, ln.amount_incl)
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 6, _latin(text[:24]))
        pdf.ln()
    pdf.set_font("Helvetica", "B", 9)
    for _currency, excl, incl in s.totals:
        pdf.cell(sum(widths[:5]), 8, "Total", border="T")
        pdf.cell(widths[5], 8, _latin(excl), border="T")
        pdf.cell(widths[6], 8, _latin(incl), border="T", new_x="LMARGIN", new_y="NEXT")
    if not s.lines:
        pdf.cell(0, 8, "No charging sessions this month.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())

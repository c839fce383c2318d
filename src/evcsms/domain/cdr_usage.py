"""OCPI 2.2.1 CDR <-> pricing: read a CDR's usage, write a quote as OCPI cost fields.

`usage_from_cdr` reads `start_date_time`, `end_date_time` and `charging_periods` (each
with `start_date_time` and `dimensions` [{type, volume}]) and nothing else, so a CDR
from any CPO can be re-priced. A period is *charging* when it has a TIME dimension (or,
with neither TIME nor PARKING_TIME, when it has energy) and *parked* when it has
PARKING_TIME; both in one period is refused. Its duration comes from the timestamps (a
period lasts until the next one starts); a TIME or PARKING_TIME volume that disagrees
with that by more than a minute is refused as inconsistent. Power: the period's
MAX_POWER, else POWER, else MIN_POWER (kW); current likewise (A).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from evcsms.domain.money import show
from evcsms.domain.pricing import (
    Line,
    PricingError,
    Quote,
    State,
    Usage,
    UsagePeriod,
    hours_between,
)
from evcsms.domain.tariffs import TariffError, iso_utc, parse_datetime

CDR_DIMENSIONS = frozenset({
    "CURRENT", "ENERGY", "ENERGY_EXPORT", "ENERGY_IMPORT", "MAX_CURRENT", "MIN_CURRENT",
    "MAX_POWER", "MIN_POWER", "PARKING_TIME", "POWER", "RESERVATION_TIME", "STATE_OF_CHARGE",
    "TIME",
})
TOLERANCE = timedelta(minutes=1)


def usage_from_cdr(cdr: Any) -> Usage:
    """The usage an OCPI CDR describes; PricingError naming the field if inconsistent."""
    if not isinstance(cdr, dict):
        raise PricingError(f"cdr: expected a JSON object, got {type(cdr).__name__}")
    start = _when(cdr.get("start_date_time"), "start_date_time")
    end = _when(cdr.get("end_date_time"), "end_date_time")
    raw = cdr.get("charging_periods")
    if not isinstance(raw, list) or not raw:
        raise PricingError("charging_periods: expected a non-empty array")
    starts = [_when(_obj(p, f"charging_periods[{i}]").get("start_date_time"),
                    f"charging_periods[{i}].start_date_time") for i, p in enumerate(raw)]
    for i, at in enumerate(starts):
        if at < start:
            raise PricingError(f"charging_periods[{i}].start_date_time: before the CDR's "
                               "start_date_time")
        if at > end:
            raise PricingError(f"charging_periods[{i}].start_date_time: after the CDR's "
                               "end_date_time")
        if i and at <= starts[i - 1]:
            raise PricingError(f"charging_periods[{i}].start_date_time: not after the previous "
                               "period's start")
    periods = []
    for i, p in enumerate(raw):
        where = f"charging_periods[{i}]"
        dims = _dimensions(p.get("dimensions"), f"{where}.dimensions")
        period_end = starts[i + 1] if i + 1 < len(starts) else end
        length = period_end - starts[i]
        if "TIME" in dims and "PARKING_TIME" in dims:
            raise PricingError(f"{where}.dimensions: both TIME and PARKING_TIME in one period")
        for name in ("TIME", "PARKING_TIME"):
            if name in dims and abs(timedelta(hours=float(dims[name])) - length) > TOLERANCE:
                raise PricingError(
                    f"{where}.dimensions.{name}: {dims[name]} h, but the period lasts "
                    f"{show(hours_between(starts[i], period_end), 4)} h (until "
                    f"{'the next period starts' if i + 1 < len(starts) else 'end_date_time'})")
        energy = dims.get("ENERGY", Decimal(0))
        charging = "TIME" in dims or ("PARKING_TIME" not in dims and energy > 0)
        periods.append(UsagePeriod(
            start=starts[i], energy_kwh=energy,
            state=State.CHARGING if charging else State.PARKING,
            power_kw=_first(dims, "MAX_POWER", "POWER", "MIN_POWER"),
            current_a=_first(dims, "MAX_CURRENT", "CURRENT", "MIN_CURRENT"),
        ))
    return Usage(start, end, tuple(periods))


def quote_to_ocpi(quote: Quote) -> dict[str, Any]:
    """The OCPI CDR cost fields of a quote, plus `charging_periods_cost`: every piece with
    each dimension's element, quantity, unit price and cost before rounding."""

    def price(excl: Decimal, incl: Decimal) -> dict[str, Decimal]:
        return {"excl_vat": excl, "incl_vat": incl}

    out: dict[str, Any] = {
        "currency": quote.currency,
        "total_cost": price(quote.total_cost.excl_vat, quote.total_cost.incl_vat or quote.total_cost.excl_vat),
        "total_fixed_cost": price(quote.total_fixed_cost.excl_vat, quote.total_fixed_cost.incl_vat),
        "total_energy": show(quote.total_energy_kwh, 6),
        "total_energy_cost": price(quote.total_energy_cost.excl_vat, quote.total_energy_cost.incl_vat),
        "total_time": show(quote.total_time_h, 6),
        "total_time_cost": price(quote.total_time_cost.excl_vat, quote.total_time_cost.incl_vat),
        "total_parking_time": show(quote.total_parking_time_h, 6),
        "total_parking_cost": price(quote.total_parking_cost.excl_vat, quote.total_parking_cost.incl_vat),
        "price_limit_applied": quote.limited_by,
        "charging_periods_cost": [
            {"start_date_time": iso_utc(p.start), "end_date_time": iso_utc(p.end),
             "state": p.state.value, "energy_kwh": show(p.energy_kwh, 6),
             "lines": [_line(ln) for ln in p.lines]}
            for p in quote.pieces
        ],
        "fixed_cost": _line(quote.flat) if quote.flat else None,
        "step_size_cost": [_line(ln) for ln in quote.step_lines],
    }
    return out


def _line(ln: Line) -> dict[str, Any]:
    return {
        "dimension": ln.dimension.value, "tariff_element": ln.element,
        "quantity": show(ln.quantity, 6),
        "unit": {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "session"}[ln.dimension.value],
        "unit_price": ln.unit_price, "vat": ln.vat,
        "cost_excl_vat": show(ln.excl_vat, 6), "cost_incl_vat": show(ln.incl_vat, 6),
    }



def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PricingError(f"{where}: expected a JSON object")
    return value


def _when(value: Any, where: str) -> datetime:
    try:
        return parse_datetime(value, where)
    except TariffError as exc:
        raise PricingError(str(exc)) from None


def _dimensions(value: Any, where: str) -> dict[str, Decimal]:
    if not isinstance(value, list) or not value:
        raise PricingError(f"{where}: expected a non-empty array of {{type, volume}}")
    out: dict[str, Decimal] = {}
    for j, d in enumerate(value):
        here = f"{where}[{j}]"
        kind = _obj(d, here).get("type")
        if kind not in CDR_DIMENSIONS:
            raise PricingError(f"{here}.type: {kind!r} is not an OCPI CdrDimensionType")
        volume = d.get("volume")
        if isinstance(volume, bool) or not isinstance(volume, int | float | Decimal):
            raise PricingError(f"{here}.volume: expected a number, got {volume!r}")
        try:
            number = Decimal(str(volume))
        except InvalidOperation:
            raise PricingError(f"{here}.volume: {volume!r} is not a number") from None
        if not number.is_finite() or number < 0:
            raise PricingError(f"{here}.volume: must be a finite number >= 0, got {volume!r}")
        if kind in out:
            raise PricingError(f"{here}.type: {kind} appears twice in one period")
        out[kind] = number
    return out


def _first(dims: dict[str, Decimal], *names: str) -> Decimal | None:
    return next((dims[n] for n in names if n in dims), None)


"""The tariff model: OCPI 2.2.1 Tariff, parsed from and written back to its JSON.

A `Tariff` holds exactly what OCPI's does (the fields pricing needs as typed values,
the rest kept verbatim in `extra` so an export gives back what was imported). Parsing
is strict and names the field: `TariffError("elements[1].restrictions.start_time:
'25:00' is not a time of day (HH:MM)")`.

Units, as OCPI defines them: ENERGY price per kWh, step_size in Wh; TIME and
PARKING_TIME price per hour, step_size in seconds; FLAT a fixed price. Prices exclude
VAT; `vat` is a percentage. Restriction kWh/kW/A/seconds are numbers in those units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from evcsms.domain.money import MINOR_UNITS, ROUNDING_MODES


class TariffError(ValueError):
    """Invalid OCPI input; the message starts with the path of the offending field."""


class Dimension(StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"

    @property
    def weekday(self) -> int:
        """Python's weekday number (Monday 0)."""
        return list(DayOfWeek).index(self)


class Reservation(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


TARIFF_TYPES = ("AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR")


@dataclass(frozen=True, slots=True)
class Price:
    """OCPI Price: an amount excluding VAT and, when known, including it."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceComponent:
    type: Dimension
    price: Decimal  # excl. VAT, per kWh / per hour / per session (FLAT)
    step_size: int  # Wh for ENERGY, seconds for TIME and PARKING_TIME
    vat: Decimal | None = None  # percent; None: no VAT applies


@dataclass(frozen=True, slots=True)
class Restrictions:
    start_time: time | None = None  # local time of day, inclusive
    end_time: time | None = None  # local time of day, exclusive; before start = past midnight
    start_date: date | None = None  # local date, inclusive
    end_date: date | None = None  # local date, exclusive
    min_kwh: Decimal | None = None  # energy charged so far in the session, inclusive
    max_kwh: Decimal | None = None  # exclusive
    min_current: Decimal | None = None  # A, inclusive
    max_current: Decimal | None = None  # A, exclusive
    min_power: Decimal | None = None  # kW, inclusive
    max_power: Decimal | None = None  # kW, exclusive
    min_duration: int | None = None  # seconds since the session started, inclusive
    max_duration: int | None = None  # exclusive
    day_of_week: frozenset[DayOfWeek] = frozenset()  # empty: every day
    reservation: Reservation | None = None

    @property
    def is_empty(self) -> bool:
        return self == Restrictions()


@dataclass(frozen=True, slots=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions = field(default_factory=Restrictions)


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None  # valid from (inclusive)
    end_date_time: datetime | None = None  # valid until (exclusive)
    rounding: str = "half_up"  # evcsms extension: how totals are rounded to the minor unit
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def valid_at(self, at: datetime) -> bool:
        return ((self.start_date_time is None or self.start_date_time <= at)
                and (self.end_date_time is None or at < self.end_date_time))


# -- OCPI JSON -> Tariff --------------------------------------------------------------------

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_KNOWN = {"id", "currency", "elements", "min_price", "max_price", "start_date_time",
          "end_date_time", "evcsms_rounding"}


def parse_tariff(data: Any) -> Tariff:
    """An OCPI 2.2.1 Tariff object as a `Tariff`; TariffError naming the field if invalid."""
    obj = _object(data, "tariff")
    tariff_id = _string(obj, "id", "tariff", required=True, max_length=36)
    currency = _string(obj, "currency", "tariff", required=True)
    assert tariff_id is not None and currency is not None
    if not _CURRENCY.match(currency) or currency not in MINOR_UNITS:
        raise TariffError(f"currency: {currency!r} is not an ISO 4217 currency code")
    raw_elements = obj.get("elements")
    if not isinstance(raw_elements, list) or not raw_elements:
        raise TariffError("elements: expected a non-empty array of tariff elements")
    elements = tuple(_element(e, f"elements[{i}]") for i, e in enumerate(raw_elements))
    tariff_type = obj.get("type")
    if tariff_type is not None and tariff_type not in TARIFF_TYPES:
        raise TariffError(f"type: {tariff_type!r} is not one of {', '.join(TARIFF_TYPES)}")
    rounding = obj.get("evcsms_rounding", "half_up")
    if rounding not in ROUNDING_MODES:
        raise TariffError(f"evcsms_rounding: {rounding!r} is not one of {', '.join(ROUNDING_MODES)}")
    start = _datetime(obj.get("start_date_time"), "start_date_time")
    end = _datetime(obj.get("end_date_time"), "end_date_time")
    if start is not None and end is not None and end <= start:
        raise TariffError("end_date_time: must be after start_date_time")
    min_price = _price(obj.get("min_price"), "min_price")
    max_price = _price(obj.get("max_price"), "max_price")
    if min_price is not None and max_price is not None and max_price.excl_vat < min_price.excl_vat:
        raise TariffError("max_price: excl_vat is below min_price.excl_vat")
    return Tariff(
        id=tariff_id, currency=currency, elements=elements, min_price=min_price,
        max_price=max_price, start_date_time=start, end_date_time=end, rounding=rounding,
        extra={k: v for k, v in obj.items() if k not in _KNOWN},
    )


def _element(data: Any, where: str) -> TariffElement:
    obj = _object(data, where)
    raw = obj.get("price_components")
    if not isinstance(raw, list) or not raw:
        raise TariffError(f"{where}.price_components: expected a non-empty array")
    components = tuple(_component(c, f"{where}.price_components[{i}]") for i, c in enumerate(raw))
    restrictions = obj.get("restrictions")
    return TariffElement(
        components,
        Restrictions() if restrictions is None else _restrictions(restrictions, f"{where}.restrictions"),
    )


def _component(data: Any, where: str) -> PriceComponent:
    obj = _object(data, where)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in Dimension.__members__:
        raise TariffError(f"{where}.type: {kind!r} is not one of ENERGY, FLAT, PARKING_TIME, TIME")
    price = _decimal(obj.get("price"), f"{where}.price", required=True)
    assert price is not None
    if price < 0:
        raise TariffError(f"{where}.price: must not be negative")
    step = obj.get("step_size")
    lowest = 0 if kind == "FLAT" else 1  # FLAT has no unit to step in (OCPI's own example: 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < lowest:
        raise TariffError(f"{where}.step_size: expected a whole number >= {lowest}, got {step!r}")
    vat = _decimal(obj.get("vat"), f"{where}.vat")
    if vat is not None and not 0 <= vat <= 100:
        raise TariffError(f"{where}.vat: a percentage between 0 and 100, got {vat}")
    return PriceComponent(Dimension(kind), price, step, vat)


def _restrictions(data: Any, where: str) -> Restrictions:
    obj = _object(data, where)
    days = obj.get("day_of_week")
    if days is not None and (
        not isinstance(days, list) or any(d not in DayOfWeek.__members__ for d in days)
    ):
        raise TariffError(f"{where}.day_of_week: expected an array of MONDAY..SUNDAY")
    reservation = obj.get("reservation")
    if reservation is not None and reservation not in Reservation.__members__:
        raise TariffError(f"{where}.reservation: {reservation!r} is not RESERVATION or "
                          "RESERVATION_EXPIRES")
    r = Restrictions(
        start_time=_time(obj.get("start_time"), f"{where}.start_time"),
        end_time=_time(obj.get("end_time"), f"{where}.end_time"),
        start_date=_date(obj.get("start_date"), f"{where}.start_date"),
        end_date=_date(obj.get("end_date"), f"{where}.end_date"),
        min_kwh=_decimal(obj.get("min_kwh"), f"{where}.min_kwh", minimum=0),
        max_kwh=_decimal(obj.get("max_kwh"), f"{where}.max_kwh", minimum=0),
        min_current=_decimal(obj.get("min_current"), f"{where}.min_current", minimum=0),
        max_current=_decimal(obj.get("max_current"), f"{where}.max_current", minimum=0),
        min_power=_decimal(obj.get("min_power"), f"{where}.min_power", minimum=0),
        max_power=_decimal(obj.get("max_power"), f"{where}.max_power", minimum=0),
        min_duration=_seconds(obj.get("min_duration"), f"{where}.min_duration"),
        max_duration=_seconds(obj.get("max_duration"), f"{where}.max_duration"),
        day_of_week=frozenset(DayOfWeek(d) for d in days or ()),
        reservation=Reservation(reservation) if reservation else None,
    )
    if r.start_date and r.end_date and r.end_date <= r.start_date:
        raise TariffError(f"{where}.end_date: must be after start_date")
    return r


# -- Tariff -> OCPI JSON --------------------------------------------------------------------


def tariff_to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """The OCPI 2.2.1 JSON object (numbers as Decimal; encode with `json_text`)."""
    out: dict[str, Any] = {"id": tariff.id, "currency": tariff.currency}
    out.update((k, v) for k, v in tariff.extra.items() if k not in out)
    out["elements"] = [_element_out(e) for e in tariff.elements]
    if tariff.min_price is not None:
        out["min_price"] = price_out(tariff.min_price)
    if tariff.max_price is not None:
        out["max_price"] = price_out(tariff.max_price)
    if tariff.start_date_time is not None:
        out["start_date_time"] = iso_utc(tariff.start_date_time)
    if tariff.end_date_time is not None:
        out["end_date_time"] = iso_utc(tariff.end_date_time)
    if tariff.rounding != "half_up":
        out["evcsms_rounding"] = tariff.rounding
    return out


def price_out(price: Price) -> dict[str, Any]:
    out: dict[str, Any] = {"excl_vat": price.excl_vat}
    if price.incl_vat is not None:
        out["incl_vat"] = price.incl_vat
    return out


def iso_utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _element_out(element: TariffElement) -> dict[str, Any]:
    out: dict[str, Any] = {"price_components": [
        {"type": c.type.value, "price": c.price, "step_size": c.step_size,
         **({"vat": c.vat} if c.vat is not None else {})}
        for c in element.price_components
    ]}
    r = element.restrictions
    if not r.is_empty:
        rest: dict[str, Any] = {}
        for name in ("start_time", "end_time"):
            value = getattr(r, name)
            if value is not None:
                rest[name] = value.strftime("%H:%M")
        for name in ("start_date", "end_date"):
            value = getattr(r, name)
            if value is not None:
                rest[name] = value.isoformat()
        for name in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power",
                     "max_power", "min_duration", "max_duration"):
            value = getattr(r, name)
            if value is not None:
                rest[name] = value
        if r.day_of_week:
            rest["day_of_week"] = [d.value for d in DayOfWeek if d in r.day_of_week]
        if r.reservation is not None:
            rest["reservation"] = r.reservation.value
        out["restrictions"] = rest
    return out


# -- field readers ----------------------------------------------------------------------------


def _object(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TariffError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def _string(obj: dict[str, Any], name: str, where: str, *, required: bool = False,
            max_length: int | None = None) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise TariffError(f"{name}: required")
        return None
    if not isinstance(value, str) or not value:
        raise TariffError(f"{name}: expected a non-empty string, got {value!r}")
    if max_length is not None and len(value) > max_length:
        raise TariffError(f"{name}: at most {max_length} characters")
    return value


def _decimal(value: Any, where: str, *, required: bool = False,
             minimum: int | None = None) -> Decimal | None:
    if value is None:
        if required:
            raise TariffError(f"{where}: required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TariffError(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise TariffError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite():
        raise TariffError(f"{where}: {value!r} is not a finite number")
    if minimum is not None and number < minimum:
        raise TariffError(f"{where}: must be >= {minimum}, got {number}")
    return number


def _seconds(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TariffError(f"{where}: expected whole seconds >= 0, got {value!r}")
    return value


def _time(value: Any, where: str) -> time | None:
    if value is None:
        return None
    match = _TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise TariffError(f"{where}: {value!r} is not a time of day (HH:MM)")
    return time(int(match[1]), int(match[2]))


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise TariffError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _datetime(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    return parse_datetime(value, where)


def parse_datetime(value: Any, where: str) -> datetime:
    """An RFC 3339 date-time; OCPI sends UTC, a missing zone is taken as UTC."""
    if not isinstance(value, str):
        raise TariffError(f"{where}: expected a date-time string, got {value!r}")
    text = value.strip()
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    try:
        if len(text) <= 10:
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TariffError(f"{where}: {value!r} is not an RFC 3339 date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _price(value: Any, where: str) -> Price | None:
    if value is None:
        return None
    obj = _object(value, where)
    excl = _decimal(obj.get("excl_vat"), f"{where}.excl_vat", required=True, minimum=0)
    incl = _decimal(obj.get("incl_vat"), f"{where}.incl_vat", minimum=0)
    assert excl is not None
    return Price(excl, incl)

"""OCPP `meterValue` arrays (1.6 and 2.0.1) -> domain `SampledValue`s.

Both parsers return `ParsedMeterValues`:

- `samples`: one `SampledValue` per numeric reading. The value and unit are kept as the
  station sent them (only the 2.0.1 multiplier is applied). Converting to Wh is the
  domain's job (`evcsms.domain.metering.normalise`). Optional fields the station left
  out stay None; the domain knows the OCPP defaults.
- `signed`: one `SignedReading` per piece of signed meter data, verbatim, for storage
  and later verification (for example, German calibration law).

OCPP 1.6 sends signed data as a separate sampledValue with format "SignedData". Its
value is an opaque blob, not a number, so it never becomes a numeric sample. It is
also copied into `signed_data` of the Raw sample in the same meterValue entry that has
the same measurand, phase, location and context (absent fields count as their OCPP
defaults). Its `SignedReading.value` is that Raw sample's value, or None if there is no
such sample.

OCPP 2.0.1 puts `signedMeterValue` on the numeric sample itself. It is kept as compact
JSON in the sample's `signed_data` and in a `SignedReading`.

Bad input raises ValueError naming the field, for example
"meterValue[0].sampledValue[2].value: 'abc' is not a decimal number". The caller
turns this into an OCPP CallError. JSON numbers become Decimal via their text
(`Decimal(str(x))`), never through float arithmetic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from evcsms.domain.metering import (
    REGISTER,
    Reading,
    SampledValue,
    SampleItem,
    SignedReading,
    readings_of,
)

_V16_FORMATS = ("Raw", "SignedData")
_MAX_MULTIPLIER = 30  # |10^x| beyond this is not a meter reading


@dataclass(frozen=True, slots=True)
class ParsedMeterValues:
    samples: list[SampledValue]
    signed: list[SignedReading]


def parse_timestamp(raw: object, field: str = "timestamp") -> datetime:
    """An ISO 8601 date-time ("Z" or an offset; naive means UTC) as an aware UTC datetime."""
    if not isinstance(raw, str):
        raise ValueError(f"{field}: expected an ISO 8601 date-time string, got {raw!r}")
    text = raw.strip()
    if text[-1:] == "z":
        text = text[:-1] + "Z"
    try:
        if len(text) <= 10:  # a bare date has no time of day
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {raw!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


MAX_VALUE = Decimal("1E20")  # beyond any meter; keeps NUMERIC(30, 9) from overflowing


def parse_decimal(raw: object, field: str) -> Decimal:
    """A finite Decimal from a JSON string, int or float (through its text, not float maths)."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        raise ValueError(f"{field}: expected a number, got {raw!r}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{field}: {raw!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{field}: {raw!r} is not a finite number")
    if abs(value) >= MAX_VALUE:
        raise ValueError(f"{field}: {raw!r} is out of range (at most {MAX_VALUE:.0E} in magnitude)")
    return value


def parse_v16_meter_values(meter_value: list[dict[str, Any]]) -> ParsedMeterValues:
    """Parse an OCPP 1.6 `meterValue` array (MeterValues, StopTransaction transactionData)."""
    samples: list[SampledValue] = []
    signed: list[SignedReading] = []
    for i, entry in enumerate(_list(meter_value, "meterValue")):
        entry_samples, entry_signed = _v16_entry(entry, f"meterValue[{i}]")
        samples += entry_samples
        signed += entry_signed
    return ParsedMeterValues(samples, signed)


def _v16_entry(entry: Any, where: str) -> tuple[list[SampledValue], list[SignedReading]]:
    at = parse_timestamp(_dict(entry, where).get("timestamp"), f"{where}.timestamp")
    raw: list[SampledValue] = []
    blobs: list[SignedReading] = []
    for j, sv in enumerate(_list(entry.get("sampledValue"), f"{where}.sampledValue")):
        item = _v16_sampled_value(sv, at, where, j)
        if isinstance(item, SignedReading):
            blobs.append(item)
        else:
            raw.append(item)
    if not blobs:  # the common case: nothing to pair
        return raw, []
    return _pair_signed(raw, blobs)


def parse_v16_readings(meter_value: list[dict[str, Any]]) -> list[Reading]:
    """`parse_v16_meter_values` for the MeterValues hot path: the same checks and errors,
    but readings in storage form (`domain.metering.Reading`), with no SampledValue per
    sample. An entry with signed data goes through the full parser (it is rare)."""
    by_time: dict[datetime, list[SampleItem]] = {}  # entries at one moment: one reading
    for i, entry in enumerate(_list(meter_value, "meterValue")):
        svs = entry.get("sampledValue") if type(entry) is dict else None
        items = _plain_items(svs) if type(svs) is list else None
        if items:
            at = parse_timestamp(entry.get("timestamp"), f"meterValue[{i}].timestamp")
            entry_readings = [(at, items)]
        else:  # the full parser raises the right error for this entry, or pairs signatures
            entry_readings = readings_of(_v16_entry(entry, f"meterValue[{i}]")[0])
        for at, items in entry_readings:
            if at in by_time:
                by_time[at] += items
            else:
                by_time[at] = items
    return list(by_time.items())


def _plain_items(svs: list[Any]) -> list[SampleItem] | None:
    """Storage items for sampled values that are all plain (Raw, well-typed, a decimal
    string); None as soon as one is not."""
    items: list[SampleItem] = []
    for sv in svs:
        if type(sv) is not dict or sv.get("format", "Raw") != "Raw":
            return None
        get = sv.get
        context, measurand, phase = get("context"), get("measurand"), get("phase")
        location, unit, raw = get("location"), get("unit"), get("value")
        if not (_opt_str(context) and _opt_str(measurand) and _opt_str(phase)
                and _opt_str(location) and _opt_str(unit) and type(raw) is str):
            return None
        try:
            value = _quick_decimal(raw)
        except ValueError:
            return None
        items.append([measurand or REGISTER, phase or "", location or "", context or "",
                      unit, str(value), None])
    return items


def _opt_str(value: object) -> bool:
    return value is None or type(value) is str


def _v16_sampled_value(
    sv: Any, at: datetime, where: str, j: int
) -> SampledValue | SignedReading:
    # The fast path builds no field names: they are made only when something is wrong.
    if type(sv) is not dict:
        field = f"{where}.sampledValue[{j}]"
        _dict(sv, field)
    get = sv.get
    context, fmt, measurand = get("context"), get("format"), get("measurand")
    phase, location, unit = get("phase"), get("location"), get("unit")
    for name, value in (("context", context), ("format", fmt), ("measurand", measurand),
                        ("phase", phase), ("location", location), ("unit", unit)):
        if value is not None and type(value) is not str:
            raise ValueError(f"{where}.sampledValue[{j}].{name}: expected a string, got {value!r}")
    fmt = fmt or "Raw"
    if fmt not in _V16_FORMATS:
        raise ValueError(f"{where}.sampledValue[{j}].format: {fmt!r} is neither Raw nor SignedData")
    measurand = measurand or REGISTER
    if fmt == "SignedData":
        blob = get("value")
        if not isinstance(blob, str) or not blob:
            raise ValueError(
                f"{where}.sampledValue[{j}].value: SignedData needs a non-empty string, got {blob!r}"
            )
        return SignedReading(
            timestamp=at, data=blob, measurand=measurand, unit=unit, phase=phase,
            location=location, context=context,
        )
    raw = get("value")
    try:
        value = _quick_decimal(raw)
    except ValueError:
        value = parse_decimal(raw, f"{where}.sampledValue[{j}].value")  # raises, with the field
    return SampledValue(
        timestamp=at, value=value, measurand=measurand, unit=unit, phase=phase,
        location=location, context=context,
    )


def _quick_decimal(raw: object) -> Decimal:
    """parse_decimal's success path for the common case (a decimal string); ValueError otherwise."""
    if type(raw) is str:
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError from None
        if value.is_finite() and abs(value) < MAX_VALUE:
            return value
    raise ValueError


def _pair_signed(
    raw: list[SampledValue], blobs: list[SignedReading]
) -> tuple[list[SampledValue], list[SignedReading]]:
    """Attach each 1.6 SignedData blob to the Raw sample it signs (see the module docstring)."""
    data: dict[tuple[str | None, ...], str] = {}
    for blob in blobs:
        data.setdefault(_match_key(blob), blob.data)
    values: dict[tuple[str | None, ...], Decimal] = {}
    for sample in raw:
        values.setdefault(_match_key(sample), sample.value)
    samples = [replace(s, signed_data=data.get(_match_key(s))) for s in raw]
    return samples, [replace(b, value=values.get(_match_key(b))) for b in blobs]


def _match_key(x: SampledValue | SignedReading) -> tuple[str | None, ...]:
    return (x.measurand, x.phase, x.location or "Outlet", x.context or "Sample.Periodic")


def parse_v201_meter_values(meter_value: list[dict[str, Any]]) -> ParsedMeterValues:
    """Parse an OCPP 2.0.1 `meterValue` array (MeterValues, TransactionEvent)."""
    samples: list[SampledValue] = []
    signed: list[SignedReading] = []
    for i, entry in enumerate(_list(meter_value, "meterValue")):
        where = f"meterValue[{i}]"
        at = parse_timestamp(_dict(entry, where).get("timestamp"), f"{where}.timestamp")
        for j, sv in enumerate(_list(entry.get("sampledValue"), f"{where}.sampledValue")):
            field = f"{where}.sampledValue[{j}]"
            sample = _v201_sample(_dict(sv, field), at, field)
            samples.append(sample)
            if sample.signed_data is not None:
                signed.append(
                    SignedReading(
                        timestamp=at,
                        data=sample.signed_data,
                        value=sample.value,
                        measurand=sample.measurand,
                        unit=sample.unit,
                        phase=sample.phase,
                        location=sample.location,
                        context=sample.context,
                    )
                )
    return ParsedMeterValues(samples, signed)


def _v201_sample(sv: dict[str, Any], at: datetime, field: str) -> SampledValue:
    f = _strings(sv, field, "context", "measurand", "phase", "location")
    value = parse_decimal(sv.get("value"), f"{field}.value")
    unit: str | None = None
    uom = sv.get("unitOfMeasure")
    if uom is not None:
        uom = _dict(uom, f"{field}.unitOfMeasure")
        unit = _strings(uom, f"{field}.unitOfMeasure", "unit")["unit"]
        multiplier = uom.get("multiplier", 0)
        if isinstance(multiplier, bool) or not isinstance(multiplier, int):
            raise ValueError(f"{field}.unitOfMeasure.multiplier: {multiplier!r} is not an integer")
        if abs(multiplier) > _MAX_MULTIPLIER:
            raise ValueError(f"{field}.unitOfMeasure.multiplier: {multiplier} is out of range")
        value = value.scaleb(multiplier)
    signed = sv.get("signedMeterValue")
    if signed is not None:
        signed = json.dumps(
            _dict(signed, f"{field}.signedMeterValue"), separators=(",", ":"), ensure_ascii=False
        )
    return SampledValue(
        timestamp=at,
        value=value,
        measurand=f["measurand"] or REGISTER,
        unit=unit,
        phase=f["phase"],
        location=f["location"],
        context=f["context"],
        signed_data=signed,
    )


def _list(raw: object, field: str) -> list[Any]:
    if not isinstance(raw, list):
        raise ValueError(f"{field}: expected an array, got {type(raw).__name__}")
    return raw


def _dict(raw: object, field: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{field}: expected an object, got {type(raw).__name__}")
    return raw


def _strings(obj: dict[str, Any], field: str, *names: str) -> dict[str, str | None]:
    """The optional string fields `names` of `obj`, None when absent."""
    out: dict[str, str | None] = {}
    for name in names:
        value = obj.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{field}.{name}: expected a string, got {value!r}")
        out[name] = value
    return out

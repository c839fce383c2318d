"""OCPI 2.2.1 CDR documents: built from a finished session and its quote, or credited.

Pure: the caller supplies the facts (`SessionFacts`), the priced quote and the tariff
snapshot; this module only shapes the OCPI object. Numbers stay `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from evcsms.domain.money import show
from evcsms.domain.pricing import Quote, State, hours_between
from evcsms.domain.tariffs import iso_utc

TOKEN_TYPES = {"ISO14443": "RFID", "ISO15693": "RFID", "RFID": "RFID", "Central": "APP_USER",
               "eMAID": "APP_USER", "KeyCode": "OTHER", "Local": "OTHER", "MacAddress": "OTHER",
               "NoAuthorization": "OTHER", "AD_HOC_USER": "AD_HOC_USER", "APP_USER": "APP_USER"}


@dataclass(frozen=True, slots=True)
class SessionFacts:
    country_code: str
    party_id: str
    session_id: int
    station_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    token_type: str | None
    authorized: bool  # by our token list (WHITELIST) rather than a live request
    site_id: str | None
    site_name: str | None
    start: datetime
    end: datetime
    energy_kwh: Decimal  # the session's metered energy (used when no tariff priced it)
    signed: list[dict[str, Any]]  # [{nature, plain_data, signed_data}]
    public_key: str | None = None  # the meter's, hex DER


def cdr_id(session_id: int, revision: int = 0, *, credit: bool = False) -> str:
    base = f"S{session_id:012d}"
    if credit:
        return f"{base}-C{revision}"
    return base if revision == 0 else f"{base}-R{revision}"


def build_cdr(facts: SessionFacts, quote: Quote | None, tariff: dict[str, Any] | None,
              tariff_id: str | None, *, cdr_id: str, issued_at: datetime) -> dict[str, Any]:
    """The OCPI CDR object. Without a quote (no tariff applied), the costs are zero."""
    zero = {"excl_vat": Decimal(0), "incl_vat": Decimal(0)}
    out: dict[str, Any] = {
        "country_code": facts.country_code, "party_id": facts.party_id, "id": cdr_id,
        "start_date_time": iso_utc(facts.start), "end_date_time": iso_utc(facts.end),
        "session_id": str(facts.session_id),
        "cdr_token": {
            "country_code": facts.country_code, "party_id": facts.party_id,
            "uid": facts.id_token or "UNKNOWN",
            "type": TOKEN_TYPES.get(facts.token_type or "", "OTHER"),
            "contract_id": facts.id_token or "UNKNOWN",
        },
        "auth_method": "WHITELIST" if facts.authorized else "AUTH_REQUEST",
        "cdr_location": {
            "id": facts.site_id or facts.station_id,
            "name": facts.site_name or facts.station_id,
            "evse_uid": f"{facts.station_id}-{facts.evse_id}",
            "evse_id": f"{facts.station_id}*{facts.evse_id}",
            "connector_id": str(facts.connector_id),
        },
        "currency": quote.currency if quote else (tariff or {}).get("currency", "EUR"),
        "tariffs": [tariff] if tariff else [],
        "charging_periods": _periods(quote, tariff_id) if quote else [],
        "total_cost": _price(quote.total_cost.excl_vat, quote.total_cost.incl_vat) if quote else zero,
        "total_energy": show(quote.total_energy_kwh, 4) if quote else facts.energy_kwh,
        "total_time": show(quote.total_time_h if quote else hours_between(facts.start, facts.end), 4),
        "credit": False,
        "home_charging_compensation": False,
        "last_updated": iso_utc(issued_at),
    }
    if quote is not None:
        for name, total in (("total_fixed_cost", quote.total_fixed_cost),
                            ("total_energy_cost", quote.total_energy_cost),
                            ("total_time_cost", quote.total_time_cost),
                            ("total_parking_cost", quote.total_parking_cost)):
            out[name] = _price(total.excl_vat, total.incl_vat)
        out["total_parking_time"] = show(quote.total_parking_time_h, 4)
    if facts.signed:
        out["signed_data"] = {"encoding_method": _encoding(facts.signed),
                              "signed_values": facts.signed}
        if facts.public_key:
            out["signed_data"]["public_key"] = facts.public_key
    return out


def credit_of(original: dict[str, Any], *, cdr_id: str, issued_at: datetime,
              reason: str) -> dict[str, Any]:
    """A credit CDR: the original with every cost negated, pointing at it."""
    credit = dict(original)
    for name in ("total_cost", "total_fixed_cost", "total_energy_cost", "total_time_cost",
                 "total_parking_cost"):
        if name in credit:
            credit[name] = {k: -Decimal(v) if Decimal(v) else Decimal(0)
                            for k, v in credit[name].items()}
    credit.update({"id": cdr_id, "credit": True, "credit_reference_id": original["id"],
                   "remark": reason[:255], "last_updated": iso_utc(issued_at)})
    return credit


def _price(excl: Decimal, incl: Decimal | None) -> dict[str, Decimal]:
    return {"excl_vat": excl, "incl_vat": incl if incl is not None else excl}


def _periods(quote: Quote, tariff_id: str | None) -> list[dict[str, Any]]:
    out = []
    for piece in quote.pieces:
        hours = show(hours_between(piece.start, piece.end), 4)
        dims: list[dict[str, Any]] = []
        if piece.energy_kwh:
            dims.append({"type": "ENERGY", "volume": show(piece.energy_kwh, 4)})
        dims.append({"type": "TIME" if piece.state is State.CHARGING else "PARKING_TIME",
                     "volume": hours})
        if piece.power_kw is not None:
            dims.append({"type": "MAX_POWER", "volume": piece.power_kw})
        if piece.current_a is not None:
            dims.append({"type": "MAX_CURRENT", "volume": piece.current_a})
        period: dict[str, Any] = {"start_date_time": iso_utc(piece.start), "dimensions": dims}
        if tariff_id:
            period["tariff_id"] = tariff_id
        out.append(period)
    return out



def _encoding(signed: list[dict[str, Any]]) -> str:
    first = str(signed[0].get("signed_data", ""))
    if first.startswith("OCMF|"):
        return "OCMF"
    return "OCPP"

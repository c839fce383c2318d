"""Money: ISO 4217 currencies and their minor units, rounding once to the minor unit.

Amounts are `Decimal` (exact fractions inside the pricing engine); rounding happens once,
at the end, to the currency's minor unit, half-up unless a tariff says otherwise.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

# ISO 4217 active codes -> number of minor-unit digits (the ISO "E" column). Codes with
# no minor unit in everyday use still follow the standard (JPY 0, KRW 0, ISK 0; BHD 3).
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2,
    "AWG": 2, "AZN": 2, "BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0,
    "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2, "BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2,
    "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CRC": 2,
    "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
    "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2,
    "GIP": 2, "GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2,
    "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2,
    "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0, "KPW": 2, "KRW": 0,
    "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2,
    "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2,
    "MRU": 2, "MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2,
    "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2,
    "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2, "RON": 2, "RSD": 2,
    "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
    "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2,
    "SZL": 2, "THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2,
    "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2, "UYU": 2, "UZS": 2, "VES": 2,
    "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2,
    "ZAR": 2, "ZMW": 2, "ZWG": 2,
}  # fmt: skip

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class UnknownCurrencyError(ValueError):
    """Not an ISO 4217 currency code this system knows."""


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrencyError(
            f"{currency!r} is not an ISO 4217 currency code (e.g. EUR, USD, GBP)"
        ) from None


def round_money(amount: Fraction | Decimal, currency: str, mode: str = "half_up") -> Decimal:
    """`amount` rounded to the currency's minor unit (exactly, from a Fraction too).
    Half-up rounds halves away from zero, so a credit mirrors its charge."""
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r} (half_up or half_even)")
    digits = minor_units(currency)
    exact = Fraction(amount)
    if exact < 0:
        return -round_money(-exact, currency, mode)
    whole, rest = divmod(exact * 10**digits, 1)
    half = Fraction(1, 2)
    if rest > half or (rest == half and (mode == "half_up" or whole % 2 == 1)):
        whole += 1
    return Decimal(int(whole)).scaleb(-digits)


def show(value: Fraction, places: int = 6) -> Decimal:
    """A Fraction as a Decimal for display: exact when it terminates within `places`
    digits, else rounded half-up there. For intermediate amounts, never for totals."""
    whole, rest = divmod(abs(value) * 10**places, 1)
    if rest >= Fraction(1, 2):
        whole += 1
    text = format(Decimal(int(whole)).scaleb(-places), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    result = Decimal(text)
    return -result if value < 0 and result else result

"""OCMF (Open Charge Metering Format) signed meter data: parse, never trust.

    OCMF|{payload JSON}|{signature JSON}

The signature covers the payload section's bytes exactly as sent. The signature section
names the algorithm (`SA`, default ECDSA-secp256r1-SHA256), the encoding of `SD` (`SE`,
default hex) and the signature itself (`SD`, DER). Readings are the payload's `RD` list:
`TM` time, `TX` type (B begin, E end, ...), `RV` value, `RU` unit.
Verifying needs a public key and a crypto library: see `services.signatures`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

ALGORITHMS = {
    "ECDSA-secp256r1-SHA256", "ECDSA-secp384r1-SHA256", "ECDSA-brainpool256r1-SHA256",
    "ECDSA-brainpool384r1-SHA256", "ECDSA-secp256k1-SHA256", "ECDSA-secp192r1-SHA256",
    "ECDSA-secp192k1-SHA256",
}


@dataclass(frozen=True, slots=True)
class OcmfReading:
    time: str
    kind: str  # TX: B(egin), C(harging), X, E(nd), L, R, A, P, S, T
    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class Ocmf:
    payload_text: str  # the signed bytes, as UTF-8
    payload: dict[str, Any]
    algorithm: str
    signature: bytes
    readings: tuple[OcmfReading, ...]

    @property
    def meter_serial(self) -> str | None:
        value = self.payload.get("MS")
        return value if isinstance(value, str) else None


def parse_ocmf(text: str) -> Ocmf:
    """An OCMF string; ValueError saying what is wrong."""
    if not text.startswith("OCMF|"):
        raise ValueError("not OCMF: it must start with 'OCMF|'")
    body = text[5:]
    cut = body.rfind("|")
    if cut < 0:
        raise ValueError("OCMF needs a payload and a signature section separated by '|'")
    payload_text, signature_text = body[:cut], body[cut + 1:]
    try:
        payload = json.loads(payload_text, parse_float=Decimal)
        signature = json.loads(signature_text)
    except ValueError:
        raise ValueError("OCMF payload or signature section is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(signature, dict):
        raise ValueError("OCMF sections must be JSON objects")
    algorithm = signature.get("SA", "ECDSA-secp256r1-SHA256")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"OCMF signature algorithm {algorithm!r} is not supported")
    encoded = signature.get("SD")
    if not isinstance(encoded, str) or not encoded:
        raise ValueError("OCMF signature section has no SD (signature data)")
    try:
        if signature.get("SE", "hex") == "base64":
            raw = base64.b64decode(encoded, validate=True)
        else:
            raw = bytes.fromhex(encoded)
    except (ValueError, binascii.Error):
        raise ValueError("OCMF signature data (SD) is not valid hex/base64") from None
    return Ocmf(payload_text, payload, algorithm, raw, _readings(payload.get("RD")))


def _readings(raw: Any) -> tuple[OcmfReading, ...]:
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        try:
            value = Decimal(str(item.get("RV")))
        except InvalidOperation:
            continue
        out.append(OcmfReading(str(item.get("TM", "")), str(item.get("TX", "")), value,
                               str(item.get("RU", ""))))
    return tuple(out)


def ocmf_from_stored(signed_data: str) -> tuple[str | None, str | None]:
    """(OCMF text, public key hex) from what a sample stored: a 1.6 SignedData value
    (the OCMF string itself) or a 2.0.1 signedMeterValue as JSON (base64 OCMF, and
    maybe a base64 public key). (None, None) when it is not OCMF."""
    if signed_data.startswith("OCMF|"):
        return signed_data, None
    try:
        obj = json.loads(signed_data)
    except ValueError:
        return None, None
    if not isinstance(obj, dict) or not isinstance(obj.get("signedMeterData"), str):
        return None, None
    data = obj["signedMeterData"]
    if not data.startswith("OCMF|"):
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None, None
    key = obj.get("publicKey")
    key_hex = None
    if isinstance(key, str) and key:
        try:
            key_hex = base64.b64decode(key, validate=True).hex()
        except (ValueError, binascii.Error):
            key_hex = None
    return (data if data.startswith("OCMF|") else None), key_hex

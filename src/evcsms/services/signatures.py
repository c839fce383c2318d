"""Verifying signed meter data (OCMF) with the meter's public key.

The key is the station's `meter_public_key` (hex DER SubjectPublicKeyInfo, as meters
print it), or one the station sent with the value (2.0.1 `publicKey`). A verdict is one
of: verified, invalid (the signature does not match the data), no_key, unsupported (not
OCMF, or a curve this build cannot check), malformed.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from evcsms.domain.ocmf import Ocmf, ocmf_from_stored, parse_ocmf

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECDSA-secp256r1-SHA256": ec.SECP256R1, "ECDSA-secp384r1-SHA256": ec.SECP384R1,
    "ECDSA-secp256k1-SHA256": ec.SECP256K1, "ECDSA-secp192r1-SHA256": ec.SECP192R1,
    "ECDSA-brainpool256r1-SHA256": ec.BrainpoolP256R1,
    "ECDSA-brainpool384r1-SHA256": ec.BrainpoolP384R1,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    detail: str
    ocmf: Ocmf | None = None


def verify_stored(signed_data: str, station_key_hex: str | None) -> Verdict:
    """The verdict for one stored signed value."""
    text, sent_key = ocmf_from_stored(signed_data)
    if text is None:
        return Verdict("unsupported", "not OCMF; only OCMF signatures can be checked here")
    try:
        ocmf = parse_ocmf(text)
    except ValueError as exc:
        return Verdict("malformed", str(exc))
    key_hex = station_key_hex or sent_key
    if not key_hex:
        return Verdict("no_key", "the meter's public key is unknown: set it for the station",
                       ocmf)
    return verify(ocmf, key_hex)


def verify(ocmf: Ocmf, key_hex: str) -> Verdict:
    curve = CURVES.get(ocmf.algorithm)
    if curve is None:
        return Verdict("unsupported", f"{ocmf.algorithm} cannot be checked by this build", ocmf)
    try:
        key = load_der_public_key(bytes.fromhex(key_hex))
    except (ValueError, UnsupportedAlgorithm):
        return Verdict("malformed", "the public key is not hex DER (SubjectPublicKeyInfo)", ocmf)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, curve):
        return Verdict("invalid", f"the public key is not a {ocmf.algorithm} key", ocmf)
    try:
        key.verify(ocmf.signature, ocmf.payload_text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return Verdict("invalid", "the signature does not match the signed data", ocmf)
    return Verdict("verified", f"signature valid ({ocmf.algorithm})", ocmf)


def valid_key(key_hex: str) -> bool:
    try:
        key = load_der_public_key(bytes.fromhex(key_hex))
    except (ValueError, UnsupportedAlgorithm):
        return False
    return isinstance(key, ec.EllipticCurvePublicKey)

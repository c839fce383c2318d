"""Signed meter data (OCMF): parsed strictly, verified with the meter's key, shown on receipts."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evcsms.domain.metering import SampledValue
from evcsms.domain.ocmf import parse_ocmf
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.services.signatures import verify_stored
from tests.conftest import T0

REGISTER = "Energy.Active.Import.Register"


def keypair(curve: ec.EllipticCurve | None = None) -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(curve or ec.SECP256R1())
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return private, der.hex()


def ocmf(private: ec.EllipticCurvePrivateKey, kwh: str, kind: str = "B",
         algorithm: str = "ECDSA-secp256r1-SHA256") -> str:
    payload = (
        '{"FV":"1.0","GI":"EVC METER","GS":"SN-1","PG":"T1","MV":"EVC","MS":"M-0042",'
        f'"RD":[{{"TM":"2026-03-02T10:00:00,000+0100 S","TX":"{kind}","RV":{kwh},'
        '"RI":"1-b:1.8.0","RU":"kWh","RT":"AC","ST":"G"}]}'
    )
    signature = private.sign(payload.encode(), ec.ECDSA(hashes.SHA256())).hex()
    return f'OCMF|{payload}|{{"SA":"{algorithm}","SD":"{signature}"}}'


def test_a_valid_signature_is_verified_and_its_reading_read():
    private, key = keypair()
    verdict = verify_stored(ocmf(private, "1.000"), key)
    assert verdict.status == "verified"
    assert verdict.ocmf is not None and verdict.ocmf.meter_serial == "M-0042"
    assert [(r.kind, r.value, r.unit) for r in verdict.ocmf.readings] == [
        ("B", Decimal("1.000"), "kWh")]


def test_brainpool_curves_are_supported():
    private, key = keypair(ec.BrainpoolP256R1())
    assert verify_stored(ocmf(private, "2.5", algorithm="ECDSA-brainpool256r1-SHA256"),
                         key).status == "verified"


def test_tampered_data_or_a_wrong_key_fail():
    private, key = keypair()
    text = ocmf(private, "1.000")
    assert verify_stored(text.replace('"RV":1.000', '"RV":9.000'), key).status == "invalid"
    _, other = keypair()
    assert verify_stored(text, other).status == "invalid"
    assert verify_stored(text, None).status == "no_key"


def test_2_0_1_signed_meter_value_with_its_own_key():
    private, key = keypair()
    stored = json.dumps({
        "signedMeterData": base64.b64encode(ocmf(private, "3.2").encode()).decode(),
        "signingMethod": "ECDSA-secp256r1-SHA256", "encodingMethod": "OCMF",
        "publicKey": base64.b64encode(bytes.fromhex(key)).decode(),
    })
    assert verify_stored(stored, None).status == "verified"


@pytest.mark.parametrize(("text", "status", "message"), [
    ("EDL40|abc", "unsupported", "not OCMF"),
    ("OCMF|{not json}|{}", "malformed", "not JSON"),
    ('OCMF|{"RD":[]}|{"SA":"RSA-2048","SD":"00"}', "malformed", "RSA-2048"),
    ('OCMF|{"RD":[]}|{"SA":"ECDSA-secp256r1-SHA256"}', "malformed", "no SD"),
    ('OCMF|{"RD":[]}|{"SD":"zz"}', "malformed", "not valid hex"),
])
def test_bad_signed_data_gets_a_clear_verdict(text, status, message):
    verdict = verify_stored(text, keypair()[1])
    assert verdict.status == status and message in verdict.detail


def test_parse_keeps_the_signed_bytes_exactly():
    private, _ = keypair()
    text = ocmf(private, "1.000")
    assert parse_ocmf(text).payload_text == text[5:text.rfind("|")]


async def test_receipts_show_the_verdict_for_each_signed_value(services):
    private, key = keypair()
    await services.stations.create("CP1", password=None)
    await services.tariffs.put({"id": "T", "currency": "EUR", "elements": [{"price_components": [
        {"type": "ENERGY", "price": Decimal("0.40"), "step_size": 1}]}]})
    await services.tariffs.assign("default", "", "T")
    await services.tariffs.set_meter_key("CP1", key)
    tx = (await services.sessions.start_v16(
        StartTransaction("CP1", 1, "TAG", Decimal(1000), T0))).transaction_id
    begin = SampledValue(T0, Decimal(1000), REGISTER, "Wh", context="Transaction.Begin",
                         signed_data=ocmf(private, "1.000", "B"))
    forged = ocmf(private, "3.500", "E").replace('"RV":3.500', '"RV":2.500')
    end = SampledValue(T0 + timedelta(minutes=30), Decimal(2500), REGISTER, "Wh",
                       context="Transaction.End", signed_data=forged)
    await services.sessions.meter_values("CP1", 1, [begin, end], transaction_id=tx)
    await services.sessions.stop_v16(
        StopTransaction("CP1", tx, Decimal(2500), T0 + timedelta(minutes=30)))
    cdr = await services.cdrs.issue(tx)
    assert cdr is not None and cdr["signed_data"]["public_key"] == key
    assert [v["nature"] for v in cdr["signed_data"]["signed_values"]] == ["Start", "End"]
    assert cdr["remark"] == "signed meter values: 2, verified 1, invalid 1"
    receipt = await services.receipts.receipt(tx)
    assert [(nature, status) for nature, status, _ in receipt.signatures] == [
        ("Start", "verified"), ("End", "invalid")]
    assert "of which 1 verified" in " ".join(receipt.notes)
    assert "<strong>invalid</strong>" in await services.receipts.html(tx)
    assert (await services.receipts.pdf(tx)).startswith(b"%PDF")

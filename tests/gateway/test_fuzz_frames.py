"""Arbitrary frames through the real per-station path: never a crash, always a well-formed
answer with an OCPP error code, and nothing stored before is lost."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evcsms.bootstrap import build_services, close_services
from evcsms.domain.model import OcppVersion, Registration
from evcsms.gateway.session import StationSession
from evcsms.protocol.context import StationContext
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.settings import Settings
from tests.conftest import T0

CODES = {
    OcppVersion.V16: {"NotImplemented", "NotSupported", "InternalError", "ProtocolError",
                      "SecurityError", "FormationViolation", "PropertyConstraintViolation",
                      "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError"},
    OcppVersion.V201: {"FormatViolation", "GenericError", "InternalError",
                       "MessageTypeNotSupported", "NotImplemented", "NotSupported",
                       "OccurrenceConstraintViolation", "PropertyConstraintViolation",
                       "ProtocolError", "RpcFrameworkError", "SecurityError",
                       "TypeConstraintViolation"},
}
ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction",
           "StopTransaction", "MeterValues", "DataTransfer", "TransactionEvent", "NotifyEvent",
           "NotifyReport", "SecurityEventNotification", "FirmwareStatusNotification", "Bogus"]
FIELDS = ["connectorId", "transactionId", "meterValue", "sampledValue", "value", "timestamp",
          "idTag", "meterStart", "meterStop", "status", "errorCode", "eventType", "seqNo",
          "triggerReason", "transactionInfo", "evseId", "idToken", "chargePointVendor",
          "chargePointModel", "reason", "chargingStation", "vendorId"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
    | st.sampled_from(["2026-01-01T00:00:00Z", "Accepted", "Energy.Active.Import.Register", "1.5"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)
payloads = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
frames = st.one_of(
    st.text(max_size=60),
    st.builds(lambda p: orjson.dumps(p).decode(), json_values),
    st.builds(lambda i, a, p: orjson.dumps([2, i, a, p]).decode(),
              st.text(min_size=1, max_size=40), st.sampled_from(ACTIONS), payloads),
    st.builds(lambda k, i, rest: orjson.dumps([k, i, *rest]).decode(),
              st.integers(0, 9), st.text(max_size=5) | st.integers(-2**40, 2**40),
              st.lists(json_values, max_size=4)),
    st.just('[2, "big", "Heartbeat", {"n": 123456789012345678901234567890}]'),
)


def check_answer(sent: list[str], version: OcppVersion) -> None:
    for text in sent:
        answer: Any = orjson.loads(text)
        assert isinstance(answer, list) and answer[0] in (3, 4)
        if answer[0] == 4:
            assert len(answer) == 5 and answer[2] in CODES[version]
            assert isinstance(answer[3], str) and isinstance(answer[4], dict)


@pytest.mark.parametrize("version", list(OcppVersion))
def test_arbitrary_frames_never_break_the_session(tmp_path: Path, version: OcppVersion) -> None:
    runner = asyncio.Runner()
    settings_ = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/fuzz.db")
    services = runner.run(build_services(settings_))
    sent: list[str] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def seed() -> None:
        await services.stations.create("KEEP", password=None)
        await services.stations.create("FUZZ", password=None)
        await services.tokens.create("TAG")
        start = await services.sessions.start_v16(
            StartTransaction("KEEP", 1, "TAG", Decimal(1000), T0))
        await services.sessions.stop_v16(
            StopTransaction("KEEP", start.transaction_id, Decimal(5000), T0 + timedelta(hours=1)))

    runner.run(seed())
    session = StationSession(StationContext("FUZZ", version, services), send_text,
                             registration=Registration.ACCEPTED)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frame=frames)
    def feed(frame: str) -> None:
        sent.clear()
        runner.run(session.on_text(frame))
        check_answer(sent, version)
        assert len(sent) <= 1

    try:
        feed()
        kept = runner.run(services.sessions.get(1))
        assert kept is not None and kept.station_id == "KEEP"
        assert kept.energy_wh == Decimal(4000)
    finally:
        runner.run(close_services(services))
        runner.close()

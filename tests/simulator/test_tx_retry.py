"""Transaction-related messages are sent again when the CSMS fails to process them (OCPP 1.6
TransactionMessageAttempts / TransactionMessageRetryInterval, 2.0.1 E13 with OCPPCommCtrlr
MessageAttemptsTransactionEvent / MessageAttemptIntervalTransactionEvent): after a CALLERROR
or no answer, ``interval x attempts so far`` apart, until the attempts are used up; other
messages are not. The journal holds what was acknowledged."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from evcsms.simulator import VirtualStation
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.station import transaction_related

from .conftest import CallError, FakeCsms, eventually, make_station, running

pytestmark = pytest.mark.slow

ONE_SESSION = SessionPattern(session_seconds=(0.6, 0.6), auto_start=False)


@dataclass
class Unanswering(FakeCsms):
    """A fake CSMS that leaves the first ``unanswered[action]`` CALLs of an action unanswered."""

    unanswered: dict[str, int] = field(default_factory=dict)

    async def _answer(self, ws: ServerConnection, station: str, frame: list[Any]) -> None:
        action = frame[2]
        if self.unanswered.get(action, 0) > 0:
            self.unanswered[action] -= 1
            self.inflight[station] -= 1
            return
        await super()._answer(ws, station, frame)


@contextlib.asynccontextmanager
async def unanswering() -> AsyncIterator[Unanswering]:
    fake = Unanswering()
    async with serve(fake.handler, "127.0.0.1", 0, compression=None,
                     subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")]) as server:
        fake.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
        yield fake
    assert fake.errors == [], fake.errors


def failing(times: int, seen: list[float], *, action_of: Any = None) -> Any:
    """A reply that answers CALLERROR InternalError the first ``times`` calls (then the
    default), noting when each call came."""
    count = {"n": 0}

    def reply(station: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append(time.monotonic())
        count["n"] += 1
        if count["n"] <= times:
            raise CallError("InternalError", "storage unavailable")
        return action_of(station, payload) if action_of else {}

    return reply


def test_which_messages_are_transaction_related() -> None:
    assert transaction_related("StartTransaction", {})
    assert transaction_related("StopTransaction", {"transactionId": 1})
    assert transaction_related("TransactionEvent", {"eventType": "Updated"})
    assert transaction_related("MeterValues", {"connectorId": 1, "transactionId": 7})
    assert not transaction_related("MeterValues", {"connectorId": 1})
    assert not transaction_related("StatusNotification", {})
    assert not transaction_related("Authorize", {})
    with pytest.raises(ValueError, match="tx_attempts"):
        VirtualStation("ws://127.0.0.1:9/ocpp", "CP1", tx_attempts=0)


async def test_v16_meter_values_are_resent_after_callerrors_with_growing_intervals(
        csms: FakeCsms) -> None:
    seen: list[float] = []
    csms.replies["MeterValues"] = failing(2, seen)
    st = make_station(csms, "1.6", pattern=ONE_SESSION, meter_interval=0.1,
                      tx_retry_interval=0.1, keep_journal=True)
    async with running(st):
        await st.wait_online()
        assert st.start_session(1, "TAG1")
        await csms.wait_calls("StopTransaction", within=10)
    values = [p for p in csms.calls("MeterValues") if "transactionId" in p]
    first = values[0]
    assert values[:3] == [first, first, first]  # the same message three times ...
    gaps = [seen[1] - seen[0], seen[2] - seen[1]]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19, gaps  # ... 1 x and 2 x the interval apart
    assert st.stats.tx_retries == 2 and st.stats.tx_dropped == 0
    acked = [e for e in st.journal if e.action == "MeterValues"]
    assert acked[0].payload == first and acked[0].attempts == 3
    assert [e.attempts for e in acked[1:]] == [1] * (len(acked) - 1)
    stamps = [p["meterValue"][0]["timestamp"] for p in values]
    assert [e.payload["meterValue"][0]["timestamp"] for e in acked] == sorted(set(stamps))
    actions = [e.action for e in st.journal]
    assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction"
    assert st.journal[0].answer["transactionId"] == first["transactionId"]


async def test_v16_a_stop_is_given_up_after_the_configured_attempts(csms: FakeCsms) -> None:
    seen: list[float] = []
    csms.replies["StopTransaction"] = failing(99, seen)
    authorize: list[float] = []
    st = make_station(csms, "1.6", pattern=ONE_SESSION, meter_interval=0.1, keep_journal=True)
    async with running(st):
        await st.wait_online()
        changed = await csms.call("CP1", "ChangeConfiguration",
                                  {"key": "TransactionMessageAttempts", "value": "3"})
        interval = await csms.call("CP1", "ChangeConfiguration",
                                   {"key": "TransactionMessageRetryInterval", "value": "0.05"})
        refused = await csms.call("CP1", "ChangeConfiguration",
                                  {"key": "TransactionMessageAttempts", "value": "0"})
        assert [changed[2], interval[2], refused[2]] == [
            {"status": "Accepted"}, {"status": "Accepted"}, {"status": "Rejected"}]
        assert (st.tx_attempts, st.tx_retry_interval) == (3, 0.05)
        assert st.start_session(1, "TAG1")
        await eventually(lambda: st.stats.tx_dropped == 1, within=10)
        # free: Available, and the session's task has ended (a loaded CI run once saw
        # Available before the task set the connector idle, and the next plug-in was refused)
        await eventually(lambda: st.connectors[0].free)
        # a failed Authorize is not transaction-related: sent once
        csms.replies["Authorize"] = failing(99, authorize)
        assert st.start_session(1, "TAG1")
        await eventually(lambda: len(authorize) == 1 and st.connectors[0].idle.is_set())
    stops = csms.calls("StopTransaction")
    assert len(stops) == 3 and stops[0] == stops[1] == stops[2]
    assert "StopTransaction" not in [e.action for e in st.journal]
    assert len(csms.calls("Authorize")) == 2  # one per visit


async def test_v201_transaction_events_are_resent_when_unanswered() -> None:
    async with unanswering() as fake:
        st = VirtualStation(fake.url, "CP1", "2.0.1", connectors=1, pattern=ONE_SESSION,
                            meter_interval=0.1, time_scale=600.0, call_timeout=0.3, seed=5,
                            keep_journal=True, reconnect_base=0.02, reconnect_cap=0.1)
        async with running(st):
            await st.wait_online()
            component = {"name": "OCPPCommCtrlr"}
            answer = await fake.call("CP1", "SetVariables", {"setVariableData": [
                {"component": component, "variable": {"name": "MessageAttemptsTransactionEvent"},
                 "attributeValue": "4"},
                {"component": component,
                 "variable": {"name": "MessageAttemptIntervalTransactionEvent"},
                 "attributeValue": "0"},
            ]})
            assert [r["attributeStatus"] for r in answer[2]["setVariableResult"]] == [
                "Accepted", "Accepted"]
            got = await fake.call("CP1", "GetVariables", {"getVariableData": [
                {"component": component, "variable": {"name": "MessageAttemptsTransactionEvent"}},
            ]})
            assert got[2]["getVariableResult"][0]["attributeValue"] == "4"
            assert (st.tx_attempts, st.tx_retry_interval) == (4, 0.0)
            fake.unanswered["TransactionEvent"] = 2  # the Started event goes three times
            assert st.start_session(1, "TAG1")
            await fake.wait_for(lambda: any(
                p["eventType"] == "Ended" for p in fake.calls("TransactionEvent")), within=10)
            await eventually(lambda: st.connectors[0].idle.is_set())
    events = fake.calls("TransactionEvent")
    assert [p["seqNo"] for p in events[:3]] == [0, 0, 0] and events[0]["eventType"] == "Started"
    assert [e.payload["seqNo"] for e in st.journal] == list(range(len(st.journal)))
    assert st.journal[0].attempts == 3 and st.stats.tx_retries == 2
    assert st.journal[-1].payload["eventType"] == "Ended"

from datetime import timedelta
from decimal import Decimal

import pytest

from evcsms.protocol.context import format_timestamp
from evcsms.protocol.errors import PropertyConstraintCallError
from evcsms.protocol.v201 import transaction_event
from evcsms.services.session_queries import SessionFilter, list_sessions
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station

TAG = {"idToken": "TAG1", "type": "ISO14443"}


@pytest.fixture
async def ctx(services):
    await services.tokens.create("TAG1")
    return await new_station(services)


def _event(event_type, seq_no, minutes, wh=None, context="Sample.Periodic", tx="TX-1", **extra):
    at = format_timestamp(T0 + timedelta(minutes=minutes))
    payload = {
        "eventType": event_type, "timestamp": at, "seqNo": seq_no,
        "triggerReason": {"Started": "Authorized", "Updated": "MeterValuePeriodic",
                          "Ended": "StopAuthorized"}[event_type],
        "transactionInfo": {"transactionId": tx}, "evse": {"id": 1, "connectorId": 1},
        **extra,
    }
    if wh is not None:
        payload["meterValue"] = [{
            "timestamp": at,
            "sampledValue": [{"value": wh, "context": context,
                              "measurand": "Energy.Active.Import.Register"}],
        }]
    if event_type == "Ended":
        payload["transactionInfo"]["stoppedReason"] = "EVDisconnected"
    return payload


STARTED = _event("Started", 0, 0, 1000, "Transaction.Begin", idToken=TAG)
UPDATED = _event("Updated", 1, 10, 1500)
ENDED = _event("Ended", 2, 20, 2000, "Transaction.End")


async def _sessions(ctx):
    rows, _ = await list_sessions(ctx.services.engine, SessionFilter(station_id=STATION),
                                  limit=10, offset=0)
    return rows


async def _session(ctx):
    [row] = await _sessions(ctx)
    return row


async def test_started_updated_ended_counts_energy_from_the_register(ctx):
    assert await call(transaction_event, ctx, STARTED) == {"idTokenInfo": {"status": "Accepted"}}
    assert await call(transaction_event, ctx, UPDATED) == {}
    await ctx.services.sessions.refresh_energy()  # a running session: refreshed off-path
    assert (await _session(ctx)).energy_wh == Decimal(500)
    assert await call(transaction_event, ctx, ENDED) == {}  # the end: counted at once
    row = await _session(ctx)
    assert (row.transaction_ref, row.evse_id, row.connector_id, row.id_token) == (
        "TX-1", 1, 1, "TAG1"
    )
    assert (row.status, row.started_at, row.stopped_at) == (
        "completed", T0, T0 + timedelta(minutes=20)
    )
    assert (row.energy_wh, row.stop_reason, row.last_seq_no) == (Decimal(1000), "EVDisconnected", 2)


async def test_the_same_seq_no_twice_changes_nothing(ctx):
    await call(transaction_event, ctx, STARTED)
    await call(transaction_event, ctx, UPDATED)
    before = await _session(ctx)
    samples = await ctx.services.sessions.samples(before.id)
    resent = _event("Updated", 1, 15, 1800)  # a station bug: same seqNo, other content
    for payload in (UPDATED, resent):
        assert await call(transaction_event, ctx, payload) == {}
    after = await _session(ctx)
    assert (after.energy_wh, after.last_seq_no) == (before.energy_wh, before.last_seq_no)
    assert await ctx.services.sessions.samples(before.id) == samples


@pytest.mark.parametrize(
    "order", [(STARTED, ENDED, UPDATED), (ENDED, UPDATED, STARTED), (UPDATED, ENDED, STARTED)],
    ids=["ended-before-updated", "ended-first", "updated-first"],
)
async def test_events_out_of_order_give_the_same_session(ctx, order):
    for payload in order:
        await call(transaction_event, ctx, payload)
    row = await _session(ctx)
    assert (row.status, row.started_at, row.stopped_at) == (
        "completed", T0, T0 + timedelta(minutes=20)
    )
    assert (row.energy_wh, row.id_token, row.last_seq_no) == (Decimal(1000), "TAG1", 2)


async def test_offline_start_does_not_trust_a_zero_transaction_begin(ctx):
    # Queued while offline: the meter said 0 at Transaction.Begin, its register is 910 kWh.
    # 910 kWh in an hour would be a plausible rise; only the offline flag tells it is not.
    events = [
        _event("Started", 0, -120, 0, "Transaction.Begin", offline=True, idToken=TAG),
        _event("Updated", 1, -60, 910000, offline=True),
        _event("Ended", 2, 0, 910083, "Transaction.End"),
    ]
    for payload in events:
        await call(transaction_event, ctx, payload)
    row = await _session(ctx)
    assert row.offline_start is True
    assert row.energy_wh == Decimal(83)
    assert [a["kind"] for a in row.meter_anomalies] == ["untrusted_zero_baseline"]


async def test_kwh_and_multipliers_are_counted_in_wh(ctx):
    started = _event("Started", 0, 0, idToken=TAG)
    updated = _event("Updated", 1, 30)
    updated["meterValue"] = [
        {"timestamp": updated["timestamp"],
         "sampledValue": [{"value": 1, "unitOfMeasure": {"unit": "Wh", "multiplier": 4}}]},
        {"timestamp": format_timestamp(T0 + timedelta(minutes=60)),
         "sampledValue": [{"value": 12.5, "unitOfMeasure": {"unit": "kWh"}}]},
    ]
    for payload in (started, updated):
        await call(transaction_event, ctx, payload)
    await ctx.services.sessions.refresh_energy()
    assert (await _session(ctx)).energy_wh == Decimal(2500)  # 10 000 Wh -> 12 500 Wh


async def test_blocked_token_is_told_blocked(ctx):
    await ctx.services.tokens.create("BAD", status="Blocked")
    started = _event("Started", 0, 0, idToken={"idToken": "BAD", "type": "ISO14443"})
    assert await call(transaction_event, ctx, started) == {"idTokenInfo": {"status": "Blocked"}}
    assert (await _session(ctx)).id_token == "BAD"  # the station decides what to do


async def test_unknown_token_is_invalid_on_any_event(ctx):
    updated = _event("Updated", 1, 5, idToken={"idToken": "WHO", "type": "Local"})
    assert await call(transaction_event, ctx, updated) == {"idTokenInfo": {"status": "Invalid"}}


async def test_no_authorization_token_is_not_looked_up(ctx):
    started = _event("Started", 0, 0, idToken={"idToken": "", "type": "NoAuthorization"})
    assert await call(transaction_event, ctx, started) == {}
    assert (await _session(ctx)).id_token is None


async def test_concurrent_tx_only_for_a_second_session(ctx):
    await ctx.services.tokens.create("ONE", max_concurrent_sessions=1)
    token = {"idToken": "ONE", "type": "ISO14443"}
    first = _event("Started", 0, 0, idToken=token)
    second = _event("Started", 0, 1, tx="TX-2", idToken=token)
    assert await call(transaction_event, ctx, first) == {"idTokenInfo": {"status": "Accepted"}}
    assert await call(transaction_event, ctx, second) == {
        "idTokenInfo": {"status": "ConcurrentTx"}
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seqNo": -1}, "seqNo"),
        ({"evse": {"id": 0}}, "evse.id"),
        ({"evse": {"id": 1, "connectorId": 2**31}}, "evse.connectorId"),
        ({"meterValue": [{"timestamp": "2026-03-02T09:00:00Z",
                          "sampledValue": [{"value": float("inf")}]}]}, "value"),
    ],
)
async def test_bad_values_are_refused_and_nothing_is_stored(ctx, change, message):
    with pytest.raises(PropertyConstraintCallError, match=message):
        await call(transaction_event, ctx, {**STARTED, **change})
    assert await _sessions(ctx) == []


async def test_updated_and_ended_answer_with_the_running_cost(ctx, clock):
    await ctx.services.tariffs.put({"id": "T1", "currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": Decimal("0.40"), "vat": Decimal(21),
                               "step_size": 1}]}]})
    await ctx.services.tariffs.assign("default", "", "T1")
    assert "totalCost" not in await call(transaction_event, ctx, STARTED)
    clock.advance(600)
    # 0.5 kWh so far x 0.40 = 0.20, with 21 % VAT 0.242 -> 0.24
    assert (await call(transaction_event, ctx, UPDATED))["totalCost"] == 0.24
    clock.advance(600)
    assert (await call(transaction_event, ctx, ENDED))["totalCost"] == 0.48  # 1 kWh: 0.484

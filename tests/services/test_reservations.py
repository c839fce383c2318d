"""Reservations through the services, on SQLite and PostgreSQL: ReserveNow and
CancelReservation to a station played on the bus (each CALL translated and checked against
the official schema, as the gateway would), the checks before anything is stored, expiry,
sessions that use a reservation, and availability over stored state."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from evcsms.bus.base import station_subject
from evcsms.domain import device_model as dm
from evcsms.domain.clock import FrozenClock
from evcsms.domain.commands import CommandName
from evcsms.domain.faults import error_code
from evcsms.domain.model import OcppVersion, Registration
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16.commands import to_call as to_call_16
from evcsms.protocol.v201 import reservation_status_update, transaction_event
from evcsms.protocol.v201.commands import to_call as to_call_201
from evcsms.protocol.validation import validate
from evcsms.services.container import Services
from evcsms.services.errors import ConflictError, InvalidInputError, NotFoundError
from evcsms.services.reservations import ReservationService, StationUnreachableError
from evcsms.services.sessions import StartTransaction, StopTransaction
from evcsms.services.stations import BootInfo, ConnectorStatus
from tests.conftest import T0

Answer = Callable[[str, dict[str, Any]], dict[str, Any]]
UNTIL = T0 + timedelta(minutes=30)


def accept(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"status": "Accepted"}


async def station(services: Services, station_id: str, version: OcppVersion = OcppVersion.V16,
                  answer: Answer = accept, evses: int = 2) -> list[tuple[str, dict[str, Any]]]:
    """A booted station with `evses` Available EVSEs answering its commands on the bus like
    a station connected to this node; the CALLs it got are returned (filled as they come)."""
    await services.stations.create(station_id, password=None)
    await services.stations.boot(station_id, BootInfo("V", "M", None, "1.0", "PowerUp",
                                                      version.value, {}))
    for evse in range(1, evses + 1):
        await services.stations.connector_status(station_id, ConnectorStatus(evse, 1,
                                                                             "Available"), T0)
    translate = to_call_16 if version is OcppVersion.V16 else to_call_201
    calls: list[tuple[str, dict[str, Any]]] = []

    async def serve(message: dict[str, Any]) -> dict[str, Any]:
        action, payload = translate(CommandName(message["name"]), message["params"])
        validate(version, action, payload)
        calls.append((action, payload))
        response = answer(action, payload)
        validate(version, action, response, response=True)
        accepted = response["status"] == "Accepted"
        return {"status": "accepted" if accepted else "rejected", "ocpp_action": action,
                "request": payload, "response": response}

    await services.bus.serve(station_subject(station_id, "command"), serve)
    return calls


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.02)


async def status_of(services: Services, reservation_id: int) -> str:
    return str((await services.reservations.get(reservation_id)).status)


# -- reserve -------------------------------------------------------------------------------


async def test_a_1_6_station_accepts_and_the_call_names_our_id(services: Services) -> None:
    calls = await station(services, "R16")
    await services.tokens.create("CARD-1", group_id="FLEET-7")
    row = await services.reservations.reserve("R16", 2, "CARD-1", UNTIL, by="alice")
    assert (row.status, row.evse_id, row.id_token, row.created_by) == (
        "accepted", 2, "CARD-1", "alice")
    assert row.expires_at == UNTIL and row.ended_at is None and row.command_id
    assert calls == [("ReserveNow", {"connectorId": 2, "expiryDate": "2026-03-02T09:30:00Z",
                                     "idTag": "CARD-1", "reservationId": row.id,
                                     "parentIdTag": "FLEET-7"})]
    command = await services.commands.get(row.command_id)
    assert (command.name, command.created_by, command.status) == ("reserve_now", "alice",
                                                                  "accepted")


async def test_a_2_0_1_station_gets_evse_and_token_objects(services: Services) -> None:
    calls = await station(services, "R201", OcppVersion.V201)
    await services.tokens.create("CARD-2")
    row = await services.reservations.reserve("R201", 1, "CARD-2", UNTIL, by="op")
    assert row.status == "accepted"
    [(action, payload)] = calls
    assert action == "ReserveNow"
    assert payload["id"] == row.id and payload["evseId"] == 1
    assert payload["idToken"]["idToken"] == "CARD-2"
    assert "groupIdToken" not in payload


async def test_a_station_that_says_occupied_leaves_a_rejected_record(services: Services
                                                                      ) -> None:
    await station(services, "ROCC", answer=lambda a, p: {"status": "Occupied"})
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("ROCC", 1, "CARD-1", UNTIL, by="op")
    assert row.status == "rejected" and row.ended_at == T0
    from evcsms.services.reservations import reason_of

    assert reason_of(row) == "the station answered Occupied"
    rows, total = await services.reservations.list(station_id="ROCC")
    assert total == 1 and rows[0].id == row.id


async def test_an_offline_station_leaves_a_failed_record(services: Services) -> None:
    await services.stations.create("ROFF", password=None)
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("ROFF", 1, "CARD-1", UNTIL, by="op")
    from evcsms.services.reservations import reason_of

    assert (row.status, reason_of(row)) == ("failed", "station offline")
    # nothing is held: the same place and token can be reserved again
    await station(services, "RON")
    again = await services.reservations.reserve("RON", 1, "CARD-1", UNTIL, by="op")
    assert again.status == "accepted" and again.id > row.id


async def test_bad_requests_store_nothing(services: Services, clock: FrozenClock) -> None:
    calls = await station(services, "RBAD", evses=2)
    await services.stations.create("RPEND", password=None, registration=Registration.PENDING)
    await services.tokens.create("GOOD")
    await services.tokens.create("BLOCKED", status="Blocked")
    await services.tokens.create("SHORT", expires_at=T0 + timedelta(minutes=10))
    r = services.reservations
    day = T0 + timedelta(hours=24, seconds=1)
    cases: list[tuple[type[Exception], str, tuple[Any, ...]]] = [
        (NotFoundError, "station 'NOPE' not found", ("NOPE", 1, "GOOD", UNTIL)),
        (ConflictError, "registration is Pending", ("RPEND", 1, "GOOD", UNTIL)),
        (NotFoundError, "id token 'WHO' not found", ("RBAD", 1, "WHO", UNTIL)),
        (InvalidInputError, "it is Blocked", ("RBAD", 1, "BLOCKED", UNTIL)),
        (InvalidInputError, "expires at 2026-03-02T09:10:00Z, before the reservation",
         ("RBAD", 1, "SHORT", UNTIL)),
        (InvalidInputError, "is not in the future", ("RBAD", 1, "GOOD", T0)),
        (InvalidInputError, "too far ahead: at most 24 h", ("RBAD", 1, "GOOD", day)),
        (InvalidInputError, "station 'RBAD' has no EVSE 3 (it has 1, 2)",
         ("RBAD", 3, "GOOD", UNTIL)),
        (InvalidInputError, "evse_id must be 0", ("RBAD", -1, "GOOD", UNTIL)),
    ]
    for kind, message, args in cases:
        with pytest.raises(kind, match=re.escape(message)):
            await r.reserve(*args, by="o")
    assert (await r.list())[1] == 0 and calls == []
    # a driver (owner) cannot reserve with somebody else's token: it is "not found"
    with pytest.raises(NotFoundError, match="id token 'GOOD' not found"):
        await r.reserve("RBAD", 1, "GOOD", UNTIL, by="bob", owner=12345)
    # 24 h exactly is fine
    row = await r.reserve("RBAD", 1, "GOOD", T0 + timedelta(hours=24), by="o")
    assert row.status == "accepted"


async def test_overlaps_are_refused(services: Services) -> None:
    await station(services, "ROV", evses=2)
    for card in ("A", "B", "C", "D"):
        await services.tokens.create(card)
    r = services.reservations
    first = await r.reserve("ROV", 1, "A", UNTIL, by="o")
    with pytest.raises(ConflictError, match=f"EVSE 1 of 'ROV' is already reserved "
                                            f"\\(reservation {first.id}\\)"):
        await r.reserve("ROV", 1, "B", UNTIL, by="o")
    with pytest.raises(ConflictError, match=f"'A' already holds reservation {first.id}"):
        await r.reserve("ROV", 2, "A", UNTIL, by="o")
    any_evse = await r.reserve("ROV", 0, "B", UNTIL, by="o")  # 2 EVSEs, 1 held: one left
    assert any_evse.status == "accepted"
    with pytest.raises(ConflictError, match="every EVSE of 'ROV' is already reserved"):
        await r.reserve("ROV", 2, "C", UNTIL, by="o")
    await r.cancel(first.id, by="o")
    assert (await r.reserve("ROV", 2, "C", UNTIL, by="o")).status == "accepted"


async def test_concurrent_requests_for_one_evse_have_one_winner(services: Services) -> None:
    await station(services, "RRACE", evses=1)
    cards = [f"CARD-{i}" for i in range(6)]
    for card in cards:
        await services.tokens.create(card)
    results = await asyncio.gather(
        *(services.reservations.reserve("RRACE", 1, card, UNTIL, by="o") for card in cards),
        return_exceptions=True)
    won = [x for x in results if not isinstance(x, BaseException)]
    assert len(won) == 1 and won[0].status == "accepted"
    assert all(isinstance(x, ConflictError) for x in results if isinstance(x, BaseException))


async def test_reserve_now_only_through_the_service(services: Services) -> None:
    calls = await station(services, "RGEN")
    await services.tokens.create("CARD-1")
    with pytest.raises(InvalidInputError, match="POST /api/v1/reservations"):
        await services.commands.issue("RGEN", "reserve_now", {
            "reservation_id": 77, "evse_id": 1, "id_token": "CARD-1",
            "expires_at": "2026-03-02T09:30:00Z"})
    assert calls == [] and (await services.commands.list("RGEN", limit=10, offset=0))[1] == 0


# -- cancel --------------------------------------------------------------------------------


async def test_cancel_at_the_station(services: Services) -> None:
    answers = iter(["Accepted", "Accepted", "Rejected"])
    calls = await station(services, "RCAN", answer=lambda a, p: {"status": next(answers)})
    await services.tokens.create("CARD-1")
    await services.tokens.create("CARD-2")
    row = await services.reservations.reserve("RCAN", 1, "CARD-1", UNTIL, by="op")
    done = await services.reservations.cancel(row.id, by="op")
    assert (done.status, done.ended_at) == ("cancelled", T0)
    assert calls[-1] == ("CancelReservation", {"reservationId": row.id})
    with pytest.raises(ConflictError, match="is cancelled"):
        await services.reservations.cancel(row.id, by="op")
    # the station has no such reservation (Rejected): it holds nothing, so cancelled too
    other = await services.reservations.reserve("RCAN", 1, "CARD-2", UNTIL, by="op")
    assert other.status == "rejected"  # answers: the third one is Rejected
    with pytest.raises(NotFoundError):
        await services.reservations.cancel(999_999, by="op")


async def test_a_station_that_says_it_holds_none_is_cancelled_too(services: Services) -> None:
    answers = iter(["Accepted", "Rejected"])
    await station(services, "RREJ", answer=lambda a, p: {"status": next(answers)})
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RREJ", 1, "CARD-1", UNTIL, by="op")
    assert (await services.reservations.cancel(row.id, by="op")).status == "cancelled"


async def test_cancel_with_the_station_offline_keeps_the_reservation(services: Services
                                                                      ) -> None:
    await station(services, "RGONE")
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RGONE", 1, "CARD-1", UNTIL, by="op")
    responder = services.bus._responders[station_subject("RGONE", "command")]  # type: ignore[attr-defined]
    await responder.unsubscribe()
    with pytest.raises(StationUnreachableError, match="station offline; it stays until it "
                                                      "expires at 2026-03-02T09:30:00Z"):
        await services.reservations.cancel(row.id, by="op")
    assert await status_of(services, row.id) == "accepted"


async def test_cancel_reservation_sent_as_a_plain_command_updates_the_record(
        services: Services) -> None:
    await station(services, "RPLAIN")
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RPLAIN", 1, "CARD-1", UNTIL, by="op")
    record = await services.commands.issue("RPLAIN", "cancel_reservation",
                                           {"reservation_id": row.id}, created_by="op")
    assert record.status == "accepted"
    assert await status_of(services, row.id) == "cancelled"
    with pytest.raises(NotFoundError, match="has no reservation 424242"):
        await services.commands.issue("RPLAIN", "cancel_reservation",
                                      {"reservation_id": 424242})


# -- expiry --------------------------------------------------------------------------------


async def test_the_sweep_expires_accepted_reservations_past_their_time(
        services: Services, clock: FrozenClock) -> None:
    calls = await station(services, "REXP")
    await services.tokens.create("CARD-1")
    await services.tokens.create("CARD-2")
    soon = await services.reservations.reserve("REXP", 1, "CARD-1", T0 + timedelta(minutes=5),
                                               by="op")
    later = await services.reservations.reserve("REXP", 2, "CARD-2", UNTIL, by="op")
    clock.advance(4 * 60)
    assert await services.reservations.expire_due() == []
    clock.advance(60)
    assert await services.reservations.expire_due() == [soon.id]
    row = await services.reservations.get(soon.id)
    assert (row.status, row.ended_at) == ("expired", T0 + timedelta(minutes=5))
    assert await status_of(services, later.id) == "accepted"
    active, total = await services.reservations.list(active_only=True)
    assert total == 1 and active[0].id == later.id
    with pytest.raises(ConflictError, match="is expired"):
        await services.reservations.cancel(soon.id, by="op")
    clock.advance(25 * 60)  # due, not swept yet: cancelling says so and asks no station
    with pytest.raises(ConflictError, match=f"reservation {later.id} is expired"):
        await services.reservations.cancel(later.id, by="op")
    assert calls[-1][0] == "ReserveNow"


async def test_the_periodic_sweep_runs_by_itself(services: Services, clock: FrozenClock
                                                 ) -> None:
    await station(services, "RLOOP")
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RLOOP", 1, "CARD-1", T0 + timedelta(minutes=1),
                                              by="op")
    sweeping = ReservationService(services.engine, services.writer, services.bus, clock,
                                  services.commands, sweep_interval=0.05)
    await sweeping.start()
    try:
        clock.advance(61)

        async def expired() -> bool:
            return await status_of(services, row.id) == "expired"

        assert await eventually(expired)
    finally:
        await sweeping.close()


# -- sessions use reservations ----------------------------------------------------------------


async def test_a_1_6_start_naming_the_reservation_uses_it(services: Services) -> None:
    await station(services, "RUSE")
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RUSE", 1, "CARD-1", UNTIL, by="op")
    started = await services.sessions.start_v16(StartTransaction(
        "RUSE", 1, "CARD-1", Decimal(0), T0 + timedelta(minutes=3), reservation_id=row.id))
    used = await services.reservations.get(row.id)
    assert (used.status, used.session_id, used.ended_at) == ("used", started.transaction_id, T0)


async def test_a_1_6_start_without_the_id_uses_the_tokens_reservation_on_that_evse(
        services: Services) -> None:
    await station(services, "RTOK", evses=3)
    for card in ("CARD-1", "CARD-2", "CARD-3", "OTHER"):
        await services.tokens.create(card)
    r = services.reservations
    on_one = await r.reserve("RTOK", 1, "CARD-1", UNTIL, by="op")
    on_two = await r.reserve("RTOK", 2, "CARD-2", UNTIL, by="op")
    anywhere = await r.reserve("RTOK", 0, "CARD-3", UNTIL, by="op")
    # another token on EVSE 1, and CARD-2 on EVSE 3: neither is a reservation's use
    await services.sessions.start_v16(StartTransaction("RTOK", 1, "OTHER", Decimal(0), T0))
    await services.sessions.start_v16(StartTransaction("RTOK", 3, "CARD-2", Decimal(0), T0))
    assert [await status_of(services, x.id) for x in (on_one, on_two, anywhere)] == [
        "accepted"] * 3
    tx = await services.sessions.start_v16(StartTransaction("RTOK", 1, "CARD-1", Decimal(0),
                                                            T0 + timedelta(seconds=5)))
    assert (await r.get(on_one.id)).session_id == tx.transaction_id
    await services.sessions.start_v16(StartTransaction("RTOK", 2, "CARD-3", Decimal(0),
                                                       T0 + timedelta(seconds=6)))
    assert [await status_of(services, x.id) for x in (on_one, on_two, anywhere)] == [
        "used", "accepted", "used"]
    # a re-sent start changes nothing and uses nothing twice
    again = await services.sessions.start_v16(StartTransaction(
        "RTOK", 1, "CARD-1", Decimal(0), T0 + timedelta(seconds=5)))
    assert again.transaction_id == tx.transaction_id


async def test_a_station_may_name_a_reservation_our_sweep_already_expired(
        services: Services, clock: FrozenClock) -> None:
    await station(services, "RLATE")
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("RLATE", 1, "CARD-1", T0 + timedelta(minutes=1),
                                              by="op")
    clock.advance(90)
    assert await services.reservations.expire_due() == [row.id]
    await services.sessions.start_v16(StartTransaction(
        "RLATE", 1, "CARD-1", Decimal(0), T0 + timedelta(seconds=59), reservation_id=row.id))
    assert await status_of(services, row.id) == "used"
    # an id that is not ours (or not an int32) is ignored, the start is kept
    tx = await services.sessions.start_v16(StartTransaction(
        "RLATE", 1, "CARD-1", Decimal(0), T0 + timedelta(seconds=70), reservation_id=2**40))
    assert tx.transaction_id > 0


async def test_a_2_0_1_transaction_event_naming_the_reservation_uses_it(services: Services
                                                                         ) -> None:
    await station(services, "R201U", OcppVersion.V201)
    await services.tokens.create("CARD-1")
    row = await services.reservations.reserve("R201U", 1, "CARD-1", UNTIL, by="op")
    ctx = StationContext("R201U", OcppVersion.V201, services)
    payload = {"eventType": "Started", "timestamp": "2026-03-02T09:02:00Z",
               "triggerReason": "Authorized", "seqNo": 0, "reservationId": row.id,
               "transactionInfo": {"transactionId": "tx-1"}, "evse": {"id": 1, "connectorId": 1},
               "idToken": {"idToken": "CARD-1", "type": "ISO14443"}}
    validate(OcppVersion.V201, "TransactionEvent", payload)
    await transaction_event.handle(ctx, payload)
    used = await services.reservations.get(row.id)
    session = await services.sessions.get(used.session_id)
    assert used.status == "used" and session.transaction_ref == "tx-1"


async def test_2_0_1_status_updates_end_reservations(services: Services) -> None:
    await station(services, "R201S", OcppVersion.V201)
    await services.tokens.create("CARD-1")
    await services.tokens.create("CARD-2")
    ctx = StationContext("R201S", OcppVersion.V201, services)
    one = await services.reservations.reserve("R201S", 1, "CARD-1", UNTIL, by="op")
    two = await services.reservations.reserve("R201S", 2, "CARD-2", UNTIL, by="op")
    for reservation_id, update in ((one.id, "Expired"), (two.id, "Removed")):
        payload = {"reservationId": reservation_id, "reservationUpdateStatus": update}
        validate(OcppVersion.V201, "ReservationStatusUpdate", payload)
        assert await reservation_status_update.handle(ctx, payload) == {}
    assert [await status_of(services, x.id) for x in (one, two)] == ["expired", "cancelled"]
    # another station cannot end them; an unknown id is only kept as the event
    assert not await services.reservations.station_update("R201S", 999, "Expired")


# -- lists and availability ----------------------------------------------------------------


async def test_list_filters(services: Services) -> None:
    await station(services, "RL1")
    await station(services, "RL2", answer=lambda a, p: {"status": "Faulted"})
    await services.tariffs.put_site("S1", name="Depot", time_zone=None)
    await services.tariffs.place_station("RL1", "S1")
    for card in ("A", "B", "C"):
        await services.tokens.create(card)
    await services.drivers.create("dana", ["B"])
    dana = await services.drivers.user_id("dana")
    a = await services.reservations.reserve("RL1", 1, "A", UNTIL, by="o")
    b = await services.reservations.reserve("RL1", 2, "B", UNTIL, by="o")
    c = await services.reservations.reserve("RL2", 1, "C", UNTIL, by="o")
    r = services.reservations

    async def ids(**kw: Any) -> list[int]:
        return [row.id for row in (await r.list(**kw))[0]]

    assert await ids() == [c.id, b.id, a.id]
    assert await ids(station_id="RL2") == [c.id]
    assert await ids(site_id="S1") == [b.id, a.id]
    assert await ids(status="rejected") == [c.id]
    assert await ids(active_only=True) == [b.id, a.id]
    assert await ids(owner=dana) == [b.id]
    assert await ids(limit=1, offset=1) == [b.id]
    with pytest.raises(InvalidInputError, match="status must be one of"):
        await r.list(status="gone")
    assert (await r.get(b.id, owner=dana)).id == b.id
    with pytest.raises(NotFoundError):
        await r.get(a.id, owner=dana)


async def test_availability_of_a_site_from_stored_state(services: Services,
                                                        clock: FrozenClock) -> None:
    await station(services, "AV1", evses=3)
    await station(services, "AV2", OcppVersion.V201, evses=1)
    await services.tariffs.put_site("SITE", name="Mall", time_zone=None)
    for sid in ("AV1", "AV2"):
        await services.tariffs.place_station(sid, "SITE")
        await services.stations.set_connected(sid, True, "node")
    await services.tokens.create("CARD-1")
    await services.tokens.create("CARD-2")
    # three finished sessions at AV1 EVSE 2 (30, 60, 90 min) a week ago
    for i, minutes in enumerate((30, 60, 90)):
        start = T0 - timedelta(days=7, hours=i)
        tx = await services.sessions.start_v16(StartTransaction("AV1", 2, "CARD-2", Decimal(0),
                                                                start))
        await services.sessions.stop_v16(StopTransaction("AV1", tx.transaction_id, Decimal(1000),
                                                         start + timedelta(minutes=minutes)))
    # and one older than the 30-day window, which must not count
    old = await services.sessions.start_v16(StartTransaction(
        "AV1", 2, "CARD-2", Decimal(0), T0 - timedelta(days=40)))
    await services.sessions.stop_v16(StopTransaction("AV1", old.transaction_id, Decimal(1),
                                                     T0 - timedelta(days=40) + timedelta(
                                                         minutes=1)))
    held = await services.reservations.reserve("AV1", 1, "CARD-1", UNTIL, by="op")
    assert held.status == "accepted"
    await services.sessions.start_v16(StartTransaction("AV1", 2, "CARD-2", Decimal(0),
                                                       T0 - timedelta(minutes=20)))
    await services.stations.connector_status("AV1", ConnectorStatus(2, 1, "Charging"), T0)
    await services.incidents.report("AV1", error_code("AV1/3/1", "Faulted", "GroundFailure"))
    await services.stations.connector_status("AV1", ConnectorStatus(3, 1, "Faulted",
                                                                    "GroundFailure"), T0)
    await services.device_model.store("AV2", dm.from_report([
        {"component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
         "variable": {"name": "ConnectorType"},
         "variableAttribute": [{"type": "Actual", "value": "cType2"}]},
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"},
         "variableAttribute": [{"type": "MaxSet", "value": "22000"}],
         "variableCharacteristics": {"dataType": "decimal", "supportsMonitoring": False,
                                     "maxLimit": 11000}}]), "notify_report")

    result = (await services.reservations.availability(site_id="SITE")).as_dict()
    ports = {(p["station_id"], p["evse_id"]): p for p in result["connectors"]}
    assert result["connectors_total"] == 4 and result["available_now"] == 1
    assert ports[("AV1", 1)]["state"] == "reserved"
    assert ports[("AV1", 1)]["free_at"] == "2026-03-02T09:30:00Z"
    # in use for 20 min, past sessions 30/60/90 -> median 60 -> started + 60 = now + 40 min
    assert ports[("AV1", 2)]["free_at"] == "2026-03-02T09:40:00Z"
    assert ports[("AV1", 2)]["free_at_basis"] == "evse_history"
    assert ports[("AV1", 3)]["state"] == "faulted"
    assert ports[("AV2", 1)]["available_now"] is True
    # the device model's maxLimit is the rating (MaxSet is only what was last set)
    assert (ports[("AV2", 1)]["connector_type"], ports[("AV2", 1)]["max_power_w"]) == (
        "cType2", 11000)
    assert ports[("AV1", 1)]["connector_type"] is None
    assert result["next_free_at"] == "2026-03-02T09:30:00Z"
    # once the reservation expires the EVSE is free again
    clock.advance(31 * 60)
    assert await services.reservations.expire_due() == [held.id]
    later = {(p.station_id, p.evse_id): p for p in
             (await services.reservations.availability(site_id="SITE")).ports}
    assert later[("AV1", 1)].available_now
    with pytest.raises(NotFoundError, match="site 'NOWHERE' not found"):
        await services.reservations.availability(site_id="NOWHERE")
    with pytest.raises(NotFoundError, match="'GHOST'"):
        await services.reservations.availability(station_ids=["AV1", "GHOST"])
    some = await services.reservations.availability(station_ids=["AV2"])
    assert [p.station_id for p in some.ports] == ["AV2"]

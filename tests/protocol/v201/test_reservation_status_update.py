"""2.0.1 ReservationStatusUpdate: the station ends a reservation by itself."""

from datetime import timedelta

import pytest

from evcsms.protocol.v201 import reservation_status_update
from tests.conftest import T0
from tests.protocol.v201 import STATION, call, new_station


@pytest.fixture
async def ctx(services):
    ctx = await new_station(services)
    await services.tokens.create("CARD-1")
    return ctx


async def _reservation(services, status: str, evse: int = 1) -> int:
    """A reservation row as the service leaves it after the station's answer."""
    from evcsms.storage import tables as t

    async def op(conn):
        result = await conn.execute(t.table_of(t.Reservation).insert().values(
            station_id=STATION, evse_id=evse, id_token="CARD-1",
            expires_at=T0 + timedelta(minutes=30), status=status, created_by="op",
            created_at=T0).returning(t.Reservation.id))
        return int(result.scalar_one())

    return await services.writer.submit(op, "test-reservation")


@pytest.mark.parametrize(("update", "status"), [("Expired", "expired"), ("Removed", "cancelled")])
async def test_an_accepted_reservation_ends(ctx, update, status):
    reservation_id = await _reservation(ctx.services, "accepted")
    payload = {"reservationId": reservation_id, "reservationUpdateStatus": update}
    assert await call(reservation_status_update, ctx, payload) == {}
    row = await ctx.services.reservations.get(reservation_id)
    assert (row.status, row.ended_at) == (status, T0)
    [event] = await ctx.services.stations.events(STATION, kind="reservation_status", limit=5)
    assert (event.timestamp, event.payload) == (T0, payload)


async def test_an_ended_or_unknown_reservation_is_only_kept_as_the_event(ctx):
    used = await _reservation(ctx.services, "used")
    for reservation_id in (used, 4242):
        payload = {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"}
        assert await call(reservation_status_update, ctx, payload) == {}
    assert (await ctx.services.reservations.get(used)).status == "used"
    assert len(await ctx.services.stations.events(STATION, kind="reservation_status",
                                                  limit=5)) == 2


async def test_an_id_beyond_int32_is_a_property_constraint_violation(ctx):
    from evcsms.protocol.errors import PropertyConstraintCallError

    with pytest.raises(PropertyConstraintCallError, match="reservationId"):
        await call(reservation_status_update, ctx,
                   {"reservationId": 2**40, "reservationUpdateStatus": "Removed"})

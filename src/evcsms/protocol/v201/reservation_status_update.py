"""2.0.1 ReservationStatusUpdate: the station ended a reservation by itself.

Expired -> the reservation is `expired`, Removed -> `cancelled` (services/reservations.py).
Kept as an event either way; a reservation id the station does not have with us is only
kept as the event.
"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext
from evcsms.protocol.v201.fields import checked_int


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    reservation_id = checked_int(payload["reservationId"], "reservationId")
    # The message has no timestamp: it is stamped when received.
    await ctx.services.stations.record_event(ctx.station_id, "reservation_status", ctx.now(),
                                             payload)
    await ctx.services.reservations.station_update(
        ctx.station_id, reservation_id, payload["reservationUpdateStatus"])
    return {}

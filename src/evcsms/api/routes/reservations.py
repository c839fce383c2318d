"""Reservations (ReserveNow / CancelReservation) and "where can I charge now".

Operators reserve for any token under /reservations; a driver reserves for their own
tokens under /me/reservations. Availability is readable with an operator or a driver
token. Choices (docs/reservations.md):

- a request the service refuses stores nothing: 404 unknown station or token, 409 an
  overlap or a station that is not registered, 422 bad input;
- once stored, the reservation is 201 whatever the station says: `status` is `accepted`,
  or `rejected` (the station answered Occupied, Faulted, Unavailable or Rejected) or
  `failed` (offline, no answer), with `reason`;
- DELETE cancels at the station: 200 with the record (`cancelled`), 409 when it is not
  active, 503 when the station cannot be asked (the reservation stays as it was).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field, StringConstraints

from evcsms.api.deps import Operator, Paging, RequireRole, ServicesDep, require_operator
from evcsms.api.routes.me import Driver
from evcsms.api.schemas import InputModel, Page, StationId, TokenText, UtcDatetime
from evcsms.services.reservations import StationUnreachableError, reason_of
from evcsms.services.users import UserRole

router = APIRouter(tags=["reservations"])
require_anyone = RequireRole(UserRole.OPERATOR, UserRole.DRIVER)
ReservationId = Annotated[int, Path(ge=1, le=2**63 - 1)]
StatusFilter = Literal["active", "pending", "accepted", "rejected", "failed", "cancelled",
                       "used", "expired"]


class ReservationIn(InputModel):
    station_id: StationId
    evse_id: int = Field(ge=0, le=2**31 - 1, description="0: any EVSE of the station")
    id_token: TokenText
    expires_at: UtcDatetime


class ReservationOut(BaseModel):
    id: int = Field(description="also the OCPP reservationId")
    station_id: str
    evse_id: int
    id_token: str
    expires_at: datetime
    status: str = Field(description="pending, accepted, rejected, failed, cancelled, used, "
                                    "expired")
    reason: str | None = Field(description="why it is in this status, in words")
    command_id: str | None = Field(description="the reserve_now command (see /commands)")
    session_id: int | None = Field(description="the session that used it")
    created_by: str
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> ReservationOut:
        return cls(id=row.id, station_id=row.station_id, evse_id=row.evse_id,
                   id_token=row.id_token, expires_at=row.expires_at, status=row.status,
                   reason=reason_of(row), command_id=row.command_id, session_id=row.session_id,
                   created_by=row.created_by, created_at=row.created_at, ended_at=row.ended_at)


async def _page(services: Any, page: Any, status: str | None, **filters: Any
                ) -> Page[ReservationOut]:
    rows, total = await services.reservations.list(
        status=None if status in (None, "active") else status, active_only=status == "active",
        limit=page.limit, offset=page.offset, **filters)
    return Page(items=[ReservationOut.of(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


async def _cancel(services: Any, reservation_id: int, by: str, owner: int | None
                  ) -> ReservationOut:
    try:
        row = await services.reservations.cancel(reservation_id, by=by, owner=owner)
    except StationUnreachableError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    return ReservationOut.of(row)


# -- operators ----------------------------------------------------------------------------------

_CREATED = ("201 once stored, whatever the station answers: check `status` (accepted, or "
            "rejected/failed with `reason`). 404 unknown station or token, 409 overlap or "
            "station not registered, 422 bad input: nothing stored.")


@router.post("/reservations", status_code=201, dependencies=[Depends(require_operator)],
             summary="Reserve an EVSE for an id token (ReserveNow)", description=_CREATED)
async def reserve(body: ReservationIn, services: ServicesDep, who: Operator) -> ReservationOut:
    row = await services.reservations.reserve(body.station_id, body.evse_id, body.id_token,
                                              body.expires_at, by=who.name)
    return ReservationOut.of(row)


@router.get("/reservations", dependencies=[Depends(require_operator)],
            summary="Reservations, newest first")
async def list_reservations(
    services: ServicesDep, page: Paging,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    site_id: Annotated[str | None, Query(max_length=48)] = None,
    status: Annotated[StatusFilter | None,
                      Query(description="active = pending or accepted, not yet expired")] = None,
) -> Page[ReservationOut]:
    return await _page(services, page, status, station_id=station_id, site_id=site_id)


@router.get("/reservations/{reservation_id}", dependencies=[Depends(require_operator)],
            summary="One reservation")
async def get_reservation(reservation_id: ReservationId, services: ServicesDep
                          ) -> ReservationOut:
    return ReservationOut.of(await services.reservations.get(reservation_id))


@router.delete("/reservations/{reservation_id}", dependencies=[Depends(require_operator)],
               summary="Cancel a reservation at the station (CancelReservation)",
               description="200 with the record (cancelled); 409 not active; 503 the station "
                           "cannot be asked (the reservation stays).")
async def cancel_reservation(reservation_id: ReservationId, services: ServicesDep,
                             who: Operator) -> ReservationOut:
    return await _cancel(services, reservation_id, who.name, None)


# -- drivers ------------------------------------------------------------------------------------


@router.post("/me/reservations", status_code=201, tags=["driver"],
             summary="Reserve an EVSE for one of my tokens", description=_CREATED)
async def reserve_mine(body: ReservationIn, services: ServicesDep, driver: Driver
                       ) -> ReservationOut:
    row = await services.reservations.reserve(body.station_id, body.evse_id, body.id_token,
                                              body.expires_at, by=driver.name,
                                              owner=driver.user_id)
    return ReservationOut.of(row)


@router.get("/me/reservations", tags=["driver"], summary="My reservations, newest first")
async def my_reservations(
    services: ServicesDep, page: Paging, driver: Driver,
    status: Annotated[StatusFilter | None, Query()] = None,
) -> Page[ReservationOut]:
    return await _page(services, page, status, owner=driver.user_id)


@router.delete("/me/reservations/{reservation_id}", tags=["driver"],
               summary="Cancel one of my reservations")
async def cancel_mine(reservation_id: ReservationId, services: ServicesDep, driver: Driver
                      ) -> ReservationOut:
    return await _cancel(services, reservation_id, driver.name, driver.user_id)


# -- availability (operators and drivers) -------------------------------------------------------

_AVAILABILITY = (
    "Per connector: `state`, `available_now`, and when not free `free_at`, an ESTIMATE with "
    "its `free_at_basis`: reservation_expiry (reserved), evse_history / site_history (in use: "
    "the session's start plus the median length of past sessions of the last 30 days that "
    "lasted longer than this one so far, at least 3 of them; never earlier than now + 1 "
    "minute), overdue (longer than nearly all past sessions: now + 1 minute), or null with "
    "the `reason` (faulted, out of service, offline, too little history). `next_free_at` is "
    "the earliest estimate among connectors not free now.")


@router.get("/sites/{site_id}/availability", tags=["reservations", "driver"],
            dependencies=[Depends(require_anyone)],
            summary="Where can I charge now, and when does the next connector free up",
            description=_AVAILABILITY)
async def site_availability(site_id: Annotated[str, Path(max_length=48)],
                            services: ServicesDep) -> dict[str, Any]:
    result = await services.reservations.availability(site_id=site_id)
    return {"site_id": site_id, **result.as_dict()}


@router.get("/availability", tags=["reservations", "driver"],
            dependencies=[Depends(require_anyone)],
            summary="Availability of the given stations", description=_AVAILABILITY)
async def stations_availability(
    services: ServicesDep,
    station_id: Annotated[list[Annotated[str, StringConstraints(max_length=48)]], Query(min_length=1, max_length=100,
                                           description="repeat for several stations")],
) -> dict[str, Any]:
    result = await services.reservations.availability(station_ids=station_id)
    return result.as_dict()


"""Site load management: a site's electrical tree, limits and schedules, policy, pins,
pause; the allocation in force with each EVSE's setpoint and measured draw; the profiles
the stations hold; and a station's composite schedule, asked of the station itself."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Operator, ServicesDep, require_operator
from evcsms.api.routes.tariffs import exact
from evcsms.domain import load as ld
from evcsms.services.load import Managed, Outcome, evse_key

router = APIRouter(tags=["load management"], dependencies=[Depends(require_operator)])

SiteId = Annotated[str, Path(min_length=1, max_length=48)]
StationId = Annotated[str, Path(min_length=1, max_length=48)]
EvseId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class TreeIn(BaseModel):
    """The site's tree in the `domain.load` dict form (docs/load-management.md, "JSON")."""

    circuits: list[dict[str, Any]] = Field(description="the grid connection (no parent) and "
                                                       "sub-circuits: id, parent, "
                                                       "max_current_a [L1, L2, L3], "
                                                       "max_power_kw")
    evses: list[dict[str, Any]] = Field(description="id STATION/EVSE, circuit, kind AC|DC, "
                                                    "wiring, min/max current (AC) or power (DC)")
    voltage_v: float | str | None = None
    building_load: dict[str, Any] | None = None
    peak_limit: dict[str, Any] | None = None
    policy: str | None = Field(default=None, description="equal (default), priority, first_come")


class LimitsIn(BaseModel):
    voltage_v: float | str | None = None
    building_load: dict[str, Any] | None = Field(default=None, description="a schedule in kW: "
                                                 "{windows: [...], default_kw}")
    peak_limit: dict[str, Any] | None = Field(default=None, description="peak shaving: a "
                                              "schedule of the grid connection's kW")


class PolicyIn(BaseModel):
    policy: str


class PinIn(BaseModel):
    value: float | str = Field(description="A per phase (AC) or kW (DC); 0 blocks the EVSE")


def _tree_json(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None and k != "policy"}


def _managed(m: Managed) -> Response:
    tree = ld.site_to_dict(m.site)
    body = {"site_id": m.site.id, "policy": m.policy.value, "paused": m.paused,
            "pins": [ld.pin_to_dict(p) for p in m.pins], "version": m.version,
            "updated_by": m.updated_by, "updated_at": m.updated_at.isoformat(),
            "tree": {k: v for k, v in tree.items() if k != "id"}}
    return exact(body)


@router.get("/load/sites", summary="Sites under load management")
async def list_sites(services: ServicesDep) -> list[dict[str, Any]]:
    return [{"site_id": m.site.id, "policy": m.policy.value, "paused": m.paused,
             "evses": len(m.site.evses), "circuits": len(m.site.circuits),
             "version": m.version} for m in await services.load.list()]


@router.get("/sites/{site_id}/load", summary="A site's tree, policy, pins and pause")
async def get_site(site_id: SiteId, services: ServicesDep) -> Response:
    return _managed(await services.load.get(site_id))


@router.put("/sites/{site_id}/load", summary="Put a site under load management (or replace "
                                             "its tree)")
async def put_site(site_id: SiteId, body: TreeIn, services: ServicesDep,
                   who: Operator) -> Response:
    """The site must exist (`PUT /sites/{id}`); every EVSE is `STATION/EVSE` of an
    existing station in no other managed site. Stations that are connected get their
    failsafe profile at once, and the sessions running there a new allocation."""
    data = body.model_dump()
    return _managed(await services.load.put(site_id, _tree_json(data), by=who.name,
                                            policy=data.get("policy")))


@router.delete("/sites/{site_id}/load", status_code=204,
               summary="Take a site out of load management")
async def delete_site(site_id: SiteId, services: ServicesDep) -> Response:
    await services.load.remove(site_id)
    return Response(status_code=204)


@router.put("/sites/{site_id}/load/circuits/{circuit_id}", summary="Add or change a circuit")
async def put_circuit(site_id: SiteId, circuit_id: Annotated[str, Path(max_length=48)],
                      body: dict[str, Any], services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name,
                                             circuit={**body, "id": circuit_id}))


@router.delete("/sites/{site_id}/load/circuits/{circuit_id}", summary="Remove a circuit")
async def delete_circuit(site_id: SiteId, circuit_id: Annotated[str, Path(max_length=48)],
                         services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name, drop_circuit=circuit_id))


@router.put("/sites/{site_id}/load/evses/{station_id}/{evse_id}",
            summary="Add or change an EVSE's wiring (circuit, phases, kind, min and max)")
async def put_evse(site_id: SiteId, station_id: StationId, evse_id: EvseId,
                   body: dict[str, Any], services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(
        site_id, who.name, evse={**body, "id": evse_key(station_id, evse_id)}))


@router.delete("/sites/{site_id}/load/evses/{station_id}/{evse_id}",
               summary="Take an EVSE out of the site's tree")
async def delete_evse(site_id: SiteId, station_id: StationId, evse_id: EvseId,
                      services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name,
                                             drop_evse=evse_key(station_id, evse_id)))


@router.put("/sites/{site_id}/load/limits",
            summary="Voltage, building load and peak-shaving schedule (null removes one)")
async def put_limits(site_id: SiteId, body: LimitsIn, services: ServicesDep,
                     who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name,
                                             limits=body.model_dump(exclude_unset=True)))


@router.put("/sites/{site_id}/load/policy", summary="How power is shared")
async def put_policy(site_id: SiteId, body: PolicyIn, services: ServicesDep,
                     who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name, policy=body.policy))


@router.put("/sites/{site_id}/load/pins/{station_id}/{evse_id}",
            summary="Pin an EVSE at a value (0 blocks it), whatever the allocation says")
async def put_pin(site_id: SiteId, station_id: StationId, evse_id: EvseId, body: PinIn,
                  services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(
        site_id, who.name, pin=(evse_key(station_id, evse_id), body.value)))


@router.delete("/sites/{site_id}/load/pins/{station_id}/{evse_id}", summary="Unpin an EVSE")
async def delete_pin(site_id: SiteId, station_id: StationId, evse_id: EvseId,
                     services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(
        site_id, who.name, pin=(evse_key(station_id, evse_id), None)))


@router.post("/sites/{site_id}/load/pause", summary="Pause charging at the site (all 0)")
async def pause(site_id: SiteId, services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name, paused=True))


@router.post("/sites/{site_id}/load/resume", summary="Resume charging at the site")
async def resume(site_id: SiteId, services: ServicesDep, who: Operator) -> Response:
    return _managed(await services.load.edit(site_id, who.name, paused=False))


def _outcome(o: Outcome, profiles: list[Any]) -> Response:
    body = ld.allocation_to_dict(o.allocation)
    held: dict[str, list[dict[str, Any]]] = {}
    for p in profiles:
        held.setdefault(evse_key(p.station_id, p.evse_id), []).append({
            "purpose": p.purpose, "limit": p.limit, "unit": p.unit, "status": p.status,
            "stack_level": p.stack_level, "transaction_ref": p.transaction_ref,
            "valid_to": p.valid_to.isoformat() if p.valid_to else None,
            "sent_at": p.sent_at.isoformat()})
    for setpoint in body["setpoints"]:
        draw = o.draws.get(setpoint["evse"])
        setpoint["session_id"] = draw["session_id"] if draw else None
        setpoint["draw_a"] = list(draw["draw_a"]) if draw and draw["draw_a"] else None
        setpoint["draw_kw"] = draw["draw_kw"] if draw else None
        setpoint["measured_at"] = draw["measured_at"].isoformat() \
            if draw and draw["measured_at"] else None
        setpoint["profiles"] = held.get(setpoint["evse"], [])
    body["site_id"] = o.site_id
    body["sent"] = o.sent
    body["skipped"] = o.skipped
    return exact(body)


@router.get("/sites/{site_id}/allocation",
            summary="The allocation now: each EVSE's setpoint, why, its draw and profiles")
async def get_allocation(site_id: SiteId, services: ServicesDep) -> Response:
    """Computed from the current sessions and draws (nothing is sent); `profiles` shows
    what each station holds."""
    outcome = await services.load.rebalance(site_id, send=False)
    return _outcome(outcome, await services.load.profiles(site_id))


@router.post("/sites/{site_id}/allocation",
             summary="Allocate now and send the stations what changed")
async def post_allocation(site_id: SiteId, services: ServicesDep) -> Response:
    outcome = await services.load.rebalance(site_id)
    return _outcome(outcome, await services.load.profiles(site_id))


@router.get("/stations/{station_id}/evses/{evse_id}/composite-schedule",
            summary="Ask the station what limit it applies (GetCompositeSchedule)")
async def composite_schedule(station_id: StationId, evse_id: Annotated[int, Path(ge=0)],
                             services: ServicesDep, who: Operator,
                             duration: Annotated[int, Query(ge=1, le=86400)] = 3600
                             ) -> dict[str, Any]:
    record = await services.commands.issue(
        station_id, "get_composite_schedule", {"evse_id": evse_id, "duration_s": duration},
        created_by=who.name)
    return {"status": record.status, "response": record.response, "error": record.error,
            "command_id": record.id}

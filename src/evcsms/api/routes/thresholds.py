"""Fault-rule thresholds per scope (default, site, model, station), and what applies to a
station with where each value comes from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Operator, ServicesDep, require_operator
from evcsms.domain import thresholds as th
from evcsms.domain.faults import DEFAULTS

router = APIRouter(tags=["incidents"], dependencies=[Depends(require_operator)])

Scope = Annotated[str, Path(description="site, model or station", pattern="^(site|model|station)$")]
ScopeId = Annotated[str, Path(description="the site id, the model name or the station id",
                              min_length=1, max_length=100)]
Value = int | float | str | None


class ThresholdsIn(BaseModel):
    values: dict[str, Value] = Field(
        description="threshold name -> value (numbers, or text for exact decimals; windows "
                    "in seconds; null only for rated_current_a). Replaces what the scope "
                    "set before; {} sets nothing.",
        examples=[{"nominal_voltage": "230", "voltage_tolerance": "0.15",
                   "rated_current_a": "32"}])


class ScopeOut(BaseModel):
    scope: str
    scope_id: str
    values: dict[str, str | None]
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> ScopeOut:
        return cls(scope=row.scope, scope_id=row.scope_id, values=dict(row.values),
                   updated_by=row.updated_by, updated_at=row.updated_at)


class FieldOut(BaseModel):
    name: str
    unit: str
    low: str
    high: str
    builtin: str | None


class ThresholdsOut(BaseModel):
    fields: list[FieldOut] = Field(description="every threshold, its unit, range and built-in "
                                               "default")
    scopes: list[ScopeOut] = Field(description="what each scope sets, widest first in effect: "
                                               "default < site < model < station")


class EffectiveOut(BaseModel):
    station_id: str
    values: dict[str, str | None]
    sources: dict[str, str] = Field(description="which scope each value comes from "
                                                "(builtin: none sets it)")


@router.get("/fault-thresholds", summary="Thresholds set per scope, and the built-in defaults")
async def list_thresholds(services: ServicesDep) -> ThresholdsOut:
    builtin = th.as_text(DEFAULTS)
    fields = [FieldOut(name=name, unit=spec.unit, low=str(spec.low), high=str(spec.high),
                       builtin=builtin[name]) for name, spec in th.FIELDS.items()]
    order = {scope: n for n, scope in enumerate(th.SCOPES)}
    rows = sorted(await services.thresholds.list(), key=lambda r: (order[r.scope], r.scope_id))
    return ThresholdsOut(fields=fields, scopes=[ScopeOut.of(r) for r in rows])


@router.put("/fault-thresholds/default", summary="Set the network-wide thresholds")
async def put_default(body: ThresholdsIn, services: ServicesDep,
                      principal: Operator) -> ScopeOut:
    return ScopeOut.of(await services.thresholds.set("default", "", body.values,
                                                     by=principal.name))


@router.delete("/fault-thresholds/default", status_code=204,
               summary="Forget the network-wide thresholds (the built-in ones apply)")
async def delete_default(services: ServicesDep) -> Response:
    await services.thresholds.delete("default", "")
    return Response(status_code=204)


@router.put("/fault-thresholds/{scope}/{scope_id:path}",
            summary="Set the thresholds of a site, a station model or a station")
async def put_scope(scope: Scope, scope_id: ScopeId, body: ThresholdsIn, services: ServicesDep,
                    principal: Operator) -> ScopeOut:
    """A site or station must exist; a model is the name stations give in their
    BootNotification (chargePointModel / chargingStation.model)."""
    return ScopeOut.of(await services.thresholds.set(scope, scope_id, body.values,
                                                     by=principal.name))


@router.delete("/fault-thresholds/{scope}/{scope_id:path}", status_code=204,
               summary="Forget what a scope sets")
async def delete_scope(scope: Scope, scope_id: ScopeId, services: ServicesDep) -> Response:
    await services.thresholds.delete(scope, scope_id)
    return Response(status_code=204)


@router.get("/stations/{station_id}/fault-thresholds",
            summary="The thresholds that apply to a station, and where each comes from")
async def station_thresholds(station_id: str, services: ServicesDep) -> EffectiveOut:
    values, sources = await services.thresholds.effective(station_id)
    return EffectiveOut(station_id=station_id, values=th.as_text(values), sources=sources)

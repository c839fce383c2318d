"""Pushing a session's running cost to stations that show it.

Every `interval` seconds, for each running session with a tariff on a connected station
whose `cost_updates` is on: price it so far and, when the amount changed since the last
push, send `cost_updated` (OCPP 2.0.1 CostUpdated; 1.6 the OCA "RunningCost"
DataTransfer). It is opt-in per station: CostUpdated belongs to an optional 2.0.1 feature
and the DataTransfer to a white paper, and a station that does not know them only
answers with errors. 2.0.1 stations also get the cost with every TransactionEvent answer
(`totalCost`), which needs no opt-in.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.domain.clock import Clock
from evcsms.domain.model import SessionStatus
from evcsms.domain.tariffs import iso_utc
from evcsms.services.billing import BillingService
from evcsms.services.commands import CommandService
from evcsms.services.periodic import Periodic
from evcsms.storage import tables as t

log = logging.getLogger(__name__)


class LiveCostService:
    def __init__(self, engine: AsyncEngine, billing: BillingService, commands: CommandService,
                 clock: Clock, *, interval: float, concurrency: int = 50) -> None:
        self._engine = engine
        self._billing = billing
        self._commands = commands
        self._clock = clock
        self._interval = interval
        self._limit = asyncio.Semaphore(concurrency)
        self._last: dict[int, Decimal] = {}  # session -> amount last pushed
        self._loop = Periodic("live-cost", interval, self.push_once)

    async def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        await self._loop.close()

    async def push_once(self) -> int:
        """Push every changed running cost once; the number of pushes sent."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(t.ChargingSession.id, t.ChargingSession.station_id,
                       t.ChargingSession.transaction_ref)
                .join(t.Station, t.Station.id == t.ChargingSession.station_id)
                .where(t.ChargingSession.status == SessionStatus.ACTIVE.value,
                       t.ChargingSession.tariff_version_id.is_not(None),
                       t.Station.cost_updates.is_(True), t.Station.connected.is_(True))
            )).all()
        running = {r.id for r in rows}
        for gone in set(self._last) - running:
            del self._last[gone]
        sent = await asyncio.gather(*(self._push(r.id, r.station_id, r.transaction_ref)
                                      for r in rows))
        return sum(sent)

    async def _push(self, session_id: int, station_id: str, transaction_ref: str) -> bool:
        async with self._limit:
            cost = await self._billing.session_cost(session_id)
            if cost is None or cost.quote.total_cost.incl_vat is None:
                return False
            amount = cost.quote.total_cost.incl_vat
            if self._last.get(session_id) == amount:
                return False
            self._last[session_id] = amount
            meter_start = await self._meter_start(session_id)
            params = {"transaction_id": transaction_ref, "total_cost": float(amount),
                      "timestamp": iso_utc(self._clock.now()), "state": "Charging"}
            if meter_start is not None:
                params["meter_wh"] = int(meter_start + cost.energy_wh)
            try:
                await self._commands.issue(station_id, "cost_updated", params,
                                           created_by="live-cost")
            except Exception:
                log.warning("running cost for session %s not delivered", session_id,
                            exc_info=True)
                return False
            return True

    async def _meter_start(self, session_id: int) -> Decimal | None:
        """The session's meter reading at its start, in Wh, when known."""
        async with self._engine.connect() as conn:
            start = await conn.scalar(select(t.ChargingSession.meter_start_wh).where(
                t.ChargingSession.id == session_id))
        return None if start is None else Decimal(start)

"""Events are at most once: a session whose end the CDR singleton never heard (a bus outage,
a failover) still gets its CDR from the periodic catch-up."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from evcsms.bus.memory import MemoryBus
from evcsms.services.billing import CdrService
from evcsms.services.container import Services
from evcsms.services.errors import NotFoundError
from evcsms.services.sessions import StartTransaction, StopTransaction
from tests.conftest import T0


async def test_a_cdr_missed_on_the_bus_is_issued_by_the_catch_up(services: Services) -> None:
    await services.cdrs.close()  # this node's CDR singleton stops hearing anything
    deaf = MemoryBus()  # a singleton on a bus that never carries the session's end
    catching_up = CdrService(services.engine, services.writer, deaf, services.clock,
                             country_code="NL", party_id="EVC", catch_up=0.05)
    await catching_up.start()
    try:
        await services.stations.create("CP1", password=None)
        tx = (await services.sessions.start_v16(
            StartTransaction("CP1", 1, "TAG", Decimal(1000), T0))).transaction_id
        await services.sessions.stop_v16(
            StopTransaction("CP1", tx, Decimal(4000), T0 + timedelta(minutes=30)))
        async with asyncio.timeout(5):
            while True:
                try:
                    found = await services.cdrs.get(tx)
                    break
                except NotFoundError:
                    await asyncio.sleep(0.02)
        assert found["total_energy"] == Decimal(3)
    finally:
        await catching_up.close()
        await deaf.close()

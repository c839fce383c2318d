"""One node allocates a site at a time: on PostgreSQL a second node skips a site whose
advisory lock another node holds; the embedded SQLite is one node by construction."""

from __future__ import annotations

from typing import Any

from evcsms.services.commands import CommandService
from evcsms.services.load import LoadService


async def test_a_second_node_skips_a_site_being_allocated(services: Any, settings: Any) -> None:
    await services.tariffs.put_site("DEPOT", name="Depot", time_zone="UTC")
    await services.stations.create("CP1", password=None)
    await services.load.put("DEPOT", {"circuits": [{"id": "grid", "max_current_a": [32] * 3}],
                                      "evses": [{"id": "CP1/1", "circuit": "grid",
                                                 "max_current_a": 32}]}, by="test")
    await services.load.settled()
    other = LoadService(services.engine, services.writer, services.bus, services.clock,
                        CommandService(services.engine, services.writer, services.bus,
                                       services.clock))
    async with services.load._site_lock("DEPOT") as held:  # noqa: SLF001 - node A is at it
        assert held
        outcome = await other.rebalance("DEPOT")
        if settings.is_sqlite:
            assert outcome.skipped is None  # one node: nobody else to wait for
        else:
            assert outcome.skipped == "another node is allocating it"
            assert outcome.sent == []
    after = await other.rebalance("DEPOT", send=False)  # the lock is free again
    assert after.skipped is None and [s.evse for s in after.allocation.setpoints] == ["CP1/1"]



async def test_a_site_of_the_same_name_in_another_schema_does_not_block(services: Any,
                                                                        settings: Any) -> None:
    """Clusters (and parallel tests) sharing one PostgreSQL database in different schemas
    each allocate their own "DEPOT"."""
    if settings.is_sqlite:
        return  # one file, one node: no lock at all
    from evcsms.storage.database import create_engine
    from tests.conftest import PG_URL

    await services.tariffs.put_site("DEPOT", name="Depot", time_zone="UTC")
    await services.stations.create("CP1", password=None)
    await services.load.put("DEPOT", {"circuits": [{"id": "grid", "max_current_a": [32] * 3}],
                                      "evses": [{"id": "CP1/1", "circuit": "grid",
                                                 "max_current_a": 32}]}, by="test")
    await services.load.settled()
    public = create_engine(PG_URL, schema="public")  # another cluster's schema
    elsewhere = LoadService(public, services.writer, services.bus, services.clock,
                            CommandService(public, services.writer, services.bus,
                                           services.clock))
    ours = LoadService(services.engine, services.writer, services.bus, services.clock,
                       CommandService(services.engine, services.writer, services.bus,
                                      services.clock))  # (no earlier outcome to fall back on)
    try:
        async with elsewhere._site_lock("DEPOT") as held:  # noqa: SLF001 - its DEPOT
            assert held
            outcome = await ours.rebalance("DEPOT", send=False)
            assert outcome.skipped is None
    finally:
        await public.dispose()

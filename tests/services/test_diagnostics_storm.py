"""Connection and boot storms are checked in batches, with the same findings as one by one,
and a station coming back resolves its own offline incident only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from evcsms.domain import faults
from evcsms.services.periodic import Coalescer
from evcsms.services.stations import BootInfo

STATIONS = 240


def _boot_info() -> BootInfo:
    return BootInfo("V", "M", None, "1.0", "PowerUp", "1.6", {})


async def _create(services, ids: list[str]) -> None:
    await asyncio.gather(*(services.stations.create(sid, password=None) for sid in ids))


async def test_a_boot_storm_is_checked_in_a_few_batches_with_every_finding(services, clock):
    ids = [f"CP{i}" for i in range(STATIONS)]
    await _create(services, ids)
    often = set(ids[::3])  # a third of them boot three times, the rest once
    for round_ in range(3):
        await asyncio.gather(*(services.stations.boot(sid, _boot_info())
                               for sid in ids if round_ == 0 or sid in often))
        clock.advance(60)
    await services.diagnostics.settled()
    rows, total = await services.incidents.list(kind="repeated_reboots", limit=500, offset=0)
    assert total == len(often)
    assert {r.station_id for r in rows} == often
    assert all("booted 3 times" in r.message for r in rows)
    # 240 + 2 * 80 boot events, checked in batches (not one task and query each)
    assert services.diagnostics._boots.batches <= 12  # noqa: SLF001


async def test_a_reconnect_resolves_its_own_offline_incident_only(services, clock):
    ids = ["CP1", "CP10", "CP100", "CP2"]
    await _create(services, ids)
    opened = {}
    for sid in ids:
        finding = faults.offline(sid, False, clock.now() - timedelta(hours=1), clock.now(), 60)
        assert finding is not None and finding.key == f"offline:{sid}"
        opened[sid] = await services.incidents.report(sid, finding)
    # CP1 and CP2 come back; "offline:CP1" is a prefix of CP10's and CP100's keys
    await services.stations.set_connected("CP1", True, "n1")
    await services.stations.set_connected("CP2", True, "n1")
    await services.diagnostics.settled()
    status = {sid: (await services.incidents.get(opened[sid]))[0].status for sid in ids}
    assert status == {"CP1": "resolved", "CP10": "open", "CP100": "open", "CP2": "resolved"}


async def test_a_flapping_storm_finds_each_flapping_station(services, clock):
    ids = [f"F{i}" for i in range(60)]
    await _create(services, ids)
    flappy = set(ids[:20])
    for _ in range(faults.DEFAULTS.flap_disconnects):
        for sid in ids:
            await services.stations.set_connected(sid, True, "n1")
        await asyncio.gather(*(services.stations.set_connected(sid, False, "n1")
                               for sid in ids if sid in flappy))
        clock.advance(30)
    await services.diagnostics.settled()
    rows, total = await services.incidents.list(kind="flapping_link", limit=100, offset=0)
    assert {r.station_id for r in rows} == flappy and total == len(flappy)


async def test_the_coalescer_merges_repeats_and_survives_a_failed_batch(caplog):
    seen: list[list[str]] = []
    fail_once = [True]

    async def handle(keys: list[str]) -> None:
        seen.append(keys)
        if fail_once[0]:
            fail_once[0] = False
            raise RuntimeError("boom")

    batched = Coalescer("test", handle, max_batch=3)
    for key in ["a", "b", "a", "c", "d", "b"]:
        batched.add(key)
    await batched.idle()
    assert seen == [["a", "b", "c"], ["d"]]
    assert "test failed for 3 keys" in caplog.text
    batched.add("e")  # a new task after the last one ended
    await batched.idle()
    assert seen[-1] == ["e"] and batched.batches == 3
    await batched.close()

"""`Pacer`: long background work yields to the event loop on a time budget."""

from __future__ import annotations

import asyncio
import time

from evcsms.services.periodic import Pacer


async def test_a_zero_budget_yields_on_every_call_and_a_long_one_never():
    eager, lazy = Pacer(0), Pacer(3600)
    for _ in range(5):
        await eager()
        await lazy()
    assert (eager.yields, lazy.yields) == (5, 0)


async def test_busy_work_lets_other_tasks_run_between_budgets():
    """40 ms of CPU-bound work paced at 5 ms: a task waiting on the loop runs in between,
    not only once the work is done."""
    ran_at: list[float] = []

    async def other() -> None:
        while True:
            ran_at.append(time.perf_counter())
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    pace = Pacer(0.005)
    start = time.perf_counter()
    while time.perf_counter() - start < 0.04:
        sum(range(1000))  # busy
        await pace()
    end = time.perf_counter()
    task.cancel()
    during = [at for at in ran_at if start < at < end]
    assert pace.yields >= 4
    assert len(during) >= 4
    # no stretch of the work kept the other task out for much longer than the budget
    gaps = [b - a for a, b in zip([start, *during], [*during, end], strict=True)]
    assert max(gaps) < 0.03

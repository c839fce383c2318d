"""Load-allocation benchmark: how long `allocate` takes for a big site.

    .venv/bin/python benchmarks/load_allocation.py                # 100, 1,000, 10,000 EVSEs
    .venv/bin/python benchmarks/load_allocation.py --sizes 1000 --runs 500 --json out.json

A site of N EVSEs across 50 circuits (five feeders of nine fuses under the grid
connection; the EVSEs spread over the 45 fuses), built with a fixed seed: 70 % three-phase
AC EVSEs on rotated wiring, 20 % single-phase AC on the three phases in turn, 10 % DC; a
kW limit at the grid and per feeder, A limits per phase everywhere, a building-load
schedule and a peak-shaving window. 80 % of the EVSEs have a session (a third of the AC
cars single-phase, draws and offers given so the unused-share rule runs, a few nearly full
cars), a few EVSEs pinned. Every policy is timed; each run is one full `allocate` call,
limits checked afterwards (outside the timing). It prints p50/p99/max wall-clock ms and
the p50 CPU time of the process (flagging runs where other processes took the CPU), and
never fails a build.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from evcsms.domain.load import (
    Allocation,
    Circuit,
    Demand,
    Evse,
    Kind,
    Phase,
    Pin,
    Policy,
    Schedule,
    Site,
    Window,
    allocate,
)

console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
AT = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # a Monday, inside the peak window below
FEEDERS, FUSES_PER_FEEDER = 5, 9  # 1 grid + 5 feeders + 44 fuses (one feeder has 8) = 50
ROTATIONS = ((Phase.L1, Phase.L2, Phase.L3), (Phase.L2, Phase.L3, Phase.L1),
             (Phase.L3, Phase.L1, Phase.L2))


def build_site(evses: int, rnd: random.Random) -> Site:
    """The grid, five feeders and 44 fuses (50 circuits), sized so limits bind at every level."""
    per_fuse = max(1, evses // (FEEDERS * FUSES_PER_FEEDER - 1))
    fuse_amps = Decimal(16 * per_fuse)  # about a third of what the fuse's EVSEs could take
    circuits = [Circuit("grid", None, (Decimal(12 * evses),) * 3, Decimal(8 * evses))]
    fuses = []
    for f in range(FEEDERS):
        circuits.append(Circuit(f"feeder-{f}", "grid", (Decimal(40 * per_fuse * 9),) * 3,
                                Decimal(2 * evses)))
        for k in range(FUSES_PER_FEEDER if f else FUSES_PER_FEEDER - 1):
            fuses.append(f"fuse-{f}-{k}")
            circuits.append(Circuit(fuses[-1], f"feeder-{f}", (fuse_amps,) * 3))
    out = []
    for i in range(evses):
        fuse = fuses[i % len(fuses)]
        kind = rnd.random()
        if kind < 0.1:
            out.append(Evse(f"evse-{i:05}", fuse, Kind.DC, min_power_kw=Decimal(5),
                            max_power_kw=Decimal(rnd.choice([50, 150]))))
        elif kind < 0.3:
            out.append(Evse(f"evse-{i:05}", fuse, wiring=(ROTATIONS[i % 3][0],),
                            max_current_a=Decimal(32)))
        else:
            out.append(Evse(f"evse-{i:05}", fuse, wiring=ROTATIONS[i % 3],
                            max_current_a=Decimal(rnd.choice([16, 32]))))
    return Site(
        "bench", tuple(circuits), tuple(out), time_zone="Europe/Amsterdam",
        building_load=Schedule((Window(clock(8), clock(18), Decimal(evses // 10)),),
                               Decimal(evses // 20)),
        peak_limit=Schedule((Window(clock(17), clock(21), Decimal(7 * evses)),)),
    )


def build_demands(site: Site, rnd: random.Random) -> tuple[list[Demand], list[Pin]]:
    demands = []
    pins = []
    for e in site.evses:
        if rnd.random() < 0.01 and e.kind is Kind.AC:
            pins.append(Pin(e.id, Decimal(rnd.choice([0, 10]))))
            continue
        if rnd.random() >= 0.8:
            continue
        arrival = AT - timedelta(seconds=rnd.randrange(8 * 3600))
        phases = len(e.wiring)
        car = 1 if e.kind is Kind.AC and phases == 3 and rnd.random() < 1 / 3 else None
        drawing = Decimal(rnd.randrange(0, 320)) / 10
        demands.append(Demand(
            e.id, arrival, priority=rnd.choice([0, 0, 0, 1]), car_phases=car,
            draw_a=None if e.kind is Kind.DC else (drawing,) * (car or phases),
            draw_kw=Decimal(rnd.randrange(0, 50)) if e.kind is Kind.DC else None,
            offered=Decimal(16) if e.kind is Kind.AC else Decimal(40000),
            offered_since=AT - timedelta(minutes=5),
            energy_wanted_kwh=Decimal(0) if rnd.random() < 0.02 else Decimal(30),
        ))
    return demands, pins


def check(site: Site, result: Allocation) -> None:
    """Outside the timing: no node over its effective limit (what the allocator charged)."""
    for n in result.nodes:
        for used, limit in zip(n.used_a, n.limit_a, strict=True):
            assert limit is None or used <= limit, (n.node, used, limit)
        assert n.limit_kw is None or n.used_kw <= n.limit_kw, (n.node, n.used_kw, n.limit_kw)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(evses: int, runs: int, policy: Policy, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    site = build_site(evses, rnd)
    demands, pins = build_demands(site, rnd)
    result = allocate(site, demands, AT, policy=policy, pins=pins)  # warm-up, and checked
    check(site, result)
    times, cpu = [], []
    gc.collect()
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        allocate(site, demands, AT, policy=policy, pins=pins)
        cpu.append((time.process_time() - start_cpu) * 1000)
        times.append((time.perf_counter() - start) * 1000)
    reasons: dict[str, int] = {}
    for s in result.setpoints:
        reasons[s.reason.value] = reasons.get(s.reason.value, 0) + 1
    return {
        "evses": evses, "circuits": len(site.circuits), "sessions": len(demands),
        "pins": len(pins), "policy": policy.value, "runs": runs,
        "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99), "max_ms": max(times),
        "cpu_p50_ms": percentile(cpu, 0.5),
        # less than 90 % of the wall time on this process's CPU: others took the core
        "busy": sum(cpu) < 0.9 * sum(times), "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="EVSE counts, comma-separated")
    parser.add_argument("--runs", type=int, default=0,
                        help="timed runs per size and policy (default: 500 / 200 / 20 by size)")
    parser.add_argument("--policies", default="equal,priority,first_come")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs = args.runs or (500 if size <= 100 else 200 if size <= 1000 else 20)
        for policy in (Policy(p) for p in args.policies.split(",")):
            rows.append(measure(size, runs, policy, args.seed))
            console.print(f"measured {size} EVSEs, {policy.value}", style="dim")
    table = Table(title=f"allocate() time, Python {platform.python_version()}, "
                        f"{platform.machine()}")
    for name in ("EVSEs", "circuits", "sessions", "policy", "runs", "p50 ms", "p99 ms", "max ms",
                 "CPU p50 ms", "outcome"):
        table.add_column(name, justify="left" if name in ("policy", "outcome") else "right")
    for r in rows:
        outcome = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
        table.add_row(f"{r['evses']:,}", str(r["circuits"]), f"{r['sessions']:,}", r["policy"],
                      str(r["runs"]), f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}",
                      f"{r['max_ms']:.2f}",
                      f"{r['cpu_p50_ms']:.2f}" + (" [red]*busy[/red]" if r["busy"] else ""),
                      outcome)
    console.print(table)
    if any(r["busy"] for r in rows):
        console.print("[red]*busy[/red]: other processes took the CPU during those runs (CPU "
                      "time < 90 % of wall time); do not trust their wall-clock figures.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"python": platform.python_version(), "machine": platform.machine(),
                       "rows": rows}, out, indent=2)


if __name__ == "__main__":
    main()

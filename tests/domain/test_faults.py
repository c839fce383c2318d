"""Fault rules: golden cases per rule (fault_cases/<rule>.json), written by hand."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evcsms.domain import faults as f
from evcsms.domain.metering import AnomalyKind, MeterAnomaly

CASES = Path(__file__).parent / "fault_cases"


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _samples(items: list[dict[str, Any]]) -> list[f.Sample]:
    return [f.Sample(_at(s["at"]), s["measurand"], s["phase"], Decimal(s["value"]),  # type: ignore[arg-type]
                     s.get("unit")) for s in items]


def _session(s: dict[str, Any]) -> f.SessionFacts:
    return f.SessionFacts(s["session_id"], s["connector"], _at(s["started_at"]),  # type: ignore[arg-type]
                          _at(s["stopped_at"]), Decimal(s["energy_wh"]), s["authorized"],
                          _at(s.get("last_energy_at")))


RUN = {
    "error_code": lambda a: f.error_code(a["subject"], a["status"], a["code"], a.get("vendor_code")),
    "offline": lambda a: f.offline(a["station"], a["connected"], _at(a["last_seen"]), _at(a["now"]),
                                   a["heartbeat_interval"], ping_answered=a.get("ping_answered")),
    "flapping": lambda a: f.flapping(a["station"], [_at(d) for d in a["disconnects"]], _at(a["now"])),
    "voltage_band": lambda a: f.voltage_band(a["subject"], _samples(a["samples"])),
    "phase_imbalance": lambda a: f.phase_imbalance(a["subject"], _samples(a["samples"])),
    "over_current": lambda a: f.over_current(a["subject"], _samples(a["samples"]), Decimal(a["rating_a"])),
    "over_temperature": lambda a: f.over_temperature(a["subject"], _samples(a["samples"])),
    "frozen_register": lambda a: f.frozen_register(a["subject"], _samples(a["samples"])),
    "failed_session": lambda a: f.failed_session(_session(a["session"])),
    "silent_failure": lambda a: f.silent_failure(a["connector"], [_session(s) for s in a["sessions"]],
                                                 _at(a["now"])),
    "stuck_session": lambda a: f.stuck_session(_session(a["session"]), _at(a["now"])),
    "monitoring_event": lambda a: f.monitoring_event(a["station"], a["event"])[1],
    "repeated_reboots": lambda a: f.repeated_reboots(a["station"], [_at(b) for b in a["boots"]],
                                                     _at(a["now"])),
}

CASE_LIST = [(path.stem, case) for path in sorted(CASES.glob("*.json"))
             for case in json.loads(path.read_text())["cases"]]


def _check(finding: f.Finding, expected: dict[str, Any]) -> None:
    assert finding.kind == expected["kind"]
    assert finding.severity.value == expected["severity"]
    assert finding.key == expected["key"]
    assert expected["message_contains"] in finding.message, finding.message
    assert finding.action  # every finding says what to do


@pytest.mark.parametrize(("rule", "case"), CASE_LIST, ids=[f"{r}: {c['name']}" for r, c in CASE_LIST])
def test_golden_case(rule: str, case: dict[str, Any]) -> None:
    result = RUN[rule](case["args"])
    expected = case["expect"]
    if isinstance(expected, list):
        assert isinstance(result, list) and len(result) == len(expected), result
        for finding, want in zip(result, expected, strict=True):
            _check(finding, want)
    elif expected is None:
        assert result is None, result
    else:
        assert result is not None
        _check(result, expected)


def test_every_rule_has_golden_cases() -> None:
    assert {path.stem for path in CASES.glob("*.json")} == set(RUN)
    for path in CASES.glob("*.json"):
        cases = json.loads(path.read_text())["cases"]
        assert any(c["expect"] for c in cases) and any(not c["expect"] for c in cases), path.stem


def test_meter_anomalies_become_findings() -> None:
    t = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
    found = f.meter_anomalies("CP1/1", [
        MeterAnomaly(AnomalyKind.REGISTER_BACKWARDS, t, "register went back"),
        MeterAnomaly(AnomalyKind.IMPLAUSIBLE_JUMP, t, "register jumped"),
        MeterAnomaly(AnomalyKind.UNKNOWN_UNIT, t, "unit"),
    ])
    assert [x.kind for x in found] == ["register_backwards", "implausible_jump"]


@pytest.mark.parametrize(("connected", "silent_s", "due"), [
    (True, 300, False),  # one interval: its heartbeat may still be on the way
    (True, 330, False),  # exactly 1.1 intervals
    (True, 331, True),  # past 1.1 intervals: ping it
    (False, 900, False),  # not connected: nothing to ping
    (True, None, True),  # connected, never heard from
])
def test_probe_due(connected: bool, silent_s: int | None, due: bool) -> None:
    now = datetime.fromisoformat("2026-03-02T10:10:00+00:00")
    seen = None if silent_s is None else now - timedelta(seconds=silent_s)
    assert f.probe_due(connected, seen, now, 300) is due


def test_monitoring_event_keys_pair_a_fault_with_its_clearing() -> None:
    """A clearing event names the same key as the fault it clears."""
    cases = {c["name"]: c for c in json.loads((CASES / "monitoring_event.json").read_text())["cases"]}
    for name in ("the same variable back to false clears it", "the monitor's cleared event"):
        key, finding = f.monitoring_event(cases[name]["args"]["station"], cases[name]["args"]["event"])
        assert finding is None and key == cases[name]["key"]


def test_the_rules_see_nothing_the_sweep_leaves_undecoded():
    """The diagnostics sweep decodes only what `read_by_rules` admits: every meter-value
    rule must find exactly the same on those samples as on all of them."""
    import random

    rng = random.Random(7)
    start = datetime(2026, 1, 1, 12, 0)
    measurands = ["Voltage", "Current.Import", "Temperature", "Energy.Active.Import.Register",
                  "Power.Active.Import", "Power.Offered", "SoC", "Current.Offered"]
    phases = ["", "L1", "L2", "L3", "L1-N", "L2-N", "L3-N", "N"]
    values = {"Voltage": (150, 300), "Current.Import": (0, 40), "Temperature": (20, 90),
              "Energy.Active.Import.Register": (5000, 5003), "Power.Active.Import": (0, 20000)}
    tight = f.Thresholds(frozen_minutes=1, max_temperature=Decimal(60))
    found = 0
    for case in range(200):
        values["Energy.Active.Import.Register"] = (5000, 5000 + case % 2)  # half stuck
        samples = []
        for minute in range(8):
            at = start + timedelta(minutes=minute)
            samples += [f.Sample(at, "Energy.Active.Import.Register", "",
                                 Decimal(rng.randint(*values["Energy.Active.Import.Register"]))),
                        f.Sample(at, "Power.Active.Import", "", Decimal(rng.randint(0, 20000)))]
            for _ in range(rng.randint(1, 12)):
                m = rng.choice(measurands)
                low, high = values.get(m, (0, 100))
                samples.append(f.Sample(at, m, rng.choice(phases),
                                        Decimal(rng.randint(low, high)), None))
        kept = [s for s in samples if f.read_by_rules(s.measurand, s.phase)]
        assert f.voltage_band("CP/1", kept, tight) == f.voltage_band("CP/1", samples, tight)
        assert f.phase_imbalance("CP/1", kept, tight) == f.phase_imbalance("CP/1", samples, tight)
        assert (f.over_current("CP/1", kept, Decimal(32), tight)
                == f.over_current("CP/1", samples, Decimal(32), tight))
        assert f.over_temperature("CP/1", kept, tight) == f.over_temperature("CP/1", samples, tight)
        assert f.frozen_register("CP/1", kept, tight) == f.frozen_register("CP/1", samples, tight)
        found += f.frozen_register("CP/1", samples, tight) is not None
    assert found > 10  # the cases exercise the rule that mixes two measurands
    # and it does leave things out
    assert not f.read_by_rules("Power.Active.Import", "L1")
    assert not f.read_by_rules("SoC", "")

"""Firmware update state machine: golden cases (firmware_cases/*.json), written by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ocpp
import pytest

from evcsms.domain import firmware as fw
from evcsms.domain.faults import Severity

CASES = Path(__file__).parent / "firmware_cases"


def _cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((CASES / f"{name}.json").read_text())["cases"]
    return cases


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


TIMELINES = _cases("timelines")


@pytest.mark.parametrize("case", TIMELINES, ids=_ids(TIMELINES))
def test_timeline(case: dict[str, Any]) -> None:
    state = fw.UpdateState.REQUESTED
    if not case.get("answer_last"):
        state = fw.on_answer(state, case["accepted"])
    seen = []
    for status in case["statuses"]:
        state = fw.on_status(state, status)
        seen.append(state.value)
    if case.get("answer_last"):
        state = fw.on_answer(state, case["accepted"])
    assert seen == case["expect"]
    if "after_answer" in case:
        assert state.value == case["after_answer"]


TARGETS = _cases("target")


@pytest.mark.parametrize("case", TARGETS, ids=_ids(TARGETS))
def test_target(case: dict[str, Any]) -> None:
    updates = [fw.Candidate(i, i, fw.UpdateState(s)) for i, s in case["updates"]]
    assert fw.target(updates, case["request_id"]) == case["expect"]


BOOTS = _cases("boot")


@pytest.mark.parametrize("case", BOOTS, ids=_ids(BOOTS))
def test_version_on_boot(case: dict[str, Any]) -> None:
    assert fw.records_version_on_boot(fw.UpdateState(case["state"]), case["last_status"],
                                      case["recorded"]) is case["expect"]


def _official_enum(version: str, schema: str, definition: str | None) -> set[str]:
    root = Path(ocpp.__file__).parent / version / "schemas" / f"{schema}.json"
    data = json.loads(root.read_text())
    node = data["definitions"][definition] if definition else data["properties"]["status"]
    return set(node["enum"])


def test_every_official_status_has_a_phase() -> None:
    assert set(fw.PHASES) == _official_enum("v201", "FirmwareStatusNotificationRequest",
                                            "FirmwareStatusEnumType")
    assert _official_enum("v16", "FirmwareStatusNotification", None) == fw.STATUSES_16
    assert {fw.phase(s) for s in fw.STATUSES_16} == set(fw.Phase)
    with pytest.raises(ValueError, match="unknown firmware status"):
        fw.phase("Exploded")


@pytest.mark.parametrize("status", sorted(s for s, p in fw.PHASES.items()
                                          if p is fw.Phase.FAILURE))
def test_a_failure_becomes_an_incident_in_plain_words(status: str) -> None:
    finding = fw.failure_finding("CP1", 7, status, "https://fw.example/cp.bin")
    assert finding.kind == "firmware_failed"
    assert finding.severity is Severity.WARNING
    assert finding.key == "firmware:CP1:7"
    assert finding.key.startswith(fw.success_clears("CP1"))
    assert status in finding.message and "firmware update 7 on CP1 failed" in finding.message
    assert finding.action and "station reported" not in finding.message
    assert finding.evidence == {"update_id": 7, "status": status,
                                "location": "https://fw.example/cp.bin"}

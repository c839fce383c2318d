"""Docs that claim facts about the code are checked against it."""

from __future__ import annotations

import re
from pathlib import Path

from evcsms.protocol.dispatch import ROUTES

ROOT = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^\| (\w+) \| ([\d.]+) \| \[[^\]]+\]\(\.\./([^)]+)\) \| \[[^\]]+\]\(\.\./([^)]+)\) \|$")


def coverage_rows() -> dict[tuple[str, str], tuple[str, str]]:
    text = (ROOT / "docs" / "protocol-coverage.md").read_text()
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if match:
            action, version, handler, test = match.groups()
            rows[(action, version)] = (handler, test)
    return rows


def test_protocol_coverage_lists_every_routed_action_with_real_files() -> None:
    rows = coverage_rows()
    for version, routes in ROUTES.items():
        for action, handler in routes.items():
            assert (action, version.value) in rows, f"{action} {version.value} missing from the doc"
            path, test = rows[(action, version.value)]
            assert path == "src/" + handler.__module__.replace(".", "/") + ".py"
            assert (ROOT / path).is_file() and (ROOT / test).is_file(), (path, test)
    routed = {(a, v.value) for v, routes in ROUTES.items() for a in routes}
    assert set(rows) == routed, f"doc lists unrouted actions: {set(rows) - routed}"

"""Log upload states, the station's statuses, and file names fit for a download."""

from __future__ import annotations

import json
from pathlib import Path

import ocpp
import pytest

from evcsms.domain.log_uploads import (
    FAILURES,
    STATUSES_16,
    STATUSES_201,
    UploadState,
    answer_file_name,
    ascii_file_name,
    on_answer,
    on_status,
    safe_file_name,
)

R, A, U, D, F = (UploadState.REQUESTED, UploadState.ACCEPTED, UploadState.UPLOADING,
                 UploadState.UPLOADED, UploadState.FAILED)


def _enum(version: str, schema: str, definition: str | None) -> set[str]:
    data = json.loads((Path(ocpp.__file__).parent / version / "schemas" / f"{schema}.json")
                      .read_text())
    node = data["definitions"][definition] if definition else data["properties"]["status"]
    return set(node["enum"])


def test_the_status_sets_are_the_official_ones() -> None:
    assert _enum("v16", "DiagnosticsStatusNotification", None) == STATUSES_16
    assert _enum("v201", "LogStatusNotificationRequest", "UploadLogStatusEnumType") == STATUSES_201


def test_the_link_is_open_until_the_upload_is_over() -> None:
    assert [s.value for s in UploadState if s.open] == ["requested", "accepted", "uploading"]


@pytest.mark.parametrize(("state", "accepted", "response", "expect"), [
    (R, True, {"fileName": "diag.zip"}, (A, None)),  # 1.6 with a file
    (R, True, {}, (F, "the station has no diagnostics to upload (no fileName)")),  # 1.6 nothing
    (R, True, {"status": "Accepted"}, (A, None)),  # 2.0.1 may name no file
    (R, True, {"status": "AcceptedCanceled", "filename": "x.log"}, (A, None)),
    (R, False, {"status": "Rejected"}, (F, "the station did not accept the request")),
    (R, False, None, (F, "the station did not accept the request")),  # offline, timeout
    (D, True, {}, (D, None)),  # the file overtook the answer: an empty 1.6 answer changes nothing
    (U, False, None, (U, None)),  # so did Uploading
])
def test_the_answer_moves_only_a_requested_upload(state, accepted, response, expect) -> None:
    assert on_answer(state, accepted, response) == expect


@pytest.mark.parametrize(("state", "status", "expect"), [
    (A, "Uploading", (U, None)),
    (R, "Uploading", (U, None)),
    (U, "UploadFailed", (F, FAILURES["UploadFailed"])),
    (U, "UploadFailure", (F, FAILURES["UploadFailure"])),
    (A, "PermissionDenied", (F, FAILURES["PermissionDenied"])),
    (A, "BadMessage", (F, FAILURES["BadMessage"])),
    (A, "NotSupportedOperation", (F, FAILURES["NotSupportedOperation"])),
    (U, "Uploaded", (F, "the station reported Uploaded but no file reached evcsms")),
    (D, "Uploaded", (D, None)),  # the usual order: file first, then the station says so
    (D, "UploadFailed", (D, None)),  # the file is here whatever the station thinks
    (F, "Uploading", (F, None)),
    (A, "Idle", (A, None)),
    (U, "AcceptedCanceled", (U, None)),
])
def test_station_statuses(state, status, expect) -> None:
    assert on_status(state, status) == expect


def test_an_unknown_status_is_a_bug_not_a_state() -> None:
    with pytest.raises(ValueError, match="unknown log upload status"):
        on_status(A, "Teleported")


def test_the_announced_file_name_of_either_version() -> None:
    assert answer_file_name({"fileName": "a.zip"}) == "a.zip"
    assert answer_file_name({"status": "Accepted", "filename": "b.log"}) == "b.log"
    assert answer_file_name({"status": "Accepted"}) is None
    assert answer_file_name(None) is None


@pytest.mark.parametrize(("name", "expect"), [
    ("diag-2026-03-02.zip", "diag-2026-03-02.zip"),
    ("../../etc/passwd", "passwd"),
    ("C:\\logs\\station.log", "station.log"),
    ("evil\r\nSet-Cookie: x.log", "evilSet-Cookie: x.log"),
    ("  .hidden. ", "hidden"),
    ("", "fallback.log"),
    (None, "fallback.log"),
    ("/", "fallback.log"),
    ("x" * 300 + ".log", "x" * 200),
])
def test_safe_file_name(name, expect) -> None:
    assert safe_file_name(name, "fallback.log") == expect


def test_ascii_fallback_keeps_only_plain_characters() -> None:
    assert ascii_file_name('Ladestation "Nord" – Protokoll.txt') == "Ladestation _Nord_ _ Protokoll.txt"
    assert ascii_file_name("") == "download"

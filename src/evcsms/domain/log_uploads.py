"""Log uploads (1.6 GetDiagnostics, 2.0.1 GetLog): what the station's answer and its status
notifications mean for the upload record, and what a file name may be.

    requested --(station accepts)--> accepted --(Uploading)--> uploading
        |                               |                          |
        +---------+---------------------+--------------------------+
                  |                     |
                failed          uploaded (the file reached evcsms)

The upload link accepts a file while the record is `requested`, `accepted` or `uploading`
(a fast station uploads before its answer is back) and until `OPEN_FOR` has passed.
`uploaded` and `failed` are final. The file arriving is what makes an upload `uploaded`:
a station that says Uploaded although no file came has failed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any


class UploadState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"

    @property
    def open(self) -> bool:
        """Whether the upload link still takes a file."""
        return self in (UploadState.REQUESTED, UploadState.ACCEPTED, UploadState.UPLOADING)


OPEN_FOR = timedelta(hours=24)  # a link not used within a day is dead

# Station statuses: 1.6 DiagnosticsStatus and 2.0.1 UploadLogStatusEnumType.
STATUSES_16 = frozenset({"Idle", "Uploaded", "UploadFailed", "Uploading"})
STATUSES_201 = frozenset({"BadMessage", "Idle", "NotSupportedOperation", "PermissionDenied",
                          "Uploaded", "UploadFailure", "Uploading", "AcceptedCanceled"})
FAILURES = {
    "UploadFailed": "the station could not upload the file",
    "UploadFailure": "the station could not upload the file",
    "BadMessage": "the station could not read the upload request (BadMessage)",
    "NotSupportedOperation": "the station cannot upload to this kind of location",
    "PermissionDenied": "the upload location refused the station (PermissionDenied)",
}


def on_answer(state: UploadState, accepted: bool, response: Mapping[str, Any] | None
              ) -> tuple[UploadState, str | None]:
    """The state (and the reason, when it failed) once the station answered. 1.6 answers
    without a fileName when it has nothing to upload. Only `requested` moves: the file or
    a status may already have arrived."""
    if state is not UploadState.REQUESTED:
        return state, None
    if not accepted:
        return UploadState.FAILED, "the station did not accept the request"
    if response is not None and "status" not in response and not response.get("fileName"):
        return UploadState.FAILED, "the station has no diagnostics to upload (no fileName)"
    return UploadState.ACCEPTED, None


def answer_file_name(response: Mapping[str, Any] | None) -> str | None:
    """The file name the station announced: 1.6 `fileName`, 2.0.1 `filename`."""
    if not response:
        return None
    name = response.get("fileName") or response.get("filename")
    return str(name) if name else None


def on_status(state: UploadState, status: str) -> tuple[UploadState, str | None]:
    """The state (and the failure reason) after the station reported `status`."""
    if not state.open:
        return state, None
    if status == "Uploading":
        return UploadState.UPLOADING, None
    if status == "Uploaded":  # the file would have arrived before the station says so
        return UploadState.FAILED, "the station reported Uploaded but no file reached evcsms"
    if status in FAILURES:
        return UploadState.FAILED, FAILURES[status]
    if status in STATUSES_16 | STATUSES_201:
        return state, None  # Idle, AcceptedCanceled
    raise ValueError(f"unknown log upload status {status!r}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._+\-() ]")


def safe_file_name(name: str | None, fallback: str) -> str:
    """A file name fit for a Content-Disposition header and a download folder: the last
    path segment, control and path characters dropped, at most 200 characters."""
    if name:
        name = name.replace("\\", "/").rsplit("/", 1)[-1]
        name = unicodedata.normalize("NFKC", name)
        name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
        name = name[:200]
    return name or fallback


def default_file_name(station_id: str, log_type: str, upload_id: int) -> str:
    """The stored file's name when neither the upload nor the station's answer named it."""
    return safe_file_name(f"{station_id}-{log_type}-{upload_id}.log", f"upload-{upload_id}.log")


def ascii_file_name(name: str) -> str:
    """`name` with everything outside a plain ASCII set replaced by `_` (the `filename=`
    fallback of Content-Disposition; `filename*=` carries the real name)."""
    return _UNSAFE.sub("_", name) or "download"

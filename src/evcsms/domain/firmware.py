"""Firmware updates: what a station's FirmwareStatusNotification means for the update record.

A record is created when an operator issues `update_firmware` and moves through

    requested --(station accepts)--> in_progress --(Installed)--> succeeded
        |                                 |
        +--(station rejects, offline)--> failed <--(any failure status)--+
                                          |
    in_progress --(a newer update AcceptedCanceled it)--> canceled

`succeeded`, `failed` and `canceled` are final: a later status only joins the timeline.
1.6 statuses carry no request id: they apply to the station's newest update that is not
final (`target`). When the station boots during or after installation, the firmware
version it reports is the one the update installed (`records_version_on_boot`).

Pure functions of plain values; `services.firmware` keeps the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from evcsms.domain.faults import Finding, Severity


class UpdateState(StrEnum):
    REQUESTED = "requested"  # stored and sent, the station has not answered yet
    IN_PROGRESS = "in_progress"  # accepted; downloading, installing, ...
    SUCCEEDED = "succeeded"  # Installed
    FAILED = "failed"  # a failure status, or the station refused or never got the request
    CANCELED = "canceled"  # a newer update replaced it (2.0.1 AcceptedCanceled)

    @property
    def final(self) -> bool:
        return self in (UpdateState.SUCCEEDED, UpdateState.FAILED, UpdateState.CANCELED)


class Phase(StrEnum):
    """What one station status says about an update."""

    PROGRESS = "progress"
    SUCCESS = "success"
    FAILURE = "failure"
    IDLE = "idle"  # "not doing anything": reported on a TriggerMessage; changes nothing


# Every FirmwareStatusEnumType value of 2.0.1; 1.6 uses the first seven.
STATUSES_16 = frozenset({"Downloaded", "DownloadFailed", "Downloading", "Idle",
                         "InstallationFailed", "Installing", "Installed"})
PHASES: dict[str, Phase] = {
    "Downloading": Phase.PROGRESS,
    "Downloaded": Phase.PROGRESS,
    "DownloadScheduled": Phase.PROGRESS,
    "DownloadPaused": Phase.PROGRESS,
    "SignatureVerified": Phase.PROGRESS,
    "InstallScheduled": Phase.PROGRESS,
    "Installing": Phase.PROGRESS,
    "InstallRebooting": Phase.PROGRESS,
    "Installed": Phase.SUCCESS,
    "DownloadFailed": Phase.FAILURE,
    "InstallationFailed": Phase.FAILURE,
    "InstallVerificationFailed": Phase.FAILURE,
    "InvalidSignature": Phase.FAILURE,
    "Idle": Phase.IDLE,
}
# Statuses after which a reboot is the installation's own: the version it reports is new.
INSTALL_PHASE = frozenset({"SignatureVerified", "InstallScheduled", "Installing",
                           "InstallRebooting", "Installed"})

# A failure status in plain words, with what to do about it.
FAILURES: dict[str, tuple[str, str]] = {
    "DownloadFailed": ("the station could not download the firmware",
                       "check that the location is reachable from the station and the file "
                       "exists; then send the update again"),
    "InstallationFailed": ("the station downloaded the firmware but could not install it",
                           "check that the image fits this model and hardware revision; the "
                           "station should still run its previous firmware"),
    "InstallVerificationFailed": ("the station could not verify the downloaded image",
                                  "the file may be corrupt or for another model: check it and "
                                  "send the update again"),
    "InvalidSignature": ("the firmware signature is invalid",
                         "check the signing certificate and signature sent with the update"),
}


def phase(status: str) -> Phase:
    """The phase a FirmwareStatusEnumType value belongs to; ValueError for anything else."""
    try:
        return PHASES[status]
    except KeyError:
        raise ValueError(f"unknown firmware status {status!r}") from None


def on_answer(state: UpdateState, accepted: bool) -> UpdateState:
    """The state once the station answered UpdateFirmware (or the command failed).

    Only a `requested` update moves: a status the station sent before its answer reached
    us has already decided the state."""
    if state is not UpdateState.REQUESTED:
        return state
    return UpdateState.IN_PROGRESS if accepted else UpdateState.FAILED


def on_status(state: UpdateState, status: str) -> UpdateState:
    """The state after the station reported `status` for this update."""
    if state.final:
        return state
    step = phase(status)
    if step is Phase.SUCCESS:
        return UpdateState.SUCCEEDED
    if step is Phase.FAILURE:
        return UpdateState.FAILED
    if step is Phase.PROGRESS:
        return UpdateState.IN_PROGRESS
    return state  # Idle


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of a station's update records, as `target` needs it."""

    id: int
    request_id: int | None
    state: UpdateState


def target(updates: Sequence[Candidate], request_id: int | None) -> int | None:
    """Which update a status applies to: the one with `request_id`; without one (1.6, or a
    2.0.1 status triggered while no update runs) the newest that is not final. `updates`
    are the station's records, newest first. None: the status concerns no record of ours."""
    if request_id is not None:
        return next((u.id for u in updates if u.request_id == request_id), None)
    return next((u.id for u in updates if not u.state.final), None)


def records_version_on_boot(state: UpdateState, last_status: str | None,
                            recorded: str | None) -> bool:
    """Whether a boot's reported firmware version belongs on this update: a boot during the
    installation (the newest boot wins), or the first boot after it succeeded."""
    if state is UpdateState.IN_PROGRESS:
        return last_status in INSTALL_PHASE
    if state is UpdateState.SUCCEEDED:
        return recorded is None
    return False


def failure_finding(station_id: str, update_id: int, status: str,
                    location: str) -> Finding:
    """The incident a failed update opens (one per update)."""
    what, action = FAILURES.get(status, (f"the station reported {status}",
                                         "check the station's logs (upload_log)"))
    return Finding(
        kind="firmware_failed", severity=Severity.WARNING,
        key=f"firmware:{station_id}:{update_id}",
        message=f"firmware update {update_id} on {station_id} failed: {what} ({status})",
        action=action,
        evidence={"update_id": update_id, "status": status, "location": location},
    )


def success_clears(station_id: str) -> str:
    """The incident-key prefix a successful update resolves: the station's firmware failures."""
    return f"firmware:{station_id}:"

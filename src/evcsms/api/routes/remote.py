"""Remote diagnostics of one station: log uploads (ask, list, read, download the file),
firmware updates (ask, list, one with its timeline) and the device model.

Asking here is the same as `POST /stations/{id}/commands` with `upload_log` or
`update_firmware`, answered with the record the command created instead of the command.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from evcsms.api.deps import Operator, Paging, ServicesDep, require_operator
from evcsms.api.schemas import InputModel, Page, UtcDatetime
from evcsms.domain.log_uploads import ascii_file_name

router = APIRouter(prefix="/stations/{station_id}", tags=["remote diagnostics"],
                   dependencies=[Depends(require_operator)])
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]

# Types a browser may be handed as they are; anything else downloads as octet-stream.
SAFE_TYPES = frozenset({
    "text/plain", "text/csv", "application/json", "application/zip", "application/gzip",
    "application/x-gzip", "application/x-tar", "application/x-bzip2", "application/x-xz",
    "application/x-7z-compressed", "application/zstd", "application/octet-stream",
})


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# -- log uploads ---------------------------------------------------------------------------


class LogUploadRequest(InputModel):
    log_type: Literal["diagnostics", "security"] = Field(
        default="diagnostics", description="security: OCPP 2.0.1 only")
    start_time: UtcDatetime | None = Field(default=None, description="oldest log entry wanted")
    stop_time: UtcDatetime | None = Field(default=None, description="newest log entry wanted")
    retries: Count | None = None
    retry_interval: Count | None = Field(default=None, description="seconds")

    def params(self) -> dict[str, Any]:
        values = self.model_dump(exclude_none=True)
        for key in ("start_time", "stop_time"):
            if key in values:
                values[key] = _iso(values[key])
        return values


class LogUploadOut(BaseModel):
    id: int = Field(description="also the 2.0.1 requestId")
    station_id: str
    command_id: str | None
    log_type: str
    status: Literal["requested", "accepted", "uploading", "uploaded", "failed"]
    error: str | None
    station_file_name: str | None = Field(description="the name the station announced")
    start_time: datetime | None
    stop_time: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime = Field(description="the upload link works until then")
    uploaded_at: datetime | None
    file_name: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    download: str | None = Field(description="the file's API path once it has arrived")
    timeline: list[dict[str, Any]]

    @classmethod
    def of(cls, row: Any) -> LogUploadOut:
        fields = {name: getattr(row, name) for name in cls.model_fields
                  if name not in ("download", "timeline")}
        download = (f"/api/v1/stations/{quote(row.station_id, safe='')}/log-uploads/{row.id}/file"
                    if row.size is not None else None)
        return cls(**fields, download=download, timeline=list(row.timeline or []))


@router.post("/log-uploads", status_code=201, summary="Ask the station to upload its log")
async def request_log(station_id: str, body: LogUploadRequest, services: ServicesDep,
                      principal: Operator) -> LogUploadOut:
    """Sends `upload_log` (1.6 GetDiagnostics, 2.0.1 GetLog) with a one-time link to this
    node's upload endpoint and answers with the upload record once the station answered
    (status `accepted`, or `failed` with the reason: offline, rejected, nothing to upload).
    Follow it with `GET .../log-uploads/{id}` until `uploaded`."""
    command = await services.commands.issue(station_id, "upload_log", body.params(),
                                            created_by=principal.name)
    return LogUploadOut.of(await services.log_uploads.get(station_id,
                                                          int(command.params["upload_id"])))


@router.get("/log-uploads", summary="The station's log uploads, newest first")
async def list_log_uploads(station_id: str, services: ServicesDep, page: Paging
                           ) -> Page[LogUploadOut]:
    await services.stations.get(station_id)  # 404 for an unknown station
    rows, total = await services.log_uploads.list(station_id, limit=page.limit,
                                                  offset=page.offset)
    return Page(items=[LogUploadOut.of(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/log-uploads/{upload_id}", summary="One log upload")
async def get_log_upload(station_id: str, upload_id: RecordId, services: ServicesDep
                         ) -> LogUploadOut:
    return LogUploadOut.of(await services.log_uploads.get(station_id, upload_id))


@router.get("/log-uploads/{upload_id}/file", summary="Download the uploaded file",
            response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}},
                       404: {"description": "no such upload, or no file yet"}})
async def download_log(station_id: str, upload_id: RecordId, services: ServicesDep) -> Response:
    """The file as the station sent it, as an attachment; `ETag` is its SHA-256."""
    row, content = await services.log_uploads.file(station_id, upload_id)
    name = row.file_name or f"upload-{row.id}.log"
    media = (row.content_type or "").split(";")[0].strip().lower()
    media_type = row.content_type if media in SAFE_TYPES else "application/octet-stream"
    disposition = (f'attachment; filename="{ascii_file_name(name)}"; '
                   f"filename*=UTF-8''{quote(name, safe='')}")
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": disposition, "ETag": f'"{row.sha256}"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


# -- firmware updates ----------------------------------------------------------------------


class FirmwareRequest(InputModel):
    location: str = Field(min_length=1, max_length=512,
                          description="http(s), ftp(s) or sftp URL the station downloads from")
    retrieve_at: UtcDatetime | None = Field(default=None, description="default: now")
    retries: Count | None = None
    retry_interval: Count | None = Field(default=None, description="seconds")
    signing_certificate: str | None = Field(default=None, max_length=5500,
                                            description="PEM; OCPP 2.0.1 only")
    signature: str | None = Field(default=None, max_length=800,
                                  description="base64; OCPP 2.0.1 only")

    def params(self) -> dict[str, Any]:
        values = self.model_dump(exclude_none=True)
        if "retrieve_at" in values:
            values["retrieve_at"] = _iso(values["retrieve_at"])
        return values


class FirmwareEventOut(BaseModel):
    at: datetime
    source: str = Field(description="evcsms or station")
    status: str
    note: str


class FirmwareUpdateOut(BaseModel):
    id: int = Field(description="also the 2.0.1 requestId")
    station_id: str
    command_id: str | None
    location: str
    retrieve_at: datetime
    retries: int | None
    retry_interval: int | None
    signed: bool
    status: Literal["requested", "in_progress", "succeeded", "failed", "canceled"]
    station_status: str | None = Field(description="the last FirmwareStatusNotification")
    error: str | None
    previous_version: str | None = Field(description="the station's firmware when asked")
    installed_version: str | None = Field(description="reported at the boot after installing")
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> FirmwareUpdateOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class FirmwareUpdateDetail(FirmwareUpdateOut):
    timeline: list[FirmwareEventOut]


def _firmware_detail(found: tuple[Any, list[Any]]) -> FirmwareUpdateDetail:
    row, events = found
    return FirmwareUpdateDetail(**FirmwareUpdateOut.of(row).model_dump(), timeline=[
        FirmwareEventOut(at=e.at, source=e.source, status=e.status, note=e.note)
        for e in events])


@router.post("/firmware-updates", status_code=201, summary="Ask the station to update firmware")
async def request_firmware(station_id: str, body: FirmwareRequest, services: ServicesDep,
                           principal: Operator) -> FirmwareUpdateDetail:
    """Sends `update_firmware` (UpdateFirmware in both versions) and answers with the update
    record once the station answered: `in_progress`, or `failed` with the reason. Its
    FirmwareStatusNotifications then carry it to `succeeded` or `failed`."""
    command = await services.commands.issue(station_id, "update_firmware", body.params(),
                                            created_by=principal.name)
    return _firmware_detail(await services.firmware.get(station_id,
                                                        int(command.params["update_id"])))


@router.get("/firmware-updates", summary="The station's firmware updates, newest first")
async def list_firmware(station_id: str, services: ServicesDep, page: Paging
                        ) -> Page[FirmwareUpdateOut]:
    await services.stations.get(station_id)
    rows, total = await services.firmware.list(station_id, limit=page.limit, offset=page.offset)
    return Page(items=[FirmwareUpdateOut.of(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/firmware-updates/{update_id}", summary="One firmware update with its timeline")
async def get_firmware(station_id: str, update_id: RecordId, services: ServicesDep
                       ) -> FirmwareUpdateDetail:
    return _firmware_detail(await services.firmware.get(station_id, update_id))


# -- device model --------------------------------------------------------------------------


class DeviceVariableOut(BaseModel):
    component: str
    component_instance: str = Field(description='"" when the component has no instance')
    evse_id: int = Field(description="0: not on an EVSE")
    connector_id: int = Field(description="0: not on a connector")
    variable: str
    variable_instance: str
    attribute_type: str = Field(description="Actual, Target, MinSet or MaxSet")
    value: str | None
    mutability: str | None
    persistent: bool | None
    constant: bool | None
    characteristics: dict[str, Any] | None = Field(
        description="2.0.1 variableCharacteristics: unit, dataType, limits, valuesList")
    source: str = Field(description="what last set it: notify_report, get_variables, "
                                    "set_variables, get_configuration, change_configuration")
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> DeviceVariableOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


Name = Annotated[str | None, Query(min_length=1, max_length=50)]


@router.get("/device-model", summary="The station's device model (2.0.1) or configuration (1.6)")
async def device_model(station_id: str, services: ServicesDep, page: Paging,
                       component: Name = None, variable: Name = None
                       ) -> Page[DeviceVariableOut]:
    """One item per component, variable and attribute type, ordered by component, EVSE,
    connector and variable. Filled by `get_base_report` (NotifyReport), and by the answers to
    `get_variables`, `set_variables`, `get_configuration` and `change_configuration` (1.6 keys
    appear under the component `OCPP16Configuration`)."""
    await services.stations.get(station_id)
    rows, total = await services.device_model.list(
        station_id, component=component, variable=variable, limit=page.limit,
        offset=page.offset)
    return Page(items=[DeviceVariableOut.of(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)

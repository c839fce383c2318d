"""The upload endpoint stations send log files to (1.6 GetDiagnostics, 2.0.1 GetLog).

No API token: the station knows only the location it was given, so the unguessable
one-time token in the path is the credential. It works while its upload is open
(`domain.log_uploads`): an unknown token is 404, a used, failed or expired one 410. The
body is capped (EVCSMS_MAX_UPLOAD_BYTES; more is 413, checked on Content-Length before
anything is read and again while reading). Accepted: PUT or POST of the raw file, or POST
of multipart/form-data with one file field; a file name may follow the token in the
path, as some chargers append it.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from evcsms.api import multipart
from evcsms.api.deps import ServicesDep
from evcsms.domain.log_uploads import safe_file_name
from evcsms.services.errors import NotFoundError
from evcsms.services.log_uploads import UPLOAD_PATH, ReceivedFile, UploadClosedError

router = APIRouter(prefix=UPLOAD_PATH, tags=["uploads"])
Token = Annotated[str, Path(max_length=100, description="the token from the location")]
FileName = Annotated[str, Path(max_length=255)]
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=(\"[^\"\r\n]*\"|[\w.+-]+))*$")


def _media_type(value: str | None) -> str | None:
    """A Content-Type worth keeping (a plain media type, at most 100 characters)."""
    if value is None:
        return None
    value = value.strip()
    return value if len(value) <= 100 and _MEDIA_TYPE.match(value) else None


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() \
            and int(declared) > limit:
        raise HTTPException(413, f"the file is larger than the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"the file is larger than the {limit}-byte limit")
    return bytes(body)


async def _receive(request: Request, services: ServicesDep, token: str,
                   path_name: str | None) -> JSONResponse:
    uploads = services.log_uploads
    try:
        await uploads.ticket(token)  # 404/410 before reading a byte
        content_type = request.headers.get("content-type", "")
        is_form = content_type.lower().startswith("multipart/form-data")
        # a form carries some bytes of headers and boundaries besides the file
        body = await _body(request, uploads.max_bytes + (64 * 1024 if is_form else 0))
        file_type: str | None = content_type
        file_name = path_name
        if is_form:
            try:
                part = multipart.the_file(multipart.parse(body, content_type))
            except multipart.MultipartError as exc:
                raise HTTPException(400, f"malformed multipart/form-data: {exc}") from None
            if len(part.content) > uploads.max_bytes:
                raise HTTPException(413, f"the file is larger than the "
                                         f"{uploads.max_bytes}-byte limit")
            body, file_type, file_name = part.content, part.content_type, part.file_name or path_name
        row = await uploads.receive(token, ReceivedFile(
            body, safe_file_name(file_name, "") or None, _media_type(file_type)))
    except NotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except UploadClosedError as exc:
        raise HTTPException(410, str(exc)) from None
    return JSONResponse({"status": "uploaded", "size": row.size, "sha256": row.sha256},
                        status_code=201)


_SUMMARY = "Receive a log file from a station (the token in the path is the credential)"
_RESPONSES: dict[int | str, dict[str, str]] = {
    201: {"description": "stored"}, 400: {"description": "malformed multipart body"},
    404: {"description": "no upload has this token"},
    410: {"description": "the upload is over (file already received, failed or expired)"},
    413: {"description": "larger than EVCSMS_MAX_UPLOAD_BYTES"},
}


@router.put("/{token}", summary=_SUMMARY, responses=_RESPONSES, status_code=201)
@router.post("/{token}", summary=_SUMMARY, responses=_RESPONSES, status_code=201)
async def upload(token: Token, request: Request, services: ServicesDep) -> JSONResponse:
    return await _receive(request, services, token, None)


@router.put("/{token}/{file_name}", summary=_SUMMARY, responses=_RESPONSES, status_code=201)
@router.post("/{token}/{file_name}", summary=_SUMMARY, responses=_RESPONSES, status_code=201)
async def upload_named(token: Token, file_name: FileName, request: Request,
                       services: ServicesDep) -> JSONResponse:
    return await _receive(request, services, token, file_name)

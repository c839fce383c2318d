"""multipart/form-data (RFC 7578) from a body already read and size-checked.

Chargers upload logs as a form with one file field; the body is in memory anyway (it is
stored in the database), so a small exact parser does, with no spooling to disk. Part
headers are read by the standard library's email parser (quoted and RFC 2231 `filename*`
parameters included).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32


class MultipartError(ValueError):
    """The body is not the multipart form its Content-Type announces; says why."""


@dataclass(frozen=True, slots=True)
class Part:
    name: str | None
    file_name: str | None
    content_type: str | None
    content: bytes


def boundary_of(content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 200:
        raise MultipartError("multipart/form-data needs a boundary parameter (1..200 characters)")
    return boundary


def parse(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart body; MultipartError when it is malformed."""
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    position = body.find(delimiter)
    if position < 0:
        raise MultipartError("the body does not contain the boundary its Content-Type names")
    parts: list[Part] = []
    while True:
        position += len(delimiter)
        if body.startswith(b"--", position):  # the close delimiter
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError("a boundary line is not followed by CRLF")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("the last part is not closed by the boundary")
        parts.append(_part(body[start:end]))
        position = end + 2


def _part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n"):  # no headers at all
        head, content = b"", raw[2:]
    else:
        head, separator, content = raw.partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("a part has no blank line between its headers and content")
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    disposition = headers.get("content-disposition")
    name = headers.get_param("name", header="content-disposition") if disposition else None
    file_name = headers.get_filename()
    return Part(name=name if isinstance(name, str) else None, file_name=file_name,
                content_type=headers.get("content-type"), content=content)


def the_file(parts: list[Part]) -> Part:
    """The one file in a form: the first part with a file name, else the only part."""
    for part in parts:
        if part.file_name is not None:
            return part
    if len(parts) == 1:
        return parts[0]
    raise MultipartError("the form has no file part (a part with a filename)")

"""The multipart/form-data parser of the upload endpoint."""

from __future__ import annotations

import httpx
import pytest

from evcsms.api.multipart import MultipartError, parse, the_file


def _encoded(files: dict, data: dict | None = None) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_what_httpx_sends_parses_back_byte_for_byte() -> None:
    payload = bytes(range(256)) * 10 + b"\r\n--not-the-boundary\r\n"
    body, content_type = _encoded({"file": ("diag.bin", payload, "application/octet-stream")},
                                  {"station": "CP1"})
    parts = parse(body, content_type)
    assert [(p.name, p.file_name) for p in parts] == [("station", None), ("file", "diag.bin")]
    file = the_file(parts)
    assert file.content == payload and file.content_type == "application/octet-stream"


def test_quoted_boundary_preamble_epilogue_and_rfc_2231_names() -> None:
    body = (b"preamble\r\n--a b\r\n"
            b"Content-Disposition: form-data; name=\"log\"; filename*=UTF-8''M%C3%A4rz.log\r\n"
            b"Content-Type: text/plain\r\n\r\n"
            b"line 1\r\nline 2\r\n--a b--\r\nepilogue")
    [part] = parse(body, 'multipart/form-data; boundary="a b"')
    assert (part.name, part.file_name, part.content) == ("log", "März.log", b"line 1\r\nline 2")


def test_a_lone_part_without_a_file_name_is_the_file() -> None:
    body = b"--B\r\n\r\nraw bytes\r\n--B--\r\n"
    assert the_file(parse(body, "multipart/form-data; boundary=B")).content == b"raw bytes"


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"--B\r\nno blank line\r\n--B--", "multipart/form-data; boundary=B", "no blank line"),
    (b"hello", "multipart/form-data; boundary=B", "does not contain the boundary"),
    (b"--B\r\n\r\nopen", "multipart/form-data; boundary=B", "not closed"),
    (b"--Bjunk\r\n\r\nx\r\n--B--", "multipart/form-data; boundary=B", "not followed by CRLF"),
    (b"", "multipart/form-data", "needs a boundary"),
])
def test_malformed_bodies_say_why(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        parse(body, content_type)


def test_two_plain_fields_are_not_a_file() -> None:
    body, content_type = (
        b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n--B--\r\n",
        "multipart/form-data; boundary=B")
    with pytest.raises(MultipartError, match="no file part"):
        the_file(parse(body, content_type))

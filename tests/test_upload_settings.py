"""EVCSMS_PUBLIC_URL and EVCSMS_MAX_UPLOAD_BYTES: where stations send log files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from evcsms.settings import SettingsError, load_settings


def test_the_default_is_the_listen_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVCSMS_PUBLIC_URL", raising=False)
    assert load_settings(host="10.0.0.5", port=9000).upload_base_url() == "http://10.0.0.5:9000"
    assert load_settings(host="::1", port=9000).upload_base_url() == "http://[::1]:9000"
    wildcard = load_settings(host="0.0.0.0", port=9000).upload_base_url()  # noqa: S104
    assert wildcard == f"http://{socket.getfqdn()}:9000"


def test_tls_makes_it_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert load_settings(tls_cert=cert, tls_key=key, port=8443).upload_base_url() == (
        "https://127.0.0.1:8443")


def test_a_public_url_wins_and_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVCSMS_PUBLIC_URL", "https://csms.example.com/")
    assert load_settings().upload_base_url() == "https://csms.example.com"


@pytest.mark.parametrize("value", ["csms.example.com", "ftp://csms.example.com",
                                   "https://csms example.com"])
def test_a_bad_public_url_names_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="EVCSMS_PUBLIC_URL.*http:// or https://"):
        load_settings(public_url=value)


def test_the_upload_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().max_upload_bytes == 50 * 1024 * 1024
    monkeypatch.setenv("EVCSMS_MAX_UPLOAD_BYTES", "10")
    with pytest.raises(SettingsError, match="EVCSMS_MAX_UPLOAD_BYTES"):
        load_settings()

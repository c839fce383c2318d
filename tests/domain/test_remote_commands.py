"""Parameter rules of upload_log, update_firmware and get_base_report (domain.commands)."""

from __future__ import annotations

import pytest

from evcsms.domain.commands import CommandName, CommandParamsError, check_command, utc_text

FW = "https://firmware.example/sim-1.2.0.bin"


@pytest.mark.parametrize(("name", "params", "version"), [
    ("upload_log", {}, "1.6"),
    ("upload_log", {"log_type": "security", "retries": 0, "retry_interval": 0}, "2.0.1"),
    ("upload_log", {"start_time": "2026-03-01T00:00:00Z", "stop_time": "2026-03-01T00:00:00Z"},
     "1.6"),
    ("update_firmware", {"location": FW}, "1.6"),
    ("update_firmware", {"location": "ftp://fw.example/a.bin", "retrieve_at":
                         "2026-03-02T09:00:00+02:00", "retries": 3, "retry_interval": 60}, "1.6"),
    ("update_firmware", {"location": FW, "signing_certificate": "PEM", "signature": "SIG"},
     "2.0.1"),
    ("get_base_report", {}, "2.0.1"),
    ("get_base_report", {"report_base": "ConfigurationInventory"}, None),
])
def test_accepted(name, params, version) -> None:
    assert check_command(name, params, version) is CommandName(name)


@pytest.mark.parametrize(("name", "params", "version", "message"), [
    ("upload_log", {"log_type": "security"}, "1.6", "security exists only in OCPP 2.0.1"),
    ("upload_log", {"log_type": "kernel"}, "2.0.1", "log_type must be one of"),
    ("upload_log", {"start_time": "yesterday"}, "2.0.1", "start_time must be an ISO 8601"),
    ("upload_log", {"stop_time": "2026-03-01T00:00:00"}, "2.0.1", "with a zone"),
    ("upload_log", {"start_time": "2026-03-02T00:00:00Z", "stop_time": "2026-03-01T00:00:00Z"},
     "2.0.1", "stop_time must not be before start_time"),
    ("upload_log", {"retries": -1}, "1.6", "retries must be an integer"),
    ("upload_log", {"location": "https://elsewhere.example/"}, "1.6",
     "location is chosen by evcsms"),
    ("upload_log", {"request_id": 5}, "2.0.1", "request_id is chosen by evcsms"),
    ("update_firmware", {}, "1.6", "location is required"),
    ("update_firmware", {"location": "file:///etc/passwd"}, "1.6", "http, https, ftp"),
    ("update_firmware", {"location": "https://a b/c"}, "1.6", "without spaces"),
    ("update_firmware", {"location": FW, "retrieve_at": "soon"}, "1.6", "retrieve_at must be"),
    ("update_firmware", {"location": FW, "signature": "SIG"}, "1.6",
     "signature exists only in OCPP 2.0.1"),
    ("update_firmware", {"location": FW, "signature": "S" * 801}, "2.0.1", "at most 800"),
    ("update_firmware", {"location": FW, "request_id": 1}, "2.0.1", "chosen by evcsms"),
    ("get_base_report", {}, "1.6", "get_base_report exists only in OCPP 2.0.1"),
    ("get_base_report", {"report_base": "Everything"}, "2.0.1", "report_base must be one of"),
])
def test_refused_with_a_reason(name, params, version, message) -> None:
    with pytest.raises(CommandParamsError, match=message):
        check_command(name, params, version)


def test_times_leave_as_utc_with_a_z() -> None:
    assert utc_text("2026-03-02T10:00:00.5+01:00", "t") == "2026-03-02T09:00:00.500000Z"

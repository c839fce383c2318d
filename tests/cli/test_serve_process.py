"""`evcsms serve` as a real process: a station talks to it, SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def talk(port: int) -> str:
    for _ in range(300):  # wait up to 30 s for the server to listen (slow CI start-up)
        try:
            async with connect(f"ws://127.0.0.1:{port}/ocpp/PROC1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
                await ws.send('[2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]')
                return str(await ws.recv())
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("server never listened")


def test_sigterm_shuts_down_cleanly_and_keeps_the_frames(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/proc.db",
        "EVCSMS_PORT": str(port), "EVCSMS_UNKNOWN_STATIONS": "accept",
        "EVCSMS_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen([sys.executable, "-m", "evcsms", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        answer = asyncio.run(talk(port))
        assert '"Accepted"' in answer
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "evcsms stopped" in output
    frames = sqlite3.connect(tmp_path / "proc.db").execute(
        "select direction, action from message_log where station_id = 'PROC1' order by id").fetchall()
    assert ("in", "BootNotification") in frames and ("out", "BootNotification") in frames


def test_the_demo_ends_sessions_with_a_cdr_and_a_pdf_receipt(tmp_path: Path) -> None:
    """`make run` in small: simulated stations charge, sessions end, CDRs and receipts exist."""
    port = free_port()
    db = tmp_path / "demo.db"
    env = os.environ | {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                        "EVCSMS_PORT": str(port), "EVCSMS_LOG_LEVEL": "warning"}
    env.pop("EVCSMS_ADMIN_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "evcsms", "demo", "--stations", "2", "--meter-interval", "1",
         "--session-seconds", "3", "5", "--duration", "16"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "/receipt" in result.stdout
    assert f"Dashboard:           http://127.0.0.1:{port}/ui/" in result.stdout
    logins = dict(re.findall(r"(?:operator|driver) +login: +(\S+) / (\S+)", result.stdout))
    assert set(logins) == {"demo", "demo-driver"}, result.stdout[:2000]
    rows = sqlite3.connect(db).execute(
        "select session_id, invoice_number, total_excl_vat from cdrs order by invoice_number"
    ).fetchall()
    assert rows, "no session of the demo ended with a CDR"
    assert [r[1] for r in rows] == list(range(1, len(rows) + 1))  # no gaps
    assert any(float(r[2]) > 0 for r in rows)  # priced with the demo tariff

    async def pdf() -> bytes:
        from evcsms.bootstrap import build_services, close_services
        from evcsms.settings import Settings

        services = await build_services(Settings(database_url=f"sqlite+aiosqlite:///{db}"))
        try:  # the printed dashboard logins work, with their roles
            roles = {name: await services.users.login(name, password)
                     for name, password in logins.items()}
            assert {name: p.role.value for name, p in roles.items() if p} == {
                "demo": "operator", "demo-driver": "driver"}
            driver = roles["demo-driver"]
            assert driver is not None
            assert await services.drivers.tokens(driver.user_id) == ["DEMO-RFID-01", "DEMO-RFID-02"]
            return await services.receipts.pdf(int(rows[0][0]))
        finally:
            await close_services(services)

    assert asyncio.run(pdf()).startswith(b"%PDF-")

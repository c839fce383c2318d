"""`make run` seen through the dashboard: the demo process prints its logins, and every
page an operator or a driver can reach by following links opens (no 4xx, no 5xx) on the
live demo data: stations charging and faulting, load management, tariffs, CDRs."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.cli.test_serve_process import free_port
from tests.web.html_checks import problems

pytestmark = pytest.mark.slow

MAX_PAGES = 160  # per user; breadth first, so every kind of page comes early
SKIP = re.compile(r"/(logout|events)$")


def log_in(client: httpx.Client, name: str, password: str) -> None:
    form = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    done = client.post("/ui/login", data={"username": name, "password": password,
                                          "csrf_token": token.group(1)})
    assert done.status_code == 303, done.text


def crawl(client: httpx.Client, start: str,
          faults: dict[str, list[str]] | None = None) -> dict[str, int]:
    """GET every /ui link reachable from `start` (at most MAX_PAGES): URL -> status; the
    accessibility and markup problems of each HTML page go into `faults`."""
    seen: dict[str, int] = {}
    todo = deque([start])
    while todo and len(seen) < MAX_PAGES:
        url = todo.popleft()
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        wrong = problems(response.text)
        if wrong and faults is not None:
            faults[url] = wrong
        for href in re.findall(r'href="([^"#]+)', response.text):
            target = urljoin(url, unescape(href))
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != urlsplit(str(client.base_url)).netloc:
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path.startswith("/ui/") and not SKIP.search(parts.path) and path not in seen:
                todo.append(path)
    return seen


def test_every_page_of_the_demo_opens_for_its_operator_and_driver(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"EVCSMS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
                        "EVCSMS_PORT": str(port), "EVCSMS_LOG_LEVEL": "warning"}
    env.pop("EVCSMS_ADMIN_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "evcsms", "demo", "--stations", "4", "--meter-interval", "1",
         "--session-seconds", "3", "6", "--fault-every", "3", "--fault-hold", "5",
         "--duration", "90"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()],
                              daemon=True)
    reader.start()
    output: list[str] = []
    try:
        logins: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(logins) < 2 and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "".join(output)
                continue
            output.append(line)
            found = re.search(r"(?:operator|driver) +login: +(\S+) / (\S+)", line)
            if found:
                logins[found.group(1)] = found.group(2)
        assert set(logins) == {"demo", "demo-driver"}, "".join(output)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=20) as operator, \
                httpx.Client(base_url=base, timeout=20) as driver:
            for _ in range(300):  # the server listens once the fleet starts
                try:
                    operator.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            time.sleep(12)  # sessions start and end, CDRs are issued, faults open incidents
            log_in(operator, "demo", logins["demo"])
            log_in(driver, "demo-driver", logins["demo-driver"])
            faults: dict[str, list[str]] = {}
            operator_pages = crawl(operator, "/ui/", faults)
            driver_pages = crawl(driver, "/ui/me/", faults)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(10)  # the pipe is at its end once the process is gone
        if proc.stdout:
            proc.stdout.close()
    for pages in (operator_pages, driver_pages):
        broken = {url: status for url, status in pages.items() if status != 200}
        assert not broken, broken
    assert not faults, faults  # ids, labels, alternatives, headings: tests/web/html_checks.py
    kinds = {urlsplit(url).path.split("/")[2] for url in operator_pages}
    assert {"", "stations", "incidents", "sessions", "sites", "billing", "uptime"} <= kinds
    assert any(re.fullmatch(r"/ui/sessions/\d+", url) for url in operator_pages)
    assert any(re.fullmatch(r"/ui/stations/DEMO[^/?]+", url) for url in operator_pages)
    assert any(url.startswith("/ui/billing/tariffs/DEMO-AC") for url in operator_pages)
    assert any(url.startswith("/ui/sites/DEMO-SITE") for url in operator_pages)
    driver_kinds = {urlsplit(url).path.rstrip("/") for url in driver_pages}
    assert {"/ui/me", "/ui/me/tokens", "/ui/me/spending", "/ui/me/availability"} <= driver_kinds
    elsewhere = [url for url in driver_pages if not url.startswith(("/ui/me", "/ui/static/"))]
    assert not elsewhere, elsewhere  # a driver is only linked to their own pages

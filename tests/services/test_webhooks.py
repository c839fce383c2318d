"""Incident webhooks: signed with HMAC-SHA256, retried with backoff until a 2xx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest

from evcsms.domain.faults import error_code
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.services.webhooks import WebhookService


@pytest.fixture
async def hooks(services):
    received: list[httpx.Request] = []
    answers = iter([500, 503, 200, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    service = WebhookService(services.engine, services.writer, services.bus, services.clock,
                             attempts=4, base_delay=0.01, transport=httpx.MockTransport(handler))
    await service.start()
    yield service, received
    await service.close()


async def test_incidents_are_posted_signed_and_retried(services, hooks):
    service, received = hooks
    await services.stations.create("CP1", password=None)
    webhook_id, secret = await service.create("https://ops.example/hook")
    finding = error_code("CP1/1/1", "Faulted", "GroundFailure")
    assert finding is not None
    incident_id = await services.incidents.report("CP1", finding)
    for _ in range(100):
        await service.drain()
        if len(received) >= 3:
            break
        await asyncio.sleep(0.01)
    assert len(received) == 3  # 500, 503, then 200
    request = received[-1]
    body = request.content
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert request.headers["x-evcsms-signature"] == expected
    assert request.headers["x-evcsms-event"] == "incident.opened"
    payload = json.loads(body)
    assert payload["event"] == "incident.opened" and payload["data"]["id"] == incident_id
    assert len({r.headers["x-evcsms-delivery"] for r in received}) == 1  # one delivery, 3 tries
    [row] = await service.list()
    assert row.id == webhook_id and row.failures == 0 and row.last_status == "HTTP 200 (attempt 3)"

    await services.incidents.clear("fault:CP1/1/1:", "recovered")
    for _ in range(100):
        await service.drain()
        if len(received) >= 4:
            break
        await asyncio.sleep(0.01)
    assert received[-1].headers["x-evcsms-event"] == "incident.resolved"


async def test_bad_webhooks_are_refused(services, hooks):
    service, _ = hooks
    with pytest.raises(InvalidInputError, match="url"):
        await service.create("ftp://x")
    with pytest.raises(InvalidInputError, match="events"):
        await service.create("https://x", ["incident.exploded"])
    with pytest.raises(NotFoundError):
        await service.delete(12345)

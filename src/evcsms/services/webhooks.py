"""Webhooks: incidents opened and resolved, POSTed to operator endpoints, signed, retried.

Each delivery is a JSON body `{"event", "delivery", "at", "data"}` with headers
`X-Evcsms-Event`, `X-Evcsms-Delivery` and `X-Evcsms-Signature: sha256=<hex HMAC-SHA256
of the body with the webhook's secret>`. A 2xx answer is success; anything else (or no
answer within `timeout`) is retried after 1, 2, 4, ... seconds (`base_delay` doubling) up
to `attempts` tries. The webhook row keeps the last outcome and a failure count.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.domain.tariffs import iso_utc
from evcsms.services.errors import InvalidInputError, NotFoundError
from evcsms.storage import tables as t
from evcsms.storage.writer import BatchWriter

log = logging.getLogger(__name__)
EVENTS = ("incident.opened", "incident.resolved")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookService:
    def __init__(self, engine: AsyncEngine, writer: BatchWriter, bus: Bus, clock: Clock, *,
                 attempts: int = 6, base_delay: float = 1.0, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self._bus = bus
        self._clock = clock
        self._attempts = attempts
        self._base_delay = base_delay
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for event in EVENTS:
            self._subs.append(await self._bus.subscribe(f"events.{event}", self._on_event))

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Release the HTTP client (node shutdown; `close` only stops delivering, so another
        `start` can follow when this node takes the singleton's lease again)."""
        await self._client.aclose()

    async def drain(self) -> None:
        """Wait for deliveries in progress (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def create(self, url: str, events: list[str] | None = None) -> tuple[int, str]:
        """Register an endpoint; (its id, the signing secret, shown once)."""
        if not url.startswith(("https://", "http://")):
            raise InvalidInputError("url: must be http(s)://...")
        chosen = events or list(EVENTS)
        unknown = [e for e in chosen if e not in EVENTS]
        if unknown:
            raise InvalidInputError(f"events: {', '.join(unknown)} unknown; known: {', '.join(EVENTS)}")
        secret = secrets.token_urlsafe(32)

        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(t.table_of(t.Webhook).insert().values(
                url=url, secret=secret, events=",".join(chosen), active=True, failures=0,
                created_at=self._clock.now()).returning(t.Webhook.id))
            return int(result.scalar_one())

        return await self._writer.submit(op, "webhook-create"), secret

    async def list(self) -> list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(select(
                t.Webhook.id, t.Webhook.url, t.Webhook.events, t.Webhook.active,
                t.Webhook.last_status, t.Webhook.last_attempt_at, t.Webhook.failures)
                .order_by(t.Webhook.id))).all())

    async def delete(self, webhook_id: int) -> None:
        async def op(conn: AsyncConnection) -> int:
            return int((await conn.execute(t.table_of(t.Webhook).delete().where(
                t.Webhook.id == webhook_id))).rowcount)

        if not await self._writer.submit(op, "webhook-delete"):
            raise NotFoundError(f"webhook {webhook_id} not found")

    async def _on_event(self, subject: str, data: dict[str, Any]) -> None:
        event = subject.removeprefix("events.")
        async with self._engine.connect() as conn:
            hooks = (await conn.execute(select(t.Webhook.id, t.Webhook.url, t.Webhook.secret,
                                               t.Webhook.events)
                                        .where(t.Webhook.active.is_(True)))).all()
        body = json.dumps({"event": event, "delivery": str(uuid.uuid4()),
                           "at": iso_utc(self._clock.now()), "data": data},
                          separators=(",", ":")).encode()
        for hook in hooks:
            if event in hook.events.split(","):
                task = asyncio.create_task(self._deliver(hook.id, hook.url, hook.secret, event, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, webhook_id: int, url: str, secret: str, event: str,
                       body: bytes) -> None:
        headers = {"content-type": "application/json", "x-evcsms-event": event,
                   "x-evcsms-delivery": json.loads(body)["delivery"],
                   "x-evcsms-signature": signature(secret, body)}
        delay = self._base_delay
        outcome = "not tried"
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(url, content=body, headers=headers)
                ok = 200 <= response.status_code < 300
                outcome = f"HTTP {response.status_code} (attempt {attempt})"
            except httpx.HTTPError as exc:
                ok, outcome = False, f"{type(exc).__name__} (attempt {attempt})"
            await self._record(webhook_id, outcome, ok)
            if ok:
                return
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook %s gave up on %s: %s", webhook_id, event, outcome)

    async def _record(self, webhook_id: int, outcome: str, ok: bool) -> None:
        now = self._clock.now()

        async def op(conn: AsyncConnection) -> None:
            values: dict[str, Any] = {"last_status": outcome, "last_attempt_at": now}
            if ok:
                values["failures"] = 0
            else:
                values["failures"] = t.Webhook.failures + 1
            await conn.execute(update(t.Webhook).where(t.Webhook.id == webhook_id).values(**values))

        await self._writer.submit(op, "webhook-record")

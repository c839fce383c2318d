"""Admission control for station handshakes: a reconnection storm is queued, not a crash.

When a node of a cluster dies, every station it held reconnects to the survivors at once.
Each handshake reads the station's row (and may verify a password), so a node that starts
them all together exhausts its database pool and stalls every connected station with it.
The `HandshakeGate` lets at most `max_active` handshakes run at once; up to `max_waiting`
more wait for a slot in arrival order; beyond that a handshake is refused at once with
a `Retry-After` the gateway sends as HTTP 503.

`Retry-After` spreads the refused stations out: a whole number of seconds drawn uniformly
from `min_retry` to an upper bound that grows with how full the queue is (`base_retry`
when full) and with the measured time the queue needs to drain at the current handshake
pace (twice that, so a slow database pushes stations further out), capped at `max_retry`.

Counters (`admitted`, `waiting`, `active`, `refused`, `abandoned`) are for operators
(`stats()`); the gate is not thread-safe and belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import OrderedDict
from typing import Any

MIN_RETRY = 1  # s
BASE_RETRY = 10  # s: the upper bound with a full queue and a quick database
MAX_RETRY = 60  # s: the upper bound however slow the database
_EWMA = 0.2  # weight of the newest handshake in the mean hold time


class GateFullError(Exception):
    """No slot and no room in the queue: come back after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"handshake queue full; retry after {retry_after} s")
        self.retry_after = retry_after


class HandshakeGate:
    def __init__(
        self, max_active: int = 64, max_waiting: int = 1000, *,
        min_retry: int = MIN_RETRY, base_retry: int = BASE_RETRY, max_retry: int = MAX_RETRY,
        rng: random.Random | None = None,
    ) -> None:
        if max_active < 1 or max_waiting < 0:
            raise ValueError("max_active must be at least 1 and max_waiting at least 0")
        if not 1 <= min_retry <= base_retry <= max_retry:
            raise ValueError("need 1 <= min_retry <= base_retry <= max_retry")
        self.max_active = max_active
        self.max_waiting = max_waiting
        self.min_retry = min_retry
        self.base_retry = base_retry
        self.max_retry = max_retry
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._queue: OrderedDict[asyncio.Future[None], None] = OrderedDict()
        self.active = 0  # slots held now
        self.admitted = 0  # slots ever granted (at once or after waiting)
        self.refused = 0  # refused with GateFullError
        self.abandoned = 0  # gave up waiting (the client went away)
        self.peak_waiting = 0
        self.mean_hold = 0.0  # s, moving mean of how long a slot is held

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, Any]:
        return {
            "max_active": self.max_active, "max_waiting": self.max_waiting,
            "active": self.active, "waiting": self.waiting, "peak_waiting": self.peak_waiting,
            "admitted": self.admitted, "refused": self.refused, "abandoned": self.abandoned,
            "mean_hold_s": round(self.mean_hold, 4),
        }

    # -- entering ---------------------------------------------------------------------------

    def try_enter(self) -> bool:
        """Take a free slot at once if there is one and nobody is waiting for it."""
        if self.active < self.max_active and not self._queue:
            self.active += 1
            self.admitted += 1
            return True
        return False

    def join(self) -> asyncio.Future[None]:
        """Queue for a slot: the future completes when the slot is this caller's (it must
        then `release` it), or raises GateFullError at once when the queue is full. A caller
        that stops waiting must `leave` with the future."""
        if len(self._queue) >= self.max_waiting:
            self.refused += 1
            raise GateFullError(self.retry_after())
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue[ticket] = None
        self.peak_waiting = max(self.peak_waiting, len(self._queue))
        return ticket

    def leave(self, ticket: asyncio.Future[None]) -> None:
        """Stop waiting: frees the place in the queue, or passes on a slot that was handed
        over in the meantime."""
        if ticket.done() and not ticket.cancelled():
            self.admitted -= 1  # granted but never used
            self._release()
        else:
            self._queue.pop(ticket, None)
            ticket.cancel()
        self.abandoned += 1

    async def acquire(self) -> None:
        """Wait for a slot (GateFullError when the queue is full); cancellation is safe."""
        if self.try_enter():
            return
        ticket = self.join()
        try:
            await ticket
        except asyncio.CancelledError:
            self.leave(ticket)
            raise

    def release(self, held_s: float | None = None) -> None:
        """Give a slot back, to the first live waiter if any. `held_s` (how long the slot was
        held) feeds the drain estimate behind `Retry-After`."""
        if held_s is not None:
            self.mean_hold = held_s if self.mean_hold == 0 else (
                (1 - _EWMA) * self.mean_hold + _EWMA * held_s)
        self._release()

    def _release(self) -> None:
        while self._queue:
            ticket, _ = self._queue.popitem(last=False)
            if not ticket.done():
                ticket.set_result(None)  # the slot moves to it; `active` is unchanged
                self.admitted += 1
                return
        self.active -= 1

    # -- refusing ---------------------------------------------------------------------------

    def drain_estimate(self) -> float:
        """Seconds until everything admitted or queued now has had its handshake, at the
        measured pace."""
        return (self.active + self.waiting) * self.mean_hold / self.max_active

    def retry_after(self) -> int:
        """Whole seconds a refused station should wait, with jitter."""
        fill = self.waiting / self.max_waiting if self.max_waiting else 1.0
        upper = max(fill * self.base_retry, 2 * self.drain_estimate(), float(self.min_retry))
        upper_s = min(self.max_retry, math.ceil(upper))
        return self._rng.randint(self.min_retry, upper_s)

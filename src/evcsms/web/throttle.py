"""Login throttling: too many wrong passwords for one user name, or from one address, and
the login form answers 429 with Retry-After until the oldest failure ages out.

Kept in memory per node (each node of a cluster counts on its own, so an attacker
spread over N nodes gets N times the budget; still 5 guesses per 15 minutes per node and
name). A successful login clears its user's count. At most `max_keys` names and
addresses are tracked; the least recently failed are forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(self, *, per_user: int = 5, per_address: int = 30, window: float = 900.0,
                 max_keys: int = 10_000, now: Callable[[], float] = time.monotonic) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window
        self.max_keys = max_keys
        self._now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        horizon = self._now() - self.window
        while found and found[0] <= horizon:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, user: str, address: str) -> float | None:
        """Seconds until this user name and address may try again; None when they may now."""
        waits = []
        for key, limit in ((f"u:{user.casefold()}", self.per_user),
                           (f"a:{address}", self.per_address)):
            recent = self._recent(key)
            if len(recent) >= limit:
                waits.append(recent[len(recent) - limit] + self.window - self._now())
        return max(1.0, max(waits)) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self._now()
        for key in (f"u:{user.casefold()}", f"a:{address}"):
            failures = self._failures.pop(key, None) or deque(maxlen=max(self.per_user,
                                                                          self.per_address))
            failures.append(now)
            self._failures[key] = failures  # most recent at the end
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, user: str) -> None:
        self._failures.pop(f"u:{user.casefold()}", None)

"""Counters shared by the virtual stations of one fleet (single event loop, no locking), and
the journal entry of an acknowledged transaction-related message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Acknowledged:
    """A transaction-related message the CSMS answered with a CALLRESULT: what was sent,
    the answer, how many attempts it took (CALLERRORs and timeouts; re-sends after a lost
    connection do not count) and when (``time.monotonic()``)."""

    station_id: str
    action: str
    payload: dict[str, Any]
    answer: dict[str, Any]
    attempts: int
    at: float


@dataclass
class FleetStats:
    """What a fleet did. ``connected``/``booted`` count stations that did so at least once."""

    connected: int = 0
    booted: int = 0
    sessions_started: int = 0
    sessions_completed: int = 0
    messages_sent: int = 0
    call_errors: int = 0
    connect_failures: int = 0
    energy_wh: float = 0.0
    online: int = 0
    reconnects: int = 0
    faults: int = 0  # random connector faults (fault_probability)
    faults_injected: int = 0
    faults_cleared: int = 0
    failovers: int = 0  # moves to the next CSMS address (stations given several)
    refusals: int = 0  # connects refused with HTTP 503 + Retry-After (included in failures)
    tx_retries: int = 0  # transaction-related messages sent again after a CALLERROR/timeout
    tx_dropped: int = 0  # ... given up after all their attempts
    resent: int = 0  # CALLs sent again on a new connection after theirs was lost

    @property
    def faults_active(self) -> int:
        return self.faults_injected - self.faults_cleared

    @property
    def sessions_active(self) -> int:
        return self.sessions_started - self.sessions_completed

    @property
    def errors(self) -> int:
        return self.call_errors + self.connect_failures

    @property
    def energy_kwh(self) -> float:
        return self.energy_wh / 1000.0

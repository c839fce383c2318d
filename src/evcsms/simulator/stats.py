"""Counters shared by the virtual stations of one fleet (single event loop, no locking)."""

from __future__ import annotations

from dataclasses import dataclass


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

"""Carries out CSMS commands (remote start/stop, unlock, availability, trigger) on a station."""

from __future__ import annotations

from typing import Protocol

from evcsms.simulator.client import JsonObject
from evcsms.simulator.connector import Connector, ConnectorRunner, PlugIn
from evcsms.simulator.handlers import Configuration
from evcsms.simulator.messages import RFID_CARD, Clock, Dialect, iso


class StationPort(Protocol):
    """The parts of a station the remote control acts on."""

    station_id: str
    ocpp_version: str
    dialect: Dialect
    now: Clock
    config: Configuration
    connectors: list[Connector]
    runners: list[ConnectorRunner]

    @property
    def accepting_sessions(self) -> bool: ...
    def request_reset(self, kind: str) -> None: ...
    def accept_boot(self, interval: int) -> None: ...
    async def call_now(self, action: str, payload: JsonObject) -> JsonObject | None: ...


class RemoteControl:
    """Implements ``handlers.Control`` for one station."""

    def __init__(self, station: StationPort) -> None:
        self.station = station

    @property
    def config(self) -> Configuration:
        return self.station.config

    def has_connector(self, connector_id: int) -> bool:
        return 1 <= connector_id <= len(self.station.connectors)

    def _targets(self, connector_id: int | None) -> list[Connector]:
        if connector_id is None or connector_id == 0:
            return self.station.connectors
        return (
            [self.station.connectors[connector_id - 1]] if self.has_connector(connector_id) else []
        )

    def remote_start(
        self,
        id_tag: str,
        connector_id: int | None,
        *,
        remote_start_id: int | None = None,
        token_type: str = RFID_CARD,
    ) -> bool:
        """Queue a remote start on the given (or first free) connector; False if none is free."""
        if not self.station.accepting_sessions or not id_tag:
            return False
        conn = next((c for c in self._targets(connector_id) if c.free), None)
        if conn is None:
            return False
        conn.pending_start = PlugIn(
            id_tag, remote=True, remote_start_id=remote_start_id, token_type=token_type
        )
        conn.wake.set()
        return True

    def remote_stop(self, tx_id: int | str) -> bool:
        for c in self.station.connectors:
            if c.session is not None and c.session.tx_id == tx_id:
                c.request_stop("Remote")
                return True
        return False

    def unlock(self, connector_id: int, *, stop_session: bool) -> str:
        """ "unlocked", "busy" (session running, not stopped) or "unknown"."""
        if not self.has_connector(connector_id):
            return "unknown"
        conn = self.station.connectors[connector_id - 1]
        if conn.session is not None:
            if not stop_session:
                return "busy"
            conn.request_stop("UnlockCommand")
        return "unlocked"

    def change_availability(self, connector_id: int, operative: bool) -> str:
        targets = self._targets(connector_id)
        if not targets:
            return "Rejected"
        for c in targets:
            c.operative = operative
        busy = any(not c.idle.is_set() for c in targets)
        return "Scheduled" if busy and not operative else "Accepted"

    async def report_availability(self) -> None:
        for runner in self.station.runners:
            await runner.apply_availability()
            runner.conn.wake.set()

    def request_reset(self, kind: str) -> None:
        self.station.request_reset(kind)

    async def send_triggered(self, message: str, connector_id: int | None) -> None:
        st = self.station
        if message == "BootNotification":
            resp = await st.call_now(*st.dialect.boot("Triggered", f"SN-{st.station_id}")) or {}
            if resp.get("status") == "Accepted" and isinstance(resp.get("interval"), int):
                st.accept_boot(resp["interval"])
        elif message == "Heartbeat":
            await st.call_now(*st.dialect.heartbeat())
        else:
            for runner in st.runners:
                if connector_id is None or runner.conn.connector_id == connector_id:
                    await self._trigger_connector(runner, message)

    async def _trigger_connector(self, runner: ConnectorRunner, message: str) -> None:
        st = self.station
        c, d, ts = runner.conn, st.dialect, iso(st.now())
        if message == "StatusNotification":
            shown = d.connector_status(c.status)
            await st.call_now(*d.status(c.connector_id, shown, c.error_code, ts))
        elif c.session is not None and (message == "TransactionEvent" or st.ocpp_version == "1.6"):
            await st.call_now(*d.update(c.session, runner.reading(), ts, trigger=True))
        elif message == "MeterValues":
            await st.call_now(*d.idle_meter(c.connector_id, runner.reading(), ts))

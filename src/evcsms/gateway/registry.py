"""The stations connected to this node, and the bus subject each one is served on."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from evcsms.bus.base import Bus, Message, Subscription, station_subject
from evcsms.gateway.session import StationSession

log = logging.getLogger(__name__)

CloseFn = Callable[[], Awaitable[None]]
CommandHandler = Callable[[StationSession, Message], Awaitable[Message]]


class Registry:
    def __init__(self, bus: Bus, on_command: CommandHandler) -> None:
        self._bus = bus
        self._on_command = on_command
        self._live: dict[str, tuple[StationSession, CloseFn, Subscription]] = {}

    def __len__(self) -> int:
        return len(self._live)

    def get(self, station_id: str) -> StationSession | None:
        entry = self._live.get(station_id)
        return entry[0] if entry else None

    async def attach(self, session: StationSession, close: CloseFn) -> None:
        """Make `session` the station's connection; a previous one is closed (replaced)."""
        previous = self._live.pop(session.station_id, None)
        if previous is not None:
            old, old_close, old_sub = previous
            log.info("%s connected again; closing the previous connection", session.station_id)
            await old_sub.unsubscribe()
            old.connection_lost()
            await old_close()

        async def serve(message: Message) -> Message:
            return await self._on_command(session, message)

        subscription = await self._bus.serve(station_subject(session.station_id, "command"), serve)
        self._live[session.station_id] = (session, close, subscription)

    async def detach(self, session: StationSession) -> bool:
        """Forget `session` if it is still the current one; True if it was."""
        session.connection_lost()
        entry = self._live.get(session.station_id)
        if entry is None or entry[0] is not session:
            return False
        del self._live[session.station_id]
        await entry[2].unsubscribe()
        return True

    async def drain(self, seconds: float, *, batches: int = 20) -> int:
        """Close every station's connection, spread over `seconds` in up to `batches` equal
        groups, so that they reconnect to the other nodes in a trickle rather than a storm
        (a node stopping for an upgrade). Each disconnect then runs its usual course (the
        station is recorded offline here, its command subject goes). Returns how many were
        closed."""
        live = list(self._live.values())
        if not live:
            return 0
        groups = max(1, min(batches, len(live)))
        size = math.ceil(len(live) / groups)
        pause = seconds / groups
        log.info("draining %d stations over %g s", len(live), seconds)
        closed = 0
        for start in range(0, len(live), size):
            for session, close, _subscription in live[start:start + size]:
                if self.get(session.station_id) is not session:
                    continue  # gone or replaced meanwhile
                await close()
                closed += 1
            if start + size < len(live):
                await asyncio.sleep(pause)
        return closed

    async def close_all(self) -> None:
        for session, close, subscription in list(self._live.values()):
            await subscription.unsubscribe()
            session.connection_lost()
            await close()
        self._live.clear()

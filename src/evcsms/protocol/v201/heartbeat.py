"""2.0.1 Heartbeat: the station is alive; answer with our clock."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext, format_timestamp


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # Last-seen is recorded by the gateway for every frame; nothing to store here.
    return {"currentTime": format_timestamp(ctx.now())}

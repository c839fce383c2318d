"""1.6 Authorize: may this id tag charge? Answer with its IdTagInfo."""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext
from evcsms.protocol.v16.id_tag import id_tag_info


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    decision = await ctx.services.tokens.authorize(payload["idTag"])
    return {"idTagInfo": id_tag_info(decision)}

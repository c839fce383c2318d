"""2.0.1 Authorize: may this id token charge here?"""

from __future__ import annotations

from evcsms.protocol.context import Payload, StationContext
from evcsms.protocol.v201.id_token_info import id_token_info


async def handle(ctx: StationContext, payload: Payload) -> Payload:
    # ISO 15118 certificate data (certificate, iso15118CertificateHashData) is not checked
    # here: without a certificateStatus in the reply the station falls back to the token.
    decision = await ctx.services.tokens.authorize(payload["idToken"]["idToken"])
    return {"idTokenInfo": id_token_info(decision)}

from datetime import timedelta

import pytest

from evcsms.protocol.v201 import authorize
from tests.conftest import T0
from tests.protocol.v201 import call, new_station


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def _authorize(ctx, token, type_="ISO14443"):
    reply = await call(authorize, ctx, {"idToken": {"idToken": token, "type": type_}})
    return reply["idTokenInfo"]


async def test_accepted_token_with_expiry_and_group(ctx):
    await ctx.services.tokens.create("TAG1", expires_at=T0 + timedelta(days=1), group_id="FLEET")
    assert await _authorize(ctx, "TAG1") == {
        "status": "Accepted", "cacheExpiryDateTime": "2026-03-03T09:00:00Z",
        "groupIdToken": {"idToken": "FLEET", "type": "Central"},
    }


async def test_plain_accepted_token_has_only_a_status(ctx):
    await ctx.services.tokens.create("TAG1")
    assert await _authorize(ctx, "TAG1", "eMAID") == {"status": "Accepted"}


async def test_blocked_token(ctx):
    await ctx.services.tokens.create("TAG1", status="Blocked")
    assert await _authorize(ctx, "TAG1") == {"status": "Blocked"}


async def test_token_past_its_expiry_is_expired(ctx):
    await ctx.services.tokens.create("TAG1", expires_at=T0 - timedelta(seconds=1))
    assert await _authorize(ctx, "TAG1") == {
        "status": "Expired", "cacheExpiryDateTime": "2026-03-02T08:59:59Z",
    }


async def test_unknown_token_is_invalid(ctx):
    assert await _authorize(ctx, "NOBODY") == {"status": "Invalid"}

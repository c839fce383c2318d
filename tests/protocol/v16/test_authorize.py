from datetime import timedelta

import pytest

from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import authorize
from evcsms.protocol.validation import validate
from tests.conftest import T0


@pytest.fixture
async def ctx(services):
    await services.stations.create("CP1", password=None)
    return StationContext("CP1", OcppVersion.V16, services)


async def _authorize(ctx, id_tag):
    reply = await authorize.handle(ctx, {"idTag": id_tag})
    validate(OcppVersion.V16, "Authorize", reply, response=True)
    return reply["idTagInfo"]


async def test_accepted_token_with_expiry_and_group(ctx):
    await ctx.services.tokens.create("TAG1", expires_at=T0 + timedelta(days=1), group_id="FLEET")
    assert await _authorize(ctx, "TAG1") == {
        "status": "Accepted", "expiryDate": "2026-03-03T09:00:00Z", "parentIdTag": "FLEET",
    }


async def test_plain_accepted_token_has_only_a_status(ctx):
    await ctx.services.tokens.create("TAG1")
    assert await _authorize(ctx, "TAG1") == {"status": "Accepted"}


async def test_blocked_token(ctx):
    await ctx.services.tokens.create("TAG1", status="Blocked")
    assert await _authorize(ctx, "TAG1") == {"status": "Blocked"}


async def test_token_past_its_expiry_is_expired(ctx):
    await ctx.services.tokens.create("TAG1", expires_at=T0 - timedelta(seconds=1))
    assert await _authorize(ctx, "TAG1") == {"status": "Expired", "expiryDate": "2026-03-02T08:59:59Z"}


async def test_unknown_token_is_invalid(ctx):
    assert await _authorize(ctx, "NOBODY") == {"status": "Invalid"}


async def test_group_too_long_for_parent_id_tag_is_left_out(ctx):
    await ctx.services.tokens.create("TAG1", group_id="G" * 21)
    assert await _authorize(ctx, "TAG1") == {"status": "Accepted"}

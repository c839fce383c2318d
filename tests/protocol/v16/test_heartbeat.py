from evcsms.domain.model import OcppVersion
from evcsms.protocol.context import StationContext
from evcsms.protocol.v16 import heartbeat
from evcsms.protocol.validation import validate


async def test_answers_with_our_clock(services):
    reply = await heartbeat.handle(StationContext("CP1", OcppVersion.V16, services), {})
    validate(OcppVersion.V16, "Heartbeat", reply, response=True)
    assert reply == {"currentTime": "2026-03-02T09:00:00Z"}

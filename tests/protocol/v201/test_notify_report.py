import pytest

from evcsms.protocol.v201 import notify_report
from tests.protocol.v201 import STATION, call, new_station


def _chunk(seq_no, tbc, variable):
    return {
        "requestId": 5, "generatedAt": "2026-03-02T09:00:00Z", "seqNo": seq_no, "tbc": tbc,
        "reportData": [{
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
        }],
    }


@pytest.fixture
async def ctx(services):
    return await new_station(services)


async def test_each_chunk_of_a_report_is_kept(ctx):
    chunks = [_chunk(0, True, "HeartbeatInterval"), _chunk(1, False, "MessageTimeout")]
    for chunk in chunks:
        assert await call(notify_report, ctx, chunk) == {}
    rows = await ctx.services.stations.events(STATION, kind="notify_report", limit=10)
    assert [row.payload for row in reversed(rows)] == chunks


async def test_a_report_without_data_is_kept_too(ctx):
    empty = {"requestId": 6, "generatedAt": "2026-03-02T09:00:00Z", "seqNo": 0}
    await call(notify_report, ctx, empty)
    [row] = await ctx.services.stations.events(STATION, kind="notify_report", limit=10)
    assert row.payload == empty

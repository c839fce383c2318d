"""NEVI uptime over the API from the recorded status history and exclusions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, event, insert

from evcsms.services.stations import ConnectorStatus
from evcsms.storage import tables as t
from tests.conftest import T0


async def _history(services, clock) -> None:
    await services.stations.set_connected("CP1", True, "node-a")  # 09:00
    await services.stations.connector_status("CP1", ConnectorStatus(1, 1, "Available"), T0)
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Faulted", "GroundFailure"), T0 + timedelta(minutes=60))
    await services.stations.connector_status(
        "CP1", ConnectorStatus(1, 1, "Available"), T0 + timedelta(minutes=90))
    clock.advance(180 * 60)  # 12:00: the link drops for 20 minutes
    await services.stations.set_connected("CP1", False, "node-a")
    clock.advance(20 * 60)
    await services.stations.set_connected("CP1", True, "node-a")


async def test_uptime_from_the_status_history_and_exclusions(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await _history(services, clock)
    added = await client.post("/uptime/exclusions", json={
        "station_id": "CP1", "start": "2026-03-02T12:00:00Z", "end": "2026-03-02T12:10:00Z",
        "reason": "utility_outage", "note": "grid operator notice 4711"})
    assert added.status_code == 201
    params = {"from": "2026-03-02T09:00:00Z", "to": "2026-03-02T13:00:00Z", "station_id": "CP1"}
    body = (await client.get("/uptime", params=params)).json()
    # 240 minutes; down 30 (fault) + 20 (offline) = 50, 10 excluded: (240 - 40) / 240
    assert body["total"] == {"percent": 83.3333, "period_minutes": 240, "outage_minutes": 50,
                             "excluded_minutes": 10}
    assert [(p["evse_id"], p["connector_id"]) for p in body["ports"]] == [(1, 1)]
    csv_lines = (await client.get("/uptime.csv", params=params)).text.splitlines()
    assert csv_lines[0].startswith("station_id,evse_id,connector_id")
    assert csv_lines[1].endswith(",240,50,10,83.3333")


async def test_uptime_errors(client, services):
    await client.post("/stations", json={"id": "CP1"})
    bad_reason = await client.post("/uptime/exclusions", json={
        "station_id": "CP1", "start": "2026-03-02T12:00:00Z", "end": "2026-03-02T13:00:00Z",
        "reason": "bad weather"})
    assert bad_reason.status_code == 422 and "reason" in bad_reason.json()["detail"]
    backwards = await client.get("/uptime", params={"from": "2026-03-02T13:00:00Z",
                                                    "to": "2026-03-02T12:00:00Z"})
    assert backwards.status_code == 422
    unknown = await client.get("/uptime", params={"from": "2026-03-02T09:00:00Z",
                                                  "to": "2026-03-02T10:00:00Z",
                                                  "station_id": "NOPE"})
    assert unknown.status_code == 404


async def test_a_station_that_never_reported_is_down(client):
    await client.post("/stations", json={"id": "QUIET"})
    body = (await client.get("/uptime", params={"from": "2026-03-02T00:00:00Z",
                                                "to": "2026-03-03T00:00:00Z"})).json()
    assert body["total"]["percent"] == 0 and body["ports_counted"] == 1


async def test_station_status_history(client, services, clock):
    await client.post("/stations", json={"id": "CP1"})
    await _history(services, clock)
    body = (await client.get("/stations/CP1/history")).json()
    assert [(i["source"], i["state"]) for i in body["items"]] == [
        ("connection", "online"), ("connection", "offline"), ("status", "available"),
        ("status", "faulted"), ("status", "available"), ("connection", "online")]
    assert body["items"][3]["error_code"] == "GroundFailure"
    assert (await client.get("/stations/NOPE/history")).status_code == 404


# the service reads the history of the period only, plus the last changes before it


async def _stations(services, ids, created_at) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(insert(t.Station), [
            {"id": sid, "registration": "Accepted", "created_at": created_at,
             "updated_at": created_at} for sid in ids])


async def _changes(services, *rows) -> None:
    """(station, evse, connector, source, state, at) rows, inserted one by one: ids in
    the given order."""
    async with services.engine.begin() as conn:
        for station_id, evse_id, connector_id, source, state, at in rows:
            await conn.execute(insert(t.StatusChange).values(
                station_id=station_id, evse_id=evse_id, connector_id=connector_id,
                source=source, state=state, at=at))


async def test_uptime_starts_from_the_last_changes_before_the_period(services):
    long_ago = T0 - timedelta(days=30)
    await _stations(services, ["OLD", "TIE1", "TIE2"], T0 - timedelta(days=60))
    await _changes(
        services,
        ("OLD", 0, 0, "connection", "online", long_ago),
        ("OLD", 1, 1, "status", "available", long_ago - timedelta(days=1)),
        ("OLD", 1, 1, "status", "faulted", long_ago),  # and never again
        ("OLD", 2, 1, "status", "faulted", long_ago),
        ("OLD", 2, 1, "status", "available", T0 - timedelta(days=20)),
        ("OLD", 2, 1, "status", "faulted", T0 + timedelta(minutes=60)),
        ("OLD", 2, 1, "status", "available", T0 + timedelta(minutes=90)),
        # same time before the period: the later row is the state
        ("TIE1", 1, 1, "status", "available", long_ago),
        ("TIE1", 0, 0, "connection", "offline", long_ago),
        ("TIE1", 0, 0, "connection", "online", long_ago),
        ("TIE2", 1, 1, "status", "available", long_ago),
        ("TIE2", 0, 0, "connection", "online", long_ago),
        ("TIE2", 0, 0, "connection", "offline", long_ago),
        # a port's statuses at the same time: the later row wins, whatever its name
        ("TIE1", 2, 1, "status", "faulted", long_ago),
        ("TIE1", 2, 1, "status", "available", long_ago),
        ("TIE2", 2, 1, "status", "available", long_ago),
        ("TIE2", 2, 1, "status", "faulted", long_ago),
    )
    ports = await services.uptime.ports(T0, T0 + timedelta(hours=4))
    outage = {(p.station_id, p.evse_id, p.connector_id): p.uptime.outage_minutes
              for p in ports}
    assert outage == {("OLD", 1, 1): 240, ("OLD", 2, 1): 30, ("TIE1", 1, 1): 0,
                      ("TIE2", 1, 1): 240, ("TIE1", 2, 1): 0, ("TIE2", 2, 1): 240}
    assert {p.uptime.period_minutes for p in ports} == {240}


async def test_uptime_reads_a_fixed_number_of_statements_whatever_the_fleet(services):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    async def statements_for(count_of_stations: int) -> int:
        ids = [f"N{n:03d}" for n in range(count_of_stations)]
        await _stations(services, ids, T0 - timedelta(days=60))
        await _changes(services, *[row for sid in ids for row in (
            (sid, 0, 0, "connection", "online", T0 - timedelta(days=2)),
            (sid, 1, 1, "status", "available", T0 - timedelta(days=1)),
            (sid, 1, 1, "status", "faulted", T0 + timedelta(minutes=30)))])
        statements.clear()
        event.listen(services.engine.sync_engine, "before_cursor_execute", count)
        try:
            ports = await services.uptime.ports(T0, T0 + timedelta(hours=1))
        finally:
            event.remove(services.engine.sync_engine, "before_cursor_execute", count)
        assert len(ports) == count_of_stations
        assert all(p.uptime.outage_minutes == 30 for p in ports)
        async with services.engine.begin() as conn:
            await conn.execute(delete(t.StatusChange))
            await conn.execute(delete(t.Station))
        return len(statements)

    assert await statements_for(5) == await statements_for(50)

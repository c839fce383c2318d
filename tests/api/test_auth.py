from sqlalchemy import select

from evcsms.services.users import UserRole
from evcsms.storage import tables as t
from tests.api.conftest import flush
from tests.conftest import T0


async def test_health_needs_no_token(anon):
    response = await anon.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "role": "all", "singletons": [
        "cdrs", "diagnostics", "firmware", "live_cost", "load", "reservations", "webhooks"]}


async def test_missing_token_is_401_with_challenge(anon):
    response = await anon.get("/api/v1/stations")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in response.json()["detail"]


async def test_bad_token_is_401(anon, operator_token):
    response = await anon.get("/api/v1/stations", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "invalid API token"}


async def test_other_scheme_is_401(anon, operator_token):
    response = await anon.get(
        "/api/v1/stations", headers={"Authorization": f"Basic {operator_token}"}
    )
    assert response.status_code == 401


async def test_driver_token_is_403(anon, services):
    token = await services.users.create("dora", UserRole.DRIVER)
    response = await anon.get("/api/v1/stations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "operator role" in response.json()["detail"]


async def test_operator_token_is_accepted_and_its_use_recorded(client, services):
    response = await client.get("/stations")
    assert response.status_code == 200
    await flush(services)
    async with services.engine.connect() as conn:
        used = await conn.scalar(select(t.ApiToken.last_used_at))
    assert used == T0


async def test_openapi_describes_the_api(anon):
    spec = (await anon.get("/openapi.json")).json()
    assert spec["info"]["title"] == "evcsms API"
    assert spec["info"]["version"]
    assert "/api/v1/stations/{station_id}" in spec["paths"]
    assert (await anon.get("/docs")).status_code == 200

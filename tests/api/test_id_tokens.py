async def test_crud_round_trip(client):
    response = await client.post(
        "/id-tokens",
        json={"token": "04A1B2C3", "group_id": "FLEET", "max_concurrent_sessions": 1,
              "expires_at": "2027-01-01T00:00:00+01:00", "description": "blue card"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"] == "04A1B2C3"
    assert (body["type"], body["status"]) == ("ISO14443", "Accepted")
    assert body["expires_at"] == "2026-12-31T23:00:00Z"
    assert (await client.get("/id-tokens/04A1B2C3")).json() == body

    response = await client.patch("/id-tokens/04A1B2C3", json={"status": "Blocked"})
    assert response.status_code == 200
    assert response.json()["status"] == "Blocked"
    assert response.json()["group_id"] == "FLEET"

    assert (await client.delete("/id-tokens/04A1B2C3")).status_code == 204
    response = await client.get("/id-tokens/04A1B2C3")
    assert response.status_code == 404
    assert response.json() == {"detail": "id token '04A1B2C3' not found"}


async def test_duplicate_is_409(client):
    await client.post("/id-tokens", json={"token": "T1"})
    response = await client.post("/id-tokens", json={"token": "T1"})
    assert response.status_code == 409
    assert response.json() == {"detail": "id token 'T1' already exists"}


async def test_invalid_input_is_422(client):
    cases = [
        ({"token": "T1", "status": "ConcurrentTx"}, "status: Input should be"),
        ({"token": "T1", "expires_at": "2027-01-01T00:00:00"}, "expires_at: Input should have timezone info"),
        ({"token": "T1", "max_concurrent_sessions": 0}, "max_concurrent_sessions: Input should be greater"),
        ({"token": "T1", "expires_at": "9999-12-31T23:59:59-01:00"}, "expires_at: date is out of range"),
        ({"token": "x" * 37}, "token: String should have at most 36 characters"),
        ({"token": "T1", "description": "a\x00b"}, "description: must not contain NUL"),
    ]
    for body, detail in cases:
        response = await client.post("/id-tokens", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"].startswith(detail), response.json()


async def test_list_is_paginated(client):
    for n in range(3):
        await client.post("/id-tokens", json={"token": f"T{n}"})
    body = (await client.get("/id-tokens", params={"limit": 2})).json()
    assert [t["token"] for t in body["items"]] == ["T0", "T1"]
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 0)


async def test_patch_unknown_token_is_404(client):
    response = await client.patch("/id-tokens/NOPE", json={"status": "Blocked"})
    assert response.status_code == 404

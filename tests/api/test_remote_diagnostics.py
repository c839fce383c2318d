"""The upload endpoint stations send logs to, and the operator routes for log uploads,
firmware updates and the device model, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from urllib.parse import urlsplit

from evcsms.domain.commands import CommandName
from evcsms.domain.device_model import Variable
from evcsms.services.container import Services
from evcsms.services.errors import ConflictError

LOG = b"2026-03-02T09:00:00Z INFO boot\n2026-03-02T09:00:01Z WARN relay slow\n"


async def open_upload(services: Services, station_id: str = "CP1",
                      announced: str | None = None) -> tuple[int, str]:
    """An upload as `upload_log` leaves it before the station sends the file: (id, path)."""
    with contextlib.suppress(ConflictError):
        await services.stations.create(station_id, password=None)
    params = await services.log_uploads.prepare(station_id, "c0ffee", CommandName.UPLOAD_LOG,
                                                {}, "op")
    if announced:
        await services.log_uploads.answered(station_id, SimpleNamespace(
            params=params, status="accepted", response={"fileName": announced}, error=None))
    return params["upload_id"], urlsplit(params["location"]).path


async def test_a_raw_put_is_stored_and_downloads_as_it_came(anon, client, services) -> None:
    upload_id, path = await open_upload(services, announced="diag CP1 – März.log")
    answer = await anon.put(path, content=LOG, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"status": "uploaded", "size": len(LOG),
                             "sha256": hashlib.sha256(LOG).hexdigest()}
    row = (await client.get(f"/stations/CP1/log-uploads/{upload_id}")).json()
    assert row["status"] == "uploaded" and row["error"] is None
    assert (row["size"], row["sha256"], row["content_type"]) == (
        len(LOG), hashlib.sha256(LOG).hexdigest(), "text/plain")
    assert row["file_name"] == "diag CP1 – März.log"  # the name the station announced
    assert row["download"] == f"/api/v1/stations/CP1/log-uploads/{upload_id}/file"
    assert [e["status"] for e in row["timeline"]] == ["requested", "answer: accepted",
                                                      "file received"]
    file = await client.get(f"/stations/CP1/log-uploads/{upload_id}/file")
    assert file.status_code == 200 and file.content == LOG
    assert file.headers["content-type"].startswith("text/plain")
    assert file.headers["content-disposition"] == (
        "attachment; filename=\"diag CP1 _ M_rz.log\"; "
        "filename*=UTF-8''diag%20CP1%20%E2%80%93%20M%C3%A4rz.log")
    assert file.headers["etag"] == f'"{hashlib.sha256(LOG).hexdigest()}"'
    assert file.headers["x-content-type-options"] == "nosniff"


async def test_a_used_link_is_gone_and_a_wrong_one_not_found(anon, client, services) -> None:
    upload_id, path = await open_upload(services)
    assert (await anon.post(path, content=LOG)).status_code == 201
    again = await anon.put(path, content=b"something else")
    assert again.status_code == 410 and "used up" in again.json()["detail"]
    wrong = await anon.put(path[:-4] + "AAAA", content=LOG)
    assert wrong.status_code == 404 and wrong.json() == {"detail": "no upload has this link"}
    assert (await anon.put("/uploads/logs/", content=LOG)).status_code in (404, 405)
    file = await client.get(f"/stations/CP1/log-uploads/{upload_id}/file")
    assert file.content == LOG  # the second attempt changed nothing


async def test_multipart_form_with_one_file_field(anon, client, services) -> None:
    upload_id, path = await open_upload(services, announced="announced.zip")
    answer = await anon.post(path, data={"note": "from the field"}, files={
        "file": ("diagnostics-CP1.tar.gz", LOG * 3, "application/gzip")})
    assert answer.status_code == 201, answer.text
    row = (await client.get(f"/stations/CP1/log-uploads/{upload_id}")).json()
    assert (row["file_name"], row["content_type"], row["size"]) == (
        "diagnostics-CP1.tar.gz", "application/gzip", len(LOG) * 3)
    file = await client.get(f"/stations/CP1/log-uploads/{upload_id}/file")
    assert file.content == LOG * 3
    assert 'filename="diagnostics-CP1.tar.gz"' in file.headers["content-disposition"]


async def test_a_file_name_after_the_token_and_no_name_at_all(anon, client, services) -> None:
    named_id, named = await open_upload(services)
    assert (await anon.put(named + "/CP1_2026-03-02.log", content=LOG)).status_code == 201
    plain_id, plain = await open_upload(services)
    assert (await anon.post(plain, content=LOG)).status_code == 201
    rows = {r["id"]: r for r in (await client.get("/stations/CP1/log-uploads")).json()["items"]}
    assert rows[named_id]["file_name"] == "CP1_2026-03-02.log"
    assert rows[plain_id]["file_name"] == f"CP1-diagnostics-{plain_id}.log"
    assert rows[plain_id]["content_type"] is None
    file = await client.get(f"/stations/CP1/log-uploads/{plain_id}/file")
    assert file.headers["content-type"] == "application/octet-stream"


async def test_over_the_size_cap_is_413_and_the_link_stays_open(anon, client, services) -> None:
    services.log_uploads.max_bytes = 1000
    upload_id, path = await open_upload(services)
    declared = await anon.put(path, content=b"x" * 1001)
    assert declared.status_code == 413 and "1000-byte limit" in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(5):
            yield b"y" * 300

    streamed = await anon.put(path, content=chunks())
    assert streamed.status_code == 413
    form = await anon.post(path, files={"file": ("big.log", b"z" * 1001, "text/plain")})
    assert form.status_code == 413
    row = (await client.get(f"/stations/CP1/log-uploads/{upload_id}")).json()
    assert row["status"] == "requested" and row["size"] is None
    assert (await anon.put(path, content=b"x" * 1000)).status_code == 201  # exactly the cap


async def test_malformed_multipart_is_400_and_loses_nothing(anon, services) -> None:
    _, path = await open_upload(services)
    headers = {"Content-Type": "multipart/form-data; boundary=XYZ"}
    broken = await anon.post(path, content=b"--XYZ\r\nContent-Disposition: form-data; "
                                            b'name="file"; filename="a.log"\r\n\r\nno end',
                             headers=headers)
    assert broken.status_code == 400 and "not closed by the boundary" in broken.json()["detail"]
    none = await anon.post(path, content=b"hello", headers={
        "Content-Type": "multipart/form-data"})
    assert none.status_code == 400 and "boundary" in none.json()["detail"]
    assert (await anon.put(path, content=LOG)).status_code == 201


async def test_an_expired_or_failed_upload_takes_no_file(anon, services, clock) -> None:
    upload_id, path = await open_upload(services)
    clock.advance(24 * 3600)
    expired = await anon.put(path, content=LOG)
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    failed_id, failed = await open_upload(services)
    await services.log_uploads.station_status("CP1", "UploadFailed", failed_id)
    assert (await anon.put(failed, content=LOG)).status_code == 410


async def test_unsafe_content_types_download_as_octet_stream(anon, client, services) -> None:
    upload_id, path = await open_upload(services)
    await anon.put(path, content=b"<script>alert(1)</script>",
                   headers={"Content-Type": "text/html"})
    file = await client.get(f"/stations/CP1/log-uploads/{upload_id}/file")
    assert file.headers["content-type"] == "application/octet-stream"
    assert file.headers["content-disposition"].startswith("attachment;")


async def test_operator_routes_need_the_operator_token_uploads_do_not(anon, client, services
                                                                      ) -> None:
    upload_id, path = await open_upload(services)
    for route in ("log-uploads", f"log-uploads/{upload_id}", f"log-uploads/{upload_id}/file",
                  "firmware-updates", "device-model"):
        assert (await anon.get(f"/api/v1/stations/CP1/{route}")).status_code == 401, route
    assert (await anon.post("/api/v1/stations/CP1/log-uploads", json={})).status_code == 401
    not_yet = await client.get(f"/stations/CP1/log-uploads/{upload_id}/file")
    assert not_yet.status_code == 404 and "no file yet" in not_yet.json()["detail"]
    assert (await client.get("/stations/CP1/log-uploads/999")).status_code == 404
    assert (await client.get(f"/stations/OTHER/log-uploads/{upload_id}")).status_code == 404
    assert (await client.get("/stations/NOPE/log-uploads")).status_code == 404
    assert (await client.get("/stations/NOPE/firmware-updates")).status_code == 404


async def test_asking_an_offline_station_answers_with_the_failed_record(client, services
                                                                        ) -> None:
    await services.stations.create("CP2", password=None)
    log = await client.post("/stations/CP2/log-uploads", json={
        "start_time": "2026-03-01T00:00:00+01:00"})
    assert log.status_code == 201
    assert (log.json()["status"], log.json()["error"]) == ("failed", "station offline")
    assert log.json()["start_time"] == "2026-02-28T23:00:00Z"
    fw = await client.post("/stations/CP2/firmware-updates",
                           json={"location": "https://fw.example/a.bin", "retries": 3})
    assert fw.status_code == 201
    body = fw.json()
    assert (body["status"], body["error"], body["retries"]) == ("failed", "station offline", 3)
    assert [e["status"] for e in body["timeline"]] == ["requested", "answer: failed"]
    listed = (await client.get("/stations/CP2/firmware-updates")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == body["id"]
    one = (await client.get(f"/stations/CP2/firmware-updates/{body['id']}")).json()
    assert one == body
    bad = await client.post("/stations/CP2/firmware-updates", json={"location": "file:///x"})
    assert bad.status_code == 422 and "http, https" in bad.json()["detail"]
    typo = await client.post("/stations/CP2/log-uploads", json={"logtype": "security"})
    assert typo.status_code == 422
    assert (await client.get("/stations/CP2/firmware-updates/999")).status_code == 404


async def test_device_model_is_paged_and_filtered(client, services) -> None:
    await services.stations.create("CP3", password=None)
    await services.device_model.store("CP3", [
        Variable("OCPPCommCtrlr", "HeartbeatInterval", value="300", mutability="ReadWrite"),
        Variable("EVSE", "Power", evse_id=1, value="22000", attribute_type="MaxSet"),
        Variable("EVSE", "Power", evse_id=2, value="11000", attribute_type="MaxSet"),
    ], "notify_report")
    page = (await client.get("/stations/CP3/device-model", params={"limit": 2})).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    assert [(i["component"], i["evse_id"]) for i in page["items"]] == [("EVSE", 1), ("EVSE", 2)]
    rest = (await client.get("/stations/CP3/device-model",
                             params={"limit": 2, "offset": 2})).json()["items"]
    assert rest[0]["variable"] == "HeartbeatInterval" and rest[0]["source"] == "notify_report"
    only = (await client.get("/stations/CP3/device-model",
                             params={"component": "EVSE", "variable": "Power"})).json()
    assert only["total"] == 2 and {i["value"] for i in only["items"]} == {"22000", "11000"}
    assert (await client.get("/stations/CP3/device-model",
                             params={"component": ""})).status_code == 422



async def test_a_file_that_overtook_the_answer_takes_the_announced_name(anon, client, services
                                                                        ) -> None:
    upload_id, path = await open_upload(services)
    assert (await anon.put(path, content=LOG)).status_code == 201
    row = (await client.get(f"/stations/CP1/log-uploads/{upload_id}")).json()
    assert row["file_name"] == f"CP1-diagnostics-{upload_id}.log"
    await services.log_uploads.answered("CP1", SimpleNamespace(
        params={"upload_id": upload_id}, status="accepted",
        response={"status": "Accepted", "filename": "CP1 diag.tgz"}, error=None))
    row = (await client.get(f"/stations/CP1/log-uploads/{upload_id}")).json()
    assert (row["status"], row["file_name"], row["station_file_name"]) == (
        "uploaded", "CP1 diag.tgz", "CP1 diag.tgz")

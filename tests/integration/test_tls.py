"""Security profile 2: HTTP Basic over TLS (wss://), with the operator's certificate and key."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from evcsms.services.container import Services
from evcsms.settings import Settings, load_settings
from tests.integration.conftest import auth, rpc, running

pytestmark = pytest.mark.slow


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def test_station_connects_over_wss_with_basic_auth(
    services: Services, settings: Settings, ca: trustme.CA, tmp_path: Path
) -> None:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    tls = settings.model_copy(
        update={"tls_cert": tmp_path / "cert.pem", "tls_key": tmp_path / "key.pem"})
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    await services.stations.create("TLS1", password="tls-station-password")
    async with running(services, tls) as node:
        url = f"wss://127.0.0.1:{node.port}/ocpp/TLS1"
        ws = await connect(url, ssl=client_ctx, subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                           additional_headers=auth("TLS1", "tls-station-password"))
        assert ws.subprotocol == "ocpp2.0.1"
        assert (await rpc(ws, [2, "1", "Heartbeat", {}]))[0] == 3
        await ws.close()
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, ssl=client_ctx, subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                          additional_headers=auth("TLS1", "not-the-password"))
        assert refused.value.response.status_code == 401


def test_tls_needs_both_files(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    with pytest.raises(Exception, match="EVCSMS_TLS_CERT and EVCSMS_TLS_KEY"):
        load_settings(tls_cert=tmp_path / "cert.pem")

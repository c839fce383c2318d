"""Reference server 2: what a user gets from the ``ocpp`` library alone.

A minimal central system built the way the library's documentation shows: a ``ChargePoint``
subclass with ``@on(...)`` handlers for BootNotification, Heartbeat, MeterValues and
StatusNotification, default schema validation on (requests and responses), served with
``websockets``. The OCPP version is chosen per connection from the negotiated subprotocol
(``ocpp1.6`` -> ``ocpp.v16``, ``ocpp2.0.1`` -> ``ocpp.v201``). Nothing is persisted.

    python benchmarks/ref_ocpp_server.py --port 9001

Deviations from the docs' example, all of them neutral or in the library's favour: uvloop
when importable (same loop as the other servers), ``compression=None`` and a larger listen
backlog (same as the other servers), and no ``logging.basicConfig(level=INFO)`` -- per-message
INFO logging would make it slower still.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from _common import (
    run,
    serve_forever,
    server_args,
    station_id,
)
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v16.enums import RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from ocpp.v201.enums import RegistrationStatusEnumType
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

HEARTBEAT_INTERVAL = 300


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class CentralSystem16(ChargePoint16):  # type: ignore[misc]
    @on(Action16.boot_notification)  # type: ignore[untyped-decorator]
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> result16.BootNotification:
        return result16.BootNotification(
            current_time=now_iso(),
            interval=HEARTBEAT_INTERVAL,
            status=RegistrationStatus.accepted,
        )

    @on(Action16.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=now_iso())

    @on(Action16.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> result16.MeterValues:
        return result16.MeterValues()

    @on(Action16.status_notification)  # type: ignore[untyped-decorator]
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> result16.StatusNotification:
        return result16.StatusNotification()


class CentralSystem201(ChargePoint201):  # type: ignore[misc]
    @on(Action201.boot_notification)  # type: ignore[untyped-decorator]
    def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> result201.BootNotification:
        return result201.BootNotification(
            current_time=now_iso(),
            interval=HEARTBEAT_INTERVAL,
            status=RegistrationStatusEnumType.accepted,
        )

    @on(Action201.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self, **kwargs: Any) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=now_iso())

    @on(Action201.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> result201.MeterValues:
        return result201.MeterValues()

    @on(Action201.status_notification)  # type: ignore[untyped-decorator]
    def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **kwargs: Any
    ) -> result201.StatusNotification:
        return result201.StatusNotification()


CENTRAL_SYSTEMS: dict[str, Any] = {"ocpp1.6": CentralSystem16, "ocpp2.0.1": CentralSystem201}


async def on_connect(ws: ServerConnection) -> None:
    assert ws.request is not None
    ident = station_id(ws.request.path)
    cls = CENTRAL_SYSTEMS.get(ws.subprotocol or "")
    if ident is None or cls is None:
        await ws.close(1002, "expected /ocpp/{station_id} and subprotocol ocpp1.6/ocpp2.0.1")
        return
    try:
        await cls(ident, ws).start()
    except ConnectionClosed:
        return


async def main(loop_name: str, host: str, port: int) -> None:
    banner = f"plain ocpp-library server loop={loop_name} validation=default"
    await serve_forever(on_connect, host, port, banner)


if __name__ == "__main__":
    args = server_args("Minimal central system on the ocpp library (default validation).")
    run(lambda loop_name: main(loop_name, args.host, args.port), args.loop)
    sys.exit(0)

"""OCPP 1.6J: action -> handler, as plain data."""

from __future__ import annotations

from evcsms.protocol.context import Routes
from evcsms.protocol.v16 import (
    authorize,
    boot_notification,
    data_transfer,
    diagnostics_status_notification,
    firmware_status_notification,
    heartbeat,
    meter_values,
    start_transaction,
    status_notification,
    stop_transaction,
)

ROUTES: Routes = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "DataTransfer": data_transfer.handle,
    "DiagnosticsStatusNotification": diagnostics_status_notification.handle,
    "FirmwareStatusNotification": firmware_status_notification.handle,
    "Heartbeat": heartbeat.handle,
    "MeterValues": meter_values.handle,
    "StartTransaction": start_transaction.handle,
    "StatusNotification": status_notification.handle,
    "StopTransaction": stop_transaction.handle,
}

"""OCPP 2.0.1: action -> handler, as plain data."""

from __future__ import annotations

from evcsms.protocol.context import Routes
from evcsms.protocol.v201 import (
    authorize,
    boot_notification,
    data_transfer,
    firmware_status_notification,
    heartbeat,
    log_status_notification,
    meter_values,
    notify_event,
    notify_report,
    reservation_status_update,
    security_event_notification,
    status_notification,
    transaction_event,
)

ROUTES: Routes = {
    "Authorize": authorize.handle,
    "BootNotification": boot_notification.handle,
    "DataTransfer": data_transfer.handle,
    "FirmwareStatusNotification": firmware_status_notification.handle,
    "Heartbeat": heartbeat.handle,
    "LogStatusNotification": log_status_notification.handle,
    "MeterValues": meter_values.handle,
    "NotifyEvent": notify_event.handle,
    "NotifyReport": notify_report.handle,
    "ReservationStatusUpdate": reservation_status_update.handle,
    "SecurityEventNotification": security_event_notification.handle,
    "StatusNotification": status_notification.handle,
    "TransactionEvent": transaction_event.handle,
}

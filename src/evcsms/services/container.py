"""The set of services one node runs, built by `evcsms.bootstrap`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from evcsms.bus.base import Bus
from evcsms.domain.clock import Clock
from evcsms.services.billing import BillingService, CdrService
from evcsms.services.commands import CommandService
from evcsms.services.device_model import DeviceModelService
from evcsms.services.diagnostics import DiagnosticsService
from evcsms.services.drivers import DriverService
from evcsms.services.firmware import FirmwareService
from evcsms.services.incidents import IncidentService
from evcsms.services.leases import Leases
from evcsms.services.live_cost import LiveCostService
from evcsms.services.load import LoadService
from evcsms.services.log_uploads import LogUploadService
from evcsms.services.messagelog import MessageLog
from evcsms.services.presence import Presence
from evcsms.services.receipts import ReceiptService
from evcsms.services.reservations import ReservationService
from evcsms.services.sessions import SessionService
from evcsms.services.stations import StationService
from evcsms.services.tariffs import TariffService
from evcsms.services.thresholds import ThresholdService
from evcsms.services.tokens import TokenService
from evcsms.services.uptime import UptimeService
from evcsms.services.users import UserService
from evcsms.services.webhooks import WebhookService
from evcsms.storage.writer import BatchWriter


@dataclass
class Services:
    engine: AsyncEngine
    writer: BatchWriter
    bus: Bus
    clock: Clock
    stations: StationService
    tokens: TokenService
    sessions: SessionService
    commands: CommandService
    presence: Presence
    message_log: MessageLog
    users: UserService
    tariffs: TariffService
    billing: BillingService
    cdrs: CdrService
    receipts: ReceiptService
    drivers: DriverService
    live_cost: LiveCostService
    incidents: IncidentService
    diagnostics: DiagnosticsService
    thresholds: ThresholdService
    load: LoadService
    uptime: UptimeService
    webhooks: WebhookService
    log_uploads: LogUploadService
    firmware: FirmwareService
    device_model: DeviceModelService
    reservations: ReservationService
    leases: Leases

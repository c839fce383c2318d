"""OCPP 1.6 and 2.0.1 request payloads of the virtual station (one "dialect" per version)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from evcsms.simulator.meter import ChargeProfile, MeterSample, sampled_values_16, sampled_values_201

JsonObject = dict[str, Any]
Message = tuple[str, JsonObject]
Clock = Callable[[], datetime]

VENDOR, MODEL, FIRMWARE = "evcsms", "SimCharger", "1.0.0"
RFID_CARD = "ISO14443"  # IdTokenEnumType of a plain RFID card

# 1.6 stop reason -> 2.0.1 (triggerReason, stoppedReason)
_ENDED_201 = {
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "Local": ("StopAuthorized", "Local"),
    "Remote": ("RemoteStop", "Remote"),
    "HardReset": ("ResetCommand", "ImmediateReset"),
    "SoftReset": ("ResetCommand", "ImmediateReset"),
    "UnlockCommand": ("UnlockCommand", "Other"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "Reboot": ("AbnormalCondition", "Reboot"),
    "PowerLoss": ("AbnormalCondition", "PowerLoss"),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with millisecond precision and a ``Z`` suffix."""
    if ts.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Session:
    """One transaction on a connector."""

    connector_id: int
    id_tag: str
    profile: ChargeProfile
    token_type: str = RFID_CARD
    remote_start_id: int | None = None
    tx_id: int | str | None = None
    seq_no: int = 0
    meter_start_wh: int = 0
    stop_reason: str = "EVDisconnected"


class Dialect(Protocol):
    version: str

    def boot(self, reason: str, serial: str) -> Message: ...
    def heartbeat(self) -> Message: ...
    def connector_status(self, status: str) -> str: ...
    def status(self, connector_id: int, status: str, error_code: str, ts: str) -> Message: ...
    def authorize(self, id_tag: str, token_type: str) -> Message: ...
    def auth_status(self, resp: JsonObject) -> str: ...
    def local_tx_id(self, rng: random.Random) -> str | None: ...
    def start(self, s: Session, m: MeterSample, ts: str) -> Message: ...
    def start_status(self, s: Session, resp: JsonObject) -> str: ...
    def update(self, s: Session, m: MeterSample, ts: str, *, trigger: bool = False) -> Message: ...
    def end(self, s: Session, m: MeterSample, ts: str) -> Message: ...
    def idle_meter(self, connector_id: int, m: MeterSample, ts: str) -> Message: ...
    def problem(
        self, connector_id: int, code: str, active: bool, event_id: int, ts: str
    ) -> Message | None: ...
    def temperature_alert(
        self, connector_id: int, celsius: float, active: bool, event_id: int, ts: str
    ) -> Message | None: ...


class V16:
    version = "1.6"

    def boot(self, reason: str, serial: str) -> Message:
        return "BootNotification", {
            "chargePointVendor": VENDOR,
            "chargePointModel": MODEL,
            "firmwareVersion": FIRMWARE,
            "chargePointSerialNumber": serial[:25],
        }

    def heartbeat(self) -> Message:
        return "Heartbeat", {}

    def connector_status(self, status: str) -> str:
        return status

    def status(self, connector_id: int, status: str, error_code: str, ts: str) -> Message:
        return "StatusNotification", {
            "connectorId": connector_id,
            "errorCode": error_code,
            "status": status,
            "timestamp": ts,
        }

    def authorize(self, id_tag: str, token_type: str) -> Message:
        return "Authorize", {"idTag": id_tag}

    def auth_status(self, resp: JsonObject) -> str:
        return str(resp.get("idTagInfo", {}).get("status", "Invalid"))

    def local_tx_id(self, rng: random.Random) -> str | None:
        return None

    def start(self, s: Session, m: MeterSample, ts: str) -> Message:
        payload: JsonObject = {
            "connectorId": s.connector_id,
            "idTag": s.id_tag,
            "meterStart": m.register_wh,
            "timestamp": ts,
        }
        return "StartTransaction", payload

    def start_status(self, s: Session, resp: JsonObject) -> str:
        tx_id = resp.get("transactionId")
        if isinstance(tx_id, int):
            s.tx_id = tx_id
        return self.auth_status(resp) if tx_id is not None else "Invalid"

    def update(self, s: Session, m: MeterSample, ts: str, *, trigger: bool = False) -> Message:
        context = "Trigger" if trigger else "Sample.Periodic"
        payload: JsonObject = {
            "connectorId": s.connector_id,
            "transactionId": s.tx_id,
            "meterValue": [{"timestamp": ts, "sampledValue": sampled_values_16(m, context)}],
        }
        return "MeterValues", payload

    def end(self, s: Session, m: MeterSample, ts: str) -> Message:
        final = {
            "timestamp": ts,
            "sampledValue": sampled_values_16(m, "Transaction.End", full=False),
        }
        return "StopTransaction", {
            "transactionId": s.tx_id,
            "idTag": s.id_tag,
            "meterStop": m.register_wh,
            "timestamp": ts,
            "reason": s.stop_reason,
            "transactionData": [final],
        }

    def idle_meter(self, connector_id: int, m: MeterSample, ts: str) -> Message:
        values = sampled_values_16(m, "Trigger", full=False)
        return "MeterValues", {
            "connectorId": connector_id,
            "meterValue": [{"timestamp": ts, "sampledValue": values}],
        }

    def problem(
        self, connector_id: int, code: str, active: bool, event_id: int, ts: str
    ) -> Message | None:
        return None  # 1.6 carries the error code in the StatusNotification itself

    def temperature_alert(
        self, connector_id: int, celsius: float, active: bool, event_id: int, ts: str
    ) -> Message | None:
        return None  # 1.6 reports Temperature as a meter value


class V201:
    version = "2.0.1"

    def boot(self, reason: str, serial: str) -> Message:
        station = {
            "model": MODEL,
            "vendorName": VENDOR,
            "firmwareVersion": FIRMWARE,
            "serialNumber": serial[:25],
        }
        return "BootNotification", {"reason": reason, "chargingStation": station}

    def heartbeat(self) -> Message:
        return "Heartbeat", {}

    def connector_status(self, status: str) -> str:
        return status if status in ("Available", "Faulted", "Unavailable") else "Occupied"

    def status(self, connector_id: int, status: str, error_code: str, ts: str) -> Message:
        return "StatusNotification", {
            "timestamp": ts,
            "connectorStatus": status,
            "evseId": connector_id,
            "connectorId": 1,
        }

    def authorize(self, id_tag: str, token_type: str) -> Message:
        return "Authorize", {"idToken": {"idToken": id_tag, "type": token_type}}

    def auth_status(self, resp: JsonObject) -> str:
        return str(resp.get("idTokenInfo", {}).get("status", "Invalid"))

    def local_tx_id(self, rng: random.Random) -> str | None:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def _event(self, s: Session, event: str, trigger: str, ts: str, info: JsonObject) -> JsonObject:
        payload: JsonObject = {
            "eventType": event,
            "timestamp": ts,
            "triggerReason": trigger,
            "seqNo": s.seq_no,
            "transactionInfo": {"transactionId": s.tx_id, **info},
        }
        s.seq_no += 1
        return payload

    def start(self, s: Session, m: MeterSample, ts: str) -> Message:
        info: JsonObject = {"chargingState": "Charging"}
        if s.remote_start_id is not None:
            info["remoteStartId"] = s.remote_start_id
        trigger = "RemoteStart" if s.remote_start_id is not None else "Authorized"
        payload = self._event(s, "Started", trigger, ts, info)
        payload["evse"] = {"id": s.connector_id, "connectorId": 1}
        payload["idToken"] = {"idToken": s.id_tag, "type": s.token_type}
        payload["meterValue"] = [
            {
                "timestamp": ts,
                "sampledValue": sampled_values_201(m, "Transaction.Begin", full=False),
            }
        ]
        return "TransactionEvent", payload

    def start_status(self, s: Session, resp: JsonObject) -> str:
        return str(resp.get("idTokenInfo", {}).get("status", "Accepted"))

    def update(self, s: Session, m: MeterSample, ts: str, *, trigger: bool = False) -> Message:
        reason, context = (
            ("Trigger", "Trigger") if trigger else ("MeterValuePeriodic", "Sample.Periodic")
        )
        payload = self._event(s, "Updated", reason, ts, {"chargingState": "Charging"})
        payload["meterValue"] = [{"timestamp": ts, "sampledValue": sampled_values_201(m, context)}]
        return "TransactionEvent", payload

    def end(self, s: Session, m: MeterSample, ts: str) -> Message:
        trigger, stopped = _ENDED_201.get(s.stop_reason, ("AbnormalCondition", "Other"))
        state = "Idle" if s.stop_reason == "EVDisconnected" else "EVConnected"
        payload = self._event(
            s, "Ended", trigger, ts, {"chargingState": state, "stoppedReason": stopped}
        )
        if trigger == "StopAuthorized":
            payload["idToken"] = {"idToken": s.id_tag, "type": s.token_type}
        payload["meterValue"] = [
            {"timestamp": ts, "sampledValue": sampled_values_201(m, "Transaction.End", full=False)}
        ]
        return "TransactionEvent", payload

    def idle_meter(self, connector_id: int, m: MeterSample, ts: str) -> Message:
        values = sampled_values_201(m, "Trigger", full=False)
        return "MeterValues", {
            "evseId": connector_id,
            "meterValue": [{"timestamp": ts, "sampledValue": values}],
        }

    def problem(
        self, connector_id: int, code: str, active: bool, event_id: int, ts: str
    ) -> Message | None:
        """NotifyEvent: the Problem variable of a connector (or of the station, id 0)."""
        event = _event(connector_id, "Problem", "true" if active else "false", event_id, ts)
        event.update(trigger="Delta", techCode=code[:50], cleared=not active)
        return "NotifyEvent", {"generatedAt": ts, "seqNo": 0, "eventData": [event]}

    def temperature_alert(
        self, connector_id: int, celsius: float, active: bool, event_id: int, ts: str
    ) -> Message | None:
        """NotifyEvent: a temperature monitor alerting (2.0.1 has no Temperature measurand)."""
        event = _event(connector_id, "Temperature", f"{celsius:.1f}", event_id, ts)
        event.update(trigger="Alerting", cleared=not active)
        event["eventNotificationType"] = "PreconfiguredMonitor"
        return "NotifyEvent", {"generatedAt": ts, "seqNo": 0, "eventData": [event]}


def _event(connector_id: int, variable: str, value: str, event_id: int, ts: str) -> JsonObject:
    component: JsonObject = {"name": "ChargingStation"}
    if connector_id > 0:
        component = {"name": "Connector", "evse": {"id": connector_id, "connectorId": 1}}
    return {
        "eventId": event_id,
        "timestamp": ts,
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": component,
        "variable": {"name": variable},
    }


def dialect_for(ocpp_version: str) -> Dialect:
    if ocpp_version == "1.6":
        return V16()
    if ocpp_version == "2.0.1":
        return V201()
    raise ValueError(f"unsupported OCPP version {ocpp_version!r} (use 1.6 or 2.0.1)")

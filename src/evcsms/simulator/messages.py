"""OCPP 1.6 and 2.0.1 request payloads of the virtual station (one "dialect" per version)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from evcsms.simulator.meter import (
    ChargeProfile,
    MeterSample,
    Period,
    Profile,
    sampled_values_16,
    sampled_values_201,
)

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
    reservation_id: int | None = None  # the reservation this session takes up
    started_at: datetime | None = None  # when the transaction started (Relative profiles)


@dataclass(frozen=True)
class Reservation:
    """A connector held for one idTag (or its group, ``parent``) until ``expires``."""

    reservation_id: int
    connector_id: int
    id_tag: str
    expires: datetime
    parent: str | None = None


@dataclass(frozen=True)
class ClearCriteria:
    """Which profiles a ClearChargingProfile removes (None: any)."""

    profile_id: int | None = None
    evse: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


def parse_time(value: Any, name: str) -> datetime | None:
    """An OCPP date-time (None stays None); ValueError if it is not one with a zone."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value)) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"{name}: not a date-time with a zone: {value!r}")
    return parsed.astimezone(UTC)


def _integer(value: Any, name: str, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _periods(items: Any, *, phase_to_use: bool) -> tuple[Period, ...]:
    """chargingSchedulePeriod: first at 0, increasing, limits >= 0, 1-3 phases."""
    if not isinstance(items, list) or not items:
        raise ValueError("chargingSchedulePeriod must be a non-empty list")
    periods: list[Period] = []
    last = -1
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("each chargingSchedulePeriod must be an object")
        start = _integer(item.get("startPeriod"), "startPeriod")
        limit = item.get("limit")
        phases = _integer(item.get("numberPhases"), "numberPhases", optional=True)
        if start is None or start <= last or (not periods and start != 0):
            raise ValueError("periods must start at 0 and increase")
        if not isinstance(limit, int | float) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"limit must be a number >= 0, got {limit!r}")
        if phases is not None and not 1 <= phases <= 3:
            raise ValueError("numberPhases must be 1, 2 or 3")
        if item.get("phaseToUse") is not None and (not phase_to_use or phases != 1):
            raise ValueError("phaseToUse needs numberPhases 1")  # 2.0.1 K01.FR.19
        periods.append(Period(start, float(limit), phases))
        last = start
    return tuple(periods)


def _profile(p: JsonObject, schedule: JsonObject, purposes: dict[str, str], profile_id: Any,
             tx_id: int | str | None, *, v201: bool) -> Profile:
    purpose = purposes.get(str(p.get("chargingProfilePurpose")))
    if purpose is None:
        raise ValueError(f"purpose {p.get('chargingProfilePurpose')!r} cannot be set here")
    kind = str(p.get("chargingProfileKind"))
    if kind not in ("Absolute", "Relative", "Recurring"):
        raise ValueError(f"unknown chargingProfileKind {kind!r}")
    start = parse_time(schedule.get("startSchedule"), "startSchedule")
    if kind == "Recurring" and (start is None or p.get("recurrencyKind") not in ("Daily",
                                                                                 "Weekly")):
        raise ValueError("a Recurring profile needs startSchedule and recurrencyKind")
    if v201 and kind == "Absolute" and start is None:
        raise ValueError("an Absolute profile needs startSchedule")  # K01.FR.40
    if v201 and kind == "Relative" and start is not None:
        raise ValueError("a Relative profile has no startSchedule")  # K01.FR.41
    if purpose == "station_max" and kind == "Relative":
        raise ValueError("a station maximum cannot be Relative")  # K01.FR.38
    unit = schedule.get("chargingRateUnit")
    if unit not in ("A", "W"):
        raise ValueError(f"chargingRateUnit must be A or W, got {unit!r}")
    profile = Profile(
        id=_integer(profile_id, "charging profile id") or 0,
        stack_level=_integer(p.get("stackLevel"), "stackLevel") or 0,
        purpose=purpose, kind=kind, unit=str(unit),
        periods=_periods(schedule.get("chargingSchedulePeriod"), phase_to_use=v201),
        start=start,
        duration_s=_integer(schedule.get("duration"), "duration", optional=True),
        recurrency=p.get("recurrencyKind"),
        valid_from=parse_time(p.get("validFrom"), "validFrom"),
        valid_to=parse_time(p.get("validTo"), "validTo"),
        tx_id=tx_id if purpose == "tx" else None,
    )
    if profile.stack_level < 0:
        raise ValueError("stackLevel must be >= 0")
    if profile.valid_from and profile.valid_to and profile.valid_to <= profile.valid_from:
        raise ValueError("validTo must be after validFrom")
    return profile


def _schedule_periods(periods: list[tuple[int, float, int | None]]) -> list[JsonObject]:
    out: list[JsonObject] = []
    for start, limit, phases in periods:
        item: JsonObject = {"startPeriod": start, "limit": limit}
        if phases is not None:
            item["numberPhases"] = phases
        out.append(item)
    return out


class Dialect(Protocol):
    version: str

    def boot(self, reason: str, serial: str) -> Message: ...
    def heartbeat(self) -> Message: ...
    def connector_status(self, status: str) -> str: ...
    def status(self, connector_id: int, status: str, error_code: str, ts: str) -> Message: ...
    def authorize(self, id_tag: str, token_type: str) -> Message: ...
    def auth_status(self, resp: JsonObject) -> str: ...
    def auth_group(self, resp: JsonObject) -> str | None: ...
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
    def parse_profile(self, payload: JsonObject) -> tuple[int, Profile]: ...
    def clear_criteria(self, payload: JsonObject) -> ClearCriteria: ...
    def composite(
        self, evse: int, start: str, duration: int, unit: str,
        periods: list[tuple[int, float, int | None]],
    ) -> JsonObject: ...
    def reservation_update(self, reservation_id: int, status: str) -> Message | None: ...


PURPOSES_16 = {"TxProfile": "tx", "TxDefaultProfile": "tx_default",
               "ChargePointMaxProfile": "station_max"}
PURPOSES_201 = {"TxProfile": "tx", "TxDefaultProfile": "tx_default",
                "ChargingStationMaxProfile": "station_max"}


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

    def auth_group(self, resp: JsonObject) -> str | None:
        group = (resp.get("idTagInfo") or {}).get("parentIdTag")
        return group if isinstance(group, str) else None

    def local_tx_id(self, rng: random.Random) -> str | None:
        return None

    def start(self, s: Session, m: MeterSample, ts: str) -> Message:
        payload: JsonObject = {
            "connectorId": s.connector_id,
            "idTag": s.id_tag,
            "meterStart": m.register_wh,
            "timestamp": ts,
        }
        if s.reservation_id is not None:
            payload["reservationId"] = s.reservation_id
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

    def parse_profile(self, payload: JsonObject) -> tuple[int, Profile]:
        """SetChargingProfile: (connectorId, profile); ValueError for nonsense."""
        p = payload.get("csChargingProfiles")
        if not isinstance(p, dict) or not isinstance(p.get("chargingSchedule"), dict):
            raise ValueError("csChargingProfiles with a chargingSchedule is required")
        profile = _profile(p, p["chargingSchedule"], PURPOSES_16,
                           p.get("chargingProfileId"),
                           _integer(p.get("transactionId"), "transactionId", optional=True),
                           v201=False)
        return _integer(payload.get("connectorId"), "connectorId") or 0, profile

    def clear_criteria(self, payload: JsonObject) -> ClearCriteria:
        purpose = payload.get("chargingProfilePurpose")
        return ClearCriteria(payload.get("id"), payload.get("connectorId"),
                             PURPOSES_16.get(purpose, purpose) if purpose else None,
                             payload.get("stackLevel"))

    def composite(
        self, evse: int, start: str, duration: int, unit: str,
        periods: list[tuple[int, float, int | None]],
    ) -> JsonObject:
        return {"status": "Accepted", "connectorId": evse, "scheduleStart": start,
                "chargingSchedule": {"duration": duration, "startSchedule": start,
                                     "chargingRateUnit": unit,
                                     "chargingSchedulePeriod": _schedule_periods(periods)}}

    def reservation_update(self, reservation_id: int, status: str) -> Message | None:
        return None  # 1.6 shows the end of a reservation by the connector status alone


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
        return status if status in ("Available", "Faulted", "Reserved", "Unavailable") \
            else "Occupied"

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

    def auth_group(self, resp: JsonObject) -> str | None:
        group = ((resp.get("idTokenInfo") or {}).get("groupIdToken") or {}).get("idToken")
        return group if isinstance(group, str) else None

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
        if s.reservation_id is not None:
            payload["reservationId"] = s.reservation_id
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

    def parse_profile(self, payload: JsonObject) -> tuple[int, Profile]:
        """SetChargingProfile: (evseId, profile); ValueError for nonsense (K01 rules)."""
        p = payload.get("chargingProfile")
        if not isinstance(p, dict):
            raise ValueError("chargingProfile is required")
        schedules = p.get("chargingSchedule")
        if not isinstance(schedules, list) or not schedules or not isinstance(schedules[0], dict):
            raise ValueError("chargingSchedule must be a non-empty list")
        tx_id = p.get("transactionId")
        if p.get("chargingProfilePurpose") == "TxProfile" and not tx_id:
            raise ValueError("a TxProfile needs its transactionId")  # K01.FR.03
        profile = _profile(p, schedules[0], PURPOSES_201, p.get("id"),
                           str(tx_id) if tx_id is not None else None, v201=True)
        return _integer(payload.get("evseId"), "evseId") or 0, profile

    def clear_criteria(self, payload: JsonObject) -> ClearCriteria:
        c = payload.get("chargingProfileCriteria") or {}
        purpose = c.get("chargingProfilePurpose")
        return ClearCriteria(payload.get("chargingProfileId"), c.get("evseId"),
                             PURPOSES_201.get(purpose, purpose) if purpose else None,
                             c.get("stackLevel"))

    def composite(
        self, evse: int, start: str, duration: int, unit: str,
        periods: list[tuple[int, float, int | None]],
    ) -> JsonObject:
        return {"status": "Accepted", "schedule": {
            "evseId": evse, "duration": duration, "scheduleStart": start,
            "chargingRateUnit": unit, "chargingSchedulePeriod": _schedule_periods(periods)}}

    def reservation_update(self, reservation_id: int, status: str) -> Message | None:
        """ReservationStatusUpdate: Expired, or Removed (the EVSE became unusable)."""
        return "ReservationStatusUpdate", {"reservationId": reservation_id,
                                           "reservationUpdateStatus": status}


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

"""Where can I charge now, and when does the next connector free up? (docs/reservations.md)

Pure logic over what the CSMS knows at one moment: each station's link and registration,
each connector's last reported status, the accepted reservations, the active sessions,
the open critical incidents and how long past sessions lasted. Nothing here reads storage.

Per connector the answer is a `state`, whether it is `available_now`, and when it is not,
`free_at`: an estimate of when it frees up, with its `basis`:

- `reservation_expiry`: reserved: the reservation's expiry (a reservation that is used
  turns into a session, so this is the earliest the connector can be free, not a promise);
- `evse_history` / `site_history`: in use by a session: the session's start plus the
  median length of the past sessions (at this EVSE, else at the whole site, over the
  window the caller chose) that lasted longer than this one has so far, needing at least
  `MIN_SAMPLES` of them; never earlier than `now + MIN_AHEAD`;
- `overdue`: the session has run longer than all but a few past sessions: `now + MIN_AHEAD`
  ("any minute now");
- no estimate (`free_at` null) for faults, out-of-service, offline stations, a car plugged
  in without a session, or too little history: `reason` says which.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any

MIN_SAMPLES = 3  # past sessions needed before a median says anything
MIN_AHEAD = timedelta(minutes=1)  # an estimate is never earlier than this from now
HISTORY_DAYS = 30  # the window the service reads past sessions from

IN_USE = frozenset({"Occupied", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE",
                    "Finishing"})


class State(enum.StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    IN_USE = "in_use"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class Basis(enum.StrEnum):
    RESERVATION_EXPIRY = "reservation_expiry"
    EVSE_HISTORY = "evse_history"
    SITE_HISTORY = "site_history"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    connected: bool
    registration: str = "Accepted"
    status: str | None = None  # the whole station's status (1.6 connector 0), if reported


@dataclass(frozen=True, slots=True)
class Connector:
    station_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None = None
    connector_type: str | None = None  # e.g. cType2, cCCS2 (2.0.1 device model), if known
    max_power_w: int | None = None  # the EVSE's rated power, if known


@dataclass(frozen=True, slots=True)
class Hold:
    """An accepted reservation: `evse_id` 0 holds any one EVSE of the station."""

    station_id: str
    evse_id: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ActiveSession:
    station_id: str
    evse_id: int
    started_at: datetime


@dataclass(frozen=True, slots=True)
class PastSession:
    station_id: str
    evse_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Trouble:
    """An open critical incident on an EVSE (`evse_id` 0: the whole station)."""

    station_id: str
    evse_id: int
    message: str


@dataclass(frozen=True, slots=True)
class Port:
    station_id: str
    evse_id: int
    connector_id: int
    status: str
    state: State
    available_now: bool
    free_at: datetime | None
    basis: Basis | None
    reason: str
    connector_type: str | None
    max_power_w: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id, "evse_id": self.evse_id,
            "connector_id": self.connector_id, "status": self.status, "state": self.state.value,
            "available_now": self.available_now, "free_at": _iso(self.free_at),
            "free_at_basis": self.basis.value if self.basis else None, "reason": self.reason,
            "connector_type": self.connector_type, "max_power_w": self.max_power_w,
        }


@dataclass(frozen=True, slots=True)
class KindCount:
    connector_type: str | None
    max_power_w: int | None
    total: int
    available_now: int
    next_free_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"connector_type": self.connector_type, "max_power_w": self.max_power_w,
                "total": self.total, "available_now": self.available_now,
                "next_free_at": _iso(self.next_free_at)}


@dataclass(frozen=True, slots=True)
class Availability:
    at: datetime
    ports: list[Port] = field(default_factory=list)

    @property
    def available_now(self) -> int:
        return sum(1 for p in self.ports if p.available_now)

    @property
    def next_free_at(self) -> datetime | None:
        """The earliest estimate among the connectors not free now (None: no estimate)."""
        return _earliest(self.ports)

    def by_kind(self) -> list[KindCount]:
        groups: dict[tuple[str | None, int | None], list[Port]] = {}
        for port in self.ports:
            groups.setdefault((port.connector_type, port.max_power_w), []).append(port)
        return [KindCount(kind, power, len(ports), sum(1 for p in ports if p.available_now),
                          _earliest(ports))
                for (kind, power), ports in sorted(groups.items(),
                                                   key=lambda kv: (kv[0][0] or "", kv[0][1] or 0))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at), "connectors_total": len(self.ports),
            "available_now": self.available_now, "next_free_at": _iso(self.next_free_at),
            "by_kind": [k.as_dict() for k in self.by_kind()],
            "connectors": [p.as_dict() for p in self.ports],
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _earliest(ports: Iterable[Port]) -> datetime | None:
    times = [p.free_at for p in ports if not p.available_now and p.free_at is not None]
    return min(times) if times else None


def _minutes(seconds: float) -> int:
    return round(seconds / 60)


def estimate_end(now: datetime, started_at: datetime, evse_pool: Sequence[float],
                 site_pool: Sequence[float]) -> tuple[datetime | None, Basis | None, str]:
    """When a session that started at `started_at` is likely to end, from past session
    lengths (seconds) at its EVSE and at the site: (time, basis, explanation)."""
    elapsed = max(0.0, (now - started_at).total_seconds())
    for basis, pool, where in ((Basis.EVSE_HISTORY, evse_pool, "this EVSE"),
                               (Basis.SITE_HISTORY, site_pool, "this site")):
        longer = [s for s in pool if s > elapsed]
        if len(longer) >= MIN_SAMPLES:
            typical = median(longer)
            end = max(started_at + timedelta(seconds=typical), now + MIN_AHEAD)
            return end, basis, (
                f"in use for {_minutes(elapsed)} min; past sessions at {where} that lasted "
                f"that long ran {_minutes(typical)} min (median of {len(longer)})")
    if len(evse_pool) >= MIN_SAMPLES or len(site_pool) >= MIN_SAMPLES:
        return now + MIN_AHEAD, Basis.OVERDUE, (
            f"in use for {_minutes(elapsed)} min, longer than nearly every past session "
            "here: it may end any minute")
    return None, None, (f"in use for {_minutes(elapsed)} min; too few past sessions here "
                        "to estimate when it ends")


def incident_evse(key: str, station_id: str) -> int | None:
    """The EVSE an incident key is about ("fault:CP1/2/1:GroundFailure" -> 2; a station
    fault "fault:CP1/0/0:..." -> 0), or None when the key names no port (offline, firmware,
    one session)."""
    _, sep, subject = key.partition(":")
    if not sep or not subject.startswith(station_id + "/"):
        return None
    rest = subject[len(station_id) + 1:]
    digits = ""
    for ch in rest:
        if not (ch.isascii() and ch.isdigit()):
            if ch not in "/:":
                return None
            break
        digits += ch
    return int(digits) if digits else None


def site_availability(
    now: datetime, stations: Iterable[Station], connectors: Iterable[Connector], *,
    holds: Iterable[Hold] = (), sessions: Iterable[ActiveSession] = (),
    history: Iterable[PastSession] = (), troubles: Iterable[Trouble] = (),
) -> Availability:
    """Every connector (EVSE 1 and up) of `stations`, in station/EVSE/connector order."""
    by_station = {s.id: s for s in stations}
    evse_holds: dict[tuple[str, int], datetime] = {}
    station_holds: dict[str, list[datetime]] = {}
    for hold in holds:
        if hold.expires_at <= now:  # the sweep has not caught up with it yet
            continue
        if hold.evse_id == 0:
            station_holds.setdefault(hold.station_id, []).append(hold.expires_at)
        else:
            key = (hold.station_id, hold.evse_id)
            evse_holds[key] = max(hold.expires_at, evse_holds.get(key, hold.expires_at))
    for expiries in station_holds.values():
        expiries.sort()
    running: dict[tuple[str, int], datetime] = {}
    for s in sessions:
        key = (s.station_id, s.evse_id)
        running[key] = min(s.started_at, running.get(key, s.started_at))
    site_pool: list[float] = []
    evse_pool: dict[tuple[str, int], list[float]] = {}
    for past in history:
        if past.station_id in by_station and past.seconds > 0:
            site_pool.append(past.seconds)
            evse_pool.setdefault((past.station_id, past.evse_id), []).append(past.seconds)
    trouble: dict[tuple[str, int], str] = {}
    for tr in troubles:
        trouble.setdefault((tr.station_id, tr.evse_id), tr.message)

    ports = sorted((c for c in connectors if c.evse_id > 0 and c.station_id in by_station),
                   key=lambda c: (c.station_id, c.evse_id, c.connector_id))
    decided: list[Port] = []
    free_candidates: dict[str, list[int]] = {}  # station -> indexes of Available ports
    for c in ports:
        station = by_station[c.station_id]
        key = (c.station_id, c.evse_id)
        problem = trouble.get(key) or trouble.get((c.station_id, 0))
        if not station.connected:
            decided.append(_port(c, State.OFFLINE, "the station is offline"))
        elif station.registration != "Accepted":
            decided.append(_port(c, State.UNAVAILABLE,
                                f"the station's registration is {station.registration}"))
        elif station.status in ("Faulted", "Unavailable"):
            decided.append(_port(c, State.FAULTED if station.status == "Faulted"
                                else State.UNAVAILABLE,
                                f"the whole station reports {station.status}"))
        elif problem is not None:
            decided.append(_port(c, State.FAULTED, f"open critical incident: {problem}"))
        elif c.status == "Faulted":
            detail = f" ({c.error_code})" if c.error_code and c.error_code != "NoError" else ""
            decided.append(_port(c, State.FAULTED, f"the connector reports Faulted{detail}"))
        elif c.status == "Unavailable":
            decided.append(_port(c, State.UNAVAILABLE, "the connector is out of service"))
        elif c.status in IN_USE:
            decided.append(_in_use(c, now, running.get(key), evse_holds.get(key),
                                   evse_pool.get(key, []), site_pool))
        elif key in evse_holds:
            decided.append(_port(c, State.RESERVED, f"reserved until {_iso(evse_holds[key])}",
                                evse_holds[key], Basis.RESERVATION_EXPIRY))
        elif c.status == "Reserved":
            waiting = station_holds.get(c.station_id)
            if waiting:  # the station put our any-EVSE reservation on this connector
                until = waiting.pop(0)
                decided.append(_port(c, State.RESERVED, f"reserved until {_iso(until)}", until,
                                    Basis.RESERVATION_EXPIRY))
            else:
                decided.append(_port(c, State.RESERVED, "reserved at the station (no "
                                    "reservation of ours is known, so no expiry)"))
        elif c.status == "Available":
            free_candidates.setdefault(c.station_id, []).append(len(decided))
            decided.append(_port(c, State.AVAILABLE, "available"))
        else:
            decided.append(_port(c, State.UNKNOWN, f"the connector reports {c.status!r}"))

    # a reservation for any EVSE of a station holds one of its free connectors (the first)
    for station_id, waiting in station_holds.items():
        free = free_candidates.get(station_id, [])
        for until, index in zip(waiting, free, strict=False):
            p = decided[index]
            decided[index] = Port(p.station_id, p.evse_id, p.connector_id, p.status,
                                  State.RESERVED, False, until, Basis.RESERVATION_EXPIRY,
                                  f"held by a reservation for any EVSE of the station until "
                                  f"{_iso(until)}", p.connector_type, p.max_power_w)
    return Availability(now, decided)


def _port(c: Connector, state: State, reason: str, free_at: datetime | None = None,
          basis: Basis | None = None) -> Port:
    return Port(c.station_id, c.evse_id, c.connector_id, c.status, state,
                state is State.AVAILABLE, free_at, basis, reason, c.connector_type,
                c.max_power_w)


def _in_use(c: Connector, now: datetime, started_at: datetime | None, held: datetime | None,
            evse_pool: Sequence[float], site_pool: Sequence[float]) -> Port:
    if started_at is None:
        reason = {"Preparing": "a car is plugged in but not charging yet",
                  "Finishing": "the session has ended; waiting for the car to leave"}.get(
            c.status, "in use, no session known")
        return _port(c, State.IN_USE, reason)
    end, basis, reason = estimate_end(now, started_at, evse_pool, site_pool)
    if end is not None and held is not None and held > end:
        end, basis = held, Basis.RESERVATION_EXPIRY
        reason += f"; then reserved until {_iso(held)}"
    return _port(c, State.IN_USE, reason, end, basis)


# -- the dict form (golden cases, tools) ---------------------------------------------------


def _at(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(UTC)


def from_dict(data: Mapping[str, Any]) -> Availability:
    """Evaluate a case written as JSON-like data (tests/domain/availability_cases/)."""
    return site_availability(
        _at(data["now"]),
        [Station(s["id"], s.get("connected", True), s.get("registration", "Accepted"),
                 s.get("status")) for s in data.get("stations", [])],
        [Connector(c["station_id"], c["evse_id"], c.get("connector_id", 1), c["status"],
                   c.get("error_code"), c.get("connector_type"), c.get("max_power_w"))
         for c in data.get("connectors", [])],
        holds=[Hold(h["station_id"], h["evse_id"], _at(h["expires_at"]))
               for h in data.get("reservations", [])],
        sessions=[ActiveSession(s["station_id"], s["evse_id"], _at(s["started_at"]))
                  for s in data.get("sessions", [])],
        history=[PastSession(h["station_id"], h["evse_id"], float(h["minutes"]) * 60)
                 for h in data.get("history", [])],
        troubles=[Trouble(tr["station_id"], tr["evse_id"], tr["message"])
                  for tr in data.get("incidents", [])],
    )

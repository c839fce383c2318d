"""OCPP 1.6J/2.0.1 charging-station simulator (a standalone OCPP-J client for demos, tests and benchmarks) that may import only websockets, orjson, rich and the standard library (click in cli.py)."""

from evcsms.simulator.client import (
    CallErrorReceived,
    ConnectionLost,
    OcppClient,
    after_reply,
    station_ids,
)
from evcsms.simulator.connector import SessionPattern
from evcsms.simulator.fleet import run_fleet
from evcsms.simulator.load import IdleHold, LoadReport, hold_idle, meter_flood, realistic_mix
from evcsms.simulator.station import VirtualStation
from evcsms.simulator.stats import FleetStats

__all__ = [
    "CallErrorReceived",
    "ConnectionLost",
    "FleetStats",
    "IdleHold",
    "LoadReport",
    "OcppClient",
    "SessionPattern",
    "VirtualStation",
    "after_reply",
    "hold_idle",
    "meter_flood",
    "realistic_mix",
    "run_fleet",
    "station_ids",
]
